"""The `slaclock` command: check, explain and outbox, run in-process."""
from datetime import datetime, timezone

import pytest

from app import main
from store import Store
from tests import http_stub

NOW = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("ZENDESK_URL", "ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN", "ZENDESK_WEBHOOK_SECRET",
                 "SLACLOCK_RULES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACLOCK_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("SLACLOCK_DATABASE", str(tmp_path / "s.db"))
    return tmp_path


def test_check_lists_every_problem_and_fails(env, monkeypatch, capsys):
    bad = env / "rules.toml"
    bad.write_text('[sla.resolution_hours]\nurgentt = 3\nlow = -1\n')
    monkeypatch.setenv("SLACLOCK_RULES", str(bad))
    assert main(["check", "--offline"]) == 1
    err = capsys.readouterr().err
    assert "rules.toml: sla.resolution_hours.urgentt" in err and "sla.resolution_hours.low" in err


def test_check_rules_checks_the_named_file_instead_of_slaclock_rules(env, monkeypatch, capsys):
    from rules import EXAMPLE_RULES

    edited = env / "edited.toml"
    edited.write_text(EXAMPLE_RULES.read_text(encoding="utf-8").replace('version = "example-5"',
                                                                       'version = "edited-1"\nlow = -1'))
    monkeypatch.setenv("SLACLOCK_RULES", str(EXAMPLE_RULES))
    assert main(["check", "--offline", "--rules", str(edited)]) == 1
    assert "edited.toml: low" in capsys.readouterr().err
    edited.write_text(EXAMPLE_RULES.read_text(encoding="utf-8").replace('version = "example-5"',
                                                                       'version = "edited-1"'))
    main(["check", "--offline", "--rules", str(edited)])
    assert "rules: ok (version edited-1)" in capsys.readouterr().out


def test_check_passes_with_complete_configuration(env, monkeypatch, capsys):
    monkeypatch.setenv("ZENDESK_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZENDESK_EMAIL", "bot@example.com")
    monkeypatch.setenv("ZENDESK_API_TOKEN", "token-value")
    monkeypatch.setenv("ZENDESK_WEBHOOK_SECRET", "secret-value")
    assert main(["check", "--offline"]) == 0
    out = capsys.readouterr()
    assert "rules: ok" in out.out and "token-value" not in out.out + out.err and "secret-value" not in out.out


def test_check_reports_missing_credentials(env, capsys):
    assert main(["check", "--offline"]) == 1
    assert "ZENDESK_API_TOKEN is not set" in capsys.readouterr().err


def test_worker_refuses_to_start_on_invalid_rules(env, monkeypatch, capsys):
    bad = env / "rules.toml"
    bad.write_text("version = [")
    monkeypatch.setenv("SLACLOCK_RULES", str(bad))
    assert main(["worker", "--once"]) == 1
    assert "rules.toml: not valid TOML" in capsys.readouterr().err


def test_explain_unknown_ticket_and_bad_key(env, capsys):
    Store(env / "s.db")
    assert main(["explain", "zendesk:404"]) == 1
    assert main(["explain", "404"]) == 1
    out = capsys.readouterr().out
    assert "no record of zendesk:404" in out and "expected <connector>:<ticket id>" in out


def test_outbox_list_and_retry_parked_writes(env, capsys):
    store = Store(env / "s.db")
    with store.write_txn() as txn:
        txn.add_outbox(connector="zendesk", ticket_id="7", kind="ticket_update", payload={"ticket_id": "7"},
                       now=NOW, idem_key="k")
    (row,) = store.claim_outbox(NOW)
    with store.write_txn() as txn:
        txn.finish_outbox(row.id, "failed", NOW, "PUT → 500")
    assert main(["outbox", "list"]) == 0
    assert "zendesk:7" in capsys.readouterr().out
    assert main(["outbox", "retry"]) == 2
    assert main(["outbox", "retry", str(row.id)]) == 0
    assert "1 parked write queued again" in capsys.readouterr().out
    assert store.outbox_counts() == {"pending": 1}


def test_explain_shows_decisions_and_the_clock_working(env, capsys):
    from jobs.deliverer import Deliverer
    from jobs.processor import Processor
    from rules import load_rules
    from tests.fakes import Clock, FakeConnector

    store, fake, clock = Store(env / "s.db"), FakeConnector(), Clock(NOW)
    fake.add("7", reason_code="missing_part", status="open")
    store.add_delivery(connector="zendesk", delivery_key="d", event_type="ticket.created", ticket_id="7",
                       actor_id="5", headers={}, body=b"{}", received_at=NOW)
    Processor(store, {"zendesk": fake}, load_rules(), clock).run_once()
    Deliverer(store, {"zendesk": fake}, clock).run_once()
    assert main(["explain", "zendesk:7"]) == 0
    out = capsys.readouterr().out
    assert "rule routing.reason_codes.missing_part" in out and "written" in out
    clock_part = out.split("SLA clock:")[1]
    assert "business" in clock_part and "resolution" in clock_part


def test_vendor_token_is_issued_for_vendor_teams_only(env, capsys):
    assert main(["vendor", "token", "support"]) == 1
    assert "acme_parts" in capsys.readouterr().err
    assert main(["vendor", "token", "acme_parts"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    store = Store(env / "s.db")
    assert store.vendor_for_token(token) == "acme_parts"
    assert main(["vendor", "revoke", "acme_parts"]) == 0
    assert store.vendor_for_token(token) is None


def test_inbox_lists_and_retries_failed_deliveries(env, capsys):
    store = Store(env / "s.db")
    store.add_delivery(connector="zendesk", delivery_key="k", event_type="ticket.created", ticket_id="9",
                       actor_id="5", headers={}, body=b"{}", received_at=NOW)
    (row,) = store.claim_deliveries(NOW)
    with store.write_txn() as txn:
        txn.finish_deliveries([row.id], "failed", NOW, "404 RecordNotFound")
    assert main(["inbox", "list"]) == 0
    assert "zendesk:9" in capsys.readouterr().out
    assert main(["inbox", "retry", "--all"]) == 0
    assert store.delivery_counts() == {"pending": 1}


# --- settings are range-checked at start (issue 10) ---------------------------------------------

@pytest.mark.parametrize("command", [["worker", "--once"], ["serve"]])
@pytest.mark.parametrize("name, value, needle", [
    ("SLACLOCK_SWEEP_SECONDS", "0", "at least 0.1"),
    ("SLACLOCK_POLL_SECONDS", "-1", "at least 0.01"),
    ("SLACLOCK_RECONCILE_SECONDS", "1e9", "at most"),
    ("SLACLOCK_NOTE_MOVE_MINUTES", "nan", "at least 0"),
    ("SLACLOCK_PORT", "0", "at least 1"),
    ("SLACLOCK_PORT", "80.5", "whole number"),
    ("SLACLOCK_LOG_LEVEL", "verbose", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("ZENDESK_RATE_PER_MINUTE", "1e9", "at most"),
    ("SLACLOCK_HTTP_TIMEOUT_SECONDS", "0", "greater than 0"),
    ("SLACLOCK_HTTP_TIMEOUT_SECONDS", "1e4", "at most 300"),
    ("ZENDESK_WEBHOOK_TOLERANCE_SECONDS", "9" * 5000, "whole number"),
    ("SLACLOCK_DATABASE", "/nonexistent-slaclock-dir/s.db", "does not exist"),
    ("SLACLOCK_PG_GROUP_COMMIT", "sometimes", "expected true or false"),
])
def test_bad_setting_is_one_line_naming_the_variable_and_exit_2(env, monkeypatch, capsys, command, name, value,
                                                                  needle):
    monkeypatch.setenv(name, value)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"slaclock: {name}: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 300


@pytest.mark.parametrize("level", ["debug", "Warning", "ERROR"])
def test_log_level_accepts_any_case_of_the_standard_names(env, monkeypatch, level):
    from app import Settings

    monkeypatch.setenv("SLACLOCK_LOG_LEVEL", level)
    assert Settings.from_env(dict(__import__("os").environ)).log_level == level.upper()
    assert main(["worker", "--once"]) == 0


@pytest.mark.parametrize("argv", [["worker", "--poll", "-1"], ["worker", "--poll", "0"], ["serve", "--port", "0"],
                                  ["serve", "--workers", "0"]])
def test_bad_command_line_numbers_exit_2(env, capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and "expected a number from" in capsys.readouterr().err


def test_serve_runs_one_process_on_sqlite_and_two_on_postgresql_unless_told():
    # A second process on one SQLite file waits for its write lock in SQLite's sleeping busy handler (README).
    from app import parser, serve_workers
    assert parser().parse_args(["serve"]).workers is None
    assert parser().parse_args(["serve", "--workers", "3"]).workers == 3
    assert serve_workers("./slaclock.db") == 1 and serve_workers("/data/slaclock.db") == 1
    assert serve_workers("postgresql://slaclock@db.internal/slaclock") == 2


# --- the worker stops within 5 s, even in a retry back-off or with a request in flight (issue 10) ------

STOP_LIMIT_SECONDS = 5.0


class StubHelpdesk:
    """A helpdesk that answers every request 503 + Retry-After: 30, or never answers ("hang")."""

    def __init__(self, mode: str):
        import threading

        self.requests, self.release = 0, threading.Event()
        stub = self

        class Handler(http_stub.QuietHandler):
            def do_GET(self):
                stub.requests += 1
                if mode == "hang":
                    stub.release.wait(60)
                    return
                body = b'{"error": "unavailable"}'
                self.send_response(503)
                self.send_header("Retry-After", "30")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = do_GET

        self.server, self.url = http_stub.start(Handler)

    def close(self):
        self.release.set()
        http_stub.stop(self.server)


@pytest.mark.parametrize("mode, signal_name, waits_in", [
    ("503", "SIGTERM", "helpdesk.retry"),  # a 30 s Retry-After back-off
    ("503", "SIGINT", "helpdesk.retry"),
    ("hang", "SIGTERM", None),  # a request in flight until its 30 s read timeout
])
def test_worker_stops_within_5_s(tmp_path, mode, signal_name, waits_in):
    import os
    import signal
    import subprocess
    import sys
    import time

    from jobs.demo import wait_until

    stub = StubHelpdesk(mode)
    database = tmp_path / "worker.db"
    Store(database).add_delivery(connector="zendesk", delivery_key="zendesk:stop-test", event_type="ticket_updated",
                                 ticket_id="7", actor_id="5", headers={}, body=b"{}", received_at=NOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACLOCK_", "ZENDESK_", "JIRA_", "SANDBOX_"))}
    env.update(SLACLOCK_DATABASE=str(database), SLACLOCK_ENV_FILE=str(tmp_path / "none.env"),
               SLACLOCK_LOG_LEVEL="info", ZENDESK_URL=stub.url, ZENDESK_EMAIL="bot@example.com",
               ZENDESK_API_TOKEN="token-value", ZENDESK_WEBHOOK_SECRET="secret-value")
    log = tmp_path / "worker.log"
    with log.open("wb") as err:
        worker = subprocess.Popen([sys.executable, "-c", "import sys, app; sys.exit(app.main())", "worker"],
                                  env=env, stderr=err, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: stub.requests >= 1, 30, "the worker's first request to the helpdesk")
        if waits_in:
            wait_until(lambda: waits_in in log.read_text(), 10, f"{waits_in} in the worker's log")
        started = time.monotonic()
        worker.send_signal(getattr(signal, signal_name))
        code = worker.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if worker.poll() is None:
            worker.kill()
        stub.close()
    text = log.read_text()
    print(f"worker stop ({mode}, {signal_name}): {took:.2f} s")
    assert took < STOP_LIMIT_SECONDS, f"stopped after {took:.2f} s"
    assert code == 0 and text.count("worker.stopping") == 1 and "Traceback" not in text
    assert ("worker.abandoned" in text) == (mode == "hang")


def test_interruptible_sleep_raises_once_stopped_and_takes_any_length():
    import threading

    from jobs.worker import Stopping, interruptible_sleep

    stop = threading.Event()
    sleep = interruptible_sleep(stop)
    sleep(0)  # not stopped: returns
    threading.Timer(0.05, stop.set).start()
    with pytest.raises(Stopping):
        sleep(1e308)  # longer than Event.wait accepts: capped, then cut short by the stop
    with pytest.raises(Stopping):
        sleep(0)


def test_run_worker_returns_when_a_wait_is_cut_short():
    import threading

    from jobs.worker import Stopping, run_worker

    stop = threading.Event()

    class Backing:
        def run_once(self):
            stop.set()
            raise Stopping()

        def release(self):
            pass

    run_worker(Backing(), Backing(), stop, poll_seconds=0.01)
    with pytest.raises(ValueError, match="poll_seconds"):
        run_worker(Backing(), Backing(), threading.Event(), poll_seconds=0)


# --- the command line itself (issue 13 item 3) ---------------------------------------------------

def _actions(p, path="slaclock"):
    """Every (command path, action) of the parser, subcommands included."""
    import argparse

    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _actions(child, f"{path} {name}")
        else:
            yield path, action


def test_every_option_and_argument_has_help_text():
    from app import parser

    missing = [f"{path} {action.dest}" for path, action in _actions(parser()) if not (action.help or "").strip()]
    commands = [path for path, _ in _actions(parser())]
    assert missing == [] and len(set(commands)) >= 11  # slaclock and its ten subcommands


def test_help_describes_the_product_not_the_module(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "Zendesk and Jira Service Management" in out and "rules file" in out
    assert "app factory" not in out and "Wiring only" not in out and ".env.example" in out


def test_version_comes_from_the_package_metadata(capsys, monkeypatch):
    import tomllib
    from importlib import metadata
    from pathlib import Path

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"slaclock {metadata.version('slaclock')}\n"

    def not_installed(_name):
        raise metadata.PackageNotFoundError("slaclock")

    monkeypatch.setattr(metadata, "version", not_installed)  # a plain checkout: pyproject.toml beside app.py
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    import app

    assert app.version() == pyproject["project"]["version"]


@pytest.mark.parametrize("argv", [["outbox", "list"], ["inbox", "list"], ["outbox", "retry", "--all"],
                                  ["inbox", "retry", "1"], ["explain", "zendesk:1"], ["report"]])
def test_read_only_commands_refuse_a_missing_database_without_creating_it(env, capsys, argv):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"error: no database at {env / 's.db'} (set SLACLOCK_DATABASE)\n"
    assert not (env / "s.db").exists()


def test_writing_commands_still_create_the_database(env, capsys):
    assert main(["vendor", "token", "acme_parts"]) == 0
    assert (env / "s.db").exists()
