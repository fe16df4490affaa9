"""The KPIs on hand-built case histories whose answers are known."""
from datetime import datetime, timedelta, timezone

import pytest

from reports.kpis import CaseHistory, Period, report, report_by
from rules.decision import CaseMemory, Deadline, DeadlineState, Rating, StatusChange, TimelineEvent, TimelineKind

UTC = timezone.utc
H = timedelta(hours=1)
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday
JUNE = Period(T0 - timedelta(days=1), T0 + timedelta(days=30))


def result(metric, stopped_after, due_after, state=DeadlineState.STOPPED, cycle=1):
    return Deadline(metric=metric, cycle=cycle, state=state, due_at=T0 + due_after, started_at=T0, target=due_after,
                    used=stopped_after, paused=timedelta(0), calendar="24x7", rules_version="v1",
                    stopped_at=T0 + stopped_after)


def level(at, name, cycle=1, index=1):
    return TimelineEvent(TimelineKind.LEVEL_CHANGE, T0 + at, f"level:{cycle}:{index}:{name}", level=name)


def event(kind, at, metric=None, cycle=1):
    return TimelineEvent(kind, T0 + at, f"{kind}:{metric}", metric=metric, cycle=cycle)


def case(key, statuses=(), results=(), events=(), opened=T0, **facts):
    memory = CaseMemory(statuses=tuple(StatusChange(T0 + at, s) for at, s in statuses), results=tuple(results))
    return CaseHistory(key=key, opened_at=opened, memory=memory, events=tuple(events), **facts)


# An escalated case: warned at 50 %, L2 at 2 h, manager at 5 h, answered 1 h after the escalation,
# solved at 8 h within its 16 h resolution: a breach averted.
ESCALATED = case("zendesk:1", statuses=[(0 * H, "new"), (8 * H, "solved")],
                 results=[result("resolution", 8 * H, 16 * H), result("first_response", 30 * timedelta(minutes=1), 2 * H)],
                 events=[event(TimelineKind.WARNING, 1 * H, "resolution"), level(2 * H, "specialist"),
                         event(TimelineKind.CUSTOMER_UPDATE, 2 * H),
                         event(TimelineKind.FIRST_RESPONSE_AFTER_ESCALATION, 3 * H),
                         level(5 * H, "manager", index=2), event(TimelineKind.CUSTOMER_UPDATE, 7 * H)],
                 team="support", priority="high", cluster="c1")
# Breached and still running: no resolution yet.
BREACHED = case("zendesk:2", statuses=[(0 * H, "open")], events=[event(TimelineKind.BREACH, 4 * H, "resolution")],
                team="support", priority="urgent")
# Solved without any reply: its first response is not measured; reopened after 2 days (a return).
UNANSWERED = case("zendesk:3", statuses=[(0 * H, "new"), (1 * H, "solved"), (49 * H, "open"), (50 * H, "solved")],
                  results=[result("first_response", 1 * H, 2 * H, DeadlineState.UNMEASURED),
                           result("resolution", 1 * H, 16 * H)],
                  team="billing", priority="normal")
# A vendor case: asked at 0, ETA confirmed after 30 h; escalated in two cycles; same cluster as case 1.
VENDOR = case("jira:SD-4", statuses=[(0 * H, "open")],
              events=[event(TimelineKind.VENDOR_REQUEST, 0 * H), event(TimelineKind.VENDOR_CONFIRMED, 30 * H),
                      level(1 * H, "specialist"), level(60 * H, "specialist", cycle=2)],
              team="acme", priority="normal", cluster="c1")
# Opened before the period: not counted at all.
OLD = case("zendesk:5", opened=T0 - timedelta(days=10), events=[level(1 * H, "specialist")])
ALL = [ESCALATED, BREACHED, UNANSWERED, VENDOR, OLD]


def test_counts_and_rates():
    r = report(ALL, JUNE, cadence=lambda priority: 4 * H if priority == "high" else None)
    assert (r.tickets, r.escalated, r.escalations_per_1000) == (4, 2, 500.0)
    assert r.repeat_escalations == 1  # SD-4 escalated in two cycles
    assert r.repeat_cluster_escalations == 1  # two escalated cases in cluster c1
    assert r.sla["resolution"].met == 2 and r.sla["resolution"].breached == 1
    assert r.sla["resolution"].averted == 1 and r.breaches_averted == 1
    assert r.sla["first_response"].met == 1 and r.sla["first_response"].not_measured == 1  # not counted as met
    assert r.breach_rate == pytest.approx(1 / 4)
    assert (r.resolved, r.resolved_without_return) == (2, 1)  # #3 came back within 7 days
    assert r.mttr.count == 2 and r.mttr.mean_hours == pytest.approx(4.5)  # 8 h and 1 h
    assert r.escalation_to_first_response.median_hours == 1.0
    assert r.escalation_to_resolution.to_json() == {"count": 1, "mean_hours": 6.0, "median_hours": 6.0}
    assert r.vendor_time_to_eta.mean_hours == 30.0 and r.vendor_eta_in_time == 1
    # Case 1: escalated at 2 h; updates at 2 h (0 h gap) and 7 h (5 h gap > 4 h): one of two kept.
    assert (r.cadence_updates, r.cadence_kept) == (2, 1)


def test_dwell_per_level_ends_at_the_next_level_or_the_solve():
    r = report([ESCALATED], JUNE)
    assert r.dwell_per_level["specialist"].mean_hours == 3.0  # 2 h → 5 h
    assert r.dwell_per_level["manager"].mean_hours == 3.0  # 5 h → solved at 8 h


def test_events_after_the_period_do_not_count():
    early = Period(T0 - timedelta(days=1), T0 + 3 * H)
    r = report([ESCALATED], early)
    assert r.escalated == 1 and r.resolved == 0 and "resolution" not in r.sla
    assert r.dwell_per_level["specialist"].mean_hours == 1.0  # 2 h → the period's end at 3 h


def test_weekly_trend_and_json_keys():
    r = report(ALL, JUNE)
    data = r.to_json()
    assert data["weekly"] == [{"week": "2026-06-01", "tickets": 4, "escalated": 2, "escalations_per_1000": 500.0}]
    for key in ("breach_rate", "breaches_averted", "escalations_per_1000", "csat", "dwell_per_level"):
        assert key in data


def test_grouped_by_team():
    groups = report_by(ALL, JUNE, "team")
    assert sorted(groups) == ["acme", "billing", "support"]  # the old case (no team) is outside the period
    assert groups["support"].tickets == 2 and groups["support"].escalated == 1
    with pytest.raises(ValueError, match="--by: got 'colour'"):
        report_by(ALL, JUNE, "colour")


def test_an_empty_period_has_no_rates():
    r = report([], JUNE)
    assert r.tickets == 0 and r.escalations_per_1000 is None and r.breach_rate is None and r.mttr.count == 0


def test_a_reopen_the_customers_confirmation_caused_is_no_return():
    """Zendesk: the requester's "yes, fixed" reopens the solved ticket by itself; slaclock then closes it."""
    confirmed = case("zendesk:6", statuses=[(0 * H, "new"), (1 * H, "solved"), (5 * H, "open"), (5 * H, "closed")],
                     events=[event(TimelineKind.RESOLUTION_CONFIRMED, 5 * H)])
    not_fixed = case("zendesk:7", statuses=[(0 * H, "new"), (1 * H, "solved"), (5 * H, "open"), (9 * H, "solved")],
                     events=[event(TimelineKind.REOPENED, 5 * H)])
    r = report([confirmed, not_fixed], JUNE)
    assert (r.resolved, r.resolved_without_return) == (2, 1)


# --- CSAT: one rating per rated case (its latest), 1-5 scores and good/bad verdicts ------------------

def rated(at, score=None, verdict=None, comment=""):
    return TimelineEvent(TimelineKind.CSAT, T0 + at, f"csat:{at}", rating=Rating(score=score, verdict=verdict,
                                                                                 comment=comment))


RATED = [
    # JSM: 5, then 4 after a second thought (only the 4 counts); a 2; a 3 (Zendesk's split: not good).
    case("jira:SD-10", events=[rated(9 * H, score=5), rated(10 * H, score=4)], team="support"),
    case("jira:SD-11", events=[rated(9 * H, score=2)], team="support"),
    case("jira:SD-12", events=[rated(9 * H, score=3)], team="billing"),
    # Zendesk: good and bad verdicts, no score.
    case("zendesk:10", events=[rated(9 * H, verdict="good", comment="Quick fix")], team="support"),
    case("zendesk:11", events=[rated(9 * H, verdict="bad")], team="billing"),
    # Not rated.
    case("zendesk:12", team="billing"),
]


def test_csat_counts_each_rated_case_once_with_its_latest_rating():
    csat = report(RATED, JUNE).to_json()["csat"]
    # Scores 4, 2, 3: mean 3.0. Good: the 4 and the good verdict (2 of 5 ratings).
    assert csat == {"count": 5, "scored": 3, "mean": 3.0,
                    "distribution": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 0},
                    "good": 2, "bad": 3, "good_share": 0.4}


def test_csat_per_group_and_rating_after_the_period_end():
    groups = report_by(RATED, JUNE, "team")
    # support: 4, 2 and good → mean 3.0, good 2 of 3; billing: 3 and bad → good 0 of 2.
    assert groups["support"].to_json()["csat"] | {"distribution": None} == {
        "count": 3, "scored": 2, "mean": 3.0, "distribution": None, "good": 2, "bad": 1, "good_share": 0.6667}
    assert groups["billing"].to_json()["csat"]["good_share"] == 0.0
    # Until 9 h 30: SD-10's later 4 has not happened; its 5 counts.
    early = report(RATED[:1], Period(JUNE.since, T0 + 9.5 * H)).to_json()["csat"]
    assert (early["count"], early["mean"], early["distribution"]["5"]) == (1, 5.0, 1)


def test_no_ratings_is_a_count_of_zero_with_no_mean_or_share():
    assert report([ESCALATED], JUNE).to_json()["csat"] == {
        "count": 0, "scored": 0, "mean": None, "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        "good": 0, "bad": 0, "good_share": None}
