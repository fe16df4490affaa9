"""The `slaclock` command: check, explain and outbox, run in-process."""
from datetime import datetime, timezone

import pytest

from app import main
from store import Store

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
    assert "1 parked write(s) queued again" in capsys.readouterr().out
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
