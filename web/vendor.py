"""What a vendor may send to the vendor API, and which vendor is asking."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from connectors.errors import MalformedPayload
from connectors.payload import decode_object, shown
from store import Store

FIELDS = ("ticket", "eta", "capacity_available", "note")
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class VendorEta:
    """A checked POST /vendor/eta body: when the vendor expects to deliver (`eta`, UTC ISO), whether it can."""

    ticket: str  # "<connector>:<ticket id>"
    eta: str | None
    capacity_available: bool | None
    note: str

    @property
    def connector(self) -> str:
        return self.ticket.partition(":")[0]

    @property
    def ticket_id(self) -> str:
        return self.ticket.partition(":")[2]

    def body(self, vendor: str) -> bytes:
        """The delivery body the processor reads: the update and the vendor, as sorted-key JSON."""
        return json.dumps({**asdict(self), "vendor": vendor}, sort_keys=True).encode()


def parse_vendor_eta(raw: bytes) -> VendorEta:
    """Validate a vendor's `{ticket, eta, capacity_available, note}`; ValueError names what is wrong."""
    try:
        body = decode_object(raw)  # the webhooks' guard: depth, number sizes, lone surrogates
    except MalformedPayload as e:
        raise ValueError(f"{e}; expected a JSON object with ticket, eta, capacity_available, note") from None
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(map(shown, unknown[:5]))}")
    ticket = body.get("ticket")
    if not isinstance(ticket, str) or ":" not in ticket or not ticket.partition(":")[2]:
        raise ValueError("ticket: expected '<helpdesk>:<id>', e.g. 'zendesk:123'")
    eta = _eta(body.get("eta"))
    capacity = body.get("capacity_available")
    if capacity is not None and not isinstance(capacity, bool):
        raise ValueError(f"capacity_available: expected true or false, got {shown(capacity)}")
    if eta is None and capacity is None:
        raise ValueError("give an eta, capacity_available, or both")
    note = body.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"note: expected text of at most {MAX_NOTE_CHARS} characters")
    return VendorEta(ticket=ticket, eta=eta, capacity_available=capacity, note=note)


def _eta(eta: object) -> str | None:
    # Stricter than parse_instant: a vendor's ETA without a time zone is refused, not read as UTC.
    if eta is None:
        return None
    if not isinstance(eta, str):
        raise ValueError(f"eta: expected an ISO 8601 instant as text, got {shown(eta)}")
    try:
        moment = datetime.fromisoformat(eta.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"eta: expected an ISO 8601 instant, got {shown(eta)}") from None
    if moment.tzinfo is None:
        raise ValueError(f"eta: give a time zone or Z, got {shown(eta)}")
    try:
        return moment.astimezone(timezone.utc).isoformat()
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 lies before year 1 in UTC
        raise ValueError(f"eta: {shown(eta)} is out of range") from None


def vendor_of(authorization: str, store: Store) -> str | None:
    """The vendor whose token an `Authorization: Bearer <token>` header carries; None for any other header."""
    scheme, _, token = authorization.partition(" ")
    return store.vendor_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
