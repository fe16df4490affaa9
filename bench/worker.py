"""Worker throughput: a burst of webhooks drained through the whole pipeline, against the sandbox.

    python bench/worker.py [--events 10000]

With the worker stopped, customers create `--events` Zendesk tickets in the sandbox (one
`ticket.created` webhook each, stored in the inbox by `slaclock serve`); then one `slaclock worker`
starts and the clock runs until every delivery is processed and every write has landed: claim →
fresh read → decide → commit → deliver. The rate budget is lifted (the sandbox is not Zendesk).
Goal (issue 17): ≥ 4× the 50 deliveries/s measured on main before the issue.
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
from bench.figures import BenchError, Figure, print_figures, require  # noqa: E402
from jobs.demo import Stack, wait_until  # noqa: E402
from store import Store  # noqa: E402

BEFORE_PER_SECOND, GOAL_FACTOR = 50, 4  # issue 17: 5,000 deliveries drained in 99.6 s on main
REASONS = ("missing_part", "wrong_item", "site_not_ready", "damage", None)
PRIORITIES = ("low", "normal", "high", "urgent")


def measure(args) -> list[Figure]:
    """Drain the burst; the deliveries-per-second figure with its goal."""
    with tempfile.TemporaryDirectory() as tmp, Stack(tmp, env={"ZENDESK_RATE_PER_MINUTE": "100000"}) as stack:
        stack.kill("worker")
        with ThreadPoolExecutor(4) as pool:  # the sandbox takes customers in parallel, as Zendesk would
            list(pool.map(lambda n: stack.customer_creates(f"burst {n}", PRIORITIES[n % 4], REASONS[n % 5]),
                          range(args.events)))
        store = Store(stack.database)
        wait_until(lambda: store.delivery_counts().get("pending", 0) >= args.events, 300, "the burst in the inbox")
        calls_before = stack.stats("zendesk")["total"]
        started = time.perf_counter()
        stack.start_worker()
        stack.settle(timeout=1800)
        seconds = time.perf_counter() - started
        deliveries, outbox = store.delivery_counts(), store.outbox_counts()
        calls = stack.stats("zendesk")["total"] - calls_before
        routed = store.db.execute("select count(*) from tickets where team is not null").fetchone()[0]
    processed = sum(n for status, n in deliveries.items() if status != "pending")
    require(deliveries.get("failed", 0) == 0 and outbox.get("failed", 0) == 0,
            f"failures in the run: inbox {deliveries}, outbox {outbox}")
    require(processed >= args.events and routed >= args.events,
            f"only {processed} deliveries processed and {routed} tickets routed of {args.events}")
    require(outbox.get("done", 0) > 0 and calls > 0, "nothing was written: the run measured no pipeline")
    rate = processed / seconds
    print(f"worker: {args.events:,} ticket.created webhooks drained by one worker in {seconds:.1f} s: "
          f"{processed:,} deliveries, {outbox.get('done', 0):,} outbox rows done, {calls:,} API calls "
          f"({calls / processed:.2f} per delivery)")
    goal = BEFORE_PER_SECOND * GOAL_FACTOR
    return [Figure(f"worker, burst of {args.events:,}", f"{rate:,.0f} deliveries/s", f"≥ {goal} /s",
                   rate >= goal, f"{rate / BEFORE_PER_SECOND:.1f}× before")]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000)
    return p


def main() -> int:
    try:
        print_figures(measure(parser().parse_args()))
    except BenchError as e:
        print(f"worker: the run proves nothing: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
