"""The sections that guard a case's path (issue 15): bouncing between teams, what an escalation request carries,
and what a solve must record (the roles enforced on every change are `roles.enforce`)."""
from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from rules.schema.values import DURATION_HELP, FIELD_HELP, Duration, FieldRef, Strict


class Bouncing(Strict):
    """Seed 003, "so tickets don't bounce": a case reassigned between teams more than `hops` times within `within`
    climbs to the ladder's `level`, once, with the hops listed."""

    enabled: bool = Field(True, description="false: no escalation for bouncing")
    hops: int = Field(3, ge=1, description="a number of reassignments between teams that is still fine")
    within: Duration = Field(timedelta(hours=24), description=f"the window the hops are counted in: {DURATION_HELP} "
                                                              "(wall-clock)")
    level: str = Field("manager", description="a ladder level name to climb to")


class EscalationRequest(Strict):
    """Seed 003, "what information to include when requesting escalation": an agent's request (the escalation tag)
    with any of `fields` empty waits, with a note asking for them, and escalates once they are set. A trigger or
    the SLA still escalates at once."""

    enabled: bool = Field(True, description="false: an escalation request climbs at once, whatever it carries")
    fields: dict[str, FieldRef] = Field({}, description="a table: the item's name as the note says it = "
                                                        + FIELD_HELP)


class ResolutionPath(Strict):
    """Seed 002, "record the resolution path & notes": a solve needs `field` set, else it is reverted with a note
    naming the field."""

    enabled: bool = Field(True, description="false: a case may be solved without it")
    field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the resolution path & notes")
    title: str = Field("Resolution path & notes", description="the field's name as the note says it")
