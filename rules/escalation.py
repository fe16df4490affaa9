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

Other climbs come in as `Push`es: escalation triggers and vendor SLA risks (`rules.people`); they
fire once (their key joins `CaseMemory.fired`), are ordered with the thresholds by instant, and
climb to a named level or one level up.

Milestones (seed 001): `tech_lead` (a case of the listed priorities unresolved `after` a while
asks for a linked follow-up ticket and notifies the account manager) and `queued` (a case that
arrives while its calendar is closed gets a tag and a note saying when its clock starts).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from rules.calendar import ZERO, WorkCalendar
from rules.decision import (BREACH, ESCALATION, FIRST_RESPONSE_AFTER_ESCALATION, FOLLOW_UP, LEVEL_CHANGE,
                            MILESTONE, NOTE, NOTIFY, STOPPED, WARNING, Action, CaseMemory, Climb, EscalationState,
                            Reason, TimelineEvent)
from rules.ladder import LadderSnapshot, PersonRef
from rules.metrics import MetricRun, _used, active_add
from rules.policy import resolve_tier
from rules.schema import PRIORITIES, Rules, Threshold

BREACH_POINT = Threshold(percent=100)
METRIC_NAMES = {"first_response": "first response", "next_update": "next update", "resolution": "resolution"}


def higher(a: str, b: str | None) -> str:
    """The higher of two priorities (None: no opinion)."""
    return a if b is None or PRIORITIES.index(a) >= PRIORITIES.index(b) else b


def format_duration(duration: timedelta) -> str:
    """timedelta(hours=1, minutes=30) → '1 h 30 min'; whole hours stay hours ('168 h')."""
    seconds = int(abs(duration.total_seconds()))
    hours, minutes = divmod(seconds // 60, 60)
    text = " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if p)
    return ("-" if duration < ZERO else "") + (text or f"{seconds} s")


def local_text(instant: datetime, cal: WorkCalendar) -> str:
    """`Mon 2026-06-01 10:00 Europe/Berlin`."""
    return f"{instant.astimezone(cal.tz):%a %Y-%m-%d %H:%M} {cal.timezone_name}"


# --- where a budget is reached ------------------------------------------------------------

def budget_of(threshold: Threshold, target: timedelta) -> timedelta:
    """The working time used when `threshold` is reached, for a metric with `target`."""
    options = []
    if threshold.percent is not None:
        micros = Fraction(target // timedelta(microseconds=1)) * Fraction(threshold.percent) / 100
        options.append(timedelta(microseconds=round(micros)))
    if threshold.before is not None:
        options.append(max(target - threshold.before, ZERO))
    return min(options)


def reached_at(run: MetricRun, used: timedelta) -> datetime:
    """The instant at which the run's used working time reaches `used` (pauses excluded).

    Computed exactly as the deadline is (`used` = target gives `due_at`), honouring rederive
    and carry; a point the current basis puts before its own start is reached at that start.
    """
    d, segments, pauses = run.deadline, list(run.segments), list(run.pauses)
    last = segments[-1]
    if last.mode == "carry":
        need = used - _used(segments[:-1], d.started_at, last.start, pauses)
        at = last.start if need <= ZERO else active_add(last.calendar, last.start, need, pauses)
    else:
        at = active_add(last.calendar, d.started_at, used, pauses)
    return at if last.mode == "start" else max(at, last.start)


def cycle_label(run: MetricRun) -> str:
    d = run.deadline
    return f"{d.cycle}@{int(d.started_at.timestamp())}" if d.metric == "next_update" else str(d.cycle)


def thresholds_of(rules: Rules, metric: str) -> list[tuple[int | None, Threshold]]:
    """(index in the rules file, threshold), the silent breach point added when none is configured."""
    items: list[tuple[int | None, Threshold]] = list(enumerate(getattr(rules.escalation.thresholds, metric)))
    if not any(t.label == BREACH_POINT.label for _, t in items):
        items.append((None, BREACH_POINT))
    return items


def threshold_text(threshold: Threshold) -> str:
    parts = []
    if threshold.percent is not None:
        parts.append(f"{threshold.percent:g} %")
    if threshold.before is not None:
        parts.append(f"{format_duration(threshold.before)} before the deadline")
    return " or ".join(parts)


@dataclass(frozen=True)
class Push:
    """A climb asked for by something other than a threshold or the tag: an escalation trigger
    (seed 003) or a vendor SLA risk (seed 000). It fires once (`key` joins `CaseMemory.fired`)."""

    at: datetime
    key: str
    kind: str  # the timeline kind: trigger | vendor_risk
    name: str  # the trigger's name, or the risk's cause (TimelineEvent.threshold)
    rule: str  # key path in the rules file
    text: str
    level: str | None = None  # a ladder level to climb to (None: one level up)
    priority: str | None = None  # a priority it raises to (never lowers)
    priority_rule: str = ""  # key path of that priority (default: `<rule>.priority`)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Crossing:
    """A threshold (or a manual request, or a push) reached in this decision."""

    at: datetime
    key: str
    metric: str | None = None
    cycle: int | None = None
    threshold: Threshold | None = None
    index: int | None = None  # position in escalation.thresholds.<metric>
    run: MetricRun | None = None
    used: timedelta = ZERO  # the working time at which it is reached (orders points reached together)
    push: Push | None = None


# --- the escalator ----------------------------------------------------------------------

class Escalator:
    """Works out one decision's escalation. `run` may be called again with a re-derived clock
    (after a level raised the priority): what fired stays fired, only new crossings fire."""

    def __init__(self, ticket: Any, rules: Rules, now: datetime, memory: CaseMemory, *, team: str | None,
                 manual_stamp: datetime | None, manual_at: datetime, first_sight: bool,
                 pushes: tuple[Push, ...] = ()):
        self.ticket, self.rules, self.now = ticket, rules, now
        self.pushes = pushes
        self.connector: str = ticket.connector
        self.team = team
        self.manual_stamp, self.manual_at, self.first_sight = manual_stamp, manual_at, first_sight
        self.fired: list[str] = list(memory.fired)
        self.state: EscalationState | None = memory.escalation
        self.last_reply_at = memory.last_reply_at
        self.timeline: list[TimelineEvent] = []
        self.reasons: list[Reason] = []
        self.crossings: list[Crossing] = []
        self.reached: list[int] = []  # level indexes reached in this decision, in order
        self.priority: str | None = None  # the floor the reached levels raise the priority to
        self.priority_rule: str = ""
        self.changed_at: datetime | None = None  # first reach that changes priority or team
        self.tags_add: set[str] = set()
        self.actions: list[Action] = []

    # -- helpers --

    def _fire(self, key: str) -> None:
        if key not in self.fired:
            self.fired.append(key)

    def _cycle(self, view: Any) -> int:
        res = view.runs.get("resolution")
        return res.deadline.cycle if res is not None else 1

    def _running(self, view: Any) -> bool:
        res = view.runs.get("resolution")
        return res is not None and res.deadline.state != STOPPED

    def _paused(self, metric: str, view: Any) -> bool:
        return view.memory.last_status in self.rules.pause_statuses(metric)

    def _active_state(self, view: Any) -> EscalationState | None:
        """The escalation of the current cycle (an older cycle's escalation is over)."""
        return self.state if self.state is not None and self.state.cycle == self._cycle(view) else None

    def level_team(self) -> str | None:
        """The team of the level reached in this decision, when it has a group in this helpdesk."""
        if not self.reached or self.state is None:
            return None
        level = self.state.current
        return level.team if level.team and level.target(self.connector)[0] is not None else None

    # -- the pass --

    def run(self, view: Any, manual: bool) -> None:
        """Fire what has been reached by `now`, in the order it was reached."""
        events: list[Crossing] = []
        if manual:
            stamp = self.manual_stamp or self.now
            key = f"manual:{stamp.isoformat()}"
            if key not in self.fired:
                events.append(Crossing(self.manual_at, key))
        for push in self.pushes:
            if push.key not in self.fired and push.at <= self.now and self._running(view):
                events.append(Crossing(push.at, push.key, push=push))
        for metric, run in view.runs.items():
            d = run.deadline
            if run.frozen or d.state == STOPPED:
                continue
            for index, threshold in thresholds_of(self.rules, metric):
                key = f"threshold:{metric}:{cycle_label(run)}:{threshold.label}"
                if key in self.fired:
                    continue
                at = reached_at(run, budget_of(threshold, d.target))
                if at <= self.now:
                    events.append(Crossing(at, key, metric, d.cycle, threshold, index, run,
                                           budget_of(threshold, d.target)))
        events.sort(key=lambda e: (e.at, e.used, e.key))
        for event in events:
            self._timeouts(view, event.at)
            if event.push is not None:
                self._push(view, event)
            elif event.threshold is None:
                self._manual(view, event)
            else:
                self._threshold(view, event)
        self._timeouts(view, self.now)
        self._replies(view)

    def _threshold(self, view: Any, c: Crossing) -> None:
        self._fire(c.key)
        self.crossings.append(c)
        t = c.threshold
        rule = f"escalation.thresholds.{c.metric}[{c.index}]" if c.index is not None else f"sla.targets ({c.metric})"
        kind = BREACH if t.is_breach or t is BREACH_POINT else ESCALATION if t.level else WARNING
        d = c.run.deadline
        text = (f"{METRIC_NAMES[c.metric]} reached {threshold_text(t)} of its {format_duration(d.target)} target"
                + (f" → level {t.level}" if t.level else ""))
        self.timeline.append(TimelineEvent(kind, c.at, c.key, c.metric, c.cycle, t.level, t.label, text))
        self.reasons.append(Reason(rule, f"{text} at {c.at:%Y-%m-%d %H:%M} UTC", "escalation"))
        self.tags_add |= set(t.tags)
        if t.level:
            self._climb(view, t.level, c.at, f"{METRIC_NAMES[c.metric]} reached {threshold_text(t)}")

    def _manual(self, view: Any, c: Crossing) -> None:
        self._fire(c.key)
        text = f"escalation asked by tag {self.rules.escalation.tag}: one level up the ladder"
        state = self._active_state(view)
        self.timeline.append(TimelineEvent(ESCALATION, c.at, c.key, level=None, threshold="manual", text=text))
        self.reasons.append(Reason("escalation.tag", text, "escalation"))
        self._climb(view, (state.level if state else 0) + 1, c.at,
                    f"escalation asked by tag {self.rules.escalation.tag}")

    def _push(self, view: Any, c: Crossing) -> None:
        p = c.push
        self._fire(c.key)
        self.timeline.append(TimelineEvent(p.kind, c.at, c.key, level=p.level, threshold=p.name, text=p.text))
        self.reasons.append(Reason(p.rule, f"{p.text} at {c.at:%Y-%m-%d %H:%M} UTC", "escalation"))
        self.tags_add |= set(p.tags)
        if p.priority is not None:
            current = higher(view.priority, self.priority)
            if higher(current, p.priority) != current:
                self.priority, self.priority_rule = p.priority, p.priority_rule or f"{p.rule}.priority"
                if self.changed_at is None:
                    self.changed_at = c.at
        state = self._active_state(view)
        self._climb(view, p.level if p.level else (state.level if state else 0) + 1, c.at, p.text)

    def _start(self, view: Any, at: datetime) -> EscalationState | None:
        state = self._active_state(view)
        if state is not None:
            return state
        name = self.rules.ladder_of(self.team)
        if name is None:
            self.reasons.append(Reason("escalation.ladder", "no ladder for team "
                                       f"{self.team or '-'}: the escalation stays a note", "escalation"))
            return None
        ladder = LadderSnapshot.take(self.rules, name)
        self.state = EscalationState(ladder, self._cycle(view), started_at=at, level=0, level_since=at)
        self.reasons.append(Reason(f"ladders.{name}", f"escalation started on ladder {name}, frozen from rules "
                                   f"{ladder.rules_version} at {at:%Y-%m-%d %H:%M} UTC", "escalation"))
        return self.state

    def _climb(self, view: Any, to: str | int, at: datetime, cause: str) -> None:
        state = self._start(view, at)
        if state is None:
            return
        levels = state.ladder.levels
        index = to if isinstance(to, int) else state.ladder.index(to)
        if index is None:  # the frozen ladder has no such level: one level up
            self.reasons.append(Reason(f"ladders.{state.ladder.name}", f"level {to} is not on the frozen ladder "
                                       f"{state.ladder.name} (rules {state.ladder.rules_version}): one level up",
                                       "escalation"))
            index = state.level + 1
        index = min(index, len(levels) - 1)
        if index <= state.level:
            self.reasons.append(Reason(f"ladders.{state.ladder.name}", f"{cause}: already at level "
                                       f"{state.current.title}", "escalation"))
            return
        level = levels[index]
        owner, source = level.resolve_owner(self.now)
        self.state = replace(state, level=index, level_since=at, owner=owner, owner_source=source, acked_at=None,
                             climbs=(*state.climbs, Climb(at, index, cause)))
        self.reached.append(index)
        rule = f"ladders.{state.ladder.name}.levels[{index}]"
        text = (f"level {level.title} ({index + 1} of {len(levels)}) on ladder {state.ladder.name}, frozen from "
                f"rules {state.ladder.rules_version}: {cause}; owner {owner.name if owner else 'none'} ({source})")
        self.timeline.append(TimelineEvent(LEVEL_CHANGE, at, f"level:{state.cycle}:{index}:{level.name}",
                                           level=level.name, text=text))
        self.reasons.append(Reason(rule, text, "escalation"))
        self.tags_add |= set(level.tags)
        current = higher(view.priority, self.priority)
        raises = higher(current, level.priority) != current  # never lowered
        if raises:
            self.priority, self.priority_rule = level.priority, f"{rule}.priority"
        moves = level.team is not None and level.target(self.connector)[0] is not None and level.team != view.team
        if self.changed_at is None and (raises or moves):
            self.changed_at = at

    def _timeout_at(self, view: Any, state: EscalationState) -> datetime | None:
        """When the current level's `climb_after` runs out, unless an agent replied in time."""
        level = state.current
        if level.climb_after is None or state.acked_at is not None or state.level >= len(state.ladder.levels) - 1:
            return None
        res = view.runs.get("resolution")
        if res is None or res.frozen or res.deadline.state == STOPPED:
            return None
        since = state.level_since
        if level.climb_clock == "wall":
            at = since + level.climb_after
        else:
            at = active_add(res.segments[-1].calendar, since, level.climb_after, list(res.pauses))
        reply = self.last_reply_at
        if reply is not None and since <= reply <= at:
            self.state = replace(state, acked_at=reply)
            return None
        return at

    def _timeouts(self, view: Any, until: datetime) -> None:
        for _ in range(64):
            state = self._active_state(view)
            at = self._timeout_at(view, state) if state is not None else None
            if at is None or at > until:
                return
            level = state.current
            self._climb(view, state.level + 1, at, f"no agent reply within {format_duration(level.climb_after)} "
                                                   f"at level {level.title}")

    def _replies(self, view: Any) -> None:
        state = self._active_state(view)
        reply = self.last_reply_at
        if state is None or reply is None or state.level == 0:
            return
        if state.first_reply_at is None and reply >= state.started_at:
            state = replace(state, first_reply_at=reply)
            self.timeline.append(TimelineEvent(
                FIRST_RESPONSE_AFTER_ESCALATION, reply, f"first_response_after_escalation:{state.cycle}",
                level=state.current.name, text=f"first public agent reply {format_duration(reply - state.started_at)} "
                                              "after the escalation started"))
        if state.acked_at is None and reply >= state.level_since:
            state = replace(state, acked_at=reply)
        self.state = state

    # -- the end of the decision --

    def finish(self, view: Any, priority: str) -> "Outcome":
        """Milestones, note texts, the owner's assignment and the next action time."""
        cal = self.rules.calendar(view.calendar)
        self._tech_lead(view, priority, cal)
        self._queued(view)
        notes = self._threshold_notes(cal, view)
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
            notes.append(self._level_note(state, view, cal))
        actions = [*notes, *self.actions]
        if state is not None and state.level > 0:
            owner = state.owner.name if state.owner else "none"
            self.reasons.append(Reason(
                f"ladders.{state.ladder.name}", f"escalated: level {state.current.title} "
                f"({state.level + 1} of {len(state.ladder.levels)}) since {state.level_since:%Y-%m-%d %H:%M} UTC; "
                f"owner {owner}; ladder {state.ladder.name} frozen from rules {state.ladder.rules_version} "
                f"at {state.started_at:%Y-%m-%d %H:%M} UTC", "escalation"))
        return Outcome(
            fired=tuple(self._prune(view)), state=self.state, actions=tuple(actions),
            timeline=tuple(sorted(self.timeline, key=lambda e: e.at)), reasons=tuple(self.reasons),
            priority=self.priority, priority_rule=self.priority_rule, level_rule=level_rule, team=team,
            group_id=group_id,
            assignee_id=assignee_id, tags_add=frozenset(self.tags_add), followers_add=frozenset(followers),
            level=state.current.name if state is not None and state.level > 0 else None,
            owner=state.owner.name if state is not None and state.level > 0 and state.owner else None,
            next_action_at=self._next_action_at(view, priority))

    def _prune(self, view: Any) -> list[str]:
        """Fired keys, without next_update keys of starts that are over (each reply restarts it)."""
        run = view.runs.get("next_update")
        keep = f"threshold:next_update:{cycle_label(run)}:" if run is not None else None
        return [k for k in self.fired if not k.startswith("threshold:next_update:") or (keep and k.startswith(keep))]

    def _threshold_notes(self, cal: WorkCalendar, view: Any) -> list[Action]:
        notes = []
        for metric in ("first_response", "next_update", "resolution"):
            mine = [c for c in self.crossings if c.metric == metric]
            shown = [c for c in mine if c.threshold.note and c.threshold is not BREACH_POINT]
            if not shown:
                continue
            top = shown[-1]
            t, run = top.threshold, view.runs.get(metric, top.run)
            d = run.deadline
            head = "SLA breach" if t.is_breach else "SLA escalation" if t.level else "SLA warning"
            also = [threshold_text(c.threshold) for c in mine if c is not top]
            state = self._active_state(view)
            level = ""
            if t.level and self.reached:
                level = f" → level {t.level}"
            elif t.level and state is not None:
                level = f"; the case is already at level {state.current.title}"
            text = (f"{head}: {METRIC_NAMES[metric]} reached {threshold_text(t)} of its {format_duration(d.target)} "
                    f"target ({format_duration(top.used)} of {d.calendar} working time) at {local_text(top.at, cal)}"
                    + (f" (also passed {', '.join(also)})" if also else "")
                    + f"; due {local_text(d.due_at, cal)} ({d.due_at:%Y-%m-%d %H:%M} UTC)"
                    + level + ".")
            notes.append(Action(top.key, NOTE, text=text))
        return notes

    def _level_note(self, state: EscalationState, view: Any, cal: WorkCalendar) -> Action:
        level, ladder = state.current, state.ladder
        climb = state.climbs[-1]
        owner = f"{state.owner.name} ({state.owner_source})" if state.owner else "none named"
        passed = [ladder.levels[i].title for i in self.reached[:-1]]
        res = view.runs.get("resolution")
        due = (f" Resolution due {local_text(res.deadline.due_at, cal)} ({res.deadline.state})."
               if res is not None else "")
        text = (f"Escalated to {level.title} (level {state.level + 1} of {len(ladder.levels)}, ladder {ladder.name} "
                f"frozen from rules {ladder.rules_version})" + (f" via {', '.join(passed)}" if passed else "")
                + f": {climb.cause}. Escalation owner: {owner}."
                + (f" Team: {level.team}." if level.team else "") + due)
        return Action(f"level:{state.cycle}:{state.level}:{level.name}", NOTE, text=text)

    # -- milestones --

    def _qualifying_since(self, view: Any, priorities: list[str], start: datetime) -> datetime | None:
        """Since when the priority has been one of `priorities` without a break (None: it is not)."""
        since = None
        for basis in reversed(view.memory.bases):
            if basis.priority not in priorities:
                break
            since = basis.at
        return max(since, start) if since is not None else None

    def _tech_lead_at(self, view: Any, priority: str) -> tuple[datetime, str] | None:
        ms = self.rules.milestones.tech_lead
        res = view.runs.get("resolution")
        if ms is None or res is None or res.frozen or res.deadline.state == STOPPED or priority not in ms.priorities:
            return None
        key = f"milestone:tech_lead:{res.deadline.cycle}"
        if key in self.fired:
            return None
        since = self._qualifying_since(view, ms.priorities, res.deadline.started_at) or self.now
        if ms.clock == "wall":
            at = res.deadline.started_at + ms.after
        else:
            at = reached_at(res, ms.after)
        return max(at, since), key

    def _tech_lead(self, view: Any, priority: str, cal: WorkCalendar) -> None:
        due = self._tech_lead_at(view, priority)
        if due is None or due[0] > self.now:
            return
        at, key = due
        ms = self.rules.milestones.tech_lead
        res = view.runs["resolution"]
        self._fire(key)
        manager = self._account_manager()
        state = self._active_state(view)
        values = {
            "ticket": f"{self.connector}:{getattr(self.ticket, 'ticket_id', '')}",
            "ticket_id": str(getattr(self.ticket, "ticket_id", "")),
            "subject": getattr(self.ticket, "subject", "") or "",
            "priority": priority, "opened_at": local_text(res.deadline.started_at, cal),
            "due_at": local_text(res.deadline.due_at, cal), "after": format_duration(ms.after), "team": ms.team,
            "account_manager": manager.name if manager else "-",
            "escalation_owner": state.owner.name if state is not None and state.owner else "-",
        }
        group_id, assignee_id = None, None
        target = getattr(self.rules.teams[ms.team], self.connector, None)
        if target is not None:
            group_id, assignee_id = target.group_id, target.assignee_id
        told = f"; account manager {manager.name} notified" if manager and ms.notify_account_manager else ""
        note = (f"Milestone: {priority} and unresolved after {format_duration(ms.after)} "
                f"({'wall-clock' if ms.clock == 'wall' else 'working time'}) at {local_text(at, cal)}: "
                f"tech-lead follow-up ticket requested for team {ms.team}{told}.")
        self.actions.append(Action(key, FOLLOW_UP, text=note, subject=ms.subject.format_map(values),
                                   body=ms.body.format_map(values), group_id=group_id, assignee_id=assignee_id,
                                   priority=ms.priority or priority))
        if manager is not None and ms.notify_account_manager:
            self.actions.append(Action(f"{key}:account_manager", NOTIFY, text=ms.notify_text.format_map(values),
                                       person_id=manager.id_for(self.connector), person_name=manager.name,
                                       email=manager.email, digest_key=f"{manager.key}:milestone:tech_lead"))
        self.timeline.append(TimelineEvent(MILESTONE, at, key, "resolution", res.deadline.cycle,
                                           threshold="tech_lead", text=note))
        self.reasons.append(Reason("milestones.tech_lead", note, "escalation"))

    def _account_manager(self) -> PersonRef | None:
        am = self.rules.account_managers
        org = getattr(self.ticket, "organization_id", None)
        key = am.organizations.get(str(org)) if org is not None else None
        if key is None:
            tier = resolve_tier(self.ticket, self.rules)[0]
            key = am.tiers.get(tier) if tier else None
        key = key or am.default
        return PersonRef.of(self.rules, key) if key else None

    def _queued(self, view: Any) -> None:
        mq = self.rules.milestones.queued
        key = "milestone:queued:1"
        bases = view.memory.bases
        if mq is None or key in self.fired or not bases or not self._running(view):
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
        text = (f"Arrived {local_text(opened, cal)}, outside the business hours of calendar {cal.name}: queued "
                f"for the next business morning; its SLA clock starts {local_text(starts, cal)} "
                f"({starts:%Y-%m-%d %H:%M} UTC).")
        if mq.note:
            self.actions.append(Action(key, NOTE, text=text))
        self.timeline.append(TimelineEvent(MILESTONE, opened, key, "resolution", 1, threshold="queued", text=text))
        self.reasons.append(Reason("milestones.queued", text, "tags"))

    # -- when to look again --

    def _next_action_at(self, view: Any, priority: str) -> datetime | None:
        if not self._running(view):
            return None
        candidates: list[datetime] = []
        for metric, run in view.runs.items():
            d = run.deadline
            if run.frozen or d.state == STOPPED or self._paused(metric, view):
                continue
            for _, threshold in thresholds_of(self.rules, metric):
                if f"threshold:{metric}:{cycle_label(run)}:{threshold.label}" not in self.fired:
                    candidates.append(reached_at(run, budget_of(threshold, d.target)))
        tech_lead = self._tech_lead_at(view, priority)
        if tech_lead is not None and (self.rules.milestones.tech_lead.clock == "wall"
                                      or not self._paused("resolution", view)):
            candidates.append(tech_lead[0])
        state = self._active_state(view)
        if state is not None and (state.current.climb_clock == "wall" or not self._paused("resolution", view)):
            saved = self.state
            timeout = self._timeout_at(view, state)
            self.state = saved  # a look only
            if timeout is not None:
                candidates.append(timeout)
        future = [c for c in candidates if c > self.now]
        return min(future) if future else None


@dataclass(frozen=True)
class Outcome:
    """What the escalation adds to a decision."""

    fired: tuple[str, ...]
    state: EscalationState | None
    actions: tuple[Action, ...]
    timeline: tuple[TimelineEvent, ...]
    reasons: tuple[Reason, ...]
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
    next_action_at: datetime | None
