"""The clock jobs read; tests pass their own."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current instant, UTC-aware."""
    return datetime.now(timezone.utc)
