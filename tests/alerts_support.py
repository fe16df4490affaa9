"""Rules with alerts switched on, and a recording channel, for the alert tests."""
from __future__ import annotations

from rules import EXAMPLE_RULES
from rules.schema import parse_rules

ALERTS_SECTION = '''
[alerts]
level_changed = ["owner", "on_call", "account_manager"]
breached = ["owner", "on_call"]

[alerts.channels.ops-slack]
kind = "slack"
url_env = "SLACLOCK_TEST_SLACK_URL"

[alerts.channels.mail]
kind = "email"
url_env = "SLACLOCK_TEST_SMTP_URL"
sender = "slaclock@example.com"

[alerts.channels.hooks]
kind = "webhook"
url_env = "SLACLOCK_TEST_WEBHOOK_URL"
secret_env = "SLACLOCK_TEST_WEBHOOK_SECRET"
'''


def alert_rules_text(calendar: str | None = None) -> str:
    """The example rules with Sam on all three channels (quiet hours on `calendar` when given)."""
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    old = '[people.sam]\nname = "Sam Ortiz"\n'
    assert old in text
    extra = 'email = "sam.ortiz@example.com"\nalerts = ["ops-slack", "mail", "hooks"]\n'
    if calendar:
        extra += f'calendar = "{calendar}"\n'
    return text.replace(old, old + extra) + ALERTS_SECTION


def alert_rules(calendar: str | None = None):
    return parse_rules(alert_rules_text(calendar))


class RecordingChannel:
    """A channel that records what it is asked to send, or raises the errors queued in `failures`."""

    def __init__(self, name: str, kind: str = "slack", idempotent: bool = False, digests: bool = True):
        self.name, self.kind, self.idempotent, self.digests = name, kind, idempotent, digests
        self.sent: list = []
        self.failures: list[Exception] = []

    def _record(self, item) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(item)

    def send(self, message) -> None:
        self._record(message)

    def send_event(self, event) -> None:
        self._record(event)
