"""Support for the end-to-end tests: the shared stack's settings, and `slaclock` run in-process against a stack."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import parser
from jobs.demo import Stack
from rules import EXAMPLE_RULES

# The shared stack reconciles every second, so a lost webhook is caught within a test's patience.
RECONCILE_SECONDS = 1
# Sweeps four times a second, so a time-driven action lands soon after its instant.
SWEEP_SECONDS = 0.25
SHARED_ENV = {"SLACLOCK_RECONCILE_SECONDS": str(RECONCILE_SECONDS), "SLACLOCK_SWEEP_SECONDS": str(SWEEP_SECONDS)}


def absent_outside_ci(reason: str) -> None:
    """Skip for something only a plain clone or a bare machine lacks (the API descriptions, chromium); in CI,
    where it must be present, fail instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must have it")
    pytest.skip(reason)


def refused_requests(stack: Stack) -> list[str]:
    """The requests the stack's sandbox refused against the official API descriptions (its log lines)."""
    from sandbox.server import REJECTED_MARK
    return [line for line in stack.log("sandbox").splitlines() if line.startswith(REJECTED_MARK)]


def assert_nothing_refused(stack: Stack) -> None:
    """The contract check every end-to-end stack ends with: slaclock sent nothing the real API would refuse."""
    refused = refused_requests(stack)
    assert not refused, f"the API descriptions refused {len(refused)} request(s):\n" + "\n".join(refused[:20])


def slaclock(stack: Stack, *argv: str) -> int:
    """Run `slaclock ARGV…` in this process with the stack's environment; return its exit status.

    The command's own function, as `app.main` calls it, without the process setup (dotenv, logging)."""
    args = parser().parse_args(list(argv))
    return args.func(args, stack.env)


# The queued milestone notes a case that arrives after business hours: a stack whose tests count notes runs
# without it, or they would pass by day and fail by night.
QUEUED = ('[milestones.queued]\npriorities = ["low", "normal", "high"]', '[milestones.queued]\npriorities = []')


def example_rules_with(workdir: Path, old: str, new: str, *more: tuple[str, str]) -> str:
    """The example rules with `old` replaced by `new` (and each further (old, new) pair), written into
    `workdir`; returns the file's path."""
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    for before, after in ((old, new), *more):
        assert before in text, f"the example rules no longer say {before!r}"
        text = text.replace(before, after)
    path = workdir / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)
