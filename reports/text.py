"""`slaclock report` output: a terminal table, CSV or JSON, from KPI reports."""
from __future__ import annotations

import csv
import io
import json
from typing import Mapping

from reports.kpis import KpiReport, Period

# (column, how it reads from the report's JSON form); RATES print as percentages in the table.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("tickets", "tickets"), ("escalated", "escalated"), ("esc/1000", "escalations_per_1000"),
    ("breach rate", "breach_rate"), ("averted", "breaches_averted"), ("repeat", "repeat_escalations"),
    ("esc→reply h", "escalation_to_first_response.median_hours"),
    ("esc→resolved h", "escalation_to_resolution.median_hours"), ("MTTR h", "mttr.median_hours"),
    ("no return", "resolved_without_return"), ("ETA ≤48h", "vendor_eta_in_time"),
    ("rated", "csat.count"), ("csat 1-5", "csat.mean"), ("csat good", "csat.good_share"),
)
RATES = frozenset({"breach_rate", "csat.good_share"})


def _value(data: Mapping, path: str) -> object:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, Mapping) else None  # type: ignore[assignment]
    return data


def _cell(value: object, path: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if path in RATES and isinstance(value, (int, float)) else str(value)


def render(reports: Mapping[str, KpiReport], period: Period, by: str | None, fmt: str) -> str:
    """The reports (one per group; "all" when not grouped) in `fmt`: table, csv or json."""
    rows = {name: r.to_json() for name, r in reports.items()}
    if fmt == "json":
        return json.dumps({"since": period.since.isoformat(), "until": period.until.isoformat(), "by": by,
                           "groups": rows}, indent=2, sort_keys=True)
    header = [by or "group", *(c for c, _ in COLUMNS)]
    table = [[name, *(_cell(_value(data, path), path) for _, path in COLUMNS)] for name, data in rows.items()]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([[name, *(_value(data, path) for _, path in COLUMNS)] for name, data in rows.items()])
        return out.getvalue()
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    lines = [f"Escalation KPIs, cases opened {period.since:%Y-%m-%d} to {period.until:%Y-%m-%d}"]
    lines += ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *table]]
    sla = [f"{group} {metric}: {o['met']} met, {o['breached']} breached, {o['not_measured']} not measured"
           for group, data in rows.items() for metric, o in data["sla"].items()]
    dwell = [f"{group} dwell on {level}: median {d['median_hours']} h over {d['count']}"
             for group, data in rows.items() for level, d in data["dwell_per_level"].items()]
    causes = [f"{group} root cause ({'no cluster' if cluster == '-' else 'cluster ' + cluster}): {text}"
              for group, data in rows.items() for cluster, texts in data["root_causes"].items() for text in texts]
    held = [f"{group} time with {t['title']}: {t['hours']:g} h over {_cases(t['cases'])}"
            + (f" (budget {t['budget_hours']:g} h, over it in {_cases(t['over_budget'])})"
               if t["budget_hours"] is not None else "")
            for group, data in rows.items() for t in data["time_by_holder"].values()]
    breaches = [f"{group} breached {b['case']}: {b['text']}" for group, data in rows.items()
                for b in data["breached_by_holder"]]
    return "\n".join(lines + [part for block in (sla, dwell, held, breaches, causes) if block
                               for part in ("", *block)])


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"
