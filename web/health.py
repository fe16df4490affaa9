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


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """200 with the configured connectors when the store can take a write now, else 503."""
    try:
        store().ping()
    except StoreError as e:
        return refuse(503, f"not ready: {e}", **{"Retry-After": STORE_RETRY_AFTER_SECONDS})
    return jsonify(status="ready", connectors=sorted(connectors()))
