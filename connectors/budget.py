"""A per-connector rate budget: a token bucket of requests per minute."""
from __future__ import annotations

import threading
import time
from typing import Callable


class RateBudget:
    """Allow at most `per_minute` requests per rolling minute, with bursts up to `burst`."""

    def __init__(self, per_minute: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if per_minute <= 0:
            raise ValueError("rate budget must be positive requests per minute")
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, int(per_minute // 6)))
        self.tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one request's worth of budget, sleeping until it is there; return seconds waited."""
        with self._lock:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
            self._last = now
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            self.tokens -= 1
        if wait:
            self._sleep(wait)
        return wait
