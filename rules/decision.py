"""What the rules engine answers (`Decision`, `Reason`, `Deadline`, `Action`, `TimelineEvent`) and
remembers (`CaseMemory`, `EscalationState`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Mapping

from rules.ladder import LadderSnapshot, LevelSnapshot, PersonRef


class DeadlineState(StrEnum):
    """Where a metric's clock stands; breached: running and past due."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    BREACHED = "breached"


class BasisMode(StrEnum):
    """How a basis change treats the running clock (see `BasisChange`)."""

    START = "start"
    REDERIVE = "rederive"
    CARRY = "carry"


class ActionKind(StrEnum):
    """An internal note line, a linked follow-up ticket, a notification to a person, a public comment."""

    NOTE = "note"
    FOLLOW_UP = "follow_up"
    NOTIFY = "notify"
    PUBLIC_REPLY = "public_reply"


class TimelineKind(StrEnum):
    """What a `TimelineEvent` records."""

    WARNING = "warning"
    ESCALATION = "escalation"
    LEVEL_CHANGE = "level_change"
    BREACH = "breach"
    MILESTONE = "milestone"
    FIRST_RESPONSE_AFTER_ESCALATION = "first_response_after_escalation"
    TRIGGER = "trigger"
    REFUSED = "refused"
    VENDOR_REQUEST = "vendor_request"
    VENDOR_UPDATE = "vendor_update"
    VENDOR_CONFIRMED = "vendor_confirmed"
    VENDOR_RISK = "vendor_risk"
    CUSTOMER_UPDATE = "customer_update"
    CLUSTER_LINK = "cluster_link"


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Reason:
    """One rule that shaped the decision: its key path in the rules file and a sentence."""

    rule: str
    text: str
    field: str  # which decision field it sets: priority, team, due_at, tags, tier, calendar, <metric>


@dataclass(frozen=True)
class Deadline:
    """One metric's clock in one cycle: when it is due, on which calendar, under which rules."""

    metric: str  # first_response | next_update | resolution
    cycle: int  # 1 for the first; a reopening with on_reopen = "new_cycle" starts the next
    state: DeadlineState
    due_at: datetime
    started_at: datetime
    target: timedelta  # working time allowed
    used: timedelta  # working time counted up to `now` (or up to the stop)
    paused: timedelta  # working time the pauses took out of the clock (moved the deadline)
    calendar: str
    rules_version: str
    stopped_at: datetime | None = None
    rule: str = ""  # key path of the target in the rules file

    @property
    def paused_seconds(self) -> float:
        return self.paused.total_seconds()

    @property
    def met(self) -> bool | None:
        """For a stopped clock: stopped by the due time; None while it runs."""
        return None if self.stopped_at is None else self.stopped_at <= self.due_at

    @property
    def remaining(self) -> timedelta:
        """Working time left in the budget (negative once overrun)."""
        return self.target - self.used

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "cycle": self.cycle, "state": self.state,
            "due_at": _iso(self.due_at), "started_at": _iso(self.started_at),
            "target_seconds": self.target.total_seconds(), "used_seconds": self.used.total_seconds(),
            "paused_seconds": self.paused.total_seconds(), "calendar": self.calendar,
            "rules_version": self.rules_version, "stopped_at": _iso(self.stopped_at), "rule": self.rule,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Deadline":
        return cls(
            metric=data["metric"], cycle=int(data["cycle"]), state=data["state"],
            due_at=_instant(data["due_at"]), started_at=_instant(data["started_at"]),
            target=timedelta(seconds=data["target_seconds"]), used=timedelta(seconds=data["used_seconds"]),
            paused=timedelta(seconds=data["paused_seconds"]), calendar=data["calendar"],
            rules_version=data["rules_version"], stopped_at=_instant(data.get("stopped_at")),
            rule=data.get("rule", ""),
        )


@dataclass(frozen=True)
class StatusChange:
    """The ticket was seen entering `status` at `at`."""

    at: datetime
    status: str


@dataclass(frozen=True)
class BasisChange:
    """From `at` on, the clock runs for this priority, tier, team and calendar.

    `mode` says how the change treated the running clock: "start" (the first basis),
    "rederive" (count again from the cycle start) or "carry" (keep the working time used).
    """

    at: datetime
    priority: str
    tier: str | None
    team: str | None
    calendar: str
    mode: BasisMode = BasisMode.START

    def same_basis(self, other: "BasisChange") -> bool:
        return (self.priority, self.tier, self.team, self.calendar) == (
            other.priority, other.tier, other.team, other.calendar)


@dataclass(frozen=True)
class Action:
    """A one-off thing to do because of this decision; `key` is stable, for dedupe.

    note          `text` is a line for the write's single internal note.
    follow_up     create a ticket linked to this one: `subject`, `body`, `group_id` / `assignee_id`
                  (ids in the ticket's own helpdesk), `priority`; `text` is the note line about it.
    notify        tell `person_id` (a user id in the ticket's helpdesk; `person_name`, `email` when
                  known) `text`.
    public_reply  post `text` as a PUBLIC comment the customer sees (Zendesk: a comment with
                  `public: true`; Jira Service Management: a comment with `public: true` /
                  not internal). It never belongs in the internal note.

    Notification budget. The engine emits each key once per ticket (`CaseMemory.sent`), so a
    repeated decision or sweep never writes the same note, reply or notification twice; keys
    name the reason and the level (`level:<cycle>:<index>:<name>`, `trigger:<name>`,
    `customer:escalated:<cycle>:<index>`, ...). `decide` sees one ticket only, so the digest
    across tickets is the integrator's part: every notify action carries `digest_key`
    (`<person key>:<reason>`, e.g. `maria:trigger:safety`). Within one sweep, notify actions
    with the same `digest_key` (from different tickets) must be merged into ONE notification to
    that person listing the tickets (their `text` lines), never sent one by one.
    """

    key: str
    kind: ActionKind
    text: str = ""
    subject: str = ""
    body: str = ""
    group_id: str | None = None
    assignee_id: str | None = None
    priority: str | None = None
    person_id: str | None = None
    person_name: str | None = None
    email: str | None = None
    digest_key: str | None = None  # notify: person + reason; same-key notifies of one sweep merge into one


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened to the case's escalation, at the instant it really happened.

    kind: warning | escalation | level_change | breach | milestone | first_response_after_escalation
    | trigger (`threshold` = the trigger's name) | refused (a manual escalation by someone without
    the right) | vendor_request | vendor_update | vendor_confirmed | vendor_risk | customer_update
    (`threshold` = the message: escalated, update, schedule_confirmed, updated_plan, linked) |
    cluster_link. `at` may lie before the decision's `now` (a threshold reached while no decision ran).
    """

    kind: TimelineKind
    at: datetime
    key: str = ""
    metric: str | None = None
    cycle: int | None = None
    level: str | None = None  # the level reached (level_change) or named (escalation)
    threshold: str | None = None  # the threshold's label, e.g. 75; or "manual", a milestone name
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": _iso(self.at), "key": self.key, "metric": self.metric, "cycle": self.cycle,
                "level": self.level, "threshold": self.threshold, "text": self.text}


@dataclass(frozen=True)
class Climb:
    """The escalation reached `level` (index in the snapshot) at `at`, because of `cause`."""

    at: datetime
    level: int
    cause: str


@dataclass(frozen=True)
class EscalationState:
    """A running escalation: the frozen ladder, where the case stands on it, and who owns it."""

    ladder: LadderSnapshot
    cycle: int  # the resolution cycle it belongs to; a new cycle starts a new escalation
    started_at: datetime
    level: int  # index in ladder.levels; 0 is where every case starts
    level_since: datetime
    owner: PersonRef | None = None
    owner_source: str = ""  # named person | on call in rota x | level owner
    acked_at: datetime | None = None  # first public agent reply at this level
    first_reply_at: datetime | None = None  # first public agent reply after the escalation started
    climbs: tuple[Climb, ...] = ()

    @property
    def current(self) -> LevelSnapshot:
        return self.ladder.levels[self.level]

    def to_json(self) -> dict[str, Any]:
        return {
            "ladder": self.ladder.to_json(), "cycle": self.cycle, "started_at": _iso(self.started_at),
            "level": self.level, "level_since": _iso(self.level_since),
            "owner": self.owner.to_json() if self.owner else None, "owner_source": self.owner_source,
            "acked_at": _iso(self.acked_at), "first_reply_at": _iso(self.first_reply_at),
            "climbs": [{"at": _iso(c.at), "level": c.level, "cause": c.cause} for c in self.climbs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "EscalationState | None":
        if not data:
            return None
        return cls(
            ladder=LadderSnapshot.from_json(data["ladder"]), cycle=int(data.get("cycle", 1)),
            started_at=_instant(data["started_at"]), level=int(data["level"]),
            level_since=_instant(data["level_since"]), owner=PersonRef.from_json(data.get("owner")),
            owner_source=data.get("owner_source", ""), acked_at=_instant(data.get("acked_at")),
            first_reply_at=_instant(data.get("first_reply_at")),
            climbs=tuple(Climb(_instant(c["at"]), int(c["level"]), c.get("cause", "")) for c in data.get("climbs", ())),
        )


def _bool_json(value: object) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class VendorUpdate:
    """What a vendor said about a case: from the processor (POST /vendor/eta) or read from the
    helpdesk's ETA / capacity custom fields (`vendor.eta_field`, `vendor.capacity_field`).

    `at`: when the vendor said it; `eta`: when the repair / delivery will happen (None: no ETA
    given); `capacity_available`: False means the vendor cannot take it (an SLA risk);
    `vendor`: the vendor team's key or title (empty: the case's current vendor).
    """

    at: datetime
    eta: datetime | None = None
    capacity_available: bool | None = None
    note: str = ""
    vendor: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "eta": _iso(self.eta), "capacity_available": self.capacity_available,
                "note": self.note, "vendor": self.vendor}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "VendorUpdate":
        return cls(at=_instant(data["at"]), eta=_instant(data.get("eta")),
                   capacity_available=_bool_json(data.get("capacity_available")), note=data.get("note") or "",
                   vendor=data.get("vendor") or "")


@dataclass(frozen=True)
class VendorState:
    """One vendor request cycle: asked at `requested_at`, an ETA due by `eta_due_at`.

    A cycle starts each time the case goes to a vendor team. `eta` is the latest ETA the vendor
    gave; `confirmed_at` / `risk_at` are the outcomes (each once per cycle). The time-to-ETA
    clock runs until an ETA arrives or the risk fires (`clock_stopped_at`).
    """

    cycle: int
    team: str
    vendor: str  # display name
    requested_at: datetime
    eta_due_at: datetime
    eta: datetime | None = None
    eta_reported_at: datetime | None = None
    last_word_at: datetime | None = None  # the vendor's latest update
    capacity_available: bool | None = None
    note: str = ""
    confirmed_at: datetime | None = None
    risk_at: datetime | None = None
    risk_cause: str = ""
    clock_stopped_at: datetime | None = None
    ended_at: datetime | None = None  # the case left the vendor team: this cycle is over
    field_eta: str | None = None  # the raw ETA field value last read (a change is an update)
    field_capacity: str | None = None

    @property
    def clock_running(self) -> bool:
        """The time-to-ETA clock runs: no ETA yet, no risk yet, still at the vendor."""
        return self.clock_stopped_at is None and self.ended_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle, "team": self.team, "vendor": self.vendor, "requested_at": _iso(self.requested_at),
            "eta_due_at": _iso(self.eta_due_at), "eta": _iso(self.eta), "eta_reported_at": _iso(self.eta_reported_at),
            "last_word_at": _iso(self.last_word_at),
            "capacity_available": self.capacity_available, "note": self.note, "confirmed_at": _iso(self.confirmed_at),
            "risk_at": _iso(self.risk_at), "risk_cause": self.risk_cause,
            "clock_stopped_at": _iso(self.clock_stopped_at), "ended_at": _iso(self.ended_at),
            "field_eta": self.field_eta,
            "field_capacity": self.field_capacity,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "VendorState | None":
        if not data:
            return None
        return cls(
            cycle=int(data["cycle"]), team=data["team"], vendor=data.get("vendor") or data["team"],
            requested_at=_instant(data["requested_at"]), eta_due_at=_instant(data["eta_due_at"]),
            eta=_instant(data.get("eta")), eta_reported_at=_instant(data.get("eta_reported_at")),
            last_word_at=_instant(data.get("last_word_at")),
            capacity_available=_bool_json(data.get("capacity_available")), note=data.get("note") or "",
            confirmed_at=_instant(data.get("confirmed_at")), risk_at=_instant(data.get("risk_at")),
            risk_cause=data.get("risk_cause") or "", clock_stopped_at=_instant(data.get("clock_stopped_at")),
            ended_at=_instant(data.get("ended_at")),
            field_eta=data.get("field_eta"), field_capacity=data.get("field_capacity"),
        )


@dataclass(frozen=True)
class HeldMessage:
    """A customer message held back by the customer's quiet hours until `release_at`."""

    key: str
    message: str  # escalated | update | schedule_confirmed | updated_plan | linked
    due_at: datetime  # when it would have gone out
    release_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "message": self.message, "due_at": _iso(self.due_at),
                "release_at": _iso(self.release_at)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "HeldMessage":
        return cls(data["key"], data["message"], _instant(data["due_at"]), _instant(data["release_at"]))


@dataclass(frozen=True)
class CustomerState:
    """What the customer has been told: the last proactive message and those held back."""

    last_sent_at: datetime | None = None  # the last public reply slaclock sent
    held: tuple[HeldMessage, ...] = ()
    active_since: datetime | None = None  # since when the cadence runs (escalated, or in a cluster)

    def to_json(self) -> dict[str, Any]:
        return {"last_sent_at": _iso(self.last_sent_at), "held": [h.to_json() for h in self.held],
                "active_since": _iso(self.active_since)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "CustomerState":
        data = data or {}
        return cls(_instant(data.get("last_sent_at")), tuple(HeldMessage.from_json(h) for h in data.get("held", ())),
                   _instant(data.get("active_since")))


@dataclass(frozen=True)
class ClusterInfo:
    """The recurring-issue cluster a case belongs to (from `recurring_clusters`, via the jobs layer).

    `key`: the cluster's key; `problem_id`: the problem ticket's id in the case's helpdesk, once
    created; `subject`: the problem's subject; `members`: how many cases it holds; `owner`: the
    name of who owns the problem (engineering), for the customer messages.
    """

    key: str
    problem_id: str | None = None
    subject: str = ""
    members: int = 0
    owner: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "problem_id": self.problem_id, "subject": self.subject, "members": self.members,
                "owner": self.owner}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "ClusterInfo | None":
        if not data:
            return None
        return cls(data["key"], data.get("problem_id"), data.get("subject") or "", int(data.get("members") or 0),
                   data.get("owner"))


@dataclass(frozen=True)
class CaseMemory:
    """What slaclock remembers about a ticket between decisions (the store keeps it as JSON).

    Pauses and cycles are rebuilt from `statuses` on every decision (not kept as counters);
    `results` freezes each stopped clock with the rules version and calendar it used.
    """

    routed_reason_code: str | None = None
    routed: bool = False
    team: str | None = None  # the team slaclock last routed to
    statuses: tuple[StatusChange, ...] = ()
    bases: tuple[BasisChange, ...] = ()
    first_reply_at: datetime | None = None  # first public agent reply
    last_reply_at: datetime | None = None  # latest public agent reply
    results: tuple[Deadline, ...] = ()  # stopped clocks, one per (metric, cycle), frozen
    seen_at: datetime | None = None  # `now` of the last decision
    # Keys of what has fired once and must not fire again: thresholds
    # (`threshold:<metric>:<cycle>:<label>`), milestones (`milestone:<name>:<cycle>`), manual
    # escalation requests (`manual:<ticket updated_at>`).
    # escalation requests (`manual:<ticket updated_at>`), refused ones (`refused:<ticket updated_at>`),
    # triggers (`trigger:<name>`, `trigger:tier_floor:<tier>`), vendor outcomes
    # (`vendor:<cycle>:confirmed|risk`).
    fired: tuple[str, ...] = ()
    escalation: EscalationState | None = None  # the running (or last) escalation, ladder frozen
    vendor: VendorState | None = None  # the current (or last) vendor request cycle, latest ETA
    customer: CustomerState = CustomerState()  # what the customer has been told, what is held back
    cluster: ClusterInfo | None = None  # the recurring-issue cluster the case belongs to
    # Keys of every action emitted (notes, public replies, notifications, follow-ups): the
    # notification budget; an action whose key is here is never emitted again.
    sent: tuple[str, ...] = ()

    @property
    def last_status(self) -> str | None:
        return self.statuses[-1].status if self.statuses else None

    def result(self, metric: str, cycle: int) -> Deadline | None:
        """The frozen result of one metric in one cycle, if it stopped."""
        return next((d for d in self.results if d.metric == metric and d.cycle == cycle), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "routed_reason_code": self.routed_reason_code,
            "routed": self.routed,
            "team": self.team,
            "statuses": [{"at": _iso(s.at), "status": s.status} for s in self.statuses],
            "bases": [{"at": _iso(b.at), "priority": b.priority, "tier": b.tier, "team": b.team,
                       "calendar": b.calendar, "mode": b.mode} for b in self.bases],
            "first_reply_at": _iso(self.first_reply_at),
            "last_reply_at": _iso(self.last_reply_at),
            "results": [d.to_json() for d in self.results],
            "seen_at": _iso(self.seen_at),
            "fired": list(self.fired),
            "escalation": self.escalation.to_json() if self.escalation else None,
            "vendor": self.vendor.to_json() if self.vendor else None,
            "customer": self.customer.to_json(),
            "cluster": self.cluster.to_json() if self.cluster else None,
            "sent": list(self.sent),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "CaseMemory":
        """Read what `to_json` wrote; keys missing from older memories take their defaults."""
        data = data or {}
        return cls(
            routed_reason_code=data.get("routed_reason_code"),
            routed=bool(data.get("routed", False)),
            team=data.get("team"),
            statuses=tuple(StatusChange(_instant(s["at"]), s["status"]) for s in data.get("statuses", ())),
            bases=tuple(BasisChange(_instant(b["at"]), b["priority"], b.get("tier"), b.get("team"),
                                    b["calendar"], b.get("mode", "start")) for b in data.get("bases", ())),
            first_reply_at=_instant(data.get("first_reply_at")),
            last_reply_at=_instant(data.get("last_reply_at")),
            results=tuple(Deadline.from_json(d) for d in data.get("results", ())),
            seen_at=_instant(data.get("seen_at")),
            fired=tuple(data.get("fired", ())),
            escalation=EscalationState.from_json(data.get("escalation")),
            vendor=VendorState.from_json(data.get("vendor")),
            customer=CustomerState.from_json(data.get("customer")),
            cluster=ClusterInfo.from_json(data.get("cluster")),
            sent=tuple(data.get("sent", ())),
        )

    def evolve(self, **changes: object) -> "CaseMemory":
        return replace(self, **changes)


@dataclass(frozen=True)
class Decision:
    """The state the rules want the ticket in, with the reasons and inputs that led there."""

    priority: str
    team: str | None
    group_id: str | None
    assignee_id: str | None
    due_at: datetime  # the resolution deadline (= deadlines["resolution"].due_at)
    tags_add: frozenset[str] = frozenset()
    tags_remove: frozenset[str] = frozenset()
    escalated: bool = False
    reasons: tuple[Reason, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    rules_version: str = ""
    memory: CaseMemory = CaseMemory()
    deadlines: Mapping[str, Deadline] = field(default_factory=dict)  # per metric, current cycle
    tier: str | None = None
    calendar: str | None = None  # the calendar the clock runs on now
    # Escalation (issue 5). group_id / assignee_id / priority / tags_add above also carry a
    # level's reassignment, priority and tags, on the decision that reaches the level.
    followers_add: frozenset[str] = frozenset()  # user ids in the ticket's helpdesk
    escalation_level: str | None = None  # the level the case stands on (None: not escalated)
    escalation_owner: str | None = None  # the single named owner's display name
    actions: tuple[Action, ...] = ()  # one-off things to do now, each with a stable key
    timeline: tuple[TimelineEvent, ...] = ()  # what happened since the last decision
    # The earliest instant after `now` at which a decision could differ only because time passed
    # (a threshold, a breach, a milestone, a level timeout, a vendor's time-to-ETA deadline, a
    # promised date coming near, a customer update due or held until the end of quiet hours);
    # None when nothing is pending.
    next_action_at: datetime | None = None
    # The people around the case (issue 6).
    vendor_eta: datetime | None = None  # the latest ETA the vendor gave (this request cycle)
    vendor_eta_due_at: datetime | None = None  # the time-to-ETA deadline while that clock runs
    next_customer_update_at: datetime | None = None  # when the next proactive public reply goes out
    actor_role: str | None = None  # the role of whoever made this change (roles map; None: no actor)
    cluster_key: str | None = None  # the recurring-issue cluster the case belongs to

    def reasons_for(self, field_name: str) -> list[Reason]:
        """The reasons that set one decision field."""
        return [r for r in self.reasons if r.field == field_name]
