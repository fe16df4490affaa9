"""Resolve only when confirmed (seed 001: "closed only upon confirmed resolution and system-sent follow-up";
seed 003 step 7: "verify with the customer").

When an agent solves a case, the customer is asked to confirm (a public reply) and the case waits, solved and
tagged, for their answer. Their next public message decides: one that says it is not fixed reopens the case for
its owner; one that says yes closes it. Silence closes it after the quiet period. The case closes with a public
follow-up, in the same write (a closed Zendesk ticket takes no more updates).

The recognition is deliberately simple: the reply is lowercased and searched for whole words or phrases.
Any of `no_words` ("not", "still", ...) means not fixed, whatever else it says; otherwise any of `yes_words`
("yes", "fixed", "thanks", ...) confirms; a reply with neither reopens the case (the customer has more to say).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rules import wording
from rules.calendar import utc_instant
from rules.decision import (Action, ActionKind, CaseMemory, ConfirmationOutcome, ConfirmationState, Reason,
                            TimelineEvent, TimelineKind)
from rules.effects import Effects
from rules.facts import TicketFacts
from rules.frozen import quick_init
from rules.schema.lifecycle import Confirmation

# After a reopen, look again this soon: the resumed clock's thresholds are worked out on the next look.
LOOK_AGAIN = timedelta(minutes=1)


def _phrase(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w'])" + re.escape(phrase) + r"(?![\w'])")


def says_fixed(text: str | None, cfg: Confirmation) -> bool:
    """True when a customer's reply confirms the solve (see the module docstring)."""
    folded = (text or "").lower().replace("\u2019", "'")
    if any(_phrase(w).search(folded) for w in cfg.no_words):
        return False
    return any(_phrase(w).search(folded) for w in cfg.yes_words)


@quick_init
@dataclass(frozen=True)
class Answer:
    """What the confirmation loop does in one decision."""

    effects: Effects = Effects()
    state: ConfirmationState | None = None
    status: str | None = None  # "open" on a reopen
    closing: bool = False  # the `close` action closes the case now
    assignee_id: str | None = None  # the owner, on a reopen
    tags_add: frozenset[str] = frozenset()
    tags_remove: frozenset[str] = frozenset()


def _solved_since(memory: CaseMemory) -> datetime | None:
    """When the case entered its current status, if that is solved."""
    last = memory.statuses[-1] if memory.statuses else None
    return last.at if last is not None and last.status == "solved" else None


def _values(ticket: TicketFacts, close_at: datetime, zone: ZoneInfo, now: datetime,
            cfg: Confirmation) -> dict[str, str | None]:
    return {"reference": f"#{ticket.ticket_id}" if ticket.connector == "zendesk" else str(ticket.ticket_id),
            "close_at": wording.customer_time(close_at, zone, now),
            "quiet_period": wording.format_duration(cfg.quiet_period), "subject": ticket.subject or "",
            "ticket": ticket.key, "ticket_id": str(ticket.ticket_id)}


def confirm(ticket: TicketFacts, cfg: Confirmation, memory: CaseMemory, now: datetime, zone: ZoneInfo,
            owner_id: str | None, message_at: datetime | None, message_text: str | None) -> Answer:
    """Ask on a new solve, then act on the customer's answer or on the quiet period's end.

    `memory`: the memory with the statuses seen now; `zone`: the customer's time zone; `owner_id`: who gets a
    reopened case (the escalation owner, else the assignee who solved it); `message_at` / `message_text`: a
    public customer message this event reports.
    """
    state, solved_at = memory.confirmation, _solved_since(memory)
    if solved_at is not None and (state is None or solved_at > state.solved_at):
        return _ask(ticket, cfg, solved_at, now, zone)
    if state is None or not state.waiting:
        return Answer(state=state)
    message = utc_instant(message_at) if message_at is not None else None
    if message is not None and message > state.solved_at:
        if says_fixed(message_text, cfg):
            return _close(ticket, cfg, state, ConfirmationOutcome.CONFIRMED, message, now, zone)
        return _reopen(ticket, cfg, state, message, owner_id or state.owner_id, now, zone)
    if solved_at is not None and now >= state.close_at:
        return _close(ticket, cfg, state, ConfirmationOutcome.QUIET, state.close_at, now, zone)
    # Still waiting (or reopened by an agent meanwhile: a later customer answer still counts, a new solve asks anew).
    return Answer(Effects(next_at=state.close_at, next_what=wording.NEXT_CLOSE) if solved_at is not None else Effects(),
                  state=state)


def _ask(ticket: TicketFacts, cfg: Confirmation, solved_at: datetime, now: datetime, zone: ZoneInfo) -> Answer:
    close_at = solved_at + cfg.quiet_period
    state = ConfirmationState(solved_at=solved_at, close_at=close_at, owner_id=ticket.assignee_id)
    key = f"confirmation:ask:{solved_at.isoformat()}"
    text = wording.fill_message(cfg.templates.ask, _values(ticket, close_at, zone, now, cfg))
    actions = (Action(key, ActionKind.PUBLIC_REPLY, text=text),) if text else ()
    event = TimelineEvent(TimelineKind.RESOLUTION_ASKED, solved_at, key,
                          text=wording.confirmation_asked(close_at, zone, now))
    reason = Reason("confirmation", wording.confirmation_waits(cfg.tag, close_at, zone, now), "status")
    return Answer(Effects(actions=actions, timeline=(event,), reasons=(reason,), next_at=close_at,
                          next_what=wording.NEXT_CLOSE), state=state, tags_add=frozenset({cfg.tag}))


def _close(ticket: TicketFacts, cfg: Confirmation, state: ConfirmationState, outcome: ConfirmationOutcome,
           at: datetime, now: datetime, zone: ZoneInfo) -> Answer:
    template = cfg.templates.closed_confirmed if outcome == ConfirmationOutcome.CONFIRMED else cfg.templates.closed_quiet
    stamp = state.solved_at.isoformat()
    key, closed = f"confirmation:close:{stamp}", wording.confirmation_closed(outcome.value)
    follow_up = wording.fill_message(template, _values(ticket, state.close_at, zone, now, cfg))
    timeline = [TimelineEvent(TimelineKind.CLOSED, at, key, threshold=outcome.value, text=closed)]
    if outcome == ConfirmationOutcome.CONFIRMED:
        timeline.insert(0, TimelineEvent(TimelineKind.RESOLUTION_CONFIRMED, at, f"confirmation:yes:{stamp}",
                                         text=wording.CUSTOMER_CONFIRMED))
    # The note first (the case's own update), then the close, which carries the follow-up to the customer.
    actions = (Action(f"{key}:note", ActionKind.NOTE, text=closed), Action(key, ActionKind.CLOSE, text=follow_up))
    return Answer(Effects(actions=actions, timeline=tuple(timeline), reasons=(Reason("confirmation", closed, "status"),)),
                  state=replace(state, outcome=outcome, outcome_at=at), closing=True,
                  tags_remove=frozenset({cfg.tag}))


def _reopen(ticket: TicketFacts, cfg: Confirmation, state: ConfirmationState, at: datetime, owner_id: str | None,
            now: datetime, zone: ZoneInfo) -> Answer:
    key = f"confirmation:reopen:{state.solved_at.isoformat()}"
    note = Action(key, ActionKind.NOTE, text=wording.CUSTOMER_NOT_FIXED)
    told = wording.fill_message(cfg.templates.reopened, _values(ticket, state.close_at, zone, now, cfg))
    actions = (note, Action(f"{key}:customer", ActionKind.PUBLIC_REPLY, text=told)) if told else (note,)
    event = TimelineEvent(TimelineKind.REOPENED, at, key, text=wording.CUSTOMER_NOT_FIXED)
    reason = Reason("confirmation", wording.CUSTOMER_NOT_FIXED, "status")
    return Answer(Effects(actions=actions, timeline=(event,), reasons=(reason,), next_at=now + LOOK_AGAIN,
                          next_what=wording.NEXT_AFTER_REOPEN),
                  state=replace(state, outcome=ConfirmationOutcome.REOPENED, outcome_at=at), status="open",
                  assignee_id=owner_id, tags_remove=frozenset({cfg.tag}))
