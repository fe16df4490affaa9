"""Send outbox rows to the helpdesk: one call per row, 409 → decide again, failures parked."""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable, Mapping

from connectors.contract import BatchWriter, Connector
from connectors.errors import ApiError, ConflictError
from connectors.model import FollowUp
from connectors.plan import update_from_json
from jobs.clock import utcnow
from store import Store

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

    def run_once(self) -> int:
        """Send the due rows (a storm in batch jobs where the helpdesk has them); return how many were claimed."""
        rows = self.store.claim_outbox(self.clock(), self.batch)
        singles: list[dict] = []
        batches: dict[str, dict[str, dict]] = defaultdict(dict)  # connector → ticket → its first update
        for row in rows:
            batch = batches[row["connector"]]
            if (row["kind"] == "ticket_update" and row["ticket_id"] not in batch
                    and isinstance(self.connectors.get(row["connector"]), BatchWriter)):
                batch[row["ticket_id"]] = row
            else:
                singles.append(row)
        for name, by_ticket in batches.items():
            if len(by_ticket) >= STORM_THRESHOLD:
                self.send_batch(self.connectors[name], list(by_ticket.values()))
            else:
                singles.extend(by_ticket.values())
        for row in sorted(singles, key=lambda r: r["id"]):
            self.send(row)
        return len(rows)

    def _park(self, row: dict, error: str) -> None:
        name, ticket_id, now = row["connector"], row["ticket_id"], self.clock()
        logger.error("deliverer.parked", extra={"outbox_id": row["id"], "ticket": f"{name}:{ticket_id}", "error": error})
        with self.store.write_txn() as db:
            self.store.finish_outbox(db, row["id"], "failed", now, error)
            self.store.add_timeline(db, connector=name, ticket_id=ticket_id, at=now, kind="write_failed",
                                    summary=f"write parked after {row['attempts']} attempt(s): {error}",
                                    detail={"outbox_id": row["id"], "error": error})

    def send_batch(self, connector: BatchWriter, rows: list[dict]) -> None:
        """Write rows through the connector's batch jobs; a row the job did not apply is sent on its own."""
        try:
            applied = connector.apply_updates([update_from_json(row["payload"]) for row in rows])
        except ApiError as e:
            logger.warning("deliverer.batch-failed", extra={"rows": len(rows), "error": str(e)})
            applied = {}
        for row in rows:
            if applied.get(row["ticket_id"]):
                self._written(row, None, batched=True)
            else:
                self.send(row)

    def send(self, row: dict) -> None:
        """Send one claimed row and record the outcome."""
        name, ticket_id = row["connector"], row["ticket_id"]
        connector = self.connectors.get(name)
        try:
            if connector is None:
                raise ApiError(f"connector {name} is not configured")
            if row["kind"] in ("follow_up", "problem"):
                fields = {k: v for k, v in row["payload"].items() if k != "cluster"}
                created = connector.create_follow_up(FollowUp(**fields), row["idem_key"])
                self._followed_up(row, created)
                return
            if row["kind"] == "public_reply":
                connector.add_public_reply(ticket_id, row["payload"]["text"], row["idem_key"])
                self._written(row, None)
                return
            written = connector.apply_update(update_from_json(row["payload"]), row["idem_key"])
        except ConflictError as e:
            self._conflict(row, e)
            return
        except ApiError as e:
            self._park(row, str(e))
            return
        except (KeyError, TypeError, ValueError) as e:  # a row this version cannot read: keep it, parked
            self._park(row, f"internal error: {type(e).__name__}: {e}")
            return
        self._written(row, written.updated_at)

    def _followed_up(self, row: dict, created_id: str) -> None:
        name, ticket_id, now = row["connector"], row["ticket_id"], self.clock()
        with self.store.write_txn() as db:
            self.store.finish_outbox(db, row["id"], "done", now)
            if row["kind"] == "problem":
                # The problem exists: every member gets a check, which links it and updates its customer.
                key = row["payload"]["cluster"]
                self.store.set_cluster_problem(db, key, created_id)
                for member in self.store.cluster_members(db, key):
                    self.store.enqueue_check(db, connector=name, ticket_id=member, kind="slaclock.cluster",
                                             key=f"cluster:{key}:{member}", now=now)
            self.store.add_timeline(db, connector=name, ticket_id=ticket_id, at=now, kind="follow_up",
                                    summary=f"created linked ticket {name}:{created_id} «{row['payload']['subject']}»",
                                    detail={"outbox_id": row["id"], "follow_up_id": created_id})

    def _written(self, row: dict, updated_at, batched: bool = False) -> None:
        name, ticket_id, now = row["connector"], row["ticket_id"], self.clock()
        fields = [k for k, v in row["payload"].items() if v is not None and k not in ("ticket_id", "version")]
        summary = "posted a public update to the customer" if row["kind"] == "public_reply" else \
            f"wrote {', '.join(fields)}" + (" (batch job)" if batched else "")
        with self.store.write_txn() as db:
            self.store.finish_outbox(db, row["id"], "done", now)
            self.store.mark_seen(db, name, ticket_id, updated_at)
            self.store.add_timeline(db, connector=name, ticket_id=ticket_id, at=now, kind="written",
                                    summary=summary, detail={"outbox_id": row["id"], "batched": batched})

    def _conflict(self, row: dict, error: ConflictError) -> None:
        # The ticket changed after we read it (safe_update): drop this write, read again, decide again.
        name, ticket_id, now = row["connector"], row["ticket_id"], self.clock()
        give_up = self.store.conflicts_since_last_write(name, ticket_id) + 1 >= MAX_CONFLICTS
        with self.store.write_txn() as db:
            if give_up:
                self.store.finish_outbox(db, row["id"], "failed", now, f"{MAX_CONFLICTS} conflicts in a row: {error}")
            else:
                self.store.finish_outbox(db, row["id"], "superseded", now, str(error))
                self.store.enqueue_check(db, connector=name, ticket_id=ticket_id, kind="slaclock.recheck",
                                         key=f"recheck:outbox-{row['id']}", now=now)
            self.store.add_timeline(db, connector=name, ticket_id=ticket_id, at=now, kind="conflict",
                                    summary="ticket changed since it was read; " +
                                    ("parked" if give_up else "reading it again to decide afresh"),
                                    detail={"outbox_id": row["id"], "error": str(error)})
