"""`slaclock status`: the admin's screen and its JSON, from a store built by the pipeline; one CLI run."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta

from connectors.errors import PermanentError
from jobs.deliverer import Deliverer
from jobs.processor import Processor
from jobs.reconciler import Reconciler
from jobs.status import read_status, status
from jobs.sweeper import Sweeper
from rules import load_rules
from store import OutboxStatus
from tests.fakes import Clock, FakeConnector
from tests.test_pipeline import NOW, deliver, drain


def built(store):
    """Two tickets decided and written, one write parked, a sweep, a refused reconcile pass and a lease."""
    fake, clock = FakeConnector(), Clock(NOW)
    connectors = {"zendesk": fake}
    processor, deliverer = Processor(store, connectors, load_rules(), clock), Deliverer(store, connectors, clock)
    fake.add("1", reason_code="missing_part")
    fake.add("2", reason_code="wrong_item")
    deliver(store, "1", "d1")
    drain(processor, deliverer)
    deliver(store, "2", "d2")
    clock.advance(minutes=1)
    processor.run_once()
    fake.failures = [PermanentError("PUT /api/v2/tickets/2.json → 422: Group: is invalid", 422)]
    deliverer.run_once()
    assert len(store.parked()) == 1
    clock.advance(minutes=1)
    Sweeper(store, clock).run_once()

    def refused(cursor, now):
        raise PermanentError("GET /api/v2/incremental/tickets/cursor.json → 403: Forbidden", 403)
    fake.changed_tickets = refused
    Reconciler(store, connectors, clock).run_once()
    store.acquire_lease("scheduler", "host:42:abcdef", clock(), 90)
    return clock


def test_status_json_from_a_pipeline_store(store):
    clock = built(store)
    report = read_status(store, clock(), ["zendesk", "jira"])
    assert set(report) == {"at", "connectors", "inbox", "outbox", "parked", "lease", "last_sweep", "last_reconcile",
                           "tickets", "degraded", "rules"}
    zendesk = report["connectors"]["zendesk"]
    assert zendesk["last_write"] == (NOW).isoformat() and zendesk["last_success"] == NOW.isoformat()
    assert "403" in zendesk["last_error"]["error"] and zendesk["last_error"]["at"] == clock().isoformat()
    assert zendesk["reconciler"]["outcome"] == "refused"
    assert report["connectors"]["jira"] == {"last_success": None, "last_write": None, "last_error": None,
                                            "reconciler": None}
    assert report["outbox"]["failed"] == 1 and report["parked"] == {"outbox": 1, "inbox": 0}
    assert report["outbox"]["done"] == 1 and report["outbox"]["pending"] == 0
    assert report["lease"]["holder"] == "host:42:abcdef"
    assert report["last_sweep"] == clock().isoformat() and report["last_reconcile"] == clock().isoformat()
    assert report["degraded"] == ["zendesk"]
    assert report["tickets"]["breached"] == 0
    assert report["tickets"]["by_connector"]["zendesk"]["at_risk"] == report["tickets"]["at_risk"]
    assert report["rules"] is None  # no worker has recorded its rules in this store


def test_status_screen_names_what_an_admin_acts_on(store):
    clock = built(store)
    out = io.StringIO()
    assert status(store, clock(), out) == 0
    screen = out.getvalue()
    assert f"slaclock status at {clock():%Y-%m-%d %H:%M:%S} UTC" in screen
    assert f"zendesk: last success {NOW:%Y-%m-%d %H:%M:%S} UTC (2 min ago)" in screen
    assert "reconciler: refused: GET /api/v2/incremental/tickets/cursor.json → 403" in screen
    assert "safety net is OFF" in screen
    assert "parked: 1 write (slaclock outbox list), 0 deliveries" in screen
    assert "lease:  host:42:abcdef until" in screen
    assert "tickets breached now: 0" in screen
    later = io.StringIO()
    status(store, clock() + timedelta(minutes=5), later, as_json=True)
    assert json.loads(later.getvalue())["lease"] is None  # the 90 s lease has lapsed after 5 min


def test_an_alert_channel_shows_its_last_message_and_no_reconciler(store):
    clock = Clock(NOW)
    with store.write_txn() as txn:
        txn.add_outbox(connector="alert:ops-slack", ticket_id="zendesk:1:sam", kind="alert", payload={}, now=NOW,
                       idem_key="alert-1")
    (row,) = store.claim_outbox(NOW)
    with store.write_txn() as txn:
        txn.finish_outbox(row.id, OutboxStatus.DONE, NOW)
    out = io.StringIO()
    status(store, clock() + timedelta(minutes=3), out)
    screen = out.getvalue()
    block = screen[screen.index("alert channel ops-slack"):screen.index("\n\n", screen.index("alert channel"))]
    assert block.splitlines() == [f"alert channel ops-slack: last message {NOW:%Y-%m-%d %H:%M:%S} UTC (3 min ago)",
                                  "    last error: none"]


def _run(tmp_path, database, *argv):
    env = {"PATH": "/usr/bin:/bin", "SLACLOCK_DATABASE": str(database), "SLACLOCK_ENV_FILE": str(tmp_path / "no.env"),
           "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "app", "status", *argv], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_cli_status_json_and_a_missing_database(store, tmp_path):
    built(store)
    done = _run(tmp_path, store.path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["parked"]["outbox"] == 1 and report["degraded"] == ["zendesk"]
    assert report["connectors"]["zendesk"]["reconciler"]["outcome"] == "refused"
    missing = tmp_path / "nowhere.db"
    refused = _run(tmp_path, missing)
    assert refused.returncode == 1 and "no database at" in refused.stderr
    assert not missing.exists()
