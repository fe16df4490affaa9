"""Jira admin webhooks: REST v2 payloads with changelog items, `X-Hub-Signature`, Atlassian delivery headers."""
from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from sandbox.jira.fields import PRIORITIES, STATUSES
from sandbox.jira.shapes import JiraJson, epoch_millis, jira_time
from sandbox.jira.store import IssueRecord, JiraStore
from sandbox.records import Change, Mutation
from sandbox.sender import Delivery, Outgoing

# Atlassian retries 408, 409, 425, 429, 5xx and failed connections; only 200 and 204 count as delivered.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
DELIVERED_STATUSES = frozenset({200, 204})
COMMENT_ISSUE_FIELDS = {"summary", "issuetype", "project", "assignee", "priority", "status"}


def sign(secret: str, body: bytes) -> str:
    """`sha256=` + lower-case hex HMAC-SHA256(secret, raw body) (WebSub style)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class JiraProtocol:
    """Atlassian's delivery: identifier stable across retries, retry count header, signature when a secret is set."""

    def __init__(self, secret: str | None):
        self.secret = secret

    def invocation_id(self, outgoing: Outgoing) -> str:
        return outgoing.event_id

    def headers(self, delivery: Delivery, body: bytes, attempt: int) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": delivery.invocation_id,
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if attempt:
            headers["X-Atlassian-Webhook-Retry"] = str(attempt)
        if self.secret:
            headers["X-Hub-Signature"] = sign(self.secret, body)
        return headers

    def delivered(self, status: int) -> bool:
        return status in DELIVERED_STATUSES

    def retryable(self, status: int | None) -> bool:
        return status is None or status in RETRYABLE_STATUSES or status >= 500


SATISFACTION_FIELD_ID = "customfield_10034"


def _user_name(store: JiraStore, account_id: str | None) -> str | None:
    user = store.user(account_id)
    return user.display_name if user else None


def changelog_item(item: Change, store: JiraStore) -> dict[str, Any]:
    """One Cloud changelog item: `field`, `fieldtype`, `fieldId`, raw `from`/`to` and display strings."""
    name, previous, current = item.field, item.previous, item.current
    entry: dict[str, Any] = {"field": name, "fieldtype": "jira", "fieldId": name}
    if name == "priority":
        ids = dict((n, i) for i, n in PRIORITIES)
        entry.update({"from": ids.get(previous), "fromString": previous, "to": ids.get(current), "toString": current})
    elif name == "status":
        entry.update({"from": STATUSES[previous][0], "fromString": previous, "to": STATUSES[current][0],
                      "toString": current})
    elif name == "assignee":
        # Cloud: account ids in from/to and in tmpFromAccountId/tmpToAccountId.
        entry.update({"from": previous, "fromString": _user_name(store, previous), "to": current,
                      "toString": _user_name(store, current), "tmpFromAccountId": previous,
                      "tmpToAccountId": current})
    elif name == "labels":
        # Labels travel as one space-separated string.
        entry.update({"from": None, "fromString": " ".join(previous), "to": None, "toString": " ".join(current)})
    elif name == "satisfaction":
        # JSM's Satisfaction field: a custom field whose id differs per site.
        entry.update({"field": "Satisfaction", "fieldtype": "custom", "fieldId": SATISFACTION_FIELD_ID,
                      "from": None, "fromString": None if previous is None else str(previous),
                      "to": None, "toString": str(current)})
    elif name in store.fields:
        spec = store.fields[name]
        entry.update({"field": spec.name, "fieldtype": "custom"})
        if spec.kind == "select":
            entry.update({"from": spec.option_id(previous) if previous else None, "fromString": previous,
                          "to": spec.option_id(current) if current else None, "toString": current})
        elif spec.kind == "datetime":
            entry.update({"from": jira_time(previous) if previous else None,
                          "fromString": f"{previous:%d/%b/%y %I:%M %p}" if previous else None,
                          "to": jira_time(current) if current else None,
                          "toString": f"{current:%d/%b/%y %I:%M %p}" if current else None})
        else:
            entry.update({"from": None, "fromString": previous, "to": None, "toString": current})
    else:
        entry.update({"from": None, "fromString": previous, "to": None, "toString": current})
    return entry


def _event_type_name(items: tuple[Change, ...]) -> str:
    names = {item.field for item in items}
    if names == {"assignee"}:
        return "issue_assigned"
    if "status" in names:
        status = next(item.current for item in items if item.field == "status")
        return "issue_resolved" if STATUSES[status][1] == "done" else "issue_generic"
    return "issue_updated"


def build_payloads(mutation: Mutation[IssueRecord], store: JiraStore, site_url: str) -> list[Outgoing]:
    """The webhooks one mutation sends: issue created, issue updated with its changelog, or comment created."""
    issue, items, v2 = mutation.record, mutation.field_changes, JiraJson(store, site_url, version=2)
    common = {"timestamp": epoch_millis(issue.updated)}
    payloads: list[dict[str, Any]] = []
    if mutation.created:
        payloads.append({**common, "webhookEvent": "jira:issue_created", "issue_event_type_name": "issue_created",
                         "user": v2.user(mutation.actor_id), "issue": v2.issue(issue)})
    if items:
        payloads.append({**common, "webhookEvent": "jira:issue_updated",
                         "issue_event_type_name": _event_type_name(items),
                         "user": v2.user(mutation.actor_id), "issue": v2.issue(issue),
                         "changelog": {"id": str(mutation.audit_id),
                                       "items": [changelog_item(item, store) for item in items]}})
    if mutation.comment is not None:
        # comment_* events carry no `user`; the issue's fields are cut down to a few.
        payloads.append({**common, "webhookEvent": "comment_created", "comment": v2.comment(issue, mutation.comment),
                         "issue": v2.issue(issue, COMMENT_ISSUE_FIELDS)})
    return [Outgoing(str(uuid.uuid4()), p["webhookEvent"], issue.key, p) for p in payloads]
