"""Both replays of each ticket history, spread over the machine's cores: replays are pure and independent, so
worker processes run them in chunks and hand the outcomes back in the histories' order."""
from __future__ import annotations

import multiprocessing
import os
from datetime import datetime
from typing import Iterator, Sequence

from rules import Rules
from rules.forecast import Forecasts
from simulate.history import TicketHistory
from simulate.replay import Outcome, replay

# Fewer histories than this replay faster in this process than a pool starts and feeds its workers.
PARALLEL_FROM = 200
CHUNK = 16  # histories sent to a worker at a time: large enough that pickling is a small share of the work

_job: tuple[Rules, Rules, datetime, Forecasts | None] | None = None  # in a worker: what every replay shares


def cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def _share(current: Rules, new: Rules, until: datetime, forecasts: Forecasts | None) -> None:
    global _job
    _job = (current, new, until, forecasts)


def _both(history: TicketHistory) -> tuple[Outcome, Outcome]:
    current, new, until, forecasts = _job
    return replay(history, current, until, forecasts), replay(history, new, until, forecasts)


def replays(histories: Sequence[TicketHistory], current: Rules, new: Rules, until: datetime,
            forecasts: Forecasts | None = None, jobs: int = 1) -> Iterator[tuple[Outcome, Outcome]]:
    """Each history's replay through `current` and through `new`, in order, on up to `jobs` processes."""
    if jobs <= 1 or len(histories) < PARALLEL_FROM:
        _share(current, new, until, forecasts)
        yield from map(_both, histories)
        return
    # forkserver, not fork: a worker forked from this process would inherit its threads' held locks (tqdm's
    # monitor, a store's committer) and its signal handlers; the server is a clean process that imports this
    # module once, and each worker gets the rules and forecasts pickled.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with context.Pool(jobs, _share, (current, new, until, forecasts)) as pool:
        yield from pool.imap(_both, histories, chunksize=CHUNK)
        pool.close()  # every outcome is in: let the workers finish rather than be terminated
        pool.join()
