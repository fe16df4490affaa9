"""A per-connector rate budget: a token bucket of requests per minute, lowered when the helpdesk says so."""
from __future__ import annotations

import threading
import time
from typing import Callable


class RateBudget:
    """Allow at most `per_minute` requests per rolling minute, with bursts up to `burst`.

    :meth:`observe` lowers it for a while when the helpdesk's rate-limit headers say the account is close
    to its limit (few requests left before the window resets), and caps it at the account's stated limit.
    """

    def __init__(self, per_minute: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if per_minute <= 0:
            raise ValueError("rate budget must be positive requests per minute")
        self.configured = per_minute / 60.0
        self.rate = self.configured
        self.capacity = float(burst if burst is not None else max(1, int(per_minute // 6)))
        self.tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        # Until `_hold_until` (clock seconds) at most `_hold_rate` requests per second.
        self._hold_until, self._hold_rate = self._last, self.rate
        self._lock = threading.Lock()

    def _rate_at(self, moment: float) -> float:
        return min(self.rate, self._hold_rate) if moment < self._hold_until else self.rate

    def _gain(self, start: float, end: float) -> float:
        """Tokens earned between two instants, the hold's rate before `_hold_until` and the normal one after."""
        split = min(max(self._hold_until, start), end)
        return (split - start) * self._rate_at(start) + (end - split) * self.rate

    def _time_to(self, deficit: float, now: float) -> float:
        """Seconds from `now` until `deficit` tokens have been earned."""
        if now < self._hold_until:
            span, rate = self._hold_until - now, self._rate_at(now)
            if rate > 0 and deficit <= rate * span:
                return deficit / rate
            return span + (deficit - rate * span) / self.rate
        return deficit / self.rate

    def acquire(self) -> float:
        """Take one request's worth of budget, sleeping until it is there; return seconds waited."""
        with self._lock:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + self._gain(self._last, now))
            self._last = now
            wait = 0.0 if self.tokens >= 1 else self._time_to(1 - self.tokens, now)
            self.tokens -= 1
        if wait:
            self._sleep(wait)
        return wait

    def observe(self, remaining: float | None = None, reset_seconds: float | None = None,
                limit_per_minute: float | None = None, near_limit_seconds: float | None = None) -> None:
        """Take in what a response said about the account's rate limit.

        - `limit_per_minute`: the account's limit per minute (Zendesk `X-Rate-Limit`); the budget never exceeds it.
        - `remaining` requests until the window resets in `reset_seconds`: when that is less than the budget
          would spend, spread the rest evenly until the reset (none left: wait for it).
        - `near_limit_seconds`: the helpdesk says it is close without numbers (Jira `X-RateLimit-NearLimit`):
          half the budget for that long.
        """
        with self._lock:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + self._gain(self._last, now))
            self._last = now
            if limit_per_minute and limit_per_minute > 0:
                self.rate = min(self.configured, limit_per_minute / 60.0)
            if remaining is not None and reset_seconds and reset_seconds > 0:
                allowed = max(0.0, remaining) / reset_seconds
                if allowed < self._rate_at(now):
                    self._hold(now + reset_seconds, allowed)
            elif near_limit_seconds:
                self._hold(now + near_limit_seconds, self.rate / 2)

    def _hold(self, until: float, rate: float) -> None:
        self._hold_until, self._hold_rate = max(until, self._hold_until), rate
        # No burst while held: the spare tokens were counted against a limit the account no longer has, so the
        # next request waits its turn at the held rate.
        self.tokens = min(self.tokens, 0.0)
