"""The SQLite store: inbox, tickets, timeline and outbox, through sqlite-utils.

Every read-then-write runs inside `BEGIN IMMEDIATE` (see `write_txn`): a deferred
transaction that reads and then writes fails at once with SQLITE_BUSY in WAL mode
when another connection committed meanwhile, whatever the busy timeout.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from sqlite_utils import Database

from store.migrations import migrations

# Writers wait this long for the lock before giving up; write transactions last milliseconds.
BUSY_TIMEOUT_SECONDS = 15
# A delivery or outbox row claimed longer ago than this belongs to a worker that died.
STALE_CLAIM_SECONDS = 300


class StoreError(RuntimeError):
    """The store cannot take or give the data (disk full, locked, corrupt)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def _stale(now: datetime) -> str:
    """Claims older than this belong to a worker that died."""
    return _iso(datetime.fromtimestamp(now.timestamp() - STALE_CLAIM_SECONDS, timezone.utc))


class Store:
    """SQLite-backed durable state; one connection per thread, WAL, migrations on open."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        try:
            db = self.db
            db.enable_wal()
            migrations.apply(db)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open database {self.path}: {e}") from e
        # Connections are opened lazily per thread and per process: gunicorn forks after this.
        self.close()

    @property
    def db(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
            db = Database(conn, execute_plugins=False)
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextlib.contextmanager
    def write_txn(self) -> Iterator[Database]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE)."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(f"store busy or unavailable: {e}") from e
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        else:
            try:
                db.commit()
            except sqlite3.Error as e:
                db.rollback()
                raise StoreError(f"commit failed: {e}") from e

    def ping(self) -> None:
        """Raise StoreError unless the database answers."""
        try:
            self.db.execute("select 1").fetchone()
        except sqlite3.Error as e:
            raise StoreError(str(e)) from e

    # --- inbox -----------------------------------------------------------------------

    def add_delivery(self, *, connector: str, delivery_key: str, event_type: str, ticket_id: str | None,
                     actor_id: str | None, headers: Mapping[str, str], body: bytes, received_at: datetime) -> bool:
        """Store a delivery once; return False when its delivery key was seen before."""
        try:
            cursor = self.db.execute(
                "insert or ignore into inbox (connector, delivery_key, event_type, ticket_id, actor_id, "
                "received_at, headers_json, body, status, attempts) values (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0)",
                [connector, delivery_key, event_type, ticket_id, actor_id, _iso(received_at),
                 json.dumps(dict(headers)), body])
            self.db.conn.commit()
        except sqlite3.Error as e:
            self.db.rollback()
            raise StoreError(f"cannot store delivery: {e}") from e
        return cursor.rowcount == 1

    def claim_deliveries(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Claim pending deliveries (and ones a dead worker left claimed), oldest first."""
        with self.write_txn() as db:
            rows = db.execute(
                "update inbox set status = 'processing', claimed_at = ?, attempts = attempts + 1 "
                "where id in (select id from inbox where status = 'pending' "
                "or (status = 'processing' and claimed_at < ?) order by id limit ?) "
                "returning id, connector, delivery_key, event_type, ticket_id, actor_id, received_at, attempts",
                [_iso(now), _stale(now), limit]).fetchall()
        keys = ["id", "connector", "delivery_key", "event_type", "ticket_id", "actor_id", "received_at", "attempts"]
        return sorted((dict(zip(keys, row)) for row in rows), key=lambda r: r["id"])

    def release_deliveries(self, ids: list[int], error: str | None = None) -> None:
        """Put claimed deliveries back to pending (to be tried again on the next pass)."""
        with self.write_txn() as db:
            db.execute(f"update inbox set status = 'pending', error = ? where id in ({','.join('?' * len(ids))})",
                       [error, *ids])

    def finish_deliveries(self, db: Database, ids: list[int], status: str, now: datetime,
                          error: str | None = None) -> None:
        """Mark deliveries done/echo/failed inside the caller's transaction."""
        db.execute(f"update inbox set status = ?, processed_at = ?, error = ? where id in ({','.join('?' * len(ids))})",
                   [status, _iso(now), error, *ids])

    def delivery_payloads(self, ids: list[int]) -> list[tuple[dict[str, str], bytes, datetime]]:
        """The stored headers, raw body and receipt time of deliveries, to parse them again."""
        rows = self.db.execute(f"select headers_json, body, received_at from inbox where id in ({','.join('?' * len(ids))}) "
                               "order by id", ids).fetchall()
        return [(json.loads(h or "{}"), body or b"", datetime.fromisoformat(at)) for h, body, at in rows]

    def failed_deliveries(self) -> list[dict[str, Any]]:
        return list(self.db.query("select id, connector, ticket_id, event_type, received_at, attempts, error "
                                  "from inbox where status = 'failed' order by id"))

    def retry_deliveries(self, ids: list[int] | None) -> int:
        """Put failed deliveries (all, or the given ids) back to be processed; return how many."""
        with self.write_txn() as db:
            sql, params = "update inbox set status = 'pending', attempts = 0, error = null where status = 'failed'", []
            if ids is not None:
                sql += f" and id in ({','.join('?' * len(ids))})"
                params = list(ids)
            return db.execute(sql, params).rowcount

    def delivery_counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.execute("select status, count(*) from inbox group by status")}

    # --- tickets and timeline ------------------------------------------------------------

    def get_case(self, connector: str, ticket_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from tickets where connector = ? and ticket_id = ?",
                                  [connector, ticket_id]))
        return rows[0] if rows else None

    def save_case(self, db: Database, *, connector: str, ticket_id: str, memory: Mapping[str, Any],
                  snapshot: Mapping[str, Any], priority: str | None, team: str | None, due_at: str | None,
                  rules_version: str, decided_at: datetime, next_action_at: datetime | None = None,
                  seen_updated_at: datetime | None = None) -> None:
        db["tickets"].upsert({
            "connector": connector, "ticket_id": ticket_id, "memory_json": json.dumps(memory, default=str),
            "snapshot_json": json.dumps(snapshot, default=str), "priority": priority, "team": team,
            "due_at": due_at, "rules_version": rules_version, "decided_at": _iso(decided_at),
            "next_action_at": _iso(next_action_at) if next_action_at else None,
            "seen_updated_at": _iso(seen_updated_at) if seen_updated_at else None,
        }, pk=("connector", "ticket_id"))

    def mark_seen(self, db: Database, connector: str, ticket_id: str, updated_at: datetime | None) -> None:
        """Record the ticket version slaclock last read or wrote, inside the caller's transaction."""
        if updated_at:
            db.execute("update tickets set seen_updated_at = max(coalesce(seen_updated_at, ''), ?) "
                       "where connector = ? and ticket_id = ?", [_iso(updated_at), connector, ticket_id])

    def is_seen(self, connector: str, ticket_id: str, updated_at: datetime) -> bool:
        """True when slaclock already read or wrote this version of the ticket, or a later one."""
        row = self.db.execute("select seen_updated_at from tickets where connector = ? and ticket_id = ?",
                              [connector, ticket_id]).fetchone()
        return bool(row and row[0] and row[0] >= _iso(updated_at))

    def due_tickets(self, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """Tickets whose next time-driven action is due (an index range scan: cost grows with what is due)."""
        return list(self.db.query(
            "select connector, ticket_id, next_action_at from tickets where next_action_at <= ? "
            "order by next_action_at limit ?", [_iso(now), limit]))

    def add_timeline(self, db: Database, *, connector: str, ticket_id: str, at: datetime, kind: str,
                     summary: str, detail: Mapping[str, Any]) -> None:
        db["timeline"].insert({"connector": connector, "ticket_id": ticket_id, "at": _iso(at), "kind": kind,
                               "summary": summary, "detail_json": json.dumps(detail, default=str)})

    def timeline(self, connector: str, ticket_id: str) -> list[dict[str, Any]]:
        rows = self.db.query("select * from timeline where connector = ? and ticket_id = ? order by id",
                             [connector, ticket_id])
        return [{**row, "detail": json.loads(row.pop("detail_json") or "{}")} for row in rows]

    # --- outbox -------------------------------------------------------------------------

    def add_outbox(self, db: Database, *, connector: str, ticket_id: str, kind: str,
                   payload: Mapping[str, Any], now: datetime, idem_key: str) -> None:
        db["outbox"].insert({"idem_key": idem_key, "connector": connector, "ticket_id": ticket_id, "kind": kind,
                             "payload_json": json.dumps(payload, default=str), "status": "pending",
                             "attempts": 0, "created_at": _iso(now), "next_attempt_at": _iso(now)})

    def has_unsent(self, connector: str, ticket_id: str) -> bool:
        """True while an outbox row for the ticket is waiting or being sent."""
        row = self.db.execute("select 1 from outbox where connector = ? and ticket_id = ? "
                              "and status in ('pending', 'sending') limit 1", [connector, ticket_id]).fetchone()
        return row is not None

    def claim_outbox(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Claim outbox rows that are due (and ones a dead worker left in 'sending')."""
        with self.write_txn() as db:
            rows = db.execute(
                "update outbox set status = 'sending', attempts = attempts + 1, next_attempt_at = ? "
                "where id in (select id from outbox where (status = 'pending' and next_attempt_at <= ?) "
                "or (status = 'sending' and next_attempt_at < ?) order by id limit ?) "
                "returning id, idem_key, connector, ticket_id, kind, payload_json, attempts",
                [_iso(now), _iso(now), _stale(now), limit]).fetchall()
        keys = ["id", "idem_key", "connector", "ticket_id", "kind", "payload_json", "attempts"]
        out = [dict(zip(keys, row)) for row in rows]
        for row in out:
            row["payload"] = json.loads(row.pop("payload_json"))
        return sorted(out, key=lambda r: r["id"])

    def finish_outbox(self, db: Database, outbox_id: int, status: str, now: datetime,
                      error: str | None = None) -> None:
        """Mark an outbox row done, superseded or failed (parked) inside the caller's transaction."""
        db.execute("update outbox set status = ?, done_at = ?, last_error = ? where id = ?",
                   [status, _iso(now), error, outbox_id])

    def parked(self) -> list[dict[str, Any]]:
        return list(self.db.query("select id, connector, ticket_id, kind, attempts, created_at, done_at, "
                                  "last_error from outbox where status = 'failed' order by id"))

    def retry_parked(self, ids: list[int] | None, now: datetime) -> int:
        """Put parked rows (all, or the given ids) back in the queue; return how many."""
        with self.write_txn() as db:
            sql = "update outbox set status = 'pending', attempts = 0, next_attempt_at = ?, last_error = null " \
                  "where status = 'failed'"
            params: list[Any] = [_iso(now)]
            if ids is not None:
                sql += f" and id in ({','.join('?' * len(ids))})"
                params += ids
            return db.execute(sql, params).rowcount

    def outbox_counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.execute("select status, count(*) from outbox group by status")}

    def conflicts_since_last_write(self, connector: str, ticket_id: str) -> int:
        """How many writes in a row were superseded by a 409 since the last successful one."""
        row = self.db.execute(
            "select count(*) from outbox where connector = ? and ticket_id = ? and status = 'superseded' and id > "
            "coalesce((select max(id) from outbox where connector = ? and ticket_id = ? and status = 'done'), 0)",
            [connector, ticket_id, connector, ticket_id]).fetchone()
        return row[0]

    # --- leases and cursors --------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """Take or renew the named lease for `holder`; False while another holder's lease is live."""
        expires = _iso(datetime.fromtimestamp(now.timestamp() + ttl_seconds, timezone.utc))
        with self.write_txn() as db:
            cursor = db.execute(
                "insert into leases (name, holder, expires_at) values (?, ?, ?) on conflict(name) do update "
                "set holder = excluded.holder, expires_at = excluded.expires_at "
                "where leases.holder = excluded.holder or leases.expires_at < ?",
                [name, holder, expires, _iso(now)])
            return cursor.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        with self.write_txn() as db:
            db.execute("delete from leases where name = ? and holder = ?", [name, holder])

    def get_cursor(self, name: str) -> str | None:
        row = self.db.execute("select value from cursors where name = ?", [name]).fetchone()
        return row[0] if row else None

    def set_cursor(self, db: Database, name: str, value: str, now: datetime) -> None:
        db["cursors"].upsert({"name": name, "value": value, "updated_at": _iso(now)}, pk="name")

    def enqueue_check(self, db: Database, *, connector: str, ticket_id: str, kind: str, key: str,
                      now: datetime) -> bool:
        """Queue a fresh read-and-decide for a ticket (sweep, reconcile); False if that key was queued before."""
        cursor = db.execute(
            "insert or ignore into inbox (connector, delivery_key, event_type, ticket_id, received_at, headers_json, "
            "body, status, attempts) values (?, ?, ?, ?, ?, '{}', ?, 'pending', 0)",
            [connector, key, kind, ticket_id, _iso(now), b""])
        return cursor.rowcount == 1

    # --- vendors ----------------------------------------------------------------------------------

    def issue_vendor_token(self, vendor: str, now: datetime) -> str:
        """A new bearer token for `vendor`; only its hash is stored, so it is shown once."""
        token = secrets.token_urlsafe(32)
        with self.write_txn() as db:
            db["vendor_tokens"].insert({"token_hash": _hash(token), "vendor": vendor, "created_at": _iso(now)})
        return token

    def vendor_for_token(self, token: str) -> str | None:
        """The vendor a bearer token belongs to, or None."""
        row = self.db.execute("select vendor from vendor_tokens where token_hash = ?", [_hash(token)]).fetchone()
        return row[0] if row else None

    def vendor_cases(self, vendor: str) -> list[dict[str, Any]]:
        """Cases a vendor works on: routed to it now, or in a vendor cycle of its that has not ended
        (an escalation may hand the case to an internal team while the vendor still owes the ETA)."""
        return list(self.db.query(
            "select * from tickets where team = ? or (json_extract(memory_json, '$.vendor.team') = ? "
            "and json_extract(memory_json, '$.vendor.ended_at') is null) order by connector, ticket_id",
            [vendor, vendor]))

    def revoke_vendor_tokens(self, vendor: str) -> int:
        with self.write_txn() as db:
            return db.execute("delete from vendor_tokens where vendor = ?", [vendor]).rowcount

    # --- recurring-issue clusters ---------------------------------------------------------------

    def open_cases(self) -> list[dict[str, Any]]:
        """Every case whose last snapshot is not solved or closed (for the recurring-issue detector)."""
        rows = self.db.query("select connector, ticket_id, snapshot_json from tickets "
                             "where json_extract(snapshot_json, '$.status') not in ('solved', 'closed')")
        return [{**row, "snapshot": json.loads(row.pop("snapshot_json") or "{}")} for row in rows]

    def clusters(self) -> list[dict[str, Any]]:
        rows = self.db.query("select * from clusters order by created_at")
        return [{**row, "members": json.loads(row.pop("members_json"))} for row in rows]

    def save_cluster(self, db: Database, *, key: str, connector: str, members: list[str], subject: str,
                     now: datetime) -> None:
        """Create a cluster or grow its member list, inside the caller's transaction."""
        db.execute("insert into clusters (key, connector, subject, members_json, created_at, updated_at) "
                   "values (?, ?, ?, ?, ?, ?) on conflict(key) do update set members_json = excluded.members_json, "
                   "updated_at = excluded.updated_at",
                   [key, connector, subject, json.dumps(sorted(set(members))), _iso(now), _iso(now)])

    def set_cluster_problem(self, db: Database, key: str, problem_id: str) -> None:
        db.execute("update clusters set problem_id = ? where key = ?", [problem_id, key])

    def cluster_members(self, db: Database, key: str) -> list[str]:
        row = db.execute("select members_json from clusters where key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else []

    def cluster_of(self, connector: str, ticket_id: str) -> dict[str, Any] | None:
        """The cluster a ticket is a member of, with or without its problem ticket yet."""
        rows = list(self.db.query(
            "select c.* from clusters c, json_each(c.members_json) m where c.connector = ? and m.value = ?",
            [connector, ticket_id]))
        return rows[0] if rows else None
