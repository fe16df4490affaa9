"""Wiring: SandboxConfig, the running Sandbox, the Flask app and a threaded server.

One process serves both fake helpdesks: Zendesk under /api/v2 (control: /_sandbox/…), Jira under /rest
(control: /_sandbox/jira/…). Faults, /_sandbox/stats, /idle and /reset cover both.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from flask import Flask, Response, current_app, request
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox import alerts, jira, zendesk
from sandbox.api import Helpdesk, guard
from sandbox.contract import Contract, load_contracts, openapi_dir
from sandbox.control import control
from sandbox.faults import DropAnswers, Fault, FaultBook
from sandbox.jira.site import JiraConfig, JiraSite
from sandbox.records import utc_now
from sandbox.site import HelpdeskSite
from sandbox.zendesk.site import ZendeskConfig, ZendeskSite

HELPDESKS: tuple[Helpdesk, ...] = (zendesk.HELPDESK, jira.HELPDESK)
log = logging.getLogger("sandbox")
# Each refused request is logged as this mark and a JSON object (tests read the sandbox's log for them).
REJECTED_MARK = "sandbox.rejected"


@dataclass
class SandboxConfig:
    """Each helpdesk's account, faults active from the start, and the webhook timing and clock both share."""

    zendesk: ZendeskConfig = field(default_factory=ZendeskConfig)
    jira: JiraConfig = field(default_factory=JiraConfig)
    # Fault specs (see faults.Fault) active from the start.
    faults: Sequence[Mapping[str, Any]] = ()
    webhook_backoff: tuple[float, ...] = (0.1, 0.3, 0.9)
    webhook_max_wait: float = 5.0
    webhook_timeout: float = 10.0
    clock: Callable[[], datetime] = utc_now
    # Validate every API request against the official descriptions (sandbox/contract.py); the folder holding
    # them (None: `shared/reference/openapi` beside the checkout, or SANDBOX_OPENAPI_DIR).
    validate: bool = True
    openapi_dir: Path | None = None
    # Where each refused request is appended as a JSON line (the contract test reads it across processes).
    rejected_log: Path | None = None


class Sandbox:
    """The running fake: both helpdesk sites and the faults injected into their APIs."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        timing = (config.webhook_backoff, config.webhook_max_wait, config.webhook_timeout, config.clock)
        self.zendesk = ZendeskSite(config.zendesk, *timing)
        self.jira = JiraSite(config.jira, *timing)
        self.sites: dict[str, HelpdeskSite] = {"zendesk": self.zendesk, "jira": self.jira}
        self.faults = FaultBook()
        self._add_preset_faults()
        folder = config.openapi_dir or openapi_dir()
        self.contracts: dict[str, Contract] = load_contracts(folder) if config.validate else {}
        self._log_lock = threading.Lock()

    @property
    def validating(self) -> bool:
        """Whether API requests are checked against the official descriptions."""
        return bool(self.contracts)

    def rejected(self) -> list[dict[str, str]]:
        """Every request the descriptions refused since the last reset: helpdesk, method, path and reason."""
        return [{"helpdesk": name, **entry} for name, site in self.sites.items()
                for entry in site.stats.snapshot()["rejected"]]

    def note_rejected(self, helpdesk: str, method: str, path: str, reason: str) -> None:
        """Log a refused request (once per request) and append it to the configured rejected log."""
        line = json.dumps({"helpdesk": helpdesk, "method": method, "path": path, "reason": reason})
        log.warning("%s %s", REJECTED_MARK, line)
        if self.config.rejected_log is not None:
            with self._log_lock, open(self.config.rejected_log, "a", encoding="utf-8") as file:
                file.write(line + "\n")

    def _add_preset_faults(self) -> None:
        for spec in self.config.faults:
            self.faults.add(Fault.from_spec(spec))

    def reset(self) -> None:
        for site in self.sites.values():
            site.reset()
        self.faults.reset()
        self._add_preset_faults()

    def idle(self) -> bool:
        """No webhook of either helpdesk queued or in flight."""
        return all(site.sender.idle() for site in self.sites.values())

    def report(self) -> dict[str, Any]:
        """Calls per route (both helpdesks), faults served and webhook counts, in total and per helpdesk (the
        top-level `webhooks` are Zendesk's)."""
        helpdesks = {name: {**site.stats.snapshot(), "faults_served": self.faults.served_by[name],
                            "webhooks": site.sender.counts()} for name, site in self.sites.items()}
        return {"api_calls": {name: count for h in helpdesks.values() for name, count in h["api_calls"].items()},
                "total": sum(h["total"] for h in helpdesks.values()), "faults_served": self.faults.served,
                "webhooks": helpdesks["zendesk"]["webhooks"], "helpdesks": helpdesks,
                "validating": self.validating, "rejected": self.rejected()}

    def close(self) -> None:
        for site in self.sites.values():
            site.close()


def _helpdesk(path: str) -> Helpdesk | None:
    return next((helpdesk for helpdesk in HELPDESKS if path.startswith(helpdesk.prefix)), None)


def _guard() -> Response | None:
    """Every API call passes its helpdesk's guard; control routes do not."""
    helpdesk = _helpdesk(request.path)
    if helpdesk is None:
        return None
    sandbox: Sandbox = current_app.extensions["sandbox"]
    site = sandbox.sites[helpdesk.name]
    answer = guard(helpdesk, site, sandbox.faults)
    contract = sandbox.contracts.get(helpdesk.name)
    if answer is not None or contract is None:
        return answer
    violation = contract.check(request.method, request.path, request.args, request.get_data(cache=True))
    if violation is None:
        return None
    site.stats.reject(request.method, request.path, str(violation))
    sandbox.note_rejected(helpdesk.name, request.method, request.full_path.rstrip("?"), str(violation))
    return helpdesk.contract_violation(violation)


def _not_found(error: Exception) -> Response | Exception:
    """Each helpdesk's own answer to an unknown endpoint under its API prefix; Flask's elsewhere."""
    helpdesk = _helpdesk(request.path)
    return helpdesk.not_found() if helpdesk else error


def create_app(config: SandboxConfig) -> Flask:
    """The sandbox as a Flask app; `app.extensions["sandbox"]` is the running Sandbox."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.extensions["sandbox"] = Sandbox(config)
    app.before_request(_guard)
    for helpdesk in HELPDESKS:
        app.register_blueprint(helpdesk.api)
        app.register_blueprint(helpdesk.control)
    app.register_blueprint(control)
    app.register_blueprint(alerts.receiver)  # Slack, webhook and e-mail alerts, recorded (sandbox/alerts.py)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)
    app.wsgi_app = DropAnswers(app.wsgi_app)  # type: ignore[method-assign]
    return app


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
