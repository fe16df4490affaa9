"""`slaclock simulate --workload N`: a generated month under each escalation policy (small N)."""
from __future__ import annotations

import json
from datetime import timedelta

from app import main
from simulate.workload import (POLICIES, START, HourlyAutomations, Month, NoEscalation, RulesPolicy, SimTicket,
                               compare_policies)

KEYS = {"breach_rate", "median_first_response_minutes", "escalations_per_1000", "customer_messages_per_ticket"}


def test_json_has_one_object_per_policy_with_its_four_figures(capsys):
    assert main(["simulate", "--workload", "60", "--seed", "4", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["none", "hourly_automations", "slaclock"]
    assert all(set(figures) == KEYS for figures in data.values())
    assert data["none"]["escalations_per_1000"] == 0 and data["none"]["customer_messages_per_ticket"] == 0
    assert data["slaclock"]["customer_messages_per_ticket"] > 0  # the example rules tell the customer
    assert all(0 <= f["breach_rate"] <= 1 for f in data.values())


def test_the_table_prints_a_row_per_policy(capsys):
    assert main(["simulate", "--workload", "30"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("A month of 30 tickets (seed 1)")
    assert [r.split()[0] for r in rows[2:]] == ["none", "hourly_automations", "slaclock"]


def test_a_seed_gives_the_same_month_and_another_seed_another():
    once, again, other = (compare_policies(40, seed) for seed in (7, 7, 8))
    assert {k: r.to_json() for k, r in once.items()} == {k: r.to_json() for k, r in again.items()}
    assert {k: r.to_json() for k, r in once.items()} != {k: r.to_json() for k, r in other.items()}


def test_a_fourth_policy_plugs_in_by_name():
    results = compare_policies(30, 2, policies={**POLICIES, "slaclock again": RulesPolicy})
    assert list(results) == ["none", "hourly_automations", "slaclock", "slaclock again"]
    assert results["slaclock again"] == results["slaclock"]


def _waiting(due_in: timedelta) -> tuple[Month, SimTicket]:
    t = SimTicket(1, START, "normal", None, timedelta(hours=1), False, None, None,
                  first_response_due=START + due_in, resolution_due=START + timedelta(days=3))
    month = Month([t], NoEscalation())
    month.queues["support"].append(t)
    return month, t


def test_hourly_automations_look_on_the_hour_in_whole_hours():
    policy = HourlyAutomations()
    month, t = _waiting(timedelta(hours=3, minutes=30))
    policy.tick(month, START + timedelta(hours=1))  # 2 h 30 min left: "2 hours", not < 2
    assert not t.escalated
    policy.tick(month, START + timedelta(hours=1, minutes=45))  # not on the hour: no look
    assert not t.escalated
    policy.tick(month, START + timedelta(hours=2))  # 1 h 30 min left: "1 hour" < 2
    assert t.escalated and policy.escalations == 1
    policy.tick(month, START + timedelta(hours=3))  # once
    assert policy.escalations == 1


def test_a_breach_is_a_deadline_missed_or_passed_unmet_and_paused_time_moves_the_resolution():
    month, t = _waiting(timedelta(minutes=30))
    t.first_response_at = START + timedelta(minutes=20)  # met
    t.solved_at, t.paused = t.resolution_due + timedelta(hours=5), timedelta(hours=6)  # late, but paused 6 h: met
    assert month._result(START + timedelta(days=30)).breach_rate == 0
    t.paused = timedelta(hours=4)  # one of two deadlines missed
    result = month._result(START + timedelta(days=30))
    assert result.breach_rate == 0.5 and result.median_first_response_minutes == 20


def test_the_outcome_benchmark_compares_slaclock_with_each_policy_and_refuses_a_month_without_strain():
    import pytest

    from bench import outcome
    from bench.figures import BenchError

    figures = outcome.measure(outcome.parser().parse_args(["--tickets", "60"]))
    assert [f.name for f in figures] == ["outcome: breach rate, slaclock vs none",
                                         "outcome: breach rate, slaclock vs hourly_automations"]
    with pytest.raises(BenchError, match="nothing breached without escalation"):
        outcome.measure(outcome.parser().parse_args(["--tickets", "1"]))


def test_rules_policy_asks_its_forecasts_hook_before_each_decision():
    asked = []

    def forecasts(month, now):
        asked.append(now)
        return None  # no history: predictive rules fall back to the fixed thresholds

    results = compare_policies(20, 3, policies={"slaclock": RulesPolicy,
                                                "hooked": lambda rules: RulesPolicy(rules, forecasts)})
    assert asked and asked == sorted(asked)
    assert results["hooked"] == results["slaclock"]
