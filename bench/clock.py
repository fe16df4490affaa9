"""Benchmark: due-time computations per second on a business calendar with holidays.

    python bench/clock.py [--quick]

Targets of 1 hour, 7 days and 30 days of working time (168 h and 720 h: on an 8-hour,
five-day calendar that is ~5 and ~18 weeks of calendar time) from random instants in
2026-2027, on the example rules' `business` calendar (America/New_York, lunch break,
US-NY public holidays, two closures). "warm" reuses the calendar's day cache as a
long-running worker does; "cold" builds a fresh calendar (empty day cache) for every
computation (`bench/decide.py` times whole decisions).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, print_figures  # noqa: E402
from rules import load_rules  # noqa: E402

UTC = timezone.utc
TARGETS = {"1 hour": timedelta(hours=1), "7 days": timedelta(days=7), "30 days": timedelta(days=30)}


def starts(n: int, seed: int = 7) -> list[datetime]:
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [base + timedelta(seconds=rng.randrange(2 * 365 * 86_400)) for _ in range(n)]


def rate(fn, items) -> float:
    began = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - began)


def measure(args) -> list[Figure]:
    """Due-time computations per second, warm and cold, per target (figures without a goal of their own)."""
    n = 2_000 if args.quick else 20_000
    rules = load_rules()
    cal = rules.calendar("business")
    instants = starts(n)
    print(f"calendar: {cal.describe()}")
    print(f"{n} computations per figure\n")
    print(f"{'target':<10}{'warm /s':>12}{'cold /s':>12}{'µs warm':>10}")
    figures = []
    for label, target in TARGETS.items():
        rate(lambda t: cal.add(t, target), instants[: n // 10])  # warm the day cache
        warm = rate(lambda t: cal.add(t, target), instants)
        spec = rules.calendars["business"]
        cold = rate(lambda t: spec.build("business").add(t, target), instants[: n // 20])
        print(f"{label:<10}{warm:>12,.0f}{cold:>12,.0f}{1e6 / warm:>10.1f}")
        figures.append(Figure(f"SLA clock, {label} of business time", f"{warm:,.0f} /s warm", "—"))
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer computations (a few seconds)")
    return p


def main() -> None:
    print_figures(measure(parser().parse_args()))


if __name__ == "__main__":
    main()
