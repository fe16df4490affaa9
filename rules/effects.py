"""`Effects`: what one step of a decision adds to it, in the one shape every step folds into."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from rules.decision import Action, Reason, TimelineEvent
from rules.frozen import quick_init


@quick_init
@dataclass(frozen=True)
class Effects:
    """Actions to take, timeline events, reasons, keys fired once (new ones), and when to look again (`next_at`)
    for what (`next_what`, a few words: `customer update`)."""

    actions: tuple[Action, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()
    reasons: tuple[Reason, ...] = ()
    fired: tuple[str, ...] = ()
    next_at: datetime | None = None
    next_what: str = ""

    def add(self, *, actions: Iterable[Action] = (), timeline: Iterable[TimelineEvent] = (),
            reasons: Iterable[Reason] = (), fired: Iterable[str] = (), next_at: datetime | None = None,
            next_what: str = "") -> Effects:
        """These effects with more of each (a fired key once; the earlier next look, with its words)."""
        new_keys = tuple(k for k in dict.fromkeys(fired) if k not in self.fired) if fired else ()
        later = next_at is None or (self.next_at is not None and self.next_at <= next_at)
        return Effects(self.actions + tuple(actions) if actions else self.actions,
                       self.timeline + tuple(timeline) if timeline else self.timeline,
                       self.reasons + tuple(reasons) if reasons else self.reasons,
                       self.fired + new_keys if new_keys else self.fired,
                       self.next_at if later else next_at, self.next_what if later else next_what)

    def __add__(self, other: Effects) -> Effects:
        if not (other.actions or other.timeline or other.reasons or other.fired or other.next_at):
            return self  # most steps add nothing to most sections
        if not (self.actions or self.timeline or self.reasons or self.fired or self.next_at) and (
                len(set(other.fired)) == len(other.fired)):
            return other  # nothing to add to
        return self.add(actions=other.actions, timeline=other.timeline, reasons=other.reasons, fired=other.fired,
                        next_at=other.next_at, next_what=other.next_what)
