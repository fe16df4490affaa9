"""Worker throughput: a burst of webhooks drained through the whole pipeline, against the sandbox.

    python bench/worker.py [--events 10000] [--workers 1] [--database URL]

With the worker stopped, customers create `--events` Zendesk tickets in the sandbox (one
`ticket.created` webhook each, stored in the inbox by `slaclock serve`); then one `slaclock worker`
starts and the clock runs until every delivery is processed and every write has landed: claim →
fresh read → decide → commit → deliver. The rate budget is lifted (the sandbox is not Zendesk).
Goal (issue 17): ≥ 4× the 50 deliveries/s measured on main before the issue.

`--workers N` drains the burst with N workers on one store (`--database`: a PostgreSQL URL, default a SQLite
file in a new directory); each must have decided a share of it (bench/scale.py compares 1 and 2 workers).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.figures import Figure, report, require  # noqa: E402
from jobs.demo import Stack, wait_until  # noqa: E402
from store import is_postgres_url  # noqa: E402

BEFORE_PER_SECOND, GOAL_FACTOR = 50, 4  # issue 17: 5,000 deliveries drained in 99.6 s on main
# Rate budget lifted (the sandbox is not Zendesk); INFO logs, whose `processor.decided` lines count each
# worker's decisions.
ENV = {"ZENDESK_RATE_PER_MINUTE": "100000", "SLACLOCK_LOG_LEVEL": "INFO"}
REASONS = ("missing_part", "wrong_item", "site_not_ready", "damage", None)
PRIORITIES = ("low", "normal", "high", "urgent")


def measure(args) -> list[Figure]:
    """Drain the burst; the deliveries-per-second figure with its goal (`value`: deliveries per second)."""
    with tempfile.TemporaryDirectory() as tmp, Stack(tmp, env=ENV, database=args.database,
                                                     workers=args.workers) as stack:
        for name in stack.worker_names:
            stack.kill(name)
        with ThreadPoolExecutor(4) as pool:  # the sandbox takes customers in parallel, as Zendesk would
            list(pool.map(lambda n: stack.customer_creates(f"burst {n}", PRIORITIES[n % 4], REASONS[n % 5]),
                          range(args.events)))
        store = stack.store
        wait_until(lambda: store.delivery_counts().get("pending", 0) >= args.events, 300, "the burst in the inbox")
        calls_before = stack.stats("zendesk")["total"]
        started = time.perf_counter()
        for name in stack.worker_names:
            stack.start_worker(name)
        stack.settle(timeout=1800)
        seconds = time.perf_counter() - started
        decided = {name: stack.log(name).count(" processor.decided ") for name in stack.worker_names}
        deliveries, outbox = store.delivery_counts(), store.outbox_counts()
        calls = stack.stats("zendesk")["total"] - calls_before
        routed = store.db.execute("select count(*) from tickets where team is not null").fetchone()[0]
    processed = sum(n for status, n in deliveries.items() if status != "pending")
    require(deliveries.get("failed", 0) == 0 and outbox.get("failed", 0) == 0,
            f"failures in the run: inbox {deliveries}, outbox {outbox}")
    require(processed >= args.events and routed >= args.events,
            f"only {processed} deliveries processed and {routed} tickets routed of {args.events}")
    require(outbox.get("done", 0) > 0 and calls > 0, "nothing was written: the run measured no pipeline")
    # A worker that sat idle while another drained the burst would make N workers measure one.
    idle = [name for name, n in decided.items() if n < sum(decided.values()) / len(decided) / 4]
    require(not idle, f"{', '.join(idle)} made almost none of the decisions ({decided})")
    rate = processed / seconds
    workers = f"{args.workers} worker{'s' * (args.workers > 1)}"
    where = "PostgreSQL" if is_postgres_url(stack.database) else "SQLite"
    print(f"worker: {args.events:,} ticket.created webhooks drained by {workers} on {where} in {seconds:.1f} s:"
          f" {processed:,} deliveries, {outbox.get('done', 0):,} outbox rows done, {calls:,} API "
          f"calls ({calls / processed:.2f} per delivery), decisions "
          + ", ".join(f"{name} {n:,}" for name, n in decided.items()))
    goal = BEFORE_PER_SECOND * GOAL_FACTOR
    return [Figure(f"worker, burst of {args.events:,}", f"{rate:,.0f} deliveries/s", f"≥ {goal} /s",
                   rate >= goal, f"{rate / BEFORE_PER_SECOND:.1f}× before", rate)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=1, help="`slaclock worker` processes sharing the store")
    p.add_argument("--database", help="the store: a PostgreSQL URL or SQLite path (default: a new SQLite file)")
    return p


if __name__ == "__main__":
    sys.exit(report("worker", measure, parser().parse_args()))
