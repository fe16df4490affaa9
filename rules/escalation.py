"""Escalate before the breach: thresholds, the ladder, the single named owner, milestones.

Thresholds (`escalation.thresholds.<metric>`) are points of a metric's working-time budget:
`percent` of the target and/or `before` = working time left before the deadline (both: the
earlier). A threshold is reached when the metric's *used* working time reaches it, on the
ticket's own calendar with paused time excluded, so a threshold that wall-clock time passes
during a pause is reached only once the clock has really used that much. Every metric also has
a breach point (100 %), silent unless configured. Each (metric, cycle, threshold) fires once,
recorded in `CaseMemory.fired` as `threshold:<metric>:<cycle>:<label>` (next_update restarts
with each agent update: its cycle part is `<cycle>@<epoch seconds of the start>`).

The ladder (`ladders.<name>`, per team via `teams.<t>.ladder`, default `escalation.ladder`) is
frozen into the case's memory when its escalation starts (`EscalationState.ladder`, with the
rules version): later edits of ladders, people, rotas and teams do not change it. Thresholds
stay live (when to climb) and name levels of the frozen ladder. A level is reached by a
threshold naming it, by the manual escalation tag (one level up), or by a level's
`climb_after` timeout without an agent reply. Levels are never left downwards.

Other climbs come in as `Push`es: escalation triggers (`rules.triggers`) and vendor SLA risks
(`rules.vendor`); they fire once (their key joins `CaseMemory.fired`), are ordered with the
thresholds by instant, and climb to a named level or one level up.

Milestones (seed 001): `tech_lead` (a case of the listed priorities unresolved `after` a while
asks for a linked follow-up ticket and notifies the account manager) and `queued` (a case that
arrives while its calendar is closed gets a tag and a note saying when its clock starts).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from operator import attrgetter, methodcaller
from typing import NamedTuple

from rules import wording
from rules.alerts import level_alerts, threshold_alerts
from rules.calendar import ZERO
from rules.clock import ClockView
from rules.decision import (Action, ActionKind, CaseMemory, Climb, EscalationState, Reason,
                            TimelineEvent, TimelineKind)
from rules.effects import Effects
from rules.facts import TicketFacts
from rules.frozen import evolved, quick_init
from rules.ladder import LadderSnapshot, PersonRef
from rules.metrics import MetricRun, active_add, reached_at
from rules.policy import resolve_tier
from rules.schema import METRICS, PRIORITIES, Rules, Threshold

BREACH_POINT = Threshold(percent=100)
# Metrics that start again within a cycle (at each agent reply / customer message): keyed by their start too.
RESTARTING = ("next_update", "next_reply")
_at = attrgetter("at")
_restarting = methodcaller("startswith", tuple(f"threshold:{metric}:" for metric in RESTARTING))
_RANK = {p: i for i, p in enumerate(PRIORITIES)}


def higher(a: str, b: str | None) -> str:
    """The higher of two priorities (None: no opinion)."""
    return a if b is None or _RANK[a] >= _RANK[b] else b


# --- where a budget is reached ------------------------------------------------------------

def budget_of(threshold: Threshold, target: timedelta) -> timedelta:
    """The working time used when `threshold` is reached, for a metric with `target`."""
    return _budget(threshold.percent, threshold.before, target)


@functools.lru_cache(maxsize=4096)  # a rules file has a few dozen (threshold, target) pairs
def _budget(percent: float | None, before: timedelta | None, target: timedelta) -> timedelta:
    options = []
    if percent is not None:
        micros = Fraction(target // timedelta(microseconds=1)) * Fraction(percent) / 100
        options.append(timedelta(microseconds=round(micros)))
    if before is not None:
        options.append(max(target - before, ZERO))
    return min(options)


def cycle_label(run: MetricRun) -> str:
    d = run.deadline
    return f"{d.cycle}@{int(d.started_at.timestamp())}" if d.metric in RESTARTING else str(d.cycle)


def thresholds_of(rules: Rules, metric: str) -> tuple[tuple[int | None, Threshold, str], ...]:
    """(index in the rules file, threshold, its label), the silent breach point added when none is configured."""
    return rules.once(("thresholds", metric), lambda: _thresholds(rules, metric))


def _thresholds(rules: Rules, metric: str) -> tuple[tuple[int | None, Threshold, str], ...]:
    items: list[tuple[int | None, Threshold, str]] = [
        (i, t, t.label) for i, t in enumerate(getattr(rules.escalation.thresholds, metric))]
    if not any(label == BREACH_POINT.label for *_, label in items):
        items.append((None, BREACH_POINT, BREACH_POINT.label))
    return tuple(items)


@dataclass(frozen=True)
class Point:
    """A threshold of a metric with a given target, and what firing it writes that depends on nothing else."""

    threshold: Threshold
    label: str
    used: timedelta  # the working time at which it is reached
    rule: str
    kind: TimelineKind
    text: str  # the timeline text
    cause: str  # the climb's cause (a threshold naming a level)
    ahead: str  # what it is while still to come (`warning at 50 % of first response`)


def points_of(rules: Rules, metric: str, target: timedelta) -> tuple[Point, ...]:
    """The metric's thresholds at `target` (a rules file has a few targets per metric: a table per rules)."""
    return rules.once(("points", metric, target), lambda: tuple(
        _point(metric, i, t, label, target) for i, t, label in thresholds_of(rules, metric)))


def sorted_points(rules: Rules, metric: str, target: timedelta) -> tuple[Point, ...]:
    """`points_of`, the least working time first."""
    return rules.once(("sorted_points", metric, target), lambda: tuple(
        sorted(points_of(rules, metric, target), key=lambda p: p.used)))


def _point(metric: str, index: int | None, t: Threshold, label: str, target: timedelta) -> Point:
    kind = (TimelineKind.BREACH if t.is_breach or t is BREACH_POINT
            else TimelineKind.ESCALATION if t.level else TimelineKind.WARNING)
    # index: the position in escalation.thresholds.<metric> (None: the silent breach point)
    rule = f"escalation.thresholds.{metric}[{index}]" if index is not None else f"sla.targets ({metric})"
    cause = wording.threshold_cause(metric, t, target) if t.level else ""
    return Point(t, label, budget_of(t, target), rule, kind, wording.threshold_reached(metric, t, target), cause,
                 wording.threshold_ahead(metric, t, kind == TimelineKind.BREACH))


def live_fired(view: ClockView, keys: tuple[str, ...]) -> tuple[str, ...]:
    """`keys` without the next_update / next_reply keys of starts that are over (replies restart them)."""
    if not any(map(_restarting, keys)):  # the common answer, in one C loop
        return keys
    for metric in RESTARTING:
        run = view.runs.get(metric)
        keep = f"threshold:{metric}:{cycle_label(run)}:" if run is not None else None
        keys = tuple(k for k in keys if not k.startswith(f"threshold:{metric}:") or (keep and k.startswith(keep)))
    return keys


def _measured(run: MetricRun) -> bool:
    """The run's thresholds can still be reached: computed now, and its clock not stopped."""
    return not run.frozen and run.deadline.stopped_at is None


@quick_init
@dataclass(frozen=True)
class Push:
    """A climb asked for by something other than a threshold or the tag: an escalation trigger
    (seed 003) or a vendor SLA risk (seed 000). It fires once (`key` joins `CaseMemory.fired`)."""

    at: datetime
    key: str
    kind: TimelineKind  # trigger | vendor_risk
    name: str  # the trigger's name, or the risk's cause (TimelineEvent.threshold)
    rule: str  # key path in the rules file
    text: str
    level: str | None = None  # a ladder level to climb to (None: one level up)
    priority: str | None = None  # a priority it raises to (never lowers)
    priority_rule: str = ""  # key path of that priority (default: `<rule>.priority`)
    tags: tuple[str, ...] = ()
    why: str = ""  # what matched (a trigger's note says it)


class Crossing(NamedTuple):
    """A threshold (or a manual request, or a push) reached in this decision (a tuple: a decision makes several)."""

    at: datetime
    key: str
    metric: str | None = None
    cycle: int | None = None
    point: Point | None = None
    run: MetricRun | None = None
    used: timedelta = ZERO  # the working time at which it is reached (orders points reached together)
    push: Push | None = None

    @property
    def threshold(self) -> Threshold | None:
        return self.point.threshold if self.point is not None else None


@quick_init
@dataclass(frozen=True)
class Outcome:
    """What the escalation adds to a decision (besides its `effects`)."""

    effects: Effects
    state: EscalationState | None
    priority: str | None
    priority_rule: str
    level_rule: str
    team: str | None
    group_id: str | None
    assignee_id: str | None
    tags_add: frozenset[str]
    followers_add: frozenset[str]
    level: str | None
    owner: str | None
    climbed: bool  # a level was reached in this decision


# --- the escalator ----------------------------------------------------------------------

class Escalator:
    """Works out one decision's escalation. `run` may be called again with a re-derived clock
    (after a level raised the priority): what fired stays fired, only new crossings fire."""

    def __init__(self, ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory, *, team: str | None,
                 manual_stamp: datetime | None, manual_at: datetime, first_sight: bool,
                 pushes: tuple[Push, ...] = ()):
        self.ticket, self.rules, self.now = ticket, rules, now
        self.pushes = pushes
        self.connector: str = ticket.connector
        self.team = team
        self.manual_stamp, self.manual_at, self.first_sight = manual_stamp, manual_at, first_sight
        self.fired: set[str] = set(memory.fired)  # all keys fired, before and in this decision
        self.state: EscalationState | None = memory.escalation
        self.last_reply_at = memory.last_reply_at
        # What this decision adds, collected here and made `Effects` once in `finish`.
        self.actions: list[Action] = []
        self.timeline: list[TimelineEvent] = []
        self.reasons: list[Reason] = []
        self.fired_now: list[str] = []  # the keys fired in this decision
        self.crossings: list[Crossing] = []
        self.reached: list[int] = []  # level indexes reached in this decision, in order
        self.priority: str | None = None  # the floor the reached levels raise the priority to
        self.priority_rule: str = ""
        self.changed_at: datetime | None = None  # first reach that changes priority or team
        self.tags_add: set[str] = set()
        # reached_at per (run, used): `_crossings` and `_next_action` ask the same points (the run is kept
        # beside its answer, so its id stays its own while the decision lasts).
        self._reached: dict[tuple[int, timedelta], tuple[MetricRun, datetime]] = {}
        self._manager: tuple[PersonRef | None] | None = None  # the account manager, once asked
        self._view: ClockView | None = None  # the view last asked for its cycle, and that cycle
        self._cycle = 0

    # -- helpers --

    def _reached_at(self, run: MetricRun, used: timedelta) -> datetime:
        key = (id(run), used)
        known = self._reached.get(key)
        if known is None:
            known = self._reached[key] = (run, reached_at(run, used))
        return known[1]

    def _fire(self, key: str) -> None:
        if key not in self.fired:
            self.fired.add(key)
            self.fired_now.append(key)

    def _note(self, reason: Reason, event: TimelineEvent | None = None) -> None:
        self.reasons.append(reason)
        if event is not None:
            self.timeline.append(event)

    def _active_state(self, view: ClockView) -> EscalationState | None:
        """The escalation of the current cycle (an older cycle's escalation is over)."""
        state = self.state
        if state is None:
            return None
        if view is not self._view:  # asked a dozen times per view: its cycle once
            self._view, self._cycle = view, view.cycle
        return state if state.cycle == self._cycle else None

    def level_team(self) -> str | None:
        """The team of the level reached in this decision, when it has a group in this helpdesk."""
        if not self.reached or self.state is None:
            return None
        level = self.state.current
        return level.team if level.team and level.target(self.connector)[0] is not None else None

    # -- the pass --

    def _crossings(self, view: ClockView, manual: bool) -> list[Crossing]:
        """What has been reached by `now` and not fired yet, in the order it was reached."""
        events: list[Crossing] = []
        if manual:
            stamp = self.manual_stamp or self.now
            key = f"manual:{stamp.isoformat()}"
            if key not in self.fired:
                events.append(Crossing(self.manual_at, key))
        for push in self.pushes:
            if push.key not in self.fired and push.at <= self.now and view.running:
                events.append(Crossing(push.at, push.key, push=push))
        fired, now = self.fired, self.now
        for metric, run in view.runs.items():
            d = run.deadline
            if not _measured(run):
                continue
            prefix = f"threshold:{metric}:{cycle_label(run)}:"
            # More working time than the clock has used by now is reached later (`used` counts the current basis
            # only once it started before now).
            used_now = d.used if run.segments[-1].start < now else None
            for point in points_of(self.rules, metric, d.target):
                if used_now is not None and point.used > used_now:
                    continue
                key = prefix + point.label
                if key in fired:
                    continue
                at = self._reached_at(run, point.used)
                if at <= now:
                    events.append(Crossing(at, key, metric, d.cycle, point, run, point.used))
        events.sort(key=lambda e: (e.at, e.used, e.key))
        return events

    def run(self, view: ClockView, manual: bool) -> None:
        """Fire what has been reached by `now`, in the order it was reached."""
        for event in self._crossings(view, manual):
            self._timeouts(view, event.at)
            if event.push is not None:
                self._push(view, event, event.push)
            elif event.point is None:
                self._manual(view, event)
            else:
                self._threshold(view, event, event.point)
        self._timeouts(view, self.now)
        self._replies(view)

    def _threshold(self, view: ClockView, c: Crossing, p: Point) -> None:
        self.fired.add(c.key)  # a crossing is never fired yet
        self.fired_now.append(c.key)
        self.crossings.append(c)
        t = p.threshold
        self.reasons.append(Reason(p.rule, wording.at_text(p.text, c.at), "escalation"))
        self.timeline.append(TimelineEvent(p.kind, c.at, c.key, c.metric, c.cycle, t.level, p.label, p.text))
        if t.tags:
            self.tags_add.update(t.tags)
        if t.level:
            self._climb(view, t.level, c.at, p.cause)

    def _manual(self, view: ClockView, c: Crossing) -> None:
        self._fire(c.key)
        text = wording.manual_climb(self.rules.escalation.tag)
        state = self._active_state(view)
        self._note(Reason("escalation.tag", text, "escalation"),
                   TimelineEvent(TimelineKind.ESCALATION, c.at, c.key, level=None, threshold="manual", text=text))
        self._climb(view, (state.level if state else 0) + 1, c.at, wording.manual_cause(self.rules.escalation.tag))

    def _push(self, view: ClockView, c: Crossing, p: Push) -> None:
        self._fire(c.key)
        self._note(Reason(p.rule, wording.at_text(p.text, c.at), "escalation"),
                   TimelineEvent(p.kind, c.at, c.key, level=p.level, threshold=p.name, text=p.text))
        self.tags_add |= set(p.tags)
        if p.priority is not None:
            current = higher(view.priority, self.priority)
            if higher(current, p.priority) != current:
                self.priority, self.priority_rule = p.priority, p.priority_rule or f"{p.rule}.priority"
                if self.changed_at is None:
                    self.changed_at = c.at
        state = self._active_state(view)
        self._climb(view, p.level if p.level else (state.level if state else 0) + 1, c.at, p.text)

    def _start(self, view: ClockView, at: datetime) -> EscalationState | None:
        state = self._active_state(view)
        if state is not None:
            return state
        name = self.rules.ladder_of(self.team)
        if name is None:
            self._note(Reason("escalation.ladder", wording.no_ladder(self.team), "escalation"))
            return None
        ladder = LadderSnapshot.take(self.rules, name)
        self.state = EscalationState(ladder, view.cycle, started_at=at, level=0, level_since=at)
        self._note(Reason(f"ladders.{name}", wording.ladder_started(name, ladder.rules_version, at), "escalation"))
        return self.state

    def _climb(self, view: ClockView, to: str | int, at: datetime, cause: str) -> None:
        state = self._start(view, at)
        if state is None:
            return
        ladder = state.ladder
        index = to if isinstance(to, int) else ladder.index(to)
        if index is None:  # the frozen ladder has no such level: one level up
            self._note(Reason(f"ladders.{ladder.name}", wording.not_on_ladder(to, ladder.name, ladder.rules_version),
                              "escalation"))
            index = state.level + 1
        index = min(index, len(ladder.levels) - 1)
        if index <= state.level:
            self._note(Reason(f"ladders.{ladder.name}", wording.already_at(cause, state.current.title), "escalation"))
            return
        level = ladder.levels[index]
        owner, source = level.resolve_owner(self.now)
        self.state = evolved(state, level=index, level_since=at, owner=owner, owner_source=source, acked_at=None,
                             climbs=(*state.climbs, Climb(at, index, cause)))
        self.reached.append(index)
        rule = f"ladders.{ladder.name}.levels[{index}]"
        text = wording.level_reached(level, index, len(ladder.levels), ladder.name, ladder.rules_version, cause,
                                     owner, source)
        self._note(Reason(rule, text, "escalation"),
                   TimelineEvent(TimelineKind.LEVEL_CHANGE, at, f"level:{state.cycle}:{index}:{level.name}",
                                 level=level.name, text=text))
        self.tags_add |= set(level.tags)
        current = higher(view.priority, self.priority)
        raises = higher(current, level.priority) != current  # never lowered
        if raises:
            self.priority, self.priority_rule = level.priority, f"{rule}.priority"
        moves = level.team is not None and level.target(self.connector)[0] is not None and level.team != view.team
        if self.changed_at is None and (raises or moves):
            self.changed_at = at

    def _timeout(self, view: ClockView, state: EscalationState) -> tuple[datetime | None, datetime | None]:
        """(when the current level's `climb_after` runs out, the agent reply that stops it in time)."""
        level = state.current
        if level.climb_after is None or state.acked_at is not None or state.level >= len(state.ladder.levels) - 1:
            return None, None
        res = view.resolution
        if res is None or not _measured(res):
            return None, None
        since = state.level_since
        if level.climb_clock == "wall":
            at = since + level.climb_after
        else:
            at = active_add(res.segments[-1].calendar, since, level.climb_after, list(res.pauses))
        reply = self.last_reply_at
        if reply is not None and since <= reply <= at:
            return None, reply
        return at, None

    def _timeouts(self, view: ClockView, until: datetime) -> None:
        for _ in range(64):
            state = self._active_state(view)
            if state is None or state.current.climb_after is None:
                return  # no timeout (asked before each crossing: the common answer first)
            at, acked = self._timeout(view, state)
            if acked is not None:
                self.state = evolved(state, acked_at=acked)
            if at is None or at > until:
                return
            level = state.current
            self._climb(view, state.level + 1, at, wording.timeout_cause(level.climb_after, level.title))

    def _replies(self, view: ClockView) -> None:
        state = self._active_state(view)
        reply = self.last_reply_at
        if state is None or reply is None or state.level == 0:
            return
        if state.first_reply_at is None and reply >= state.started_at:
            state = evolved(state, first_reply_at=reply)
            self.timeline.append(TimelineEvent(
                TimelineKind.FIRST_RESPONSE_AFTER_ESCALATION, reply, f"first_response_after_escalation:{state.cycle}",
                level=state.current.name, text=wording.first_reply_after(reply - state.started_at)))
        if state.acked_at is None and reply >= state.level_since:
            state = evolved(state, acked_at=reply)
        self.state = state

    # -- the end of the decision --

    def finish(self, view: ClockView, priority: str) -> Outcome:
        """Milestones, note texts, the owner's assignment and the next action time."""
        self._tech_lead(view, priority)
        self._queued(view)
        notes = self._threshold_notes(view)
        state = self._active_state(view)
        group_id = assignee_id = team = None
        level_rule = ""
        followers: set[str] = set()
        if self.reached and state is not None:
            level = state.current
            level_rule = f"ladders.{state.ladder.name}.levels[{state.level}]"
            group_id, assignee_id = level.target(self.connector)
            owner_id = state.owner.id_for(self.connector) if state.owner else None
            assignee_id = owner_id or assignee_id
            team = level.team if group_id is not None else None
            for index in self.reached:
                followers |= {i for p in state.ladder.levels[index].followers if (i := p.id_for(self.connector))}
            notes.append(self._level_note(state))
        if state is not None and state.level > 0:
            self._note(Reason(f"ladders.{state.ladder.name}", wording.escalated_state(state), "escalation"))
        alerts, look = self._alerts(view), self._next_action(view, priority)
        effects = Effects(actions=(*notes, *self.actions, *alerts),
                          timeline=tuple(sorted(self.timeline, key=_at)), reasons=tuple(self.reasons),
                          fired=tuple(self.fired_now), next_at=look.next_at, next_what=look.next_what)
        escalated = state is not None and state.level > 0
        return Outcome(
            effects=effects, state=self.state, priority=self.priority, priority_rule=self.priority_rule,
            level_rule=level_rule, team=team, group_id=group_id, assignee_id=assignee_id,
            tags_add=frozenset(self.tags_add), followers_add=frozenset(followers),
            level=state.current.name if escalated else None,
            owner=state.owner.name if escalated and state.owner else None, climbed=bool(self.reached))

    def _alerts(self, view: ClockView) -> list[Action]:
        """The alerts outside the helpdesk (rules.alerts) of the level reached and the thresholds crossed now;
        times in the recipient's calendar zone, else the team's (as the ticket's notes)."""
        if self.rules.alerts is None:
            return []
        state, manager, res = self._active_state(view), self._account_manager(), view.resolution
        zone = self.rules.note_zone(view.team)
        actions = []
        if self.reached and state is not None:
            actions += level_alerts(self.ticket, self.rules, state, self.now, zone, manager,
                                    res.deadline.due_at if res is not None else None)
        for c in self.crossings:
            t = c.threshold
            breach = t.is_breach or t is BREACH_POINT
            if c.metric is None or c.run is None or (t.level and not breach):
                continue  # a climbing threshold is told as its level change
            run = view.runs.get(c.metric, c.run)
            actions += threshold_alerts(self.ticket, self.rules, c.key, c.metric, breach, run.deadline.due_at, state,
                                        self.now, zone, manager)
        return actions

    def _threshold_notes(self, view: ClockView) -> list[Action]:
        notes: list[Action] = []
        by_metric: dict[str, list[Crossing]] = {}
        for c in self.crossings:
            by_metric.setdefault(c.metric, []).append(c)  # type: ignore[arg-type]
        for metric in METRICS:
            mine = by_metric.get(metric)
            if not mine:
                continue
            if self.reached and any(c.threshold.level for c in mine):
                continue  # the escalation line tells it (its cause names the threshold)
            shown = [c for c in mine if c.threshold.note and c.threshold is not BREACH_POINT]
            if not shown:
                continue
            top = shown[-1]
            t, run = top.threshold, view.runs.get(metric, top.run)
            also = [wording.threshold_text(c.threshold) for c in mine if c is not top]
            state = self._active_state(view)
            level = wording.threshold_note_level(t.level, bool(self.reached),
                                                 state.current.title if state is not None else None)
            text = wording.threshold_note(t, metric, run.deadline, also, level)
            notes.append(Action(top.key, ActionKind.NOTE, text=text))
        return notes

    def _level_note(self, state: EscalationState) -> Action:
        passed = [state.ladder.levels[i].title for i in self.reached[:-1]]
        team = state.current.team
        text = wording.level_note(state, passed, self.rules.team_title(team) if team else None)
        return Action(f"level:{state.cycle}:{state.level}:{state.current.name}", ActionKind.NOTE, text=text)

    # -- milestones --

    def _qualifying_since(self, view: ClockView, priorities: list[str], start: datetime) -> datetime | None:
        """Since when the priority has been one of `priorities` without a break (None: it is not)."""
        since = None
        for basis in reversed(view.memory.bases):
            if basis.priority not in priorities:
                break
            since = basis.at
        return max(since, start) if since is not None else None

    def _tech_lead_at(self, view: ClockView, priority: str) -> tuple[datetime, str] | None:
        ms = self.rules.milestones.tech_lead
        res = view.resolution
        if ms is None or res is None or not _measured(res) or priority not in ms.priorities:
            return None
        key = f"milestone:tech_lead:{res.deadline.cycle}"
        if key in self.fired:
            return None
        since = self._qualifying_since(view, ms.priorities, res.deadline.started_at) or self.now
        if ms.clock == "wall":
            at = res.deadline.started_at + ms.after
        else:
            at = self._reached_at(res, ms.after)
        return max(at, since), key

    def _tech_lead(self, view: ClockView, priority: str) -> None:
        due = self._tech_lead_at(view, priority)
        ms = self.rules.milestones.tech_lead
        if due is None or due[0] > self.now or ms is None:
            return
        at, key = due
        cal = self.rules.calendar(view.calendar)
        res = view.runs["resolution"]
        self._fire(key)
        manager = self._account_manager()
        state = self._active_state(view)
        told = manager.name if manager and ms.notify_account_manager else None
        after, group_id, assignee_id, note = self.rules.once(
            ("tech_lead", self.connector, priority, told), lambda: _tech_lead_texts(self.rules, self.connector,
                                                                                    priority, told))
        values = {
            "ticket": self.ticket.key, "ticket_id": str(self.ticket.ticket_id), "subject": self.ticket.subject or "",
            "priority": priority, "opened_at": wording.local_text(res.deadline.started_at, cal),
            "due_at": wording.local_text(res.deadline.due_at, cal), "after": after,
            "team": ms.team, "account_manager": manager.name if manager else "-",
            "escalation_owner": state.owner.name if state is not None and state.owner else "-",
        }
        self.actions.append(Action(key, ActionKind.FOLLOW_UP, text=note, subject=ms.subject.format_map(values),
                                   body=ms.body.format_map(values), group_id=group_id, assignee_id=assignee_id,
                                   priority=ms.priority or priority))
        if manager is not None and ms.notify_account_manager:
            self.actions.append(Action(
                f"{key}:account_manager", ActionKind.NOTIFY, text=ms.notify_text.format_map(values),
                person_id=manager.id_for(self.connector), person_name=manager.name, email=manager.email,
                digest_key=f"{manager.key}:milestone:tech_lead"))
        self._note(Reason("milestones.tech_lead", note, "escalation"),
                   TimelineEvent(TimelineKind.MILESTONE, at, key, "resolution", res.deadline.cycle,
                                 threshold="tech_lead", text=note))

    def _account_manager(self) -> PersonRef | None:
        """The case's account manager (worked out once per decision: the milestone and the alerts ask)."""
        if self._manager is not None:
            return self._manager[0]
        am = self.rules.account_managers
        org = self.ticket.organization_id
        key = am.organizations.get(str(org)) if org is not None else None
        if key is None:
            tier = resolve_tier(self.ticket, self.rules)[0]
            key = am.tiers.get(tier) if tier else None
        key = key or am.default
        self._manager = (PersonRef.of(self.rules, key) if key else None,)
        return self._manager[0]

    def _queued(self, view: ClockView) -> None:
        mq = self.rules.milestones.queued
        key = "milestone:queued:1"
        bases = view.memory.bases
        if mq is None or key in self.fired or not bases or not view.running:
            return
        first = bases[0]
        if first.priority not in mq.priorities or (first.calendar not in self.rules.calendars
                                                   and first.calendar != "24x7"):
            return
        cal = self.rules.calendar(first.calendar)
        opened = first.at
        if cal.is_open(opened):
            return
        starts = cal.next_open(opened)
        if not self.first_sight and self.now >= starts:
            return  # an older case seen for the first time under these rules: not news any more
        self._fire(key)
        self.tags_add.add(mq.tag)
        text = wording.queued_note(starts, cal, self.now)
        if mq.note:
            self.actions.append(Action(key, ActionKind.NOTE, text=text))
        self._note(Reason("milestones.queued", text, "tags"),
                   TimelineEvent(TimelineKind.MILESTONE, opened, key, "resolution", 1, threshold="queued", text=text))

    # -- when to look again --

    def _next_action(self, view: ClockView, priority: str) -> Effects:
        """The next look (its `next_at` and `next_what`): the earliest instant after `now` a threshold, the
        tech-lead milestone or a level timeout falls due, and which."""
        look = Effects()
        if not view.running:
            return look
        for metric, run in view.runs.items():
            if not _measured(run) or view.paused(self.rules, metric):
                continue
            prefix = f"threshold:{metric}:{cycle_label(run)}:"
            # The earliest point still to come: points reached with more working time are reached no sooner.
            for point in sorted_points(self.rules, metric, run.deadline.target):
                if prefix + point.label not in self.fired:
                    at = self._reached_at(run, point.used)
                    if at > self.now:
                        look = look.add(next_at=at, next_what=point.ahead)
                        break
        tech_lead = self._tech_lead_at(view, priority)
        ms = self.rules.milestones.tech_lead
        if (tech_lead is not None and ms is not None and tech_lead[0] > self.now
                and (ms.clock == "wall" or not view.paused(self.rules, "resolution"))):
            look = look.add(next_at=tech_lead[0], next_what=wording.NEXT_TECH_LEAD)
        state = self._active_state(view)
        if state is not None and (state.current.climb_clock == "wall" or not view.paused(self.rules, "resolution")):
            timeout, _ = self._timeout(view, state)
            if timeout is not None and timeout > self.now:
                look = look.add(next_at=timeout, next_what=wording.NEXT_LEVEL)
        return look


def _tech_lead_texts(rules: Rules, connector: str, priority: str, manager: str | None
                     ) -> tuple[str, str | None, str | None, str]:
    """What the tech-lead milestone writes that depends on the rules alone: its lead time in words, the
    follow-up's group and assignee, the note (per priority and account manager told)."""
    ms = rules.milestones.tech_lead
    assert ms is not None
    target = getattr(rules.teams[ms.team], connector, None)
    group_id, assignee_id = (target.group_id, target.assignee_id) if target is not None else (None, None)
    note = wording.tech_lead_note(priority, ms.after, ms.clock == "wall", rules.team_title(ms.team), manager)
    return wording.format_duration(ms.after), group_id, assignee_id, note
