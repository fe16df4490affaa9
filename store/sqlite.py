"""The SQLite store: inbox, tickets, timeline and outbox, through sqlite-utils.

Reads are `Store` methods; writes that must land together go through `Store.write_txn()`, whose
`Txn` holds them. Every read-then-write runs inside `BEGIN IMMEDIATE`: a deferred transaction
that reads and then writes fails at once with SQLITE_BUSY in WAL mode when another connection
committed meanwhile, whatever the busy timeout.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

from sqlite_utils import Database

from store.group_commit import GroupCommit
from store.migrations import migrations
from store.rows import (AdminToken, Case, Cluster, Delivery, DeliveryPayload, DeliveryStatus, DueTicket, OutboxRow,
                        OutboxStatus, TimelineEntry, instant)

# Writers wait this long for the lock before giving up; write transactions last milliseconds.
BUSY_TIMEOUT_SECONDS = 15
# Deliveries committed together at most: 8 values each, within SQLite's 32,766 variables per statement.
MAX_DELIVERY_BATCH = 1000
# A delivery or outbox row claimed longer ago than this belongs to a worker that died.
STALE_CLAIM_SECONDS = 300

_Row = TypeVar("_Row", Delivery, OutboxRow)


@functools.lru_cache(maxsize=None)
def _insert_deliveries_sql(rows: int) -> str:
    """One insert of `rows` deliveries (at most MAX_DELIVERY_BATCH); a delivery key stored before is skipped."""
    return ("insert or ignore into inbox (connector, delivery_key, event_type, ticket_id, actor_id, received_at, "
            "headers_json, body, status, attempts) values " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0)"] * rows))


def _first_of_new_keys(rows: list[list[Any]], new: set[str]) -> list[bool]:
    """Per delivery row of a batch, whether it was stored: its key is in `new` and no earlier row had it."""
    answers = []
    for row in rows:
        answers.append(row[1] in new)
        new.discard(row[1])
    return answers


DELIVERY_COLUMNS = "id, connector, delivery_key, event_type, ticket_id, actor_id, received_at, attempts, status, error"
OUTBOX_COLUMNS = ("id, idem_key, connector, ticket_id, kind, payload_json, status, attempts, created_at, "
                  "next_attempt_at, done_at, last_error, cluster_key, progress_json")
# Outbox statuses of a write that has not landed yet, and of one that has not settled (waiting, or parked).
UNSENT = "('pending', 'sending')"
UNSETTLED = "('pending', 'sending', 'failed')"
# A ticket's case, inserted or replacing what was decided for it (`?` placeholders; the PostgreSQL store's are `%s`).
SAVE_CASE = ("insert into tickets (connector, ticket_id, memory_json, snapshot_json, priority, team, due_at, "
             "rules_version, decided_at, next_action_at, next_action, seen_updated_at) "
             "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (connector, ticket_id) do update set "
             "memory_json = excluded.memory_json, snapshot_json = excluded.snapshot_json, "
             "priority = excluded.priority, team = excluded.team, due_at = excluded.due_at, "
             "rules_version = excluded.rules_version, decided_at = excluded.decided_at, "
             "next_action_at = excluded.next_action_at, next_action = excluded.next_action, "
             "seen_updated_at = excluded.seen_updated_at")
# Inbox statuses of a delivery that is through with: nothing reads its body again (a failed one waits for a retry).
PROCESSED = "('done', 'echo')"
# The tickets a vendor works on (parameters: the vendor, twice); see `Store.vendor_cases`.
VENDOR_WORKS_ON = ("(team = ? or (json_extract(memory_json, '$.vendor.team') = ? "
                   "and json_extract(memory_json, '$.vendor.ended_at') is null))")


class StoreError(RuntimeError):
    """The store cannot take or give the data (disk full, locked, corrupt)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def _stale(now: datetime) -> str:
    """Claims older than this belong to a worker that died."""
    return _iso(datetime.fromtimestamp(now.timestamp() - STALE_CLAIM_SECONDS, timezone.utc))


def _case_row(connector: str, ticket_id: str, memory: Mapping[str, Any], snapshot: Mapping[str, Any],
              priority: str | None, team: str | None, due_at: datetime | None, rules_version: str, decided_at: datetime,
              next_action_at: datetime | None, next_action: str | None, seen_updated_at: datetime | None) -> list:
    """`SAVE_CASE`'s parameters."""
    return [connector, ticket_id, json.dumps(memory, default=str), json.dumps(snapshot, default=str), priority, team,
            due_at.isoformat() if due_at else None, rules_version, _iso(decided_at),
            _iso(next_action_at) if next_action_at else None, next_action,
            _iso(seen_updated_at) if seen_updated_at else None]


def _marks(ids: list[int]) -> str:
    """The `?, ?, …` of an `in (…)` over `ids`."""
    return ",".join("?" * len(ids))


class Txn:
    """One write transaction: the writes that land together (or not at all), and the reads they rest on.

    Only `Store.write_txn()` makes one; it commits when the `with` block ends and rolls back if it raises.
    """

    def __init__(self, db: Database):
        self._db = db

    # --- inbox -----------------------------------------------------------------------

    def finish_deliveries(self, ids: list[int], status: DeliveryStatus, now: datetime,
                          error: str | None = None) -> None:
        """Mark deliveries done, echo or failed."""
        self._db.execute(f"update inbox set status = ?, processed_at = ?, error = ? where id in ({_marks(ids)})",
                         [status, _iso(now), error, *ids])

    def release_deliveries(self, ids: list[int], error: str | None = None) -> None:
        """Put claimed deliveries back to pending, as part of this transaction."""
        self._db.execute(f"update inbox set status = 'pending', error = ? where id in ({_marks(ids)})", [error, *ids])

    def enqueue_check(self, *, connector: str, ticket_id: str, kind: str, key: str, now: datetime,
                      body: bytes = b"") -> bool:
        """Queue a fresh read-and-decide for a ticket (sweep, reconcile; `body`: what the check carries);
        False if that key was queued before."""
        cursor = self._db.execute(
            "insert or ignore into inbox (connector, delivery_key, event_type, ticket_id, received_at, headers_json, "
            "body, status, attempts) values (?, ?, ?, ?, ?, '{}', ?, 'pending', 0)",
            [connector, key, kind, ticket_id, _iso(now), body])
        return cursor.rowcount == 1

    # --- tickets and timeline ------------------------------------------------------------

    def save_case(self, *, connector: str, ticket_id: str, memory: Mapping[str, Any], snapshot: Mapping[str, Any],
                  priority: str | None, team: str | None, due_at: datetime | None, rules_version: str,
                  decided_at: datetime, next_action_at: datetime | None = None, next_action: str | None = None,
                  seen_updated_at: datetime | None = None) -> None:
        """Record what was decided for a ticket, replacing the previous record (`next_action`: what falls due at
        `next_action_at`, in words)."""
        # Plain SQL in this hot path: sqlite-utils' upsert reads the table's schema on every call.
        self._db.execute(SAVE_CASE, _case_row(connector, ticket_id, memory, snapshot, priority, team, due_at,
                                              rules_version, decided_at, next_action_at, next_action, seen_updated_at))

    def mark_seen(self, connector: str, ticket_id: str, updated_at: datetime | None) -> None:
        """Record the ticket version slaclock last read or wrote."""
        if updated_at:
            self._db.execute("update tickets set seen_updated_at = max(coalesce(seen_updated_at, ''), ?) "
                             "where connector = ? and ticket_id = ?", [_iso(updated_at), connector, ticket_id])

    def is_seen(self, connector: str, ticket_id: str, updated_at: datetime) -> bool:
        """True when slaclock already read or wrote this version of the ticket, or a later one."""
        row = self._db.execute("select seen_updated_at from tickets where connector = ? and ticket_id = ?",
                               [connector, ticket_id]).fetchone()
        return bool(row and row[0] and row[0] >= _iso(updated_at))

    def add_timeline(self, *, connector: str, ticket_id: str, at: datetime, kind: str, summary: str,
                     detail: Mapping[str, Any]) -> None:
        """Add a line to a ticket's history."""
        self._db.execute("insert into timeline (connector, ticket_id, at, kind, summary, detail_json) "
                         "values (?, ?, ?, ?, ?, ?)",
                         [connector, ticket_id, _iso(at), kind, summary, json.dumps(detail, default=str)])

    # --- outbox and cursors ----------------------------------------------------------------

    def add_outbox(self, *, connector: str, ticket_id: str, kind: str, payload: Mapping[str, Any], now: datetime,
                   idem_key: str, cluster_key: str | None = None) -> None:
        """Queue a write; `idem_key` is unique, and the helpdesk's idempotency key when it has one."""
        self._db.execute("insert into outbox (idem_key, connector, ticket_id, kind, payload_json, status, attempts, "
                         "created_at, next_attempt_at, cluster_key) values (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                         [idem_key, connector, ticket_id, kind, json.dumps(payload, default=str),
                          OutboxStatus.PENDING.value, _iso(now), _iso(now), cluster_key])

    def finish_outbox(self, outbox_id: int, status: OutboxStatus, now: datetime, error: str | None = None,
                      progress: Mapping[str, Any] | None = None) -> None:
        """Mark an outbox row done, superseded or failed (parked), with its steps' progress when given."""
        self._db.execute("update outbox set status = ?, done_at = ?, last_error = ?, "
                         "progress_json = coalesce(?, progress_json) where id = ?",
                         [status, _iso(now), error, json.dumps(progress) if progress is not None else None,
                          outbox_id])

    def set_progress(self, outbox_id: int, progress: Mapping[str, Any], now: datetime) -> None:
        """Record a claimed row's step progress; also renews the claim (a live worker is not taken over)."""
        self._db.execute("update outbox set progress_json = ?, next_attempt_at = ? where id = ? and status = 'sending'",
                         [json.dumps(progress), _iso(now), outbox_id])

    def requeue_outbox(self, outbox_id: int, next_attempt_at: datetime, error: str,
                       progress: Mapping[str, Any]) -> None:
        """Put a claimed row back in the queue, due at `next_attempt_at`, keeping its steps' progress."""
        self._db.execute("update outbox set status = 'pending', next_attempt_at = ?, last_error = ?, "
                         "progress_json = ? where id = ?",
                         [_iso(next_attempt_at), error, json.dumps(progress), outbox_id])

    def hasten_retries(self, connector: str, now: datetime) -> int:
        """Make the connector's rows that wait for a retry due now (it answered again); return how many."""
        return self._db.execute("update outbox set next_attempt_at = ? where connector = ? and status = 'pending' "
                                "and attempts > 0 and next_attempt_at > ?", [_iso(now), connector, _iso(now)]).rowcount

    def has_unsent(self, connector: str, ticket_id: str) -> bool:
        """True while an outbox row for the ticket is waiting or being sent (as of this transaction)."""
        return self._db.execute(f"select 1 from outbox where connector = ? and ticket_id = ? and status in {UNSENT} "
                                "limit 1", [connector, ticket_id]).fetchone() is not None

    def has_unsettled(self, connector: str, ticket_id: str) -> bool:
        """True while a write for the ticket is waiting, being sent or parked: the ticket is not handled yet."""
        return self._db.execute(f"select 1 from outbox where connector = ? and ticket_id = ? "
                                f"and status in {UNSETTLED} limit 1", [connector, ticket_id]).fetchone() is not None

    def set_cursor(self, name: str, value: str, now: datetime) -> None:
        """Move a named change-feed cursor."""
        self._db.execute("insert into cursors (name, value, updated_at) values (?, ?, ?) on conflict (name) do update "
                         "set value = excluded.value, updated_at = excluded.updated_at", [name, value, _iso(now)])

    # --- recurring-issue clusters ---------------------------------------------------------------

    def save_cluster(self, *, key: str, connector: str, members: list[str], subject: str, now: datetime) -> None:
        """Create a cluster or grow its member list."""
        self._db.execute(
            "insert into clusters (key, connector, subject, members_json, created_at, updated_at) "
            "values (?, ?, ?, ?, ?, ?) on conflict(key) do update set members_json = excluded.members_json, "
            "updated_at = excluded.updated_at",
            [key, connector, subject, json.dumps(sorted(set(members))), _iso(now), _iso(now)])

    def set_cluster_problem(self, key: str, problem_id: str) -> None:
        """Record the problem ticket a cluster's members are linked to."""
        self._db.execute("update clusters set problem_id = ? where key = ?", [problem_id, key])

    def cluster_members(self, key: str) -> list[str]:
        """The tickets of a cluster, as of this transaction."""
        row = self._db.execute("select members_json from clusters where key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else []

    # --- post-incident tasks --------------------------------------------------------------------

    def add_review_task(self, *, connector: str, task_id: str, ticket_id: str, now: datetime) -> None:
        """Remember that `task_id` is the post-incident task of case `ticket_id` (once)."""
        self._db.execute("insert or ignore into review_tasks (connector, task_id, ticket_id, created_at) "
                         "values (?, ?, ?, ?)", [connector, task_id, ticket_id, _iso(now)])

    def record_root_cause(self, connector: str, task_id: str, root_cause: str, now: datetime) -> None:
        self._db.execute("update review_tasks set root_cause = ?, recorded_at = ? where connector = ? and task_id = ?",
                         [root_cause, _iso(now), connector, task_id])


class Store:
    """SQLite-backed durable state; one connection per thread, WAL, migrations on open."""

    def __init__(self, path: str | Path, busy_timeout: float = BUSY_TIMEOUT_SECONDS):
        """Open (and migrate) the database at `path`; writers wait `busy_timeout` seconds for the lock.

        The worker keeps the long default; the receiver passes a short one so that a locked store is a
        503 before the helpdesk's own timeout (about 10 s for Zendesk) runs out.
        """
        if not busy_timeout > 0:
            raise ValueError(f"busy_timeout: expected seconds greater than 0, got {busy_timeout!r}")
        self.path = str(path)
        self.busy_timeout = float(busy_timeout)
        self._local = threading.local()
        self._deliveries: GroupCommit[list[Any]] = GroupCommit(self._insert_deliveries, MAX_DELIVERY_BATCH)
        self._inbox: tuple[sqlite3.Connection, int] | None = None
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
        """This thread's sqlite-utils handle: for the store itself, migrations, tests and benchmarks."""
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, check_same_thread=False)
            # A commit is on disk before it returns (WAL fsynced at every commit): what a 2xx promises.
            conn.execute("pragma synchronous = full")
            db = Database(conn, execute_plugins=False)
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def close(self) -> None:
        self._deliveries.close()
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        if self._inbox is not None:
            self._inbox[0].close()
            self._inbox = None

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[Database]:
        """BEGIN IMMEDIATE … COMMIT around the block; rolled back if it raises."""
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

    @contextlib.contextmanager
    def write_txn(self) -> Iterator[Txn]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE)."""
        with self._immediate() as db:
            yield Txn(db)

    def ping(self) -> None:
        """Raise StoreError unless the database can take a write now (within the busy timeout).

        Takes the write lock (BEGIN IMMEDIATE) and rolls back: a `select 1` succeeds while another
        writer holds the lock and every insert would fail."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(f"store busy or unavailable: {e}") from e
        try:
            db.execute("select 1").fetchone()
        except sqlite3.Error as e:
            raise StoreError(f"store unavailable: {e}") from e
        finally:
            db.rollback()

    def _claim(self, sql: str, params: list[Any], decode: Callable[[tuple], _Row]) -> list[_Row]:
        """Run a claiming `update … returning` in one write transaction; its rows decoded, oldest first."""
        with self._immediate() as db:
            rows = db.execute(sql, params).fetchall()
        return sorted(map(decode, rows), key=lambda row: row.id)

    def _requeue(self, table: str, reset: str, params: list[Any], ids: list[int] | None) -> int:
        """Put failed rows of `table` (all, or the given ids) back in the queue with `reset`; return how many."""
        sql, params = f"update {table} set {reset} where status = 'failed'", list(params)
        if ids is not None:
            sql += f" and id in ({_marks(ids)})"
            params += ids
        with self._immediate() as db:
            return db.execute(sql, params).rowcount

    # --- inbox -----------------------------------------------------------------------

    def add_delivery(self, *, connector: str, delivery_key: str, event_type: str, ticket_id: str | None,
                     actor_id: str | None, headers: Mapping[str, str], body: bytes, received_at: datetime) -> bool:
        """Store a delivery once, durably (it shares its commit with concurrent ones: `store.group_commit`);
        return False when its delivery key was seen before."""
        return self._deliveries.submit([connector, delivery_key, event_type, ticket_id, actor_id, _iso(received_at),
                                        json.dumps(dict(headers)), body])

    def _insert_deliveries(self, rows: list[list[Any]]) -> list[bool]:
        # One statement, committed on its own: one call into SQLite (the one that waits for the disk) per batch.
        # Each call lets go of the GIL and must win it back from the request threads, which costs more than the insert.
        try:
            conn = self._inbox_connection()
            before = conn.total_changes
            cursor = conn.execute(_insert_deliveries_sql(len(rows)), [value for row in rows for value in row])
            inserted = conn.total_changes - before
            if inserted == len(rows):
                return [True] * len(rows)
            # Some keys were stored before, or come twice in this batch: this statement's rows have the last ids.
            new = {key for (key,) in conn.execute("select delivery_key from inbox where id > ? and id <= ?",
                                                  [cursor.lastrowid - inserted, cursor.lastrowid])} if inserted else set()
        except sqlite3.Error as e:
            raise StoreError(f"cannot store delivery: {e}") from e
        return _first_of_new_keys(rows, new)

    def _inbox_connection(self) -> sqlite3.Connection:
        """The connection the group commit's committer thread inserts deliveries with, in autocommit."""
        if self._inbox is None or self._inbox[1] != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, check_same_thread=False, isolation_level=None)
            conn.execute("pragma synchronous = full")
            self._inbox = (conn, os.getpid())
        return self._inbox[0]

    def claim_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Claim pending deliveries (and ones a dead worker left claimed), oldest first.

        One ticket, one worker: a ticket's deliveries are not handed out while another worker holds a live
        claim on one of them, nor while a write for the ticket waits to land (it is decided once it has).
        """
        stale = _stale(now)
        return self._claim(
            "update inbox set status = 'processing', claimed_at = ?, attempts = attempts + 1 "
            "where id in (select i.id from inbox i where (i.status = 'pending' "
            "or (i.status = 'processing' and i.claimed_at < ?)) "
            "and not exists (select 1 from inbox p where p.connector = i.connector and p.ticket_id = i.ticket_id "
            "and p.status = 'processing' and p.claimed_at >= ? and p.id <> i.id) "
            "and not exists (select 1 from outbox o where o.connector = i.connector and o.ticket_id = i.ticket_id "
            f"and o.status in {UNSENT}) "
            f"order by i.id limit ?) returning {DELIVERY_COLUMNS}",
            [_iso(now), stale, stale, limit], Delivery.from_row)

    def release_deliveries(self, ids: list[int], error: str | None = None) -> None:
        """Put claimed deliveries back to pending (to be tried again on the next pass)."""
        with self._immediate() as db:
            db.execute(f"update inbox set status = 'pending', error = ? where id in ({_marks(ids)})", [error, *ids])

    def delivery_payloads(self, ids: list[int]) -> list[DeliveryPayload]:
        """The stored headers, raw body and receipt time of deliveries, to parse them again."""
        rows = self.db.execute(f"select headers_json, body, received_at from inbox where id in ({_marks(ids)}) "
                               "order by id", ids).fetchall()
        return [DeliveryPayload(json.loads(h or "{}"), body or b"", datetime.fromisoformat(at)) for h, body, at in rows]

    def failed_deliveries(self) -> list[Delivery]:
        """Deliveries that failed to process, with their errors."""
        rows = self.db.execute(f"select {DELIVERY_COLUMNS} from inbox where status = 'failed' order by id").fetchall()
        return [Delivery.from_row(row) for row in rows]

    def retry_deliveries(self, ids: list[int] | None) -> int:
        """Put failed deliveries (all, or the given ids) back to be processed; return how many."""
        return self._requeue("inbox", "status = 'pending', attempts = 0, error = null", [], ids)

    def delivery_counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.execute("select status, count(*) from inbox group by status")}

    def prune_deliveries(self, before: datetime, limit: int = 5000) -> int:
        """Delete up to `limit` deliveries processed (done or echo) before `before`, oldest first; return how many.
        Pending, claimed and failed ones stay whatever their age."""
        with self._immediate() as db:
            return db.execute(f"delete from inbox where id in (select id from inbox where status in {PROCESSED} "
                              "and processed_at < ? order by id limit ?)", [_iso(before), limit]).rowcount

    # --- tickets and timeline ------------------------------------------------------------

    def get_case(self, connector: str, ticket_id: str) -> Case | None:
        rows = list(self.db.query("select * from tickets where connector = ? and ticket_id = ?",
                                  [connector, ticket_id]))
        return Case.from_row(rows[0]) if rows else None

    def due_tickets(self, now: datetime, limit: int = 500) -> list[DueTicket]:
        """Tickets whose next time-driven action is due (an index range scan: cost grows with what is due)."""
        rows = self.db.execute("select connector, ticket_id, next_action_at from tickets where next_action_at <= ? "
                               "order by next_action_at limit ?", [_iso(now), limit]).fetchall()
        return [DueTicket(connector, ticket_id, datetime.fromisoformat(at)) for connector, ticket_id, at in rows]

    def timeline(self, connector: str, ticket_id: str) -> list[TimelineEntry]:
        rows = self.db.query("select * from timeline where connector = ? and ticket_id = ? order by id",
                             [connector, ticket_id])
        return [TimelineEntry.from_row(row) for row in rows]

    # --- outbox -------------------------------------------------------------------------

    def has_unsent(self, connector: str, ticket_id: str) -> bool:
        """True while an outbox row for the ticket is waiting or being sent."""
        return Txn(self.db).has_unsent(connector, ticket_id)

    def has_unsettled(self, connector: str, ticket_id: str) -> bool:
        """True while an outbox row for the ticket is waiting, being sent or parked."""
        return Txn(self.db).has_unsettled(connector, ticket_id)

    def claim_outbox(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        """Claim outbox rows that are due (and ones a dead worker left in 'sending'), at most one per ticket.

        A ticket's writes go out in id order (the internal note before the customer's reply): only its
        oldest unsent row can be claimed, and none while another of its rows is being sent.
        """
        stale = _stale(now)
        return self._claim(
            "update outbox set status = 'sending', attempts = attempts + 1, next_attempt_at = ? "
            "where id in (select o.id from outbox o where ((o.status = 'pending' and o.next_attempt_at <= ?) "
            "or (o.status = 'sending' and o.next_attempt_at < ?)) "
            "and not exists (select 1 from outbox e where e.connector = o.connector and e.ticket_id = o.ticket_id "
            f"and e.id <> o.id and ((e.status = 'sending' and e.next_attempt_at >= ?) or (e.id < o.id and e.status in {UNSENT}))) "
            f"order by o.id limit ?) returning {OUTBOX_COLUMNS}",
            [_iso(now), _iso(now), stale, stale, limit], OutboxRow.from_row)

    def parked(self) -> list[OutboxRow]:
        """Writes that failed and wait for someone to retry them."""
        rows = self.db.execute(f"select {OUTBOX_COLUMNS} from outbox where status = 'failed' order by id").fetchall()
        return [OutboxRow.from_row(row) for row in rows]

    def retry_parked(self, ids: list[int] | None, now: datetime) -> int:
        """Put parked rows (all, or the given ids) back in the queue; return how many.

        Steps already done stay done; steps that failed are tried again."""
        return self._requeue("outbox", "status = 'pending', attempts = 0, next_attempt_at = ?, last_error = null, "
                             "progress_json = (select coalesce(json_group_object(key, json(value)), '{}') "
                             "from json_each(progress_json) where json_extract(value, '$.state') <> 'failed')",
                             [_iso(now)], ids)

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
        with self._immediate() as db:
            cursor = db.execute(
                "insert into leases (name, holder, expires_at) values (?, ?, ?) on conflict(name) do update "
                "set holder = excluded.holder, expires_at = excluded.expires_at "
                "where leases.holder = excluded.holder or leases.expires_at < ?",
                [name, holder, expires, _iso(now)])
            return cursor.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        with self._immediate() as db:
            db.execute("delete from leases where name = ? and holder = ?", [name, holder])

    def get_cursor(self, name: str) -> str | None:
        row = self.db.execute("select value from cursors where name = ?", [name]).fetchone()
        return row[0] if row else None

    # --- vendors ----------------------------------------------------------------------------------

    def issue_vendor_token(self, vendor: str, now: datetime) -> str:
        """A new bearer token for `vendor`; only its hash is stored, so it is shown once."""
        token = secrets.token_urlsafe(32)
        with self._immediate() as db:
            db["vendor_tokens"].insert({"token_hash": _hash(token), "vendor": vendor, "created_at": _iso(now)})
        return token

    def vendor_for_token(self, token: str) -> str | None:
        """The vendor a bearer token belongs to, or None."""
        row = self.db.execute("select vendor from vendor_tokens where token_hash = ?", [_hash(token)]).fetchone()
        return row[0] if row else None

    def vendor_cases(self, vendor: str) -> list[Case]:
        """Cases a vendor works on: routed to it now, or in a vendor cycle of its that has not ended
        (an escalation may hand the case to an internal team while the vendor still owes the ETA)."""
        rows = self.db.query(f"select * from tickets where {VENDOR_WORKS_ON} order by connector, ticket_id",
                             [vendor, vendor])
        return [Case.from_row(row) for row in rows]

    def vendor_works_on(self, vendor: str, connector: str, ticket_id: str) -> bool:
        """True when the case is one of `vendor_cases(vendor)` (one indexed lookup, nothing decoded)."""
        row = self.db.execute(f"select 1 from tickets where connector = ? and ticket_id = ? and {VENDOR_WORKS_ON}",
                              [connector, ticket_id, vendor, vendor]).fetchone()
        return row is not None

    def revoke_vendor_tokens(self, vendor: str) -> int:
        with self._immediate() as db:
            return db.execute("delete from vendor_tokens where vendor = ?", [vendor]).rowcount

    # --- recurring-issue clusters ---------------------------------------------------------------

    def open_cases(self) -> list[Case]:
        """Every case whose last snapshot is not solved or closed (for the recurring-issue detector)."""
        rows = self.db.query("select * from tickets "
                             "where json_extract(snapshot_json, '$.status') not in ('solved', 'closed')")
        return [Case.from_row(row) for row in rows]

    def clusters(self) -> list[Cluster]:
        return [Cluster.from_row(row) for row in self.db.query("select * from clusters order by created_at")]

    def review_task(self, connector: str, task_id: str) -> tuple[str, str | None] | None:
        """(the case it reviews, its root cause once recorded) when `task_id` is a post-incident task."""
        row = self.db.execute("select ticket_id, root_cause from review_tasks where connector = ? and task_id = ?",
                              [connector, task_id]).fetchone()
        return (row[0], row[1]) if row else None

    def cluster_of(self, connector: str, ticket_id: str) -> Cluster | None:
        """The cluster a ticket is a member of, with or without its problem ticket yet."""
        rows = list(self.db.query(
            "select c.* from clusters c, json_each(c.members_json) m where c.connector = ? and m.value = ?",
            [connector, ticket_id]))
        return Cluster.from_row(rows[0]) if rows else None

    # --- reporting ----------------------------------------------------------------------------

    def cases(self) -> list[Case]:
        """Every case slaclock has decided (for the KPI report)."""
        return [Case.from_row(row) for row in self.db.query("select * from tickets order by connector, ticket_id")]

    def timeline_of_kinds(self, kinds: list[str]) -> list[TimelineEntry]:
        """Every timeline entry of these kinds, oldest first (one query for the KPI report)."""
        rows = self.db.query(f"select * from timeline where kind in ({_marks(kinds)}) order by id", kinds)
        return [TimelineEntry.from_row(row) for row in rows]

    # --- alerts ---------------------------------------------------------------------------------

    def actors_since(self, connector: str, ticket_id: str, since: datetime) -> list[str]:
        """The users whose webhook deliveries for the ticket arrived after `since`, oldest first, each once
        (an alert's re-check: did anyone act after it was queued?)."""
        rows = self.db.execute("select actor_id, min(id) from inbox where connector = ? and ticket_id = ? "
                               "and received_at > ? and actor_id is not null group by actor_id order by 2",
                               [connector, ticket_id, _iso(since)]).fetchall()
        return [row[0] for row in rows]

    # --- dashboard access -------------------------------------------------------------------------

    def issue_admin_token(self, name: str, role: str, now: datetime) -> str:
        """A new dashboard sign-in token for `name` with `role`; only its hash is stored, so it is shown once."""
        token = secrets.token_urlsafe(32)
        with self._immediate() as db:
            db["admin_tokens"].insert({"token_hash": _hash(token), "name": name, "role": role,
                                       "created_at": _iso(now)})
        return token

    def admin_for_token(self, token: str) -> AdminToken | None:
        """The live dashboard token `token` is, or None."""
        rows = list(self.db.query("select id, name, role, created_at from admin_tokens where token_hash = ?",
                                  [_hash(token)]))
        return AdminToken.from_row(rows[0]) if rows else None

    def admin_token(self, token_id: int) -> AdminToken | None:
        """A dashboard token by id while it is not revoked (a signed-in session checks it on every request)."""
        rows = list(self.db.query("select id, name, role, created_at from admin_tokens where id = ?", [token_id]))
        return AdminToken.from_row(rows[0]) if rows else None

    def admin_tokens(self) -> list[AdminToken]:
        return [AdminToken.from_row(row) for row in
                self.db.query("select id, name, role, created_at from admin_tokens order by name, id")]

    def revoke_admin_tokens(self, name: str) -> int:
        """Revoke every dashboard token of `name` (their sessions end at their next request); return how many."""
        with self._immediate() as db:
            return db.execute("delete from admin_tokens where name = ?", [name]).rowcount

    # --- observability (metrics, status, readiness) ------------------------------------------------

    def record_outcome(self, job: str, connector: str, outcome: str, now: datetime, error: str | None = None) -> None:
        """Keep a job's last outcome for a connector (`ok` or `refused`) as the cursor `<job>-outcome:<connector>`."""
        value = json.dumps({"outcome": outcome, "error": error, "at": _iso(now)})
        with self.write_txn() as txn:
            txn.set_cursor(f"{job}-outcome:{connector}", value, now)

    def job_outcomes(self, job: str) -> dict[str, dict[str, Any]]:
        """The last outcome of `job` per connector: {"outcome", "error", "at"} as `record_outcome` kept them."""
        prefix = f"{job}-outcome:"
        rows = self.db.execute("select name, value from cursors where name like ? escape '\\' order by name",
                               [prefix.replace("_", "\\_") + "%"]).fetchall()
        return {name[len(prefix):]: json.loads(value) for name, value in rows}

    def cursor_updated_at(self, name: str) -> datetime | None:
        row = self.db.execute("select updated_at from cursors where name = ?", [name]).fetchone()
        return instant(row[0]) if row else None

    def live_leases(self, now: datetime) -> list[tuple[str, str, datetime]]:
        """(name, holder, expires_at) of every lease that has not lapsed at `now`."""
        rows = self.db.execute("select name, holder, expires_at from leases where expires_at >= ? order by name",
                               [_iso(now)]).fetchall()
        return [(name, holder, datetime.fromisoformat(expires)) for name, holder, expires in rows]

    def ticket_risk(self, now: datetime, within: Any) -> dict[str, dict[str, int]]:
        """Per connector, open tickets `breached` (a breach recorded for a clock that has not stopped since) and
        `at_risk` (not breached; the next threshold or the resolution deadline falls within `within` of `now`)."""
        soon = _iso(now + within)
        rows = self.db.execute(
            "select connector, sum(breached), sum(not breached and ((next_action_at >= ? and next_action_at <= ?) "
            "or (due_at >= ? and due_at <= ?))) from (select t.connector, t.next_action_at, t.due_at, exists ("
            "select 1 from timeline b where b.connector = t.connector and b.ticket_id = t.ticket_id "
            "and b.kind = 'breach' and not exists (select 1 from json_each(t.memory_json, '$.results') r "
            "where json_extract(r.value, '$.metric') = json_extract(b.detail_json, '$.metric') "
            "and json_extract(r.value, '$.cycle') = json_extract(b.detail_json, '$.cycle'))) as breached "
            "from tickets t where coalesce(json_extract(t.snapshot_json, '$.status'), '') "
            "not in ('solved', 'closed')) group by connector order by connector",
            [_iso(now), soon, _iso(now), soon]).fetchall()
        return {connector: {"breached": breached or 0, "at_risk": at_risk or 0} for connector, breached, at_risk in rows}

    def connector_activity(self) -> dict[str, dict[str, Any]]:
        """Per connector, from the queues: the last write that landed and the last error (a parked write or a
        delivery that failed to process), each with its time."""
        activity: dict[str, dict[str, Any]] = {}
        for connector, at in self.db.execute("select connector, max(done_at) from outbox where status = 'done' "
                                             "group by connector"):
            activity.setdefault(connector, {})["last_write"] = instant(at)
        errors = self.db.execute(
            "select connector, done_at, last_error from outbox where status = 'failed' and last_error is not null "
            "union all select connector, processed_at, error from inbox where status = 'failed' "
            "and error is not null").fetchall()
        for connector, at, error in errors:
            entry = activity.setdefault(connector, {})
            if at and (entry.get("last_error") is None or at > _iso(entry["last_error"][0])):
                entry["last_error"] = (instant(at), error)
        return activity
