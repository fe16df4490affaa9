"""The dashboard in a real browser: headless chromium against `slaclock serve` and `slaclock worker` on loopback,
with the sandbox helpdesks and the demo scenario's tickets (jobs/demo.py).

SLACLOCK_UPDATE_SCREENSHOT=1 also writes the queue's screenshot to docs/dashboard.png (the README's picture)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobs.demo import SCENARIO, Stack, wait_until
from store import Store
from tests.stacks import assert_nothing_refused

ROOT = Path(__file__).resolve().parents[2]
AT_RISK = "Production line down: controller fault"
PARKED = "Parked: the helpdesk refuses this write"
RATED = "Rated: wrong tap swapped"


def issue(stack: Stack, name: str, role: str) -> str:
    """A dashboard token, issued by `slaclock admin token` as an administrator would."""
    done = subprocess.run([sys.executable, "-m", "app", "admin", "token", name, "--role", role], env=stack.env,
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    """A stack holding the demo scenario's Zendesk tickets, an urgent one close to its breach, and one parked write."""
    workdir = tmp_path_factory.mktemp("dashboard")
    with Stack(workdir, env={"SLACLOCK_SECRET_KEY": "browser-test-secret"}) as stack:
        for subject, priority, reason in SCENARIO:
            if priority != "urgent":  # a fresh urgent case would be next at risk, 30 minutes from now
                stack.customer_creates(subject, priority, reason)
        # 2 h 30 min into its 4 h: its 50 % warning comes at once, and its next threshold (75 %) is 30 minutes
        # away, sooner than any scenario case's first (a high case warns an hour in) and not so soon that the
        # countdown the tests watch runs out while a loaded machine catches up.
        at_risk = stack.customer_creates(AT_RISK, "urgent", "damage",
                                         opened_at=datetime.now(timezone.utc) - timedelta(hours=2, minutes=30))
        store = Store(stack.database)
        wait_until(lambda: any(e.kind == "warning" for e in store.timeline("zendesk", at_risk)), 60,
                   "the at-risk ticket's 50 % warning")
        stack.settle()
        # The helpdesk refuses the next ticket update: a permanent refusal parks the write at once.
        stack.faults(status=422, method="PUT", path_prefix="/api/v2/tickets/", count=1)
        parked_ticket = stack.customer_creates(PARKED, "low", "missing_part")
        wait_until(lambda: store.parked(), 30, "the refused write to be parked")
        stack.settle()
        # A customer rates a solved case: the KPI page shows the rating (a solved case leaves the queue).
        rated = stack.customer_creates(RATED, "low", "wrong_item")
        stack.settle()
        stack.agent_solves(rated)
        stack.settle()
        stack.customer_rates(rated, "good", "Quick swap")
        wait_until(lambda: any(e.kind == "csat" for e in store.timeline("zendesk", rated)), 30, "the rating")
        stack.at_risk, stack.parked_ticket = at_risk, parked_ticket
        stack.tokens = {role: issue(stack, f"{role}-person", role) for role in ("admin", "manager", "executive")}
        yield stack
    # The 422 above was the sandbox's own injected fault; nothing slaclock sent may be refused by the API description.
    assert_nothing_refused(stack)


def shot(page, screenshots: Path, name: str) -> Path:
    path = screenshots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def sign_in(context, dash: Stack, role: str):
    """Open the dashboard, get the sign-in page, sign in with the role's token; the queue comes up."""
    page = context.new_page()
    page.goto(f"{dash.receiver_url}/admin/")
    assert "/admin/sign-in" in page.url
    assert page.locator("#queue").count() == 0
    page.fill("#token", dash.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_selector("#queue")
    assert page.locator("header [data-role]").inner_text().endswith(role)
    return page


def test_a_wrong_token_stays_on_the_sign_in_page(dash, browser_for, screenshots):
    page = browser_for("stranger").new_page()
    page.goto(f"{dash.receiver_url}/admin/kpis")
    page.fill("#token", "not-a-real-token")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    assert "not recognised" in page.inner_text("[role=alert]")
    assert page.locator("#queue, #kpi-tickets").count() == 0 and AT_RISK not in page.content()
    shot(page, screenshots, "sign-in-refused")


@pytest.mark.parametrize("role", ["executive", "manager", "admin"])
def test_each_role_sees_the_at_risk_ticket_first_and_its_countdown_moves(dash, browser_for, screenshots, role):
    page = sign_in(browser_for(role), dash, role)
    first = page.locator("#queue tbody tr").first
    assert first.get_attribute("data-ticket") == f"zendesk:{dash.at_risk}"
    assert AT_RISK in first.inner_text()
    assert page.locator("#queue tbody tr").count() == len(SCENARIO) + 1  # 3 scenario cases, at-risk, parked one
    countdown = first.locator("time.countdown")
    before = countdown.inner_text()
    # The script replaced the server's UTC time; "overdue" while the sweeper has not yet re-decided a threshold
    # that just came due (it sweeps every second).
    assert re.fullmatch(r"(overdue )?(\d+h )?\d\dm \d\ds", before), before
    # Wait on the DOM for the next tick, not on a sleep.
    page.wait_for_function("([el, was]) => el.textContent !== was", arg=[countdown.element_handle(), before])
    assert countdown.inner_text() != before
    link = first.locator("a[target=_blank]").get_attribute("href")
    assert link == f"{dash.sandbox_url}/agent/tickets/{dash.at_risk}"
    path = shot(page, screenshots, f"queue-{role}")
    if role == "admin" and os.environ.get("SLACLOCK_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs" / "dashboard.png").write_bytes(path.read_bytes())


def test_the_ticket_page_shows_the_timeline_and_the_explanation(dash, browser_for, screenshots):
    page = sign_in(browser_for("executive"), dash, "executive")
    page.click(f"#queue tbody tr[data-ticket='zendesk:{dash.at_risk}'] td a")
    page.wait_for_selector("#timeline")
    kinds = page.locator("#timeline tbody tr td:nth-child(2)").all_inner_texts()
    assert "decision" in kinds and "warning" in kinds  # routed, then the sweeper's 50 % warning
    explanation = page.inner_text("#explain")
    assert explanation.startswith(f"zendesk:{dash.at_risk}: priority urgent") and "SLA clock:" in explanation
    shot(page, screenshots, "ticket")


def test_the_kpi_page_charts_the_scenario(dash, browser_for, screenshots):
    page = sign_in(browser_for("manager"), dash, "manager")
    page.click("text=KPIs")
    page.wait_for_selector("#kpi-tickets")
    assert page.inner_text("#kpi-tickets") == str(len(SCENARIO) + 2)  # the queue's and the rated, solved one
    assert page.inner_text("#kpi-csat") == "100% satisfied of 1 rated"
    assert page.locator("svg.chart").count() == 6
    shot(page, screenshots, "kpis")


def test_an_executive_has_no_retry_button_and_a_post_from_one_is_refused(dash, browser_for, screenshots):
    context = browser_for("executive")
    page = sign_in(context, dash, "executive")
    page.click("text=Parked & failed")
    page.wait_for_selector("#parked")
    (row,) = Store(dash.database).parked()
    assert page.locator(f"#parked tr[data-id='{row.id}']").count() == 1
    assert page.locator("button.retry").count() == 0
    shot(page, screenshots, "parked-executive")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = context.request.post(f"{dash.receiver_url}/admin/parked/retry",
                                  form={"id": str(row.id), "csrf_token": csrf}, max_redirects=0)
    assert answer.status == 403
    assert [r.id for r in Store(dash.database).parked()] == [row.id]


def test_an_admin_retry_requeues_the_parked_write_and_it_lands(dash, browser_for, screenshots):
    page = sign_in(browser_for("admin"), dash, "admin")
    page.click("text=Parked & failed")
    store = Store(dash.database)
    (row,) = store.parked()
    shot(page, screenshots, "parked-admin")
    page.click(f"#parked tr[data-id='{row.id}'] button.retry")
    page.wait_for_selector("text=1 parked write queued again")
    assert page.locator(f"#parked tr[data-id='{row.id}']").count() == 0
    status = store.db.execute("select status from outbox where id = ?", [row.id]).fetchone()[0]
    assert status in ("pending", "sending", "done")
    # The injected refusal was used up: the worker sends the re-queued write and the helpdesk takes it.
    wait_until(lambda: store.db.execute("select status from outbox where id = ?", [row.id]).fetchone()[0] == "done",
               30, "the re-queued write to land")
    assert store.parked() == []
