"""Deliveries are kept `SLACLOCK_KEEP_DELIVERIES_DAYS` after they were processed, then deleted by the lease holder.

A processed delivery is only read again for a few days (an alert's check of who acted since it was queued), while
its raw body (a Jira issue event runs to tens of kilobytes) would grow the store by every webhook ever received.
Decisions, timelines and KPIs live in other tables and stay. Deletes go in batches, each its own short
transaction, so the receiver's inserts never wait long behind them.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

from jobs.clock import utcnow
from store import Store

logger = logging.getLogger(__name__)

BATCH = 5000  # rows a delete transaction removes: a few tens of milliseconds of the writer's lock


class Retention:
    """Deletes processed deliveries older than `keep_days` (0: keeps them all)."""

    def __init__(self, store: Store, keep_days: int, clock: Callable = utcnow, batch: int = BATCH):
        self.store, self.keep_days, self.clock, self.batch = store, keep_days, clock, batch

    def run_once(self) -> int:
        """Delete what is due; return how many deliveries went."""
        if not self.keep_days:
            return 0
        before, removed = self.clock() - timedelta(days=self.keep_days), 0
        while (batch := self.store.prune_deliveries(before, self.batch)) > 0:
            removed += batch
            if batch < self.batch:
                break
        if removed:
            logger.info("inbox.pruned", extra={"deliveries": removed, "before": before.isoformat(),
                                               "keep_days": self.keep_days})
        return removed
