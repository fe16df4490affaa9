"""Durable state behind a small interface (SQLite now; PostgreSQL can replace it)."""
from store.sqlite import Store, StoreError

__all__ = ["Store", "StoreError"]
