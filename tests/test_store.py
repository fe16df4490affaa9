from datetime import datetime, timedelta, timezone

import pytest

from store import Store, StoreError
from store.migrations import migrations

store = pytest.fixture(lambda any_store: any_store, name="store")  # every test here runs on SQLite and on PostgreSQL

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def add(store, key="k1", ticket_id="1", at=NOW):
    return store.add_delivery(connector="zendesk", delivery_key=key, event_type="zen:event-type:ticket.created",
                              ticket_id=ticket_id, actor_id="5", headers={"x-zendesk-webhook-id": "w"},
                              body=b'{"a": 1}', received_at=at)


def test_migrations_recorded_and_idempotent(tmp_path):
    Store(tmp_path / "a.db")
    store = Store(tmp_path / "a.db")
    assert [m.name for m in migrations.applied(store.db)] == ["m001_initial", "m002_sweeper", "m003_people",
                                                                 "m004_outbox_cluster", "m005_outbox_progress",
                                                                 "m006_admin_tokens", "m007_review_tasks",
                                                                 "m008_next_action"]
    assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_delivery_stored_once_per_key(store):
    assert add(store) is True
    assert add(store) is False
    assert store.delivery_counts() == {"pending": 1}
    row = store.db.execute("select body, headers_json from inbox").fetchone()
    assert row == (b'{"a": 1}', '{"x-zendesk-webhook-id": "w"}')


def test_claim_is_exclusive_and_release_returns_rows(store):
    add(store, "k1")
    add(store, "k2", ticket_id="2")  # another ticket: a ticket's own deliveries wait for its claim to end
    first = store.claim_deliveries(NOW)
    assert [r.delivery_key for r in first] == ["k1", "k2"]
    assert store.claim_deliveries(NOW) == []
    store.release_deliveries([first[0].id], "503")
    again = store.claim_deliveries(NOW)
    assert [(r.delivery_key, r.attempts) for r in again] == [("k1", 2)]


def test_claim_takes_over_rows_of_a_dead_worker(store):
    add(store)
    store.claim_deliveries(NOW)
    assert store.claim_deliveries(NOW + timedelta(seconds=60)) == []
    assert len(store.claim_deliveries(NOW + timedelta(minutes=6))) == 1


def test_outbox_claim_park_and_retry(store):
    with store.write_txn() as txn:
        txn.add_outbox(connector="zendesk", ticket_id="1", kind="ticket_update",
                       payload={"ticket_id": "1"}, now=NOW, idem_key="i1")
    assert store.has_unsent("zendesk", "1")
    (row,) = store.claim_outbox(NOW)
    assert row.payload == {"ticket_id": "1"} and row.attempts == 1
    with store.write_txn() as txn:
        txn.finish_outbox(row.id, "failed", NOW, "500 boom")
    assert not store.has_unsent("zendesk", "1")
    assert [p.last_error for p in store.parked()] == ["500 boom"]
    assert store.retry_parked(None, NOW) == 1
    assert store.claim_outbox(NOW)[0].attempts == 1


def test_write_txn_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.write_txn() as txn:
            txn.add_timeline(connector="zendesk", ticket_id="1", at=NOW, kind="decision", summary="x", detail={})
            raise RuntimeError("boom")
    assert store.timeline("zendesk", "1") == []


def test_unwritable_database_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open database"):
        Store(tmp_path / "missing-dir" / "x.db")


def test_a_problem_rows_cluster_moves_from_its_payload_to_its_column(tmp_path):
    from sqlite_utils import Database

    db = Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="m004_outbox_cluster")
    db["outbox"].insert({"idem_key": "p", "connector": "zendesk", "ticket_id": "1", "kind": "problem",
                         "payload_json": '{"subject": "s", "cluster": "c1"}', "status": "pending", "attempts": 0,
                         "created_at": NOW.isoformat(), "next_attempt_at": NOW.isoformat()})
    db.close()
    (row,) = Store(tmp_path / "old.db").claim_outbox(NOW)
    assert row.cluster_key == "c1" and row.payload == {"subject": "s"}
