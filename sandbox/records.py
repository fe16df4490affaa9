"""What both helpdesks' stores share: the clock, a change and a write as listeners see them, and the lock and
listeners of a store."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Generic, TypeVar

RecordT = TypeVar("RecordT")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Change:
    """One changed attribute, in the helpdesk's own words: Zendesk's priority, status, group, assignee, tags,
    custom_field (with `field_id`) or comment; Jira's field id, or comment. Values as stored."""

    field: str
    previous: Any = None
    current: Any = None
    field_id: int | None = None


@dataclass(frozen=True)
class Mutation(Generic[RecordT]):
    """What one write did: the record (ticket or issue) after it, who wrote, the id of its audit (Zendesk) or
    changelog (Jira) entry (0: none), whether it created the record, and each changed attribute."""

    record: RecordT
    actor_id: Any
    audit_id: int
    created: bool
    changes: tuple[Change, ...]

    @property
    def comment(self) -> Any:
        """The comment this write added, or None."""
        return next((change.current for change in self.changes if change.field == "comment"), None)

    @property
    def field_changes(self) -> tuple[Change, ...]:
        """The changes other than an added comment."""
        return tuple(change for change in self.changes if change.field != "comment")


class Store(Generic[RecordT]):
    """Records under one lock; listeners see every Mutation, in order, while the lock is held."""

    def __init__(self, clock: Callable[[], datetime]):
        self._lock = threading.RLock()
        self._clock = clock
        self._listeners: list[Callable[[Mutation[RecordT]], None]] = []

    def reset(self) -> None:
        """Forget every record."""
        raise NotImplementedError

    def subscribe(self, listener: Callable[[Mutation[RecordT]], None]) -> None:
        self._listeners.append(listener)

    def _publish(self, mutation: Mutation[RecordT]) -> Mutation[RecordT]:
        for listener in self._listeners:
            listener(mutation)
        return mutation
