"""POST /webhooks/zendesk through the real Zendesk connector: statuses, storage, no helpdesk calls."""
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses

from app import build_connectors, create_app
from rules import load_rules
from store import StoreError
import web.webhooks
from web.webhooks import accept as ACCEPT
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


def _through_flask(client, body: bytes):
    """The same signed POST without a Content-Length (as a chunked body arrives): `web.webhooks.direct` leaves it
    to Flask's view."""
    signed = {"X-Zendesk-Webhook-Signature": sign(SECRET, STAMP, body), "X-Zendesk-Webhook-Signature-Timestamp": STAMP,
              "Content-Type": "application/json"}
    return client.post("/webhooks/zendesk", data=body, headers=signed,
                       environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True})


@pytest.mark.parametrize("body", [fixture("ticket_created__new"), b'{"type": "zen:event-type:ticket.created"}',
                                  fixture("ticket_priority_changed__low_to_high")])
def test_a_body_without_content_length_goes_through_flask_with_the_same_answer(client, store, body, monkeypatch):
    seen = []
    monkeypatch.setattr(web.webhooks, "accept", lambda *args: seen.append(args[1]) or ACCEPT(*args))
    direct = post(client, body)
    store.db.execute("delete from inbox")
    chunked = _through_flask(client, body)
    assert (chunked.status_code, chunked.json) == (direct.status_code, direct.json)
    assert seen == ["zendesk", "zendesk"]


def test_a_body_shorter_than_its_content_length_is_400(client, store):
    body = fixture("ticket_created__new")
    signed = {"X-Zendesk-Webhook-Signature": sign(SECRET, STAMP, body), "X-Zendesk-Webhook-Signature-Timestamp": STAMP}
    response = client.post("/webhooks/zendesk", data=body, headers=signed,
                           environ_overrides={"CONTENT_LENGTH": str(len(body) + 10)})
    assert response.status_code == 400 and f"of its {len(body) + 10} bytes" in response.json["error"]
    assert store.delivery_counts() == {}


def test_a_receiver_failure_is_a_logged_500_that_names_no_internals(client, store, monkeypatch, caplog):
    def broken(**kwargs):
        raise KeyError("internal detail")
    monkeypatch.setattr(store, "add_delivery", broken)
    response = post(client, fixture("ticket_created__new"))
    assert response.status_code == 500 and "internal detail" not in response.json["error"]
    assert any(r.getMessage() == "webhook.failed" and r.exc_info for r in caplog.records)


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


# --- hostile signed bodies: 4xx naming the problem, never 5xx (issue 10) -------------------------

JIRA_SECRET = "jira-secret"
JIRA_ENV = {**ENV, "JIRA_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@acme.test", "JIRA_API_TOKEN": "t",
            "JIRA_WEBHOOK_SECRET": JIRA_SECRET}
JIRA_FIXTURES = Path(__file__).parent / "fixtures" / "jira"


@pytest.fixture
def both(store):
    """A client with both connectors."""
    rules = load_rules()
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": build_connectors(JIRA_ENV, rules),
                      "CLOCK": lambda: NOW})
    return app.test_client()


def post_jira(client, body: bytes, **headers):
    from jira.webhook import sign as jira_sign

    return client.post("/webhooks/jira", data=body, headers={"X-Hub-Signature": jira_sign(JIRA_SECRET, body),
                                                             "Content-Type": "application/json", **headers})


def zendesk_envelope(**changes) -> bytes:
    payload = json.loads(fixture("ticket_priority_changed__low_to_high"))
    payload["detail"].update(changes.pop("detail", {}))
    payload.update(changes)
    return json.dumps(payload).encode()


def jira_body(**changes) -> bytes:
    payload = json.loads((JIRA_FIXTURES / "jira_issue_updated__priority_cloud.json").read_bytes())
    payload.update(changes)
    return json.dumps(payload).encode()


DEEP = b"[" * 5000 + b"]" * 5000
HUGE_INT = b"9" * 5000
HOSTILE = {
    "deep-list": (DEEP, "nested deeper"),
    "deep-inside-object": (b'{"type": "zen:event-type:ticket.created", "id": "d", "detail": ' + DEEP + b"}",
                           "nested deeper"),
    "huge-int": (b'{"event": "ticket_updated", "ticket_id": ' + HUGE_INT + b"}", "5000 digits"),
    "huge-int-string-id": (b'{"event": "ticket_updated", "ticket_id": "' + HUGE_INT + b'"}', "invalid ticket id"),
    "float-overflow": (b'{"event": "ticket_updated", "ticket_id": "7", "x": 1e400}', "out of range"),
    "nan": (b'{"event": "ticket_updated", "ticket_id": "7", "x": NaN}', "NaN"),
}


@pytest.mark.parametrize("body, needle", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_signed_zendesk_bodies_are_400_naming_the_problem(both, store, body, needle):
    response = post(both, body)
    assert response.status_code == 400 and needle in response.json["error"]
    assert len(response.json["error"]) < 300, "the message quotes the offending value, not all of it"
    assert store.delivery_counts() == {}


JIRA_HOSTILE = {
    "deep-list": (DEEP, "nested deeper"),
    "huge-int": (b'{"webhookEvent": "jira:issue_updated", "timestamp": ' + HUGE_INT + b"}", "5000 digits"),
    "timestamp-1e30": (jira_body(timestamp=1e30), "timestamp"),
    "timestamp-negative": (jira_body(timestamp=-1), "timestamp"),
    "timestamp-huge-int": (jira_body(timestamp=10 ** 30), "timestamp"),
    "huge-issue-key": (jira_body(issue={"key": "SD-" + "9" * 5000, "fields": {}}), "invalid issue key"),
}


@pytest.mark.parametrize("body, needle", JIRA_HOSTILE.values(), ids=JIRA_HOSTILE.keys())
def test_hostile_signed_jira_bodies_are_400_naming_the_problem(both, store, body, needle):
    response = post_jira(both, body)
    assert response.status_code == 400 and needle in response.json["error"]
    assert len(response.json["error"]) < 300
    assert store.delivery_counts() == {}


@pytest.mark.parametrize("send, body", [
    ("zendesk", zendesk_envelope(id="\ud800", detail={"actor_id": "\udfff"})),
    ("zendesk", b'{"event": "ticket_updated", "ticket_id": "7", "actor_id": "\\ud800", "tags": "a\\udc00b"}'),
    ("jira", jira_body(user={"accountId": "\ud800"}, webhookEvent="jira:issue_updated")),
], ids=["zendesk-envelope", "zendesk-trigger", "jira"])
def test_lone_surrogates_are_replaced_and_the_delivery_stored(both, store, send, body):
    assert b"\\ud800" in body, "json.dumps escapes the surrogate, as a hostile sender would"
    response = post(both, body) if send == "zendesk" else post_jira(both, body)
    assert response.status_code in (200, 202) and response.json["status"] == "accepted"
    (actor, key), = store.db.execute("select actor_id, delivery_key from inbox").fetchall()
    assert actor == "\ufffd" and "\ud800" not in key


def test_out_of_range_instants_are_read_as_unknown(both, store):
    response = post(both, zendesk_envelope(time="0001-01-01T00:00:00+01:00",
                                           detail={"updated_at": "9999-12-31T23:59:59-01:00"}))
    assert response.status_code == 202


def test_out_of_range_signature_timestamp_is_401(both, store):
    response = post(both, fixture("ticket_created__new"), stamp="0001-01-01T00:00:00+01:00")
    assert response.status_code == 401 and "ISO 8601" in response.json["error"]


def test_unknown_routes_and_methods_answer_json(both):
    for response in (both.get("/nowhere"), both.get("/webhooks/zendesk"), both.delete("/vendor/eta")):
        assert 400 <= response.status_code < 500 and response.json["error"]
    assert "POST" in both.get("/webhooks/zendesk").headers["Allow"]


# --- replays dedupe on what is signed (issue 10) ------------------------------------------------

def test_replayed_zendesk_trigger_with_new_or_missing_invocation_id_is_a_duplicate(both, store):
    body = fixture("trigger_ticket_updated__display_values")
    first = post(both, body, **{"X-Zendesk-Webhook-Invocation-Id": "8350205582"})
    assert first.status_code == 202
    for invocation in ("8350205583", None):
        again = post(both, body, **{"X-Zendesk-Webhook-Invocation-Id": invocation})
        assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert store.delivery_counts() == {"pending": 1}


def test_same_trigger_body_signed_at_another_second_is_a_new_delivery(both, store):
    body = fixture("trigger_ticket_updated__display_values")
    assert post(both, body).status_code == 202
    assert post(both, body, stamp="2025-01-08T10:20:31Z").status_code == 202
    assert store.delivery_counts() == {"pending": 2}


def test_replayed_jira_body_with_new_or_missing_identifier_is_a_duplicate(both, store):
    body = (JIRA_FIXTURES / "jira_issue_updated__priority_cloud.json").read_bytes()
    assert post_jira(both, body, **{"X-Atlassian-Webhook-Identifier": "abc-1"}).status_code == 200
    for identifier in ({"X-Atlassian-Webhook-Identifier": "abc-2"}, {}):
        again = post_jira(both, body, **identifier)
        assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert store.delivery_counts() == {"pending": 1}


# --- a store locked by another writer: 503 within a second (issue 10) ---------------------------

@pytest.fixture
def locked(tmp_path):
    """A receiver built as `create_app` builds it, and a second connection that holds the write lock."""
    import sqlite3

    from store import Store
    from web import RECEIVER_BUSY_TIMEOUT_SECONDS

    store = Store(tmp_path / "busy.db", busy_timeout=RECEIVER_BUSY_TIMEOUT_SECONDS)
    rules = load_rules()
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": build_connectors(ENV, rules),
                      "CLOCK": lambda: NOW})
    writer = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    yield app.test_client(), writer, store
    writer.close()


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_locked_store_is_503_with_retry_after_within_a_second(locked):
    client, writer, store = locked
    response, took = timed(lambda: post(client, fixture("ticket_created__new")))
    assert response.status_code == 503 and "store busy" in response.json["error"]
    assert 0 < int(response.headers["Retry-After"]) < 60
    assert took < 1.0, f"answered after {took:.2f} s"
    writer.rollback()
    assert post(client, fixture("ticket_created__new")).status_code == 202
    assert store.delivery_counts() == {"pending": 1}


def test_a_locked_postgresql_inbox_is_503_with_retry_after_for_each_delivery_of_a_group_commit(postgres_url):
    import threading

    import psycopg

    from store.postgres import Store as PostgresStore
    from web import RECEIVER_BUSY_TIMEOUT_SECONDS

    store = PostgresStore(postgres_url, busy_timeout=RECEIVER_BUSY_TIMEOUT_SECONDS)
    rules = load_rules()
    app = create_app({"STORE": store, "RULES": rules, "CONNECTORS": build_connectors(ENV, rules),
                      "CLOCK": lambda: NOW})
    body = fixture("trigger_ticket_updated__display_values")  # signed at another second: another delivery
    stamps = [f"2025-01-08T10:20:3{n}Z" for n in range(3)]
    answers = {}

    def send(stamp):
        answers[stamp] = timed(lambda: post(app.test_client(), body, stamp=stamp))

    with psycopg.connect(postgres_url) as other:
        other.execute("lock table inbox in exclusive mode")
        threads = [threading.Thread(target=send, args=(stamp,)) for stamp in stamps]
        threads[0].start()
        while store._deliveries._queue:  # the first delivery's commit waits on the lock; the others queue behind
            time.sleep(0.001)
        for thread in threads[1:]:
            thread.start()
        while len(store._deliveries._queue) < 2:
            time.sleep(0.001)
        for thread in threads:
            thread.join(30)
    for response, took in answers.values():
        assert response.status_code == 503 and "store busy" in response.json["error"]
        assert 0 < int(response.headers["Retry-After"]) < 60 and took < 2.0
    assert store.delivery_counts() == {}
    assert [post(app.test_client(), body, stamp=stamp).status_code for stamp in stamps] == [202] * 3
    assert store.delivery_counts() == {"pending": 3}
    store.close()


def test_readyz_fails_while_the_store_cannot_take_a_write(locked):
    client, writer, _ = locked
    response, took = timed(lambda: client.get("/readyz"))
    assert response.status_code == 503 and "store busy" in response.json["error"] and took < 1.0
    assert response.headers["Retry-After"]
    writer.rollback()
    assert client.get("/readyz").status_code == 200


def test_store_busy_timeout_is_a_parameter(tmp_path):
    from store import Store
    from store.sqlite import BUSY_TIMEOUT_SECONDS

    assert Store(tmp_path / "a.db").busy_timeout == BUSY_TIMEOUT_SECONDS
    assert Store(tmp_path / "a.db", busy_timeout=0.25).busy_timeout == 0.25
    with pytest.raises(ValueError, match="busy_timeout"):
        Store(tmp_path / "a.db", busy_timeout=0)


def test_create_app_builds_the_receiver_store_with_the_short_busy_timeout(tmp_path, monkeypatch):
    from web import RECEIVER_BUSY_TIMEOUT_SECONDS

    monkeypatch.setenv("SLACLOCK_DATABASE", str(tmp_path / "env.db"))
    monkeypatch.delenv("SLACLOCK_RULES", raising=False)
    assert create_app().config["STORE"].busy_timeout == RECEIVER_BUSY_TIMEOUT_SECONDS < 1
