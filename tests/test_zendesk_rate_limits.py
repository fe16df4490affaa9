"""Zendesk's rate-limit headers (issue 11 item 6): Retry-After, ratelimit-reset, the account's limit per minute."""
from __future__ import annotations

from datetime import datetime, timezone

import responses

from connectors.budget import RateBudget
from connectors.http import HelpdeskSession
from tests.test_jira_rate_limits import Clock

BASE = "https://acme.zendesk.com"
TICKETS = f"{BASE}/api/v2/tickets.json"
NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)


def session(clock: Clock, per_minute: float = 600, attempts: int = 3) -> HelpdeskSession:
    return HelpdeskSession(BASE, budget=RateBudget(per_minute, clock=clock, sleep=clock.sleep), attempts=attempts,
                           sleep=clock.sleep, now=lambda: NOW)


@responses.activate
def test_429_without_retry_after_waits_ratelimit_reset_seconds():
    clock = Clock()
    responses.get(TICKETS, status=429, headers={"ratelimit-remaining": "0", "ratelimit-reset": "41"})
    responses.get(TICKETS, json={"tickets": []})
    assert session(clock).request("GET", "/api/v2/tickets.json") == {"tickets": []}
    assert 41.0 in clock.slept


@responses.activate
def test_429_retry_after_wins_over_ratelimit_reset():
    clock = Clock()
    responses.get(TICKETS, status=429, headers={"Retry-After": "7", "ratelimit-reset": "41"})
    responses.get(TICKETS, json={})
    session(clock).request("GET", "/api/v2/tickets.json")
    assert 7.0 in clock.slept and 41.0 not in clock.slept


@responses.activate
def test_the_budget_never_exceeds_the_accounts_limit_per_minute():
    # Configured for 600/min, but the account (Team plan) allows 200/min: one request per 0.3 s.
    clock = Clock()
    responses.get(TICKETS, json={}, headers={"X-Rate-Limit": "200", "X-Rate-Limit-Remaining": "199"})
    http = session(clock, per_minute=600)
    for _ in range(120):
        http.request("GET", "/api/v2/tickets.json")
    assert http.budget.rate == 200 / 60
    assert sum(clock.slept) >= (120 - 100) * 0.3 - 1e-6, "at most 200 a minute once the burst is spent"


@responses.activate
def test_few_remaining_until_ratelimit_reset_are_spread_out():
    clock = Clock()
    responses.get(TICKETS, json={}, headers={"x-rate-limit": "700", "ratelimit-limit": "700",
                                             "ratelimit-remaining": "2", "ratelimit-reset": "10"})
    http = session(clock)
    for _ in range(3):
        http.request("GET", "/api/v2/tickets.json")
    assert clock.slept == [5.0, 5.0]


@responses.activate
def test_none_remaining_waits_for_the_reset_then_goes_on_at_the_normal_rate():
    clock = Clock()
    responses.get(TICKETS, json={}, headers={"ratelimit-remaining": "0", "ratelimit-reset": "30"})
    responses.get(TICKETS, json={}, headers={"ratelimit-remaining": "500", "ratelimit-reset": "60"})
    http = session(clock, per_minute=60)
    http.request("GET", "/api/v2/tickets.json")
    http.request("GET", "/api/v2/tickets.json")
    assert clock.slept == [31.0], "30 s to the reset, then one token at one per second"
