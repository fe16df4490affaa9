"""Wiring: SandboxConfig, the Flask app with its /_sandbox control routes, and a threaded server.

One process serves both fake helpdesks: Zendesk under /api/v2 (control: /_sandbox/…), Jira under /rest
(control: /_sandbox/jira/…). Faults, /_sandbox/stats, /idle and /reset cover both.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox import jira_api, zendesk_api
from sandbox.faults import Fault, FaultBook
from sandbox.jira_control import control as jira_control
from sandbox.jira_fields import JiraError
from sandbox.jira_site import JiraConfig, JiraSite
from sandbox.sender import WebhookSender
from sandbox.stats import ApiStats
from sandbox.store import Mutation, RecordNotFound, TicketStore, User, parse_stamp, utc_now
from sandbox.webhooks import ZendeskProtocol, build_envelopes, outgoing
from sandbox.zendesk_api import IdempotencyCache, comment_json, ticket_json


@dataclass
class SandboxConfig:
    """Credentials, webhook target and identities of the fake Zendesk account."""

    api_email: str = "slaclock@example.com"
    api_token: str = "sandbox-token"
    webhook_url: str | None = None
    webhook_secret: str = "sandbox-webhook-secret"
    api_user_id: int = 9001
    agent_user_id: int = 9002
    account_id: int = 22129848
    # Ticket field id → title; every ticket lists these fields (null until set), as Zendesk does.
    custom_fields: Mapping[int, str] = field(default_factory=dict)
    # Fault specs (see faults.Fault) active from the start.
    faults: Sequence[Mapping[str, Any]] = ()
    webhook_id: str = "01HSANDBOXWEBHOOK000000000A"
    webhook_backoff: tuple[float, ...] = (0.1, 0.3, 0.9)
    webhook_max_wait: float = 5.0
    webhook_timeout: float = 10.0
    clock: Callable[[], datetime] = utc_now
    # The Jira side (its webhook URL, credentials, accounts and fields); backoff and clock are shared.
    jira: JiraConfig = field(default_factory=JiraConfig)


class Sandbox:
    """The running fake: store, webhook sender, faults, stats and idempotency cache."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        users = [User(config.api_user_id, "slaclock API", config.api_email.lower(), "admin"),
                 User(config.agent_user_id, "Sandbox Agent", "agent@sandbox.invalid", "agent")]
        self.store = TicketStore(users, config.api_user_id, config.custom_fields.keys(), config.clock)
        protocol = ZendeskProtocol(config.webhook_secret, config.account_id, config.webhook_id, config.clock)
        self.sender = WebhookSender(config.webhook_url, protocol, config.webhook_backoff, config.webhook_max_wait,
                                    config.webhook_timeout, config.clock)
        self.jira = JiraSite(config.jira, config.webhook_backoff, config.webhook_max_wait, config.webhook_timeout,
                             config.clock)
        self.faults = FaultBook()
        self.stats = ApiStats()
        self.idempotency = IdempotencyCache(config.clock)
        self.jobs: dict[str, dict] = {}  # update_many job statuses by id
        self.store.subscribe(self._on_mutation)
        self._add_preset_faults()

    def _add_preset_faults(self) -> None:
        for spec in self.config.faults:
            self.faults.add(Fault.from_spec(spec))

    def _on_mutation(self, mutation: Mutation) -> None:
        self.sender.enqueue(outgoing(build_envelopes(mutation, self.config.account_id, self.store.user,
                                                     self.config.custom_fields, self.config.clock())))

    def reset(self) -> None:
        self.store.reset()
        self.sender.reset()
        self.faults.reset()
        self.stats.reset()
        self.idempotency.reset()
        self.jobs.clear()
        self.jira.reset()
        self._add_preset_faults()

    def idle(self) -> bool:
        """No webhook of either helpdesk queued or in flight."""
        return self.sender.idle() and self.jira.sender.idle()

    def report(self) -> dict[str, Any]:
        """Calls per route (both helpdesks), faults served and webhook counts, in total and per helpdesk."""
        zendesk, jira = self.stats.snapshot(), self.jira.stats.snapshot()
        return {"api_calls": {**zendesk["api_calls"], **jira["api_calls"]}, "total": zendesk["total"] + jira["total"],
                "faults_served": self.faults.served, "webhooks": self.sender.counts(),
                "helpdesks": {
                    "zendesk": {**zendesk, "faults_served": self.faults.served_by["zendesk"],
                                "webhooks": self.sender.counts()},
                    "jira": {**jira, "faults_served": self.faults.served_by["jira"],
                             "webhooks": self.jira.sender.counts()}}}

    def close(self) -> None:
        self.sender.close()
        self.jira.close()


control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def _ticket_object() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("ticket"), dict):
        return body["ticket"]
    return body if isinstance(body, dict) else None


def _reply(status: int, body: Any) -> tuple[Response, int]:
    return jsonify(body), status


@control.post("/agent/tickets")
def agent_create() -> tuple[Response, int]:
    """Create a ticket as the human agent (e.g. a phone call logged in the Zendesk UI).

    `ticket.created_at` (ISO 8601) backdates it, as Zendesk's ticket import API allows.
    """
    payload = _ticket_object()
    if payload is None:
        return _reply(400, zendesk_api.MISSING_TICKET)
    payload = dict(payload)
    created_at = parse_stamp(payload.pop("created_at", None))
    return _reply(*zendesk_api.create_ticket(payload, _sandbox().config.agent_user_id, "web", created_at))


@control.post("/agent/tickets/<int:ticket_id>")
def agent_update(ticket_id: int) -> tuple[Response, int]:
    """Change a ticket as the human agent, emitting webhooks with the agent as actor."""
    payload = _ticket_object()
    if payload is None:
        return _reply(400, zendesk_api.MISSING_TICKET)
    return _reply(*zendesk_api.update_ticket(ticket_id, payload, _sandbox().config.agent_user_id, "web"))


@control.post("/webhooks/drop")
def drop_webhooks() -> tuple[Response, int]:
    """Lose the next `count` webhook deliveries (body `{"count": n}`), to exercise reconciliation."""
    count = (request.get_json(silent=True) or {}).get("count")
    if not isinstance(count, int) or count < 0:
        return _reply(400, {"error": "body must be {\"count\": <non-negative integer>}"})
    _sandbox().sender.drop_next(count)
    return _reply(200, {"dropping": count})


@control.post("/faults")
def add_faults() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    specs = body if isinstance(body, list) else [body]
    try:
        faults = [Fault.from_spec(spec) for spec in specs if isinstance(spec, dict)]
        if len(faults) != len(specs):
            raise ValueError("body must be a fault object or a list of them")
    except (TypeError, ValueError) as e:
        return _reply(400, {"error": str(e)})
    for fault in faults:
        _sandbox().faults.add(fault)
    return _reply(201, {"faults": _sandbox().faults.pending()})


@control.get("/faults")
def list_faults() -> tuple[Response, int]:
    return _reply(200, {"faults": _sandbox().faults.pending()})


@control.delete("/faults")
def clear_faults() -> tuple[Response, int]:
    _sandbox().faults.clear()
    return _reply(200, {"faults": []})


@control.get("/stats")
def stats() -> tuple[Response, int]:
    return _reply(200, _sandbox().report())


@control.get("/tickets/<int:ticket_id>")
def internal_ticket(ticket_id: int) -> tuple[Response, int]:
    try:
        ticket = _sandbox().store.get(ticket_id)
    except RecordNotFound:
        return _reply(404, zendesk_api.RECORD_NOT_FOUND)
    return _reply(200, {"ticket": ticket_json(ticket), "comments": [comment_json(c) for c in ticket.comments]})


@control.get("/webhooks")
def webhooks() -> tuple[Response, int]:
    return _reply(200, {"deliveries": _sandbox().sender.deliveries()})


@control.get("/idle")
def idle() -> tuple[Response, int]:
    return _reply(200, {"idle": _sandbox().idle()})


@control.post("/reset")
def reset() -> tuple[Response, int]:
    _sandbox().reset()
    return _reply(200, {"reset": True})


def create_app(config: SandboxConfig) -> Flask:
    """The sandbox as a Flask app; `app.extensions["sandbox"]` is the running Sandbox."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.extensions["sandbox"] = Sandbox(config)
    app.register_blueprint(zendesk_api.bp)
    app.register_blueprint(jira_api.bp)
    app.register_blueprint(control)
    app.register_blueprint(jira_control)
    app.register_error_handler(JiraError, jira_api.jira_error)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)
    return app


def _not_found(error: Exception) -> Response | Exception:
    """Each helpdesk's own answer to an unknown endpoint under its API prefix; Flask's elsewhere."""
    return jira_api.api_not_found(error) or zendesk_api.api_not_found(error)


class SandboxServer:
    """A sandbox served by werkzeug on a background thread (for tests and the demo)."""

    def __init__(self, config: SandboxConfig, host: str = "127.0.0.1", port: int = 0):
        self.app = create_app(config)
        self.sandbox: Sandbox = self.app.extensions["sandbox"]
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        if config.jira.site_url is None:
            self.sandbox.jira.site_url = self.url
        # A short poll interval so stop() returns promptly.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-http", daemon=True)

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=2)
        self.sandbox.close()


def serve(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8089) -> None:
    """Serve until interrupted; prints the base URL once listening (port 0 picks a free port)."""
    app = create_app(config)
    server = make_server(host, port, app, threaded=True)
    if config.jira.site_url is None:
        app.extensions["sandbox"].jira.site_url = f"http://{host}:{server.server_port}"
    print(f"sandbox listening on http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["sandbox"].close()
