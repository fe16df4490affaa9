"""`explain_clock`: the SLA clock of one ticket in plain lines (`slaclock explain` prints them)."""
from __future__ import annotations

from datetime import datetime, timedelta

from rules.calendar import ZERO, WorkCalendar, utc_instant
from rules.decision import BasisMode, CaseMemory, Deadline, Decision
from rules.attribution import holder_line, resolution_calendar, time_by_holder
from rules.engine import clock_view
from rules.facts import TicketFacts
from rules.metrics import MetricRun
from rules.schema import Rules
from rules.wording import count, format_duration

MAX_DAY_LINES = 12  # a 30-day target spans ~130 days: show the first ones, then a count


def _local(instant: datetime, cal: WorkCalendar) -> str:
    return f"{instant.astimezone(cal.tz):%Y-%m-%d %H:%M} {cal.timezone_name}"


def _utc(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def _counted(cal: WorkCalendar, start: datetime, end: datetime, pauses) -> list[str]:
    """Working periods counted between start and end, one line per local day."""
    days: dict[str, list[str]] = {}
    totals: dict[str, timedelta] = {}
    for opens, closes in cal.periods(start, end):
        pieces = [(opens, closes)]
        for p_start, p_end in pauses:  # cut the pauses out
            pieces = [part for a, b in pieces
                      for part in ((a, min(b, p_start)), (max(a, p_end), b)) if part[1] > part[0]]
        for a, b in pieces:
            local_a, local_b = a.astimezone(cal.tz), b.astimezone(cal.tz)
            key = f"{local_a:%a %Y-%m-%d}"
            days.setdefault(key, []).append(f"{local_a:%H:%M}-{local_b:%H:%M}")
            totals[key] = totals.get(key, ZERO) + (b - a)
    lines = [f"    counted {day}: {', '.join(spans)} ({format_duration(totals[day])})" for day, spans in days.items()]
    if len(lines) > MAX_DAY_LINES:
        rest = sum(list(totals.values())[MAX_DAY_LINES:], ZERO)
        lines = lines[:MAX_DAY_LINES] + [f"    … and {len(lines) - MAX_DAY_LINES} more days ({format_duration(rest)})"]
    return lines


def _skipped(cal: WorkCalendar, start: datetime, end: datetime) -> list[str]:
    """Holidays and closures between two instants listed; weekly days off counted."""
    day, last = cal.local_date(start), cal.local_date(end)
    listed, days_off = [], 0
    while day <= last:
        why = cal.closed_reason(day)
        if why and why.startswith("no hours"):
            days_off += 1
        elif why:
            listed.append(f"{day:%a %Y-%m-%d} ({why})")
        day += timedelta(days=1)
    lines = [f"    skipped: {'; '.join(listed)}"] if listed else []
    if days_off:
        lines.append(f"    skipped {count(days_off, 'weekly day')} off")
    return lines


def _outcome(d: Deadline) -> str:
    return "not measured" if d.met is None else "met" if d.met else "missed"


def _metric_lines(name: str, run: MetricRun, rules: Rules, now: datetime) -> list[str]:
    d = run.deadline
    head = (f"{name}, cycle {d.cycle}: target {format_duration(d.target)} ({d.rule}) "
            f"from {_utc(d.started_at)}")
    if run.frozen:
        return [head, f"    frozen result: computed under rules {d.rules_version} on calendar {d.calendar}; "
                      f"stopped {_utc(d.stopped_at)}, due {_utc(d.due_at)}, {_outcome(d)}"]
    cal = run.segments[-1].calendar
    lines = [head]
    if len(run.segments) > 1:
        steps = "; ".join(f"{_utc(s.start)} {s.basis.priority}/{s.basis.tier or '-'}/{s.basis.team or '-'}/"
                          f"{s.basis.calendar} ({s.mode})" for s in run.segments)
        lines.append(f"    basis changes: {steps}")
        if run.segments[-1].mode == BasisMode.CARRY:
            lines.append(f"    carried over: working time used before {_utc(run.segments[-1].start)} counts "
                         "against the new target")
    count_from = run.segments[-1].start if run.segments[-1].mode == BasisMode.CARRY else d.started_at
    lines += _counted(cal, count_from, d.stopped_at or d.due_at, run.pauses)
    for p_start, p_end in run.pauses:
        ongoing = " (ongoing)" if p_end >= now and d.stopped_at is None else ""
        lines.append(f"    paused {_local(p_start, cal)} → {_local(p_end, cal)}{ongoing}: "
                     f"{format_duration(cal.elapsed(p_start, p_end))} of working time not counted")
    lines += _skipped(cal, d.started_at, d.stopped_at or d.due_at)
    stopped = f"; stopped {_utc(d.stopped_at)} ({_outcome(d)})" if d.stopped_at else ""
    lines.append(f"    due {_local(d.due_at, cal)} = {_utc(d.due_at)}; {d.state}; used "
                 f"{format_duration(d.used)} of {format_duration(d.target)}{stopped}; "
                 f"rules {d.rules_version}, calendar {d.calendar}")
    return lines


def _escalation_lines(decision: Decision) -> list[str]:
    """Where the case stands on its frozen ladder, what has fired, when slaclock looks again."""
    lines = []
    state = decision.memory.escalation
    if state is not None and decision.escalation_level is not None:
        ladder, level = state.ladder, state.current
        owner = f"{state.owner.name} ({state.owner_source})" if state.owner else "none named"
        lines.append(f"escalation: level {level.title} ({state.level + 1} of {len(ladder.levels)}) on ladder "
                     f"{ladder.name}, frozen from rules {ladder.rules_version} at {_utc(state.started_at)}; "
                     f"since {_utc(state.level_since)}; owner {owner}")
        lines += [f"    {_utc(c.at)} → {ladder.levels[c.level].title}: {c.cause}" for c in state.climbs]
    if decision.memory.fired:
        lines.append("fired once: " + ", ".join(decision.memory.fired))
    vendor = decision.memory.vendor
    if vendor is not None:
        eta = f"ETA {_utc(vendor.eta)}" if vendor.eta else "no ETA yet"
        outcome = ("; confirmed " + _utc(vendor.confirmed_at) if vendor.confirmed_at else "") + (
            f"; SLA risk {_utc(vendor.risk_at)} ({vendor.risk_cause})" if vendor.risk_at else "")
        clock = f"; ETA due {_utc(vendor.eta_due_at)}" if vendor.clock_running else ""
        ended = f"; ended {_utc(vendor.ended_at)}" if vendor.ended_at else ""
        lines.append(f"vendor {vendor.vendor}: request {vendor.cycle} since {_utc(vendor.requested_at)}; "
                     f"{eta}{clock}{outcome}{ended}")
    customer = decision.memory.customer
    if customer.last_sent_at or customer.held or decision.next_customer_update_at:
        held = "; held: " + ", ".join(f"{h.message} until {_utc(h.release_at)}" for h in customer.held) \
            if customer.held else ""
        last = _utc(customer.last_sent_at) if customer.last_sent_at else "never"
        nxt = _utc(decision.next_customer_update_at) if decision.next_customer_update_at else "none"
        lines.append(f"customer: last told {last}; next update {nxt}{held}")
    if decision.cluster_key:
        lines.append(f"recurring issue: member of cluster {decision.cluster_key}")
    lines.append(f"next action at {_utc(decision.next_action_at)}: {decision.next_action}" if decision.next_action_at
                 else "next action: none pending")
    return lines


def holder_lines(ticket: TicketFacts, rules: Rules, memory: CaseMemory, now: datetime,
                 target: timedelta | None) -> list[str]:
    """Who held the case for how much of the resolution clock (the SLA / OLA split)."""
    cal = resolution_calendar(rules, memory)
    held = time_by_holder(rules, memory, utc_instant(ticket.opened_at), now, cal)
    if not held:
        return []
    return [f"time by holder (resolution clock, calendar {cal.name}):",
            *(f"    {holder_line(h, target)}" for h in held)]


def explain_clock(ticket: TicketFacts, rules: Rules, now: datetime, memory: CaseMemory | None = None,
                  *, agent_reply_at: datetime | None = None) -> list[str]:
    """Which calendar, the intervals counted, pauses and holidays skipped, the deadlines."""
    view, decision = clock_view(ticket, rules, now, memory, agent_reply_at)
    cal = rules.calendar(view.calendar)
    lines = [
        f"clock at {_utc(now)} under rules {rules.version}",
        f"priority {view.priority}; tier {view.tier or '-'}"
        + (f" ({view.tier_why}, {view.tier_rule})" if view.tier else "") + f"; team {view.team or '-'}",
        f"calendar {view.calendar} chosen by {view.calendar_rule}: {cal.describe()}",
        "status history: " + "; ".join(f"{_utc(s.at)} {s.status}" for s in view.memory.statuses),
    ]
    lines += _escalation_lines(decision)
    res = view.resolution
    lines += holder_lines(ticket, rules, view.memory, now, res.deadline.target if res is not None else None)
    for metric, run in view.runs.items():
        lines += _metric_lines(metric, run, rules, now)
    if not view.runs:
        lines.append("no metric measured")
    return lines
