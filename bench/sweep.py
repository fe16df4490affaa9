"""The sweeper, three figures.

    python bench/sweep.py [--due 100] [--sizes 1000 10000 100000] [--latency 20] [--storm 1000]

1. Sweep cost against open tickets: 1k, 10k and 100k open, the same number due each time. The
   sweep's query is an index range scan on `tickets.next_action_at`, so its time should follow the
   number due, not the number open: the ratio against the smallest size should stay near 1.
2. Detection latency: from the instant a ticket reaches its 50 % threshold to the warning note
   being visible at the sandbox, with the worker sweeping every second (SLACLOCK_SWEEP_SECONDS=1).
3. A storm: `--storm` urgent Zendesk tickets reach their 50 % threshold at the same instant; the
   API calls slaclock spends on it (reads, update_many jobs and their polls, single PUTs).
Figures 2 and 3 run the real processes against the sandbox on loopback (`--latency 0 --storm 0`
skips them); the rate budget is lifted there, as the sandbox is not Zendesk.
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
from jobs.demo import Stack, wait_until  # noqa: E402
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


def _warned(store: Store) -> set[str]:
    rows = store.db.execute("select ticket_id from timeline where kind = 'warning' and connector = 'zendesk' "
                            "and detail_json like '%\"metric\": \"resolution\"%'").fetchall()
    return {row[0] for row in rows}


def _urgent_reaching_half(stack: Stack, count: int, half_at: datetime) -> list[str]:
    """`count` urgent tickets (4 h target, 24×7) whose 50 % instant is `half_at`."""
    opened = half_at - timedelta(hours=2)
    return [stack.customer_creates(f"bench {n}", "urgent", "damage", opened_at=opened) for n in range(count)]


def detection_latency(tickets: int) -> list[float]:
    """Seconds from each ticket's 50 % instant to its warning note being visible at the sandbox."""
    latencies = []
    with tempfile.TemporaryDirectory() as tmp, Stack(tmp, env={"ZENDESK_RATE_PER_MINUTE": "100000"}) as stack:
        for n in range(tickets):
            half_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=3)
            (ticket_id,) = _urgent_reaching_half(stack, 1, half_at)
            wait_until(lambda: any("reached 50 %" in c["body"] for c in stack.ticket(ticket_id)["comments"]),
                       30, "the warning note", interval=0.01)
            latencies.append((datetime.now(timezone.utc) - half_at).total_seconds())
    return latencies


def storm(tickets: int) -> dict[str, int]:
    """API calls spent on `tickets` urgent tickets all reaching 50 % at once (after their creation settled)."""
    with tempfile.TemporaryDirectory() as tmp, Stack(tmp, env={"ZENDESK_RATE_PER_MINUTE": "100000"}) as stack:
        half_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=max(30, tickets // 15))
        ids = set(_urgent_reaching_half(stack, tickets, half_at))
        stack.settle(timeout=600)
        before = stack.stats("zendesk")["api_calls"]
        store = Store(stack.database)
        wait_until(lambda: ids <= _warned(store), 600, "every ticket's warning", interval=0.2)
        stack.settle(timeout=600)
        after = stack.stats("zendesk")["api_calls"]
    return {route: after.get(route, 0) - before.get(route, 0) for route in after if after.get(route, 0) > before.get(route, 0)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--latency", type=int, default=20, help="tickets for the detection latency (0: skip)")
    parser.add_argument("--storm", type=int, default=1000, help="tickets in the escalation storm (0: skip)")
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
    if args.latency:
        q = statistics.quantiles(detection_latency(args.latency), n=100)
        print(f"detection: threshold instant → warning note at the sandbox, {args.latency} tickets, sweep every 1 s")
        print(f"  p50 {q[49]:.2f} s  p99 {q[98]:.2f} s")
    if args.storm:
        calls = storm(args.storm)
        print(f"storm: {args.storm} urgent tickets reach 50 % at the same instant; API calls spent on it:")
        for route, count in sorted(calls.items()):
            print(f"  {count:6d}  {route}")
        print(f"  {sum(calls.values()):6d}  in all ({sum(calls.values()) / args.storm:.2f} per ticket; "
              f"one PUT per ticket would be {args.storm} writes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
