"""Reading webhook payloads: decode the body safely, then read values where they are used.

Every reader accepts any JSON value and answers a neutral one (an empty object, None, no tags)
when the value is missing or of the wrong type: the payload is a hint, never the source of truth.
Instants are read with :func:`connectors.model.parse_instant`.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from connectors.errors import MalformedPayload


def decode_object(body: bytes, repair: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The body as a JSON object; raise MalformedPayload naming what is wrong.

    `repair` is for bodies rendered from a template (Zendesk triggers): raw control characters are
    allowed inside strings, and a body that does not parse is parsed once more as `repair(text)`.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayload("body is not UTF-8 text") from None
    if not text.strip():
        raise MalformedPayload("body is empty")
    try:
        return _object_of(json.loads(text, strict=repair is None))
    except json.JSONDecodeError as e:
        if repair is not None:
            try:
                return _object_of(json.loads(repair(text), strict=False))
            except json.JSONDecodeError:
                pass
        raise MalformedPayload(f"body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


def _object_of(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedPayload(f"body is a JSON {type(payload).__name__}, expected an object")
    return payload


def as_object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str | None:
    """A string stripped of surrounding white space; None when blank or not a string."""
    return (value.strip() or None) if isinstance(value, str) else None


def as_tags(value: Any) -> frozenset[str]:
    """Tags or labels from a list of strings, or from one space-separated string (trigger placeholders,
    Jira changelogs)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(t.strip() for t in value if isinstance(t, str) and t.strip())
    return frozenset()
