"""What the rules engine answers (`Decision`, `Reason`, `Deadline`, `Action`, `TimelineEvent`) and
remembers (`CaseMemory`, `EscalationState`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Mapping

from rules.codec import JsonForm, Wire
from rules.frozen import evolved, quick_init
from rules.ladder import LadderSnapshot, LevelSnapshot, PersonRef


class DeadlineState(StrEnum):
    """Where a metric's clock stands; breached: running and past due."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    BREACHED = "breached"
    # The case ended before the metric's event (solved without a public agent reply): no result, neither met
    # nor missed.
    UNMEASURED = "unmeasured"


class BasisMode(StrEnum):
    """How a basis change treats the running clock (see `BasisChange`)."""

    START = "start"
    REDERIVE = "rederive"
    CARRY = "carry"


class ActionKind(StrEnum):
    """An internal note line, a linked follow-up ticket, a notification to a person, a public comment, the
    closing of the case with a public follow-up."""

    NOTE = "note"
    FOLLOW_UP = "follow_up"
    NOTIFY = "notify"
    PUBLIC_REPLY = "public_reply"
    VENDOR_WEBHOOK = "vendor_webhook"
    CLOSE = "close"


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
    BOUNCING = "bouncing"  # reassigned between teams too often (rules.bouncing)
    ESCALATION_WAITING = "escalation_waiting"  # an escalation request lacks what it must carry
    UNDONE = "undone"  # a person's change put back: no right to it, or a solve without its resolution path
    # The confirmation loop (seeds 001, 003): asked to confirm a solve, confirmed, reopened, closed.
    RESOLUTION_ASKED = "resolution_asked"
    RESOLUTION_CONFIRMED = "resolution_confirmed"
    REOPENED = "reopened"
    CLOSED = "closed"
    # Seed 003 step 8: a post-incident task asked of the escalation owner; the root cause written there.
    POST_INCIDENT = "post_incident"
    ROOT_CAUSE = "root_cause"
    CSAT = "csat"
    OLA = "ola"  # a holder's OLA budget: warned (`threshold` = "warn") or used up ("exhausted"; rules.ola)
    FORECAST = "forecast"  # predictive escalation: the forecast finish passes the deadline (rules.forecast)


@quick_init
@dataclass(frozen=True)
class Reason:
    """One rule that shaped the decision: its key path in the rules file and a sentence."""

    rule: str
    text: str
    field: str  # which decision field it sets: priority, team, due_at, tags, tier, calendar, <metric>


@quick_init
@dataclass(frozen=True)
class Deadline(JsonForm):
    """One metric's clock in one cycle: when it is due, on which calendar, under which rules."""

    wire = Wire(keys={"target": "target_seconds", "used": "used_seconds", "paused": "paused_seconds"})

    metric: str  # first_response | next_update | next_reply | resolution
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
        """For a stopped clock: stopped by the due time; None while it runs or when it was not measured."""
        if self.stopped_at is None or self.state == DeadlineState.UNMEASURED:
            return None
        return self.stopped_at <= self.due_at

    @property
    def remaining(self) -> timedelta:
        """Working time left in the budget (negative once overrun)."""
        return self.target - self.used

@quick_init
@dataclass(frozen=True)
class StatusChange(JsonForm):
    """The ticket was seen entering `status` at `at`."""

    at: datetime
    status: str


@quick_init
@dataclass(frozen=True)
class BasisChange(JsonForm):
    """From `at` on, the clock runs for this priority, tier, team and calendar.

    `mode` says how the change treated the running clock: "start" (the first basis),
    "rederive" (count again from the cycle start) or "carry" (keep the working time used).
    """

    wire = Wire(blank={"tier": None, "team": None})

    at: datetime
    priority: str
    tier: str | None
    team: str | None
    calendar: str
    mode: BasisMode = BasisMode.START

    def same_basis(self, other: "BasisChange") -> bool:
        return (self.priority, self.tier, self.team, self.calendar) == (
            other.priority, other.tier, other.team, other.calendar)


@quick_init
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
    vendor_webhook  tell the vendor team `team`'s own system (its signed webhook): `subject` is the
                  event type (vendor.capacity_requested, vendor.priority_override), `priority` the
                  priority asked for, `text` the sentence.
    close         close the case for good and post `text`, the system-sent follow-up, publicly with it
                  (Zendesk: one update, as a closed ticket takes no more; Jira: a transition, then the comment).

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
    team: str | None = None  # vendor_webhook: the vendor team
    due_at: datetime | None = None  # follow_up: a task due then (the post-incident review)


@quick_init
@dataclass(frozen=True)
class Rating(JsonForm):
    """A customer's satisfaction rating of the case: a score from 1 to 5 (JSM request feedback) or Zendesk's
    good / bad (its updated CSAT shows a 1–5 answer on the ticket as good for 4–5, bad for 1–3)."""

    wire = Wire(optional=frozenset({"score", "verdict"}))

    score: int | None = None  # 1..5
    verdict: str | None = None  # "good" | "bad"
    comment: str = ""

    def __post_init__(self) -> None:
        if (self.score is None) == (self.verdict is None):
            raise ValueError("a rating has either a score (1-5) or a verdict (good, bad)")
        if self.score is not None and not 1 <= self.score <= 5:
            raise ValueError(f"a rating score is 1 to 5, got {self.score}")
        if self.verdict is not None and self.verdict not in ("good", "bad"):
            raise ValueError(f"a rating verdict is good or bad, got {self.verdict!r}")

    @property
    def good(self) -> bool:
        """Satisfied: a good verdict, or a score of 4 or 5 (Zendesk's own split of a five-point scale)."""
        return self.verdict == "good" if self.verdict is not None else (self.score or 0) >= 4


@quick_init
@dataclass(frozen=True)
class TimelineEvent(JsonForm):
    """Something that happened to the case's escalation, at the instant it really happened.

    kind: warning | escalation | level_change | breach | milestone | first_response_after_escalation
    | trigger (`threshold` = the trigger's name) | refused (a manual escalation by someone without
    the right) | vendor_request | vendor_update | vendor_confirmed | vendor_risk | customer_update
    (`threshold` = the message: escalated, update, schedule_confirmed, updated_plan, linked) |
    cluster_link | csat (`rating`: what the customer said). `at` may lie before the decision's `now` (a
    threshold reached while no decision ran).
    """

    wire = Wire(optional=frozenset({"rating"}))

    kind: TimelineKind
    at: datetime
    key: str = ""
    metric: str | None = None
    cycle: int | None = None
    level: str | None = None  # the level reached (level_change) or named (escalation)
    threshold: str | None = None  # the threshold's label, e.g. 75; or "manual", a milestone name
    text: str = ""
    rating: Rating | None = None  # csat


@quick_init
@dataclass(frozen=True)
class Climb(JsonForm):
    """The escalation reached `level` (index in the snapshot) at `at`, because of `cause`."""

    wire = Wire(blank={"cause": ""})

    at: datetime
    level: int
    cause: str


@quick_init
@dataclass(frozen=True)
class EscalationState(JsonForm):
    """A running escalation: the frozen ladder, where the case stands on it, and who owns it."""

    wire = Wire(blank={"cycle": 1})

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

@quick_init
@dataclass(frozen=True)
class VendorUpdate(JsonForm):
    """What a vendor said about a case: from the processor (POST /vendor/eta) or read from the
    helpdesk's ETA / capacity custom fields (`vendor.eta_field`, `vendor.capacity_field`).

    `at`: when the vendor said it; `eta`: when the repair / delivery will happen (None: no ETA
    given); `capacity_available`: False means the vendor cannot take it (an SLA risk);
    `vendor`: the vendor team's key or title (empty: the case's current vendor).
    """

    wire = Wire(blank={"note": "", "vendor": ""})

    at: datetime
    eta: datetime | None = None
    capacity_available: bool | None = None
    note: str = ""
    vendor: str = ""


@quick_init
@dataclass(frozen=True)
class VendorState(JsonForm):
    """One vendor request cycle: asked at `requested_at`, an ETA due by `eta_due_at`.

    A cycle starts each time the case goes to a vendor team. `eta` is the latest ETA the vendor
    gave; `confirmed_at` / `risk_at` are the outcomes (each once per cycle). The time-to-ETA
    clock runs until an ETA arrives or the risk fires (`clock_stopped_at`).
    """

    wire = Wire(blank={"note": "", "risk_cause": ""}, same_as={"vendor": "team"})

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

@quick_init
@dataclass(frozen=True)
class HeldMessage(JsonForm):
    """A customer message held back by the customer's quiet hours until `release_at`."""

    key: str
    message: str  # escalated | update | schedule_confirmed | updated_plan | linked
    due_at: datetime  # when it would have gone out
    release_at: datetime


@quick_init
@dataclass(frozen=True)
class CustomerState(JsonForm):
    """What the customer has been told: the last proactive message and those held back."""

    last_sent_at: datetime | None = None  # the last public reply slaclock sent
    held: tuple[HeldMessage, ...] = ()
    active_since: datetime | None = None  # since when the cadence runs (escalated, or in a cluster)


@quick_init
@dataclass(frozen=True)
class ClusterInfo(JsonForm):
    """The recurring-issue cluster a case belongs to (from `recurring_clusters`, via the jobs layer).

    `key`: the cluster's key; `problem_id`: the problem ticket's id in the case's helpdesk, once
    created; `subject`: the problem's subject; `members`: how many cases it holds; `owner`: the
    name of who owns the problem (engineering), for the customer messages.
    """

    wire = Wire(blank={"subject": "", "members": 0})

    key: str
    problem_id: str | None = None
    subject: str = ""
    members: int = 0
    owner: str | None = None


class ConfirmationOutcome(StrEnum):
    """How a solve that waited for the customer's word ended."""

    CONFIRMED = "confirmed"  # the customer said yes: closed
    QUIET = "quiet"  # no answer within the quiet period: closed
    REOPENED = "reopened"  # the customer said it is not fixed: back to the owner


@quick_init
@dataclass(frozen=True)
class ConfirmationState(JsonForm):
    """A solve waiting for the customer to confirm it (seeds 001, 003): asked at `solved_at`, closed by
    `close_at` without an answer; `owner_id` (the assignee when it was solved) gets it back on a reopen."""

    solved_at: datetime
    close_at: datetime
    owner_id: str | None = None
    outcome: ConfirmationOutcome | None = None
    outcome_at: datetime | None = None

    @property
    def waiting(self) -> bool:
        return self.outcome is None


@quick_init
@dataclass(frozen=True)
class Held(JsonForm):
    """What the ticket last stood at with slaclock's consent; a refused change is put back to it."""

    status: str
    priority: str | None
    group_id: str | None
    assignee_id: str | None


@quick_init
@dataclass(frozen=True)
class Hop(JsonForm):
    """The case went from one team to another at `at` (routed, re-routed by hand, or handed on by an escalation)."""

    at: datetime
    from_team: str
    to_team: str


@quick_init
@dataclass(frozen=True)
class CaseMemory(JsonForm):
    """What slaclock remembers about a ticket between decisions (the store keeps it as JSON).

    Pauses and cycles are rebuilt from `statuses` on every decision (not kept as counters);
    `results` freezes each stopped clock with the rules version and calendar it used.
    """

    wire = Wire(optional=frozenset({"awaiting_reply_since", "confirmation", "rating", "escalation_requested_at",
                                   "hops", "held"}))

    routed_reason_code: str | None = None
    routed: bool = False
    team: str | None = None  # the team slaclock last routed to
    statuses: tuple[StatusChange, ...] = ()
    bases: tuple[BasisChange, ...] = ()
    first_reply_at: datetime | None = None  # first public agent reply
    last_reply_at: datetime | None = None  # latest public agent reply
    awaiting_reply_since: datetime | None = None  # the oldest customer message after a reply, not yet answered
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
    confirmation: ConfirmationState | None = None  # the latest solve's confirmation loop
    rating: Rating | None = None  # the customer's latest satisfaction rating
    escalation_requested_at: datetime | None = None  # an agent's escalation request waiting for its items
    hops: tuple[Hop, ...] | None = None  # the case's moves between teams, oldest first (bouncing; None: none)
    # The status, priority and team the ticket last stood at with slaclock's consent (roles.enforce,
    # resolution_path): what a refused change is put back to.
    held: Held | None = None

    @property
    def last_status(self) -> str | None:
        return self.statuses[-1].status if self.statuses else None

    def result(self, metric: str, cycle: int) -> Deadline | None:
        """The frozen result of one metric in one cycle, if it stopped."""
        return next((d for d in self.results if d.metric == metric and d.cycle == cycle), None)

    evolve = evolved  # memory.evolve(**changes): a method without a call of its own (a dozen a decision)


@quick_init
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
    next_action: str | None = None  # what falls due then, in a few words (`warning at 75 % of resolution`)
    # The people around the case (issue 6).
    vendor_eta: datetime | None = None  # the latest ETA the vendor gave (this request cycle)
    vendor_eta_due_at: datetime | None = None  # the time-to-ETA deadline while that clock runs
    next_customer_update_at: datetime | None = None  # when the next proactive public reply goes out
    actor_role: str | None = None  # the role of whoever made this change (roles map; None: no actor)
    cluster_key: str | None = None  # the recurring-issue cluster the case belongs to
    # How the internal note names things: the team's display name, the one time zone of the note (the team's
    # calendar), and whether a decision that only routes gets a note (`routing.note`).
    team_title: str | None = None
    note_zone: str = "UTC"
    note_on_routing: bool = False
    # The status the rules want (None: leave it): "open" when the customer says a solved case is not fixed.
    # Closing is an action (`close`), as it carries the follow-up message.
    status: str | None = None

    def reasons_for(self, field_name: str) -> list[Reason]:
        """The reasons that set one decision field."""
        return [r for r in self.reasons if r.field == field_name]
