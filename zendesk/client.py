"""A thin Zendesk Support API client: URL templates and one short method per endpoint.

Retries (429 + Retry-After, 5xx, timeouts), the rate budget and the error taxonomy live in
:class:`connectors.http.HelpdeskSession`; a 409 from ``safe_update`` surfaces as ``ConflictError``.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.http import HelpdeskSession

TICKET_URL = "/api/v2/tickets/{ticket_id}.json"
TICKETS_URL = "/api/v2/tickets.json"
COMMENTS_URL = "/api/v2/tickets/{ticket_id}/comments.json"
AUDIT_URL = "/api/v2/tickets/{ticket_id}/audits/{audit_id}.json"
ME_URL = "/api/v2/users/me.json"
INCREMENTAL_TICKETS_URL = "/api/v2/incremental/tickets/cursor.json"
UPDATE_MANY_URL = "/api/v2/tickets/update_many.json"
SHOW_MANY_URL = "/api/v2/tickets/show_many.json"
GROUP_MEMBERSHIPS_URL = "/api/v2/users/{user_id}/group_memberships.json"
# List Memberships of a group (documented beside the user's: GET /api/v2/groups/{group_id}/memberships).
GROUP_MEMBERS_URL = "/api/v2/groups/{group_id}/memberships.json"
SEARCH_COUNT_URL = "/api/v2/search/count.json"
JOB_STATUS_URL = "/api/v2/job_statuses/{job_id}.json"
TICKET_FIELDS_URL = "/api/v2/ticket_fields.json"
GROUPS_URL = "/api/v2/groups.json"
SHOW_MANY_USERS_URL = "/api/v2/users/show_many.json"
# The Webhooks API is not in the Support OpenAPI file; documented at
# https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks
TRIGGERS_URL = "/api/v2/triggers.json"
WEBHOOKS_URL = "/api/v2/webhooks"
WEBHOOK_URL = "/api/v2/webhooks/{webhook_id}"
WEBHOOK_SECRET_URL = "/api/v2/webhooks/{webhook_id}/signing_secret"
TICKET_FIELD_OPTIONS_URL = "/api/v2/ticket_fields/{field_id}/options.json"
# Cursor pagination: 100 is the documented maximum page size for comments.
COMMENTS_PAGE_SIZE = 100
# A read-back looks at this many of the newest comments: a lost write is looked for within minutes.
RECENT_COMMENTS = 10


def basic_auth(email: str, api_token: str) -> tuple[str, str]:
    """API-token basic auth: user `{email}/token`, password the token."""
    return (f"{email}/token", api_token)


def _ticket_path(template: str, ticket_id: str | int) -> str:
    # Ticket ids are positive integers; anything else would change the path.
    if not (str(ticket_id).isascii() and str(ticket_id).isdigit()):
        raise ValueError(f"invalid Zendesk ticket id {ticket_id!r}")
    return template.format(ticket_id=int(ticket_id))


def _webhook_id(webhook_id: str) -> str:
    # Webhook ids are ULID-like strings (01FMJQSY40HZBCBVPZB9212S8V); anything else would change the path.
    if not (webhook_id.isascii() and webhook_id.isalnum()):
        raise ValueError(f"invalid Zendesk webhook id {webhook_id!r}")
    return webhook_id


class ZendeskClient:
    """Calls to the Zendesk Support REST API through one HelpdeskSession."""

    def __init__(self, session: HelpdeskSession):
        self.session = session

    def get_ticket(self, ticket_id: str | int) -> dict[str, Any]:
        """The ticket as the API returns it."""
        return self.session.request("GET", _ticket_path(TICKET_URL, ticket_id))["ticket"]

    def update_ticket(self, ticket_id: str | int, body: dict[str, Any]) -> dict[str, Any]:
        """PUT `{"ticket": …}`; return the updated ticket.

        No Idempotency-Key: Zendesk honours it on ticket creation only. A PUT that sets fields is
        idempotent and retried; one that adds a comment is not (a resend posts it twice).
        """
        idempotent = "comment" not in body.get("ticket", {})
        return self.session.request("PUT", _ticket_path(TICKET_URL, ticket_id), json=body,
                                    idempotent=idempotent)["ticket"]

    def create_ticket(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """POST `{"ticket": …}`; Zendesk answers a repeated key (kept two hours) with the first ticket.
        Never retried blindly: after a lost answer the caller looks the ticket up by its external_id."""
        return self.session.request("POST", TICKETS_URL, json=body,
                                    headers={"Idempotency-Key": idempotency_key})["ticket"]

    def tickets_by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        """Tickets whose external_id is `external_id` (not unique on Zendesk: 0..n); not the lagging search."""
        return self.session.request("GET", TICKETS_URL, params={"external_id": external_id})["tickets"]

    def recent_comments(self, ticket_id: str | int, count: int = RECENT_COMMENTS) -> list[dict[str, Any]]:
        """The newest `count` comments, newest first (cursor paging sorts with `sort=-created_at`)."""
        return self.session.request("GET", _ticket_path(COMMENTS_URL, ticket_id),
                                    params={"sort": "-created_at", "page[size]": count})["comments"]

    def show_audit(self, ticket_id: str | int, audit_id: str | int) -> dict[str, Any]:
        """One audit of a ticket, with the `metadata.custom` its update was sent with."""
        path = AUDIT_URL.format(ticket_id=int(_ticket_path("{ticket_id}", ticket_id)),
                                audit_id=int(_ticket_path("{ticket_id}", audit_id)))
        return self.session.request("GET", path)["audit"]

    def list_comments(self, ticket_id: str | int) -> list[dict[str, Any]]:
        """All comments of a ticket, oldest first, following the cursor."""
        path, comments, params = _ticket_path(COMMENTS_URL, ticket_id), [], {"page[size]": COMMENTS_PAGE_SIZE}
        while True:
            page = self.session.request("GET", path, params=params)
            comments.extend(page.get("comments", []))
            meta = page.get("meta") or {}
            if not meta.get("has_more") or not meta.get("after_cursor"):
                return comments
            params = {"page[size]": COMMENTS_PAGE_SIZE, "page[after]": meta["after_cursor"]}

    def incremental_tickets(self, start_time: int | None = None, cursor: str | None = None) -> dict[str, Any]:
        """One page of the incremental ticket export (admins only; 10 requests/min)."""
        params = {"cursor": cursor} if cursor else {"start_time": start_time}
        return self.session.request("GET", INCREMENTAL_TICKETS_URL, params=params)

    def show_many(self, ticket_ids: list[str]) -> list[dict[str, Any]]:
        """Up to 100 tickets in one call; ids that do not exist are left out."""
        ids = ",".join(str(int(_ticket_path("{ticket_id}", i))) for i in ticket_ids)
        return self.session.request("GET", SHOW_MANY_URL, params={"ids": ids})["tickets"]

    def update_many(self, tickets: list[dict[str, Any]]) -> dict[str, Any]:
        """Batch update (≤ 100 tickets, each with its own fields); return the queued job_status.
        Not retried blindly when a ticket carries a comment."""
        idempotent = not any("comment" in ticket for ticket in tickets)
        return self.session.request("PUT", UPDATE_MANY_URL, json={"tickets": tickets},
                                    idempotent=idempotent)["job_status"]

    def job_status(self, job_id: str) -> dict[str, Any]:
        """A background job's status, with per-ticket results once it has run."""
        if not job_id.isalnum():
            raise ValueError(f"invalid Zendesk job id {job_id!r}")
        return self.session.request("GET", JOB_STATUS_URL.format(job_id=job_id))["job_status"]

    def group_memberships(self, user_id: str) -> list[dict[str, Any]]:
        """The user's group memberships (one page of up to 100: an agent is in few groups)."""
        path = GROUP_MEMBERSHIPS_URL.format(user_id=int(_ticket_path("{ticket_id}", user_id)))
        return self.session.request("GET", path, params={"page[size]": 100})["group_memberships"]

    def group_members(self, group_id: str) -> list[dict[str, Any]]:
        """The memberships of a group (`user_id`), every page."""
        path = GROUP_MEMBERS_URL.format(group_id=int(_ticket_path("{ticket_id}", group_id)))
        return self._pages(path, "group_memberships")

    def search_count(self, query: str) -> int:
        """Show Results Count: how many items a search query matches."""
        return int(self.session.request("GET", SEARCH_COUNT_URL, params={"query": query})["count"])

    def _pages(self, path: str, key: str) -> list[dict[str, Any]]:
        """Every item of a list, following `next_page` (the next page's full URL, or null) with its query."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] | None = None
        while True:
            body = self.session.request("GET", path, params=params)
            items.extend(body.get(key) or [])
            following = body.get("next_page")
            if not following:
                return items
            params = {k: v[-1] for k, v in parse_qs(urlsplit(following).query).items()}

    def ticket_fields(self) -> list[dict[str, Any]]:
        """Every ticket field of the account (system and custom), with `type` and `custom_field_options`."""
        return self._pages(TICKET_FIELDS_URL, "ticket_fields")

    def create_ticket_field(self, field: dict[str, Any]) -> dict[str, Any]:
        """POST `{"ticket_field": …}` (admins only); not retried blindly: a resend makes a second field."""
        return self.session.request("POST", TICKET_FIELDS_URL, json={"ticket_field": field})["ticket_field"]

    def add_ticket_field_option(self, field_id: str | int, name: str, value: str) -> dict[str, Any]:
        """Create Or Update Ticket Field Option (drop-down): a new option `name` with tag `value`."""
        path = _ticket_path(TICKET_FIELD_OPTIONS_URL.replace("{field_id}", "{ticket_id}"), field_id)
        return self.session.request("POST", path, json={"custom_field_option": {"name": name, "value": value}}
                                    )["custom_field_option"]

    def groups(self) -> list[dict[str, Any]]:
        """Every group of the account (`id`, `name`, `deleted`)."""
        return self._pages(GROUPS_URL, "groups")

    def users_by_ids(self, user_ids: list[str]) -> list[dict[str, Any]]:
        """Show Many Users (≤ 100 ids); ids that do not exist are left out."""
        ids = ",".join(str(int(_ticket_path("{ticket_id}", i))) for i in user_ids)
        return self.session.request("GET", SHOW_MANY_USERS_URL, params={"ids": ids})["users"]

    def webhooks(self) -> list[dict[str, Any]]:
        """The account's webhooks (one cursor page of up to 100: trial accounts may have 10)."""
        return self.session.request("GET", WEBHOOKS_URL, params={"page[size]": 100})["webhooks"]

    def create_webhook(self, webhook: dict[str, Any]) -> dict[str, Any]:
        """POST `{"webhook": …}`; answers 201 with the webhook (its `id` a string). Not retried blindly."""
        return self.session.request("POST", WEBHOOKS_URL, json={"webhook": webhook})["webhook"]

    def webhook_signing_secret(self, webhook_id: str) -> str:
        """The webhook's signing secret (`signing_secret.secret`); a POST there would reset it."""
        return self.session.request("GET", WEBHOOK_SECRET_URL.format(webhook_id=_webhook_id(webhook_id))
                                    )["signing_secret"]["secret"]

    def triggers(self) -> list[dict[str, Any]]:
        """Every ticket trigger (`title`, `active`, `conditions`, `actions`)."""
        return self._pages(TRIGGERS_URL, "triggers")

    def create_trigger(self, trigger: dict[str, Any]) -> dict[str, Any]:
        """POST `{"trigger": …}` (admins only); not retried blindly: a resend makes a second trigger."""
        return self.session.request("POST", TRIGGERS_URL, json={"trigger": trigger})["trigger"]

    def me(self) -> dict[str, Any]:
        """The API user slaclock authenticates as."""
        return self.session.request("GET", ME_URL)["user"]
