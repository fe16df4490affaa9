"""One walker for the rules tests: a ticket replayed through `decide` as the processor replays it.

Between decisions the memory is stored as JSON text (as the store keeps it), every decision passes
`checked`, and the same decision made again from the stored memory adds nothing (a duplicate event,
a second sweeper pass, a restart).
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from connectors.model import Ticket
from rules import CaseMemory, decide
from tests.fakes import checked, written


class Replay:
    """A ticket in `zone` opened at the wall time `opened`; `step` decides it again at a later wall time."""

    defaults = {"status": "new", "priority": "normal"}
    helpdesk_writes = True  # the helpdesk takes each decision's write (priority, group, tags) before the next event

    def __init__(self, zone, rules, opened, ticket_id="42", **fields):
        self.tz, self.rules = ZoneInfo(zone), rules
        self.ticket = Ticket(connector="zendesk", ticket_id=ticket_id, opened_at=self.at(opened),
                             **{**self.defaults, **fields})
        self.stored = None  # the memory as the store keeps it: JSON text
        self.decision = None
        self.timeline, self.actions = [], []

    @property
    def memory(self) -> CaseMemory | None:
        return self.decision.memory if self.decision else None

    def at(self, wall):
        return datetime.fromisoformat(wall).replace(tzinfo=self.tz).astimezone(UTC)

    def local(self, instant):
        return instant.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if instant else None

    def step(self, wall, reply=False, rules=None, touch=True, vendor=None, cluster=None, actor=None,
             groups=frozenset(), customer=False, **changes):
        """Decide at `wall` (a wall time or an instant); `touch=False` is a sweep with no ticket change;
        `reply` / `customer`: the event is a public agent reply / a customer message made at `wall`."""
        now = self.at(wall) if isinstance(wall, str) else wall
        if touch or changes:
            changes.setdefault("updated_at", now)
            self.ticket = replace(self.ticket, **changes)
        inputs = dict(agent_reply_at=now if reply else None, vendor_update=vendor, cluster=cluster,
                      actor_id=actor, actor_group_ids=frozenset(groups),
                      customer_message_at=now if customer else None)
        rules = rules or self.rules
        d = checked(decide(self.ticket, rules, now, self._remembered(), **inputs), now)
        again = decide(self.ticket, rules, now, CaseMemory.from_json(d.memory.to_json()), **inputs)
        assert again.actions == () and again.timeline == (), (again.actions, again.timeline)
        self.stored = json.dumps(d.memory.to_json())
        self.decision = d
        self.timeline += d.timeline
        self.actions += d.actions
        if self.helpdesk_writes:
            self.ticket = written(self.ticket, d)
        return d

    def _remembered(self):
        return CaseMemory.from_json(json.loads(self.stored)) if self.stored else None

    def sweep(self):
        """The sweeper: decide again exactly at the decision's next_action_at (no ticket change)."""
        return self.step(self.decision.next_action_at, touch=False)

    def next_action(self):
        return self.local(self.decision.next_action_at)

    def replies(self, d=None):
        return [a.text for a in (d.actions if d else self.actions) if a.kind == "public_reply"]
