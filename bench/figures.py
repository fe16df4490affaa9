"""What every benchmark returns: figures with their goal, and a loud failure when a run proves nothing.

A benchmark whose preconditions do not hold (the storm began before its baseline, nothing was
processed, the load generator was the bottleneck) raises `BenchError` instead of printing a number.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass


class BenchError(RuntimeError):
    """The run cannot support its figure; the message says which precondition failed."""


def require(condition: bool, message: str) -> None:
    """Raise BenchError(message) unless `condition` holds."""
    if not condition:
        raise BenchError(message)


@dataclass(frozen=True)
class Figure:
    """One measured figure: `measured` against `goal`; `met` is None where the figure has no goal."""

    name: str
    measured: str
    goal: str
    met: bool | None = None
    ratio: str = ""
    value: float | None = None  # the measured number, for a benchmark that compares runs (bench/scale.py)

    def line(self) -> str:
        mark = {True: "met", False: "NOT MET", None: ""}[self.met]
        return f"  {self.name:<34} {self.measured:<26} goal {self.goal:<22} {mark}"


def print_figures(figures: list[Figure]) -> None:
    """The figures, one a line, under the benchmark's own output."""
    for figure in figures:
        print(figure.line())


def report(name: str, measure, args) -> int:
    """A benchmark's exit status: its figures printed (0), or why the run proves nothing (1)."""
    try:
        print_figures(measure(args))
    except (BenchError, TimeoutError) as e:
        print(f"{name}: the run proves nothing: {e}", file=sys.stderr)
        return 1
    return 0
