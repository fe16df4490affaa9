"""The rules file: TOML, validated by pydantic; every error names file, key path and value."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, model_validator

Priority = Literal["low", "normal", "high", "urgent"]
EXAMPLE_RULES = Path(__file__).with_name("rules.example.toml")


class RulesError(ValueError):
    """The rules file is invalid; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResolutionHours(_Strict):
    urgent: PositiveFloat = 4
    high: PositiveFloat = 24
    normal: PositiveFloat = 72
    low: PositiveFloat = 168


class Sla(_Strict):
    resolution_hours: ResolutionHours = ResolutionHours()


class Routing(_Strict):
    default_team: str = "support"
    reason_codes: dict[str, str] = Field(default_factory=dict)


class HelpdeskTarget(_Strict):
    group_id: str | None = None
    assignee_id: str | None = None


class Team(_Strict):
    zendesk: HelpdeskTarget | None = None
    jira: HelpdeskTarget | None = None


class Escalation(_Strict):
    tag: str = "slaclock_escalate"


class ZendeskFields(_Strict):
    reason_field_id: str | None = None
    due_field_id: str | None = None


class Connectors(_Strict):
    zendesk: ZendeskFields = ZendeskFields()


class Rules(_Strict):
    version: str = "unversioned"
    sla: Sla = Sla()
    routing: Routing = Routing()
    teams: dict[str, Team] = Field(default_factory=dict)
    escalation: Escalation = Escalation()
    connectors: Connectors = Connectors()

    @model_validator(mode="after")
    def _teams_exist(self) -> "Rules":
        named = {self.routing.default_team, *self.routing.reason_codes.values()}
        missing = sorted(named - set(self.teams))
        if missing:
            raise ValueError(f"routing names team(s) {', '.join(missing)} with no [teams.<name>] section")
        return self


def _describe(error: dict) -> str:
    path = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{path}: {error['msg']}{shown}"


def parse_rules(text: str, source: str = "rules.toml") -> Rules:
    """Parse and validate rules from TOML text; raise RulesError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RulesError([f"{source}: not valid TOML: {e}"]) from e
    try:
        return Rules.model_validate(data)
    except ValidationError as e:
        raise RulesError([f"{source}: {_describe(err)}" for err in e.errors()]) from e


def load_rules(path: str | Path | None = None) -> Rules:
    """Load the rules file at `path` (default: the example rules shipped with slaclock)."""
    path = Path(path) if path else EXAMPLE_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError([f"{path}: cannot read rules file: {e.strerror}"]) from e
    return parse_rules(text, source=path.name)
