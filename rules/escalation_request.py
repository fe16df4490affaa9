"""What an escalation request must carry (seed 003: "order identifiers, timestamps, impact, steps already
tried, and any logs, photos"; "escalation is not a first step").

An agent asks for an escalation with the tag. When any field of `escalation.request.fields` is
empty the request waits: the tag is removed, an internal note names what is missing, and the
request is remembered (`CaseMemory.escalation_requested_at`). The decision that finds them all
filled in escalates as the tag would have. Triggers, thresholds and the vendor loop are not
requests: they escalate at once whatever the fields hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rules import wording
from rules.decision import Action, ActionKind, CaseMemory, Reason, TimelineEvent, TimelineKind
from rules.effects import Effects
from rules.facts import TicketFacts
from rules.frozen import quick_init
from rules.schema import Rules, field_value


@quick_init
@dataclass(frozen=True)
class Review:
    """What became of an escalation request: `waits` (items are missing: no climb now), `resumes` (an earlier
    request is complete now: climb), the request still pending after this decision, and the effects."""

    waits: bool = False
    resumes: bool = False
    pending_since: datetime | None = None
    effects: Effects = Effects()


def missing_items(ticket: TicketFacts, rules: Rules) -> list[str]:
    """The configured items of an escalation request that the ticket leaves empty, in file order."""
    cfg = rules.escalation.request
    if cfg is None or not cfg.enabled:
        return []
    return [name for name, ref in cfg.fields.items() if field_value(ticket, ref) in (None, "", [], {})]


def review(ticket: TicketFacts, rules: Rules, memory: CaseMemory, asked: bool, stamp: str,
           at: datetime) -> Review:
    """Review the request the tag makes now (`asked`, named by `stamp`), or the one that waits."""
    pending = memory.escalation_requested_at
    if not asked and pending is None:
        return Review()
    missing = missing_items(ticket, rules)
    if asked and missing:
        key = f"request:{stamp}"
        text = wording.request_incomplete(missing)
        return Review(waits=True, pending_since=pending or at, effects=Effects(
            actions=(Action(key, ActionKind.NOTE, text=text),),
            timeline=(TimelineEvent(TimelineKind.ESCALATION_WAITING, at, key, threshold="manual", text=text),),
            reasons=(Reason("escalation.request.fields", text, "escalation"),)))
    if asked:
        return Review()
    if missing:
        return Review(pending_since=pending, effects=Effects(reasons=(Reason(
            "escalation.request.fields", wording.request_still_waits(missing), "escalation"),)))
    return Review(resumes=True, effects=Effects(reasons=(Reason(
        "escalation.request.fields", wording.request_complete(pending), "escalation"),)))
