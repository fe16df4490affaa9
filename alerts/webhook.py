"""The generic outgoing webhook: one JSON event per alert (alerts.events.webhook_event), signed.

Signature: `X-Slaclock-Timestamp` = Unix seconds, `X-Slaclock-Signature` = `sha256=` + hex HMAC-SHA256 of
`<timestamp>.<body>` with the channel's secret. A receiver recomputes it over the raw body, compares in
constant time and refuses old timestamps (replays). An event's `id` is the same on every resend, so a
receiver that saw it already ignores it: that makes a resend after a lost answer safe.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Callable, Mapping

import requests

from alerts.http import post

SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-Slaclock-Signature", "X-Slaclock-Timestamp"
# A receiver should refuse a signature older than this (seconds); the sandbox receiver does.
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, `timestamp.body`)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance: float = TOLERANCE_SECONDS) -> bool:
    """True when the headers sign `body` with `secret` within `tolerance` seconds of `now`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, given = lowered.get(TIMESTAMP_HEADER.lower(), ""), lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)


class WebhookChannel:
    """One signed outgoing webhook."""

    kind = "webhook"
    idempotent = True  # receivers dedupe on the event id
    digests = False  # automation wants one event per ticket

    def __init__(self, name: str, url: str, secret: str, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time):
        self.name, self._url, self._secret = name, url, secret
        self.session, self.clock = session or requests.Session(), clock

    def send_event(self, event: Mapping[str, Any]) -> None:
        """POST the event, signed; raise the connectors' errors (see alerts.http.post)."""
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(self.clock()))
        post(self.session, f"webhook channel {self.name}", self._url, body,
             {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
              SIGNATURE_HEADER: signature(self._secret, timestamp, body)})
