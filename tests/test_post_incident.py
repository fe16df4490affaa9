"""Post-incident follow-up (seed 003 step 8): the task for the escalation owner of a solved escalated case, its
root cause read back when the task is solved, and the root causes per recurring cluster in the report."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import responses
from responses import matchers

from connectors.contract import run_steps
from connectors.model import FollowUp, Ticket
from jira.connector import JiraConnector
from jira.settings import JiraSettings
from jobs.deliverer import Deliverer
from jobs.processor import Processor
from reports.history import case_histories
from reports.kpis import CaseHistory, Period, report
from reports.text import render
from rules import EXAMPLE_RULES, CaseMemory, decide, load_rules, parse_rules
from rules.decision import ActionKind, TimelineEvent, TimelineKind
from rules.post_incident import root_cause_of
from zendesk.mapping import follow_up_body
from tests.fakes import Clock, FakeConnector, agent_fields

RULES = load_rules()
CFG = RULES.post_incident
OPENED = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)  # Monday 10:00 in New York
SOLVED_AT = OPENED + timedelta(hours=3)
SAM = RULES.people["sam"]


def ticket(status: str, at: datetime, **fields) -> Ticket:
    """The case as the agent leaves it: the escalation request's items and the resolution path filled in."""
    base = dict(connector="zendesk", ticket_id="7", status=status, priority="normal", opened_at=OPENED,
                updated_at=at, reason_code=None, subject="Refund is late",
                custom_fields=agent_fields(RULES, "zendesk", "7"))
    return Ticket(**{**base, **fields})


def escalated_then_solved(rules=RULES):
    first = decide(ticket("open", OPENED, tags=frozenset({RULES.escalation.tag})), rules, OPENED)
    assert first.escalation_owner == SAM.name
    return decide(ticket("solved", SOLVED_AT, assignee_id=SAM.zendesk), rules, SOLVED_AT, first.memory)


def reviews(decision):
    return [a for a in decision.actions if a.kind == ActionKind.FOLLOW_UP and a.key.startswith("post_incident:")]


def test_a_solved_escalated_case_asks_its_escalation_owner_for_a_review_once():
    d = escalated_then_solved()
    (task,) = reviews(d)
    assert task.assignee_id == SAM.zendesk and task.priority == "normal"
    assert task.due_at == SOLVED_AT + timedelta(days=5)
    assert task.subject == "Post-incident review: Refund is late (zendesk:7)"
    assert task.body.endswith("\n\nRoot cause:\n\nActions taken:\n\nPreventive steps:")
    assert task.body.startswith("The escalated case zendesk:7 was solved on Mon 2 Mar at 13:00 EST; Sam Ortiz owned "
                                "its escalation (L2 specialist).")
    assert task.text == ("Post-incident review asked of Sam Ortiz: root cause, actions taken and preventive steps, "
                         "due Sat 7 Mar at 13:00 EST.")
    assert TimelineKind.POST_INCIDENT in [e.kind for e in d.timeline]
    later = SOLVED_AT + timedelta(hours=1)
    again = decide(ticket("solved", SOLVED_AT, assignee_id=SAM.zendesk), RULES, later, d.memory)
    assert not reviews(again) and TimelineKind.POST_INCIDENT not in [e.kind for e in again.timeline]


def test_no_review_for_a_case_never_escalated_or_with_the_table_off():
    first = decide(ticket("open", OPENED), RULES, OPENED)
    plain = decide(ticket("solved", SOLVED_AT), RULES, SOLVED_AT, first.memory)
    assert not reviews(plain)
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    off = parse_rules(text.replace("enabled = true                     # false: no post-incident task",
                                   "enabled = false"))
    assert not off.post_incident.enabled and not reviews(escalated_then_solved(off))


def test_the_root_cause_is_the_field_else_the_text_under_its_heading():
    body = ("The escalated case was solved.\n\nRoot cause:\nA worn gasket in the\n  door seal.\n\nActions taken:\n"
            "Replaced it.\n\nPreventive steps:\nCheck gaskets yearly.\n\nFollow-up of SD-7.")
    task = Ticket(connector="jira", ticket_id="SD-9", status="solved", priority="normal", opened_at=OPENED,
                  description=body)
    assert root_cause_of(task, CFG) == "A worn gasket in the door seal."
    empty = replace(task, description="Root cause:\n\nActions taken:\nnothing yet")
    assert root_cause_of(empty, CFG) is None
    zendesk = Ticket(connector="zendesk", ticket_id="9", status="solved", priority="normal", opened_at=OPENED,
                     description=body, custom_fields={"360009": "  Supplier shipped the old part revision. "})
    assert root_cause_of(zendesk, CFG) == "Supplier shipped the old part revision."


def test_the_task_is_a_zendesk_task_with_a_due_date_and_a_jira_issue_with_a_due_date():
    follow_up = FollowUp(original_id="7", subject="Post-incident review", body="Root cause:", assignee_id="3101",
                         priority="normal", due_at="2026-03-07T18:00:00+00:00", review=True)
    body = follow_up_body(follow_up, "slaclock-zendesk-7-post_incident:1")["ticket"]
    assert (body["type"], body["due_at"], body["assignee_id"]) == ("task", "2026-03-07T18:00:00+00:00", 3101)

    jira = JiraConnector(JiraSettings.from_env({"JIRA_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "a@b.c",
                                                "JIRA_API_TOKEN": "t"}), sleep=lambda s: None)
    with responses.RequestsMock() as rsps:
        rsps.post("https://acme.atlassian.net/rest/api/3/search/jql", json={"issues": [], "isLast": True})
        created = rsps.post("https://acme.atlassian.net/rest/api/3/issue", json={"id": "1", "key": "SD-9"},
                            status=201)
        link = rsps.post("https://acme.atlassian.net/rest/api/3/issueLink", status=201, match=[
            matchers.json_params_matcher({"type": {"name": "Relates"}, "inwardIssue": {"key": "SD-9"},
                                          "outwardIssue": {"key": "SD-7"}})])
        result = run_steps(jira.follow_up_steps(replace(follow_up, original_id="SD-7"), "k"))
    fields = json.loads(created.calls[0].request.body)["fields"]
    assert result["create"] == "SD-9" and fields["duedate"] == "2026-03-07" and link.call_count == 1


def test_through_the_jobs_the_task_is_registered_its_root_cause_kept_and_reported(store):
    fake, clock = FakeConnector(), Clock(OPENED)
    connectors = {"zendesk": fake}
    jobs = (Processor(store, connectors, RULES, clock), Deliverer(store, connectors, clock))

    def drain():
        while sum(job.run_once() for job in jobs):
            pass

    def deliver(ticket_id, key):
        store.add_delivery(connector="zendesk", delivery_key=key, event_type="ticket.updated", ticket_id=ticket_id,
                           actor_id=SAM.zendesk, headers={}, body=b"{}", received_at=clock.at)  # a support lead
    fake.add("7", status="open", opened_at=OPENED, updated_at=OPENED, subject="Refund is late",
             tags=frozenset({RULES.escalation.tag}), custom_fields=agent_fields(RULES, "zendesk", "7"))
    deliver("7", "c")
    drain()
    clock.advance(hours=3)
    fake.change("7", status="solved", updated_at=clock.at)
    deliver("7", "s")
    drain()
    ((task, _),) = [(f, k) for f, k in fake.created if f.review]
    assert task.assignee_id == SAM.zendesk and task.due_at == (clock.at + timedelta(days=5)).isoformat()
    assert store.review_task("zendesk", "900") == ("7", None)

    # The owner fills in the task and solves it: slaclock decides nothing on it, and keeps its root cause.
    fake.add("900", status="solved", opened_at=clock.at, updated_at=clock.at + timedelta(hours=1),
             description=task.body.replace("Root cause:", "Root cause:\nThe refund batch job was paused."))
    writes = len(fake.writes)
    deliver("900", "t")
    drain()
    assert len(fake.writes) == writes and store.get_case("zendesk", "900") is None, "no lifecycle of its own"
    assert store.review_task("zendesk", "900") == ("7", "The refund batch job was paused.")
    (cause,) = [e for e in store.timeline("zendesk", "7") if e.kind == "root_cause"]
    assert cause.detail["text"] == "The refund batch job was paused."
    kpis = report(case_histories(store), Period(OPENED - timedelta(days=1), OPENED + timedelta(days=1)))
    assert kpis.to_json()["root_causes"] == {"-": ["The refund batch job was paused."]}


def test_root_causes_are_kept_per_recurring_cluster_in_the_report():
    def case(key, cluster, *causes):
        events = tuple(TimelineEvent(TimelineKind.ROOT_CAUSE, OPENED + timedelta(hours=1), f"root_cause:{key}",
                                     text=c) for c in causes)
        return CaseHistory(key=key, opened_at=OPENED, memory=CaseMemory(), events=events, team="support",
                           cluster=cluster)
    period = Period(OPENED - timedelta(days=1), OPENED + timedelta(days=1))
    cases = [case("zendesk:1", "product:X100", "Bad firmware 2.1"), case("zendesk:2", "product:X100", "Bad firmware 2.1"),
             case("zendesk:3", None, "Courier lost the parcel"), case("zendesk:4", None)]
    kpis = report(cases, period)
    assert kpis.to_json()["root_causes"] == {"-": ["Courier lost the parcel"],
                                             "product:X100": ["Bad firmware 2.1", "Bad firmware 2.1"]}
    table = render({"all": kpis}, period, None, "table")
    assert "all root cause (cluster product:X100): Bad firmware 2.1" in table
    assert "all root cause (no cluster): Courier lost the parcel" in table


@pytest.mark.parametrize("bad,expected", [
    ('due_in = "soon"', "post_incident.due_in: got \"soon\""),
    ('subject = "Review {case}"', "post_incident.subject: got placeholder {case}"),
])
def test_the_table_is_validated(bad, expected):
    from rules import RulesError
    with pytest.raises(RulesError) as caught:
        parse_rules(f"[teams.support]\n[post_incident]\n{bad}\n")
    assert any(expected in e for e in caught.value.errors), caught.value.errors


def test_check_names_the_root_cause_field_by_its_rules_key():
    from checks import rules_fields
    assert ("post_incident.root_cause_field.zendesk", "360009") in list(rules_fields(RULES, "zendesk"))
    assert not [key for key, _ in rules_fields(RULES, "jira") if key.startswith("post_incident")]
