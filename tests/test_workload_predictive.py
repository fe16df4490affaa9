"""Predictive escalation in the workload month: the policy passes forecasts, read at most every 5 minutes."""
from datetime import timedelta

from rules import load_rules
from simulate.predictive import predictive_policy, solved_times
from simulate.workload import START, Month, SimTicket, generate

H = timedelta(hours=1)


def test_solved_times_leave_the_paused_time_out_and_file_by_reason_priority_team():
    solved = SimTicket(1, START, "normal", "missing_part", H, False, None, None, team="purchasing",
                       solved_at=START + 10 * H, paused=3 * H)
    open_ = SimTicket(2, START, "normal", None, H, False, None, None)
    assert solved_times([solved, open_]) == {("missing_part", "normal", "purchasing"): [7 * H]}


def test_the_policy_forecasts_from_the_history_and_refreshes_every_five_minutes():
    rules = load_rules()
    history = {(r, p, t): [1000 * H] * 30 for r in ("missing_part", "wrong_item", "-")
               for p in ("low", "normal", "high", "urgent") for t in ("purchasing", "warehouse", "support")}
    policy = predictive_policy(rules, history)
    reader, refreshed = policy.forecasts, []

    def counting(month, now):
        before = reader.current
        out = reader(month, now)
        if out is not before:
            refreshed.append(now)
        return out
    policy.forecasts = counting
    Month(generate(40, 3, rules), policy).run()
    assert policy.rules.predictive is not None
    assert refreshed and all(b - a >= timedelta(minutes=5) for a, b in zip(refreshed, refreshed[1:]))
    # Last month's cases took 1,000 h each: a case filed there is forecast past its deadline, and escalated.
    forecast = {n for n, (_, memory, _) in policy.state.items() if "forecast:1" in memory.fired}
    assert forecast and forecast <= policy.escalated
