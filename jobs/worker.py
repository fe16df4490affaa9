"""The worker loop: process deliveries, deliver the outbox, run scheduled jobs; until stopped.

Stopping is prompt: every wait of the worker (its idle poll, the connectors' retry back-offs and rate
budget) is a wait on the stop event, and a wait that the stop cuts short raises :class:`Stopping`,
which unwinds the pass in progress. What it leaves claimed is taken up again on a later claim (a
delivery once its claim is stale; an outbox row `sending` is read back before it is sent again).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Mapping

from connectors.contract import Connector
from jobs.deliverer import Deliverer
from jobs.processor import Processor
from jobs.reconciler import Reconciler
from jobs.recurring import RecurringDetector
from store import StoreError

logger = logging.getLogger(__name__)

# How long `slaclock worker` waits for the pass in progress once asked to stop. A helpdesk request in
# flight may run to its read timeout (30 s); past this the process exits without it, within the 5 s the
# worker promises (Docker and systemd send SIGKILL 10 s after SIGTERM).
STOP_GRACE_SECONDS = 3.0


class Stopping(BaseException):
    """A wait was cut short because the worker is stopping.

    A BaseException, like KeyboardInterrupt: the processor and the scheduler catch Exception to keep one
    bad ticket from stopping the others, and must not record a stop as a failure of the ticket."""


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A `sleep(seconds)` for connectors (sessions, rate budgets) that raises Stopping as soon as `stop` is set."""
    def sleep(seconds: float) -> None:
        # Event.wait refuses timeouts above TIMEOUT_MAX (OverflowError); a tiny rate budget can ask for more.
        if stop.wait(min(max(float(seconds), 0.0), threading.TIMEOUT_MAX)):
            raise Stopping()
    return sleep


@dataclass
class Crew:
    """The worker's parts that read the rules: a changed rules file gets a new crew (`jobs.rules_file`)."""

    connectors: Mapping[str, Connector]
    processor: Processor
    deliverer: Deliverer
    reconciler: Reconciler
    recurring: RecurringDetector


def run_worker(processor: Processor, deliverer: Deliverer, stop: threading.Event,
               poll_seconds: float = 0.5, scheduler=None, reload: Callable[[], Crew] | None = None) -> None:
    """Loop until `stop` is set; sleep `poll_seconds` only when there was nothing to do (less when a batch job is
    to be asked after sooner). `reload()`, asked before each pass, gives the crew to work with (a new one once the
    rules file changed)."""
    if not poll_seconds > 0:
        raise ValueError(f"poll_seconds: expected seconds greater than 0, got {poll_seconds!r}")
    try:
        while not stop.is_set():
            try:
                if reload is not None:
                    crew = reload()
                    processor, deliverer = crew.processor, crew.deliverer
                busy = processor.run_once() + deliverer.run_once()
                if scheduler is not None:
                    scheduler.run_pending()
            except StoreError as e:
                logger.error("worker.store-unavailable", extra={"error": str(e)})
                busy = 0
            if not busy:
                stop.wait(deliverer.idle_wait(poll_seconds))
    except Stopping:
        logger.info("worker.interrupted", extra={"reason": "a wait was cut short by the stop"})
    try:
        deliverer.release()  # what waits on a batch job goes back to the queue, for the next worker at once
    except StoreError as e:
        logger.error("worker.store-unavailable", extra={"error": str(e)})


def run_until_stopped(loop: Callable[[], None], stop: threading.Event,
                      grace_seconds: float = STOP_GRACE_SECONDS, check_seconds: float = 1.0) -> bool:
    """Run `loop` in a thread until it ends or `stop` is set; then give it `grace_seconds` to finish.

    Logs `worker.stopping` once. True when the loop finished; False when it was still busy (a request in
    flight) after the grace: the caller exits anyway and the thread, a daemon, ends with the process."""
    failure: list[BaseException] = []

    def guarded() -> None:
        try:
            loop()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread below
            failure.append(e)
            stop.set()

    thread = threading.Thread(target=guarded, name="slaclock-worker", daemon=True)
    thread.start()
    # The main thread keeps the signal handlers; a signal interrupts this wait.
    while thread.is_alive() and not stop.wait(check_seconds):
        pass
    if not failure:
        logger.info("worker.stopping", extra={"grace_seconds": grace_seconds})
    thread.join(grace_seconds)
    if failure:
        raise failure[0]
    if thread.is_alive():
        logger.warning("worker.abandoned", extra={"reason": f"still busy {grace_seconds:g} s after the stop "
                                                            "(a helpdesk request in flight)"})
        return False
    return True
