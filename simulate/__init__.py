"""Try a policy before it runs: replay the stored ticket histories through another rules file
(`slaclock simulate --rules`), or run a generated month of tickets under several escalation policies
(`slaclock simulate --workload`)."""
