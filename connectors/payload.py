"""Reading webhook payloads: decode the body safely, then read values where they are used.

Every reader accepts any JSON value and answers a neutral one (an empty object, None, no tags)
when the value is missing or of the wrong type: the payload is a hint, never the source of truth.
Instants are read with :func:`as_instant`.

:func:`decode_object` is the one guard every decoder (both webhooks, the vendor API) goes through: a
signed body can still be hostile, and whatever it holds must end in a 400 naming the problem, never
in a crash further on (RecursionError, int-string limit, OverflowError, UnicodeEncodeError at the
SQLite insert).
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Callable

from connectors.errors import MalformedPayload
from connectors.model import parse_instant

# Neither helpdesk nests a payload deeper than about ten levels; anything far deeper is refused before
# a recursive reader (json.dumps, repr, a handler) meets it.
MAX_DEPTH = 64
# The longest integer literal accepted. Helpdesk ids and epoch milliseconds are at most 19 digits;
# Python refuses to convert more than 4,300 digits (sys.int_info.default_max_str_digits) with a ValueError.
MAX_INT_DIGITS = 40
# A lone UTF-16 surrogate (JSON allows the escape "\ud800") cannot be encoded as UTF-8, so SQLite would
# refuse it at the insert; it is replaced by U+FFFD here, as a UTF-8 decoder with errors="replace" would.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
REPLACEMENT = "\ufffd"
# How much of an offending value an error message quotes.
SHOWN_CHARS = 60


def shown(value: Any) -> str:
    """`repr(value)` cut to SHOWN_CHARS characters, for error messages about payload values."""
    text = repr(value) if not isinstance(value, (list, dict)) else f"a JSON {type(value).__name__}"
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def _int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise MalformedPayload(f"body has an integer of {digits} digits (at most {MAX_INT_DIGITS} accepted)")
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise MalformedPayload(f"body has a number out of range: {shown(literal)}")
    return value


def _constant(name: str) -> float:
    # Python's json reads NaN, Infinity and -Infinity, which JSON does not have.
    raise MalformedPayload(f"body has {name}, which is not JSON")


def _loads(text: str, strict: bool) -> Any:
    try:
        return json.loads(text, strict=strict, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise MalformedPayload(f"body is nested deeper than {MAX_DEPTH} levels") from None


def _checked(payload: Any, replace_surrogates: bool) -> Any:
    """`payload` within MAX_DEPTH, its lone surrogates (in keys and strings) replaced; an iterative walk."""
    def clean(text: str) -> str:
        return _SURROGATE.sub(REPLACEMENT, text) if replace_surrogates else text

    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise MalformedPayload(f"body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            if replace_surrogates:
                items = [(clean(k), clean(v) if isinstance(v, str) else v) for k, v in node.items()]
                node.clear()
                node.update(items)
            pending.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            if replace_surrogates:
                node[:] = [clean(v) if isinstance(v, str) else v for v in node]
            pending.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return payload


def decode_object(body: bytes, repair: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The body as a JSON object; raise MalformedPayload naming what is wrong.

    Refused: not UTF-8, not JSON, not an object, nested deeper than MAX_DEPTH, integers longer than
    MAX_INT_DIGITS, numbers beyond a float, NaN/Infinity. Lone surrogates become U+FFFD.

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
        payload = _loads(text, strict=repair is None)
    except json.JSONDecodeError as e:
        payload = None
        if repair is not None:
            try:
                payload = _loads(repair(text), strict=False)
            except json.JSONDecodeError:
                pass
        if payload is None:
            raise MalformedPayload(f"body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    # Escapes are the only way a surrogate gets in: the UTF-8 decode above refuses encoded ones. A body with no
    # more brackets than MAX_DEPTH cannot nest deeper: most webhooks skip the walk, a Python loop over every node.
    surrogates = bool(_SURROGATE_ESCAPE.search(text))
    if surrogates or text.count("{") + text.count("[") > MAX_DEPTH:
        payload = _checked(payload, replace_surrogates=surrogates)
    return _object_of(payload)


def _object_of(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedPayload(f"body is a JSON {type(payload).__name__}, expected an object")
    return payload


def as_instant(value: Any) -> datetime | None:
    """An ISO instant as aware UTC (:func:`parse_instant`); None also when it lies beyond the years 1–9999
    once moved to UTC (e.g. `0001-01-01T00:00+01:00`, where parse_instant raises OverflowError)."""
    try:
        return parse_instant(value)
    except (OverflowError, ValueError):
        return None


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
