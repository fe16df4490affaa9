"""The Jira connector: `connectors.contract.Connector` over webhook, client and mapping."""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from connectors.api_user import ApiUser
from connectors.errors import PermanentError
from connectors.http import HelpdeskSession
from connectors.model import FollowUp, Ticket, TicketEvent, TicketUpdate, parse_instant
from jira import mapping, webhook
from jira.client import JiraClient, adf, basic_auth
from jira.settings import JiraSettings

# A first reconciliation pass looks back one hour (as Zendesk's does). Later passes overlap the previous
# one by two minutes: JQL compares at minute resolution and the two clocks differ; the store skips repeats.
FIRST_PASS_LOOKBACK = timedelta(hours=1)
RECONCILE_OVERLAP = timedelta(minutes=2)
RECONCILE_FIELDS = ("updated", "status")


def changed_since_jql(minutes: int, projects: tuple[str, ...] = ()) -> str:
    """Bounded JQL for issues updated in the last `minutes`; relative dates avoid the API user's time zone."""
    scope = f"project in ({', '.join(projects)}) AND " if projects else ""
    return f'{scope}updated >= "-{minutes}m" ORDER BY updated ASC'


class JiraConnector:
    """Verify and parse Jira webhooks, read issues, write updates and internal notes."""

    name = "jira"
    # Atlassian counts only 200 and 204 as a delivered webhook; a 202 is logged as a failed delivery.
    accepted_status = 200

    def __init__(self, settings: JiraSettings, session: HelpdeskSession | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.due_metrics = frozenset(settings.metric_field_ids)
        self.client = JiraClient(session or HelpdeskSession.budgeted(
            settings.base_url, basic_auth(settings.email, settings.api_token), settings.rate_per_minute, sleep))
        self.api_user = ApiUser(self._own_ids)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the delivery is signed by a configured secret.

        Jira signs no timestamp, so `now` is unused: a replayed delivery is caught by its delivery key.
        """
        webhook.verify({k.lower(): v for k, v in headers.items()}, body, self.settings.webhook_secrets)

    def parse(self, headers: Mapping[str, str], body: bytes) -> TicketEvent:
        """Parse a verified delivery; raise MalformedPayload naming what is wrong.

        With JIRA_PROJECTS set, events for issues of other projects are ignored.
        """
        event = webhook.parse({k.lower(): v for k, v in headers.items()}, body)
        project = (event.ticket_id or "").rpartition("-")[0]
        if self.settings.projects and project and project.upper() not in self.settings.projects:
            return replace(event, ignored=True, fields={})
        return event

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        """Read the issue fresh through the API (only the fields slaclock uses)."""
        issue = self.client.get_issue(ticket_id, mapping.fields_to_read(self.settings))
        try:
            return mapping.ticket_from_api(issue, self.settings)
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise PermanentError(f"Jira issue {ticket_id}: unreadable issue JSON: {e}") from e

    def apply_update(self, update: TicketUpdate, idempotency_key: str) -> Ticket:
        """Write the fields in one edit, then the internal note; return the issue as re-read afterwards.

        Jira has no conditional write (Zendesk's safe_update) and no idempotency key, so `update.version`
        and `idempotency_key` are not sent: concurrent edits are last-write-wins per field, which is why
        only the changed fields are sent. A 409 from Jira means its own concurrent-write lock, not
        "changed since read"; it surfaces as ConflictError and the deliverer reads and decides again.
        """
        if update.is_empty():
            return self.fetch_ticket(update.ticket_id)
        try:
            body = mapping.edit_body(update, self.settings)
        except ValueError as e:
            raise PermanentError(f"Jira issue {update.ticket_id}: {e}") from e
        if body["fields"]:
            self._edit(update.ticket_id, body)
        for account_id in sorted(update.followers_add):
            self.client.add_watcher(update.ticket_id, account_id)
        if update.problem_id:
            self.client.link_issues(update.ticket_id, update.problem_id)
        if update.note:
            self._add_note(update.ticket_id, update.note)
        return self.fetch_ticket(update.ticket_id)

    def _edit(self, key: str, body: dict[str, Any]) -> None:
        try:
            self.client.edit_issue(key, body)
        except PermanentError as e:
            assignee = body["fields"].get("assignee")
            # A 400 naming the assignee: the field is not on the project's edit screen. The assign
            # endpoint needs only the *Assign issues* permission, so write the rest and assign separately.
            if e.status != 400 or assignee is None or "assignee" not in str(e):
                raise
            rest = {name: value for name, value in body["fields"].items() if name != "assignee"}
            if rest:
                self.client.edit_issue(key, {"fields": rest})
            self.client.assign(key, assignee["accountId"])

    def _add_note(self, key: str, note: str) -> None:
        try:
            self.client.add_internal_comment(key, note)
        except PermanentError as e:
            # servicedeskapi answers 404 for an issue outside a service project (or a site without JSM);
            # the platform API with the sd.public.comment property still keeps the note internal.
            if e.status != 404:
                raise
            self.client.add_platform_comment(key, note)

    def add_public_reply(self, ticket_id: str, text: str, idempotency_key: str) -> None:
        """A public comment on the request; outside a service project, a plain platform comment."""
        try:
            self.client.add_public_comment(ticket_id, text)
        except PermanentError as e:
            if e.status != 404:
                raise
            self.client.add_platform_comment(ticket_id, text, internal=False)

    def actor_groups(self, actor_id: str) -> frozenset[str]:
        """The Jira groups of an account (by group id)."""
        return frozenset(str(g["groupId"]) for g in self.client.user_groups(actor_id) if g.get("groupId"))

    def native_sla(self, ticket_id: str) -> list[str]:
        """JSM's own SLA metrics for the request, one line each (for `slaclock explain`, beside ours)."""
        lines = []
        for metric in self.client.request_sla(ticket_id):
            cycle = metric.get("ongoingCycle") or (metric.get("completedCycles") or [{}])[-1]
            state = "running" if metric.get("ongoingCycle") else "completed"
            if cycle.get("paused"):
                state = "paused"
            breach = (cycle.get("breachTime") or {}).get("iso8601", "-")
            remaining = (cycle.get("remainingTime") or {}).get("friendly", "-")
            lines.append(f"{metric.get('name')}: {state}, breach at {breach}, remaining {remaining}"
                         + (", BREACHED" if cycle.get("breached") else ""))
        return lines

    def create_follow_up(self, follow_up: FollowUp, idempotency_key: str) -> str:
        """Create a linked issue in the original's project, once.

        Jira has no idempotency key: the new issue carries a label derived from `idempotency_key`,
        and a retry first looks for an issue with that label.
        """
        label = "slaclock_fu_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
        found = list(self.client.search_jql(f'labels = "{label}"', ["key"], max_results=1).get("issues") or [])
        if found:
            return str(found[0]["key"])
        project = follow_up.original_id.rsplit("-", 1)[0]
        fields: dict[str, Any] = {"project": {"key": project}, "summary": follow_up.subject,
                                  "description": adf(f"{follow_up.body}\n\nFollow-up of {follow_up.original_id}."),
                                  "issuetype": {"name": self.settings.follow_up_issue_type}, "labels": [label]}
        if follow_up.priority:
            fields["priority"] = {"name": mapping.priority_to_jira(follow_up.priority, self.settings)}
        if follow_up.assignee_id:
            fields["assignee"] = {"accountId": follow_up.assignee_id}
        created = self.client.create_issue(fields)
        self.client.link_issues(created["key"], follow_up.original_id)
        return str(created["key"])

    def changed_tickets(self, cursor: str | None, now: datetime) -> tuple[list[tuple[str, datetime]], str]:
        """(issue key, updated) of issues changed since `cursor` (the previous pass's `now`), and the next cursor."""
        # A cursor that is not one of ours starts afresh with a first pass.
        since = parse_instant(cursor) or now - FIRST_PASS_LOOKBACK
        minutes = max(1, math.ceil((now - since + RECONCILE_OVERLAP).total_seconds() / 60))
        changes: list[tuple[str, datetime]] = []
        for issue in self.client.search_all(changed_since_jql(minutes, self.settings.projects), RECONCILE_FIELDS):
            fields = issue.get("fields") or {}
            status = fields.get("status") or {}
            updated = parse_instant(fields.get("updated"))
            closed = mapping.status_from_jira(status.get("name"), (status.get("statusCategory") or {}).get("key"),
                                              self.settings) == "closed"
            if issue.get("key") and updated and not closed:
                changes.append((str(issue["key"]), updated))
        return changes, now.astimezone(timezone.utc).isoformat()

    def is_own_actor(self, actor_id: str | None) -> bool:
        """True when the change was made by slaclock's own account (read once through `myself()`)."""
        return self.api_user.is_actor(actor_id)

    def _own_ids(self) -> frozenset[str]:
        me = self.client.myself()
        # Cloud identifies users by accountId; Server/DC payloads carry the user key or name.
        return frozenset(str(me[k]) for k in ("accountId", "key", "name") if me.get(k))
