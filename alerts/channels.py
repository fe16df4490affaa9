"""The alert channels the rules name (`[alerts.channels]`), built with their URLs and secrets from the
environment; and when a person may be alerted (their quiet hours)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Union

from alerts.email import EmailChannel
from alerts.slack import SlackChannel
from alerts.webhook import WebhookChannel
from rules.schema import Rules

Channel = Union[SlackChannel, EmailChannel, WebhookChannel]


def build_channels(rules: Rules, env: Mapping[str, str]) -> tuple[dict[str, Channel], dict[str, str]]:
    """(channel name → sender, channel name → why it is not configured), the alert channels and the vendor
    teams' webhooks (`vendor:<team>`); never raises for one bad channel."""
    built: dict[str, Channel] = {}
    missing: dict[str, str] = {}
    for name, spec in (rules.alerts.channels.items() if rules.alerts else ()):
        url = (env.get(spec.url_env) or "").strip()
        secret = (env.get(spec.secret_env) or "").strip() if spec.secret_env else None
        if not url:
            missing[name] = f"alert channel {name}: {spec.url_env} is not set"
            continue
        if spec.kind == "webhook" and not secret:
            missing[name] = f"alert channel {name}: {spec.secret_env} is not set (the signing secret)"
            continue
        try:
            if spec.kind == "slack":
                built[name] = SlackChannel(name, url)
            elif spec.kind == "webhook":
                built[name] = WebhookChannel(name, url, secret or "")
            else:
                built[name] = EmailChannel(name, url, spec.sender or "", secret, spec.starttls)
        except ValueError as e:
            missing[name] = f"{e} (in {spec.url_env})"
    for team, spec in rules.teams.items():
        if spec.webhook is None:
            continue
        name, url = vendor_channel(team), (env.get(spec.webhook.url_env) or "").strip()
        secret = (env.get(spec.webhook.secret_env) or "").strip()
        unset = [v for v, value in ((spec.webhook.url_env, url), (spec.webhook.secret_env, secret)) if not value]
        if unset:
            missing[name] = f"vendor webhook of team {team}: {' and '.join(unset)} not set"
        else:
            built[name] = WebhookChannel(name, url, secret)
    return built, missing


def vendor_channel(team: str) -> str:
    """The channel name of a vendor team's webhook (`teams.<team>.webhook`)."""
    return f"vendor:{team}"


@dataclass
class AlertDesk:
    """What the deliverer needs to send ALERT rows: the rules (people, calendars), the built channels,
    and why the others are not configured."""

    rules: Rules
    channels: Mapping[str, Channel] = field(default_factory=dict)
    missing: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, rules: Rules, env: Mapping[str, str]) -> "AlertDesk":
        channels, missing = build_channels(rules, env)
        return cls(rules, channels, missing)

    def held_until(self, person: str | None, now: datetime) -> datetime | None:
        """When the person's quiet hours end, while their calendar is closed at `now` (None: alert now)."""
        spec = self.rules.people.get(person) if person else None
        if spec is None or not spec.calendar:
            return None
        calendar = self.rules.calendar(spec.calendar)
        return None if calendar.is_open(now) else calendar.next_open(now)
