"""Zendesk field mapping (API ticket ↔ Ticket / TicketUpdate) and settings from the environment."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.model import Rating, TicketUpdate
from rules.schema import Rules
from zendesk.mapping import ticket_from_api, update_body
from zendesk.settings import STATIC_TEST_SECRET, ZendeskSettings

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
SETTINGS = ZendeskSettings(base_url="https://acme.zendesk.com", email="slaclock@acme.test", api_token="tok",
                           webhook_secrets=("s",), reason_field_id="360001", due_field_id="360002")
VERSION = "2025-01-08T10:20:00Z"


def api_ticket(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())["ticket"]


# --- API ticket → Ticket -------------------------------------------------------------------------

def test_ticket_from_api_open_ticket():
    ticket = ticket_from_api(api_ticket("api_get_ticket__open"), SETTINGS)
    assert (ticket.connector, ticket.ticket_id, ticket.status, ticket.priority) == ("zendesk", "5158", "open", "normal")
    assert ticket.opened_at == datetime(2025, 1, 8, 10, 12, 7, tzinfo=timezone.utc)
    assert ticket.updated_at == datetime(2025, 1, 8, 10, 20, tzinfo=timezone.utc)
    assert ticket.version == VERSION
    assert (ticket.group_id, ticket.assignee_id, ticket.requester_id, ticket.organization_id) == (
        "8447320466430", "8447388090495", "8447388090494", "8447346622462")
    assert ticket.tags == frozenset({"missing_part", "order"})
    assert ticket.reason_code == "missing_part"
    assert ticket.due_at == datetime(2025, 1, 11, 10, 12, 7, tzinfo=timezone.utc)
    assert ticket.custom_fields == {"360001": "missing_part", "360002": "2025-01-11T10:12:07Z", "360003": None}
    assert ticket.subject == "Pump delivered without pressure valve"


def test_ticket_from_api_new_unassigned_ticket():
    ticket = ticket_from_api(api_ticket("api_get_ticket__new_unassigned"), SETTINGS)
    assert (ticket.status, ticket.priority, ticket.group_id, ticket.assignee_id, ticket.organization_id) == (
        "new", None, None, None, None)
    assert ticket.tags == frozenset() and ticket.reason_code is None
    assert ticket.due_at is None  # an agent typed "call me tomorrow" into the due field: slaclock rewrites it


def test_ticket_from_api_without_configured_fields():
    ticket = ticket_from_api(api_ticket("api_get_ticket__open"),
                             dataclasses.replace(SETTINGS, reason_field_id=None, due_field_id=None))
    assert (ticket.reason_code, ticket.due_at) == (None, None)


def test_ticket_from_api_reads_legacy_fields_and_offsets():
    raw = {**api_ticket("api_get_ticket__open"), "custom_fields": None,
           "fields": [{"id": 360002, "value": "2025-01-11T11:12:07+01:00"}], "created_at": "2025-01-08T11:12:07+01:00"}
    ticket = ticket_from_api(raw, SETTINGS)
    assert ticket.due_at == datetime(2025, 1, 11, 10, 12, 7, tzinfo=timezone.utc)
    assert ticket.opened_at == datetime(2025, 1, 8, 10, 12, 7, tzinfo=timezone.utc)
    assert ticket.due_at.tzinfo == timezone.utc and ticket.reason_code is None


def test_ticket_from_api_needs_created_at():
    with pytest.raises(ValueError, match="no readable created_at"):
        ticket_from_api({**api_ticket("api_get_ticket__open"), "created_at": None}, SETTINGS)


# --- TicketUpdate → PUT body ---------------------------------------------------------------------

@pytest.mark.parametrize("change, sent", [
    ({"priority": "urgent"}, {"priority": "urgent"}),
    ({"group_id": "8447320466431"}, {"group_id": 8447320466431}),
    ({"assignee_id": "8447388090496"}, {"assignee_id": 8447388090496}),
    ({"due_at": datetime(2025, 1, 9, 10, 12, 7, 654321, tzinfo=timezone.utc)},
     {"custom_fields": [{"id": 360002, "value": "2025-01-09T10:12:07Z"}]}),
    ({"tags": frozenset({"vip", "order", "missing_part"})}, {"tags": ["missing_part", "order", "vip"]}),
    ({"tags": frozenset()}, {"tags": []}),
    ({"note": "slaclock: due 2025-01-09 10:12 UTC."},
     {"comment": {"body": "slaclock: due 2025-01-09 10:12 UTC.", "public": False}}),
], ids=["priority", "group", "assignee", "due", "tags", "no-tags", "note"])
def test_update_body_carries_only_what_changes(change, sent):
    assert update_body(TicketUpdate(ticket_id="5158", **change), SETTINGS) == {"ticket": sent}
    guarded = update_body(TicketUpdate(ticket_id="5158", version=VERSION, **change), SETTINGS)
    assert guarded == {"ticket": {**sent, "safe_update": True, "updated_stamp": VERSION}}


def test_update_body_everything_at_once():
    update = TicketUpdate(ticket_id="5158", version=VERSION, priority="high", group_id="2002", assignee_id="3004",
                          due_at=datetime(2025, 1, 9, 11, 12, 7, tzinfo=ZoneInfo("Europe/Madrid")),
                          tags=frozenset({"b", "a"}), note="why")
    assert update_body(update, SETTINGS) == {"ticket": {
        "priority": "high", "group_id": 2002, "assignee_id": 3004,
        "custom_fields": [{"id": 360002, "value": "2025-01-09T10:12:07Z"}], "tags": ["a", "b"],
        "comment": {"body": "why", "public": False}, "safe_update": True, "updated_stamp": VERSION}}


def test_empty_update_sends_no_safe_update():
    assert update_body(TicketUpdate(ticket_id="5158", version=VERSION), SETTINGS) == {"ticket": {}}


@pytest.mark.parametrize("update, settings, message", [
    (TicketUpdate(ticket_id="1", due_at=datetime(2025, 1, 9, tzinfo=timezone.utc)),
     dataclasses.replace(SETTINGS, due_field_id=None), "ZENDESK_DUE_FIELD_ID"),
    (TicketUpdate(ticket_id="1", due_at=datetime(2025, 1, 9)), SETTINGS, "timezone-aware"),
    (TicketUpdate(ticket_id="1", group_id="purchasing"), SETTINGS, "group_id must be a numeric Zendesk id"),
    (TicketUpdate(ticket_id="1", assignee_id="-3"), SETTINGS, "assignee_id must be a numeric Zendesk id"),
], ids=["no-due-field", "naive-due", "group-name", "negative-assignee"])
def test_update_body_refuses_what_zendesk_cannot_take(update, settings, message):
    with pytest.raises(ValueError, match=message):
        update_body(update, settings)


def test_due_at_round_trips_through_the_field():
    due = datetime(2025, 3, 30, 0, 59, 59, tzinfo=timezone.utc) + timedelta(hours=1)
    body = update_body(TicketUpdate(ticket_id="5158", due_at=due), SETTINGS)
    raw = {**api_ticket("api_get_ticket__open"), "custom_fields": body["ticket"]["custom_fields"]}
    assert ticket_from_api(raw, SETTINGS).due_at == due


# --- settings from the environment ---------------------------------------------------------------

RULES = Rules.model_validate({"teams": {"support": {}},
                              "connectors": {"zendesk": {"reason_field_id": "360001", "due_field_id": "360002"}}})
TOKEN, SECRET_A, SECRET_B = "tok-Zq81-secret", "whsec-new-a1", "whsec-old-b2"
ENV = {"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "slaclock@acme.test", "ZENDESK_API_TOKEN": TOKEN,
       "ZENDESK_WEBHOOK_SECRET": f"{SECRET_A}, {SECRET_B} ,"}


def test_settings_from_env_defaults():
    settings = ZendeskSettings.from_env(ENV, RULES)
    assert settings == ZendeskSettings(
        base_url="https://acme.zendesk.com", email="slaclock@acme.test", api_token=TOKEN,
        webhook_secrets=(SECRET_A, SECRET_B), tolerance_seconds=300, allow_test_secret=False,
        rate_per_minute=100.0, reason_field_id="360001", due_field_id="360002")
    assert settings.problems() == []


def test_settings_url_wins_and_env_overrides_rules():
    settings = ZendeskSettings.from_env({**ENV, "ZENDESK_URL": "http://127.0.0.1:8765/",
                                         "ZENDESK_WEBHOOK_TOLERANCE_SECONDS": "0", "ZENDESK_ALLOW_TEST_SECRET": "TRUE",
                                         "ZENDESK_RATE_PER_MINUTE": "350.5", "ZENDESK_REASON_FIELD_ID": " 900001 ",
                                         "ZENDESK_DUE_FIELD_ID": "900002"}, RULES)
    assert (settings.base_url, settings.tolerance_seconds, settings.allow_test_secret, settings.rate_per_minute) == (
        "http://127.0.0.1:8765", 0, True, 350.5)
    assert (settings.reason_field_id, settings.due_field_id) == ("900001", "900002")


@pytest.mark.parametrize("name, value", [
    ("ZENDESK_URL", "acme.zendesk.com"),
    ("ZENDESK_URL", "ftp://acme.zendesk.com"),
    ("ZENDESK_SUBDOMAIN", "acme.zendesk.com"),
    ("ZENDESK_EMAIL", "slaclock"),
    ("ZENDESK_EMAIL", "slaclock@acme.test/token"),
    ("ZENDESK_WEBHOOK_TOLERANCE_SECONDS", "5m"),
    ("ZENDESK_WEBHOOK_TOLERANCE_SECONDS", "-1"),
    ("ZENDESK_ALLOW_TEST_SECRET", "maybe"),
    ("ZENDESK_RATE_PER_MINUTE", "fast"),
    ("ZENDESK_RATE_PER_MINUTE", "0"),
    ("ZENDESK_RATE_PER_MINUTE", "inf"),
    ("ZENDESK_REASON_FIELD_ID", "reason"),
    ("ZENDESK_DUE_FIELD_ID", "36000x"),
])
def test_bad_values_name_the_variable_and_value_but_no_secret(name, value):
    with pytest.raises(ValueError) as caught:
        ZendeskSettings.from_env({**ENV, name: value}, RULES)
    message = str(caught.value)
    assert message.startswith(f"{name}:") and repr(value) in message
    assert TOKEN not in message and SECRET_A not in message and SECRET_B not in message


def test_bad_rules_field_id_names_the_rules_key():
    rules = Rules.model_validate({"teams": {"support": {}}, "connectors": {"zendesk": {"due_field_id": "due"}}})
    with pytest.raises(ValueError, match=r"rules connectors.zendesk.due_field_id: .*'due'"):
        ZendeskSettings.from_env(ENV, rules)


def test_static_test_secret_in_the_secret_list_needs_the_switch():
    env = {**ENV, "ZENDESK_WEBHOOK_SECRET": f"{SECRET_A},{STATIC_TEST_SECRET}"}
    with pytest.raises(ValueError, match="ZENDESK_ALLOW_TEST_SECRET") as caught:
        ZendeskSettings.from_env(env, RULES)
    assert SECRET_A not in str(caught.value)
    assert ZendeskSettings.from_env({**env, "ZENDESK_ALLOW_TEST_SECRET": "true"}, RULES).allow_test_secret


def test_repr_hides_token_and_secrets():
    shown = repr(ZendeskSettings.from_env(ENV, RULES))
    assert "acme.zendesk.com" in shown
    assert TOKEN not in shown and SECRET_A not in shown and SECRET_B not in shown


def test_problems_list_what_is_missing():
    rules = Rules.model_validate({"teams": {"support": {}}})
    settings = ZendeskSettings.from_env({"ZENDESK_ALLOW_TEST_SECRET": "1"}, rules)
    problems = "\n".join(settings.problems())
    for expected in ("ZENDESK_URL or ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN",
                     "ZENDESK_WEBHOOK_SECRET", "ZENDESK_ALLOW_TEST_SECRET is on", "ZENDESK_DUE_FIELD_ID",
                     "ZENDESK_REASON_FIELD_ID"):
        assert expected in problems
    assert len(settings.problems()) == 7


@pytest.mark.parametrize("satisfaction, rating", [
    ({"score": "good", "comment": "Great support!", "id": 1234}, Rating(verdict="good", comment="Great support!")),
    ({"score": "bad", "comment": None, "reason": "The issue took too long to resolve"}, Rating(verdict="bad")),
    ({"score": "offered"}, None), ({"score": "unoffered"}, None), (None, None),  # null: a plan without CSAT
])
def test_the_satisfaction_rating_is_read_with_the_ticket(satisfaction, rating):
    data = json.loads((FIXTURES / "api_get_ticket__open.json").read_text())["ticket"]
    assert ticket_from_api({**data, "satisfaction_rating": satisfaction}, SETTINGS).rating == rating
