"""Group commit: the inserts that arrive while a commit is in flight share the next one.

A durable commit costs one fsync, a few milliseconds, and SQLite has one writer at a time: one
commit per webhook caps ingest at the disk's fsync rate. Here the first caller to find no commit
in flight becomes the leader: it takes every queued insert, runs them in one transaction and
commits once; the callers that queued meanwhile wait for that commit and get their own result.
Nobody waits on a timer, so a lone request commits at once, and a 2xx still follows a commit
that holds its row.

Each waiter blocks on a lock of its own, released once: by the leader whose commit holds its row, or
by the leader before it, handing it the lead of the next batch. A request is woken once (a shared
condition would wake every waiter at every commit, each taking the GIL to go back to sleep).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

Item = TypeVar("Item")


class _Waiter(Generic[Item]):
    __slots__ = ("item", "result", "error", "leads", "wake")

    def __init__(self, item: Item):
        self.item, self.result, self.error, self.leads = item, None, None, False
        self.wake = threading.Lock()
        self.wake.acquire()


@dataclass
class GroupCommit(Generic[Item]):
    """Runs `commit_batch(items) -> results` for batches of at most `max_batch` concurrently submitted items."""

    commit_batch: Callable[[list[Item]], list[Any]]
    max_batch: int = 1000
    _queue: list[_Waiter[Item]] = field(default_factory=list)
    _leading: bool = False
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, item: Item) -> Any:
        """Queue `item`, wait for the commit that includes it, and return its result (or raise its error)."""
        waiter = _Waiter(item)
        with self._mutex:
            self._queue.append(waiter)
            waiter.leads, self._leading = not self._leading, True
        if not waiter.leads:
            waiter.wake.acquire()  # until our row is committed, or the lead passes to us
        if waiter.leads:
            self._lead()
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def _lead(self) -> None:
        """Commit everything queued (our own item among it); pass the lead on to the first caller that came since."""
        with self._mutex:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        try:
            results = self.commit_batch([w.item for w in batch])
            for w, result in zip(batch, results):
                w.result, w.leads = result, False
        except BaseException as e:  # every caller in the batch learns that its row was not stored
            for w in batch:
                w.error, w.leads = e, False
        with self._mutex:
            following = self._queue[0] if self._queue else None
            if following is not None:
                following.leads = True
            self._leading = following is not None
        if following is not None:
            following.wake.release()
        for w in batch[1:]:  # batch[0] is this thread: the leader is the first in its batch
            w.wake.release()
