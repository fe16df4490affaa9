"""Zendesk's `Idempotency-Key` on ticket creation."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any, Callable

# Zendesk keeps idempotency keys for two hours.
IDEMPOTENCY_TTL = timedelta(hours=2)


class IdempotencyCache:
    """`Idempotency-Key` on ticket creation: same key + same body replays the first answer."""

    def __init__(self, clock: Callable[[], datetime]):
        self._clock = clock
        self.lock = threading.Lock()  # held across lookup + create so a key creates one ticket
        self._entries: dict[str, tuple[datetime, str, dict[str, Any]]] = {}

    def lookup(self, key: str, fingerprint: str) -> dict[str, Any] | str | None:
        """The cached body, "mismatch", or None (unknown or expired key); call with `lock` held."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] > IDEMPOTENCY_TTL:
            return None
        return entry[2] if entry[1] == fingerprint else "mismatch"

    def store(self, key: str, fingerprint: str, body: dict[str, Any]) -> None:
        self._entries[key] = (self._clock(), fingerprint, body)

    def reset(self) -> None:
        with self.lock:
            self._entries.clear()
