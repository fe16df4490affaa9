"""Jira settings and field mapping: priority map, statuses, dates, issue → Ticket, update → edit body."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.model import Rating, TicketUpdate, parse_instant
from jira import mapping
from jira.settings import JiraSettings

ISSUE_JSON = json.loads((Path(__file__).parent / "fixtures/jira/api_issue__service_request.json").read_text())
ENV = {"JIRA_URL": "https://acme-support.atlassian.net/", "JIRA_EMAIL": "slaclock@acme.example",
       "JIRA_API_TOKEN": "tok-123", "JIRA_WEBHOOK_SECRET": "old-secret, new-secret",
       "JIRA_REASON_FIELD_ID": "customfield_10050", "JIRA_DUE_FIELD_ID": "customfield_10060",
       "JIRA_ORGANIZATION_FIELD_ID": "customfield_10002", "JIRA_REQUEST_TYPE_FIELD_ID": "customfield_10010",
       "JIRA_GROUP_FIELD_ID": "customfield_10070"}


def settings(**env: str) -> JiraSettings:
    return JiraSettings.from_env({**ENV, **env})


# --- settings ------------------------------------------------------------------------------------

def test_settings_from_env():
    s = settings()
    assert s.base_url == "https://acme-support.atlassian.net"
    assert s.webhook_secrets == ("old-secret", "new-secret")
    assert s.rate_per_minute == 100
    assert s.custom_field_ids == ("customfield_10050", "customfield_10060", "customfield_10002",
                                  "customfield_10010", "customfield_10070")
    assert s.problems() == []


def test_repr_hides_the_token_and_secrets():
    text = repr(settings())
    assert "tok-123" not in text and "old-secret" not in text and "new-secret" not in text


def test_problems_list_what_is_missing():
    problems = JiraSettings.from_env({}).problems()
    assert [p.split(" ")[0] for p in problems[:4]] == ["JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN",
                                                      "JIRA_WEBHOOK_SECRET"]
    assert any("JIRA_DUE_FIELD_ID" in p for p in problems) and any("JIRA_REASON_FIELD_ID" in p for p in problems)


@pytest.mark.parametrize("name, value, message", [
    ("JIRA_URL", "acme.atlassian.net", "JIRA_URL: expected a site URL"),
    ("JIRA_URL", "https://me:tok-123@acme.atlassian.net", "JIRA_URL: contains credentials"),
    ("JIRA_EMAIL", "slaclock", "JIRA_EMAIL: expected"),
    ("JIRA_RATE_PER_MINUTE", "fast", "JIRA_RATE_PER_MINUTE: expected a number"),
    ("JIRA_RATE_PER_MINUTE", "0", "JIRA_RATE_PER_MINUTE: expected a number greater than 0"),
    ("JIRA_REASON_FIELD_ID", "10050", "JIRA_REASON_FIELD_ID: expected a Jira custom field id"),
    ("JIRA_DUE_FIELD_ID", "duedate", "JIRA_DUE_FIELD_ID: expected a Jira custom field id"),
    ("JIRA_PRIORITY_MAP", "Highest=critical", "JIRA_PRIORITY_MAP: expected 'JiraName=priority'"),
    ("JIRA_PRIORITY_MAP", "Highest", "JIRA_PRIORITY_MAP: expected 'JiraName=priority'"),
    ("JIRA_PRIORITY_MAP", "P1=urgent,p1=high", "JIRA_PRIORITY_MAP: 'p1' is listed twice"),
    ("JIRA_PRIORITY_MAP", "P1=urgent,P2=high,P3=normal", "JIRA_PRIORITY_MAP: no Jira priority for low"),
    ("JIRA_PROJECTS", "SD,ops-1", "JIRA_PROJECTS: expected project keys like SD,OPS, got 'OPS-1'"),
    ("JIRA_HOLD_STATUSES", "Pending", "JIRA_PAUSE_STATUSES and JIRA_HOLD_STATUSES both list pending"),
])
def test_bad_values_name_the_variable_and_never_the_secret(name, value, message):
    with pytest.raises(ValueError, match=message) as raised:
        settings(**{name: value})
    assert "tok-123" not in str(raised.value) and "old-secret" not in str(raised.value)


def test_field_ids_come_from_the_rules_file_when_it_has_a_jira_section():
    from rules import parse_rules

    rules = parse_rules('[teams.support]\n[connectors.jira]\nreason_field_id = "customfield_1"\ndue_field_id = "customfield_2"\n')
    s = JiraSettings.from_env({"JIRA_DUE_FIELD_ID": "customfield_3"}, rules)
    assert (s.reason_field_id, s.due_field_id) == ("customfield_1", "customfield_3")
    with pytest.raises(ValueError, match="rules connectors.jira.reason_field_id"):
        JiraSettings.from_env({}, parse_rules('[teams.support]\n[connectors.jira]\nreason_field_id = "Reason"\n'))


def test_fields_the_rules_read_are_fetched():
    from rules import load_rules

    s = JiraSettings.from_env({"JIRA_URL": "https://acme.atlassian.net"}, load_rules())
    assert s.rules_field_ids and set(s.rules_field_ids) <= set(s.custom_field_ids)
    assert all(i.startswith("customfield_") for i in s.rules_field_ids)


def test_projects_are_upper_cased_and_deduplicated():
    assert settings(JIRA_PROJECTS=" sd,OPS, SD ").projects == ("SD", "OPS")


def test_an_empty_status_list_turns_the_default_off():
    assert settings(JIRA_PAUSE_STATUSES="").pause_statuses == frozenset()


# --- priority ------------------------------------------------------------------------------------

@pytest.mark.parametrize("jira_name, ours", [
    ("Highest", "urgent"), ("High", "high"), ("Medium", "normal"), ("Low", "low"), ("Lowest", "low"),
    ("P1", "urgent"), ("P2", "high"), ("P3", "normal"), ("P4", "low"), ("P5", "low"),
    ("highest", "urgent"), (" p2 ", "high"), ("Blocker", None), ("", None), (None, None),
])
def test_priority_from_jira_default_map(jira_name, ours):
    assert mapping.priority_from_jira(jira_name, settings()) == ours


@pytest.mark.parametrize("ours, jira_name", [("urgent", "Highest"), ("high", "High"), ("normal", "Medium"),
                                             ("low", "Low")])
def test_priority_written_is_the_first_name_mapped(ours, jira_name):
    assert mapping.priority_to_jira(ours, settings()) == jira_name


def test_a_custom_priority_map_replaces_the_default():
    s = settings(JIRA_PRIORITY_MAP="P1 - Critical=urgent, P2 - Major=high, P3 - Minor=normal, P4 - Trivial=low")
    assert mapping.priority_from_jira("P2 - Major", s) == "high"
    assert mapping.priority_from_jira("Highest", s) is None
    assert mapping.priority_to_jira("low", s) == "P4 - Trivial"


# --- status --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, category, ours", [
    ("Open", "new", "new"),
    ("To Do", "new", "new"),
    ("In Progress", "indeterminate", "open"),
    ("Waiting for support", "indeterminate", "open"),
    ("Escalated", "indeterminate", "open"),
    ("Waiting for customer", "indeterminate", "pending"),
    ("waiting FOR customer", "indeterminate", "pending"),
    ("Pending", "indeterminate", "pending"),
    ("Waiting for vendor", "indeterminate", "hold"),
    ("Resolved", "done", "solved"),
    ("Done", "done", "solved"),
    ("Closed", "done", "closed"),
    ("Canceled", "done", "closed"),
    ("Triage", "undefined", "open"),
    ("Triage", None, "open"),
])
def test_status_from_category_and_names(name, category, ours):
    assert mapping.status_from_jira(name, category, settings()) == ours


def test_status_lists_are_configurable():
    s = settings(JIRA_PAUSE_STATUSES="Awaiting reply", JIRA_HOLD_STATUSES="With supplier")
    assert mapping.status_from_jira("Awaiting reply", "indeterminate", s) == "pending"
    assert mapping.status_from_jira("With supplier", "indeterminate", s) == "hold"
    assert mapping.status_from_jira("Waiting for customer", "indeterminate", s) == "open"


# --- dates ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2025-01-08T10:12:07.123+0000", datetime(2025, 1, 8, 10, 12, 7, 123000, tzinfo=timezone.utc)),
    ("2019-02-15T19:01:52.971-0800", datetime(2019, 2, 16, 3, 1, 52, 971000, tzinfo=timezone.utc)),
    ("2026-03-02T09:14:02.871+0100", datetime(2026, 3, 2, 8, 14, 2, 871000, tzinfo=timezone.utc)),
    ("2026-03-05T14:00:00Z", datetime(2026, 3, 5, 14, tzinfo=timezone.utc)),
    ("2019-08-12", datetime(2019, 8, 12, tzinfo=timezone.utc)),
    ("next Thursday", None),
    ("", None),
    (None, None),
    (1772442164530, None),
])
def test_parse_instant(text, expected):
    assert parse_instant(text) == expected


def test_format_time_is_jira_datetime_in_utc():
    berlin = timezone(timedelta(hours=1))
    assert mapping.format_time(datetime(2026, 3, 5, 15, 0, 9, 999999, tzinfo=berlin)) == \
        "2026-03-05T14:00:09.000+0000"
    with pytest.raises(ValueError, match="timezone-aware"):
        mapping.format_time(datetime(2026, 3, 5, 15))


def test_written_due_time_reads_back_to_the_same_second():
    due = datetime(2026, 3, 5, 14, 0, 9, tzinfo=timezone.utc)
    assert parse_instant(mapping.format_time(due)) == due


# --- issue → Ticket ------------------------------------------------------------------------------

def test_ticket_from_api():
    ticket = mapping.ticket_from_api(ISSUE_JSON, settings())
    assert ticket.key == "jira:SD-42"
    assert (ticket.status, ticket.priority) == ("pending", "high")
    assert ticket.opened_at == datetime(2026, 3, 2, 8, 14, 2, 871000, tzinfo=timezone.utc)
    assert ticket.updated_at == datetime(2026, 3, 2, 9, 2, 44, 530000, tzinfo=timezone.utc)
    assert ticket.version == "2026-03-02T10:02:44.530+0100"
    assert ticket.subject == "Pump P-200 delivered without the pressure valve"
    assert ticket.description == "Order 88231: the valve kit is missing from the crate.\nSite visit is on Thursday."
    assert ticket.assignee_id == "5b10ac8d82e05b22cc7d4ef5"
    assert ticket.requester_id.startswith("qm:")
    assert ticket.organization_id == "3"
    assert ticket.group_id == "8f2c3d4e-1a2b-4c5d-9e8f-0a1b2c3d4e5f"
    assert ticket.tags == frozenset({"vip", "slaclock_escalate"})
    assert ticket.reason_code == "missing_part"
    assert ticket.due_at == datetime(2026, 3, 5, 13, tzinfo=timezone.utc)
    assert ticket.custom_fields["request_type"] == "Report a delivery problem"
    assert set(ticket.custom_fields) == {*settings().custom_field_ids, "request_type"}


def test_ticket_without_optional_configuration_or_values():
    issue = json.loads(json.dumps(ISSUE_JSON))
    issue["fields"].update(priority=None, assignee=None, labels=[], customfield_10050=None, customfield_10060=None,
                           description=None)
    ticket = mapping.ticket_from_api(issue, JiraSettings.from_env({}))
    assert (ticket.priority, ticket.assignee_id, ticket.reason_code, ticket.due_at) == (None, None, None, None)
    assert (ticket.organization_id, ticket.group_id, ticket.description) == (None, None, "")
    assert ticket.tags == frozenset() and ticket.custom_fields == {}


def test_a_rich_text_custom_field_reads_as_its_text_in_v3_reads_and_v2_webhooks():
    steps = "customfield_10090"
    rules_fields = replace(settings(), rules_field_ids=(steps,))
    v3 = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "Restarted the pump; "}, {"type": "text", "text": "no change."}]}]}
    for value, text in ((v3, "Restarted the pump; no change."), ("Restarted the pump; no change.", None)):
        issue = {**ISSUE_JSON, "fields": {**ISSUE_JSON["fields"], steps: value}}
        assert mapping.ticket_from_api(issue, rules_fields).custom_fields[steps] == (text or value)


def test_issue_without_created_is_rejected():
    issue = {"key": "SD-1", "fields": {"created": "yesterday"}}
    with pytest.raises(ValueError, match="SD-1"):
        mapping.ticket_from_api(issue, settings())


def test_fields_to_read_are_the_system_fields_and_the_configured_custom_fields():
    assert mapping.fields_to_read(JiraSettings.from_env({})) == mapping.SYSTEM_FIELDS
    assert mapping.fields_to_read(settings())[-5:] == settings().custom_field_ids


# --- TicketUpdate → edit body --------------------------------------------------------------------

def test_edit_body_carries_only_what_changes():
    assert mapping.edit_body(TicketUpdate(ticket_id="SD-42", note="just a note"), settings()) == {"fields": {}}
    assert mapping.edit_body(TicketUpdate(ticket_id="SD-42", priority="urgent"), settings()) == \
        {"fields": {"priority": {"name": "Highest"}}}


def test_edit_body_with_every_field():
    update = TicketUpdate(ticket_id="SD-42", version="ignored", priority="normal", group_id="grp-1",
                          assignee_id="5cedcb4355a88a0fc86388ba", tags=frozenset({"vip", "b", "a"}),
                          due_at=datetime(2026, 3, 5, 14, tzinfo=timezone.utc))
    assert mapping.edit_body(update, settings()) == {"fields": {
        "priority": {"name": "Medium"},
        "labels": ["a", "b", "vip"],
        "customfield_10060": "2026-03-05T14:00:00.000+0000",
        "assignee": {"accountId": "5cedcb4355a88a0fc86388ba"},
        "customfield_10070": {"groupId": "grp-1"},
    }}


def test_an_emptied_label_set_is_written_as_an_empty_list():
    update = TicketUpdate(ticket_id="SD-42", tags=frozenset())
    assert mapping.edit_body(update, settings()) == {"fields": {"labels": []}}


def test_group_is_dropped_without_a_group_field():
    s = JiraSettings.from_env({})
    assert mapping.edit_body(TicketUpdate(ticket_id="SD-42", group_id="grp-1"), s) == {"fields": {}}


def test_due_time_without_a_due_field_cannot_be_written():
    update = TicketUpdate(ticket_id="SD-42", due_at=datetime(2026, 3, 5, tzinfo=timezone.utc))
    with pytest.raises(ValueError, match="JIRA_DUE_FIELD_ID"):
        mapping.edit_body(update, JiraSettings.from_env({}))


@pytest.mark.parametrize("feedback, rating", [
    ({"type": "csat", "rating": 5, "comment": {"body": " Sorted "}}, Rating(score=5, comment="Sorted")),
    ({"type": "csat", "rating": 1}, Rating(score=1)),
    ({"type": "csat"}, None), ({"type": "csat", "rating": 0}, None), ({"type": "csat", "rating": True}, None),
])
def test_request_feedback_becomes_a_rating(feedback, rating):
    assert mapping.rating_from_feedback(feedback) == rating
