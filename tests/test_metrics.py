"""GET /metrics: the counters (webhooks, decisions, API calls, budget waits, sweep lag) and the store's gauges,
through the Flask test client and through a real `slaclock serve` (gunicorn, 2 workers) beside a worker."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
import responses
from prometheus_client.parser import text_string_to_metric_families

import metrics
from app import build_connectors, create_app
from connectors.budget import RateBudget
from connectors.http import HelpdeskSession
from jobs.clock import utcnow
from jobs.demo import Stack, free_port, wait_until
from jobs.reconciler import Reconciler
from jobs.sweeper import Sweeper
from rules import load_rules
from store import Store
from tests.fakes import Clock, FakeConnector
from tests.test_pipeline import NOW, deliver, drain
from tests.test_receiver import ENV, fixture, post
from tests.test_receiver import NOW as SIGNED_NOW


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def receiver(store):
    rules = load_rules()
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": build_connectors(ENV, rules),
                      "CLOCK": lambda: SIGNED_NOW})
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield app.test_client()


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


def test_webhooks_counted_by_connector_and_outcome(receiver, store):
    before = scrape(receiver)
    assert post(receiver, fixture("ticket_created__new")).status_code == 202
    assert post(receiver, fixture("ticket_created__new")).status_code == 200  # the same delivery again
    assert post(receiver, fixture("ticket_subject_changed__ignored")).json["status"] == "ignored"
    assert post(receiver, fixture("ticket_created__new"), secret="wrong").status_code == 401
    assert receiver.post("/webhooks/teleport", data=b"{}").status_code == 404
    after = scrape(receiver)
    counted = {outcome: value(after, "slaclock_webhooks_received_total", connector="zendesk", outcome=outcome)
               - value(before, "slaclock_webhooks_received_total", connector="zendesk", outcome=outcome)
               for outcome in ("accepted", "duplicate", "ignored", "rejected")}
    assert counted == {"accepted": 1, "duplicate": 1, "ignored": 1, "rejected": 1}
    # A name nobody configured is not a label value of its own.
    assert value(after, "slaclock_webhooks_received_total", connector="unknown", outcome="rejected") >= 1
    assert not any(dict(labels).get("connector") == "teleport" for _, labels in after)
    assert value(after, "slaclock_inbox_depth", status="pending") == 1


def test_store_gauges_after_the_pipeline(store):
    fake, clock, rules = FakeConnector(), Clock(NOW), load_rules()
    from jobs.deliverer import Deliverer
    from jobs.processor import Processor
    processor, deliverer = Processor(store, {"zendesk": fake}, rules, clock), Deliverer(store, {"zendesk": fake}, clock)
    fake.add("1", reason_code="missing_part")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": {"zendesk": fake}, "CLOCK": clock})
    client = app.test_client()
    first = scrape(client)
    assert value(first, "slaclock_outbox_depth", status="done") == 1
    assert value(first, "slaclock_outbox_depth", status="pending") == 0
    assert value(first, "slaclock_parked_rows", queue="outbox") == 0
    assert value(first, "slaclock_inbox_depth", status="done") == 1
    assert value(first, "slaclock_decisions_total", connector="zendesk", outcome="write") >= 1

    case = store.get_case("zendesk", "1")
    assert case.next_action_at is not None
    clock.at = case.next_action_at - timedelta(minutes=30)
    assert value(scrape(client), "slaclock_tickets_at_risk", connector="zendesk") == 1
    clock.at = case.next_action_at - timedelta(hours=3)
    if case.due_at is None or case.due_at > clock.at + metrics.AT_RISK_WITHIN:
        assert value(scrape(client), "slaclock_tickets_at_risk", connector="zendesk") == 0

    # Far past every deadline: the sweeps take the ticket through its thresholds up to the breach.
    sweeper = Sweeper(store, clock)
    lag_before = value(scrape(client), "slaclock_sweep_lag_seconds_count", connector="zendesk")
    clock.at = NOW + timedelta(days=30)
    for _ in range(20):
        sweeper.run_once()
        drain(processor, deliverer)
        if any(e.kind == "breach" for e in store.timeline("zendesk", "1")):
            break
    later = scrape(client)
    assert value(later, "slaclock_tickets_breached", connector="zendesk") == 1
    assert value(later, "slaclock_tickets_at_risk", connector="zendesk") == 0
    assert value(later, "slaclock_sweep_lag_seconds_count", connector="zendesk") > lag_before
    assert value(later, "slaclock_sweep_lag_seconds_bucket", connector="zendesk", le="+Inf") > lag_before

    store.acquire_lease("scheduler", "host:1:abc", clock.at, 60)
    assert value(scrape(client), "slaclock_lease_holder", lease="scheduler", holder="host:1:abc") == 1
    clock.at += timedelta(minutes=2)  # the lease lapsed
    assert value(scrape(client), "slaclock_lease_holder", lease="scheduler", holder="host:1:abc") == 0


def test_api_calls_by_endpoint_template_and_budget_waits():
    waits: list[float] = []
    moments = iter([0.0, 0.0, 0.0])
    budget = RateBudget(60, burst=1, clock=lambda: next(moments, 0.0), sleep=waits.append)
    session = HelpdeskSession("https://acme.zendesk.com", budget=budget, sleep=lambda s: None)
    counts = lambda: samples(metrics.render(_NoStore(), NOW)[0].decode())  # noqa: E731
    before = counts()
    with responses.RequestsMock() as rsps:
        rsps.get("https://acme.zendesk.com/api/v2/tickets/4711.json", json={"ticket": {}})
        rsps.put("https://acme.zendesk.com/api/v2/tickets/update_many.json", status=422, json={"error": "x"})
        session.request("GET", "/api/v2/tickets/4711.json")
        with pytest.raises(Exception):
            session.request("PUT", "/api/v2/tickets/update_many.json", json={"tickets": []})
    after = counts()

    def delta(**labels):
        return value(after, "slaclock_api_calls_total", **labels) - value(before, "slaclock_api_calls_total", **labels)
    assert delta(connector="zendesk", endpoint="GET /api/v2/tickets/{ticket_id}.json", status="200") == 1
    assert delta(connector="zendesk", endpoint="PUT /api/v2/tickets/update_many.json", status="422") == 1
    assert not any("4711" in dict(labels).get("endpoint", "") for _, labels in after)
    assert waits and waits[0] > 0  # the second request waited for the budget (burst of 1)
    assert (value(after, "slaclock_rate_budget_waits_total", connector="zendesk")
            - value(before, "slaclock_rate_budget_waits_total", connector="zendesk")) == 1
    assert (value(after, "slaclock_rate_budget_wait_seconds_total", connector="zendesk")
            - value(before, "slaclock_rate_budget_wait_seconds_total", connector="zendesk")) == pytest.approx(waits[0])


@pytest.mark.parametrize("path, template", [
    ("/rest/api/3/issue/SD-12/comment", "/rest/api/3/issue/{key}/comment"),
    ("/rest/servicedeskapi/request/10001/sla", "/rest/servicedeskapi/request/{key}/sla"),
    ("/api/v2/job_statuses/8b726e606741012ffc2d782bcb7848fe.json", "/api/v2/job_statuses/{job_id}.json"),
    ("/api/v2/users/me.json", "/api/v2/users/me.json"),
    ("/api/v2/tickets.json", "/api/v2/tickets.json"),
    ("/api/v2/ticket_fields/360001.json", "/api/v2/ticket_fields/{id}.json"),  # no client template: ids replaced
])
def test_endpoint_templates_never_carry_ids(path, template):
    assert metrics.endpoint(path) == template


class _NoStore:
    """A store with nothing in it, for a scrape of the counters alone."""

    def delivery_counts(self):
        return {}

    def outbox_counts(self):
        return {}

    def live_leases(self, now):
        return []

    def ticket_risk(self, now, within):
        return {}

    def job_outcomes(self, job):
        return {}

    def get_cursor(self, name):
        return None


def test_readyz_shows_a_refused_reconciler_and_stays_200(store):
    from connectors.errors import PermanentError
    fake = FakeConnector()
    app = create_app({"STORE": store, "RULES": load_rules(), "CONNECTORS": {"zendesk": fake}, "CLOCK": lambda: NOW})
    client = app.test_client()
    assert client.get("/readyz").json["reconciler"] == {"zendesk": "not run yet"}
    Reconciler(store, {"zendesk": fake}, lambda: NOW).run_once()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    assert ready.json["reconciler"]["zendesk"] == f"ok at {NOW.isoformat()}"

    def refused(cursor, now):
        raise PermanentError("GET /api/v2/incremental/tickets/cursor.json → 403: Forbidden", 403)
    fake.changed_tickets = refused
    Reconciler(store, {"zendesk": fake}, lambda: NOW).run_once()
    degraded = client.get("/readyz")
    assert degraded.status_code == 200 and degraded.json["status"] == "degraded"
    assert degraded.json["reconciler"]["zendesk"].startswith("refused: GET /api/v2/incremental")
    assert "403" in degraded.json["reconciler"]["zendesk"]
    assert value(scrape(client), "slaclock_reconciler_ok", connector="zendesk") == 0


def test_a_refused_rules_edit_is_a_gauge_to_alert_on(store, tmp_path):
    from jobs.rules_file import RulesFile
    from rules import EXAMPLE_RULES

    client = create_app({"STORE": store, "RULES": load_rules(), "CONNECTORS": {}, "CLOCK": lambda: NOW}).test_client()
    assert not any(name == "slaclock_rules_refused" for name, _ in scrape(client))  # no worker yet
    path, seconds = tmp_path / "rules.toml", [0.0]
    path.write_text(EXAMPLE_RULES.read_text(encoding="utf-8"), encoding="utf-8")
    watched = RulesFile(str(path), load_rules(path), lambda new: new, store, clock=lambda: seconds[0])
    assert value(scrape(client), "slaclock_rules_refused", version="example-5") == 0
    assert ("slaclock_rules_refused", (("version", "example-5"),)) in scrape(client)

    path.write_text("version = [", encoding="utf-8")
    for _ in range(2):
        seconds[0] += 5
        watched.poll()
    assert value(scrape(client), "slaclock_rules_refused", version="example-5") == 1


def test_serve_with_two_gunicorn_workers_adds_up_the_worker_and_both_processes(tmp_path):
    """A real stack (sandbox, serve, worker) and a second `slaclock serve --workers 2` on the same database:
    webhooks spread over both gunicorn processes, and the worker's API calls, all in one scrape."""
    with Stack(tmp_path, env={"SLACLOCK_RECONCILE_SECONDS": "1"}) as stack:
        port = free_port()
        log = open(tmp_path / "serve2.log", "ab")
        serve = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2",
                                  "--threads", "1"], env=stack.env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: requests.get(f"{url}/readyz", timeout=1).ok, 20, "the second receiver")
            ticket = stack.customer_creates("Wrong item in the box", "normal", "wrong_item")
            store = Store(stack.database)
            wait_until(lambda: store.get_case("zendesk", ticket) and store.outbox_counts().get("done"), 30,
                       "slaclock's decision and write")
            # The worker takes the lease at its first scheduled pass, a reconcile interval after it starts.
            wait_until(lambda: store.live_leases(utcnow()), 10, "the worker's lease")
            # Rejected webhooks straight to the 2-worker receiver: each goes to whichever process accepts it.
            for _ in range(12):
                assert requests.post(f"{url}/webhooks/zendesk", data=b"{}", timeout=5).status_code == 401
            text = requests.get(f"{url}/metrics", timeout=5).text
        finally:
            serve.terminate()
            serve.wait(10)
            log.close()
    scraped = samples(text)
    assert value(scraped, "slaclock_webhooks_received_total", connector="zendesk", outcome="rejected") == 12
    assert value(scraped, "slaclock_webhooks_received_total", connector="zendesk", outcome="accepted") >= 1
    api = {dict(labels)["endpoint"]: v for (name, labels), v in scraped.items()
           if name == "slaclock_api_calls_total" and dict(labels)["connector"] == "zendesk"}
    assert api.get("GET /api/v2/tickets/{ticket_id}.json", 0) >= 1  # the worker's fresh read
    assert any(endpoint.startswith("PUT /api/v2/tickets/") for endpoint in api)  # and its write
    assert value(scraped, "slaclock_decisions_total", connector="zendesk", outcome="write") >= 1
    assert value(scraped, "slaclock_outbox_depth", status="done") >= 1
    assert any(name == "slaclock_lease_holder" for name, _ in scraped)
    # Both gunicorn processes wrote counter files (beside the database, where the worker writes too).
    files = os.listdir(metrics.directory({}, stack.database))
    assert len([f for f in files if f.startswith("counter_")]) >= 3, files
