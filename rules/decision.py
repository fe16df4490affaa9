"""What the rules engine answers: a `Decision`, and the `Reason`s behind it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass(frozen=True)
class Reason:
    """One rule that shaped the decision: its key path in the rules file and a sentence."""

    rule: str
    text: str
    field: str  # which decision field it sets: priority, team, due_at, tags


@dataclass(frozen=True)
class CaseMemory:
    """What slaclock remembers about a ticket between decisions (kept in the store)."""

    routed_reason_code: str | None = None
    routed: bool = False


@dataclass(frozen=True)
class Decision:
    """The state the rules want the ticket in, with the reasons and inputs that led there."""

    priority: str
    team: str | None
    group_id: str | None
    assignee_id: str | None
    due_at: datetime
    tags_add: frozenset[str] = frozenset()
    tags_remove: frozenset[str] = frozenset()
    escalated: bool = False
    reasons: tuple[Reason, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    rules_version: str = ""
    memory: CaseMemory = CaseMemory()

    def reasons_for(self, field_name: str) -> list[Reason]:
        """The reasons that set one decision field."""
        return [r for r in self.reasons if r.field == field_name]
