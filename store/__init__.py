"""Durable state behind a small interface (SQLite now; PostgreSQL can replace it)."""
from store.rows import (Case, Cluster, Delivery, DeliveryPayload, DeliveryStatus, DueTicket, OutboxRow, OutboxStatus,
                        TimelineEntry)
from store.sqlite import Store, StoreError, Txn

__all__ = ["Case", "Cluster", "Delivery", "DeliveryPayload", "DeliveryStatus", "DueTicket", "OutboxRow",
           "OutboxStatus", "Store", "StoreError", "TimelineEntry", "Txn"]
