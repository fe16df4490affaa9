"""slaclock's own user in a helpdesk: changes it made are slaclock's writes coming back, not news."""
from __future__ import annotations

import threading
from typing import Callable


class ApiUser:
    """The ids of the API user, read through `read_ids` the first time they are asked for (once, across threads)."""

    def __init__(self, read_ids: Callable[[], frozenset[str]]):
        self._read_ids = read_ids
        self._ids: frozenset[str] | None = None
        self._lock = threading.Lock()

    def is_actor(self, actor_id: str | None) -> bool:
        """True when `actor_id` is the API user; reads the ids (proving URL and credentials) even for None."""
        with self._lock:
            if self._ids is None:
                self._ids = self._read_ids()
        return actor_id is not None and str(actor_id) in self._ids
