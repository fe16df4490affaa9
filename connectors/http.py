"""The HTTP session every helpdesk client uses: timeouts, typed errors, retries, rate budget."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import requests
from urllib3.exceptions import ConnectTimeoutError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

import metrics
from connectors.budget import RateBudget
from connectors.errors import ApiError, ConflictError, OutcomeUnknown, PermanentError, RetryableError
from connectors.model import parse_instant

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


# Rate-limit headers as the helpdesks state them (names are case-insensitive; requests' headers are too).
# Jira: https://developer.atlassian.com/cloud/jira/platform/rate-limiting/ (reference jira.md §2.10): `Retry-After`
# seconds; `Beta-Retry-After` seconds for the points-based quota; `X-RateLimit-Reset` an ISO instant
# (yyyy-MM-ddTHH:mmZ, "the request timestamp plus the Retry-After period"); `X-RateLimit-Remaining` of
# `X-RateLimit-Limit`; `X-RateLimit-NearLimit: true` when "less than 20% of any budget remains".
# Zendesk: https://developer.zendesk.com/documentation/api-basics/best-practices/best-practices-for-avoiding-rate-limiting
# (reference zendesk.md §2.7): `X-Rate-Limit` (the account's requests per minute), `X-Rate-Limit-Remaining`
# "for the current minute", and on list endpoints `ratelimit-remaining` with `ratelimit-reset` in seconds.
WAIT_HEADERS = ("Retry-After", "Beta-Retry-After")
# Jira does not say how long "near the limit" lasts: the budget is halved for a minute, and the next
# response says again.
NEAR_LIMIT_SECONDS = 60.0
# Jira's share that counts as near (its NearLimit threshold), for a response with numbers but no flag.
NEAR_LIMIT_SHARE = 0.2
# Zendesk's X-Rate-Limit-Remaining is for the current minute; without ratelimit-reset, assume a whole one.
ZENDESK_WINDOW_SECONDS = 60.0


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date; both helpdesks send seconds, so fall back to the other headers or backoff


def _until(value: str | None, now: datetime) -> float | None:
    """Seconds from `now` to an ISO instant header (Jira's X-RateLimit-Reset); None when absent or unreadable."""
    try:
        reset = parse_instant(value) if value else None
    except (ValueError, OverflowError):
        return None
    return max(0.0, (reset - now).total_seconds()) if reset else None


def stated_wait(response: requests.Response, now: datetime) -> float | None:
    """How long the helpdesk says to wait before asking again: the longest of Retry-After and Beta-Retry-After
    (re-asking early "will fail and return the same or longer" wait), else Jira's X-RateLimit-Reset, else
    Zendesk's ratelimit-reset; None when it says nothing."""
    waits = [w for w in (_seconds(response.headers.get(h)) for h in WAIT_HEADERS) if w is not None]
    if waits:
        return max(waits)
    reset = _until(response.headers.get("X-RateLimit-Reset"), now)
    return reset if reset is not None else _seconds(response.headers.get("ratelimit-reset"))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def observe_limits(budget: RateBudget, response: requests.Response, now: datetime) -> None:
    """Lower `budget` when the response's rate-limit headers say the account is close to its limit."""
    headers = response.headers
    # Zendesk: the account's limit per minute, and what is left of it until ratelimit-reset (or the minute).
    zendesk_limit = _number(headers.get("X-Rate-Limit") or headers.get("ratelimit-limit"))
    zendesk_left = _number(headers.get("ratelimit-remaining") or headers.get("X-Rate-Limit-Remaining"))
    if zendesk_limit is not None or zendesk_left is not None:
        reset = _seconds(headers.get("ratelimit-reset"))
        budget.observe(remaining=zendesk_left, limit_per_minute=zendesk_limit,
                       reset_seconds=reset if reset is not None else ZENDESK_WINDOW_SECONDS)
        return
    # Jira: its window is not published; a reset instant comes with 429s, the NearLimit flag with others.
    left, limit = _number(headers.get("X-RateLimit-Remaining")), _number(headers.get("X-RateLimit-Limit"))
    reset = _until(headers.get("X-RateLimit-Reset"), now)
    if left is not None and reset:
        budget.observe(remaining=left, reset_seconds=reset)
    elif (headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true"
          or (left is not None and limit and left < NEAR_LIMIT_SHARE * limit)):
        budget.observe(near_limit_seconds=NEAR_LIMIT_SECONDS)


def error_for(response: requests.Response, now: datetime | None = None) -> ApiError:
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
        return RetryableError(message, status, stated_wait(response, now or datetime.now(timezone.utc)))
    return PermanentError(message, status)


class HelpdeskSession:
    """Send JSON requests to one helpdesk with auth, timeouts, retries and a rate budget."""

    def __init__(self, base_url: str, auth: Any = None, budget: RateBudget | None = None,
                 attempts: int = 5, timeout: Any = DEFAULT_TIMEOUT,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.base_url = base_url.rstrip("/")
        self.http = session or requests.Session()
        self.http.auth = auth
        self.http.headers.update({"Accept": "application/json", "User-Agent": "slaclock/0.1"})
        self.budget = budget
        self.attempts = attempts
        self.timeout = timeout
        self.sleep = sleep
        self.now = now  # the wall clock, for reset instants (the budget keeps its own monotonic clock)

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
        if self.budget and (waited := self.budget.acquire()):
            metrics.budget_wait(path, waited)
        url = self.base_url + path
        # What a non-idempotent write cannot tell apart from success: the answer, not the request, was lost.
        lost = OutcomeUnknown if not idempotent else RetryableError
        try:
            response = self.http.request(method, url, json=json, headers=headers, params=params, timeout=self.timeout)
        except requests.Timeout as e:
            metrics.api_call(method, path, "timeout")
            raise (RetryableError if _not_sent(e) else lost)(f"{method} {path}: timed out") from e
        except requests.ConnectionError as e:
            metrics.api_call(method, path, "connection-error")
            raise (RetryableError if _not_sent(e) else lost)(f"{method} {path}: connection failed") from e
        metrics.api_call(method, path, response.status_code)  # by connector, endpoint template and status
        if self.budget:
            observe_limits(self.budget, response, self.now())
        if response.status_code >= 400:
            error = error_for(response, self.now())
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
