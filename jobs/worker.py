"""The worker loop: process deliveries, deliver the outbox, run scheduled jobs; until stopped."""
from __future__ import annotations

import logging
import threading

from jobs.deliverer import Deliverer
from jobs.processor import Processor
from store import StoreError

logger = logging.getLogger(__name__)


def run_worker(processor: Processor, deliverer: Deliverer, stop: threading.Event,
               poll_seconds: float = 0.5, scheduler=None) -> None:
    """Loop until `stop` is set; sleep `poll_seconds` only when there was nothing to do."""
    while not stop.is_set():
        try:
            busy = processor.run_once() + deliverer.run_once()
            if scheduler is not None:
                scheduler.run_pending()
        except StoreError as e:
            logger.error("worker.store-unavailable", extra={"error": str(e)})
            busy = 0
        if not busy:
            stop.wait(poll_seconds)
