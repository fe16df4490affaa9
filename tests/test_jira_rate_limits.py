"""Jira's rate-limit headers (issue 11 item 6): Retry-After, Beta-Retry-After, X-RateLimit-Reset, NearLimit.

Clocks and sleeps are injected: nothing waits for real time."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import responses

from connectors.budget import RateBudget
from connectors.errors import RetryableError
from connectors.http import HelpdeskSession

BASE = "https://acme-support.atlassian.net"
MYSELF = f"{BASE}/rest/api/3/myself"
NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)


class Clock:
    """A monotonic clock the sleeps advance."""

    def __init__(self):
        self.t, self.slept = 1000.0, []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.t += seconds


def session(clock: Clock, per_minute: float = 600, attempts: int = 3) -> HelpdeskSession:
    budget = RateBudget(per_minute, clock=clock, sleep=clock.sleep)
    return HelpdeskSession(BASE, budget=budget, attempts=attempts, sleep=clock.sleep, now=lambda: NOW)


@responses.activate
def test_429_waits_the_longer_of_retry_after_and_beta_retry_after():
    clock = Clock()
    responses.get(MYSELF, status=429, headers={"Retry-After": "5", "Beta-Retry-After": "12"})
    responses.get(MYSELF, json={"accountId": "me"})
    assert session(clock).request("GET", "/rest/api/3/myself") == {"accountId": "me"}
    assert 12.0 in clock.slept and 5.0 not in clock.slept


@responses.activate
def test_429_with_only_x_ratelimit_reset_waits_until_that_instant():
    # X-RateLimit-Reset is ISO 8601 at minute resolution (yyyy-MM-ddTHH:mmZ).
    clock = Clock()
    responses.get(MYSELF, status=429, headers={"X-RateLimit-Reset": "2026-03-02T09:01Z"})
    responses.get(MYSELF, json={})
    session(clock).request("GET", "/rest/api/3/myself")
    assert 60.0 in clock.slept


@responses.activate
def test_a_non_idempotent_write_told_to_wait_keeps_the_stated_wait_on_its_error():
    clock = Clock()
    responses.post(f"{BASE}/rest/api/3/issue", status=429, headers={"Beta-Retry-After": "30"})
    with pytest.raises(RetryableError) as caught:
        session(clock, attempts=1).request("POST", "/rest/api/3/issue", json={"fields": {}})
    assert caught.value.retry_after == 30.0


@responses.activate
def test_remaining_requests_until_the_reset_are_spread_out():
    # 3 requests left until 09:01 (60 s away): the budget slows to one per 20 s instead of its 10 per second.
    clock = Clock()
    responses.get(MYSELF, json={}, headers={"X-RateLimit-Remaining": "3", "X-RateLimit-Limit": "350",
                                            "X-RateLimit-Reset": "2026-03-02T09:01Z"})
    http = session(clock)
    for _ in range(3):
        http.request("GET", "/rest/api/3/myself")
    assert clock.slept == [20.0, 20.0]


@responses.activate
def test_near_limit_halves_the_budget_for_a_minute():
    clock = Clock()
    responses.get(MYSELF, json={}, headers={"X-RateLimit-NearLimit": "true"})
    http = session(clock, per_minute=60)  # one per second, bursts of 10
    for _ in range(3):
        http.request("GET", "/rest/api/3/myself")
    assert clock.slept == [2.0, 2.0], "half of one per second, and no burst while near the limit"


@responses.activate
def test_remaining_under_a_fifth_of_the_limit_counts_as_near():
    clock = Clock()
    responses.get(MYSELF, json={}, headers={"X-RateLimit-Remaining": "60", "X-RateLimit-Limit": "350"})
    http = session(clock, per_minute=60)
    http.request("GET", "/rest/api/3/myself")
    http.request("GET", "/rest/api/3/myself")
    assert clock.slept == [2.0]


@responses.activate
def test_plenty_remaining_changes_nothing():
    clock = Clock()
    responses.get(MYSELF, json={}, headers={"X-RateLimit-Remaining": "349", "X-RateLimit-Limit": "350"})
    http = session(clock, per_minute=60)
    for _ in range(5):
        http.request("GET", "/rest/api/3/myself")
    assert clock.slept == [], "the burst of 10 is still there"
