"""What the sandbox tests share: a settable clock, a loopback webhook receiver, waiting for idle, app building.

The fixtures over these (`clock`, `receiver`, `client`) are in tests/conftest.py; a test module defines
`make_app` with `sandbox_apps`, building its helpdesk's config from the overrides a test passes.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from jobs.demo import wait_until
from sandbox import SandboxConfig, create_app


class FakeClock:
    """A settable UTC clock, so stamps are predictable without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 4, 9, 0, 0, 250_000, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Receiver:
    """A loopback webhook endpoint recording raw deliveries; answers scripted statuses, then 200."""

    def __init__(self, statuses: tuple[int, ...] = ()):
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self._statuses = list(statuses)
        self._changed = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks/zendesk"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        with self._changed:
            self.deliveries.append((dict(request.headers), request.get_data()))
            status = self._statuses.pop(0) if self._statuses else 200
            self._changed.notify_all()
        return Response("{}", status=status, headers={"Retry-After": "0"} if status in (429, 503) else {})

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.deliveries) >= count, timeout), self.deliveries
            return list(self.deliveries)

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries]

    def close(self) -> None:
        self._server.shutdown()


def wait_idle(client: FlaskClient, timeout: float = 5.0) -> None:
    """Wait until the sandbox behind the test client has no webhook queued or in flight."""
    wait_until(lambda: client.get("/_sandbox/idle").get_json()["idle"], timeout, "the sandbox to be idle",
               interval=0.02)


def sandbox_apps(config: Callable[..., SandboxConfig]) -> Iterator[Callable[..., Flask]]:
    """A fixture body: yields `build(**overrides)`, an app from `config(**overrides)`; closes every app built."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        app = create_app(config(**overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["sandbox"].close()
