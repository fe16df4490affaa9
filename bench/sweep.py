"""The sweeper, four figures.

    python bench/sweep.py [--due 100] [--sizes 1000 10000 100000] [--latency 20] [--open 100000] [--storm 1000]

1. Sweep cost against open tickets: 1k, 10k and 100k open, the same number due each time. The
   sweep's query is an index range scan on `tickets.next_action_at`, so its time should follow the
   number due, not the number open: the ratio against the smallest size should stay near 1.
2. Detection latency: from the instant a ticket reaches its 50 % threshold to the warning note
   being visible at the sandbox, with the worker sweeping every second (SLACLOCK_SWEEP_SECONDS=1),
   while the store holds `--open` other open tickets (due later).
3. Memory: resident memory of `serve` (gunicorn master and worker) and of `worker` at the end of
   that run, with those tickets stored and swept. The goal is on PSS, the RAM the processes occupy
   with each page counted once: a forked worker shares most of its pages with the master, and a sum
   of their RSS counts those twice (both are printed).
4. A storm: `--storm` urgent Zendesk tickets reach their 50 % threshold at the same instant; the
   API calls slaclock spends on it (reads, update_many jobs and their polls, single PUTs). The
   baseline is read after every ticket's creation has settled and before the instant; a run where
   that does not hold, or where a ticket goes unwarned, fails instead of printing a figure.
Figures 2–4 run the real processes against the sandbox on loopback (`--latency 0 --storm 0`
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
from bench.figures import Figure, report, require  # noqa: E402
from jobs.demo import Stack, wait_until  # noqa: E402
from jobs.sweeper import Sweeper  # noqa: E402
from store import Store  # noqa: E402

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
SWEEP_RATIO_GOAL, DETECTION_GOAL_S, MEMORY_GOAL_MB, STORM_WRITES_GOAL = 2.0, 60, 150, 12
# Writes of the storm: the calls that change tickets (update_many jobs and single PUTs), not reads or job polls.
WRITE_ROUTES = ("PUT /api/v2/tickets/update_many", "PUT /api/v2/tickets/{id}")


def populate(store: Store, open_tickets: int, due: int, now: datetime = NOW) -> None:
    """`open_tickets` cases, of which `due` have their next action in the past (the rest within a week)."""
    def row(n: int) -> dict:
        at = now - timedelta(minutes=1) if n < due else now + timedelta(minutes=1 + n % 10_000)
        return {"connector": "zendesk", "ticket_id": f"stored-{n}", "memory_json": "{}", "snapshot_json": "{}",
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


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory of `pid` and its children (gunicorn's master and worker), in MB: the sum of their RSS,
    and of their PSS (pages a forked worker shares with its master counted once)."""
    rss = pss = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
            if int(proc.name) != pid and int(status.get("PPid", "0").strip()) != pid:
                continue
            rollup = dict(line.split(":", 1) for line in (proc / "smaps_rollup").read_text().splitlines()[1:])
        except (OSError, ValueError):
            continue
        rss += int(status["VmRSS"].split()[0])
        pss += int(rollup["Pss"].split()[0])
    return rss / 1024, pss / 1024


def detection_and_memory(tickets: int, open_tickets: int) -> tuple[list[float], dict[str, tuple[float, float]]]:
    """Seconds from each ticket's 50 % instant to its warning note at the sandbox, with `open_tickets`
    stored beside them; then the resident memory of serve and worker."""
    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(tmp, env={"ZENDESK_RATE_PER_MINUTE": "100000"})
        populate(Store(stack.database), open_tickets, 0, datetime.now(timezone.utc) + timedelta(days=1))
        with stack:
            for _ in range(tickets):
                half_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=3)
                (ticket_id,) = _urgent_reaching_half(stack, 1, half_at)
                wait_until(lambda: any("reached 50 %" in c["body"] for c in stack.ticket(ticket_id)["comments"]),
                           120, "the warning note", interval=0.01)
                latencies.append((datetime.now(timezone.utc) - half_at).total_seconds())
            stored = Store(stack.database).db.execute("select count(*) from tickets").fetchone()[0]
            require(stored >= open_tickets + tickets, f"the store holds {stored} tickets, not {open_tickets + tickets}")
            memory = {name: memory_mb(stack.processes[name].pid) for name in ("serve", "worker")}
    return latencies, memory


def storm(tickets: int) -> dict[str, int]:
    """API calls spent on `tickets` urgent tickets all reaching 50 % at once (after their creation settled)."""
    with tempfile.TemporaryDirectory() as tmp, Stack(tmp, env={"ZENDESK_RATE_PER_MINUTE": "100000"}) as stack:
        # Creating a ticket and settling its routing takes tens of ms here; the lead leaves room for it.
        half_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=30 + tickets // 10)
        ids = set(_urgent_reaching_half(stack, tickets, half_at))
        stack.settle(timeout=600)
        before = stack.stats("zendesk")["api_calls"]
        require(datetime.now(timezone.utc) < half_at and not _warned(Store(stack.database)),
                f"the storm began before its baseline: creating {tickets} tickets outlasted the lead "
                f"(instant {half_at:%H:%M:%S})")
        store = Store(stack.database)
        wait_until(lambda: ids <= _warned(store), 600, "every ticket's warning", interval=0.2)
        stack.settle(timeout=600)
        after = stack.stats("zendesk")["api_calls"]
    calls = {route: after.get(route, 0) - before.get(route, 0) for route in after
             if after.get(route, 0) > before.get(route, 0)}
    require(sum(calls.values()) > 0, "the storm spent no API calls: nothing was measured")
    return calls


def measure(args) -> list[Figure]:
    """Run the figures asked for; each with its goal."""
    figures = []
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            store = Store(Path(tmp) / f"sweep-{size}.db")
            populate(store, size, args.due)
            results.append((size, sweep_seconds(store)))
            require(store.db.execute("select count(*) from inbox").fetchone()[0] == args.due,
                    f"the sweep over {size} open tickets queued the wrong number of checks")
    base = results[0][1]
    print(f"sweep: {args.due} tickets due, median of 5 sweeps (each queues {args.due} checks)")
    for size, seconds in results:
        print(f"  {size:>7,} open: {seconds * 1000:7.2f} ms   ratio to {results[0][0]:,} open: {seconds / base:4.2f}×")
    ratio = results[-1][1] / base
    figures.append(Figure(f"sweep cost, {results[-1][0]:,} vs {results[0][0]:,} open",
                          f"{results[-1][1] * 1000:.2f} vs {base * 1000:.2f} ms", f"≤ {SWEEP_RATIO_GOAL}×",
                          ratio <= SWEEP_RATIO_GOAL, f"{ratio:.2f}×"))
    if args.latency:
        latencies, memory = detection_and_memory(args.latency, args.open)
        worst = max(latencies)
        print(f"detection: threshold instant → warning note at the sandbox, {args.latency} tickets, sweep every 1 s, "
              f"{args.open:,} other open tickets stored")
        print(f"  p50 {statistics.median(latencies):.2f} s  max {worst:.2f} s")
        print(f"memory: serve RSS {memory['serve'][0]:.0f} MB, PSS {memory['serve'][1]:.0f} MB (gunicorn master + "
              f"worker); worker RSS {memory['worker'][0]:.0f} MB, PSS {memory['worker'][1]:.0f} MB")
        figures.append(Figure(f"detection, {args.open:,} open (worst)", f"{worst:.2f} s", f"≤ {DETECTION_GOAL_S} s",
                              worst <= DETECTION_GOAL_S))
        for name in ("serve", "worker"):
            rss, pss = memory[name]
            figures.append(Figure(f"memory of {name}, {args.open:,} stored", f"PSS {pss:.0f} MB (RSS {rss:.0f})",
                                  f"≤ {MEMORY_GOAL_MB} MB PSS", pss <= MEMORY_GOAL_MB))
    if args.storm:
        calls = storm(args.storm)
        print(f"storm: {args.storm} urgent tickets reach 50 % at the same instant; API calls spent on it:")
        for route, count in sorted(calls.items()):
            print(f"  {count:6d}  {route}")
        writes = sum(count for route, count in calls.items() if route in WRITE_ROUTES)
        print(f"  {sum(calls.values()):6d}  in all ({sum(calls.values()) / args.storm:.2f} per ticket; "
              f"one PUT per ticket would be {args.storm} writes)")
        require(writes > 0, "the storm made no write call: its warnings did not go out")
        figures.append(Figure(f"storm of {args.storm:,}: Zendesk write calls", f"{writes} writes, "
                              f"{sum(calls.values())} calls", f"≤ {STORM_WRITES_GOAL} writes",
                              writes <= STORM_WRITES_GOAL))
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--due", type=int, default=100)
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--latency", type=int, default=20, help="tickets for the detection latency (0: skip)")
    p.add_argument("--open", type=int, default=100_000, help="other open tickets stored during the detection run")
    p.add_argument("--storm", type=int, default=1000, help="tickets in the escalation storm (0: skip)")
    return p


if __name__ == "__main__":
    sys.exit(report("sweep", measure, parser().parse_args()))
