"""`slaclock simulate`: what the command line runs (app.py parses the options and loads the rules)."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TextIO

from tqdm import tqdm

from jobs.forecasts import forecasts_from
from rules import Rules
from simulate.compare import compare, period_of, render
from simulate.history import ticket_histories
from simulate.replay import horizon
from store import Store

# Fewer histories than this replay in well under a second: no progress bar.
PROGRESS_FROM = 2_000


def simulate_rules(store: Store, current: Rules, new: Rules, new_name: str, since: datetime | None,
                   now: datetime, fmt: str, out: TextIO, jobs: int = 1) -> int:
    """Replay the stored histories (opened at or after `since`) through both rules sets, on up to `jobs`
    processes; print the difference."""
    histories = ticket_histories(store, since)
    if not histories:
        print("error: no ticket history to replay" + (f" opened since {since:%Y-%m-%d}" if since else ""),
              file=sys.stderr)
        return 1
    period = period_of(histories, since, horizon(histories, now))

    def progress(items):
        return tqdm(items, total=len(histories), unit="ticket", file=sys.stderr, leave=False,
                    disable=True if len(histories) < PROGRESS_FROM else None)  # None: only on a terminal
    # Predictive rules forecast from the stored cases as they stand now (one history for the whole replay).
    predictive = [r for r in (current, new) if r.predictive is not None and r.predictive.enabled]
    forecasts = forecasts_from(store.cases(), frozenset(predictive[-1].sla.stop_statuses), period.until) \
        if predictive else None
    result = compare(histories, current, new, period, progress, forecasts, jobs)
    print(render(result, f"the current rules ({current.version})", f"{new_name} ({new.version})", fmt), file=out)
    return 0


def simulate_workload(tickets: int, seed: int, fmt: str, out: TextIO) -> int:
    """A generated month of `tickets` under each policy of `simulate.workload.POLICIES`; one row (or object) each."""
    from simulate.workload import compare_policies, render as render_workload

    results = compare_policies(tickets, seed)
    if fmt == "json":
        print(json.dumps({name: r.to_json() for name, r in results.items()}, indent=2), file=out)
    else:
        print(render_workload(results, tickets, seed), file=out)
    return 0
