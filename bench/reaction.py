"""Webhook → write-back latency at the sandbox: from a customer creating a ticket to slaclock's PUT landing.

    python bench/reaction.py [--tickets 50]

Starts the sandbox, `slaclock serve` and `slaclock worker` (poll 0.05 s) on loopback, creates tickets
one at a time and times until the sandbox shows the routed group. Prints p50/p99 and API calls per ticket.
The Zendesk rate budget is raised to 6000/min here: at the default 100/min, 50 back-to-back tickets
(2 calls each) are paced by the budget, not by slaclock (`--budget 100` shows that).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.figures import Figure, report, require  # noqa: E402
from jobs.demo import Stack, wait_until  # noqa: E402


def measure(args) -> list[Figure]:
    """Tickets one after another; the p99 reaction figure (no goal of its own: it is for comparison)."""
    latencies = []
    env = {"ZENDESK_RATE_PER_MINUTE": str(args.budget)}
    with tempfile.TemporaryDirectory() as tmp, Stack(tmp, env=env) as stack:
        for n in range(args.tickets):
            started = time.perf_counter()
            ticket_id = stack.customer_creates(f"bench {n}", "normal", "wrong_item")
            wait_until(lambda: stack.ticket(ticket_id)["group_id"], 30, "the write-back", interval=0.002)
            latencies.append(time.perf_counter() - started)
        stack.settle()
        stats = stack.stats()
    require(len(latencies) == args.tickets > 1 and stats["total"] > 0, "no ticket was written back")
    q = statistics.quantiles(latencies, n=100, method="inclusive")  # exclusive extrapolates past the max
    print(f"reaction: {args.tickets} tickets one after another, rate budget {args.budget}/min, "
          f"webhook → write-back visible at the sandbox")
    print(f"  p50 {q[49] * 1000:.0f} ms  p99 {q[98] * 1000:.0f} ms  max {max(latencies) * 1000:.0f} ms")
    print(f"  API calls: {stats['total']} ({stats['total'] / args.tickets:.1f} per ticket)")
    return [Figure("reaction, webhook → write-back", f"p99 {q[98] * 1000:.0f} ms", "—"),
            Figure("API calls per routed ticket", f"{stats['total'] / args.tickets:.1f}", "—")]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=50)
    p.add_argument("--budget", type=int, default=6000, help="ZENDESK_RATE_PER_MINUTE for the run")
    return p


if __name__ == "__main__":
    sys.exit(report("reaction", measure, parser().parse_args()))
