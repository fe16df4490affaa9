"""`Rules`: the whole rules file, one validated model over the sections."""
from __future__ import annotations

from typing import Callable, Hashable, TypeVar
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr

from rules.calendar import ALWAYS_OPEN, WorkCalendar
from rules.schema.escalation import AccountManagers, Escalation, Ladder, Milestones, Person, Rota
from rules.schema.forecast import Ola, Predictive
from rules.schema.guards import Bouncing, ResolutionPath
from rules.schema.lifecycle import Confirmation, PostIncident
from rules.schema.people import Alerts, CustomerUpdates, Recurring, Roles, Trigger, VendorLoop
from rules.schema.sla import CalendarSpec, Connectors, Routing, Sla, TargetsByPriority, Team, Tier
from rules.schema.values import BUILTIN_CALENDAR, Strict, field_id

T = TypeVar("T")


class Rules(Strict):
    """The whole rules file, validated; calendars are built on first use and cached."""

    version: str = Field("unversioned", description="a text naming this version of the rules")
    sla: Sla = Sla()
    calendars: dict[str, CalendarSpec] = Field({}, description="a table per calendar name")
    tiers: dict[str, Tier] = Field({}, description="a table per tier name")
    routing: Routing = Routing()
    teams: dict[str, Team] = Field({}, description="a table per team name")
    escalation: Escalation = Escalation()
    people: dict[str, Person] = Field({}, description="a table per person name")
    rotas: dict[str, Rota] = Field({}, description="a table per rota name")
    ladders: dict[str, Ladder] = Field({}, description="a table per ladder name")
    milestones: Milestones = Milestones()
    account_managers: AccountManagers = AccountManagers()
    connectors: Connectors = Connectors()
    vendor: VendorLoop = VendorLoop()
    customer_updates: CustomerUpdates | None = Field(None, description="a table: proactive customer messages "
                                                                       "(absent: none)")
    triggers: dict[str, Trigger] = Field({}, description="a table per trigger name")
    roles: Roles = Roles()
    recurring: Recurring | None = Field(None, description="a table: recurring-issue clusters (absent: none)")
    alerts: Alerts | None = Field(None, description="a table: alerts outside the helpdesk (absent: none)")
    confirmation: Confirmation | None = Field(None, description="a table: the customer confirms a solve before it "
                                                                "closes (absent: solved stays solved)")
    bouncing: Bouncing | None = Field(None, description="a table: escalate a case that bounces between teams "
                                                        "(absent: none)")
    resolution_path: ResolutionPath | None = Field(None, description="a table: what a solve must record (absent: "
                                                                     "nothing)")
    post_incident: PostIncident | None = Field(None, description="a table: a post-incident task for the escalation "
                                                                 "owner of a solved escalated case (absent: none)")

    ola: Ola | None = Field(None, description="a table: time budgets per ladder level or vendor (absent: none)")
    predictive: Predictive | None = Field(None, description="a table: escalate on a forecast finish past the deadline "
                                                            "(absent: none)")

    _built: dict[str, WorkCalendar] = PrivateAttr(default_factory=dict)
    _once: dict[Hashable, object] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # Equal rules are equal whether or not their calendars have been built (the cache).
        return isinstance(other, Rules) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # dict fields: not hashable

    def __copy__(self) -> "Rules":
        copied = super().__copy__()
        # `model_copy(update=...)` starts from a shallow copy: its calendars and tables are built afresh.
        object.__setattr__(copied, "__pydantic_private__", {"_built": {}, "_once": {}})
        return copied

    def once(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()` the first time `key` is asked of these rules, then that value again: the rules never change
        once loaded, and a decision would otherwise redo this per-rules work (tables, snapshots) every time."""
        # The private dict itself: pydantic's `__getattr__` for a private attribute costs a microsecond.
        cache = self.__pydantic_private__["_once"]
        if key in cache:
            return cache[key]  # type: ignore[return-value]
        value = cache[key] = build()
        return value

    def team_title(self, key: str) -> str:
        """A team as notes and messages name it: its `title`, else its key in words (tech_leads → Tech leads)."""
        spec = self.teams.get(key)
        return (spec.title if spec is not None and spec.title else None) or key.replace("_", " ").capitalize()

    def note_zone(self, team: str | None) -> ZoneInfo:
        """The one time zone of a ticket's internal notes: its team's calendar, else the default calendar's."""
        return self.once(("note_zone", team), lambda: self._note_zone(team))

    def _note_zone(self, team: str | None) -> ZoneInfo:
        spec = self.teams.get(team) if team else None
        name = (spec.calendar if spec is not None else None) or self.sla.default_calendar
        return self.calendar(name).tz if name in self.calendars or name == BUILTIN_CALENDAR else ZoneInfo("UTC")

    def field_ids(self, connector: str) -> tuple[str, ...]:
        """Every helpdesk custom field the rules read in one helpdesk (so its connector fetches them)."""
        refs = [self.vendor.eta_field, self.vendor.capacity_field,
                *(t.promised_field for t in self.triggers.values()),
                self.customer_updates.timezone_field if self.customer_updates else None,
                self.recurring.product_field if self.recurring else None,
                self.recurring.order_field if self.recurring else None,
                self.post_incident.root_cause_field if self.post_incident else None,
                self.resolution_path.field if self.resolution_path else None,
                *(self.escalation.request.fields.values() if self.escalation.request else ())]
        ids = [field_id(ref, connector) for ref in refs] + [self.sla.tier_field]
        return tuple(dict.fromkeys(i for i in ids if i))

    def calendar(self, name: str) -> WorkCalendar:
        """The runtime calendar called `name` (built once per Rules, then cached)."""
        built = self.__pydantic_private__["_built"].get(name)  # as in `once`
        if built is None:
            spec = self.calendars.get(name)
            if spec is None:
                if name != BUILTIN_CALENDAR:
                    raise KeyError(f"no calendar {name!r}")
                built = ALWAYS_OPEN
            else:
                built = spec.build(name)
            self._built[name] = built
        return built

    def calendar_in(self, name: str, timezone: str | None) -> WorkCalendar:
        """The calendar called `name`, its hours read in another zone (a customer's); cached too."""
        base = self.calendar(name)
        if not timezone or timezone == base.timezone_name:
            return base
        key = f"{name}@{timezone}"
        built = self._built.get(key)
        if built is None:
            spec = self.calendars.get(name)
            built = (spec.model_copy(update={"timezone": timezone}).build(name) if spec is not None
                     else WorkCalendar(name, timezone, always_open=True))
            self._built[key] = built
        return built

    def targets(self) -> TargetsByPriority:
        """The base targets per priority (v1 `resolution_hours` when the file uses it)."""
        return self.sla.resolution_targets_v1() or self.sla.targets

    def ladder_of(self, team: str | None) -> str | None:
        """The ladder a team's cases climb (`teams.<t>.ladder`, else `escalation.ladder`)."""
        spec = self.teams.get(team) if team else None
        return (spec.ladder if spec is not None and spec.ladder else None) or self.escalation.ladder

    def pause_statuses(self, metric: str) -> frozenset[str]:
        """The statuses that pause one metric."""
        return self.once(("pause_statuses", metric), lambda: self._pause_statuses(metric))

    def _pause_statuses(self, metric: str) -> frozenset[str]:
        own = getattr(self.sla.metrics, metric).pause_statuses
        return frozenset(self.sla.pause_statuses if own is None else own)
