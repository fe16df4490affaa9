"""POST /vendor/eta and GET /vendor/cases: per-vendor tokens (stored hashed), own cases only."""
from datetime import datetime, timezone

import pytest

from app import create_app
from jobs.kinds import CheckKind
from rules import load_rules

NOW = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)


@pytest.fixture
def vendor(store):
    with store.write_txn() as txn:
        for ticket_id, team in (("1", "acme_parts"), ("2", "other_vendor"), ("3", "support")):
            txn.save_case(connector="zendesk", ticket_id=ticket_id, memory={}, snapshot={}, priority="high",
                          team=team, due_at=datetime(2026, 3, 4, 21, tzinfo=timezone.utc), rules_version="x",
                          decided_at=NOW)
    token = store.issue_vendor_token("acme_parts", NOW)
    app = create_app({"STORE": store, "RULES": load_rules(), "CONNECTORS": {}, "CLOCK": lambda: NOW})
    return app.test_client(), token


def post(client, token, body):
    return client.post("/vendor/eta", json=body, headers={"Authorization": f"Bearer {token}"})


def test_token_is_stored_hashed(store, vendor):
    _, token = vendor
    rows = store.db.execute("select token_hash, vendor from vendor_tokens").fetchall()
    assert rows and all(token not in row[0] for row in rows) and store.vendor_for_token(token) == "acme_parts"


def test_eta_for_own_case_is_queued_once(store, vendor):
    client, token = vendor
    body = {"ticket": "zendesk:1", "eta": "2026-03-03T10:00:00-05:00", "capacity_available": True, "note": "Tuesday"}
    first = post(client, token, body)
    assert first.status_code == 202 and first.json["status"] == "accepted"
    assert post(client, token, body).json["status"] == "duplicate"
    (row,) = store.db.execute("select event_type, ticket_id, actor_id, body from inbox").fetchall()
    assert row[:3] == (CheckKind.VENDOR_ETA, "1", "vendor:acme_parts")
    assert b'"eta": "2026-03-03T15:00:00+00:00"' in row[3]


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_missing_or_wrong_token_is_401(vendor, header):
    client, _ = vendor
    headers = {"Authorization": header} if header else {}
    response = client.post("/vendor/eta", json={"ticket": "zendesk:1", "eta": "2026-03-03T10:00:00Z"}, headers=headers)
    assert response.status_code == 401


def test_case_list_needs_a_token_too(vendor):
    client, _ = vendor
    assert client.get("/vendor/cases", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


@pytest.mark.parametrize("ticket", ["zendesk:2", "zendesk:3", "zendesk:999"])
def test_other_cases_are_404_whoever_owns_them(vendor, ticket):
    client, token = vendor
    response = post(client, token, {"ticket": ticket, "capacity_available": False})
    assert response.status_code == 404 and "acme_parts" in response.json["error"]


@pytest.mark.parametrize("body, needle", [
    ({"ticket": "1", "eta": "2026-03-03T10:00:00Z"}, "ticket"),
    ({"ticket": "zendesk:1", "eta": "next tuesday"}, "eta"),
    ({"ticket": "zendesk:1", "eta": "2026-03-03T10:00:00"}, "time zone"),
    ({"ticket": "zendesk:1", "capacity_available": "yes"}, "capacity_available"),
    ({"ticket": "zendesk:1"}, "eta, capacity_available"),
    ({"ticket": "zendesk:1", "eta": "2026-03-03T10:00:00Z", "price": 3}, "unknown field"),
])
def test_bad_bodies_are_400_naming_the_problem(store, vendor, body, needle):
    client, token = vendor
    response = post(client, token, body)
    assert response.status_code == 400 and needle in response.json["error"]
    assert store.delivery_counts() == {}


def test_vendor_lists_only_its_own_cases(vendor):
    client, token = vendor
    cases = client.get("/vendor/cases", headers={"Authorization": f"Bearer {token}"}).json["cases"]
    assert [c["ticket"] for c in cases] == ["zendesk:1"]


def test_vendor_keeps_access_while_its_cycle_runs_after_an_escalation(store, vendor):
    client, token = vendor
    with store.write_txn() as txn:
        txn.save_case(connector="zendesk", ticket_id="4", priority="high", team="purchasing",
                      memory={"vendor": {"team": "acme_parts", "ended_at": None}}, snapshot={}, due_at=None,
                      rules_version="x", decided_at=NOW)
        txn.save_case(connector="zendesk", ticket_id="5", priority="high", team="purchasing",
                      memory={"vendor": {"team": "acme_parts", "ended_at": "2026-03-02T12:00:00+00:00"}},
                      snapshot={}, due_at=None, rules_version="x", decided_at=NOW)
    assert post(client, token, {"ticket": "zendesk:4", "capacity_available": True}).status_code == 202
    assert post(client, token, {"ticket": "zendesk:5", "capacity_available": True}).status_code == 404


def raw_post(client, token, data: bytes):
    return client.post("/vendor/eta", data=data, headers={"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"})


@pytest.mark.parametrize("data, needle", [
    (b"[" * 5000 + b"]" * 5000, "nested deeper"),
    (b'{"ticket": "zendesk:1", "eta": "2026-03-03T10:00:00Z", "note": ' + b"9" * 5000 + b"}", "5000 digits"),
    (b'{"ticket": "zendesk:1", "eta": ' + b"9" * 5000 + b"}", "5000 digits"),
    (b'{"ticket": "zendesk:1", "eta": 1e400}', "out of range"),
    (b'{"ticket": "zendesk:1", "eta": 20260303}', "eta"),
    (b'{"ticket": "zendesk:1", "eta": "0001-01-01T00:00:00+01:00"}', "out of range"),
    (b"", "body is empty"),
    (b"\xff", "UTF-8"),
], ids=["deep", "huge-int", "huge-int-eta", "float-overflow", "number-eta", "eta-before-year-1", "empty", "bytes"])
def test_hostile_bodies_are_400_naming_the_problem(store, vendor, data, needle):
    client, token = vendor
    response = raw_post(client, token, data)
    assert response.status_code == 400 and needle in response.json["error"]
    assert len(response.json["error"]) < 300
    assert store.delivery_counts() == {}


def test_lone_surrogates_are_replaced_not_a_crash(store, vendor):
    client, token = vendor
    response = raw_post(client, token, b'{"ticket": "zendesk:\\ud800", "eta": "2026-03-03T10:00:00Z"}')
    assert response.status_code == 404 and "\ufffd" in response.json["error"]
    note = raw_post(client, token, b'{"ticket": "zendesk:1", "eta": "2026-03-03T10:00:00Z", "note": "a\\udc00"}')
    assert note.status_code == 202


def test_store_failure_in_the_token_lookup_is_503(store, vendor, monkeypatch):
    import sqlite3

    client, token = vendor

    def locked(_token):
        raise sqlite3.OperationalError("database is locked")
    monkeypatch.setattr(store, "vendor_for_token", locked)
    response = client.get("/vendor/cases", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and response.headers["Retry-After"] and "store busy" in response.json["error"]
