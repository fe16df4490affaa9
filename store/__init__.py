"""Durable state behind a small interface: `Store` reads and claims; `Store.write_txn()` yields a `Txn`
for writes that land together; rows come out as frozen dataclasses (`store.rows`).

SQLite now; a PostgreSQL store provides the same two classes (its claims `FOR UPDATE SKIP LOCKED`).
"""
from store.rows import (Case, Cluster, Delivery, DeliveryPayload, DeliveryStatus, DueTicket, OutboxRow, OutboxStatus,
                        TimelineEntry)
from store.sqlite import Store, StoreError, Txn

__all__ = ["Case", "Cluster", "Delivery", "DeliveryPayload", "DeliveryStatus", "DueTicket", "OutboxRow",
           "OutboxStatus", "Store", "StoreError", "TimelineEntry", "Txn"]
