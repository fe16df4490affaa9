"""Logs (issue 13 item 5): SLACLOCK_LOG_FORMAT=json gives one JSON object per line from serve and worker,
the access log included; text stays the default; no secret ever appears, in a log line or an error message."""
import json
import logging
import os
import socket
import subprocess
import sys
from datetime import datetime, timezone

import pytest
import requests

from app import build_connectors, create_app, main
from jobs.clock import utcnow
from jobs.demo import wait_until
from logs import MASK, JsonFormatter, KeyValueFormatter, secret_values
from rules import load_rules
from store import Store
from tests import http_stub
from zendesk.webhook import sign

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOW = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
# Known secrets, each long and unusual enough that finding it anywhere can only be a leak.
SECRETS = {
    "ZENDESK_API_TOKEN": "zd-api-token-7f3a9c1e5b",
    "ZENDESK_WEBHOOK_SECRET": "zd-hook-secret-new-4d2e8a,zd-hook-secret-old-9b1f6c",
    "JIRA_API_TOKEN": "jira-api-token-ATATT3x0c8d",
    "JIRA_WEBHOOK_SECRET": "jira-hook-secret-5e7a0b2f",
}
SECRET_STRINGS = [part for value in SECRETS.values() for part in value.split(",")]


def record(msg: str = "worker.started", exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("slaclock", logging.INFO, __file__, 1, msg, (), exc_info)
    rec.__dict__.update(extra)
    return rec


# --- the formatters ---------------------------------------------------------------------------------

def test_json_line_has_every_extra_field_as_a_key():
    line = JsonFormatter().format(record(database="/data/s.db", holder="host:1", changes=["group", "priority"],
                                         when=NOW, level="clashes"))
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["event"] == "worker.started" and entry["level"] == "INFO" and entry["logger"] == "slaclock"
    assert entry["database"] == "/data/s.db" and entry["holder"] == "host:1"
    assert entry["changes"] == ["group", "priority"] and entry["when"] == str(NOW)
    assert entry["extra.level"] == "clashes"  # an extra named like a standard key does not replace it
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None


def test_json_traceback_stays_on_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        line = JsonFormatter().format(record("processor.failed", exc_info=sys.exc_info(), ticket="zendesk:7"))
    entry = json.loads(line)
    assert "\n" not in line and "RuntimeError: boom" in entry["exception"] and entry["ticket"] == "zendesk:7"


def test_text_stays_key_value():
    line = KeyValueFormatter().format(record("worker.started", holder="host:1"))
    assert line.endswith("INFO slaclock worker.started holder='host:1'")


@pytest.mark.parametrize("make", [lambda s: JsonFormatter(s), lambda s: KeyValueFormatter(secrets=s)])
def test_formatters_mask_secrets_as_written_and_as_escaped(make):
    secrets = secret_values({"ZENDESK_API_TOKEN": 'tok"en\\value-1', "ZENDESK_WEBHOOK_SECRET": "new-secret-1,old-secret-2",
                             "ZENDESK_EMAIL": "bot@example.com", "JIRA_API_TOKEN": "short"})
    assert "short" not in secrets and "bot@example.com" not in secrets  # too short to mask; not a credential
    line = make(secrets).format(record('sent tok"en\\value-1', error="old-secret-2 in new-secret-1",
                                       body={"t": 'tok"en\\value-1'}))
    for secret in ('tok"en\\value-1', "new-secret-1", "old-secret-2", 'tok\\"en\\\\value-1', "tok\"en\\\\value-1"):
        assert secret not in line
    assert line.count(MASK) >= 4


@pytest.mark.parametrize("value", ["xml", "JSONL", "1"])
def test_log_format_is_range_checked(tmp_path, monkeypatch, capsys, value):
    monkeypatch.setenv("SLACLOCK_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("SLACLOCK_DATABASE", str(tmp_path / "s.db"))
    monkeypatch.setenv("SLACLOCK_LOG_FORMAT", value)
    assert main(["worker", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slaclock: SLACLOCK_LOG_FORMAT: expected text or json") and err.count("\n") == 1


def test_log_format_accepts_any_case(monkeypatch):
    from app import Settings

    assert Settings.from_env({"SLACLOCK_LOG_FORMAT": "JSON"}).log_format == "json"
    assert Settings.from_env({}).log_format == "text"


# --- a helpdesk that refuses everything ---------------------------------------------------------------

class RefusingHelpdesk:
    """Answers the API user 401 (a wrong token), ticket reads and writes 503 with Retry-After: 0 (retried at once)."""

    def __init__(self):
        self.requests = 0
        stub = self

        class Handler(http_stub.QuietHandler):
            def answer(self, status: int, body: dict, **headers: str):
                stub.requests += 1
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if "/tickets/" in self.path:
                    self.answer(503, {"error": "unavailable"}, **{"Retry-After": "0"})
                else:
                    self.answer(401, {"error": "Couldn't authenticate you"})

            def do_PUT(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.answer(503, {"error": "unavailable"}, **{"Retry-After": "0"})

            do_POST = do_PUT

        self.server, self.url = http_stub.start(Handler)

    def close(self):
        http_stub.stop(self.server)


@pytest.fixture
def helpdesk():
    stub = RefusingHelpdesk()
    yield stub
    stub.close()


def secret_env(helpdesk_url: str) -> dict[str, str]:
    return {"ZENDESK_URL": helpdesk_url, "ZENDESK_EMAIL": "bot@example.com", "JIRA_URL": helpdesk_url,
            "JIRA_EMAIL": "bot@example.com", **SECRETS}


def zendesk_body(ticket_id: str) -> bytes:
    return json.dumps({"type": "zen:event-type:ticket.priority_changed", "id": f"evt-{ticket_id}",
                       "time": utcnow().isoformat(), "account_id": 1, "subject": f"zen:ticket:{ticket_id}",
                       "detail": {"id": ticket_id, "priority": "HIGH", "status": "OPEN", "requester_id": "5",
                                  "created_at": "2026-03-02T08:00:00Z", "updated_at": utcnow().isoformat()},
                       "event": {"current": "HIGH", "previous": "LOW"}}).encode()


def zendesk_headers(body: bytes, secret: str) -> dict[str, str]:
    stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"X-Zendesk-Webhook-Signature": sign(secret, stamp, body), "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "Content-Type": "application/json"}


def assert_no_secret(text: str, where: str):
    for secret in SECRET_STRINGS + list(extra_secrets):
        assert secret not in text, f"a secret appears in {where}"


extra_secrets: list[str] = []  # the vendor token of the test running (issued at random by the store)


# --- the code itself logs no secret (raw records, before any masking) -----------------------------

def test_no_secret_in_raw_log_records_or_errors_of_requests_and_failing_calls(tmp_path, helpdesk, caplog):
    from jobs.deliverer import Deliverer
    from jobs.processor import Processor

    env, rules = secret_env(helpdesk.url), load_rules()
    store = Store(tmp_path / "s.db")
    token = store.issue_vendor_token("acme_parts", NOW)
    extra_secrets[:] = [token]
    connectors = build_connectors(env, rules, sleep=lambda _s: None)  # retries without waiting
    client = create_app({"STORE": store, "RULES": rules, "CONNECTORS": connectors}).test_client()
    caplog.set_level(logging.DEBUG)
    answers = []
    body = zendesk_body("7")
    new, old = SECRETS["ZENDESK_WEBHOOK_SECRET"].split(",")
    answers.append(client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, new)))
    rotated = zendesk_body("8")
    answers.append(client.post("/webhooks/zendesk", data=rotated, headers=zendesk_headers(rotated, old)))
    answers.append(client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, "wrong-secret-123")))
    answers.append(client.get("/vendor/cases", headers={"Authorization": f"Bearer {token}"}))
    answers.append(client.get("/vendor/cases", headers={"Authorization": f"Bearer {token[:-2]}xx"}))
    answers.append(client.get(f"/vendor/cases?token={token}"))
    assert [a.status_code for a in answers] == [202, 202, 401, 200, 401, 401]
    with store.write_txn() as txn:  # a write the refusing helpdesk will make fail (503, retried, parked)
        txn.add_outbox(connector="zendesk", ticket_id="9", kind="ticket_update",
                       payload={"ticket_id": "9", "priority": "high"}, now=NOW, idem_key="k9")
    Processor(store, connectors, rules).run_once()
    for _ in range(10):
        Deliverer(store, connectors).run_once()
    assert helpdesk.requests >= 2, "the failing helpdesk calls were made"
    failed = store.failed_deliveries()
    # A 503 is retried later (not parked): its error stays on the waiting row.
    waiting = [row[0] for row in store.db.execute("select last_error from outbox where last_error is not null")]
    errors = [r.error or "" for r in failed] + waiting
    assert any("401" in e for e in errors) and any("503" in e for e in errors), errors  # the failure is recorded, its message is checked below
    texts = [a.get_data(as_text=True) for a in answers] + errors
    for rec in caplog.records:
        texts.append(rec.getMessage() + repr({k: v for k, v in vars(rec).items() if k not in ("args", "msg")}))
    access = [r for r in caplog.records if r.getMessage() == "http.request"]
    assert len(access) == len(answers) and {r.path for r in access} == {"/webhooks/zendesk", "/vendor/cases"}
    for i, text in enumerate(texts):
        assert_no_secret(text, f"text {i}: {text[:120]}")


# --- serve and worker as an admin runs them -------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(tmp_path, helpdesk_url: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACLOCK_", "ZENDESK_", "JIRA_", "SANDBOX_"))}
    env.update(SLACLOCK_DATABASE=str(tmp_path / "s.db"), SLACLOCK_ENV_FILE=str(tmp_path / "none.env"),
               SLACLOCK_LOG_FORMAT="json", PYTHONPATH=ROOT, **secret_env(helpdesk_url), **more)
    return env


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no log lines"
    return [json.loads(line) for line in lines]  # fails on any line that is not one JSON object


def slaclock(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys, app; sys.exit(app.main())", *args]


def test_serve_logs_json_with_an_access_line_per_request_and_no_secret(tmp_path, helpdesk):
    port = free_port()
    env = process_env(tmp_path, helpdesk.url, SLACLOCK_PORT=str(port))
    token = Store(tmp_path / "s.db").issue_vendor_token("acme_parts", NOW)
    extra_secrets[:] = [token]
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        server = subprocess.Popen(slaclock("serve", "--workers", "1", "--threads", "2"), env=env, cwd=tmp_path,
                                  stderr=err, stdout=err)
    base = f"http://127.0.0.1:{port}"

    def call(path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
        answer = requests.request("POST" if data else "GET", base + path, data=data, headers=headers, timeout=10)
        return answer.status_code, answer.text

    try:
        wait_until(lambda: call("/healthz")[0] == 200 if server.poll() is None else True, 30, "serve to answer")
        assert server.poll() is None, log.read_text()
        body = zendesk_body("7")
        answers = [
            call("/webhooks/zendesk", body, zendesk_headers(body, SECRETS["ZENDESK_WEBHOOK_SECRET"].split(",")[0])),
            call("/webhooks/zendesk", body, zendesk_headers(body, "wrong-secret-123")),
            call("/vendor/cases", headers={"Authorization": f"Bearer {token}"}),
            call(f"/vendor/cases?token={token}"),
            call("/readyz"),
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [status for status, _ in answers] == [202, 401, 200, 401, 200]
    text = log.read_text()
    assert_no_secret(text, "serve's log")
    for _, answer in answers:
        assert_no_secret(answer, "an answer")
    entries = json_lines(text)
    access = [e for e in entries if e["event"] == "http.request"]
    assert [(e["method"], e["path"], e["status"]) for e in access[-5:]] == [
        ("POST", "/webhooks/zendesk", 202), ("POST", "/webhooks/zendesk", 401), ("GET", "/vendor/cases", 200),
        ("GET", "/vendor/cases", 401), ("GET", "/readyz", 200)]
    assert all(e["remote_addr"] == "127.0.0.1" and 0 <= e["duration_ms"] < 10_000 for e in access)
    assert any(e["logger"].startswith("gunicorn") for e in entries), "gunicorn's own lines are JSON too"
    assert any(e["event"] == "webhook.rejected" and e["connector"] == "zendesk" for e in entries)


def test_worker_logs_json_and_no_secret_on_failing_helpdesk_calls(tmp_path, helpdesk):
    env = process_env(tmp_path, helpdesk.url, SLACLOCK_LOG_LEVEL="debug")
    store = Store(tmp_path / "s.db")
    store.add_delivery(connector="zendesk", delivery_key="d7", event_type="ticket.created", ticket_id="7",
                       actor_id="5", headers={}, body=b"{}", received_at=NOW)
    with store.write_txn() as txn:
        txn.add_outbox(connector="zendesk", ticket_id="9", kind="ticket_update",
                       payload={"ticket_id": "9", "priority": "high"}, now=NOW, idem_key="k9")
    extra_secrets[:] = []
    done = subprocess.run(slaclock("worker", "--once"), env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert helpdesk.requests >= 2
    assert_no_secret(done.stderr + done.stdout, "the worker's output")
    entries = json_lines(done.stderr)
    assert any(e["level"] in ("WARNING", "ERROR") for e in entries), "the failing calls were logged"
    assert any(e["event"] == "helpdesk.retry" and e["path"] for e in entries), "a retried call was logged"
    listed = subprocess.run(slaclock("inbox", "list"), env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    parked = subprocess.run(slaclock("outbox", "list"), env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert_no_secret(listed.stdout + listed.stderr + parked.stdout + parked.stderr, "inbox/outbox list")


def test_text_stays_the_default(tmp_path, helpdesk):
    env = process_env(tmp_path, helpdesk.url)
    del env["SLACLOCK_LOG_FORMAT"]
    Store(tmp_path / "s.db").add_delivery(connector="zendesk", delivery_key="d7", event_type="ticket.created",
                                          ticket_id="7", actor_id="5", headers={}, body=b"{}", received_at=NOW)
    done = subprocess.run(slaclock("worker", "--once"), env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 0 and lines
    assert not any(line.startswith("{") for line in lines) and any(" WARNING " in line or " ERROR " in line
                                                                     for line in lines)
