"""Reading a connector's settings from the environment; every error names the variable and what it expects."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

# Neither helpdesk's limit is reached at 100 requests a minute (Zendesk Team allows 200; Atlassian
# publishes none for API tokens), which leaves room for agents' apps on the same account.
DEFAULT_RATE_PER_MINUTE = 100.0
# Far above either helpdesk's limit (Zendesk Enterprise Plus allows 2,500 a minute): a higher value is a typo.
MAX_RATE_PER_MINUTE = 100_000.0
# Seconds to wait for a helpdesk's answer before the call counts as timed out (and, for a write, as of
# unknown outcome); connecting gets at most 5 s of it.
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 300.0


class SettingsError(ValueError):
    """A setting that is missing, malformed or out of range; the message starts with the variable's name."""


@dataclass(frozen=True)
class HelpdeskSettings:
    """What every connector is configured with: where the helpdesk is, how to authenticate, and which
    custom fields slaclock writes."""

    base_url: str
    email: str
    api_token: str = field(repr=False)
    webhook_secrets: tuple[str, ...] = field(repr=False, default=())
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    reason_field_id: str | None = None
    due_field_id: str | None = None
    # Optional due-time fields for the other metrics: {"first_response": id, "next_update": id}.
    metric_field_ids: Mapping[str, str] = field(default_factory=dict)


def unmet(*requirements: tuple[object, str]) -> list[str]:
    """The line of each (value, line) requirement whose value is empty or false (for `slaclock check`)."""
    return [line for value, line in requirements if not value]


def site_url(env: Mapping[str, str], name: str, expected: str, *, bare: bool = False) -> str:
    """The http(s) URL in `name` without its trailing slash; "" when unset. `bare`: no query or fragment."""
    url = env.get(name, "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or (bare and (parts.query or parts.fragment)):
        raise ValueError(f"{name}: expected {expected}, got {url!r}")
    return url.rstrip("/")


def email_address(env: Mapping[str, str], name: str, expected: str, *, refused_suffix: str | None = None) -> str:
    """The email address in `name`; "" when unset."""
    email = env.get(name, "").strip()
    if email and ("@" not in email or (refused_suffix is not None and email.endswith(refused_suffix))):
        raise ValueError(f"{name}: expected {expected}, got {email!r}")
    return email


def field_id(env: Mapping[str, str], name: str, from_rules: str | None, rules_key: str, *,
             pattern: re.Pattern[str], expected: str) -> str | None:
    """A custom field id from `name`, else from the rules file's `rules_key`; None when neither is set."""
    raw = env.get(name, "").strip()
    source, value = (name, raw) if raw else (f"rules {rules_key}", (from_rules or "").strip())
    if value and not pattern.match(value):
        raise ValueError(f"{source}: expected {expected}, got {value!r}")
    return value or None


def number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False,
           minimum: float = 0, strict: bool = False, maximum: float | None = None) -> float:
    """The finite number in `name` (`default` when unset), at least `minimum` (`strict`: greater than it)
    and at most `maximum`; SettingsError naming the variable otherwise."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        # int() of a long digit string raises ValueError too (Python's 4,300-digit limit).
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected {'a whole' if integer else 'a'} number, got {raw[:40]!r}") from None
    if (not math.isfinite(value) or value < minimum or (strict and value == minimum)
            or (maximum is not None and value > maximum)):
        bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
        if maximum is not None:
            bound += f" and at most {maximum:g}"
        raise SettingsError(f"{name}: expected a number {bound}, got {raw[:40]!r}")
    return value


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True,
             "false": False, "0": False, "no": False, "off": False}


def boolean(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """The switch in `name` (true/false, 1/0, yes/no, on/off; `default` when unset); SettingsError otherwise."""
    raw = env.get(name, "")
    if not raw.strip():
        return default
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise SettingsError(f"{name}: expected true or false, got {raw!r}") from None


def timeout_seconds(env: Mapping[str, str]) -> float:
    """`SLACLOCK_HTTP_TIMEOUT_SECONDS`: how long a helpdesk call may take (both connectors)."""
    return number(env, "SLACLOCK_HTTP_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS, minimum=0, strict=True,
                  maximum=MAX_TIMEOUT_SECONDS)


def comma_list(env: Mapping[str, str], name: str, default: str = "") -> tuple[str, ...]:
    """The comma-separated values of `name` (of `default` when unset), stripped, blanks dropped."""
    return tuple(value.strip() for value in env.get(name, default).split(",") if value.strip())
