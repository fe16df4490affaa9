"""The sandbox's alert receiver: it records what slaclock sends outside the helpdesk, so the end-to-end
tests and the demo can show it.

    POST /_sandbox/alerts/slack/<name>     a Slack incoming webhook: records {"text": …}, answers "ok"
    POST /_sandbox/alerts/webhook/<name>   the signed webhook: 401 unless X-Slaclock-Signature verifies with
                                           SANDBOX_ALERT_SECRET; an event id seen before is not recorded again
    GET  /_sandbox/alerts                  {"slack": [...], "webhook": [...], "email": [...]}
    e-mail: a real SMTP server (aiosmtpd) on 127.0.0.1:SANDBOX_SMTP_PORT, when that variable is set.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from alerts.webhook import verify

# The signing secret the receiver checks when SANDBOX_ALERT_SECRET is not set.
DEFAULT_SECRET = "sandbox-alert-secret"

receiver = Blueprint("sandbox_alerts", __name__, url_prefix="/_sandbox/alerts")


class AlertBook:
    """What arrived, per channel kind (thread-safe: the SMTP server runs on its own thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, list[dict[str, Any]]] = {"slack": [], "webhook": [], "email": []}

    def add(self, kind: str, record: dict[str, Any]) -> None:
        with self.lock:
            self.records[kind].append(record)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            return {kind: list(items) for kind, items in self.records.items()}


def _book() -> AlertBook:
    from flask import current_app
    return current_app.extensions["sandbox_alerts"]


@receiver.record_once
def _setup(state) -> None:
    app: Flask = state.app
    book = app.extensions.setdefault("sandbox_alerts", AlertBook())
    port = os.environ.get("SANDBOX_SMTP_PORT", "").strip()
    if port:
        _start_smtp(book, int(port))


def _start_smtp(book: AlertBook, port: int) -> None:
    from aiosmtpd.controller import Controller

    class Recorder:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            from email import message_from_bytes
            mail = message_from_bytes(envelope.content)
            book.add("email", {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "subject": mail["Subject"],
                               "body": mail.get_payload(), "message_id": mail["Message-ID"]})
            return "250 Message accepted for delivery"

    Controller(Recorder(), hostname="127.0.0.1", port=port).start()  # a daemon thread for the process's life


@receiver.get("")
def alerts() -> Response:
    return jsonify(_book().snapshot())


@receiver.post("/slack/<name>")
def slack(name: str) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return Response("invalid_payload", status=400, mimetype="text/plain")
    _book().add("slack", {"channel": name, "text": body["text"]})
    return Response("ok", mimetype="text/plain")


@receiver.post("/webhook/<name>")
def webhook(name: str) -> Response:
    secret = os.environ.get("SANDBOX_ALERT_SECRET", "").strip() or DEFAULT_SECRET
    raw = request.get_data()
    if not verify(secret, dict(request.headers), raw, time.time()):
        return Response("bad signature", status=401, mimetype="text/plain")
    event = request.get_json(silent=True) or {}
    book = _book()
    if any(r["event"].get("id") == event.get("id") for r in book.snapshot()["webhook"]):
        return Response(status=200)  # seen before: a receiver dedupes on the event id
    book.add("webhook", {"channel": name, "event": event})
    return Response(status=204)
