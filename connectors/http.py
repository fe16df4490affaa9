"""The HTTP session every helpdesk client uses: timeouts, typed errors, retries, rate budget."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

import requests
from urllib3.exceptions import ConnectTimeoutError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connectors.budget import RateBudget
from connectors.errors import ApiError, ConflictError, OutcomeUnknown, PermanentError, RetryableError

logger = logging.getLogger(__name__)

# Connect/read timeouts in seconds: a helpdesk that has not answered in 30 s is treated as down
# and the call is retried, rather than holding a worker.
DEFAULT_TIMEOUT = (5, 30)
# A Retry-After longer than this is not waited out in-process; the row is retried later instead.
MAX_RETRY_AFTER = 120.0
# In-process waits of one request stop adding up beyond this: a claimed outbox row is taken over by another
# worker after store.sqlite.STALE_CLAIM_SECONDS (300 s), and the request must have given up long before that.
MAX_TOTAL_WAIT = 150.0
# Methods that change nothing: retried freely unless the caller says otherwise.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _not_sent(error: requests.RequestException) -> bool:
    """True when the request surely never reached the helpdesk: a connect timeout or a refused connection.

    requests wraps urllib3's connect failures (NewConnectionError is a ConnectTimeoutError) in
    MaxRetryError; a reset or timeout after the request went out has another reason.
    """
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, ConnectTimeoutError)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date; both helpdesks send seconds, so fall back to backoff


def error_for(response: requests.Response) -> ApiError:
    """Map an unsuccessful response to the connector error taxonomy (body never includes secrets)."""
    status = response.status_code
    try:
        detail = response.json()
    except ValueError:
        detail = response.text[:200]
    message = f"{response.request.method} {response.request.path_url} → {status}: {detail}"
    if status == 409:
        return ConflictError(message, status)
    if status == 429 or status >= 500:
        return RetryableError(message, status, _retry_after(response))
    return PermanentError(message, status)


class HelpdeskSession:
    """Send JSON requests to one helpdesk with auth, timeouts, retries and a rate budget."""

    def __init__(self, base_url: str, auth: Any = None, budget: RateBudget | None = None,
                 attempts: int = 5, timeout: Any = DEFAULT_TIMEOUT,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = session or requests.Session()
        self.http.auth = auth
        self.http.headers.update({"Accept": "application/json", "User-Agent": "slaclock/0.1"})
        self.budget = budget
        self.attempts = attempts
        self.timeout = timeout
        self.sleep = sleep

    @classmethod
    def budgeted(cls, base_url: str, auth: Any, per_minute: float,
                 sleep: Callable[[float], None] = time.sleep,
                 timeout_seconds: float = DEFAULT_TIMEOUT[1]) -> "HelpdeskSession":
        """A session whose requests stay within `per_minute` (what a connector builds by default)."""
        return cls(base_url, auth=auth, budget=RateBudget(per_minute, sleep=sleep), sleep=sleep,
                   timeout=(min(DEFAULT_TIMEOUT[0], timeout_seconds), timeout_seconds))

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        return wait_exponential_jitter(initial=1, max=30)(state)

    def _send_once(self, method: str, path: str, json: Any, headers: Mapping[str, str] | None,
                   params: Mapping[str, Any] | None, idempotent: bool) -> requests.Response:
        if self.budget:
            self.budget.acquire()
        url = self.base_url + path
        # What a non-idempotent write cannot tell apart from success: the answer, not the request, was lost.
        lost = OutcomeUnknown if not idempotent else RetryableError
        try:
            response = self.http.request(method, url, json=json, headers=headers, params=params, timeout=self.timeout)
        except requests.Timeout as e:
            raise (RetryableError if _not_sent(e) else lost)(f"{method} {path}: timed out") from e
        except requests.ConnectionError as e:
            raise (RetryableError if _not_sent(e) else lost)(f"{method} {path}: connection failed") from e
        if response.status_code >= 400:
            error = error_for(response)
            if not idempotent and response.status_code >= 500:
                # A 502/503/504 may come from a proxy after the helpdesk applied the request.
                raise OutcomeUnknown(str(error), error.status, error.retry_after)
            raise error
        return response

    def _stop(self, state: RetryCallState) -> bool:
        # tenacity computes the coming sleep before asking whether to stop.
        return (stop_after_attempt(self.attempts)(state)
                or state.idle_for + (state.upcoming_sleep or 0) > MAX_TOTAL_WAIT)

    def request(self, method: str, path: str, json: Any = None, headers: Mapping[str, str] | None = None,
                params: Mapping[str, Any] | None = None, idempotent: bool | None = None) -> Any:
        """Send one request; return the decoded JSON body (or None).

        Reads and idempotent writes (`idempotent`, default: GET/HEAD/OPTIONS only) are retried on
        429, 5xx and timeouts. A non-idempotent write is retried only when it surely did not apply
        (429, connect failure); a read timeout, a reset after sending or a 5xx raise OutcomeUnknown.
        """
        idempotent = method.upper() in SAFE_METHODS if idempotent is None else idempotent
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, RetryableError) and not isinstance(e, OutcomeUnknown)),
            stop=self._stop,
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=lambda s: logger.warning(
                "helpdesk.retry", extra={"path": path, "attempt": s.attempt_number,
                                         "error": str(s.outcome.exception()) if s.outcome else None}),
        )
        response = retrying(self._send_once, method, path, json, headers, params, idempotent)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()
