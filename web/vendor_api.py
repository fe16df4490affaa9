"""The vendor API: GET /vendor/cases and POST /vendor/eta, each vendor with its own bearer token."""
from __future__ import annotations

import hashlib

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from jobs.kinds import CheckKind
from store import StoreError
from web import now, refuse, store, store_busy
from web.vendor import parse_vendor_eta, vendor_of

UNAUTHORISED = "missing or unknown vendor token (Authorization: Bearer <token>)"

bp = Blueprint("vendor_api", __name__, url_prefix="/vendor")


@bp.before_request
def authorise() -> ResponseReturnValue | None:
    """401 unless the request carries a vendor's token; the vendor is `g.vendor` for the views."""
    g.vendor = vendor_of(request.headers.get("Authorization", ""), store())
    return refuse(401, UNAUTHORISED) if g.vendor is None else None


@bp.get("/cases")
def cases() -> ResponseReturnValue:
    """The cases the vendor works on, with their priority and due time."""
    return jsonify(cases=[{"ticket": f"{c.connector}:{c.ticket_id}", "priority": c.priority,
                           "due_at": c.due_at.isoformat() if c.due_at else None}
                          for c in store().vendor_cases(g.vendor)])


@bp.post("/eta")
def eta() -> ResponseReturnValue:
    """Queue a vendor's ETA or capacity for one of its cases: 202 accepted, 200 when the same update came before."""
    vendor: str = g.vendor
    try:
        update = parse_vendor_eta(request.get_data(cache=False))
    except ValueError as e:
        return refuse(400, str(e))
    if not store().vendor_works_on(vendor, update.connector, update.ticket_id):
        # The same answer whether the case does not exist or belongs to someone else.
        return refuse(404, f"no case {update.ticket} is assigned to {vendor}")
    body = update.body(vendor)
    try:
        inserted = store().add_delivery(
            connector=update.connector, delivery_key=f"vendor:{vendor}:{hashlib.sha256(body).hexdigest()}",
            event_type=CheckKind.VENDOR_ETA, ticket_id=update.ticket_id, actor_id=f"vendor:{vendor}", headers={},
            body=body, received_at=now())
    except StoreError:
        return store_busy("update")
    return jsonify(status="accepted" if inserted else "duplicate", ticket=update.ticket), 202 if inserted else 200
