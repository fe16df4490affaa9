"""The dashboard under /admin through Flask's test client: access per role, CSRF, and what each page shows."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from app import create_app, main
from rules import load_rules
from rules.decision import BasisChange, CaseMemory, Rating, StatusChange, TimelineEvent, TimelineKind
from rules.schema import EXAMPLE_RULES
from store import DeliveryStatus, OutboxStatus
from web.admin.charts import bar_chart
from web.admin.queue import queue_rows

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=timezone.utc)


def _case(store, ticket_id, subject, *, due_in, next_in=None, status="open", priority="normal", memory=None):
    with store.write_txn() as txn:
        txn.save_case(connector="zendesk", ticket_id=ticket_id, memory=memory or {"team": "support"},
                      snapshot={"subject": subject, "status": status, "opened_at": (NOW - timedelta(hours=1)).isoformat()},
                      priority=priority, team="support", due_at=NOW + due_in, rules_version="v1",
                      decided_at=NOW, next_action_at=NOW + next_in if next_in is not None else None)
        txn.add_timeline(connector="zendesk", ticket_id=ticket_id, at=NOW, kind="decision",
                         summary=f"routed {subject}", detail={"events": ["ticket.created"],
                                                              "reasons": [{"rule": "routing.x", "text": "because"}]})


def _parked(store, ticket_id="1"):
    with store.write_txn() as txn:
        txn.add_outbox(connector="zendesk", ticket_id=ticket_id, kind="public_reply", payload={"text": "hi"},
                       now=NOW, idem_key=f"k-{ticket_id}")
    (row,) = [r for r in store.db.execute("select id from outbox where idem_key = ?", [f"k-{ticket_id}"])]
    with store.write_txn() as txn:
        txn.finish_outbox(row[0], OutboxStatus.FAILED, NOW, "PUT → 422")
    return row[0]


@pytest.fixture
def app(store):
    _case(store, "1", "Door damaged", due_in=timedelta(hours=3), next_in=timedelta(hours=2))
    _case(store, "2", "Controller down", due_in=timedelta(minutes=40), next_in=timedelta(minutes=10), priority="urgent")
    _case(store, "3", "Solved one", due_in=timedelta(minutes=1), status="solved")
    return create_app({"STORE": store, "CONNECTORS": {}, "CLOCK": lambda: NOW, "SECRET_KEY": "test-secret"})


def _csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def signed_in(app, store, role):
    client = app.test_client()
    token = store.issue_admin_token(f"{role}-person", role, NOW)
    page = client.get("/admin/sign-in").data
    answer = client.post("/admin/sign-in", data={"token": token, "csrf_token": _csrf(page)})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/")
    return client


def test_without_a_session_every_page_is_the_sign_in_page(app):
    client = app.test_client()
    for path in ("/admin/", "/admin/kpis", "/admin/parked", "/admin/tickets/zendesk/1", "/admin/tokens"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/admin/sign-in" in answer.headers["Location"], path
        assert b"Door damaged" not in answer.data
    answer = client.post("/admin/parked/retry", data={"id": "1"})
    assert answer.status_code == 302 and "/admin/sign-in" in answer.headers["Location"]


def test_a_wrong_token_gets_the_sign_in_page_again_and_no_data(app, store):
    client = app.test_client()
    store.issue_admin_token("alice", "admin", NOW)
    page = client.get("/admin/sign-in").data
    answer = client.post("/admin/sign-in", data={"token": "not-a-token", "csrf_token": _csrf(page)})
    assert answer.status_code == 401 and b"not recognised" in answer.data and b"Door damaged" not in answer.data
    assert client.get("/admin/").status_code == 302


def test_sign_in_needs_the_forms_csrf_token(app, store):
    client = app.test_client()
    token = store.issue_admin_token("alice", "admin", NOW)
    client.get("/admin/sign-in")
    assert client.post("/admin/sign-in", data={"token": token}).status_code == 403
    assert client.post("/admin/sign-in", data={"token": token, "csrf_token": "forged"}).status_code == 403
    assert client.get("/admin/").status_code == 302


def test_a_request_without_a_session_cookie_builds_no_signer_and_sets_no_cookie(app, store, monkeypatch):
    def no_signer(_app):
        raise AssertionError("a signer was built for a request without a session cookie")

    monkeypatch.setattr(app.session_interface, "get_signing_serializer", no_signer)
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers and "Cookie" not in answer.headers.get("Vary", "")


def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(app, store):
    client = app.test_client()
    token = store.issue_admin_token("alice", "admin", NOW)
    page = client.get("/admin/sign-in", base_url="https://dash.example").data
    answer = client.post("/admin/sign-in", data={"token": token, "csrf_token": _csrf(page)},
                         base_url="https://dash.example")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    plain = app.test_client()
    page = plain.get("/admin/sign-in").data
    cookie = plain.post("/admin/sign-in", data={"token": token, "csrf_token": _csrf(page)}).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie


def test_the_queue_lists_open_tickets_soonest_first(app, store):
    page = signed_in(app, store, "executive").get("/admin/").data.decode()
    assert page.index("Controller down") < page.index("Door damaged")
    assert "Solved one" not in page
    assert 'data-until="2026-11-04T10:10:00+00:00"' in page  # ticket 2's next threshold, ten minutes away
    assert "countdown.js" in page


def test_the_queue_says_what_falls_due_next(store):
    _case(store, "9", "Late", due_in=timedelta(hours=5), next_in=timedelta(minutes=30))
    with store.write_txn() as txn:  # as the processor records a decision, with its next action in words
        case = store.get_case("zendesk", "9")
        txn.save_case(connector="zendesk", ticket_id="9", memory=case.memory, snapshot=case.snapshot,
                      priority="normal", team="support", due_at=case.due_at, rules_version="v1", decided_at=NOW,
                      next_action_at=case.next_action_at, next_action="escalation at 75 % of resolution")
    _case(store, "8", "Decided before", due_in=timedelta(hours=6), next_in=timedelta(hours=1))
    rows = queue_rows(store.open_cases(), NOW, {})
    assert [(r.key, r.next_what) for r in rows] == [("zendesk:9", "escalation at 75 % of resolution"),
                                                    ("zendesk:8", "next threshold")]
    app = create_app({"STORE": store, "CONNECTORS": {}, "CLOCK": lambda: NOW, "SECRET_KEY": "test-secret"})
    page = signed_in(app, store, "executive").get("/admin/").data.decode()
    assert "<td>escalation at 75 % of resolution</td>" in page


def test_queue_rows_take_the_breach_when_it_comes_before_the_next_threshold(store):
    _case(store, "9", "Late", due_in=timedelta(minutes=5), next_in=timedelta(minutes=30))
    _case(store, "8", "No clock", due_in=timedelta(days=400))
    rows = queue_rows(store.open_cases(), NOW, {"zendesk:9": "https://x.zendesk.com/agent/tickets/9"})
    assert [r.key for r in rows] == ["zendesk:9", "zendesk:8"]
    assert rows[0].next_what == "resolution breach" and rows[0].seconds_left(NOW) == 300
    assert rows[0].url.endswith("/agent/tickets/9") and rows[1].url is None
    assert rows[0].owner == "support"  # no rules given: the key as it is
    app = create_app({"STORE": store, "CONNECTORS": {}, "CLOCK": lambda: NOW, "SECRET_KEY": "test-secret",
                      "RULES": load_rules(EXAMPLE_RULES)})
    page = signed_in(app, store, "executive").get("/admin/").data.decode()
    assert "<td>Support</td>" in page and "<td>support</td>" not in page  # the team as the rules title it
    titled = queue_rows(store.open_cases(), NOW, {}, {"support": "Customer support"}.get)
    assert [r.owner for r in titled] == ["Customer support", "Customer support"]


def test_the_dashboard_names_teams_as_the_edited_rules_file_does_without_a_restart(store, tmp_path):
    from jobs.rules_file import RulesFile

    path, seconds = tmp_path / "rules.toml", [0.0]
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    watched = RulesFile(str(path), load_rules(path), lambda new: new, None, check_seconds=5, clock=lambda: seconds[0])
    _case(store, "9", "Late", due_in=timedelta(minutes=5))
    app = create_app({"STORE": store, "CONNECTORS": {}, "CLOCK": lambda: NOW, "SECRET_KEY": "test-secret",
                      "RULES": watched.rules, "RULES_FILE": watched})
    client = signed_in(app, store, "executive")
    assert "<td>Support</td>" in client.get("/admin/").data.decode()

    path.write_text(text.replace('[teams.support]\n', '[teams.support]\ntitle = "Front line"\n'), encoding="utf-8")
    for _ in range(2):  # the file is used once it has stayed the same for one look
        seconds[0] += 5
        page = client.get("/admin/").data.decode()
    assert "<td>Front line</td>" in page and "<td>Support</td>" not in page


def test_the_ticket_page_shows_the_timeline_and_the_explanation(app, store):
    page = signed_in(app, store, "executive").get("/admin/tickets/zendesk/2").data.decode()
    assert "routed Controller down" in page and "rule routing.x: because" in page
    assert signed_in(app, store, "admin").get("/admin/tickets/zendesk/404").status_code == 404


def test_the_ticket_page_names_the_team_and_the_kinds_in_words(store):
    with store.write_txn() as txn:
        txn.save_case(connector="zendesk", ticket_id="4", memory={"team": "branch_manager"},
                      snapshot={"connector": "zendesk", "ticket_id": "4", "subject": "Site closed", "status": "open",
                                "priority": "low", "opened_at": NOW.isoformat()},
                      priority="low", team="branch_manager", due_at=NOW, rules_version="v1", decided_at=NOW)
        txn.add_timeline(connector="zendesk", ticket_id="4", at=NOW, kind="level_change", summary="level L2",
                         detail={})
    app = create_app({"STORE": store, "CONNECTORS": {}, "CLOCK": lambda: NOW, "SECRET_KEY": "test-secret",
                      "RULES": load_rules(EXAMPLE_RULES)})
    page = signed_in(app, store, "executive").get("/admin/tickets/zendesk/4").data.decode()
    header = page[page.index("<h1>"):page.index("<h2>")]
    assert "team Branch manager ·" in header and "branch_manager" not in header
    assert "<td>level change</td>" in page and "<td>level_change</td>" not in page


def test_the_ticket_page_shows_who_held_the_case_for_how_long(store):
    # Opened 10 h before NOW with L1 support, waiting on the customer 2 h, then open: L1 8 h, customer 2 h.
    opened = NOW - timedelta(hours=10)
    memory = CaseMemory(statuses=(StatusChange(opened, "open"), StatusChange(opened + timedelta(hours=3), "pending"),
                                  StatusChange(opened + timedelta(hours=5), "open")),
                        bases=(BasisChange(opened, "normal", None, "support", "24x7"),), team="support")
    _case(store, "7", "Held", due_in=timedelta(hours=60), memory=memory.to_json())  # its timeline entry
    with store.write_txn() as txn:  # and the snapshot a decision keeps, whole
        txn.save_case(connector="zendesk", ticket_id="7", memory=memory.to_json(),
                      snapshot={"connector": "zendesk", "ticket_id": "7", "subject": "Held", "status": "open",
                                "priority": "normal", "opened_at": opened.isoformat()},
                      priority="normal", team="support", due_at=NOW, rules_version="v1", decided_at=NOW)
    app = create_app({"STORE": store, "CONNECTORS": {}, "CLOCK": lambda: NOW, "SECRET_KEY": "test-secret",
                      "RULES": load_rules(EXAMPLE_RULES)})
    page = signed_in(app, store, "executive").get("/admin/tickets/zendesk/7").data.decode()
    table = page[page.index('id="time-by-holder"'):page.index("</table>", page.index('id="time-by-holder"'))]
    assert re.findall(r"<td>(.*?)</td>", table) == ["L1 support", "8", "-", "waiting on customer", "2 (not counted)", "-"]
    assert "time by holder (resolution clock, calendar 24x7):" in page


def _rated(store, ticket_id, **rating):
    at = NOW - timedelta(minutes=30)  # before the page's "now", the period's end
    event = TimelineEvent(TimelineKind.CSAT, at, f"csat:{ticket_id}", rating=Rating(**rating))
    with store.write_txn() as txn:
        txn.add_timeline(connector="zendesk", ticket_id=ticket_id, at=at, kind="csat", summary="rated",
                         detail=event.to_json())


def test_kpis_chart_breach_rate_escalations_dwell_and_csat(app, store):
    page = signed_in(app, store, "executive").get("/admin/kpis").data.decode()
    for title in ("Breach rate by week", "Breaches averted by week", "Escalations per 1,000 tickets by week",
                  "Dwell per ladder level", "Satisfied customers by week", "CSAT scores"):
        assert f"<title>{title}</title>" in page
    assert 'id="kpi-tickets">3<' in page and 'id="kpi-csat">no ratings yet<' in page


def test_kpis_show_the_csat_of_the_rated_cases(app, store):
    # Case 1 rated 4 of 5 (satisfied), case 2 bad, case 3 a 1 then a 5 (its latest: satisfied): 2 of 3, mean 4.5.
    _rated(store, "1", score=4)
    _rated(store, "2", verdict="bad")
    _rated(store, "3", score=1)
    _rated(store, "3", score=5)
    page = signed_in(app, store, "executive").get("/admin/kpis").data.decode()
    assert 'id="kpi-csat">67% satisfied of 3 rated, mean 4.5 of 5<' in page
    scores = page[page.index("<title>CSAT scores</title>"):]
    assert "<title>4: 1</title>" in scores and "<title>5: 1</title>" in scores and "<title>1: 1</title>" not in scores


def test_bar_chart_draws_a_bar_per_measured_value_and_says_na_for_the_rest():
    svg = str(bar_chart("t", ["a", "b", "c"], [2, None, 4], unit="%", digits=0))
    assert svg.count("<rect") == 2 and "n/a" in svg and "4%" in svg and "<title>t</title>" in svg
    heights = [float(h) for h in re.findall(r'<rect[^>]* height="([0-9.]+)"', svg)]
    assert heights[1] == 2 * heights[0]


def test_an_executive_sees_no_retry_button_and_a_retry_from_one_is_refused(app, store):
    row = _parked(store)
    client = signed_in(app, store, "executive")
    page = client.get("/admin/parked").data
    assert b"PUT \xe2\x86\x92 422" in page and b"Retry</button>" not in page
    answer = client.post("/admin/parked/retry", data={"id": str(row), "csrf_token": _csrf(page)})
    assert answer.status_code == 403
    assert [r.id for r in store.parked()] == [row]


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_a_manager_or_admin_retry_requeues_the_parked_row(app, store, role):
    row = _parked(store)
    client = signed_in(app, store, role)
    page = client.get("/admin/parked").data
    assert b"Retry</button>" in page
    answer = client.post("/admin/parked/retry", data={"id": str(row), "csrf_token": _csrf(page)})
    assert answer.status_code == 302 and store.parked() == []
    status = store.db.execute("select status, last_error from outbox where id = ?", [row]).fetchone()
    assert status == ("pending", None)
    assert b"1 parked write queued again" in client.get("/admin/parked").data


def test_a_retry_without_the_csrf_token_is_refused(app, store):
    row = _parked(store)
    client = signed_in(app, store, "admin")
    assert client.post("/admin/parked/retry", data={"id": str(row)}).status_code == 403
    assert [r.id for r in store.parked()] == [row]


def test_a_failed_delivery_is_retried_from_the_page(app, store):
    store.add_delivery(connector="zendesk", delivery_key="d1", event_type="ticket.created", ticket_id="1",
                       actor_id=None, headers={}, body=b"{}", received_at=NOW)
    (delivery,) = store.claim_deliveries(NOW)
    with store.write_txn() as txn:
        txn.finish_deliveries([delivery.id], DeliveryStatus.FAILED, NOW, "bad json")
    client = signed_in(app, store, "manager")
    page = client.get("/admin/parked").data
    assert b"bad json" in page
    assert client.post("/admin/deliveries/retry", data={"id": str(delivery.id), "csrf_token": _csrf(page)}
                       ).status_code == 302
    assert store.failed_deliveries() == [] and store.delivery_counts() == {"pending": 1}


def test_only_an_admin_manages_tokens_and_a_revoked_token_signs_its_session_out(app, store):
    manager = signed_in(app, store, "manager")
    assert manager.get("/admin/tokens").status_code == 403
    admin = signed_in(app, store, "admin")
    page = admin.get("/admin/tokens").data
    assert b"manager-person" in page
    admin.post("/admin/tokens/revoke", data={"name": "manager-person", "csrf_token": _csrf(page)})
    assert manager.get("/admin/").status_code == 302


def test_sign_out_ends_the_session(app, store):
    client = signed_in(app, store, "admin")
    page = client.get("/admin/").data
    assert client.post("/admin/sign-out", data={"csrf_token": _csrf(page)}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_after_sign_in_only_an_admin_path_is_followed(app, store):
    client = app.test_client()
    token = store.issue_admin_token("alice", "admin", NOW)
    page = client.get("/admin/sign-in?next=/admin/kpis").data
    assert b'value="/admin/kpis"' in page
    answer = client.post("/admin/sign-in", data={"token": token, "csrf_token": _csrf(page),
                                                 "next": "https://evil.example/"})
    assert answer.headers["Location"].endswith("/admin/")


def test_the_admin_token_command_prints_a_token_once_and_stores_only_its_hash(tmp_path, monkeypatch, capsys):
    db = tmp_path / "s.db"
    monkeypatch.setenv("SLACLOCK_DATABASE", str(db))
    monkeypatch.setenv("SLACLOCK_ENV_FILE", str(tmp_path / "none.env"))
    assert main(["admin", "token", "dana", "--role", "manager"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    from store import Store
    store = Store(db)
    found = store.admin_for_token(token)
    assert found is not None and (found.name, found.role) == ("dana", "manager")
    assert all(token not in f.read_bytes().decode("latin-1") for f in tmp_path.glob("s.db*"))
    assert main(["admin", "revoke", "dana"]) == 0
    assert "1 dashboard token of dana revoked" in capsys.readouterr().out
    assert store.admin_for_token(token) is None
    with pytest.raises(SystemExit):
        main(["admin", "token", "dana", "--role", "owner"])
