"""The time-driven part: queue a fresh decision for every ticket whose next action is due."""
from __future__ import annotations

import logging
from typing import Callable

import metrics
from jobs.clock import utcnow
from jobs.kinds import CheckKind
from store import Store

logger = logging.getLogger(__name__)


class Sweeper:
    """Each pass queues one check per due ticket; the processor decides with `now` as usual."""

    def __init__(self, store: Store, clock: Callable = utcnow, batch: int = 500):
        self.store, self.clock, self.batch = store, clock, batch

    def run_once(self) -> int:
        """Queue checks for due tickets; return how many were newly queued."""
        now = self.clock()
        due = self.store.due_tickets(now, self.batch)
        queued = 0
        with self.store.write_txn() as txn:
            for row in due:
                # Keyed by the due instant: a ticket still waiting for its check is not queued twice.
                key = f"sweep:{row.connector}:{row.ticket_id}:{row.next_action_at.isoformat()}"
                new = txn.enqueue_check(connector=row.connector, ticket_id=row.ticket_id, kind=CheckKind.SWEEP,
                                        key=key, now=now)
                if new:  # the lag of a ticket's first sweep past its instant, not of every pass it waits
                    metrics.sweep_lag(row.connector, (now - row.next_action_at).total_seconds())
                queued += new
            txn.set_cursor("sweep-last", now.isoformat(), now)  # for `slaclock status`
        if queued:
            logger.info("sweeper.queued", extra={"due": len(due), "queued": queued})
        return queued
