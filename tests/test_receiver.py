"""POST /webhooks/zendesk through the real Zendesk connector: statuses, storage, no helpdesk calls."""
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses

from app import build_connectors, create_app
from rules import load_rules
from store import StoreError
from zendesk.webhook import sign

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
SECRET = "receiver-test-secret"
NOW = datetime(2025, 1, 8, 10, 20, 30, tzinfo=timezone.utc)
STAMP = "2025-01-08T10:20:30Z"
ENV = {"ZENDESK_URL": "https://acme.zendesk.com", "ZENDESK_EMAIL": "bot@acme.test", "ZENDESK_API_TOKEN": "tok",
       "ZENDESK_WEBHOOK_SECRET": f"{SECRET},old-secret"}


@pytest.fixture
def client(store):
    rules = load_rules()
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": build_connectors(ENV, rules),
                      "CLOCK": lambda: NOW})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield app.test_client()
        assert len(rsps.calls) == 0, "the receiver must never call the helpdesk"


def post(client, body: bytes, secret=SECRET, stamp=STAMP, **headers):
    signed = {"X-Zendesk-Webhook-Signature": sign(secret, stamp, body), "X-Zendesk-Webhook-Signature-Timestamp": stamp,
              "Content-Type": "application/json", **headers}
    return client.post("/webhooks/zendesk", data=body, headers={k: v for k, v in signed.items() if v is not None})


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_accepted_then_duplicate(client, store):
    body = fixture("ticket_priority_changed__low_to_high")
    first = post(client, body)
    assert first.status_code == 202 and first.json["status"] == "accepted"
    again = post(client, body)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert store.delivery_counts() == {"pending": 1}
    row = store.db.execute("select ticket_id, event_type, body, headers_json from inbox").fetchone()
    assert row[0] == json.loads(body)["detail"]["id"]
    assert row[1] == "zen:event-type:ticket.priority_changed" and row[2] == body
    assert "signature" not in row[3]


def test_old_secret_accepted_during_rotation(client):
    assert post(client, fixture("ticket_created__new"), secret="old-secret").status_code == 202


def test_ignored_event_answers_200_and_stores_nothing(client, store):
    response = post(client, fixture("ticket_subject_changed__ignored"))
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert store.delivery_counts() == {}


@pytest.mark.parametrize("change, needle", [
    (dict(secret="wrong"), "signature"),
    (dict(stamp="2025-01-08T09:00:00Z"), "timestamp"),
    (dict(**{"X-Zendesk-Webhook-Signature": None}), "signature"),
])
def test_bad_signature_is_401_and_stores_nothing(client, store, change, needle):
    response = post(client, fixture("ticket_created__new"), **change)
    assert response.status_code == 401 and needle in response.json["error"].lower()
    assert SECRET not in response.get_data(as_text=True)
    assert store.delivery_counts() == {}


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "json"),
    (b'{"type": "zen:event-type:ticket.exploded", "id": "x", "detail": {"id": "1"}}', "ticket.exploded"),
    (b'{"type": "zen:event-type:ticket.created", "id": "x", "detail": {}}', "ticket id"),
])
def test_malformed_is_400_naming_the_problem(client, store, body, needle):
    response = post(client, body)
    assert response.status_code == 400 and needle in response.json["error"].lower()
    assert store.delivery_counts() == {}


def test_body_over_one_mib_is_413(client, store):
    body = b'{"padding": "' + b"x" * (1024 * 1024) + b'"}'
    response = post(client, body)
    assert response.status_code == 413 and "1048576" in response.json["error"]
    assert store.delivery_counts() == {}


def test_store_failure_is_503_with_retry_after(client, store, monkeypatch):
    def broken(**kwargs):
        raise StoreError("database is locked")
    monkeypatch.setattr(store, "add_delivery", broken)
    response = post(client, fixture("ticket_created__new"))
    assert response.status_code == 503 and int(response.headers["Retry-After"]) < 60


def test_unknown_connector_is_404(client):
    response = client.post("/webhooks/freshdesk", data=b"{}")
    assert response.status_code == 404 and "freshdesk" in response.json["error"]


def test_health_and_readiness(client, store, monkeypatch):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json["connectors"] == ["zendesk"]
    monkeypatch.setattr(store, "ping", lambda: (_ for _ in ()).throw(StoreError("disk I/O error")))
    assert client.get("/readyz").status_code == 503


def test_jira_endpoint_accepts_with_200_and_rejects_bad_signatures(store):
    from jira.webhook import sign as jira_sign

    env = {**ENV, "JIRA_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@acme.test", "JIRA_API_TOKEN": "t",
           "JIRA_WEBHOOK_SECRET": "jira-secret"}
    rules = load_rules()
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": build_connectors(env, rules),
                      "CLOCK": lambda: NOW})
    client = app.test_client()
    body = (Path(__file__).parent / "fixtures" / "jira" / "jira_issue_updated__priority_cloud.json").read_bytes()
    headers = {"X-Hub-Signature": jira_sign("jira-secret", body), "X-Atlassian-Webhook-Identifier": "abc-1",
               "Content-Type": "application/json"}
    first = client.post("/webhooks/jira", data=body, headers=headers)
    assert first.status_code == 200 and first.json["status"] == "accepted"
    assert client.post("/webhooks/jira", data=body, headers=headers).json["status"] == "duplicate"
    forged = client.post("/webhooks/jira", data=body, headers={**headers, "X-Hub-Signature": "sha256=" + "0" * 64})
    assert forged.status_code == 401
    assert store.delivery_counts() == {"pending": 1}
