"""The process-level fault suite (issue 10): bench/faults.py's scenarios against real processes, asserted.

Small sizes by default (the whole file in well under a minute); the issue's sizes (1,000 events, five kills)
when HYPOTHESIS_PROFILE=ci, as .ci/run sets. Each test's figures line is printed in the run's summary.
"""
from __future__ import annotations

import os
import random

import requests

from bench import faults
from bench.faults import Figures, Harness
from jobs.demo import API_EMAIL, API_TOKEN
from tests.faults.conftest import FIGURES

CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
EVENTS, TICKETS, FAULTS = (1000, 100, 24) if CI else (60, 10, 4)
KILLS = 5 if CI else 2
# Printed with every figures line, so a failing run can be repeated with --seed.
SEED = int(os.environ.get("SLACLOCK_FAULTS_SEED") or random.SystemRandom().randrange(10**6))


def report(figures: Figures) -> Figures:
    FIGURES.append(figures.line())  # printed in the run's summary (tests/faults/conftest.py)
    return figures


def assert_exactly_once(figures: Figures) -> None:
    """Every accepted delivery processed; every decided write at the helpdesk once; nothing lost or left over."""
    assert figures.notes["accepted_202"] == figures.notes["accepted_expected"], figures.line()
    assert (figures.unprocessed, figures.processed) == (0, figures.accepted), figures.line()
    assert figures.writes > 0, figures.line()
    assert (figures.duplicates, figures.repeats, figures.lost) == (0, 0, 0), figures.line()
    assert (figures.parked, figures.unfinished) == (0, 0), figures.line()


def test_kill_9_of_the_worker_during_a_burst_five_times(tmp_path):
    figures = report(faults.kill_scenario(tmp_path, SEED, events=EVENTS, tickets=TICKETS, kills=KILLS))

    assert len(figures.notes["killed_after"].split(",")) == KILLS
    assert_exactly_once(figures)


def test_helpdesk_errors_timeouts_and_lost_answers_then_healed(tmp_path):
    figures = report(faults.helpdesk_scenario(tmp_path, SEED, events=EVENTS, tickets=TICKETS, faults=FAULTS))

    assert figures.notes["faults_served"] >= FAULTS // 2, figures.line()  # the outage really hit the writes
    assert_exactly_once(figures)


def test_two_workers_on_one_store_write_nothing_twice(tmp_path):
    assert_exactly_once(report(faults.two_workers_scenario(tmp_path, SEED, events=EVENTS, tickets=TICKETS)))


def test_two_workers_and_two_receivers_on_postgresql_write_nothing_twice(tmp_path, postgres_url):
    """Issue 16: a burst (1,000 events in CI) spread over two receivers, decided by two workers, on one PostgreSQL
    database: every delivery processed once, every write at the helpdesk once."""
    figures = report(faults.two_workers_scenario(tmp_path, SEED, events=EVENTS, tickets=TICKETS,
                                                 database=postgres_url, receivers=2))
    assert_exactly_once(figures)


def test_every_delivery_sent_three_times_shuffled_ends_as_sent_once(tmp_path):
    figures = report(faults.resend_scenario(tmp_path, SEED, events=EVENTS, tickets=TICKETS // 2))
    resent = (figures.events // 4) * 3

    assert figures.notes["resent_duplicates_answered"] == resent * 2 // 3
    assert figures.notes["twins_differing"] == 0, figures.line()
    assert_exactly_once(figures)


def test_the_harness_counts_a_note_posted_twice(tmp_path):
    """The suite can see a duplicate: post one of slaclock's notes again as its API user."""
    with Harness(tmp_path, SEED) as harness:
        tickets = harness.open_tickets(3)
        harness.send(harness.events(3))
        harness.settle()
        clean = harness.figures("detector", 3, 0.0)
        ticket_id, mine = next(iter(harness.stack.writes()["zendesk"]["tickets"].items()))
        again = requests.put(f"{harness.stack.sandbox_url}/api/v2/tickets/{ticket_id}.json", timeout=5,
                             auth=(f"{API_EMAIL}/token", API_TOKEN),
                             json={"ticket": {"comment": {"body": mine["notes"][0], "public": False}}})
        twice = harness.figures("detector", 3, 0.0)

    assert ticket_id in tickets and again.status_code == 200
    assert (clean.duplicates, clean.repeats, clean.writes) == (0, 0, 3)
    assert (twice.duplicates, twice.repeats, twice.writes) == (1, 1, 4)
