"""What managers read: escalation KPIs over the timeline (`kpis`) and the `slaclock report` text (`text`)."""
