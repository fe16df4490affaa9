"""Error types shared by all connectors.

    WebhookError                  a delivery we refuse (carries the HTTP status to answer)
    ├── SignatureError            401: missing, stale or wrong signature
    └── MalformedPayload          400: not JSON, missing ticket id, unknown event type …
    ApiError                      a helpdesk API call failed
    ├── RetryableError            429, 5xx, timeout, connection error (may carry retry_after)
    │   └── OutcomeUnknown        a non-idempotent write may or may not have landed: read back before re-sending
    ├── ConflictError             409: the ticket changed since we read it (safe_update)
    └── PermanentError            any other 4xx: retrying will not help
"""
from __future__ import annotations


class WebhookError(Exception):
    status = 400


class SignatureError(WebhookError):
    status = 401


class MalformedPayload(WebhookError):
    status = 400


class ApiError(Exception):
    """A failed helpdesk API call; `status` is the HTTP status or None for transport errors."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RetryableError(ApiError):
    pass


class OutcomeUnknown(RetryableError):
    """The request was sent but its answer was lost (read timeout, reset after sending, 5xx): it may have applied."""


class ConflictError(ApiError):
    pass


class PermanentError(ApiError):
    pass
