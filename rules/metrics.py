"""Metric clocks: cycles, pauses and each metric's deadline, rebuilt from the case history.

Nothing here is a counter: pauses come from the status history (Zammad's lesson), cycles from
stop/reopen transitions, and the clock's basis (priority, tier, team, calendar) from the basis
history in `CaseMemory`. A stopped clock is frozen in `CaseMemory.results` and never recomputed.

Metrics:
  first_response  cycle 1 only; from opening to the first public agent reply.
  next_update     from the latest public agent reply (or a new cycle's start) to the next one.
  next_reply      from the oldest customer message after an agent reply to the next public agent reply
                  (Zendesk's "next reply time"; next_update is RT's keep-in-loop, from our side).
  resolution      from the cycle start to a stop status (solved/closed).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Mapping, NamedTuple, Sequence

from rules.calendar import ZERO, WorkCalendar
from rules.decision import BasisChange, BasisMode, CaseMemory, Deadline, DeadlineState, StatusChange
from rules.policy import target_for
from rules.schema import METRICS, Rules

Pause = tuple[datetime, datetime]


# --- working time with pauses -----------------------------------------------------------

def normalise(pauses: Sequence[Pause]) -> list[Pause]:
    """Sorted, non-empty, merged pause intervals."""
    merged: list[Pause] = []
    for start, end in sorted(p for p in pauses if p[1] > p[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def paused_time(cal: WorkCalendar, start: datetime, end: datetime, pauses: Sequence[Pause]) -> timedelta:
    """Working time inside pauses between two instants."""
    total = ZERO
    for p_start, p_end in pauses:
        lo, hi = max(p_start, start), min(p_end, end)
        if hi > lo:
            total += cal.elapsed(lo, hi)
    return total


def active_elapsed(cal: WorkCalendar, start: datetime, end: datetime, pauses: Sequence[Pause]) -> timedelta:
    """Working time between two instants, pauses excluded (pauses: normalised)."""
    if end <= start:
        return ZERO
    return cal.elapsed(start, end) - paused_time(cal, start, end, pauses)


def active_add(cal: WorkCalendar, start: datetime, budget: timedelta, pauses: Sequence[Pause]) -> datetime:
    """The instant at which `budget` of unpaused working time has passed since `start`."""
    cursor, remaining = start, budget
    for p_start, p_end in pauses:
        if p_end <= cursor:
            continue
        if p_start > cursor:
            chunk = cal.elapsed(cursor, p_start)
            if remaining <= chunk:
                return cal.add(cursor, remaining)
            remaining -= chunk
        cursor = max(cursor, p_end)
    return cal.add(cursor, remaining)


# --- history → cycles and pauses --------------------------------------------------------

class Cycle(NamedTuple):
    number: int
    started_at: datetime
    stopped_at: datetime | None


def cycles_of(statuses: Sequence[StatusChange], opened_at: datetime, stop: frozenset[str],
              on_reopen: str) -> tuple[list[Cycle], list[Pause]]:
    """The cycles of a case, and (with on_reopen = "resume") the stopped spans to skip as pauses."""
    cycles: list[Cycle] = []
    gaps: list[Pause] = []
    number, started, stopped = 1, opened_at, None
    for change in statuses:
        if change.status in stop:
            stopped = stopped or change.at
        elif stopped is not None:  # reopened
            if on_reopen == "new_cycle":
                cycles.append(Cycle(number, started, stopped))
                number, started = number + 1, change.at
            else:
                gaps.append((stopped, change.at))
            stopped = None
    cycles.append(Cycle(number, started, stopped))
    return cycles, gaps


def pauses_of(statuses: Sequence[StatusChange], pause: frozenset[str], now: datetime) -> list[Pause]:
    """Spans spent in a pause status; an ongoing one ends at `now`."""
    spans: list[Pause] = []
    for change, following in zip(statuses, [*statuses[1:], None]):
        if change.status in pause:
            spans.append((change.at, following.at if following else max(now, change.at)))
    return spans


# --- one metric -------------------------------------------------------------------------

# Cycle, Segment, MetricRun and Span are NamedTuples: a decision makes a dozen or two, and they build thrice as
# fast as frozen dataclasses.
class Segment(NamedTuple):
    """A stretch of one clock under one basis."""

    start: datetime
    basis: BasisChange
    mode: BasisMode
    calendar: WorkCalendar
    target: timedelta | None
    rule: str


class MetricRun(NamedTuple):
    """A metric's deadline and how it was reached (for `explain`)."""

    deadline: Deadline
    pauses: tuple[Pause, ...] = ()
    segments: tuple[Segment, ...] = ()
    frozen: bool = False  # the result was read from memory, not computed


def _segments(rules: Rules, metric: str, start: datetime, end: datetime | None,
              bases: Sequence[BasisChange]) -> list[Segment]:
    first, later = bases[0], []
    for b in bases:
        if b.at <= start:
            first = b
        elif end is None or b.at < end:
            later.append(b)
    fallback = bases[-1].calendar
    out = []
    for i, basis in enumerate([first, *later]):
        calendar, target, rule = _terms(rules, metric, basis.priority, basis.tier, basis.calendar, fallback)
        out.append(Segment(start if i == 0 else basis.at, basis, BasisMode.START if i == 0 else basis.mode,
                           calendar, target, rule))
    return out


def _terms(rules: Rules, metric: str, priority: str, tier: str | None, calendar: str, fallback: str
           ) -> tuple[WorkCalendar, timedelta | None, str]:
    """A basis's calendar, target and the target's rule for one metric (once per rules and key)."""
    key = ("terms", metric, priority, tier, calendar, fallback)
    return rules.once(key, lambda: _build_terms(rules, metric, priority, tier, calendar, fallback))


def _build_terms(rules: Rules, metric: str, priority: str, tier: str | None, calendar: str, fallback: str
                 ) -> tuple[WorkCalendar, timedelta | None, str]:
    own = getattr(rules.sla.metrics, metric).calendar  # the metric's own calendar wins over the precedence
    name = calendar if calendar in rules.calendars or calendar == "24x7" else None
    return (rules.calendar(own or name or fallback), *target_for(rules, metric, priority, tier))


def _used(segments: list[Segment], start: datetime, until: datetime, pauses: list[Pause]) -> timedelta:
    """Working time used by `until`, honouring rederive (recount from start) and carry."""
    used = ZERO
    for seg, following in zip(segments, [*segments[1:], None]):
        if seg.start >= until:
            break
        seg_end = min(following.start, until) if following else until
        if seg.mode == BasisMode.CARRY:
            used += active_elapsed(seg.calendar, seg.start, seg_end, pauses)
        else:  # start / rederive: as if this basis had applied since the cycle start
            used = active_elapsed(seg.calendar, start, seg_end, pauses)
    return used


def run_metric(rules: Rules, metric: str, cycle: int, start: datetime, stop: datetime | None,
               now: datetime, bases: Sequence[BasisChange], pauses: list[Pause],
               paused_now: bool, measured: bool = True) -> MetricRun | None:
    """Compute one metric's clock; None when no target applies at its current priority.
    `measured=False`: the stop is the case ending, not the metric's own event (no result)."""
    segments = _segments(rules, metric, start, stop, bases)
    last = segments[-1]
    if last.target is None:
        return None
    cal = last.calendar
    if last.mode == BasisMode.CARRY:
        remaining = last.target - _used(segments[:-1], start, last.start, pauses)
        due = active_add(cal, last.start, remaining, pauses) if remaining > ZERO else last.start
    else:
        due = active_add(cal, start, last.target, pauses)
    end = stop or max(now, start)
    paused = paused_time(cal, start, end, pauses) if pauses else ZERO
    if len(segments) > 1:
        used = _used(segments, start, end, pauses)
    else:  # one basis, counted from the start (`_used` for a single segment)
        used = cal.elapsed(start, end) - paused if end > start else ZERO
    if stop is not None:
        # Not measured only while it was still in time: a case solved past due without a reply missed it.
        state = DeadlineState.STOPPED if measured or stop > due else DeadlineState.UNMEASURED
    elif due <= now:
        state = DeadlineState.BREACHED
    else:
        state = DeadlineState.PAUSED if paused_now else DeadlineState.ACTIVE
    deadline = Deadline(metric=metric, cycle=cycle, state=state, due_at=due, started_at=start,
                        target=last.target, used=used, paused=paused, calendar=last.calendar.name,
                        rules_version=rules.version, stopped_at=stop, rule=last.rule)
    clipped = tuple((max(a, start), min(b, end)) for a, b in pauses if b > start and a < end) if pauses else ()
    return MetricRun(deadline, clipped, tuple(segments))


def reached_at(run: MetricRun, used: timedelta) -> datetime:
    """The instant at which the run's used working time reaches `used` (pauses excluded).

    Computed exactly as the deadline is (`used` = target gives `due_at`), honouring rederive
    and carry; a point the current basis puts before its own start is reached at that start.
    """
    d, segments, pauses = run.deadline, list(run.segments), list(run.pauses)
    last = segments[-1]
    if last.mode == BasisMode.CARRY:
        need = used - _used(segments[:-1], d.started_at, last.start, pauses)
        at = last.start if need <= ZERO else active_add(last.calendar, last.start, need, pauses)
    else:
        at = active_add(last.calendar, d.started_at, used, pauses)
    return at if last.mode == BasisMode.START else max(at, last.start)


# --- all metrics ------------------------------------------------------------------------

class Span(NamedTuple):
    """Where one metric's clock runs in the current cycle, whatever its basis (priority, team...): from `start` to
    `stopped` (None: it runs), with its pauses. A decision that re-derives its basis re-targets the same spans."""

    metric: str
    cycle: int
    start: datetime
    stopped: datetime | None
    pauses: list[Pause]
    paused_now: bool
    measured: bool
    frozen: Deadline | None  # the stopped result kept in memory (the clock is not run again)


def spans_of(rules: Rules, memory: CaseMemory, opened_at: datetime, now: datetime) -> list[Span]:
    """Every metric's span in the current cycle (first_response: its only cycle), from the status history."""
    statuses = memory.statuses
    stop = rules.once("stop_statuses", lambda: frozenset(rules.sla.stop_statuses))
    cycles, gaps = cycles_of(statuses, opened_at, stop, rules.sla.on_reopen)
    current, first = cycles[-1], cycles[0]
    last_status = memory.last_status
    spans: list[Span] = []
    by_set: dict[frozenset[str], list[Pause]] = {}  # metrics mostly share their pause statuses
    pause_sets = rules.once("pause_sets", lambda: tuple((m, rules.pause_statuses(m)) for m in METRICS))
    for metric, pause_set in pause_sets:
        pauses = by_set.get(pause_set)
        if pauses is None:
            pauses = by_set[pause_set] = normalise(pauses_of(statuses, pause_set, now) + gaps)
        paused_now = last_status in pause_set
        measured = True
        if metric == "first_response":
            cycle, start = first, first.started_at
            reply = memory.first_reply_at
            stops = [t for t in (reply and max(reply, start), first.stopped_at) if t is not None]
            stopped = min(stops) if stops else None
            # Solved before any public reply (and before it was due): the first response never happened, so it
            # is not measured.
            measured = reply is not None and (first.stopped_at is None or reply <= first.stopped_at)
        elif metric == "next_update":
            cycle, reply = current, memory.last_reply_at
            if reply is not None and reply >= current.started_at:
                start = reply if current.stopped_at is None else min(reply, current.stopped_at)
            elif current.number > 1:
                start = current.started_at
            else:
                continue  # the first reply is first_response's business
            stopped = current.stopped_at
        elif metric == "next_reply":
            cycle, start = current, memory.awaiting_reply_since
            if start is None or start < current.started_at or current.stopped_at is not None:
                continue  # nothing unanswered; a reply (or stop) ends it, a new message starts it again
            stopped = None
        else:
            cycle, start, stopped = current, current.started_at, current.stopped_at
        frozen = memory.result(metric, cycle.number) if stopped is not None else None
        kept = frozen if frozen is not None and frozen.stopped_at == stopped else None
        spans.append(Span(metric, cycle.number, start, stopped, pauses, paused_now and stopped is None, measured,
                          kept))
    return spans


def run_spans(rules: Rules, spans: Sequence[Span], bases: Sequence[BasisChange], now: datetime,
              before: Mapping[str, MetricRun] | None = None) -> dict[str, MetricRun]:
    """Each span's run under the basis history `bases`. `before`: the same spans' runs under `bases` without
    its last basis (that basis may only add a segment to them: `_extended`)."""
    runs: dict[str, MetricRun] = {}
    for s in spans:
        if s.frozen is not None:
            runs[s.metric] = MetricRun(s.frozen, frozen=True)
            continue
        run = _extended(rules, before.get(s.metric), bases[-1]) if before is not None else None
        if run is None:
            run = run_metric(rules, s.metric, s.cycle, s.start, s.stopped, now, bases, s.pauses, s.paused_now,
                             s.measured)
        if run is not None:
            runs[s.metric] = run
    return runs


def _extended(rules: Rules, run: MetricRun | None, basis: BasisChange) -> MetricRun | None:
    """`run` with one more basis that counts again from the start (rederive) on the same calendar and target, as
    a level that only moves the team: the same deadline, one more segment. None when `basis` is not such a one."""
    if run is None or run.frozen or basis.mode != BasisMode.REDERIVE:
        return None
    d, last = run.deadline, run.segments[-1]
    if (last.mode == BasisMode.CARRY or basis.at <= d.started_at
            or (d.stopped_at is not None and basis.at >= d.stopped_at)):
        return None
    terms = _terms(rules, d.metric, basis.priority, basis.tier, basis.calendar, basis.calendar)
    if terms != (last.calendar, last.target, last.rule):
        return None
    return MetricRun(d, run.pauses, (*run.segments, Segment(basis.at, basis, BasisMode.REDERIVE, *terms)))


def freeze(memory: CaseMemory, runs: dict[str, MetricRun]) -> tuple[Deadline, ...]:
    """The memory's frozen results updated with this decision's stopped clocks.

    A result whose clock runs again (reopened with on_reopen = "resume") is dropped.
    """
    current = {(r.deadline.metric, r.deadline.cycle): r.deadline for r in runs.values()}
    kept = [d for d in memory.results
            if (d.metric, d.cycle) not in current or current[(d.metric, d.cycle)].stopped_at == d.stopped_at]
    known = {(d.metric, d.cycle) for d in kept}
    added = [d for key, d in current.items() if d.stopped_at is not None and key not in known]
    return tuple(kept + added)
