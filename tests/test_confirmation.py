"""Resolve only when confirmed (seeds 001, 003): the pure loop, its words, its rules table, and the quiet period
through the jobs (processor, sweeper, deliverer) with an injected clock."""
from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from connectors.model import Ticket
from jobs.deliverer import Deliverer
from jobs.processor import Processor
from jobs.sweeper import Sweeper
from rules import EXAMPLE_RULES, RulesError, decide, load_rules, parse_rules
from rules.confirmation import says_fixed
from rules.decision import ActionKind, ConfirmationOutcome, TimelineKind
from rules.schema.lifecycle import Confirmation, ConfirmationTemplates
from tests.fakes import Clock, FakeConnector, agent_fields

RULES = load_rules()
CFG = RULES.confirmation
OPENED = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)  # Monday 10:00 in New York
SOLVED_AT = OPENED + timedelta(hours=2)


def ticket(status: str, at: datetime, **fields) -> Ticket:
    """The case as the agent leaves it: the escalation request's items and the resolution path filled in."""
    connector = fields.get("connector", "zendesk")
    base = dict(connector=connector, ticket_id="7", status=status, priority="normal", opened_at=OPENED,
                updated_at=at, reason_code="site_not_ready", assignee_id="3004", subject="Gate code",
                custom_fields=agent_fields(RULES, connector, "7"))
    return Ticket(**{**base, **fields})


def solved(rules=RULES, **fields):
    """The decision on the agent's solve, after the decision on the case's opening."""
    first = decide(ticket("open", OPENED, **fields), rules, OPENED)
    return decide(ticket("solved", SOLVED_AT, **fields), rules, SOLVED_AT, first.memory)


def kinds(decision):
    return [e.kind for e in decision.timeline]


def test_a_solve_asks_the_customer_once_and_waits_tagged_until_the_quiet_period_ends():
    d = solved()
    (ask,) = [a for a in d.actions if a.kind == ActionKind.PUBLIC_REPLY]
    assert ask.text == ("We believe your request #7 is resolved. Is everything working again? Reply \"yes\" and we "
                        "will close it, or tell us what is still wrong and we will pick it up again. If we do not "
                        "hear from you, we will close it on Thu 5 Mar at 12:00 EST.")
    assert CFG.tag in d.tags_add and kinds(d) == [TimelineKind.RESOLUTION_ASKED]
    assert d.next_action_at == SOLVED_AT + timedelta(hours=72), "the sweeper looks again when it may close"
    again = decide(ticket("solved", SOLVED_AT), RULES, SOLVED_AT + timedelta(hours=1), d.memory)
    assert not again.actions and not again.timeline and again.next_action_at == d.next_action_at


def test_yes_closes_the_case_with_the_follow_up_and_no_reopens_it_for_its_owner():
    d = solved()
    later = SOLVED_AT + timedelta(hours=5)
    # Jira: the reply leaves the issue resolved.
    yes = decide(ticket("solved", later), RULES, later, d.memory, customer_message_at=later,
                 customer_message_text="Yes it works now, thank you!")
    assert [a.kind for a in yes.actions] == [ActionKind.NOTE, ActionKind.CLOSE]
    assert yes.actions[1].text.startswith("Thank you for confirming: your request #7 is now closed.")
    assert kinds(yes) == [TimelineKind.RESOLUTION_CONFIRMED, TimelineKind.CLOSED] and CFG.tag in yes.tags_remove
    assert yes.status is None, "the close is the action's, with its follow-up"
    assert yes.memory.last_status == "closed" and yes.memory.confirmation.outcome == ConfirmationOutcome.CONFIRMED
    # Zendesk: the requester's reply has reopened the ticket and unassigned nobody; slaclock gives it back.
    no = decide(ticket("open", later, assignee_id=None), RULES, later, d.memory, customer_message_at=later,
                customer_message_text="Sorry, the gate still does not open.")
    assert no.status == "open" and no.assignee_id == "3004" and kinds(no) == [TimelineKind.REOPENED]
    assert [(a.kind, a.text) for a in no.actions] == [
        (ActionKind.NOTE, "The customer says the problem is not fixed: reopened for the case owner."),
        (ActionKind.PUBLIC_REPLY, "Thank you for telling us. We have reopened your request #7 and will look into it "
                                  "again.")]
    assert no.memory.last_status == "open" and no.deadlines["resolution"].stopped_at is None, "the clock resumes"


def test_a_case_slaclock_closes_stands_closed_so_the_customers_next_event_puts_nothing_back():
    customer, later = "30111564", SOLVED_AT + timedelta(hours=5)
    yes = decide(ticket("open", later), RULES, later, solved().memory, customer_message_at=later,
                 customer_message_text="Yes it works now", actor_id=customer)
    assert yes.memory.held.status == "closed", "slaclock's close is the status it consents to"
    rated = decide(ticket("closed", later + timedelta(minutes=1)), RULES, later + timedelta(minutes=1), yes.memory,
                   actor_id=customer)  # e.g. the customer's satisfaction rating on the closed ticket
    assert TimelineKind.UNDONE not in kinds(rated) and rated.status is None and not rated.actions


def test_a_reopen_goes_back_to_the_escalation_owner_and_a_new_solve_asks_again():
    first = decide(ticket("open", OPENED, tags=frozenset({RULES.escalation.tag})), RULES, OPENED)
    sam = RULES.people["sam"].zendesk
    assert first.assignee_id == sam
    d = decide(ticket("solved", SOLVED_AT, assignee_id="3110"), RULES, SOLVED_AT, first.memory)
    later = SOLVED_AT + timedelta(hours=1)
    no = decide(ticket("solved", later, assignee_id="3110"), RULES, later, d.memory, customer_message_at=later,
                customer_message_text="nope")
    assert no.status == "open" and no.assignee_id == sam
    resolved_again = later + timedelta(hours=3)
    again = decide(ticket("solved", resolved_again), RULES, resolved_again, no.memory)
    assert [a.key for a in again.actions if a.kind == ActionKind.PUBLIC_REPLY] == [
        f"confirmation:ask:{resolved_again.isoformat()}"]


def test_a_customer_message_from_before_the_solve_answers_nothing():
    d = solved()
    later = SOLVED_AT + timedelta(minutes=5)
    early = decide(ticket("solved", later), RULES, later, d.memory, customer_message_at=SOLVED_AT - timedelta(minutes=1),
                   customer_message_text="yes")
    assert not early.actions and early.memory.confirmation.waiting


def test_silence_closes_the_case_after_the_quiet_period_and_the_case_stays_closed():
    d = solved()
    due = d.next_action_at
    quiet = decide(ticket("solved", SOLVED_AT), RULES, due, d.memory)
    close = [a for a in quiet.actions if a.kind == ActionKind.CLOSE]
    assert [a.text for a in close] == ["We have not heard back from you, so we have closed your request #7. If the "
                                       "problem comes back, reply to this message and we will look into it again."]
    assert kinds(quiet) == [TimelineKind.CLOSED] and quiet.memory.confirmation.outcome == ConfirmationOutcome.QUIET
    after = decide(ticket("closed", due + timedelta(minutes=1)), RULES, due + timedelta(minutes=2), quiet.memory)
    assert not after.actions and after.next_action_at is None


def test_without_the_table_or_switched_off_a_solve_stays_solved():
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    off = parse_rules(text.replace("enabled = true                     #", "enabled = false  #"))
    assert off.confirmation is not None and not off.confirmation.enabled
    absent = parse_rules(text[:text.index("[confirmation]")] + text[text.index("# Alerts outside the helpdesk (issue"):])
    for rules in (off, absent):
        d = solved(rules)
        assert not d.actions and not d.tags_add and d.memory.confirmation is None


@pytest.mark.parametrize("reply,fixed", [
    ("Yes", True), ("yes!", True), ("Fixed, thanks.", True), ("All good now", True), ("Thank you so much", True),
    ("It works", True), ("No", False), ("not fixed", False), ("Still broken", False), ("It doesn’t work", False),
    ("Yes, but it is still slow", False), ("Running again, thanks", True), ("Can you call me?", False), ("", False),
    (None, False), ("yesterday it was fine", False), ("Unresolved", False),
])
def test_the_recognition_is_whole_words_and_no_wins(reply, fixed):
    assert says_fixed(reply, CFG) is fixed


# What a customer must never read: internal keys, tags, our own jargon.
INTERNAL = re.compile(r"slaclock|zendesk:|jira:|quiet period|SLA|\btag\b|outbox", re.IGNORECASE)


@pytest.mark.parametrize("helpdesk,outcome", itertools.product(("zendesk", "jira"), ("ask", "yes", "no", "quiet")))
def test_every_confirmation_message_reads_right(helpdesk, outcome):
    ticket_id = "42" if helpdesk == "zendesk" else "SD-42"
    fields = dict(connector=helpdesk, ticket_id=ticket_id)
    d = solved(**fields)
    if outcome != "ask":
        later = d.next_action_at if outcome == "quiet" else SOLVED_AT + timedelta(hours=1)
        d = decide(ticket("solved", later, **fields), RULES, later, d.memory,
                   customer_message_at=later if outcome in ("yes", "no") else None,
                   customer_message_text="yes" if outcome == "yes" else "still broken")
    (text,) = [a.text for a in d.actions if a.kind in (ActionKind.PUBLIC_REPLY, ActionKind.CLOSE)]
    reference = "#42" if helpdesk == "zendesk" else "SD-42"
    assert re.search(f"your request {reference}[ .]", text) and "{" not in text and text.endswith(".")
    assert not INTERNAL.search(text), text
    assert all(s[:1].isupper() for s in re.split(r"(?<=[.!?])\s+", text)), text
    assert not re.search(r"\b(\w+) \1\b", text, re.IGNORECASE), text
    zones = set(re.findall(r"\b(E[SD]T|UTC|GMT)\b", text))
    assert len(zones) <= 1, "one time zone"


def test_the_table_is_validated():
    for bad, expected in ((' quiet_period = "0h"', "rules.toml: confirmation.quiet_period: got \"0h\""),
                          (' templates = { ask = "closes {when}" }', "rules.toml: confirmation.templates.ask: got placeholder {when}"),
                          (' colour = "red"', "rules.toml: confirmation.colour: unknown key")):
        with pytest.raises(RulesError) as caught:
            parse_rules(f"[teams.support]\n[confirmation]\n{bad.strip()}\n")
        assert any(e.startswith(expected) for e in caught.value.errors), caught.value.errors
    assert Confirmation(yes_words=[" Sure "]).yes_words == ["sure"]
    assert set(ConfirmationTemplates.model_fields) == {"ask", "closed_confirmed", "reopened", "closed_quiet"}


@pytest.mark.parametrize("name", ["zendesk", "jira"])
def test_the_sweeper_closes_a_quiet_case_once_through_the_outbox(store, name):
    fake, clock = FakeConnector(), Clock(OPENED)
    fake.name = name
    connectors = {name: fake}
    processor, deliverer, sweeper = Processor(store, connectors, RULES, clock), Deliverer(store, connectors, clock), \
        Sweeper(store, clock)

    def drain():
        while processor.run_once() + deliverer.run_once():
            pass
    fake.add("7", status="open", reason_code="site_not_ready", opened_at=OPENED, updated_at=OPENED)
    store.add_delivery(connector=name, delivery_key="c", event_type="ticket.created", ticket_id="7",
                       actor_id="500", headers={}, body=b"{}", received_at=OPENED)
    drain()
    clock.advance(hours=2)
    fake.change("7", status="solved", updated_at=clock.at, custom_fields=agent_fields(RULES, name, "7"))
    # A support lead records the resolution path and solves it (roles.enforce: plain support may not).
    store.add_delivery(connector=name, delivery_key="s", event_type="ticket.status_changed", ticket_id="7",
                       actor_id=getattr(RULES.people["sam"], name), headers={}, body=b"{}", received_at=clock.at)
    drain()
    assert len(fake.public_replies) == 1 and CFG.tag in fake.tickets["7"].tags
    clock.advance(hours=71, minutes=59)
    assert sweeper.run_once() == 0, "nothing due before the quiet period ends"
    clock.advance(minutes=1)
    assert sweeper.run_once() == 1
    drain()
    assert [text[:31] for _, text, _ in fake.closed] == ["We have not heard back from you"]
    assert fake.tickets["7"].status == "closed" and CFG.tag not in fake.tickets["7"].tags
    clock.advance(hours=1)
    sweeper.run_once()
    drain()
    assert len(fake.closed) == 1 and len(fake.public_replies) == 1, "each message once"
