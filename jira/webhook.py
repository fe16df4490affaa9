"""Jira webhooks: verify `X-Hub-Signature` on the raw bytes, then parse the delivery into a TicketEvent.

Admin webhooks (Jira Cloud and Server/Data Center) post the issue in the REST v2 shape, with a
`webhookEvent` name and, for edits, a `changelog`. Field values here are Jira's own (priority and status
names, account ids); they are hints only: the processor re-reads the issue before deciding anything.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from connectors.errors import MalformedPayload, SignatureError
from connectors.model import TicketEvent
from connectors.payload import as_instant, as_object, as_tags, as_text, decode_object, shown
from jira.mapping import adf_text

CONNECTOR = "jira"
SIGNATURE_HEADER = "x-hub-signature"
# Jira automation's "Send web request" cannot sign its body (reference jira.md §1.3: "Automation web requests
# are unsigned: check a shared-secret header"): the rule sends one of JIRA_WEBHOOK_SECRET in this custom header
# instead. The receiver does not keep it with the delivery (only x-atlassian-/x-hub- headers are stored).
SECRET_HEADER = "x-slaclock-webhook-secret"
IDENTIFIER_HEADER = "x-atlassian-webhook-identifier"
# `timestamp` is epoch milliseconds; datetime reaches the end of year 9999 (253402300799999 ms).
MAX_MILLIS = 253_402_300_799_999

# A project key has at most 255 characters (Cloud allows 10 by default); issue numbers and ids are 64-bit.
_ISSUE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,254}-[0-9]{1,19}$")
_ISSUE_ID = re.compile(r"^[0-9]{1,19}$")
# `comment.self` is …/rest/api/2/issue/{issue id}/comment/{comment id}.
_COMMENT_SELF = re.compile(r"/issue/([0-9]{1,19})/comment/[0-9]+/?$")


# --- signature ---------------------------------------------------------------------------------

def sign(secret: str, body: bytes) -> str:
    """Jira's (WebSub-style) signature header value: `sha256=` + hex HMAC-SHA256(secret, raw body)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secrets: tuple[str, ...] | list[str]) -> None:
    """Raise SignatureError unless `body` is signed by one of `secrets` (headers have lower-case keys).

    With no secret configured, deliveries are accepted unsigned: Jira signs only admin webhooks that
    have a secret, and `JiraSettings.problems()` reports the missing secret.
    """
    keys = [s for s in secrets if s]
    if not keys:
        return
    given = (headers.get(SIGNATURE_HEADER) or "").strip()
    shared = headers.get(SECRET_HEADER)
    if not given and shared is not None:
        # An automation rule's request: the secret itself, compared in constant time (never echoed).
        shared_bytes = shared.strip().encode("utf-8", "replace")
        if not any(hmac.compare_digest(key.encode("utf-8"), shared_bytes) for key in keys):
            raise SignatureError("X-Slaclock-Webhook-Secret does not match any configured secret")
        return
    if not given:
        raise SignatureError("missing X-Hub-Signature header (or X-Slaclock-Webhook-Secret from an automation rule; "
                             "a Jira webhook secret is configured)")
    algorithm, sep, digest = given.partition("=")
    if not sep or algorithm != "sha256" or not digest:
        raise SignatureError("X-Hub-Signature is not of the form sha256=<hex digest>")
    given_bytes = given.encode("utf-8", "replace")
    if not any(hmac.compare_digest(sign(key, body).encode("ascii"), given_bytes) for key in keys):
        raise SignatureError("X-Hub-Signature does not match the body for any configured secret")


# --- reading values ----------------------------------------------------------------------------

def _account(user: Any) -> str | None:
    """A user's id: Cloud `accountId`; Server/DC has no accountId, so its user `key`, then `name`."""
    user = as_object(user)
    for key in ("accountId", "key", "name"):
        if as_text(user.get(key)):
            return user[key].strip()
    return None


def _millis(value: Any) -> datetime | None:
    """The payload's `timestamp` (epoch milliseconds); None when absent; MalformedPayload when absurd."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not 0 <= value <= MAX_MILLIS:  # also refuses 1e30, which fromtimestamp answers with OverflowError
        raise MalformedPayload(f"timestamp {shown(value)} is not epoch milliseconds between 1970 and 9999")
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


# --- handlers: one per event type, each returns TicketEvent.fields ------------------------------

def _snapshot(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What `issue.fields` says; only keys the payload carries (comment events truncate the fields)."""
    issue = as_object(payload.get("issue"))
    fields = as_object(issue.get("fields"))
    found: dict[str, Any] = {}
    issue_id = issue.get("id")
    if isinstance(issue_id, int) and not isinstance(issue_id, bool):
        issue_id = str(issue_id)  # automation's "Issue data (Automation format)" sends the id as a number
    if as_text(issue_id):
        found["issue_id"] = issue_id.strip()
    if "status" in fields:
        status = as_object(fields["status"])
        found["status_name"] = as_text(status.get("name"))
        found["status_category"] = as_text(as_object(status.get("statusCategory")).get("key"))
    if "priority" in fields:
        found["priority_name"] = as_text(as_object(fields["priority"]).get("name"))
    if "assignee" in fields:
        found["assignee_id"] = _account(fields["assignee"])
    if "reporter" in fields:
        found["requester_id"] = _account(fields["reporter"])
    if "labels" in fields:
        found["tags"] = as_tags(fields["labels"])
    for name, key in (("created_at", "created"), ("updated_at", "updated")):
        if key in fields:
            found[name] = as_instant(fields[key])
    return found


# JSM's request-feedback field: its id differs per site, its name does not. A change means the customer rated
# (or re-rated) the request, read then from the request's feedback.
SATISFACTION_FIELD = "Satisfaction"


def _changes(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`changelog.items` as current/previous values; custom fields by id (Server: by display name)."""
    found: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    changed: list[str] = []
    items = as_object(payload.get("changelog")).get("items")
    for item in items if isinstance(items, list) else []:
        item = as_object(item)
        # Cloud names the field by `fieldId`; Server/DC only by `field` (the display name for custom fields).
        field_id = as_text(item.get("fieldId")) or as_text(item.get("field"))
        if field_id is None:
            continue
        is_custom = item.get("fieldtype") == "custom" or field_id.startswith("customfield_")
        key = field_id if is_custom else field_id.lower()
        changed.append(key)
        if item.get("field") == SATISFACTION_FIELD:
            found["satisfaction_changed"] = True
        if key == "priority":
            found["priority_name"] = as_text(item.get("toString"))
            found["previous_priority_name"] = as_text(item.get("fromString"))
        elif key == "status":
            found["status_name"] = as_text(item.get("toString"))
            found["previous_status_name"] = as_text(item.get("fromString"))
        elif key == "labels":
            now, before = as_tags(item.get("toString")), as_tags(item.get("fromString"))
            found.update(tags=now, previous_tags=before, tags_added=now - before, tags_removed=before - now)
        elif key == "assignee":
            # Cloud keeps legacy user names in from/to and the account ids in tmp*AccountId.
            found["assignee_id"] = as_text(item.get("tmpToAccountId")) or as_text(item.get("to"))
            found["previous_assignee_id"] = as_text(item.get("tmpFromAccountId")) or as_text(item.get("from"))
        elif is_custom:
            custom[key] = item.get("toString")
    if custom:
        found["custom_fields"] = custom
    if changed:
        found["changed"] = tuple(changed)
    return found


def _comment(payload: Mapping[str, Any]) -> dict[str, Any]:
    comment = as_object(payload.get("comment"))
    if not comment:
        return {}
    public = comment.get("jsdPublic")
    found = {
        "comment_id": as_text(comment.get("id")),
        # JSM Cloud only: false for an internal note; absent on Server/DC and in some non-service projects,
        # where the processor asks the API (JiraConnector.comment_is_public).
        "comment_public": public if isinstance(public, bool) else None,
        "comment_author_id": _account(comment.get("author")),
        "comment_created_at": as_instant(comment.get("created")),
        "comment_updated_at": as_instant(comment.get("updated")),
        # Webhooks carry the v2 shape (a wiki-markup string); an ADF document is read as its text.
        "comment_body": as_text(adf_text(comment.get("body"))),
    }
    if as_object(comment.get("visibility")):
        # A comment restricted to a project role or group (Comment.visibility, in every project type and on
        # Server) is hidden from the customer, whatever jsdPublic says.
        found["comment_public"] = False
    if as_object(comment.get("author")).get("accountType") == "customer":
        # Cloud names JSM portal customers by accountType "customer"; "atlassian" may be an agent or a customer
        # with an Atlassian account, so only this one value decides (else: the requester rule).
        found["comment_author_is_staff"] = False
    return found


def _issue_event(payload: Mapping[str, Any]) -> dict[str, Any]:
    # The snapshot wins over the changelog's current values: Server/DC changelogs name users by user
    # name where the snapshot has the user key. A comment can also arrive as jira:issue_updated
    # (issue_commented) carrying a `comment` object.
    return {**_changes(payload), **_snapshot(payload), **_comment(payload)}


def _comment_event(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {**_snapshot(payload), **_comment(payload)}


HANDLERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "jira:issue_created": _issue_event,
    "jira:issue_updated": _issue_event,
    "comment_created": _comment_event,
    "comment_updated": _comment_event,
}

IGNORED_EVENTS = frozenset({
    # The issue or comment is gone: nothing to decide; the sweep's reconciliation sees the 404 and closes the case.
    "jira:issue_deleted", "comment_deleted",
    # Time tracking, files, links between issues and apps' entity properties: no bearing on owner,
    # priority or the SLA clock. (`jira:worklog_updated` is the older name some sites still send.)
    "worklog_created", "worklog_updated", "worklog_deleted", "jira:worklog_updated",
    "attachment_created", "attachment_deleted",
    "issuelink_created", "issuelink_deleted",
    "issue_property_set", "issue_property_deleted",
    # Site configuration and planning objects, not tickets: sent when an admin webhook subscribes to "all events".
    "issuetype_created", "issuetype_updated", "issuetype_deleted",
    "project_created", "project_updated", "project_deleted", "project_soft_deleted", "project_restored_deleted",
    "project_archived", "project_restored_archived",
    "jira:version_created", "jira:version_updated", "jira:version_deleted", "jira:version_released",
    "jira:version_unreleased", "jira:version_moved", "jira:version_merged",
    "filter_created", "filter_updated", "filter_deleted",
    "user_created", "user_updated", "user_deleted",
    "option_voting_changed", "option_watching_changed", "option_unassigned_issues_changed",
    "option_subtasks_changed", "option_issuelinks_changed", "option_timetracking_changed",
    "option_timetracking_provider_changed",
    "sprint_created", "sprint_updated", "sprint_deleted", "sprint_started", "sprint_closed",
    "board_created", "board_updated", "board_deleted", "board_configuration_changed",
    # Notices for Connect/Forge apps, not for an admin webhook.
    "app_access_to_objects_blocked", "app_access_to_objects_in_container_blocked",
    "jira_expression_evaluation_failed",
})


# --- parsing -----------------------------------------------------------------------------------

def parse(headers: Mapping[str, str], body: bytes, fields: bool = True) -> TicketEvent:
    """Parse a verified delivery (headers with lower-case keys); raise MalformedPayload naming the problem.
    `fields=False`: `TicketEvent.fields` left empty (the handlers read values and never refuse a payload).

    The delivery key is the hash of the body, the only thing Jira signs (no timestamp, reference jira.md
    §1.3), not the unsigned `X-Atlassian-Webhook-Identifier`: a captured body sent again under a new or
    missing identifier is the same delivery. A retry of an event carries the same body, so it keeps its
    key; distinct events differ in `timestamp` (milliseconds) and content.
    """
    payload = unwrapped(decode_object(body))
    event_type = event_type_of(payload)
    key = "sha256:" + hashlib.sha256(body).hexdigest()
    common = dict(connector=CONNECTOR, delivery_key=f"{CONNECTOR}:{key}", event_type=event_type,
                  occurred_at=_millis(payload.get("timestamp")))
    if event_type in IGNORED_EVENTS:
        return TicketEvent(ticket_id=_issue_key(payload, required=False), ignored=True, **common)
    handler = HANDLERS.get(event_type)
    if handler is None:
        raise MalformedPayload(f"unknown Jira webhook event {shown(event_type)}")
    return TicketEvent(ticket_id=_issue_key(payload, required=True), actor_id=_actor(event_type, payload),
                       fields=handler(payload) if fields else {}, **common)


def is_bare_issue(payload: Mapping[str, Any]) -> bool:
    """True for a bare issue: automation's "Send web request" with *Issue data (Automation format)* posts the
    issue itself, `{"self", "id", "key", "changelog", "fields"}`, without the `issue` wrapper
    (https://support.atlassian.com/cloud-automation/docs/issue-data-automation-format-payload-for-send-web-request)."""
    return ("issue" not in payload and "webhookEvent" not in payload and isinstance(payload.get("fields"), dict)
            and isinstance(payload.get("key"), str))


def unwrapped(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload in the webhook shape: a bare issue (automation) becomes `{"issue": …}`; its changelog is
    the issue's (`histories`, no `items`), so there is none of a webhook's."""
    return {"issue": payload} if is_bare_issue(payload) else payload


def event_type_of(payload: Mapping[str, Any]) -> str:
    """`webhookEvent`, or what an old payload without one must be."""
    event = payload.get("webhookEvent")
    if event is not None:
        if not as_text(event):
            raise MalformedPayload(f"webhookEvent is not an event name: {shown(event)}")
        return event.strip()
    # Old Server/DC deliveries and workflow post-function webhooks carry no webhookEvent.
    name = as_text(payload.get("issue_event_type_name"))
    if name:
        # Admins can define their own issue events; all of them are issue updates.
        return {"issue_created": "jira:issue_created", "issue_deleted": "jira:issue_deleted"}.get(
            name, "jira:issue_updated")
    if "transition" in payload or "changelog" in payload:
        return "jira:issue_updated"
    comment = payload.get("comment")
    if isinstance(comment, dict):
        edited = comment.get("updated") not in (None, comment.get("created"))
        return "comment_updated" if edited else "comment_created"
    if isinstance(payload.get("issue"), dict):
        # JSM Server's SLA webhook action posts just {"issue": …, "timestamp": …}; an automation rule the bare
        # issue (unwrapped above). Either way: the issue changed or needs a look.
        return "jira:issue_updated"
    raise MalformedPayload("no webhookEvent, and the body is neither an issue nor a comment event")


def _issue_key(payload: Mapping[str, Any], required: bool) -> str | None:
    issue = payload.get("issue")
    if isinstance(issue, dict):
        key = issue.get("key")
        if as_text(key) and _ISSUE_KEY.match(key.strip()):
            return key.strip()
        if required:
            raise MalformedPayload("issue.key is missing" if key in (None, "") else f"invalid issue key {shown(key)}")
        return None
    # Some old Jira versions post comment events without an `issue`; the comment's URL names the issue id,
    # which every endpoint accepts in place of the key.
    match = _COMMENT_SELF.search(as_text(as_object(payload.get("comment")).get("self")) or "")
    if match:
        return match.group(1)
    if required:
        raise MalformedPayload("issue is missing (no issue.key, and no comment.self naming the issue)")
    return None


def _actor(event_type: str, payload: Mapping[str, Any]) -> str | None:
    comment = as_object(payload.get("comment"))
    if event_type == "comment_created":
        return _account(comment.get("author"))
    if event_type == "comment_updated":
        return _account(comment.get("updateAuthor")) or _account(comment.get("author"))
    return _account(payload.get("user"))

