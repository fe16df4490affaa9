"""`slaclock status`: what the running system is doing, on one screen (or as JSON for scripts).

The JSON keys (stable):
- `at`: when the status was read (ISO 8601, UTC);
- `connectors`: per connector `last_success` (the latest of a write that landed and a reconcile pass that
  succeeded), `last_write`, `last_error` ({`at`, `error`}: the latest parked write, failed delivery or refused
  reconcile pass) and `reconciler` ({`outcome`: ok | refused, `error`, `at`}, null before the first pass);
- `inbox`, `outbox`: rows by status (pending, processing/sending, failed, done, …);
- `parked`: {`outbox`: parked writes, `inbox`: deliveries that failed to process};
- `lease`: {`holder`, `expires_at`} of the worker that sweeps and reconciles, null when none holds it;
- `last_sweep`, `last_reconcile`: instants, null before the first;
- `tickets`: {`at_risk`, `breached`} summed over connectors, and `by_connector` the same per connector;
- `degraded`: the connectors whose reconciler is refused (the lost-webhook safety net is off there);
- `rules`: {`version`, `path`, `refused`, `at`} of the rules the latest worker runs on (`refused`: the errors of an
  edit of the file it refused, null when none), null before a worker ran.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, TextIO

from metrics import AT_RISK_WITHIN
from jobs.kinds import ALERT_CONNECTOR
from jobs.rules_file import rules_in_use
from jobs.scheduler import LEASE
from rules.wording import count
from store import Store


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def read_status(store: Store, now: datetime, connectors: Iterable[str] = ()) -> dict[str, Any]:
    """The status as plain JSON (the keys the module docstring lists), for `connectors` and every connector
    the store has seen."""
    activity = store.connector_activity()
    outcomes = store.job_outcomes("reconcile")
    risk = store.ticket_risk(now, AT_RISK_WITHIN)
    names = sorted(set(connectors) | set(activity) | set(outcomes) | set(risk))
    report: dict[str, Any] = {"at": now.isoformat(), "connectors": {}}
    for name in names:
        seen, outcome = activity.get(name, {}), outcomes.get(name)
        errors = [{"at": _iso(seen["last_error"][0]), "error": seen["last_error"][1]}] if "last_error" in seen else []
        successes = [_iso(seen.get("last_write"))]
        if outcome is not None:
            (successes if outcome["outcome"] == "ok" else errors).append(
                outcome["at"] if outcome["outcome"] == "ok" else {"at": outcome["at"], "error": outcome["error"]})
        report["connectors"][name] = {
            "last_success": max((s for s in successes if s), default=None),
            "last_write": _iso(seen.get("last_write")),
            "last_error": max(errors, key=lambda e: e["at"] or "", default=None),
            "reconciler": outcome,
        }
    inbox, outbox = store.delivery_counts(), store.outbox_counts()
    report["inbox"] = {"pending": 0, "processing": 0, "failed": 0, **inbox}
    report["outbox"] = {"pending": 0, "sending": 0, "failed": 0, **outbox}
    report["parked"] = {"outbox": report["outbox"]["failed"], "inbox": report["inbox"]["failed"]}
    lease = next(((holder, expires) for name, holder, expires in store.live_leases(now) if name == LEASE), None)
    report["lease"] = {"holder": lease[0], "expires_at": lease[1].isoformat()} if lease else None
    report["last_sweep"] = _iso(store.cursor_updated_at("sweep-last"))
    report["last_reconcile"] = max((o["at"] for o in outcomes.values()), default=None)
    report["tickets"] = {"at_risk": sum(r["at_risk"] for r in risk.values()),
                         "breached": sum(r["breached"] for r in risk.values()),
                         "by_connector": risk}
    report["degraded"] = sorted(n for n, o in outcomes.items() if o["outcome"] != "ok")
    report["rules"] = rules_in_use(store)
    return report


def _when(at: str | None) -> str:
    """An ISO instant of the report as the screen shows it: `2026-12-07 11:41:19 UTC`."""
    return f"{datetime.fromisoformat(at).astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC" if at else "an unknown time"


def _ago(at: str | None, now: datetime) -> str:
    if not at:
        return "never"
    seconds = int((now - datetime.fromisoformat(at)).total_seconds())
    span = f"{seconds} s" if abs(seconds) < 120 else f"{seconds // 60} min" if abs(seconds) < 7200 else \
        f"{seconds // 3600} h"
    return f"{_when(at)} ({span} ago)"


def _counts(by_status: dict[str, int]) -> str:
    return ", ".join(f"{status} {n}" for status, n in by_status.items())


def render_status(report: dict[str, Any], now: datetime) -> str:
    """The status as the admin's screen."""
    lines = [f"slaclock status at {_when(report['at'])}", "", "connectors:"]
    for name, c in report["connectors"].items():
        r, error = c["reconciler"], c["last_error"]
        channel = name.removeprefix(ALERT_CONNECTOR)
        lines += [f"  {name}: last success {_ago(c['last_success'], now)}" if channel == name
                  else f"  alert channel {channel}: last message {_ago(c['last_success'], now)}",
                  f"    last error: {error['error']} at {_when(error['at'])}" if error else "    last error: none"]
        if channel == name:  # an alert channel has no change feed to reconcile with
            lines.append("    reconciler: " + (
                "not run yet" if r is None else f"ok at {_when(r['at'])}" if r["outcome"] == "ok"
                else f"{r['outcome']}: {r['error']} at {_when(r['at'])} -- the lost-webhook safety net is OFF"))
    if not report["connectors"]:
        lines.append("  none seen yet")
    lease = report["lease"]
    lease_line = (f"lease:  {lease['holder']} until {_when(lease['expires_at'])}" if lease
                  else "lease:  none held (no worker sweeps or reconciles now)")
    lines += ["", f"inbox:  {_counts(report['inbox'])}", f"outbox: {_counts(report['outbox'])}",
              f"parked: {count(report['parked']['outbox'], 'write')} (slaclock outbox list), "
              f"{count(report['parked']['inbox'], 'delivery', 'deliveries')} (slaclock inbox list)",
              "", lease_line,
              f"last sweep:     {_ago(report['last_sweep'], now)}",
              f"last reconcile: {_ago(report['last_reconcile'], now)}",
              "", *_rules_lines(report["rules"]),
              "", f"tickets at risk (next threshold within an hour): {report['tickets']['at_risk']}",
              f"tickets breached now: {report['tickets']['breached']}"]
    return "\n".join(lines)


def _rules_lines(rules: dict[str, Any] | None) -> list[str]:
    if rules is None:
        return ["rules:  not known yet (no worker has started)"]
    lines = [f"rules:  {rules['version']} from {rules['path']}"]
    if rules["refused"]:
        lines += [f"  the file's latest edit was REFUSED at {_when(rules['at'])}; the worker still runs on "
                  f"{rules['version']}. Fix it (slaclock check shows the same errors):",
                  *(f"    {line}" for line in rules["refused"].splitlines())]
    return lines


def status(store: Store, now: datetime, out: TextIO, as_json: bool = False, connectors: Iterable[str] = ()) -> int:
    """Print the status (`as_json`: the JSON document); exit status 0."""
    report = read_status(store, now, connectors)
    print(json.dumps(report, indent=2, sort_keys=True) if as_json else render_status(report, now), file=out)
    return 0
