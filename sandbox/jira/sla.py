"""The sandbox's own JSM SLAs (24/7 calendar), shaped like `GET /rest/servicedeskapi/request/{key}/sla`."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.jira.fields import STATUSES
from sandbox.jira.shapes import date_dto
from sandbox.jira.store import IssueRecord

H = timedelta(hours=1)
# Goals by priority, as a JSM project's default "Time to resolution" / "Time to first response" goals might read.
RESOLUTION_GOALS = {"Highest": 4 * H, "High": 24 * H, "Medium": 72 * H, "Low": 168 * H, "Lowest": 168 * H}
FIRST_RESPONSE_GOALS = {"Highest": H / 2, "High": 2 * H, "Medium": 8 * H, "Low": 24 * H, "Lowest": 24 * H}
# "Time to resolution" stops counting while the request waits on the customer.
PAUSE_STATUSES = frozenset({"Waiting for customer", "Pending"})


def duration_dto(delta: timedelta) -> dict[str, Any]:
    millis = int(delta.total_seconds() * 1000)
    minutes = abs(millis) // 60_000
    return {"millis": millis, "friendly": f"{'-' if millis < 0 else ''}{minutes // 60}h {minutes % 60}m"}


def _paused(issue: IssueRecord, until: datetime) -> timedelta:
    """Time spent in a pause status between creation and `until`."""
    total = timedelta(0)
    history = issue.status_history + [(until, "")]
    for (since, status), (following, _) in zip(history, history[1:]):
        if status in PAUSE_STATUSES and since < until:
            total += min(following, until) - since
    return total


def _cycle(start: datetime, stop: datetime | None, now: datetime, goal: timedelta, paused: timedelta,
           paused_now: bool) -> dict[str, Any]:
    elapsed = (stop or now) - start - paused
    remaining = goal - elapsed
    cycle: dict[str, Any] = {"startTime": date_dto(start)}
    if stop is not None:
        cycle["stopTime"] = date_dto(stop)
    if not paused_now:
        cycle["breachTime"] = date_dto(start + paused + goal)
    cycle.update({"breached": remaining < timedelta(0), "goalDuration": duration_dto(goal),
                  "elapsedTime": duration_dto(elapsed), "remainingTime": duration_dto(remaining)})
    if stop is None:
        cycle.update({"paused": paused_now, "withinCalendarHours": True})
    return cycle


def _metric(metric_id: str, name: str, base: str, issue: IssueRecord, stop: datetime | None, now: datetime,
            goal: timedelta, paused: timedelta, paused_now: bool) -> dict[str, Any]:
    cycle = _cycle(issue.created, stop, now, goal, paused, paused_now and stop is None)
    body: dict[str, Any] = {"id": metric_id, "name": name,
                            "_links": {"self": f"{base}/rest/servicedeskapi/request/{issue.id}/sla/{metric_id}"},
                            "completedCycles": [cycle] if stop is not None else []}
    if stop is None:
        body["ongoingCycle"] = cycle
    body["slaDisplayFormat"] = "NEW_SLA_FORMAT"
    return body


def sla_metrics(issue: IssueRecord, now: datetime, base: str) -> list[dict[str, Any]]:
    """Time to first response (stops at the first public reply by someone other than the reporter) and Time to
    resolution (stops when the status category is done; paused while waiting for the customer)."""
    resolved = issue.status_history[-1][0] if STATUSES[issue.status][1] == "done" else None
    replied = next((c.created for c in issue.comments if c.public and c.author_id != issue.reporter_id), None)
    resolution_end = resolved or now
    return [
        _metric("1", "Time to first response", base, issue, replied, now, FIRST_RESPONSE_GOALS[issue.priority],
                timedelta(0), False),
        _metric("2", "Time to resolution", base, issue, resolved, now, RESOLUTION_GOALS[issue.priority],
                _paused(issue, resolution_end), issue.status in PAUSE_STATUSES),
    ]
