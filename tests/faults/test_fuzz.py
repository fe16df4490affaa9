"""Issue 10's proof for the receiver: fuzzed requests over every endpoint never get a 5xx.

Both webhooks (correctly signed and not), the vendor API (with a valid token and without), the health
checks and routes that do not exist, through Flask's test client against a real SQLite store. Every
4xx carries a JSON message. 10,000 requests in CI (HYPOTHESIS_PROFILE=ci, as .ci/run sets), about
1,500 otherwise; FUZZ_SEED=<n> replays a run.
"""
from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from app import build_connectors, create_app
from rules import load_rules
from store import Store
from tests.faults.conftest import FIGURES
from tests.faults.fuzz_requests import RequestFuzzer
from web import RECEIVER_BUSY_TIMEOUT_SECONDS

CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
REQUESTS = 10_000 if CI else 1_500
CI_BUDGET_SECONDS = 60
NOW = datetime(2025, 1, 8, 10, 20, 30, tzinfo=timezone.utc)
STAMP = "2025-01-08T10:20:30Z"
ZENDESK_SECRET, JIRA_SECRET = "fuzz-zendesk-secret", "fuzz-jira-secret"
ENV = {"ZENDESK_URL": "https://acme.zendesk.com", "ZENDESK_EMAIL": "bot@acme.test", "ZENDESK_API_TOKEN": "tok",
       "ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET, "JIRA_URL": "https://acme.atlassian.net",
       "JIRA_EMAIL": "bot@acme.test", "JIRA_API_TOKEN": "tok", "JIRA_WEBHOOK_SECRET": JIRA_SECRET}


@pytest.fixture
def receiver(tmp_path):
    """The receiver as `slaclock serve` builds it (short busy timeout), a case for the vendor, its token."""
    store = Store(tmp_path / "fuzz.db", busy_timeout=RECEIVER_BUSY_TIMEOUT_SECONDS)
    with store.write_txn() as txn:
        txn.save_case(connector="zendesk", ticket_id="1", memory={}, snapshot={}, priority="high", team="acme_parts",
                      due_at=None, rules_version="x", decided_at=NOW)
    token = store.issue_vendor_token("acme_parts", NOW)
    rules = load_rules()
    # The connectors never call the helpdesk from the receiver; a call would fail (no such host) as a 500.
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": build_connectors(ENV, rules),
                      "CLOCK": lambda: NOW})
    return app.test_client(), store, token


def seed() -> int:
    return int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))


def test_fuzzed_requests_never_get_a_5xx_and_every_4xx_names_its_problem(receiver):
    client, store, token = receiver
    run_seed = seed()
    fuzzer = RequestFuzzer(random.Random(run_seed), zendesk_secret=ZENDESK_SECRET, jira_secret=JIRA_SECRET,
                           vendor_token=token, stamp=STAMP)
    by_status: Counter[int] = Counter()
    by_endpoint: Counter[str] = Counter()
    server_errors, unexplained = [], []
    started = time.monotonic()
    for n in range(REQUESTS):
        request = fuzzer.request()
        response = client.open(request.path, method=request.method, data=request.body, headers=request.headers)
        status = response.status_code
        by_status[status] += 1
        by_endpoint[f"{request.method} {request.path.split('?')[0][:20]} {status}"] += 1
        if status >= 500:
            server_errors.append(f"#{n} {status} {response.get_data()[:300]!r} ← {request.describe()}")
        elif status >= 400 and request.method != "HEAD":
            error = response.get_json(silent=True)
            if not (isinstance(error, dict) and isinstance(error.get("error"), str) and error["error"].strip()):
                unexplained.append(f"#{n} {status} {response.get_data()[:200]!r} ← {request.describe()}")
    took = time.monotonic() - started
    stored = sum(store.delivery_counts().values())
    figures = (f"fuzz: {REQUESTS} requests, {len(server_errors)} x 5xx, by status {dict(sorted(by_status.items()))}, "
               f"{stored} deliveries stored, {took:.1f} s, seed {run_seed}")
    FIGURES.append(figures)  # printed in the run's summary (tests/faults/conftest.py)
    assert not server_errors, f"seed {run_seed}: {len(server_errors)} x 5xx, first: " + "\n".join(server_errors[:5])
    assert not unexplained, f"seed {run_seed}: 4xx without a JSON message: " + "\n".join(unexplained[:5])
    # The mix reaches past the guards: signed bodies are stored, and refusals of each kind occur.
    assert stored > 0 and {200, 400, 401, 404, 413} <= set(by_status), figures
    if CI:
        assert took < CI_BUDGET_SECONDS, figures
