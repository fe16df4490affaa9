"""Basic auth as both helpdesks check it (Zendesk: `email/token:token`, Jira: `email:token`)."""
from __future__ import annotations

import base64
import binascii
import hmac


def basic_auth_matches(header: str, expected: str) -> bool:
    """True when an `Authorization: Basic …` header carries exactly `expected` (compared in constant time)."""
    if not header.startswith("Basic "):
        return False
    try:
        credentials = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(credentials.encode(), expected.encode())
