"""Processed deliveries are deleted once past SLACLOCK_KEEP_DELIVERIES_DAYS; nothing else goes (both stores)."""
from datetime import datetime, timedelta, timezone

import pytest

from app import Settings
from connectors.settings import SettingsError
from jobs.demo import Stack, wait_until
from jobs.retention import Retention
from store import DeliveryStatus

store = pytest.fixture(lambda any_store: any_store, name="store")

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def _delivery(store, key: str, status: DeliveryStatus | None, days_ago: float) -> None:
    at = NOW - timedelta(days=days_ago)
    store.add_delivery(connector="zendesk", delivery_key=key, event_type="ticket.created", ticket_id=key,
                       actor_id="7", headers={}, body=b'{"big": "body"}', received_at=at)
    if status is not None:
        (claimed,) = [d for d in store.claim_deliveries(at) if d.delivery_key == key]
        with store.write_txn() as txn:
            txn.finish_deliveries([claimed.id], status, at)


def test_processed_deliveries_past_their_keep_go_and_the_rest_stays(store):
    _delivery(store, "done-old", DeliveryStatus.DONE, 31)
    _delivery(store, "echo-old", DeliveryStatus.ECHO, 40)
    _delivery(store, "failed-old", DeliveryStatus.FAILED, 60)  # waits for `slaclock inbox retry`
    _delivery(store, "done-recent", DeliveryStatus.DONE, 29)
    _delivery(store, "pending-old", None, 90)  # not processed yet, however old
    assert Retention(store, 30, clock=lambda: NOW).run_once() == 2
    assert store.delivery_counts() == {"done": 1, "failed": 1, "pending": 1}
    assert [d.delivery_key for d in store.failed_deliveries()] == ["failed-old"]
    assert Retention(store, 30, clock=lambda: NOW).run_once() == 0  # nothing left to delete


def test_deletes_go_in_batches_until_none_is_left(store):
    for n in range(5):
        _delivery(store, f"old-{n}", DeliveryStatus.DONE, 45)
    assert store.prune_deliveries(NOW - timedelta(days=30), limit=2) == 2  # one batch, oldest first
    assert Retention(store, 30, clock=lambda: NOW, batch=2).run_once() == 3
    assert store.delivery_counts() == {}


def test_zero_days_keeps_every_delivery(store):
    _delivery(store, "done-ancient", DeliveryStatus.DONE, 3000)
    assert Retention(store, 0, clock=lambda: NOW).run_once() == 0
    assert store.delivery_counts() == {"done": 1}


@pytest.mark.parametrize("value, days", [(None, 30), ("0", 0), ("7", 7), ("365", 365)])
def test_the_keep_is_read_from_the_environment(value, days):
    env = {"SLACLOCK_KEEP_DELIVERIES_DAYS": value} if value is not None else {}
    assert Settings.from_env(env).keep_deliveries_days == days


@pytest.mark.parametrize("value, says", [
    ("3", "^SLACLOCK_KEEP_DELIVERIES_DAYS: expected 0 \\(keep them all\\) or at least 7 days .*got 3$"),
    ("4000", "SLACLOCK_KEEP_DELIVERIES_DAYS"),
    ("a month", "SLACLOCK_KEEP_DELIVERIES_DAYS"),
    ("-1", "SLACLOCK_KEEP_DELIVERIES_DAYS"),
])
def test_a_bad_keep_is_refused_naming_the_variable(value, says):
    with pytest.raises(SettingsError, match=says):
        Settings.from_env({"SLACLOCK_KEEP_DELIVERIES_DAYS": value})


def test_the_worker_deletes_old_deliveries_as_it_starts(tmp_path):
    now = datetime.now(timezone.utc)  # the worker's own clock
    stack = Stack(tmp_path, env={"SLACLOCK_KEEP_DELIVERIES_DAYS": "30"})
    for key, days_ago in (("processed-40-days-ago", 40), ("processed-yesterday", 1)):
        at = now - timedelta(days=days_ago)
        stack.store.add_delivery(connector="zendesk", delivery_key=key, event_type="ticket.created", ticket_id="1",
                                 actor_id="7", headers={}, body=b"{}", received_at=at)
        (claimed,) = stack.store.claim_deliveries(at)
        with stack.store.write_txn() as txn:
            txn.finish_deliveries([claimed.id], DeliveryStatus.DONE, at)
    with stack:
        wait_until(lambda: stack.store.delivery_counts() == {"done": 1}, 20, "the worker to delete the old delivery")
        (kept,) = stack.store.db.execute("select delivery_key from inbox").fetchall()
    assert kept[0] == "processed-yesterday"
