"""Slack incoming webhooks: POST {"text": …} as JSON to the channel's URL; Slack answers 200 "ok", or a
4xx with a plain-text reason (invalid_payload, no_service, channel_is_archived …), 429 when rate limited.
An incoming webhook has no read-back and no idempotency key: a post whose answer was lost is not re-sent."""
from __future__ import annotations

import json

import requests

from alerts.events import Message
from alerts.http import post


class SlackChannel:
    """One Slack incoming webhook (it posts into the one channel it was created for)."""

    kind = "slack"
    idempotent = False  # a re-sent post shows twice
    digests = True

    def __init__(self, name: str, url: str, session: requests.Session | None = None):
        self.name, self._url = name, url
        self.session = session or requests.Session()

    def body(self, message: Message) -> dict:
        """The incoming-webhook JSON: plain text naming the recipient (the channel is shared)."""
        return {"text": f"{message.person_name}: {message.text}"}

    def send(self, message: Message) -> None:
        """Post the message; raise the connectors' errors (see alerts.http.post)."""
        post(self.session, f"Slack channel {self.name}", self._url, json.dumps(self.body(message)).encode(),
             {"Content-Type": "application/json"})
