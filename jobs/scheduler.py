"""Scheduled jobs for the worker: sweep every N seconds, reconcile every M; only the lease holder runs them."""
from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Callable

import schedule

from jobs.clock import utcnow
from store import Store, StoreError

logger = logging.getLogger(__name__)

LEASE = "scheduler"


class LeasedScheduler:
    """`schedule` jobs that run only while this worker holds the store lease (one sweeper at a time)."""

    def __init__(self, store: Store, clock: Callable = utcnow, ttl_seconds: float = 90, holder: str | None = None):
        self.store, self.clock, self.ttl = store, clock, ttl_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.jobs = schedule.Scheduler()
        self._at_start: list[Callable[[], None]] = []  # the `at_start` jobs not run yet

    def every(self, seconds: float, job: Callable[[], int], name: str, at_start: bool = False) -> None:
        """Run `job` every `seconds` while holding the lease; log its failures instead of dying. `at_start`: also
        at the first `run_pending` (a worker that starts sweeps at once, not one interval later)."""
        def guarded() -> None:
            if not self.store.acquire_lease(LEASE, self.holder, self.clock(), self.ttl):
                return
            try:
                job()
            except Exception:  # noqa: BLE001 - `schedule` does not catch; one failed pass must not stop the worker
                logger.exception("scheduler.job-failed", extra={"job": name})
        self.jobs.every(seconds).seconds.do(guarded)
        if at_start:
            self._at_start.append(guarded)

    def run_pending(self) -> None:
        """Run the jobs that are due (and, the first time, the `at_start` ones)."""
        first, self._at_start = self._at_start, []
        for guarded in first:
            guarded()
        self.jobs.run_pending()

    def release(self) -> None:
        """Give the lease up (on stop); if the store cannot take it now, the lease lapses after its TTL."""
        try:
            self.store.release_lease(LEASE, self.holder)
        except StoreError as e:
            logger.warning("scheduler.release-failed", extra={"error": str(e), "ttl_seconds": self.ttl})
