"""The rules file a running worker decides with (and the dashboard names teams with), loaded again when it
changes on disk.

An admin's edit takes effect within seconds, without a restart. An edit that does not validate is refused: the
process logs the same errors `slaclock check` prints, the worker's `slaclock status` shows them, and the running
rules stay, so a typo never stops the escalations. What changed is picked up by the next decision of each ticket,
as after a restart with the new file.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from jobs.clock import utcnow
from rules import EXAMPLE_RULES, Rules, RulesError, load_rules
from store import Store, StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")
CURSOR = "rules"  # the store's record of the rules in use and of a refused edit, for `slaclock status`


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of the file from another without reading it (None: it cannot be read now)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class RulesFile(Generic[T]):
    """Looks at the rules file every `check_seconds`; `poll()` hands over what `build` makes of new rules.

    `build(rules)` makes the worker's parts from the rules (its connectors, processor, ...); a ValueError from it
    (a connector setting the new rules make invalid) refuses the edit like a rules error does. `store`: where the
    rules in use are recorded for `slaclock status` (the worker's; None: not recorded). Threads may share one."""

    def __init__(self, path: str | None, rules: Rules, build: Callable[[Rules], T], store: Store | None,
                 check_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.path, self.rules, self.refused = Path(path) if path else EXAMPLE_RULES, rules, None
        self._build, self._store, self._check, self._clock, self._now = build, store, check_seconds, clock, now
        self._loaded = self._seen = _stamp(self.path)
        self._next = clock() + check_seconds
        self._lock = threading.Lock()
        self._record()

    def poll(self) -> T | None:
        """The parts built from the file's new rules once it has changed, stayed the same for one look (an editor
        may still be writing it) and validates; None otherwise. One `stat` per look, a read only on a change."""
        if self._clock() < self._next or not self._lock.acquire(blocking=False):
            return None  # not yet time, or another thread is looking
        try:
            return self._look()
        finally:
            self._lock.release()

    def _look(self) -> T | None:
        self._next = self._clock() + self._check
        stamp = _stamp(self.path)
        seen, self._seen = self._seen, stamp
        if stamp == self._loaded or stamp != seen:
            return None
        self._loaded = stamp  # tried once, valid or not: a refused file is tried again when it changes again
        try:
            rules = load_rules(self.path)
            built = self._build(rules) if rules != self.rules else None
        except (RulesError, ValueError) as e:
            self.refused = str(e)
            logger.error("rules.refused", extra={"path": str(self.path), "running": self.rules.version,
                                                 "error": self.refused})
            self._record()
            return None
        if built is None:  # saved again unchanged, only its comments changed, or a refused edit undone
            if self.refused is not None:
                self.refused = None
                self._record()
            return None
        logger.info("rules.reloaded", extra={"path": str(self.path), "from": self.rules.version, "to": rules.version})
        self.rules, self.refused = rules, None
        self._record()
        return built

    def _record(self) -> None:
        if self._store is None:
            return
        now = self._now()
        value: dict[str, Any] = {"version": self.rules.version, "path": str(self.path), "refused": self.refused}
        try:
            with self._store.write_txn() as txn:
                txn.set_cursor(CURSOR, json.dumps(value), now)
        except StoreError as e:  # only `status` reads it: the rules are in use whether or not it is recorded
            logger.warning("rules.unrecorded", extra={"error": str(e)})


def rules_in_use(store: Store) -> dict[str, Any] | None:
    """What the latest worker recorded: `version`, `path`, `refused` (the errors of an edit it refused, or None)
    and `at` (when it recorded that); None before any worker ran."""
    raw = store.get_cursor(CURSOR)
    if raw is None:
        return None
    at = store.cursor_updated_at(CURSOR)
    return {**json.loads(raw), "at": at.isoformat() if at else None}
