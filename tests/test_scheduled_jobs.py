"""Sweeper, reconciler and the scheduler lease, with an injected clock."""
from datetime import datetime, timedelta, timezone

import pytest

from jobs.deliverer import Deliverer
from jobs.processor import Processor
from jobs.reconciler import Reconciler
from jobs.scheduler import LeasedScheduler
from jobs.sweeper import Sweeper
from rules import load_rules
from store import Store
from tests.fakes import Clock, FakeConnector

store = pytest.fixture(lambda any_store: any_store, name="store")  # every test here runs on SQLite and on PostgreSQL

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def save(store, ticket_id, next_action_at):
    with store.write_txn() as txn:
        txn.save_case(connector="zendesk", ticket_id=ticket_id, memory={}, snapshot={}, priority="normal",
                      team="support", due_at=None, rules_version="x", decided_at=NOW, next_action_at=next_action_at)


def test_lease_one_holder_at_a_time_and_takeover_after_expiry(store):
    assert store.acquire_lease("scheduler", "a", NOW, 90)
    assert not store.acquire_lease("scheduler", "b", NOW + timedelta(seconds=30), 90)
    assert store.acquire_lease("scheduler", "a", NOW + timedelta(seconds=60), 90)  # renewal
    assert not store.acquire_lease("scheduler", "b", NOW + timedelta(seconds=120), 90)
    assert store.acquire_lease("scheduler", "b", NOW + timedelta(seconds=151), 90)  # a stopped renewing
    assert not store.acquire_lease("scheduler", "a", NOW + timedelta(seconds=152), 90)


def test_scheduled_jobs_run_only_on_the_lease_holder(store):
    clock = Clock(NOW)
    runs = {"a": 0, "b": 0}
    workers = {}
    for name in runs:
        workers[name] = LeasedScheduler(store, clock, ttl_seconds=90, holder=name)
        workers[name].every(0.001, lambda name=name: runs.__setitem__(name, runs[name] + 1), "count")
    for job in [*workers["a"].jobs.jobs, *workers["b"].jobs.jobs]:
        job.run()
    assert runs == {"a": 1, "b": 0}
    workers["a"].release()
    for job in workers["b"].jobs.jobs:
        job.run()
    assert runs == {"a": 1, "b": 1}


def test_a_starting_worker_sweeps_at_once_and_holds_the_lease_from_then(store):
    clock = Clock(NOW)
    runs = {"sweep": 0, "reconcile": 0}
    starting = LeasedScheduler(store, clock, ttl_seconds=90, holder="starting")
    starting.every(30, lambda: runs.__setitem__("sweep", runs["sweep"] + 1), "sweep", at_start=True)
    starting.every(300, lambda: runs.__setitem__("reconcile", runs["reconcile"] + 1), "reconcile")
    assert store.live_leases(NOW) == []
    starting.run_pending()
    starting.run_pending()  # the start's sweep runs once; the next comes after its interval
    assert runs == {"sweep": 1, "reconcile": 0}
    assert [(name, holder) for name, holder, _ in store.live_leases(NOW)] == [("scheduler", "starting")]
    second = LeasedScheduler(store, clock, ttl_seconds=90, holder="second")
    second.every(30, lambda: runs.__setitem__("sweep", runs["sweep"] + 1), "sweep", at_start=True)
    second.run_pending()  # another worker starting meanwhile does not sweep: the lease is held
    assert runs == {"sweep": 1, "reconcile": 0}


def test_sweep_queues_only_due_tickets_once(store):
    save(store, "1", NOW - timedelta(minutes=1))
    save(store, "2", NOW + timedelta(minutes=5))
    save(store, "3", None)
    sweeper = Sweeper(store, Clock(NOW))
    assert sweeper.run_once() == 1
    assert sweeper.run_once() == 0, "a queued check is not queued again"
    rows = store.claim_deliveries(NOW)
    assert [(r.ticket_id, r.event_type) for r in rows] == [("1", "slaclock.sweep")]


DUE_QUERY = "select connector, ticket_id, next_action_at from tickets where next_action_at <= ? order by next_action_at limit ?"


def test_sweep_uses_the_index_on_next_action_at(store):
    if isinstance(store, Store):
        plan = store.db.execute(f"explain query plan {DUE_QUERY}", ["x", 5]).fetchall()
        assert any("tickets_next_action_at" in row[-1] for row in plan)
        return
    # PostgreSQL's planner scans a small table whole: give it 20,000 open tickets, 1 % of them due.
    store.db.execute("insert into tickets (connector, ticket_id, next_action_at) select 'zendesk', n::text, "
                     "case when n % 100 = 0 then '2026-03-01' else '2026-04-01' end from generate_series(1, 20000) n")
    store.db.execute("analyze tickets")
    plan = store.db.execute(f"explain {DUE_QUERY}", ["2026-03-02", 500]).fetchall()
    assert any("tickets_next_action_at" in row[0] for row in plan), plan


def test_reconcile_catches_a_ticket_whose_webhook_was_lost(store):
    fake, clock, rules = FakeConnector(), Clock(NOW), load_rules()
    connectors = {"zendesk": fake}
    fake.add("1", reason_code="wrong_item", updated_at=NOW - timedelta(minutes=3))
    fake.feed = [("1", NOW - timedelta(minutes=3))]
    reconciler = Reconciler(store, connectors, clock)
    assert reconciler.run_once() == 1
    processor, deliverer = Processor(store, connectors, rules, clock), Deliverer(store, connectors, clock)
    processor.run_once()
    deliverer.run_once()
    assert fake.writes[0][0].group_id == "2003"
    # Next pass resumes from the stored cursor and skips the version slaclock already handled.
    fake.feed = [("1", NOW - timedelta(minutes=3))]
    assert reconciler.run_once() == 0
    assert fake.cursors == [None, "cursor-1"]
