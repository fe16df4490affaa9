"""Durable state behind a small interface: `Store` reads and claims; `Store.write_txn()` yields a `Txn`
for writes that land together; rows come out as frozen dataclasses (`store.rows`).

Two stores share that interface: SQLite (store/sqlite.py, the embedded default) and PostgreSQL
(store/postgres.py, for several receivers and workers on one database). `open_store` picks one by the
`SLACLOCK_DATABASE` value: a `postgresql://` (or `postgres://`) URL, or else a SQLite path.
"""
from __future__ import annotations

from pathlib import Path

from store.rows import (Case, Cluster, Delivery, DeliveryPayload, DeliveryStatus, DueTicket, OutboxRow, OutboxStatus,
                        TimelineEntry)
from store.sqlite import BUSY_TIMEOUT_SECONDS, Store, StoreError, Txn


def is_postgres_url(database: str | Path) -> bool:
    """True when `database` names a PostgreSQL server rather than a SQLite file."""
    return str(database).startswith(("postgresql://", "postgres://"))


def open_store(database: str | Path, busy_timeout: float = BUSY_TIMEOUT_SECONDS,
               pg_group_commit: bool = True) -> Store:
    """The store `database` names (migrated): PostgreSQL for a URL (`pg_group_commit`: deliveries share commits,
    see store.postgres.Store), else the SQLite file at that path."""
    if is_postgres_url(database):
        from store.postgres import Store as PostgresStore  # psycopg loads only when it is used

        return PostgresStore(str(database), busy_timeout,  # type: ignore[return-value] - the same interface
                             group_commit=pg_group_commit)
    return Store(database, busy_timeout)


__all__ = ["Case", "Cluster", "Delivery", "DeliveryPayload", "DeliveryStatus", "DueTicket", "OutboxRow",
           "OutboxStatus", "Store", "StoreError", "TimelineEntry", "Txn", "is_postgres_url", "open_store"]
