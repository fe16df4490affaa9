"""Every customer template, shipped default and example file, rendered with every combination of present and
absent values: the text must read as a customer reads it."""
from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from connectors.model import Ticket
from rules import EXAMPLE_RULES, load_rules
from rules.customer_updates import MessageFacts, message_values
from rules.schema import CustomerTemplates, CustomerUpdates
from rules.wording import customer_time, fill_message

UTC = timezone.utc
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
EXAMPLE = load_rules(EXAMPLE_RULES).customer_updates
SETS = {"defaults": (CustomerUpdates(), CustomerTemplates()), "example": (EXAMPLE, EXAMPLE.templates)}
MESSAGES = tuple(CustomerTemplates.model_fields)

# What a customer must never read: ladder and level vocabulary, internal keys, our own jargon.
INTERNAL = re.compile(r"override|\bL[1-9]\b|specialist|ladder|level|zendesk:|jira:|priority|SLA|escalation manager",
                      re.IGNORECASE)
LEVEL_TITLE = "Purchasing specialist"
VENDOR = "ACME Parts"


def combinations():
    for name, helpdesk, owner, next_update, eta, problem in itertools.product(
            SETS, ("zendesk", "jira"), ("Sam Ortiz", None), (datetime(2026, 6, 4, 19, 0, tzinfo=UTC), None),
            (datetime(2027, 1, 5, 15, 30, tzinfo=UTC), None), ("9001", None)):
        yield pytest.param(name, helpdesk, owner, next_update, eta, problem,
                           id=f"{name}-{helpdesk}-{'owner' if owner else 'no_owner'}-"
                              f"{'next' if next_update else 'no_next'}-{'eta' if eta else 'no_eta'}-"
                              f"{'problem' if problem else 'no_problem'}")


@pytest.mark.parametrize("name,helpdesk,owner,next_update,eta,problem", list(combinations()))
def test_every_message_reads_right(name, helpdesk, owner, next_update, eta, problem):
    cfg, templates = SETS[name]
    ticket = Ticket(connector=helpdesk, ticket_id="42" if helpdesk == "zendesk" else "SD-42", status="open",
                    priority="high", opened_at=NOW, subject="Dishwasher leaks")
    values = message_values(ticket, cfg, MessageFacts(NEW_YORK, NOW, "high", None, owner, next_update, eta, VENDOR,
                                                      LEVEL_TITLE, problem))
    for message in MESSAGES:
        text = fill_message(getattr(templates, message), values)
        assert text, f"{message}: nothing left to say"
        assert "{" not in text and "}" not in text, text
        assert "by as soon as" not in text and "for to be confirmed" not in text, text
        assert not re.search(r"\b(\w+) \1\b", text, re.IGNORECASE), f"doubled word: {text}"
        assert not re.search(r"\(\s*\)|\s[.,;:]|\.\.|,,", text), f"empty or stray punctuation: {text}"
        assert all(s[:1].isupper() or s[:1] == "#" for s in re.split(r"(?<=[.!?])\s+", text)), text
        assert text.endswith("."), text
        assert not INTERNAL.search(text), f"internal vocabulary: {text}"
        assert VENDOR not in text and LEVEL_TITLE not in text, text
        reference = "#42" if helpdesk == "zendesk" else "SD-42"
        assert f"request {reference}" in text or message == "linked" and reference in text, text
        if next_update is not None:
            assert "by Thu 4 Jun at 15:00 EDT" in text, text  # the customer's zone, a friendly format
        else:
            assert cfg.no_next_update_text in text, text
        if message == "schedule_confirmed":
            assert ("planned for Tue 5 Jan 2027 at 10:30 EST" in text) == (eta is not None), text
        if message in ("escalated", "update", "updated_plan"):
            assert (owner or cfg.no_owner_text).lower() in text.lower(), text  # seed 003: the owner is named


def test_the_vendor_is_named_only_where_the_rules_allow_it():
    ticket = Ticket(connector="zendesk", ticket_id="7", status="open", priority="high", opened_at=NOW)
    facts = MessageFacts(NEW_YORK, NOW, "high", None, None, None, None, VENDOR, None, None)
    template = "{vendor} confirmed the repair."
    assert fill_message(template, message_values(ticket, CustomerUpdates(), facts)) == "Our partner confirmed the repair."
    named = CustomerUpdates(name_vendor=True)
    assert fill_message(template, message_values(ticket, named, facts)) == "ACME Parts confirmed the repair."


def test_a_sentence_naming_an_absent_value_is_left_out():
    values = {"reference": "#7", "planned_for": None, "owner": "our support team"}
    text = fill_message("Good news on {reference}. It is {planned_for}. {owner} keeps you posted.", values)
    assert text == "Good news on #7. Our support team keeps you posted."


@pytest.mark.parametrize("instant,zone,expected", [
    (datetime(2026, 6, 4, 19, 0, tzinfo=UTC), "America/New_York", "Thu 4 Jun at 15:00 EDT"),
    (datetime(2026, 12, 1, 19, 0, tzinfo=UTC), "America/New_York", "Tue 1 Dec at 14:00 EST"),
    (datetime(2027, 1, 5, 15, 30, tzinfo=UTC), "Europe/Berlin", "Tue 5 Jan 2027 at 16:30 CET"),
    (datetime(2026, 6, 4, 3, 0, tzinfo=UTC), "Asia/Kathmandu", "Thu 4 Jun at 08:45 UTC+5:45"),
    (datetime(2026, 6, 4, 3, 0, tzinfo=UTC), "America/Santiago", "Wed 3 Jun at 23:00 UTC-4"),
])
def test_customer_times_are_friendly_and_name_one_zone(instant, zone, expected):
    assert customer_time(instant, ZoneInfo(zone), NOW) == expected
