"""End to end: real `slaclock serve` and `slaclock worker` processes and the sandbox, over loopback."""
from datetime import datetime

import pytest

from jobs.demo import Stack
from rules import decide, load_rules
from store import Store
from zendesk.mapping import ticket_from_api
from zendesk.settings import ZendeskSettings

RULES = load_rules()
SETTINGS = ZendeskSettings.from_env({}, RULES)
DUE_FIELD = int(RULES.connectors.zendesk.due_field_id)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("e2e")) as running:
        yield running


def due_field(ticket: dict) -> str | None:
    return next((f["value"] for f in ticket["custom_fields"] if f["id"] == DUE_FIELD), None)


def expected_due(ticket: dict) -> str:
    neutral = ticket_from_api(ticket, SETTINGS)
    decision = decide(neutral, RULES, datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00")))
    return decision.due_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def puts_for(stack: Stack, ticket_id: str) -> int:
    store = Store(stack.database)
    return store.db.execute("select count(*) from outbox where ticket_id = ? and status = 'done'",
                            [ticket_id]).fetchone()[0]


def test_new_ticket_ends_routed_with_due_field_and_one_note_and_no_echo_write(stack):
    ticket_id = stack.customer_creates("Replacement hinge missing", "normal", "missing_part")
    stack.settle()
    ticket = stack.ticket(ticket_id)
    assert ticket["group_id"] == 2002 and ticket["priority"] == "normal"
    assert due_field(ticket) == expected_due(ticket)
    notes = [c for c in ticket["comments"] if not c["public"]]
    assert len(notes) == 1 and "purchasing" in notes[0]["body"] and "missing_part" in notes[0]["body"]
    assert puts_for(stack, ticket_id) == 1
    store = Store(stack.database)
    echoes = store.db.execute("select count(*) from inbox where ticket_id = ? and status = 'echo'",
                              [ticket_id]).fetchone()[0]
    assert echoes >= 3, "our own write comes back as webhooks, and they must be recognised as echoes"


def test_agent_escalation_tag_raises_priority_and_rederives_due(stack):
    ticket_id = stack.customer_creates("Refund is late", "normal", None)
    stack.settle()
    stack.agent_changes(ticket_id, tags=["vip", RULES.escalation.tag])
    stack.settle()
    ticket = stack.ticket(ticket_id)
    assert ticket["priority"] == "high" and ticket["tags"] == ["vip"] and ticket["group_id"] == 2001
    assert due_field(ticket) == expected_due(ticket)
    assert [c["public"] for c in ticket["comments"]].count(False) == 2
    assert puts_for(stack, ticket_id) == 2


def test_rate_limited_write_is_retried_after_retry_after_and_lands_once(stack):
    stack.faults(method="PUT", path_prefix="/api/v2/tickets", status=429, retry_after=1, count=1)
    ticket_id = stack.customer_creates("Wrong tap delivered", "low", "wrong_item")
    stack.settle()
    ticket = stack.ticket(ticket_id)
    assert ticket["group_id"] == 2003
    assert [c["public"] for c in ticket["comments"]].count(False) == 1
    assert stack.stats()["faults_served"] >= 1


def test_explain_shows_the_rule_that_routed_the_ticket(stack):
    import subprocess
    import sys

    ticket_id = stack.customer_creates("Site not ready for install", "low", "site_not_ready")
    stack.settle()
    result = subprocess.run([sys.executable, "-m", "app", "explain", f"zendesk:{ticket_id}"], env=stack.env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "routing.reason_codes.site_not_ready" in result.stdout and "written" in result.stdout
