"""Escalation before the breach, end to end in-process: sweeper → processor → deliverer, injected clock."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from jobs.deliverer import Deliverer
from jobs.processor import Processor
from jobs.sweeper import Sweeper
from rules import load_rules
from tests.fakes import Clock, FakeConnector

RULES = load_rules()
# Seed 001: first response counts business hours; seed 002: resolution the wall clock.
BUSINESS, WALL = RULES.calendar("business"), RULES.calendar("24x7")
OPENED = datetime(2026, 3, 2, 14, tzinfo=timezone.utc)  # Monday 09:00 in New York
RESOLUTION, FIRST_RESPONSE = timedelta(hours=72), timedelta(hours=8)


class Worker:
    """One worker's jobs over a shared store; a 'restart' is a new Worker on the same store."""

    def __init__(self, store, fake, clock):
        connectors = {"zendesk": fake}
        self.store, self.clock = store, clock
        self.jobs = (Processor(store, connectors, RULES, clock), Deliverer(store, connectors, clock))
        self.sweeper = Sweeper(store, clock)

    def drain(self):
        while sum(job.run_once() for job in self.jobs):
            pass

    def sweep_at(self, at):
        self.clock.at = at
        self.sweeper.run_once()
        self.drain()

    def next_action_at(self):
        return self.store.get_case("zendesk", "1").next_action_at


@pytest.fixture
def flow(store):
    fake, clock = FakeConnector(), Clock(OPENED)
    fake.add("1", reason_code="wrong_item", status="open", requester_id="500", opened_at=OPENED, updated_at=OPENED)
    store.add_delivery(connector="zendesk", delivery_key="created", event_type="ticket.created", ticket_id="1",
                       actor_id="500", headers={}, body=b"{}", received_at=OPENED)
    worker = Worker(store, fake, clock)
    worker.drain()
    return store, fake, clock, worker


def escalation_events(store, metric=None):
    return [(e.kind, e.detail.get("metric"), e.detail.get("threshold"), e.at.isoformat())
            for e in store.timeline("zendesk", "1") if e.kind in ("warning", "escalation", "breach")
            and metric in (None, e.detail.get("metric"))]


def at(percent, target, calendar=BUSINESS, start=OPENED):
    return calendar.add(start, target * percent / 100).isoformat()


def agent_replies(store, fake, clock, when):
    clock.at = when
    body = json.dumps({"comment_public": True, "comment_author_is_staff": True,
                       "comment_created_at": when.isoformat()}).encode()
    store.add_delivery(connector="zendesk", delivery_key=f"reply-{when}", event_type="ticket.comment_added",
                       ticket_id="1", actor_id="9002", headers={}, body=body, received_at=when)


def test_each_threshold_fires_once_at_its_instant_on_its_metrics_calendar(flow):
    store, fake, clock, worker = flow
    agent_replies(store, fake, clock, OPENED + timedelta(hours=1))
    worker.drain()
    seen = []
    while (due := worker.next_action_at()) is not None and len(seen) < 10:
        writes = len(fake.writes)
        worker.sweep_at(due)
        worker.sweep_at(due)  # a second sweep at the same instant changes nothing
        seen.append(due)
        assert len(fake.writes) <= writes + 1
    # 72 wall-clock hours from Monday 2 March 14:00 UTC: 36 h, 54 h, 64 h 48 min and 72 h later.
    assert escalation_events(store, "resolution") == [
        ("warning", "resolution", "50", "2026-03-04T02:00:00+00:00"),
        ("escalation", "resolution", "75", "2026-03-04T20:00:00+00:00"),
        ("escalation", "resolution", "90", "2026-03-05T06:48:00+00:00"),
        ("breach", "resolution", "100", "2026-03-05T14:00:00+00:00"),
    ]
    assert {at(p, RESOLUTION, WALL) for p in (50, 75, 90, 100)} <= {s.isoformat() for s in seen}
    notes = [u.note for u, _ in fake.writes if u.note and ("SLA" in u.note or "Escalated" in u.note)]
    assert len(notes) == len(set(notes)) >= 4


def test_first_response_warns_then_climbs_to_l2_before_the_breach_when_nobody_replies(flow):
    store, fake, clock, worker = flow
    worker.sweep_at(worker.next_action_at())
    worker.sweep_at(worker.next_action_at())
    assert escalation_events(store) == [("warning", "first_response", "50", at(50, FIRST_RESPONSE)),
                                        ("escalation", "first_response", "75", at(75, FIRST_RESPONSE))]
    assert fake.tickets["1"].group_id == "2005" and "slaclock_l2" in fake.tickets["1"].tags


def test_restart_in_the_middle_fires_nothing_twice(flow):
    store, fake, clock, worker = flow
    agent_replies(store, fake, clock, OPENED + timedelta(hours=1))
    worker.drain()
    worker.sweep_at(datetime.fromisoformat(at(50, RESOLUTION, WALL)))
    restarted = Worker(store, fake, clock)
    restarted.sweep_at(clock.at)
    restarted.sweep_at(datetime.fromisoformat(at(75, RESOLUTION, WALL)))
    kinds = [(k, t) for k, m, t, _ in escalation_events(store, "resolution")]
    assert kinds == [("warning", "50"), ("escalation", "75")]


def test_a_pause_moves_the_next_threshold_by_the_paused_time(flow):
    store, fake, clock, worker = flow
    agent_replies(store, fake, clock, OPENED + timedelta(hours=1))
    worker.drain()
    pause_start = datetime(2026, 3, 3, 14, tzinfo=timezone.utc)  # Tue 09:00 New York
    pause_end = datetime(2026, 3, 4, 14, tzinfo=timezone.utc)  # Wed 09:00: one day paused
    for when, status in ((pause_start, "pending"), (pause_end, "open")):
        clock.at = when
        fake.change("1", status=status, updated_at=when)
        store.add_delivery(connector="zendesk", delivery_key=f"status-{when}", event_type="ticket.status_changed",
                           ticket_id="1", actor_id="9002", headers={}, body=b"{}", received_at=when)
        worker.drain()
    # 36 unpaused wall-clock hours: 24 h before the pause, 12 h after it: Thursday 5 March 02:00 UTC.
    paused = WALL.elapsed(pause_start, pause_end)
    assert paused == timedelta(hours=24)
    expected = datetime(2026, 3, 5, 2, tzinfo=timezone.utc)
    assert WALL.add(OPENED, RESOLUTION / 2 + paused) == expected
    worker.sweep_at(expected - timedelta(seconds=1))
    assert escalation_events(store, "resolution") == []
    worker.sweep_at(expected)
    assert escalation_events(store, "resolution")[0][3] == expected.isoformat()
