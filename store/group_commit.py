"""Group commit: the inserts that arrive while a commit is in flight share the next one.

A durable commit costs one fsync, a few milliseconds, and SQLite has one writer at a time: one
commit per webhook caps ingest at the disk's fsync rate. Here the first caller to find no commit
in flight becomes the leader: it takes every queued insert, runs them in one transaction and
commits once; the callers that queued meanwhile wait for that commit and get their own result.
Nobody waits on a timer, so a lone request commits at once, and a 2xx still follows a commit
that holds its row.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

Item = TypeVar("Item")


@dataclass
class _Waiter(Generic[Item]):
    item: Item
    result: Any = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class GroupCommit(Generic[Item]):
    """Runs `commit_batch(items) -> results` for batches of concurrently submitted items."""

    commit_batch: Callable[[list[Item]], list[Any]]
    _queue: list[_Waiter[Item]] = field(default_factory=list)
    _leading: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def submit(self, item: Item) -> Any:
        """Queue `item`, wait for the commit that includes it, and return its result (or raise its error)."""
        waiter = _Waiter(item)
        with self._cond:
            self._queue.append(waiter)
            while not waiter.done:
                if self._leading:
                    self._cond.wait()
                    continue
                batch, self._queue, self._leading = self._queue, [], True
                self._cond.release()
                results: list[Any] = []
                error: BaseException | None = None
                try:
                    results = self.commit_batch([w.item for w in batch])
                except BaseException as e:  # every caller in the batch learns that its row was not stored
                    error = e
                finally:
                    self._cond.acquire()
                for n, w in enumerate(batch):
                    w.result, w.error, w.done = (results[n] if error is None else None), error, True
                self._leading = False
                self._cond.notify_all()
        if waiter.error is not None:
            raise waiter.error
        return waiter.result
