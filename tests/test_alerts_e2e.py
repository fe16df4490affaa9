"""End to end: an agent's escalation at the sandbox reaches Slack, e-mail (a real SMTP server) and the signed
webhook, each exactly once, through `slaclock serve` + `slaclock worker` and the sandbox's alert receiver."""

import pytest

from jobs.demo import Stack, free_port, wait_until
from tests.alerts_support import alert_rules_text
from tests.stacks import assert_nothing_refused


@pytest.fixture(scope="module")
def alert_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e-alerts")
    rules = workdir / "rules.toml"
    rules.write_text(alert_rules_text(), encoding="utf-8")
    smtp_port = free_port()
    stack = Stack(workdir, rules_path=str(rules))
    base = f"{stack.sandbox_url}/_sandbox/alerts"
    stack.env.update({"SANDBOX_SMTP_PORT": str(smtp_port), "SANDBOX_ALERT_SECRET": "e2e-secret",
                      "SLACLOCK_TEST_SLACK_URL": f"{base}/slack/ops", "SLACLOCK_TEST_WEBHOOK_URL": f"{base}/webhook/hooks",
                      "SLACLOCK_TEST_WEBHOOK_SECRET": "e2e-secret", "SLACLOCK_TEST_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"})
    with stack as running:
        yield running
    assert_nothing_refused(running)


def received(stack):
    return stack.http.get(f"{stack.sandbox_url}/_sandbox/alerts", timeout=5).json()


def test_an_escalation_reaches_slack_email_and_the_webhook_once_each(alert_stack):
    stack = alert_stack
    ticket_id = stack.customer_creates("Refund is late", "normal", None)
    stack.settle()
    stack.agent_escalates(ticket_id)
    got = wait_until(lambda: (r := received(stack)) and all(r[k] for k in ("slack", "email", "webhook")) and r,
                     20, "the alerts at the sandbox")
    stack.settle()  # every outbox row done: a duplicate would have been sent by now
    got = received(stack)
    (slack,), (mail,), (hook,) = got["slack"], got["email"], got["webhook"]
    assert slack["channel"] == "ops" and slack["text"].startswith(f"Sam Ortiz: #{ticket_id} «Refund is late» "
                                                                  "escalated to L2 specialist, owner Sam Ortiz")
    assert mail["to"] == ["sam.ortiz@example.com"] and "escalated to L2 specialist" in mail["subject"]
    event = hook["event"]  # the receiver verified its signature
    assert event["type"] == "escalation.level_changed" and event["ticket"]["id"] == ticket_id
    assert event["ticket"]["url"] == f"{stack.sandbox_url}/agent/tickets/{ticket_id}"
    assert event["id"] == f"zendesk:{ticket_id}:level:1:1:specialist:notify:sam"
