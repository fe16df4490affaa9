"""The Zendesk connector: `connectors.contract.Connector` over webhook, client and mapping."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable, Mapping

from connectors.api_user import ApiUser
from connectors.contract import UPDATE_STEP, Progress, WriteStep, run_steps
from connectors.errors import PermanentError
from connectors.http import HelpdeskSession
from connectors.model import BatchJob, FollowUp, Ticket, TicketEvent, TicketUpdate, parse_instant
from zendesk import mapping, webhook
from zendesk.client import ZendeskClient, basic_auth
from zendesk.settings import ZendeskSettings

FIRST_PASS_LOOKBACK_SECONDS = 3600
# Zendesk: at most 100 tickets per show_many call and per update_many job; a job has run once its status is one of these.
BATCH_SIZE = 100
JOB_DONE = frozenset({"completed", "failed"})
# The export also lists closed and deleted tickets; neither needs a decision.
CLOSED_STATUSES = frozenset({"closed", "deleted"})


class ZendeskConnector:
    """Verify and parse Zendesk webhooks, read tickets, write updates."""

    name = "zendesk"
    accepted_status = 202

    def __init__(self, settings: ZendeskSettings, session: HelpdeskSession | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.due_metrics = frozenset(settings.metric_field_ids)
        self.client = ZendeskClient(session or HelpdeskSession.budgeted(
            settings.base_url, basic_auth(settings.email, settings.api_token), settings.rate_per_minute, sleep,
            settings.timeout_seconds))
        self.api_user = ApiUser(lambda: frozenset({str(self.client.me()["id"])}))

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the delivery is signed by a configured secret."""
        webhook.verify({k.lower(): v for k, v in headers.items()}, body, self.settings.webhook_secrets, now,
                       self.settings.tolerance_seconds, self.settings.allow_test_secret)

    def parse(self, headers: Mapping[str, str], body: bytes, fields: bool = True) -> TicketEvent:
        """Parse a verified delivery; raise MalformedPayload naming what is wrong (`fields`: connectors.contract)."""
        return webhook.parse({k.lower(): v for k, v in headers.items()}, body, fields)

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        """Read the ticket fresh through the API."""
        return self._ticket(ticket_id, self.client.get_ticket(ticket_id))

    def apply_update(self, update: TicketUpdate, idempotency_key: str) -> Ticket:
        """Write fields, tags and the internal note in one PUT, unmarked (a direct write; the deliverer
        uses `update_steps`); ConflictError (409) is not retried here."""
        if update.is_empty():
            return self.fetch_ticket(update.ticket_id)
        return self._ticket(update.ticket_id, self.client.update_ticket(update.ticket_id, self._body(update)))

    def version_at(self, updated_at: datetime) -> str:
        """The updated_stamp of the ticket as of `updated_at`: a safe update is refused (409) if it changed since."""
        return updated_at.astimezone(timezone.utc).strftime(mapping.STAMP_FORMAT)

    def update_steps(self, update: TicketUpdate, key: str) -> list[WriteStep]:
        """One PUT (fields, tags and the internal note); with a note, marked by `key` in the audit metadata."""
        if update.is_empty():
            return []
        body = self._body(update)
        if "comment" not in body["ticket"]:
            # Fields and tags only: sending it twice leaves the ticket the same.
            return [WriteStep(UPDATE_STEP, lambda progress: self._put(update.ticket_id, body))]
        body["ticket"]["metadata"] = mapping.audit_metadata(key)
        return [WriteStep(UPDATE_STEP, lambda progress: self._put(update.ticket_id, body), idempotent=False,
                          landed=lambda progress: self._landed(update.ticket_id, key))]

    def reply_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        """A public comment in its own PUT (a ticket update carries one comment), not a safe update: our own
        internal note may just have moved the stamp, and the reply must not be lost to a 409. Marked like a note."""
        body = {"ticket": {"comment": {"body": text, "public": True}, "metadata": mapping.audit_metadata(key)}}
        return [WriteStep("reply", lambda progress: self._put(ticket_id, body), idempotent=False,
                          landed=lambda progress: self._landed(ticket_id, key))]

    def close_steps(self, ticket_id: str, text: str, key: str) -> list[WriteStep]:
        """Close the ticket and post the follow-up in ONE PUT: "Status: closed prevents ticket update", so nothing
        can follow the close. With a comment it is marked like a note; without, it is a plain idempotent PUT."""
        body: dict = {"ticket": {"status": "closed"}}
        if not text:
            return [WriteStep("close", lambda progress: self._put(ticket_id, body))]
        body["ticket"].update(comment={"body": text, "public": True}, metadata=mapping.audit_metadata(key))
        return [WriteStep("close", lambda progress: self._put(ticket_id, body), idempotent=False,
                          landed=lambda progress: self._landed(ticket_id, key))]

    def follow_up_steps(self, follow_up: FollowUp, key: str) -> list[WriteStep]:
        """Create the linked ticket: the Idempotency-Key answers a resend within two hours, and its
        external_id finds it later."""
        try:
            body = mapping.follow_up_body(follow_up, key)
        except ValueError as e:
            raise PermanentError(f"Zendesk follow-up of {follow_up.original_id}: {e}") from e
        external_id = body["ticket"]["external_id"]

        def landed(progress: Progress) -> str | None:
            found = self.client.tickets_by_external_id(external_id)
            return str(found[0]["id"]) if found else None
        return [WriteStep("create", lambda progress: str(self.client.create_ticket(body, key)["id"]),
                          idempotent=False, landed=landed)]

    def add_public_reply(self, ticket_id: str, text: str, idempotency_key: str) -> None:
        """Post the public reply straight away (outside the outbox)."""
        run_steps(self.reply_steps(ticket_id, text, idempotency_key))

    def create_follow_up(self, follow_up: FollowUp, idempotency_key: str) -> str:
        """Create the linked ticket straight away (outside the outbox); return its id."""
        return run_steps(self.follow_up_steps(follow_up, idempotency_key))["create"]

    def _body(self, update: TicketUpdate) -> dict:
        try:
            return mapping.update_body(update, self.settings)
        except ValueError as e:
            raise PermanentError(f"Zendesk ticket {update.ticket_id}: {e}") from e

    def _put(self, ticket_id: str, body: dict) -> dict:
        """PUT the ticket; the version it left, for the reconciler."""
        return {"updated_at": self.client.update_ticket(ticket_id, body).get("updated_at")}

    def _landed(self, ticket_id: str, key: str) -> dict | None:
        """Look for the update marked `key` among the newest comments by our API user: their audits
        carry the metadata it was sent with. The version it left, or None when absent."""
        for comment in self.client.recent_comments(ticket_id):
            if comment.get("audit_id") is None or not self.is_own_actor(str(comment.get("author_id"))):
                continue
            audit = self.client.show_audit(ticket_id, comment["audit_id"])
            if mapping.is_marked(audit, key):
                return {"updated_at": audit.get("created_at")}
        return None

    def fetch_tickets(self, ticket_ids: list[str]) -> dict[str, Ticket]:
        """Read many tickets, 100 per call (show_many); a missing id is simply absent from the result."""
        found: dict[str, Ticket] = {}
        for start in range(0, len(ticket_ids), BATCH_SIZE):
            for ticket_json in self.client.show_many(ticket_ids[start:start + BATCH_SIZE]):
                ticket_id = str(ticket_json.get("id"))
                found[ticket_id] = self._ticket(ticket_id, ticket_json)
        return found

    def start_updates(self, updates: list[TicketUpdate], keys: list[str] | None = None) -> list[BatchJob]:
        """Queue the updates in update_many jobs of up to 100 (a note marked with its row's key in `keys`); the
        jobs, for `job_applied`. Batch jobs are always safe updates and need each ticket's `updated_stamp`, so
        every update must carry its version."""
        jobs = []
        for start in range(0, len(updates), BATCH_SIZE):
            chunk = updates[start:start + BATCH_SIZE]
            bodies = []
            for n, update in enumerate(chunk, start):
                if not update.version:
                    raise PermanentError(f"Zendesk ticket {update.ticket_id}: a batch update needs its updated_stamp")
                ticket = {"id": int(update.ticket_id), **mapping.batch_update_body(update, self.settings)["ticket"]}
                if keys and "comment" in ticket:
                    # Whether update_many keeps audit metadata is undocumented: a row it did not report as
                    # applied is read back before it is sent on its own.
                    ticket["metadata"] = mapping.audit_metadata(keys[n])
                bodies.append(ticket)
            job = self.client.update_many(bodies)
            jobs.append(BatchJob(str(job["id"]), tuple(u.ticket_id for u in chunk)))
        return jobs

    def job_applied(self, job: BatchJob) -> dict[str, bool] | None:
        """Ticket id → whether the job applied it, once it has run (None while queued or working); a ticket the
        results leave out was not applied."""
        status = self.client.job_status(job.id)
        if status.get("status") not in JOB_DONE:
            return None
        applied = {str(r.get("id")): bool(r.get("success", r.get("status") in ("Updated", "Created")))
                   for r in status.get("results") or [] if isinstance(r, dict)}
        return {ticket_id: applied.get(ticket_id, False) for ticket_id in job.ticket_ids}

    def _ticket(self, ticket_id: str, ticket_json: dict) -> Ticket:
        try:
            return mapping.ticket_from_api(ticket_json, self.settings)
        except (KeyError, TypeError, ValueError) as e:
            raise PermanentError(f"Zendesk ticket {ticket_id}: unreadable ticket JSON: {e!r}") from e

    def changed_tickets(self, cursor: str | None, now: datetime) -> tuple[list[tuple[str, datetime]], str]:
        """(ticket id, updated_at) of open tickets changed since `cursor`, and the cursor to resume from."""
        # Zendesk wants start_time at least a minute in the past; a first pass looks back one hour.
        page = self.client.incremental_tickets(start_time=int(now.timestamp()) - FIRST_PASS_LOOKBACK_SECONDS) \
            if cursor is None else self.client.incremental_tickets(cursor=cursor)
        changes: list[tuple[str, datetime]] = []
        while True:
            changes += [(str(t["id"]), updated) for t in page.get("tickets", [])
                        if t.get("status") not in CLOSED_STATUSES and (updated := parse_instant(t.get("updated_at")))]
            cursor = page.get("after_cursor") or cursor
            if page.get("end_of_stream") or not page.get("after_cursor"):
                return changes, cursor
            page = self.client.incremental_tickets(cursor=cursor)

    def actor_groups(self, actor_id: str) -> frozenset[str]:
        """The Zendesk groups an agent belongs to; none for the system actor (-1) or any id that is no user's."""
        if not (str(actor_id).isascii() and str(actor_id).isdigit() and int(actor_id) > 0):
            return frozenset()
        return frozenset(str(m["group_id"]) for m in self.client.group_memberships(actor_id))

    def open_tickets_per_member(self, group_id: str, ticket_id: str) -> dict[str, int]:
        """Unsolved tickets assigned to each member of the group (Search counts them: new, open, pending, hold)."""
        members = dict.fromkeys(str(m["user_id"]) for m in self.client.group_members(group_id))
        return {user: self.client.search_count(f"type:ticket assignee:{user} status<solved") for user in members}

    def is_own_actor(self, actor_id: str | None) -> bool:
        """True when the change was made by slaclock's API user (read once through `me()`)."""
        return self.api_user.is_actor(actor_id)
