"""The fake Zendesk account: configuration, users, ticket store, webhooks, call counts, idempotency and jobs."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from flask import current_app

from sandbox.records import Mutation, utc_now
from sandbox.sender import Outgoing, WebhookSender
from sandbox.site import HelpdeskSite
from sandbox.zendesk.idempotency import IdempotencyCache
from sandbox.zendesk.store import TicketRecord, TicketStore, User
from sandbox.zendesk.webhooks import EVENT_NAMES, EVENT_PREFIX, ZendeskProtocol, build_envelopes, outgoing

# Text fields agents fill in, as rules/rules.example.toml names them: what an escalation request carries
# (escalation.request.fields) and the resolution path a solve records (resolution_path.field).
AGENT_FIELDS = {360007: "Order ids", 360011: "Customers affected", 360012: "Steps already tried",
                360013: "Resolution path & notes"}
# The other fields rules/rules.example.toml reads: an account set up for those rules has them (`install` and
# `check` look for them), so its tickets carry them, empty or not.
RULES_FIELDS = {360003: "Vendor ETA", 360004: "Vendor capacity", 360005: "Promised by", 360006: "Product",
                360008: "Customer time zone", 360009: "Root cause"}
# The event subscriptions of the webhook the sandbox sends (every event type it builds).
SUBSCRIBED_EVENTS = (f"{EVENT_PREFIX}created", *(EVENT_PREFIX + name for name in EVENT_NAMES.values()))


@dataclass
class ZendeskConfig:
    """Credentials, webhook target and identities of the fake Zendesk account."""

    api_email: str = "slaclock@example.com"
    api_token: str = "sandbox-token"
    webhook_url: str | None = None
    webhook_secret: str = "sandbox-webhook-secret"
    api_user_id: int = 9001
    agent_user_id: int = 9002
    account_id: int = 22129848
    # Ticket field id → title (text fields); every ticket lists these fields (null until set), as Zendesk does.
    custom_fields: Mapping[int, str] = field(default_factory=lambda: {**AGENT_FIELDS, **RULES_FIELDS})
    webhook_id: str = "01HSANDBOXWEBHOOK000000000A"
    # The API user's role: "admin" (the default) or "agent"; the incremental export is "Allowed For: Admins".
    api_user_role: str = "admin"
    # A second agent of the support group, so a least-loaded pick has a choice.
    second_agent_id: int = 9003

    def users(self) -> list[User]:
        return [User(self.api_user_id, "slaclock API", self.api_email.lower(), self.api_user_role),
                User(self.agent_user_id, "Sandbox Agent", "agent@sandbox.invalid", "agent"),
                User(self.second_agent_id, "Second Agent", "agent2@sandbox.invalid", "agent")]


class ZendeskSite(HelpdeskSite[TicketRecord]):
    """The fake Zendesk account, with its idempotency cache and bulk-update jobs."""

    store: TicketStore

    def __init__(self, config: ZendeskConfig, backoff: tuple[float, ...] = (0.1, 0.3, 0.9), max_wait: float = 5.0,
                 timeout: float = 10.0, clock: Callable[[], datetime] = utc_now):
        self.config = config
        protocol = ZendeskProtocol(config.webhook_secret, config.account_id, config.webhook_id, clock)
        self.protocol = protocol
        super().__init__(TicketStore(config.users(), config.api_user_id, config.custom_fields.keys(), clock),
                         WebhookSender(config.webhook_url, protocol, backoff, max_wait, timeout, clock),
                         route_key, clock)
        self.idempotency = IdempotencyCache(clock)
        self.jobs: dict[str, dict[str, Any]] = {}  # update_many job statuses by id
        from sandbox.zendesk.admin import Admin, configured_webhook
        self.admin = Admin(config.custom_fields, configured_webhook(config, SUBSCRIBED_EVENTS))

    @property
    def credentials(self) -> str:
        return f"{self.config.api_email}/token:{self.config.api_token}"

    def webhooks(self, mutation: Mutation[TicketRecord]) -> list[Outgoing]:
        return outgoing(build_envelopes(mutation, self.config.account_id, self.store.user,
                                        self.config.custom_fields, self.clock()))

    def writes(self) -> dict[str, Any]:
        """Per ticket the bodies of the API user's internal notes and public replies (in order), and every ticket
        the API user created ({id, external_id, subject})."""
        me, tickets = self.config.api_user_id, {}
        for ticket in self.store.select(lambda t: True):
            own = [c for c in ticket.comments if c.author_id == me and not (ticket.submitter_id == me
                                                                              and c is ticket.comments[0])]
            if own:
                tickets[str(ticket.id)] = {"notes": [c.body for c in own if not c.public],
                                           "public_replies": [c.body for c in own if c.public]}
        created = [{"id": t.id, "external_id": t.external_id, "subject": t.subject}
                   for t in self.store.select(lambda t: t.submitter_id == me and t.via_channel == "api")]
        return {"tickets": tickets, "created": created}

    def reset(self) -> None:
        super().reset()
        self.idempotency.reset()
        self.jobs.clear()
        self.admin.reset()
        self.store.reset_custom_fields(self.config.custom_fields.keys())
        # A webhook created through the API retargeted the sender; a reset restores the configured one.
        self.sender.url = self.config.webhook_url
        self.protocol.secret, self.protocol.webhook_id = self.config.webhook_secret, self.config.webhook_id


def current_site() -> ZendeskSite:
    """The Zendesk site of the sandbox serving this request."""
    return current_app.extensions["sandbox"].zendesk


# Job ids are hex strings, not numbers.
JOB_SEGMENT = re.compile(r"/job_statuses/[0-9A-Za-z]+")
NUMERIC_SEGMENT = re.compile(r"/\d+(?=/|$)")


def route_key(method: str, path: str) -> str:
    """`PUT /api/v2/tickets/{id}`: ids and the `.json` suffix normalised away."""
    path = path[:-5] if path.endswith(".json") else path
    path = JOB_SEGMENT.sub("/job_statuses/{id}", path)
    return f"{method} {NUMERIC_SEGMENT.sub('/{id}', path)}"
