"""The HTTP session every helpdesk client uses: timeouts, typed errors, retries, rate budget."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connectors.budget import RateBudget
from connectors.errors import ApiError, ConflictError, PermanentError, RetryableError

logger = logging.getLogger(__name__)

# Connect/read timeouts in seconds: a helpdesk that has not answered in 30 s is treated as down
# and the call is retried, rather than holding a worker.
DEFAULT_TIMEOUT = (5, 30)
# A Retry-After longer than this is not waited out in-process; the row is retried later instead.
MAX_RETRY_AFTER = 120.0


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
                 sleep: Callable[[float], None] = time.sleep) -> "HelpdeskSession":
        """A session whose requests stay within `per_minute` (what a connector builds by default)."""
        return cls(base_url, auth=auth, budget=RateBudget(per_minute, sleep=sleep), sleep=sleep)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        return wait_exponential_jitter(initial=1, max=30)(state)

    def _send_once(self, method: str, path: str, json: Any, headers: Mapping[str, str] | None,
                   params: Mapping[str, Any] | None) -> requests.Response:
        if self.budget:
            self.budget.acquire()
        url = self.base_url + path
        try:
            response = self.http.request(method, url, json=json, headers=headers, params=params, timeout=self.timeout)
        except requests.Timeout as e:
            raise RetryableError(f"{method} {path}: timed out") from e
        except requests.ConnectionError as e:
            raise RetryableError(f"{method} {path}: connection failed") from e
        if response.status_code >= 400:
            raise error_for(response)
        return response

    def request(self, method: str, path: str, json: Any = None, headers: Mapping[str, str] | None = None,
                params: Mapping[str, Any] | None = None) -> Any:
        """Send one request, retrying 429/5xx/timeouts; return the decoded JSON body (or None)."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=lambda s: logger.warning(
                "helpdesk.retry", extra={"path": path, "attempt": s.attempt_number,
                                         "error": str(s.outcome.exception()) if s.outcome else None}),
        )
        response = retrying(self._send_once, method, path, json, headers, params)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()
