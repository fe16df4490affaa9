"""The jobs' vocabularies: the writes they queue, the checks they queue, what they record on the timeline.

The values are what the store holds; the rules' own timeline and action kinds live in `rules`.
"""
from __future__ import annotations

from enum import StrEnum


class OutboxKind(StrEnum):
    """What an outbox row asks the helpdesk to do."""

    TICKET_UPDATE = "ticket_update"
    FOLLOW_UP = "follow_up"  # a linked ticket (a vendor or internal hand-off)
    PROBLEM = "problem"  # a recurring-issue cluster's problem ticket
    PUBLIC_REPLY = "public_reply"
    CLOSE = "close"  # close the case for good, with the public follow-up (the confirmation loop)
    # A message outside the helpdesk (Slack, e-mail, webhook). Its row's connector is `alert:<channel>` and
    # its ticket id `<helpdesk>:<ticket id>:<person>`: it never holds up the ticket's own writes or decisions.
    ALERT = "alert"


class CheckKind(StrEnum):
    """Inbox rows no helpdesk user stands behind: each asks for a fresh read-and-decide."""

    RECHECK = "slaclock.recheck"  # our write met a 409
    VENDOR_ETA = "slaclock.vendor_eta"  # POST /vendor/eta
    SWEEP = "slaclock.sweep"  # a time-driven action is due
    RECONCILE = "slaclock.reconcile"  # the change feed shows a version no webhook brought
    CLUSTER = "slaclock.cluster"  # the ticket joined a cluster whose problem ticket exists


class JobEvent(StrEnum):
    """Timeline kinds the processor and deliverer record."""

    DECISION = "decision"
    NO_CHANGE = "no_change"
    READ_FAILED = "read_failed"
    WRITTEN = "written"
    FOLLOW_UP = "follow_up"
    CONFLICT = "conflict"
    WRITE_FAILED = "write_failed"
    STEP_FAILED = "step_failed"  # one call of a write was refused; the rest of the write went on
    ALERTED = "alerted"  # an alert went out (Slack, e-mail, webhook)
    ALERT_HELD = "alert_held"  # the recipient's quiet hours hold an alert until their calendar opens
    ALERT_SUPERSEDED = "alert_superseded"  # not sent: the ticket was solved, or an agent acted, since it was queued


ALERT_CONNECTOR = "alert:"  # the prefix of an ALERT row's connector: alert:<channel name>


_CHECKS = frozenset(CheckKind)


# Prefixes an event type carries that say only where it came from.
_SOURCES = ("zen:event-type:", "jira:", "slaclock.")


def event_name(event_type: str) -> str:
    """An event type in words: `zen:event-type:ticket.created` → `ticket created`, `slaclock.sweep` → `sweep`."""
    for source in _SOURCES:
        event_type = event_type.removeprefix(source)
    return event_type.replace(".", " ").replace("_", " ")


def is_check(event_type: str) -> bool:
    """True for a check slaclock queued (or took from a vendor), not a helpdesk webhook."""
    return event_type in _CHECKS
