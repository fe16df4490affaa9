"""Send outbox rows to the helpdesk: one call per row, 409 → decide again, failures parked."""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Callable, Mapping

from connectors.contract import BatchWriter, Connector
from connectors.errors import ApiError, ConflictError
from connectors.model import FollowUp
from connectors.plan import update_from_json
from jobs.clock import utcnow
from jobs.kinds import CheckKind, JobEvent, OutboxKind
from jobs.recurring import queue_cluster_checks
from store import OutboxRow, OutboxStatus, Store, Txn

logger = logging.getLogger(__name__)

# After this many 409s in a row the ticket is being edited faster than we can write; park it.
MAX_CONFLICTS = 3
# From this many due writes for one batch-capable connector, a batch job (one call plus polling)
# beats one call per ticket.
STORM_THRESHOLD = 10


class Deliverer:
    """Drains the outbox through the connectors (retries and rate budget live in their sessions)."""

    def __init__(self, store: Store, connectors: Mapping[str, Connector], clock: Callable = utcnow, batch: int = 100):
        self.store, self.connectors, self.clock, self.batch = store, connectors, clock, batch
        # How each kind of row is sent and recorded; a kind missing here is parked, never dropped.
        self.senders: dict[OutboxKind, Callable[[Connector, OutboxRow], None]] = {
            OutboxKind.TICKET_UPDATE: self._send_update,
            OutboxKind.FOLLOW_UP: self._send_follow_up,
            OutboxKind.PROBLEM: self._send_problem,
            OutboxKind.PUBLIC_REPLY: self._send_reply,
        }

    def run_once(self) -> int:
        """Send the due rows (a storm in batch jobs where the helpdesk has them); return how many were claimed."""
        rows = self.store.claim_outbox(self.clock(), self.batch)
        singles: list[OutboxRow] = []
        batches: dict[str, dict[str, OutboxRow]] = defaultdict(dict)  # connector → ticket → its first update
        for row in rows:
            batch = batches[row.connector]
            if (row.kind == OutboxKind.TICKET_UPDATE and row.ticket_id not in batch
                    and isinstance(self.connectors.get(row.connector), BatchWriter)):
                batch[row.ticket_id] = row
            else:
                singles.append(row)
        for name, by_ticket in batches.items():
            if len(by_ticket) >= STORM_THRESHOLD:
                self.send_batch(self.connectors[name], list(by_ticket.values()))
            else:
                singles.extend(by_ticket.values())
        for row in sorted(singles, key=lambda r: r.id):
            self.send(row)
        return len(rows)

    def send_batch(self, connector: BatchWriter, rows: list[OutboxRow]) -> None:
        """Write rows through the connector's batch jobs; a row the job did not apply is sent on its own."""
        try:
            applied = connector.apply_updates([update_from_json(row.payload) for row in rows])
        except ApiError as e:
            logger.warning("deliverer.batch-failed", extra={"rows": len(rows), "error": str(e)})
            applied = {}
        for row in rows:
            if applied.get(row.ticket_id):
                self._written(row, None, batched=True)
            else:
                self.send(row)

    def send(self, row: OutboxRow) -> None:
        """Send one claimed row and record the outcome."""
        connector = self.connectors.get(row.connector)
        sender = self.senders.get(row.kind)
        try:
            if connector is None:
                raise ApiError(f"connector {row.connector} is not configured")
            if sender is None:
                raise ValueError(f"unknown outbox kind {row.kind!r}")
            sender(connector, row)
        except ConflictError as e:
            self._conflict(row, e)
        except ApiError as e:
            self._park(row, str(e))
        except (KeyError, TypeError, ValueError) as e:  # a row this version cannot read: keep it, parked
            self._park(row, f"internal error: {type(e).__name__}: {e}")

    def _send_update(self, connector: Connector, row: OutboxRow) -> None:
        written = connector.apply_update(update_from_json(row.payload), row.idem_key)
        self._written(row, written.updated_at)

    def _send_reply(self, connector: Connector, row: OutboxRow) -> None:
        connector.add_public_reply(row.ticket_id, row.payload["text"], row.idem_key)
        self._written(row, None)

    def _send_follow_up(self, connector: Connector, row: OutboxRow) -> None:
        created_id = connector.create_follow_up(FollowUp(**row.payload), row.idem_key)
        with self.store.write_txn() as txn:
            self._followed_up(txn, row, created_id, self.clock())

    def _send_problem(self, connector: Connector, row: OutboxRow) -> None:
        key = row.cluster_key
        if key is None:
            raise ValueError("a problem row names no cluster")
        created_id = connector.create_follow_up(FollowUp(**row.payload), row.idem_key)
        now = self.clock()
        with self.store.write_txn() as txn:
            # The problem exists: every member gets a check, which links it and updates its customer.
            txn.set_cluster_problem(key, created_id)
            queue_cluster_checks(txn, row.connector, key, txn.cluster_members(key), now)
            self._followed_up(txn, row, created_id, now)

    @staticmethod
    def _followed_up(txn: Txn, row: OutboxRow, created_id: str, now: datetime) -> None:
        txn.finish_outbox(row.id, OutboxStatus.DONE, now)
        txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.FOLLOW_UP,
                         summary=f"created linked ticket {row.connector}:{created_id} «{row.payload['subject']}»",
                         detail={"outbox_id": row.id, "follow_up_id": created_id})

    def _written(self, row: OutboxRow, updated_at: datetime | None, batched: bool = False) -> None:
        now = self.clock()
        fields = [k for k, v in row.payload.items() if v is not None and k not in ("ticket_id", "version")]
        summary = "posted a public update to the customer" if row.kind == OutboxKind.PUBLIC_REPLY else \
            f"wrote {', '.join(fields)}" + (" (batch job)" if batched else "")
        with self.store.write_txn() as txn:
            txn.finish_outbox(row.id, OutboxStatus.DONE, now)
            txn.mark_seen(row.connector, row.ticket_id, updated_at)
            txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.WRITTEN,
                             summary=summary, detail={"outbox_id": row.id, "batched": batched})

    def _conflict(self, row: OutboxRow, error: ConflictError) -> None:
        # The ticket changed after we read it (safe_update): drop this write, read again, decide again.
        now = self.clock()
        give_up = self.store.conflicts_since_last_write(row.connector, row.ticket_id) + 1 >= MAX_CONFLICTS
        with self.store.write_txn() as txn:
            if give_up:
                txn.finish_outbox(row.id, OutboxStatus.FAILED, now, f"{MAX_CONFLICTS} conflicts in a row: {error}")
            else:
                txn.finish_outbox(row.id, OutboxStatus.SUPERSEDED, now, str(error))
                txn.enqueue_check(connector=row.connector, ticket_id=row.ticket_id, kind=CheckKind.RECHECK,
                                  key=f"recheck:outbox-{row.id}", now=now)
            txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.CONFLICT,
                             summary="ticket changed since it was read; " +
                             ("parked" if give_up else "reading it again to decide afresh"),
                             detail={"outbox_id": row.id, "error": str(error)})

    def _park(self, row: OutboxRow, error: str) -> None:
        now = self.clock()
        logger.error("deliverer.parked",
                     extra={"outbox_id": row.id, "ticket": f"{row.connector}:{row.ticket_id}", "error": error})
        with self.store.write_txn() as txn:
            txn.finish_outbox(row.id, OutboxStatus.FAILED, now, error)
            txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.WRITE_FAILED,
                             summary=f"write parked after {row.attempts} attempt(s): {error}",
                             detail={"outbox_id": row.id, "error": error})
