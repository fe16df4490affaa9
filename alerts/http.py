"""One POST to an alert endpoint, its failures in the connectors' error taxonomy. The URL may hold a
secret (a Slack incoming-webhook URL does), so no message names it: errors name the channel."""
from __future__ import annotations

from datetime import datetime, timezone

import requests

from connectors.errors import OutcomeUnknown, PermanentError, RetryableError
from connectors.http import _not_sent, stated_wait

# Connect / read timeouts in seconds: an alert endpoint that has not answered by then is retried later.
TIMEOUT = (5, 15)


def post(session: requests.Session, what: str, url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    """POST `body`; raise RetryableError (429, 5xx, not connected), OutcomeUnknown (sent, answer lost) or
    PermanentError (any other 4xx), each naming `what` (e.g. "Slack channel oncall") and never the URL."""
    try:
        response = session.post(url, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as e:
        if isinstance(e, requests.ConnectionError) and _not_sent(e) or isinstance(e, requests.ConnectTimeout):
            raise RetryableError(f"{what}: could not connect ({type(e).__name__})") from None
        raise OutcomeUnknown(f"{what}: sent, no answer ({type(e).__name__})") from None
    if response.status_code < 300:
        return response
    detail = response.text[:200].strip()
    message = f"{what} → {response.status_code}" + (f": {detail}" if detail else "")
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(message, response.status_code, stated_wait(response, datetime.now(timezone.utc)))
    raise PermanentError(message, response.status_code)
