"""The PostgreSQL store: the SQLite store's interface (store/sqlite.py) on a server that several receivers and
workers share, through psycopg 3 and a connection pool. Deliveries go through the group commit
(store/group_commit.py) on a connection of its own, one statement and one commit per batch; without
`group_commit` each commits on the request's pooled connection.

Claims are serialised by a transaction-scoped advisory lock (one per queue) and take their rows `FOR UPDATE
SKIP LOCKED`: each claim then sees every claim committed before it, so a ticket's deliveries go to one worker
at a time, as SQLite's single writer guarantees there. The claim itself lasts milliseconds; the work does not
hold the lock. Leases are rows, as in SQLite: a holder that dies loses its lease when the lease lapses.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from store import postgres_migrations
from store.group_commit import GroupCommit
from store.rows import (AdminToken, Case, Cluster, Delivery, DeliveryPayload, DeliveryStatus, DueTicket, OutboxRow,
                        OutboxStatus, TimelineEntry, instant)
from store.sqlite import (BUSY_TIMEOUT_SECONDS, DELIVERY_COLUMNS, MAX_DELIVERY_BATCH, OUTBOX_COLUMNS, PROCESSED,
                          SAVE_CASE, UNSENT, UNSETTLED, StoreError, _case_row, _first_of_new_keys, _hash, _iso,
                          _stale)

# The case upsert with PostgreSQL's placeholders.
SAVE_CASE_PG = SAVE_CASE.replace("?", "%s")
# Advisory lock keys of the two claim queues (transaction-scoped: released at commit).
DELIVERY_CLAIM_LOCK = 0x51AC_0001
OUTBOX_CLAIM_LOCK = 0x51AC_0002
# Connections per process: a worker uses one or two, a receiver one per request thread.
POOL_SIZE = 8

_Row = TypeVar("_Row", Delivery, OutboxRow)

VENDOR_WORKS_ON = ("(team = %s or (memory_json::jsonb #>> '{vendor,team}' = %s "
                   "and memory_json::jsonb #>> '{vendor,ended_at}' is null))")


@functools.lru_cache(maxsize=None)
def _insert_deliveries_sql(rows: int) -> str:
    """One insert of `rows` deliveries (at most MAX_DELIVERY_BATCH) returning the keys it stored; a key stored
    before, or earlier in the same statement, is skipped."""
    return ("insert into inbox (connector, delivery_key, event_type, ticket_id, actor_id, received_at, headers_json, "
            "body, status, attempts) values " + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, 'pending', 0)"] * rows)
            + " on conflict (delivery_key) do nothing returning delivery_key")


def redacted(url: str) -> str:
    """The URL without its password, for logs and messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class Result:
    """Rows fetched by `Store.db.execute`, read like a DB-API cursor's."""

    def __init__(self, rows: list[tuple], rowcount: int):
        self._rows, self.rowcount = rows, rowcount

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple]:
        return list(self._rows)

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._rows)


class Sql:
    """One statement at a time in autocommit, with SQLite's `?` placeholders: for tests and benchmarks that
    read or seed a table the same way on both stores."""

    def __init__(self, store: "Store"):
        self._store = store

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self._store._connection() as conn:
            cursor = conn.execute(sql.replace("%", "%%").replace("?", "%s"), list(params))
            return Result(cursor.fetchall() if cursor.description else [], cursor.rowcount)


class Txn:
    """One write transaction (see store.sqlite.Txn, whose methods these are)."""

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    def _run(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._conn.execute(sql, params)

    # --- inbox -----------------------------------------------------------------------

    def finish_deliveries(self, ids: list[int], status: DeliveryStatus, now: datetime,
                          error: str | None = None) -> None:
        self._run("update inbox set status = %s, processed_at = %s, error = %s where id = any(%s)",
                  [str(status), _iso(now), error, ids])

    def release_deliveries(self, ids: list[int], error: str | None = None) -> None:
        self._run("update inbox set status = 'pending', error = %s where id = any(%s)", [error, ids])

    def enqueue_check(self, *, connector: str, ticket_id: str, kind: str, key: str, now: datetime,
                      body: bytes = b"") -> bool:
        cursor = self._run(
            "insert into inbox (connector, delivery_key, event_type, ticket_id, received_at, headers_json, body, "
            "status, attempts) values (%s, %s, %s, %s, %s, '{}', %s, 'pending', 0) "
            "on conflict (delivery_key) do nothing", [connector, key, str(kind), ticket_id, _iso(now), body])
        return cursor.rowcount == 1

    # --- tickets and timeline ------------------------------------------------------------

    def save_case(self, *, connector: str, ticket_id: str, memory: Mapping[str, Any], snapshot: Mapping[str, Any],
                  priority: str | None, team: str | None, due_at: datetime | None, rules_version: str,
                  decided_at: datetime, next_action_at: datetime | None = None, next_action: str | None = None,
                  seen_updated_at: datetime | None = None) -> None:
        self._run(SAVE_CASE_PG, _case_row(connector, ticket_id, memory, snapshot, priority, team,
                                                          due_at, rules_version, decided_at, next_action_at,
                                                          next_action, seen_updated_at))

    def mark_seen(self, connector: str, ticket_id: str, updated_at: datetime | None) -> None:
        if updated_at:
            self._run("update tickets set seen_updated_at = greatest(coalesce(seen_updated_at, ''), %s) "
                      "where connector = %s and ticket_id = %s", [_iso(updated_at), connector, ticket_id])

    def is_seen(self, connector: str, ticket_id: str, updated_at: datetime) -> bool:
        row = self._run("select seen_updated_at from tickets where connector = %s and ticket_id = %s",
                        [connector, ticket_id]).fetchone()
        return bool(row and row[0] and row[0] >= _iso(updated_at))

    def add_timeline(self, *, connector: str, ticket_id: str, at: datetime, kind: str, summary: str,
                     detail: Mapping[str, Any]) -> None:
        self._run("insert into timeline (connector, ticket_id, at, kind, summary, detail_json) "
                  "values (%s, %s, %s, %s, %s, %s)",
                  [connector, ticket_id, _iso(at), str(kind), summary, json.dumps(detail, default=str)])

    # --- outbox and cursors ----------------------------------------------------------------

    def add_outbox(self, *, connector: str, ticket_id: str, kind: str, payload: Mapping[str, Any], now: datetime,
                   idem_key: str, cluster_key: str | None = None) -> None:
        self._run("insert into outbox (idem_key, connector, ticket_id, kind, payload_json, status, attempts, "
                  "created_at, next_attempt_at, cluster_key) values (%s, %s, %s, %s, %s, 'pending', 0, %s, %s, %s)",
                  [idem_key, connector, ticket_id, str(kind), json.dumps(payload, default=str), _iso(now), _iso(now),
                   cluster_key])

    def finish_outbox(self, outbox_id: int, status: OutboxStatus, now: datetime, error: str | None = None,
                      progress: Mapping[str, Any] | None = None) -> None:
        self._run("update outbox set status = %s, done_at = %s, last_error = %s, "
                  "progress_json = coalesce(%s, progress_json) where id = %s",
                  [str(status), _iso(now), error, json.dumps(progress) if progress is not None else None, outbox_id])

    def set_progress(self, outbox_id: int, progress: Mapping[str, Any], now: datetime) -> None:
        self._run("update outbox set progress_json = %s, next_attempt_at = %s where id = %s and status = 'sending'",
                  [json.dumps(progress), _iso(now), outbox_id])

    def requeue_outbox(self, outbox_id: int, next_attempt_at: datetime, error: str,
                       progress: Mapping[str, Any]) -> None:
        self._run("update outbox set status = 'pending', next_attempt_at = %s, last_error = %s, progress_json = %s "
                  "where id = %s", [_iso(next_attempt_at), error, json.dumps(progress), outbox_id])

    def hasten_retries(self, connector: str, now: datetime) -> int:
        return self._run("update outbox set next_attempt_at = %s where connector = %s and status = 'pending' "
                         "and attempts > 0 and next_attempt_at > %s", [_iso(now), connector, _iso(now)]).rowcount

    def has_unsent(self, connector: str, ticket_id: str) -> bool:
        return self._run(f"select 1 from outbox where connector = %s and ticket_id = %s and status in {UNSENT} "
                         "limit 1", [connector, ticket_id]).fetchone() is not None

    def has_unsettled(self, connector: str, ticket_id: str) -> bool:
        return self._run(f"select 1 from outbox where connector = %s and ticket_id = %s and status in {UNSETTLED} "
                         "limit 1", [connector, ticket_id]).fetchone() is not None

    def set_cursor(self, name: str, value: str, now: datetime) -> None:
        self._run("insert into cursors (name, value, updated_at) values (%s, %s, %s) on conflict (name) do update "
                  "set value = excluded.value, updated_at = excluded.updated_at", [name, value, _iso(now)])

    # --- recurring-issue clusters ---------------------------------------------------------------

    def save_cluster(self, *, key: str, connector: str, members: list[str], subject: str, now: datetime) -> None:
        self._run("insert into clusters (key, connector, subject, members_json, created_at, updated_at) "
                  "values (%s, %s, %s, %s, %s, %s) on conflict (key) do update set "
                  "members_json = excluded.members_json, updated_at = excluded.updated_at",
                  [key, connector, subject, json.dumps(sorted(set(members))), _iso(now), _iso(now)])

    def set_cluster_problem(self, key: str, problem_id: str) -> None:
        self._run("update clusters set problem_id = %s where key = %s", [problem_id, key])

    def cluster_members(self, key: str) -> list[str]:
        row = self._run("select members_json from clusters where key = %s", [key]).fetchone()
        return json.loads(row[0]) if row else []

    # --- post-incident tasks --------------------------------------------------------------------

    def add_review_task(self, *, connector: str, task_id: str, ticket_id: str, now: datetime) -> None:
        self._run("insert into review_tasks (connector, task_id, ticket_id, created_at) values (%s, %s, %s, %s) "
                  "on conflict do nothing", [connector, task_id, ticket_id, _iso(now)])

    def record_root_cause(self, connector: str, task_id: str, root_cause: str, now: datetime) -> None:
        self._run("update review_tasks set root_cause = %s, recorded_at = %s where connector = %s and task_id = %s",
                  [root_cause, _iso(now), connector, task_id])


class Store:
    """PostgreSQL-backed durable state: a connection pool per process, migrations on open."""

    def __init__(self, url: str, busy_timeout: float = BUSY_TIMEOUT_SECONDS, pool_size: int = POOL_SIZE,
                 group_commit: bool = True):
        """Open (and migrate) the database at `url`; a statement waits `busy_timeout` s for a lock or a connection.

        The receiver passes a short timeout so that a store that cannot take an event is a 503 in time.
        `group_commit` (SLACLOCK_PG_GROUP_COMMIT, on by default): concurrent deliveries of a process share a commit."""
        if not busy_timeout > 0:
            raise ValueError(f"busy_timeout: expected seconds greater than 0, got {busy_timeout!r}")
        self.url, self.busy_timeout, self.pool_size = url, float(busy_timeout), pool_size
        self._pool: ConnectionPool | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self._deliveries: GroupCommit[list[Any]] | None = (
            GroupCommit(self._insert_deliveries, MAX_DELIVERY_BATCH) if group_commit else None)
        self._inbox: tuple[psycopg.Connection, int] | None = None  # the committer's connection, and its process
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=max(2, int(busy_timeout))) as conn:
                postgres_migrations.apply(conn)
        except psycopg.Error as e:
            raise StoreError(f"cannot open database {redacted(url)}: {e}") from e

    def __repr__(self) -> str:
        return f"<postgres store {redacted(self.url)}>"

    @property
    def db(self) -> Sql:
        """Statements with `?` placeholders, one at a time: for tests and benchmarks."""
        return Sql(self)

    def _get_pool(self) -> ConnectionPool:
        # Opened lazily per process: gunicorn forks after the store is made, and a pool does not survive a fork.
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ConnectionPool(self.url, min_size=1, max_size=self.pool_size, timeout=self.busy_timeout,
                                            open=True, kwargs=self._connect_options())
                self._pool_pid = os.getpid()
            return self._pool

    def _connect_options(self) -> dict[str, Any]:
        """Every connection's: autocommit, and a lock or a connection waited for at most `busy_timeout`."""
        return {"autocommit": True, "connect_timeout": max(2, int(self.busy_timeout)),
                "options": f"-c lock_timeout={int(self.busy_timeout * 1000)}"}

    def close(self) -> None:
        """Stop this process's group committer and close its connections (a later call opens them again)."""
        if self._deliveries is not None:
            self._deliveries.close()
        if self._inbox is not None and self._inbox[1] == os.getpid():
            self._inbox[0].close()
        self._inbox = None
        with self._pool_lock:
            if self._pool is not None and self._pool_pid == os.getpid():
                self._pool.close()
            self._pool = None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in autocommit; a server that cannot be reached or locked in time is a StoreError."""
        try:
            with self._get_pool().connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as e:
            raise StoreError(f"store busy or unavailable: {e}") from e

    @contextlib.contextmanager
    def write_txn(self) -> Iterator[Txn]:
        """A write transaction: commits when the block ends, rolls back if it raises."""
        with self._connection() as conn, conn.transaction():
            yield Txn(conn)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._connection() as conn:
            return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()

    def _change(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one writing statement (autocommit); return how many rows it changed."""
        with self._connection() as conn:
            return conn.execute(sql, params).rowcount

    def ping(self) -> None:
        """Raise StoreError unless the server answers now."""
        self._rows("select 1")

    def _claim(self, lock: int, sql: str, params: Sequence[Any], decode: Callable[[tuple], _Row]) -> list[_Row]:
        """Run a claiming `update … returning` after taking the queue's claim lock; its rows decoded, oldest first."""
        with self._connection() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", [lock])
            rows = conn.execute(sql, params).fetchall()
        return sorted(map(decode, rows), key=lambda row: row.id)

    def _requeue(self, table: str, reset: str, params: list[Any], ids: list[int] | None) -> int:
        sql, params = f"update {table} set {reset} where status = 'failed'", list(params)
        if ids is not None:
            sql += " and id = any(%s)"
            params.append(ids)
        return self._change(sql, params)

    # --- inbox -----------------------------------------------------------------------

    def add_delivery(self, *, connector: str, delivery_key: str, event_type: str, ticket_id: str | None,
                     actor_id: str | None, headers: Mapping[str, str], body: bytes, received_at: datetime) -> bool:
        """Store a delivery once, durably (with `group_commit`, sharing its commit with concurrent ones);
        return False when its delivery key was seen before."""
        row = [connector, delivery_key, event_type, ticket_id, actor_id, _iso(received_at), json.dumps(dict(headers)),
               body]
        if any(isinstance(value, str) and "\0" in value for value in row):
            # psycopg refuses a NUL in text: refused here, it fails this delivery alone and not the batch it joins.
            raise StoreError("cannot store delivery: its key, event type, ticket or actor contains a NUL character")
        if self._deliveries is None:
            with self._connection() as conn:
                return bool(conn.execute(_insert_deliveries_sql(1), row).fetchall())
        return self._deliveries.submit(row)

    def _insert_deliveries(self, rows: list[list[Any]]) -> list[bool]:
        # One statement in autocommit on the committer's own connection: one commit (one WAL flush) per batch,
        # all of its rows or none.
        try:
            if self._inbox is None or self._inbox[1] != os.getpid():
                self._inbox = (psycopg.connect(self.url, **self._connect_options()), os.getpid())
            cursor = self._inbox[0].execute(_insert_deliveries_sql(len(rows)), [value for row in rows for value in row])
            new = {key for (key,) in cursor}
        except psycopg.Error as e:
            if self._inbox is not None:  # the next batch starts on a fresh connection
                self._inbox[0].close()
                self._inbox = None
            raise StoreError(f"cannot store delivery: {e}") from e
        return _first_of_new_keys(rows, new)

    def claim_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Claim pending deliveries (and ones a dead worker left claimed), oldest first; one ticket, one worker
        (see store.sqlite.Store.claim_deliveries)."""
        stale = _stale(now)
        return self._claim(
            DELIVERY_CLAIM_LOCK,
            "update inbox set status = 'processing', claimed_at = %s, attempts = attempts + 1 "
            "where id in (select i.id from inbox i where (i.status = 'pending' "
            "or (i.status = 'processing' and i.claimed_at < %s)) "
            "and not exists (select 1 from inbox p where p.connector = i.connector and p.ticket_id = i.ticket_id "
            "and p.status = 'processing' and p.claimed_at >= %s and p.id <> i.id) "
            "and not exists (select 1 from outbox o where o.connector = i.connector and o.ticket_id = i.ticket_id "
            f"and o.status in {UNSENT}) "
            f"order by i.id limit %s for update of i skip locked) returning {DELIVERY_COLUMNS}",
            [_iso(now), stale, stale, limit], Delivery.from_row)

    def release_deliveries(self, ids: list[int], error: str | None = None) -> None:
        with self.write_txn() as txn:
            txn.release_deliveries(ids, error)

    def delivery_payloads(self, ids: list[int]) -> list[DeliveryPayload]:
        rows = self._rows("select headers_json, body, received_at from inbox where id = any(%s) order by id", [ids])
        return [DeliveryPayload(json.loads(h or "{}"), bytes(body or b""), datetime.fromisoformat(at))
                for h, body, at in rows]

    def failed_deliveries(self) -> list[Delivery]:
        rows = self._rows(f"select {DELIVERY_COLUMNS} from inbox where status = 'failed' order by id")
        return [Delivery.from_row(row) for row in rows]

    def retry_deliveries(self, ids: list[int] | None) -> int:
        return self._requeue("inbox", "status = 'pending', attempts = 0, error = null", [], ids)

    def delivery_counts(self) -> dict[str, int]:
        return dict(self._rows("select status, count(*) from inbox group by status"))

    def prune_deliveries(self, before: datetime, limit: int = 5000) -> int:
        """(see store.sqlite.Store.prune_deliveries)"""
        return self._change(f"delete from inbox where id in (select id from inbox where status in {PROCESSED} "
                            "and processed_at < %s order by id limit %s)", [_iso(before), limit])

    # --- tickets and timeline ------------------------------------------------------------

    def get_case(self, connector: str, ticket_id: str) -> Case | None:
        rows = self._dicts("select * from tickets where connector = %s and ticket_id = %s", [connector, ticket_id])
        return Case.from_row(rows[0]) if rows else None

    def due_tickets(self, now: datetime, limit: int = 500) -> list[DueTicket]:
        rows = self._rows("select connector, ticket_id, next_action_at from tickets where next_action_at <= %s "
                          "order by next_action_at limit %s", [_iso(now), limit])
        return [DueTicket(connector, ticket_id, datetime.fromisoformat(at)) for connector, ticket_id, at in rows]

    def timeline(self, connector: str, ticket_id: str) -> list[TimelineEntry]:
        rows = self._dicts("select * from timeline where connector = %s and ticket_id = %s order by id",
                           [connector, ticket_id])
        return [TimelineEntry.from_row(row) for row in rows]

    # --- outbox -------------------------------------------------------------------------

    def has_unsent(self, connector: str, ticket_id: str) -> bool:
        with self._connection() as conn:
            return Txn(conn).has_unsent(connector, ticket_id)

    def has_unsettled(self, connector: str, ticket_id: str) -> bool:
        with self._connection() as conn:
            return Txn(conn).has_unsettled(connector, ticket_id)

    def claim_outbox(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        """Claim due outbox rows, at most one per ticket, in id order (see store.sqlite.Store.claim_outbox)."""
        stale = _stale(now)
        return self._claim(
            OUTBOX_CLAIM_LOCK,
            "update outbox set status = 'sending', attempts = attempts + 1, next_attempt_at = %s "
            "where id in (select o.id from outbox o where ((o.status = 'pending' and o.next_attempt_at <= %s) "
            "or (o.status = 'sending' and o.next_attempt_at < %s)) "
            "and not exists (select 1 from outbox e where e.connector = o.connector and e.ticket_id = o.ticket_id "
            "and e.id <> o.id and ((e.status = 'sending' and e.next_attempt_at >= %s) "
            f"or (e.id < o.id and e.status in {UNSENT}))) "
            f"order by o.id limit %s for update of o skip locked) returning {OUTBOX_COLUMNS}",
            [_iso(now), _iso(now), stale, stale, limit], OutboxRow.from_row)

    def parked(self) -> list[OutboxRow]:
        rows = self._rows(f"select {OUTBOX_COLUMNS} from outbox where status = 'failed' order by id")
        return [OutboxRow.from_row(row) for row in rows]

    def retry_parked(self, ids: list[int] | None, now: datetime) -> int:
        """Put parked rows back in the queue; steps already done stay done, failed ones are tried again."""
        return self._requeue("outbox", "status = 'pending', attempts = 0, next_attempt_at = %s, last_error = null, "
                             "progress_json = coalesce((select jsonb_object_agg(p.key, p.value) "
                             "from jsonb_each(progress_json::jsonb) p where p.value ->> 'state' <> 'failed'), "
                             "'{}'::jsonb)::text", [_iso(now)], ids)

    def outbox_counts(self) -> dict[str, int]:
        return dict(self._rows("select status, count(*) from outbox group by status"))

    def conflicts_since_last_write(self, connector: str, ticket_id: str) -> int:
        (row,) = self._rows(
            "select count(*) from outbox where connector = %s and ticket_id = %s and status = 'superseded' and id > "
            "coalesce((select max(id) from outbox where connector = %s and ticket_id = %s and status = 'done'), 0)",
            [connector, ticket_id, connector, ticket_id])
        return row[0]

    # --- leases and cursors --------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """Take or renew the named lease for `holder`; False while another holder's lease is live."""
        expires = _iso(datetime.fromtimestamp(now.timestamp() + ttl_seconds, timezone.utc))
        return self._change(
            "insert into leases (name, holder, expires_at) values (%s, %s, %s) on conflict (name) do update "
            "set holder = excluded.holder, expires_at = excluded.expires_at "
            "where leases.holder = excluded.holder or leases.expires_at < %s",
            [name, holder, expires, _iso(now)]) == 1

    def release_lease(self, name: str, holder: str) -> None:
        self._change("delete from leases where name = %s and holder = %s", [name, holder])

    def get_cursor(self, name: str) -> str | None:
        rows = self._rows("select value from cursors where name = %s", [name])
        return rows[0][0] if rows else None

    # --- vendors ----------------------------------------------------------------------------------

    def issue_vendor_token(self, vendor: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        self._change("insert into vendor_tokens (token_hash, vendor, created_at) values (%s, %s, %s)",
                     [_hash(token), vendor, _iso(now)])
        return token

    def vendor_for_token(self, token: str) -> str | None:
        rows = self._rows("select vendor from vendor_tokens where token_hash = %s", [_hash(token)])
        return rows[0][0] if rows else None

    def vendor_cases(self, vendor: str) -> list[Case]:
        rows = self._dicts(f"select * from tickets where {VENDOR_WORKS_ON} order by connector, ticket_id",
                           [vendor, vendor])
        return [Case.from_row(row) for row in rows]

    def vendor_works_on(self, vendor: str, connector: str, ticket_id: str) -> bool:
        return bool(self._rows(f"select 1 from tickets where connector = %s and ticket_id = %s and {VENDOR_WORKS_ON}",
                               [connector, ticket_id, vendor, vendor]))

    def revoke_vendor_tokens(self, vendor: str) -> int:
        return self._change("delete from vendor_tokens where vendor = %s", [vendor])

    # --- recurring-issue clusters ---------------------------------------------------------------

    def open_cases(self) -> list[Case]:
        rows = self._dicts("select * from tickets where snapshot_json::jsonb ->> 'status' not in ('solved', 'closed')")
        return [Case.from_row(row) for row in rows]

    def clusters(self) -> list[Cluster]:
        return [Cluster.from_row(row) for row in self._dicts("select * from clusters order by created_at")]

    def review_task(self, connector: str, task_id: str) -> tuple[str, str | None] | None:
        rows = self._rows("select ticket_id, root_cause from review_tasks where connector = %s and task_id = %s",
                          [connector, task_id])
        return (rows[0][0], rows[0][1]) if rows else None

    def cluster_of(self, connector: str, ticket_id: str) -> Cluster | None:
        rows = self._dicts("select * from clusters where connector = %s and members_json::jsonb ? %s",
                           [connector, ticket_id])
        return Cluster.from_row(rows[0]) if rows else None

    # --- reporting ----------------------------------------------------------------------------

    def cases(self) -> list[Case]:
        return [Case.from_row(row) for row in self._dicts("select * from tickets order by connector, ticket_id")]

    def timeline_of_kinds(self, kinds: list[str]) -> list[TimelineEntry]:
        rows = self._dicts("select * from timeline where kind = any(%s) order by id", [list(kinds)])
        return [TimelineEntry.from_row(row) for row in rows]

    # --- alerts ---------------------------------------------------------------------------------

    def actors_since(self, connector: str, ticket_id: str, since: datetime) -> list[str]:
        rows = self._rows("select actor_id, min(id) from inbox where connector = %s and ticket_id = %s "
                          "and received_at > %s and actor_id is not null group by actor_id order by 2",
                          [connector, ticket_id, _iso(since)])
        return [row[0] for row in rows]

    # --- dashboard access -------------------------------------------------------------------------

    def issue_admin_token(self, name: str, role: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        self._change("insert into admin_tokens (token_hash, name, role, created_at) values (%s, %s, %s, %s)",
                     [_hash(token), name, role, _iso(now)])
        return token

    def admin_for_token(self, token: str) -> AdminToken | None:
        rows = self._dicts("select id, name, role, created_at from admin_tokens where token_hash = %s", [_hash(token)])
        return AdminToken.from_row(rows[0]) if rows else None

    def admin_token(self, token_id: int) -> AdminToken | None:
        rows = self._dicts("select id, name, role, created_at from admin_tokens where id = %s", [token_id])
        return AdminToken.from_row(rows[0]) if rows else None

    def admin_tokens(self) -> list[AdminToken]:
        return [AdminToken.from_row(row) for row in
                self._dicts("select id, name, role, created_at from admin_tokens order by name, id")]

    def revoke_admin_tokens(self, name: str) -> int:
        return self._change("delete from admin_tokens where name = %s", [name])

    # --- observability (metrics, status, readiness) ------------------------------------------------

    def record_outcome(self, job: str, connector: str, outcome: str, now: datetime, error: str | None = None) -> None:
        value = json.dumps({"outcome": outcome, "error": error, "at": _iso(now)})
        with self.write_txn() as txn:
            txn.set_cursor(f"{job}-outcome:{connector}", value, now)

    def job_outcomes(self, job: str) -> dict[str, dict[str, Any]]:
        prefix = f"{job}-outcome:"
        rows = self._rows("select name, value from cursors where name like %s escape '\\' order by name",
                          [prefix.replace("_", "\\_") + "%"])
        return {name[len(prefix):]: json.loads(value) for name, value in rows}

    def cursor_updated_at(self, name: str) -> datetime | None:
        rows = self._rows("select updated_at from cursors where name = %s", [name])
        return instant(rows[0][0]) if rows else None

    def live_leases(self, now: datetime) -> list[tuple[str, str, datetime]]:
        rows = self._rows("select name, holder, expires_at from leases where expires_at >= %s order by name",
                          [_iso(now)])
        return [(name, holder, datetime.fromisoformat(expires)) for name, holder, expires in rows]

    def ticket_risk(self, now: datetime, within: Any) -> dict[str, dict[str, int]]:
        """Per connector, open tickets `breached` and `at_risk` (see store.sqlite.Store.ticket_risk)."""
        soon = _iso(now + within)
        rows = self._rows(
            "select connector, count(*) filter (where breached), count(*) filter (where not breached and "
            "((next_action_at >= %s and next_action_at <= %s) or (due_at >= %s and due_at <= %s))) "
            "from (select t.connector, t.next_action_at, t.due_at, exists (select 1 from timeline b "
            "where b.connector = t.connector and b.ticket_id = t.ticket_id and b.kind = 'breach' and not exists ("
            "select 1 from jsonb_array_elements(coalesce(t.memory_json::jsonb -> 'results', '[]'::jsonb)) r "
            "where r ->> 'metric' = b.detail_json::jsonb ->> 'metric' "
            "and r ->> 'cycle' = b.detail_json::jsonb ->> 'cycle')) as breached "
            "from tickets t where coalesce(t.snapshot_json::jsonb ->> 'status', '') not in ('solved', 'closed')) open "
            "group by connector order by connector",
            [_iso(now), soon, _iso(now), soon])
        return {connector: {"breached": breached, "at_risk": at_risk} for connector, breached, at_risk in rows}

    def connector_activity(self) -> dict[str, dict[str, Any]]:
        """Per connector, the last write that landed and the last error, each with its time."""
        activity: dict[str, dict[str, Any]] = {}
        for connector, at in self._rows("select connector, max(done_at) from outbox where status = 'done' "
                                        "group by connector"):
            activity.setdefault(connector, {})["last_write"] = instant(at)
        errors = self._rows(
            "select connector, done_at, last_error from outbox where status = 'failed' and last_error is not null "
            "union all select connector, processed_at, error from inbox where status = 'failed' "
            "and error is not null")
        for connector, at, error in errors:
            entry = activity.setdefault(connector, {})
            if at and (entry.get("last_error") is None or at > _iso(entry["last_error"][0])):
                entry["last_error"] = (instant(at), error)
        return activity
