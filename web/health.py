"""GET /healthz (the process answers) and GET /readyz (the store can take a write too)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from store import StoreError
from web import STORE_RETRY_AFTER_SECONDS, connectors, refuse, store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 while the process serves requests."""
    return jsonify(status="ok")


def reconciler_states() -> dict[str, str]:
    """Each connector's last reconcile pass as a line: `ok at <time>`, `refused: <error> at <time>`, or
    `not run yet`."""
    outcomes = store().job_outcomes("reconcile")
    states = {}
    for name in sorted(connectors()):
        o = outcomes.get(name)
        states[name] = ("not run yet" if o is None else f"ok at {o['at']}" if o["outcome"] == "ok"
                        else f"{o['outcome']}: {o['error']} at {o['at']}")
    return states


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """200 with the configured connectors when the store can take a write now, else 503.

    The body says "degraded" while a connector's reconciler is refused (an agent token on Zendesk's admin-only
    incremental export, say): webhooks are still taken, but a lost one is no longer caught."""
    try:
        store().ping()
    except StoreError as e:
        return refuse(503, f"not ready: {e}", **{"Retry-After": STORE_RETRY_AFTER_SECONDS})
    reconciler = reconciler_states()
    degraded = any(not line.startswith(("ok", "not run")) for line in reconciler.values())
    return jsonify(status="degraded" if degraded else "ready", connectors=sorted(connectors()),
                   reconciler=reconciler)
