"""Fuzzed HTTP requests for the receiver (tests/faults/test_fuzz.py): hostile shapes, mutated fixtures,
random JSON and bytes, odd headers and content types, over every endpoint, signed and unsigned.

Everything is drawn from one `random.Random`, so a seed reproduces a run request for request.
"""
from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from jira.webhook import sign as jira_sign
from zendesk.webhook import sign as zendesk_sign

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MAX_BODY_BYTES = 1024 * 1024

# Field names both helpdesks use, so that random objects reach the handlers rather than stop at "unknown".
KEYS = ("type", "id", "time", "subject", "detail", "event", "ticket_id", "status", "priority", "tags", "group_id",
        "assignee_id", "requester_id", "organization_id", "created_at", "updated_at", "actor_id", "current",
        "previous", "comment", "author", "is_public", "is_staff", "custom_field", "custom_status", "value",
        "webhookEvent", "issue_event_type_name", "timestamp", "issue", "key", "fields", "labels", "changelog",
        "items", "field", "fieldId", "fieldtype", "fromString", "toString", "tmpToAccountId", "user", "accountId",
        "name", "self", "jsdPublic", "updateAuthor", "transition", "statusCategory", "reporter", "assignee",
        "ticket", "eta", "capacity_available", "note", "tags_added", "tags_removed", "meta")
EVENT_NAMES = ("zen:event-type:ticket.created", "zen:event-type:ticket.comment_added",
               "zen:event-type:ticket.tags_changed", "zen:event-type:ticket.custom_field_changed",
               "zen:event-type:ticket.status_changed", "zen:event-type:ticket.subject_changed", "ticket_updated",
               "ticket_created", "jira:issue_updated", "jira:issue_created", "comment_created", "comment_updated",
               "jira:issue_deleted", "worklog_created", "zen:event-type:user.created", "")
# Strings that break naive readers: quotes, escapes, control characters, lone surrogates, placeholders.
NASTY_TEXT = ("", " ", "\x00", "\\", '"', "\ud800", "\udfff", "a\ud83db", "\ud83d\ude00", "{{ticket.id}}", "-1",
              "0", "5158", "SD-42", "SD-" + "9" * 30, "9" * 25, "0001-01-01T00:00:00+01:00",
              "9999-12-31T23:59:59-01:00", "2025-01-08T10:20:30Z", "1e30", "NaN", "null", "zen:ticket:5158",
              "\u202e", "\ufeff", "ß" * 3, "\n\r\t", "x" * 5000, "/issue/123/comment/4")
# Literals spliced into JSON text, which json.dumps cannot produce: (placeholder, literal).
SPLICES = {
    "__HUGE_INT__": "9" * 5000,
    "__LONG_INT__": "1" + "0" * 45,
    "__NEG_INT__": "-" + "9" * 4400,
    "__DEEP__": "[" * 5000 + "]" * 5000,
    "__DEEP_OBJ__": '{"a":' * 3000 + "1" + "}" * 3000,
    "__NAN__": "NaN",
    "__INF__": "-Infinity",
    "__BIG_FLOAT__": "1e400",
    "__HUGE_TS__": "1e30",
    "__SURROGATE__": '"\\ud800"',
    "__LOW_SURROGATE__": '"x\\udc00y"',
}
# WSGI carries header values as latin-1 text.
HEADER_TEXT = string.printable.strip() + " éßÿ"
CONTENT_TYPES = ("application/json", "application/json; charset=utf-8", "text/plain", "application/xml",
                 "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded", "", "\u00e9/\u00e9",
                 "application/json; charset=latin-1")


@dataclass
class Request:
    """One request for Flask's test client; `what` says how it was made (for the report and failures)."""

    method: str
    path: str
    what: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        shown = {k: (v[:60] + "…" if len(v) > 60 else v) for k, v in self.headers.items()}
        return (f"{self.method} {self.path} [{self.what}] headers={shown} "
                f"body[:200]={self.body[:200]!r} ({len(self.body)} bytes)")


def _seeds(folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / folder).glob("*.json"))
            if not p.name.endswith(".headers.json") and not p.name.startswith("api_")]


class RequestFuzzer:
    """Draws requests for one receiver: its secrets, a valid vendor token, its fixed signing timestamp."""

    def __init__(self, rng: random.Random, *, zendesk_secret: str, jira_secret: str, vendor_token: str, stamp: str):
        self.rng, self.stamp = rng, stamp
        self.zendesk_secret, self.jira_secret, self.vendor_token = zendesk_secret, jira_secret, vendor_token
        self.seeds = {"zendesk": _seeds("zendesk"), "jira": _seeds("jira"),
                      "vendor": [b'{"ticket": "zendesk:1", "eta": "2026-03-03T10:00:00Z", "note": "Tuesday"}',
                                 b'{"ticket": "zendesk:1", "capacity_available": false}']}
        self.kinds: list[tuple[Callable[[], Request], int]] = [
            (self.zendesk, 30), (self.jira, 30), (self.vendor_eta, 15), (self.vendor_cases, 4),
            (self.health, 4), (self.elsewhere, 5),
        ]

    # --- requests per endpoint ---------------------------------------------------------------------

    def request(self) -> Request:
        makers, weights = zip(*self.kinds)
        return self.rng.choices(makers, weights)[0]()

    def zendesk(self) -> Request:
        body, what = self.body("zendesk")
        headers = self.odd_headers()
        signing = self.rng.random()
        stamp = self.stamp if self.rng.random() < 0.9 else self.rng.choice(
            ["", "1234", "0001-01-01T00:00:00+01:00", "2025-01-08T09:00:00Z", "x" * 300, "\u00e9"])
        if signing < 0.65:  # correctly signed: the body reaches the parser
            headers.update({"X-Zendesk-Webhook-Signature": zendesk_sign(self.zendesk_secret, stamp, body),
                            "X-Zendesk-Webhook-Signature-Timestamp": stamp})
            what += ",signed"
        elif signing < 0.85:
            headers.update({"X-Zendesk-Webhook-Signature": self.rng.choice(["", "x", "=" * 44, "\u00ff" * 10]),
                            "X-Zendesk-Webhook-Signature-Timestamp": stamp})
            what += ",bad-signature"
        else:
            what += ",unsigned"
        if self.rng.random() < 0.5:
            headers["X-Zendesk-Webhook-Invocation-Id"] = self.text(20, HEADER_TEXT)
        return Request("POST", "/webhooks/zendesk", what, body, headers)

    def jira(self) -> Request:
        body, what = self.body("jira")
        headers = self.odd_headers()
        signing = self.rng.random()
        if signing < 0.65:
            headers["X-Hub-Signature"] = jira_sign(self.jira_secret, body)
            what += ",signed"
        elif signing < 0.85:
            headers["X-Hub-Signature"] = self.rng.choice(["sha256=", "sha1=abc", "sha256=" + "0" * 64, "\u00e9=\u00e9",
                                                          jira_sign(self.jira_secret, body).upper()])
            what += ",bad-signature"
        else:
            what += ",unsigned"
        if self.rng.random() < 0.5:
            headers["X-Atlassian-Webhook-Identifier"] = self.text(36, HEADER_TEXT)
        return Request("POST", "/webhooks/jira", what, body, headers)

    def vendor_eta(self) -> Request:
        body, what = self.body("vendor")
        headers = self.odd_headers()
        token = self.rng.random()
        if token < 0.7:
            headers["Authorization"] = f"Bearer {self.vendor_token}"
            what += ",token"
        elif token < 0.9:
            headers["Authorization"] = self.rng.choice(["Bearer", "Bearer ", "Basic abc", "bearer x", "\u00e9 \u00e9",
                                                        "Bearer " + "t" * 5000])
            what += ",bad-token"
        method = self.rng.choices(["POST", "GET", "PUT", "DELETE"], [90, 4, 3, 3])[0]
        return Request(method, "/vendor/eta", what, body, headers)

    def vendor_cases(self) -> Request:
        headers = self.odd_headers()
        if self.rng.random() < 0.7:
            headers["Authorization"] = f"Bearer {self.vendor_token}"
        method = self.rng.choices(["GET", "POST", "HEAD"], [80, 10, 10])[0]
        return Request(method, "/vendor/cases", "cases", self.maybe_body(), headers)

    def health(self) -> Request:
        path = self.rng.choice(["/healthz", "/readyz"])
        method = self.rng.choices(["GET", "POST", "HEAD", "OPTIONS"], [80, 10, 5, 5])[0]
        return Request(method, path, "health", self.maybe_body(), self.odd_headers())

    def elsewhere(self) -> Request:
        path = self.rng.choice(["/", "/webhooks/", "/webhooks/freshdesk", "/webhooks/ZENDESK", "/webhooks/zendesk/",
                                "/webhooks/" + "a" * 3000, "/webhooks/%00", "/webhooks/%ff%fe", "/vendor",
                                "/vendor/eta/", "/vendor/cases/../eta", "/webhooks/jira?x=" + "%" * 10,
                                "/webhooks/zendesk?" + "a=1&" * 200, "/readyz/x"])
        method = self.rng.choice(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        return Request(method, path, "elsewhere", self.maybe_body(), self.odd_headers())

    # --- bodies ------------------------------------------------------------------------------------

    def body(self, kind: str) -> tuple[bytes, str]:
        """A body for `kind`'s endpoint, and how it was made."""
        roll = self.rng.random()
        if roll < 0.40:
            return self.mutated(self.rng.choice(self.seeds[kind])), "mutated"
        if roll < 0.55:
            return self.hostile(kind), "hostile"
        if roll < 0.75:
            return json.dumps(self.value(4)).encode(), "random-json"
        if roll < 0.82:
            return self.rng.choice(self.seeds[kind]), "fixture"
        if roll < 0.90:
            return self.rng.randbytes(self.rng.choice([0, 1, 7, 100, 4096])), "random-bytes"
        if roll < 0.98:
            return self.broken_text(self.rng.choice(self.seeds[kind])), "broken-text"
        return self.huge(), "huge"

    def maybe_body(self) -> bytes:
        return b"" if self.rng.random() < 0.7 else self.rng.randbytes(self.rng.randrange(64))

    def mutated(self, seed: bytes) -> bytes:
        """The seed with one to three values replaced (or keys added) by nasty ones, re-serialised."""
        try:
            payload = json.loads(seed)
        except ValueError:  # a fixture that is not JSON on purpose (an unescaped trigger placeholder)
            return self.broken_text(seed)
        for _ in range(self.rng.randint(1, 3)):
            payload = self._mutate(payload)
        return self._splice(json.dumps(payload, ensure_ascii=self.rng.random() < 0.8))

    def _mutate(self, payload: Any) -> Any:
        containers, pending = [], [payload]
        while pending:
            node = pending.pop()
            if isinstance(node, (dict, list)):
                containers.append(node)
                pending.extend(node.values() if isinstance(node, dict) else node)
        if not containers:
            return self.nasty()
        target = self.rng.choice(containers)
        if isinstance(target, dict):
            key = self.rng.choice(list(target) or [self.rng.choice(KEYS)]) if self.rng.random() < 0.8 \
                else self.rng.choice(KEYS + ("\ud800",))
            if self.rng.random() < 0.1:
                target.pop(key, None)
            else:
                target[key] = self.nasty()
        elif target:
            target[self.rng.randrange(len(target))] = self.nasty()
        else:
            target.append(self.nasty())
        return payload

    def nasty(self) -> Any:
        """A value that tends to break readers: wrong types, edge numbers, nasty text, a splice placeholder."""
        roll = self.rng.random()
        if roll < 0.25:
            return self.rng.choice(list(SPLICES))
        if roll < 0.5:
            return self.rng.choice(NASTY_TEXT)
        if roll < 0.6:
            return self.rng.choice(EVENT_NAMES)
        if roll < 0.75:
            return self.rng.choice([None, True, False, 0, -1, 2 ** 63, -2 ** 63 - 1, 1.5, 1e308, -0.0, [], {}])
        return self.value(3)

    def value(self, depth: int) -> Any:
        """Random JSON, objects keyed mostly by the helpdesks' field names."""
        roll = self.rng.random()
        if depth <= 0 or roll < 0.45:
            return self.rng.choice([
                lambda: self.rng.randint(-10 ** 20, 10 ** 20), lambda: self.rng.uniform(-1e15, 1e15),
                lambda: self.text(self.rng.choice([0, 1, 8, 40])), lambda: self.rng.choice(NASTY_TEXT),
                lambda: self.rng.choice(EVENT_NAMES), lambda: None, lambda: self.rng.random() < 0.5,
            ])()
        if roll < 0.7:
            return [self.value(depth - 1) for _ in range(self.rng.randint(0, 4))]
        return {self.rng.choice(KEYS) if self.rng.random() < 0.85 else self.text(6): self.value(depth - 1)
                for _ in range(self.rng.randint(0, 6))}

    def hostile(self, kind: str) -> bytes:
        """The shapes of issue 10, inside an otherwise plausible body."""
        splice = self.rng.choice(list(SPLICES))
        shells = {
            "zendesk": ['{"type": "zen:event-type:ticket.created", "id": "h1", '
                        '"detail": {"id": "5158", "actor_id": X}}',
                        '{"event": "ticket_updated", "ticket_id": X, "actor_id": X}',
                        '{"type": X, "detail": X, "time": X}'],
            "jira": ['{"webhookEvent": "jira:issue_updated", "timestamp": X, "issue": {"key": "SD-1", "fields": {}}}',
                     '{"webhookEvent": "comment_created", "timestamp": 1, "comment": {"author": {"accountId": X}},'
                     ' "issue": {"key": X}}', '{"webhookEvent": X, "issue": X, "user": {"accountId": X}}'],
            "vendor": ['{"ticket": X, "eta": "2026-03-03T10:00:00Z"}', '{"ticket": "zendesk:1", "eta": X}',
                       '{"ticket": "zendesk:1", "capacity_available": X, "note": X}'],
        }
        return self._splice(self.rng.choice(shells[kind]).replace("X", json.dumps(splice)))

    def broken_text(self, seed: bytes) -> bytes:
        """The seed cut, with a byte flipped, or with raw control characters and quotes inserted."""
        data = bytearray(seed)
        roll = self.rng.random()
        if roll < 0.3 and data:
            return bytes(data[:self.rng.randrange(len(data))])
        position = self.rng.randrange(len(data) + 1)
        insert = self.rng.choice([b'"', b"\\", b"\x00", b"\n", b"\xff", b"\xed\xa0\x80", b"{", b"]", b"\\u",
                                  b'\\ud800"', b"\"\"\"", b"'"])
        data[position:position] = insert
        return bytes(data)

    def huge(self) -> bytes:
        """Over the 1 MiB limit (413), or just under it."""
        size = MAX_BODY_BYTES + self.rng.choice([1, 1000]) if self.rng.random() < 0.7 else MAX_BODY_BYTES - 200
        filler = self.rng.choice(["x", "[", "9", " "])
        return ('{"padding": "' + filler * size + '"}').encode()[:size] if filler != "x" else \
            ('{"event": "ticket_updated", "ticket_id": "7", "note": "' + "x" * size + '"}').encode()

    def _splice(self, text: str) -> bytes:
        for placeholder, literal in SPLICES.items():
            text = text.replace(json.dumps(placeholder), literal)
        # An ensure_ascii=False dump may hold raw lone surrogates: send them as the escape a sender would.
        return text.encode("utf-8", "backslashreplace")

    # --- headers -----------------------------------------------------------------------------------

    def odd_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.rng.random() < 0.85:
            headers["Content-Type"] = self.rng.choice(CONTENT_TYPES)
        for _ in range(self.rng.choices([0, 1, 3], [70, 20, 10])[0]):
            name = self.rng.choice(["X-Zendesk-Webhook-Id", "X-Atlassian-Webhook-Retry", "User-Agent",
                                    "X-Forwarded-For", "Accept", "Content-Encoding", "Transfer-Encoding-X",
                                    "X-Zendesk-Account-Id", "X-Custom-" + self.text(5, string.ascii_letters)])
            headers[name] = self.rng.choice(["", "gzip", "\u00e9\u00ff", "x" * 8000, "1", "-1", "\t"])
        return headers

    def text(self, length: int, alphabet: str = string.printable + "éß漢\u202e") -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))
