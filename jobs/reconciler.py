"""Catch what webhooks missed: re-read tickets the helpdesk changed since the last pass."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Callable, Mapping

from connectors.contract import Connector
from connectors.errors import ApiError
from jobs.clock import utcnow
from jobs.kinds import CheckKind
from store import Store

logger = logging.getLogger(__name__)


def reconcile_body(updated_at: datetime) -> bytes:
    """A reconcile check's body: the version the change feed showed."""
    return json.dumps({"updated_at": updated_at.isoformat()}).encode()


def reconciled_version(body: bytes) -> datetime | None:
    """The version a reconcile check was queued for (None for a check queued before checks carried it)."""
    try:
        return datetime.fromisoformat(json.loads(body)["updated_at"])
    except (ValueError, KeyError, TypeError):
        return None


class Reconciler:
    """Walks each connector's change feed from a stored cursor and queues a check per changed ticket.

    A ticket whose write still waits, is being sent or was parked is not handled yet, whatever version
    slaclock saw: its check waits in the inbox until the write has landed (or is decided afresh once the
    write is parked)."""

    def __init__(self, store: Store, connectors: Mapping[str, Connector], clock: Callable = utcnow):
        self.store, self.connectors, self.clock = store, connectors, clock

    def run_once(self) -> int:
        """One pass over every connector; return how many checks were queued."""
        return sum(self._reconcile(name, connector) for name, connector in self.connectors.items())

    def _reconcile(self, name: str, connector: Connector) -> int:
        cursor_name = f"reconcile:{name}"
        now = self.clock()
        try:
            changes, cursor = connector.changed_tickets(self.store.get_cursor(cursor_name), now)
        except ApiError as e:
            logger.warning("reconciler.failed", extra={"connector": name, "error": str(e)})
            # Kept for /readyz and `slaclock status`: a 403 here means the lost-webhook safety net is off.
            self.store.record_outcome("reconcile", name, "refused", now, str(e)[:300])
            return 0
        queued = 0
        with self.store.write_txn() as txn:
            for ticket_id, updated_at in changes:
                if txn.is_seen(name, ticket_id, updated_at) and not txn.has_unsettled(name, ticket_id):
                    continue  # already decided on this version, or wrote a later one, and the write landed
                queued += txn.enqueue_check(connector=name, ticket_id=ticket_id, kind=CheckKind.RECONCILE,
                                            key=f"reconcile:{name}:{ticket_id}:{updated_at.isoformat()}", now=now,
                                            body=reconcile_body(updated_at))
            txn.set_cursor(cursor_name, cursor, now)
            txn.set_cursor(f"reconcile-outcome:{name}", json.dumps({"outcome": "ok", "error": None,
                                                                    "at": now.isoformat()}), now)
        if queued:
            logger.info("reconciler.queued", extra={"connector": name, "changed": len(changes), "queued": queued})
        return queued
