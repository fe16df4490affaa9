"""Group commit: the inserts that arrive while a commit is in flight share the next one.

A durable commit costs one fsync (SQLite's, with its one writer at a time; PostgreSQL's WAL flush,
which every receiver on the server waits for): one commit per webhook caps ingest at the disk's
fsync rate. Both stores' add_delivery go through here (PostgreSQL's unless SLACLOCK_PG_GROUP_COMMIT
is false). A committer thread takes every queued insert, runs them in one transaction and commits
once, then takes what queued meanwhile; each caller waits for the commit that holds its item and
gets its own result. Nobody waits on a timer, so a lone
request commits at once, and a 2xx still follows a commit that holds its row.

Each caller blocks on a lock of its own, released once by the committer: a request is woken once
(a shared condition would wake every waiter at every commit, each taking the GIL to sleep again),
and the committer goes from one batch to the next without handing the lead to another thread.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

Item = TypeVar("Item")
# A committer that had nothing to commit for this long ends.
IDLE_SECONDS = 1.0


class _Waiter(Generic[Item]):
    __slots__ = ("item", "result", "error", "wake")

    def __init__(self, item: Item):
        self.item, self.result, self.error = item, None, None
        self.wake = threading.Lock()
        self.wake.acquire()


@dataclass
class GroupCommit(Generic[Item]):
    """Runs `commit_batch(items) -> results` for batches of at most `max_batch` concurrently submitted items."""

    commit_batch: Callable[[list[Item]], list[Any]]
    max_batch: int = 1000
    _queue: list[_Waiter[Item]] = field(default_factory=list)
    _mutex: threading.Lock = field(default_factory=threading.Lock)
    # The committer of this process (threads do not survive gunicorn's fork): its pid, wake-up lock, thread; idle.
    _committer: tuple[int, threading.Lock, threading.Thread] | None = None
    _idle: bool = False

    def submit(self, item: Item) -> Any:
        """Queue `item`, wait for the commit that includes it, and return its result (or raise its error)."""
        waiter = _Waiter(item)
        with self._mutex:
            self._queue.append(waiter)
            if self._committer is None or self._committer[0] != os.getpid():
                work = threading.Lock()
                work.acquire()
                thread = threading.Thread(target=self._commit_forever, args=(work,), daemon=True, name="group-commit")
                self._committer, self._idle = (os.getpid(), work, thread), True
                thread.start()
            if self._idle:
                self._idle = False
                self._committer[1].release()
        waiter.wake.acquire()  # until the committer has committed our item
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def close(self) -> None:
        """End this process's committer once it has committed what is queued; a later submit starts another."""
        with self._mutex:
            if self._committer is None or self._committer[0] != os.getpid():
                return
            _, work, thread = self._committer
            self._committer = None
            if self._idle:
                self._idle = False
                work.release()
        thread.join()

    def _commit_forever(self, work: threading.Lock) -> None:
        while True:
            if not work.acquire(timeout=IDLE_SECONDS):  # released by the submit that finds us idle
                with self._mutex:
                    if not self._current(work):
                        return
                    if self._idle:  # nobody came: this thread ends (and lets its store go); a submit starts another
                        self._committer = None
                        return
                continue  # a submit released `work` meanwhile
            while True:
                with self._mutex:
                    batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                    if not batch:
                        if not self._current(work):  # closed, and nothing left to commit
                            return
                        self._idle = True
                        break
                try:
                    for w, result in zip(batch, self.commit_batch([w.item for w in batch])):
                        w.result = result
                except BaseException as e:  # every caller in the batch learns that its item was not stored
                    for w in batch:
                        w.error = e
                for w in batch:
                    w.wake.release()

    def _current(self, work: threading.Lock) -> bool:
        """Whether the committer waking on `work` is still this process's (close() lets it go)."""
        return self._committer is not None and self._committer[1] is work
