"""The Jira connector: `connectors.contract.Connector` over webhook, client and mapping."""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from connectors.api_user import ApiUser
from connectors.contract import Progress, WriteStep, failure_lines, run_steps
from connectors.errors import PermanentError
from connectors.http import HelpdeskSession
from connectors.model import FollowUp, Rating, Ticket, TicketEvent, TicketUpdate, parse_instant
from jira import mapping, webhook
from jira.client import JiraClient, adf, basic_auth
from jira.settings import JiraSettings

# A first reconciliation pass looks back one hour (as Zendesk's does). Later passes overlap the previous
# one by two minutes: JQL compares at minute resolution and the two clocks differ; the store skips repeats.
FIRST_PASS_LOOKBACK = timedelta(hours=1)
RECONCILE_OVERLAP = timedelta(minutes=2)
RECONCILE_FIELDS = ("updated", "status")
# search/jql is eventually consistent ("recent updates might not be immediately visible"): after an unknown
# outcome, an issue created meanwhile may not be found for a while. The delay is not documented; a minute
# is well above what Atlassian's indexing usually takes.
FOLLOW_UP_GRACE_SECONDS = 60.0


def _note(note: str | None, progress: Progress) -> str:
    """The internal note with one plain line per step Jira refused (the customer may hear of the change)."""
    failed = failure_lines(progress)
    if failed and not note:
        return "slaclock: " + "\n".join(failed)
    return "\n".join([note] + failed) if note else ""


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
            settings.base_url, basic_auth(settings.email, settings.api_token), settings.rate_per_minute, sleep,
            settings.timeout_seconds))
        self.api_user = ApiUser(self._own_ids)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the delivery is signed by a configured secret.

        Jira signs no timestamp, so `now` is unused: a replayed delivery is caught by its delivery key.
        """
        webhook.verify({k.lower(): v for k, v in headers.items()}, body, self.settings.webhook_secrets)

    def parse(self, headers: Mapping[str, str], body: bytes, fields: bool = True) -> TicketEvent:
        """Parse a verified delivery; raise MalformedPayload naming what is wrong.

        With JIRA_PROJECTS set, events for issues of other projects are ignored.
        """
        event = webhook.parse({k.lower(): v for k, v in headers.items()}, body, fields)
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

    def ticket_from_delivery(self, body: bytes) -> Ticket | None:
        """The issue a jira:issue_* webhook carries (the whole issue, in REST v2 form), when it holds every
        field fetch_ticket asks for; comment events carry a cut-down issue, so they return None."""
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if not isinstance(payload, dict) or not str(payload.get("webhookEvent", "")).startswith("jira:issue_"):
            return None
        fields = (payload.get("issue") or {}).get("fields")
        if not isinstance(fields, dict) or any(f not in fields for f in mapping.fields_to_read(self.settings)):
            return None
        try:
            return mapping.ticket_from_api(payload["issue"], self.settings)
        except (KeyError, ValueError, TypeError, AttributeError):
            return None  # read it instead: fetch_ticket names what is wrong

    def fetch_rating(self, ticket_id: str) -> Rating | None:
        """The request's CSAT feedback (JSM), or None while the customer has given none (404)."""
        try:
            return mapping.rating_from_feedback(self.client.request_feedback(ticket_id))
        except PermanentError as e:
            if e.status != 404:
                raise
            return None

    def apply_update(self, update: TicketUpdate, idempotency_key: str) -> Ticket:
        """Write the fields in one edit, watchers, link, then the internal note, unmarked (a direct write;
        the deliverer uses `update_steps`); return the issue as re-read afterwards.

        Jira has no conditional write (Zendesk's safe_update) and no idempotency key, so `update.version`
        and `idempotency_key` are not sent: concurrent edits are last-write-wins per field, which is why
        only the changed fields are sent. A 409 from Jira means its own concurrent-write lock, not
        "changed since read"; it surfaces as ConflictError and the deliverer reads and decides again.
        """
        if not update.is_empty():
            run_steps(self._write_steps(update, None))
        return self.fetch_ticket(update.ticket_id)

    def update_steps(self, update: TicketUpdate, key: str) -> list[WriteStep]:
        """edit, watcher:<id>…, link:<problem>, note (marked by `key`).

        A watcher or link Jira refuses does not stop the rest: the note says what could not be done. No read
        follows: the write's own webhook carries the issue's new version (the processor records it as seen)."""
        return [] if update.is_empty() else self._write_steps(update, key)

    def _write_steps(self, update: TicketUpdate, key: str | None) -> list[WriteStep]:
        try:
            body = mapping.edit_body(update, self.settings)
        except ValueError as e:
            raise PermanentError(f"Jira issue {update.ticket_id}: {e}") from e
        issue, steps = update.ticket_id, []
        if body["fields"]:
            steps.append(WriteStep("edit", lambda progress: self._edit(issue, body)))
        for account_id in sorted(update.followers_add):
            steps.append(WriteStep(f"watcher:{account_id}",
                                   lambda progress, account=account_id: self.client.add_watcher(issue, account),
                                   essential=False, failure=f"add watcher {account_id}"))
        if update.status:
            steps.append(WriteStep("transition", lambda progress: self._move_to(issue, update.status)))
        if update.problem_id:
            steps.append(WriteStep(f"link:{update.problem_id}",
                                   lambda progress: self.client.link_issues(issue, update.problem_id),
                                   essential=False, failure=f"link to {update.problem_id}"))
        if update.note or (key and any(not step.essential for step in steps)):
            # Also without a note of its own when a watcher or link may be refused: the note then names it.
            steps.append(WriteStep("note", lambda progress: self._add_note(issue, _note(update.note, progress), key),
                                   idempotent=False, landed=(lambda progress: self._landed(issue, key))
                                   if key else None))
        return steps

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

    def _add_note(self, key: str, note: str, marker_key: str | None) -> str | None:
        """Post the internal note (the id of the comment), or nothing when there is nothing to say."""
        if not note:
            return None
        try:
            # servicedeskapi takes only body and public: the marker is the note's last line.
            marked = f"{note}\n{mapping.note_ref(marker_key)}" if marker_key else note
            return str(self.client.add_internal_comment(key, marked).get("id"))
        except PermanentError as e:
            # servicedeskapi answers 404 for an issue outside a service project (or a site without JSM);
            # the platform API with the sd.public.comment property still keeps the note internal.
            if e.status != 404:
                raise
            properties = [mapping.comment_marker(marker_key)] if marker_key else []
            return str(self.client.add_platform_comment(key, note, properties=properties).get("id"))

    def reply_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        """A public comment through the platform API (public by default: jsdPublic), marked by a property."""
        def send(progress: Progress) -> str:
            return str(self.client.add_platform_comment(ticket_id, text, internal=False,
                                                        properties=[mapping.comment_marker(key)]).get("id"))
        return [WriteStep("reply", send, idempotent=False, landed=lambda progress: self._landed(ticket_id, key))]

    def close_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        """The transition to a closed status, then the follow-up as a public comment (a closed issue still takes
        comments)."""
        steps = [WriteStep("transition", lambda progress: self._move_to(ticket_id, "closed"))]
        return steps + (self.reply_steps(ticket_id, text, key) if text else [])

    def _move_to(self, key: str, status: str) -> None:
        """Make the workflow transition whose target status maps to `status` ("open": any not-done one). Asked
        afresh on every send, so a resend after the issue got there does nothing."""
        wanted = ("open", "new") if status == "open" else (status,)
        offered = []
        for transition in self.client.transitions(key):
            to = transition.get("to") or {}
            neutral = mapping.status_from_jira(to.get("name"), (to.get("statusCategory") or {}).get("key"),
                                               self.settings)
            offered.append((wanted.index(neutral) if neutral in wanted else len(wanted), str(transition.get("id"))))
        best = min(offered, default=(len(wanted), ""))
        if best[0] < len(wanted):
            self.client.transition(key, best[1])
        elif self.fetch_ticket(key).status not in wanted:
            raise PermanentError(f"Jira issue {key}: its workflow offers no transition to a {status} status now")

    def add_public_reply(self, ticket_id: str, text: str, idempotency_key: str) -> None:
        """Post the public reply straight away (outside the outbox)."""
        run_steps(self.reply_steps(ticket_id, text, idempotency_key))

    def _landed(self, key: str, marker_key: str) -> str | None:
        """The id of the comment marked `marker_key` among the issue's newest, or None.

        A JSM note carries the ref line in its text; a platform comment carries the property, read for our
        own comments only (one comment/list call)."""
        ref, own = mapping.note_ref(marker_key), []
        for comment in self.client.recent_comments(key):
            # Jira may render the note's lines as one paragraph with hard breaks: search the text, not lines.
            if ref in mapping.adf_text(comment.get("body")):
                return str(comment.get("id"))
            author = (comment.get("author") or {}).get("accountId")
            if str(comment.get("id", "")).isdigit() and self.is_own_actor(author):
                own.append(int(comment["id"]))
        if own:
            for comment in self.client.comments_by_ids(own):
                if mapping.has_marker(comment, marker_key):
                    return str(comment.get("id"))
        return None

    def comment_is_public(self, ticket_id: str, comment_id: str) -> bool:
        """Whether the customer sees a comment whose webhook said nothing about it (Jira Server/DC, projects that
        are not service projects), as the API states it.

        First the `sd.public.comment` property JSM keeps on internal comments ({"internal": true}); when the
        comment has none, JSM's request comment `public` flag; when that answers 404 the project is no service
        project, and there every comment is public."""
        try:
            marker = self.client.comment_property(comment_id, mapping.INTERNAL_PROPERTY_KEY).get("value")
            if isinstance(marker, dict) and isinstance(marker.get("internal"), bool):
                return not marker["internal"]
        except PermanentError as e:
            if e.status != 404:
                raise
        try:
            return self.client.request_comment(ticket_id, comment_id).get("public") is not False
        except PermanentError as e:
            if e.status != 404:
                raise
            return True

    def actor_groups(self, actor_id: str) -> frozenset[str]:
        """The Jira groups of an account (by group id)."""
        return frozenset(str(g["groupId"]) for g in self.client.user_groups(actor_id) if g.get("groupId"))

    def open_tickets_per_member(self, group_id: str, ticket_id: str) -> dict[str, int]:
        """Unresolved issues assigned to each active member of the group who may be assigned this issue."""
        assignable = {u.get("accountId") for u in self.client.assignable_users(ticket_id)}
        members = dict.fromkeys(m["accountId"] for m in self.client.group_members(group_id)
                                if m.get("active", True) and m.get("accountId") in assignable)
        return {account: self.client.count_issues(f'assignee = "{account}" AND statusCategory != Done')
                for account in members}

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

    def follow_up_steps(self, follow_up: FollowUp, key: str) -> list[WriteStep]:
        """create (looked up by its label before every send), then link it to the original.

        Jira has no idempotency key: the new issue carries a label derived from `key`. Search is eventually
        consistent, so after an unknown outcome "no hit" is trusted only after FOLLOW_UP_GRACE_SECONDS.
        """
        label = "slaclock_fu_" + hashlib.sha256(key.encode()).hexdigest()[:16]
        project = follow_up.original_id.rsplit("-", 1)[0]
        fields: dict[str, Any] = {"project": {"key": project}, "summary": follow_up.subject,
                                  "description": adf(f"{follow_up.body}\n\nFollow-up of {follow_up.original_id}."),
                                  "issuetype": {"name": self.settings.follow_up_issue_type}, "labels": [label]}
        try:
            if follow_up.priority:
                fields["priority"] = {"name": mapping.priority_to_jira(follow_up.priority, self.settings)}
        except ValueError as e:
            raise PermanentError(f"Jira follow-up of {follow_up.original_id}: {e}") from e
        if follow_up.assignee_id:
            fields["assignee"] = {"accountId": follow_up.assignee_id}
        if follow_up.due_at:
            fields["duedate"] = parse_instant(follow_up.due_at).astimezone(timezone.utc).date().isoformat()

        def create(progress: Progress) -> str:
            # A first send needs no search: the deliverer counts sends, and a resend (or a direct call, which
            # records none) looks for the label first.
            first = progress.get("create", {}).get("sends") == 1
            return (None if first else self._labelled(label)) or str(self.client.create_issue(fields)["key"])

        def link(progress: Progress) -> None:
            self.client.link_issues(str(progress["create"]["result"]), follow_up.original_id)
        return [WriteStep("create", create, idempotent=False, landed=lambda progress: self._labelled(label),
                          grace=FOLLOW_UP_GRACE_SECONDS),
                WriteStep("link", link, essential=False, failure=f"link the follow-up to {follow_up.original_id}")]

    def create_follow_up(self, follow_up: FollowUp, idempotency_key: str) -> str:
        """Create the linked issue straight away (outside the outbox); return its key."""
        return run_steps(self.follow_up_steps(follow_up, idempotency_key))["create"]

    def _labelled(self, label: str) -> str | None:
        found = self.client.search_jql(f'labels = "{label}"', ["key"], max_results=1).get("issues") or []
        return str(found[0]["key"]) if found else None

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
