"""Sweep cost against open tickets: 1k, 10k and 100k open, the same number due each time.

    python bench/sweep.py [--due 100] [--sizes 1000 10000 100000]

The sweep's query is an index range scan on `tickets.next_action_at`, so its time should follow
the number of tickets due, not the number open: the printed ratio against the smallest size
should stay near 1.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from jobs.sweeper import Sweeper  # noqa: E402
from store import Store  # noqa: E402

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def populate(store: Store, open_tickets: int, due: int) -> None:
    """`open_tickets` cases, of which `due` have their next action in the past."""
    def row(n: int) -> dict:
        at = NOW - timedelta(minutes=1) if n < due else NOW + timedelta(minutes=1 + n % 10_000)
        return {"connector": "zendesk", "ticket_id": str(n), "memory_json": "{}", "snapshot_json": "{}",
                "priority": "normal", "team": "support", "due_at": None, "rules_version": "bench",
                "decided_at": NOW.isoformat(), "next_action_at": at.isoformat()}
    store.db["tickets"].insert_all((row(n) for n in range(open_tickets)), batch_size=5000)


def sweep_seconds(store: Store, rounds: int = 5) -> float:
    """Median time of a sweep that finds the due tickets (queued checks are cleared between rounds)."""
    times = []
    for _ in range(rounds):
        store.db.execute("delete from inbox")
        store.db.conn.commit()
        started = time.perf_counter()
        Sweeper(store, lambda: NOW).run_once()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            store = Store(Path(tmp) / f"sweep-{size}.db")
            populate(store, size, args.due)
            results.append((size, sweep_seconds(store)))
    base = results[0][1]
    print(f"sweep: {args.due} tickets due, median of 5 sweeps (each queues {args.due} checks)")
    for size, seconds in results:
        print(f"  {size:>7,} open: {seconds * 1000:7.2f} ms   ratio to {results[0][0]:,} open: {seconds / base:4.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
