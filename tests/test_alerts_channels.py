"""Each alert channel against a real wire: Slack and the webhook through `responses`, e-mail through a real
aiosmtpd server on loopback."""
import json
import time

import pytest
import responses
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler

from alerts.channels import build_channels
from alerts.email import EmailChannel
from alerts.events import message, webhook_event
from alerts.slack import SlackChannel
from alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookChannel, signature, verify
from jobs.demo import free_port
from connectors.errors import OutcomeUnknown, PermanentError, RetryableError
from tests.alerts_support import alert_rules

SLACK_URL = "https://hooks.slack.test/services/T000/B000/secretpart"
HOOK_URL = "https://automation.test/slaclock"


def payload(n="1", **extra):
    return {"type": "escalation.level_changed", "id": f"zendesk:{n}:level:1:1:specialist:notify:sam",
            "occurred_at": "2026-03-02T14:05:00+00:00", "helpdesk": "zendesk", "ticket_id": n, "person": "sam",
            "person_name": "Sam Ortiz", "email": "sam@example.com", "channel": "c",
            "text": f"#{n} escalated to L2 specialist, owner Sam Ortiz.", "level": "L2 specialist",
            "owner": "Sam Ortiz", **extra}


@responses.activate
def test_slack_posts_the_incoming_webhook_json_and_maps_its_errors():
    responses.post(SLACK_URL, body="ok")
    channel = SlackChannel("ops", SLACK_URL)
    channel.send(message([payload()]))
    body = json.loads(responses.calls[0].request.body)
    assert body == {"text": "Sam Ortiz: #1 escalated to L2 specialist, owner Sam Ortiz."}
    assert responses.calls[0].request.headers["Content-Type"] == "application/json"
    for status, error in ((404, PermanentError), (429, RetryableError), (503, RetryableError)):
        responses.post(SLACK_URL, status=status, body="no_service", headers={"Retry-After": "7"})
        with pytest.raises(error) as raised:
            channel.send(message([payload()]))
        assert "Slack channel ops" in str(raised.value) and "secretpart" not in str(raised.value)
    assert raised.value.retry_after == 7.0


@responses.activate
def test_slack_read_timeout_is_an_unknown_outcome():
    import requests
    responses.post(SLACK_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(OutcomeUnknown):
        SlackChannel("ops", SLACK_URL).send(message([payload()]))


@responses.activate
def test_the_webhook_event_is_documented_json_signed_over_timestamp_and_body():
    responses.post(HOOK_URL, status=204)
    WebhookChannel("hooks", HOOK_URL, "s3cret", clock=lambda: 1772460300.0).send_event(webhook_event(payload(
        url="https://acme.zendesk.test/agent/tickets/1")))
    request = responses.calls[0].request
    event = json.loads(request.body)
    assert event == {"type": "escalation.level_changed", "id": "zendesk:1:level:1:1:specialist:notify:sam",
                     "occurred_at": "2026-03-02T14:05:00+00:00",
                     "ticket": {"helpdesk": "zendesk", "id": "1", "url": "https://acme.zendesk.test/agent/tickets/1"},
                     "level": "L2 specialist", "owner": "Sam Ortiz",
                     "text": "#1 escalated to L2 specialist, owner Sam Ortiz."}
    assert request.headers[TIMESTAMP_HEADER] == "1772460300"
    assert request.headers[SIGNATURE_HEADER] == signature("s3cret", "1772460300", request.body)
    assert verify("s3cret", request.headers, request.body, now=1772460300.0 + 10)
    assert not verify("other", request.headers, request.body, now=1772460300.0)
    assert not verify("s3cret", request.headers, request.body + b" ", now=1772460300.0)
    assert not verify("s3cret", request.headers, request.body, now=1772460300.0 + 3600)  # a replay


@pytest.fixture
def smtp_server():
    received = []

    class Recorder(MessageHandler):
        def handle_message(self, msg):
            received.append(msg)

    port = free_port()
    controller = Controller(Recorder(), hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", received
    controller.stop()


def test_email_goes_through_a_real_smtp_server(smtp_server):
    url, received = smtp_server
    channel = EmailChannel("mail", url, "slaclock@example.com")
    channel.send(message([payload("1"), payload("2")]))
    (mail,) = received
    assert mail["To"] == "sam@example.com" and mail["From"] == "slaclock@example.com"
    assert mail["Subject"] == "2 tickets escalated"
    body = mail.get_payload()
    assert "• #1 escalated" in body and "• #2 escalated" in body and body.startswith("Sam Ortiz,")
    assert mail["Message-ID"].endswith("@slaclock>")


def test_email_to_a_server_that_is_not_there_is_retried_and_no_address_is_refused():
    with pytest.raises(RetryableError, match="could not connect"):
        EmailChannel("mail", "smtp://127.0.0.1:9", "slaclock@example.com").send(message([payload()]))
    with pytest.raises(PermanentError, match="has no e-mail address"):
        EmailChannel("mail", "smtp://127.0.0.1:9", "s@example.com").send(message([payload(email=None)]))
    with pytest.raises(ValueError, match="smtp://host:25"):
        EmailChannel("mail", "http://127.0.0.1", "s@example.com")


def test_channels_read_their_urls_and_secrets_from_the_named_variables():
    rules = alert_rules()
    built, missing = build_channels(rules, {"SLACLOCK_TEST_SLACK_URL": SLACK_URL,
                                            "SLACLOCK_TEST_WEBHOOK_URL": HOOK_URL})
    assert set(built) == {"ops-slack"}
    assert missing == {"mail": "alert channel mail: SLACLOCK_TEST_SMTP_URL is not set",
                       "hooks": "alert channel hooks: SLACLOCK_TEST_WEBHOOK_SECRET is not set (the signing secret)",
                       # The vendor team's system, teams.acme_parts.webhook in the example rules.
                       "vendor:acme_parts": "vendor webhook of team acme_parts: SLACLOCK_ACME_PARTS_WEBHOOK_URL and "
                                            "SLACLOCK_ACME_PARTS_WEBHOOK_SECRET not set"}
    built, _ = build_channels(rules, {"SLACLOCK_ACME_PARTS_WEBHOOK_URL": HOOK_URL,
                                      "SLACLOCK_ACME_PARTS_WEBHOOK_SECRET": "s3cret"})
    assert built["vendor:acme_parts"].kind == "webhook"


def test_the_rules_refuse_a_channel_nobody_defined_and_a_webhook_without_a_secret():
    from rules.schema import RulesError, parse_rules
    from tests.alerts_support import alert_rules_text
    with pytest.raises(RulesError, match="names no alert channel"):
        parse_rules(alert_rules_text().replace('alerts = ["ops-slack"', 'alerts = ["nope"'))
    with pytest.raises(RulesError, match="secret_env"):
        parse_rules(alert_rules_text().replace('secret_env = "SLACLOCK_TEST_WEBHOOK_SECRET"\n', ''))
