"""The fake Jira Service Management site: configuration, accounts, fields, issue store, webhooks, call counts."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from flask import current_app

from sandbox.jira.fields import FieldDef
from sandbox.jira.store import IssueRecord, JiraStore, JiraUser
from sandbox.jira.webhooks import JiraProtocol, build_payloads
from sandbox.records import Mutation, utc_now
from sandbox.sender import Outgoing, WebhookSender
from sandbox.site import HelpdeskSite

# Field ids the demo passes as JIRA_REASON_FIELD_ID / JIRA_DUE_FIELD_ID (and the optional metric fields).
REASON_FIELD_ID = "customfield_10050"
DUE_FIELD_ID = "customfield_10060"
FIRST_RESPONSE_FIELD_ID = "customfield_10061"
NEXT_UPDATE_FIELD_ID = "customfield_10062"
# Text fields agents fill in, as rules/rules.example.toml names them: what an escalation request carries
# (escalation.request.fields) and the resolution path a solve records (resolution_path.field).
AGENT_FIELDS = (FieldDef("customfield_10067", "Order ids", "text"),
                FieldDef("customfield_10071", "Customers affected", "text"),
                FieldDef("customfield_10072", "Steps already tried", "text"),
                FieldDef("customfield_10073", "Resolution path & notes", "text"))
# The other fields rules/rules.example.toml reads: a real site set up for those rules has them, so its issues
# (API reads and webhooks alike) carry them, empty or not.
RULES_FIELDS = (FieldDef("customfield_10063", "Vendor ETA", "datetime"),
                FieldDef("customfield_10064", "Vendor capacity", "text"),
                FieldDef("customfield_10066", "Product", "text"))
# The options of the reason-code select field: the example rules' codes, and two that route to the default team.
REASON_CODES = ("missing_part", "wrong_item", "site_not_ready", "access_issue", "damage", "defect", "other")

API_ACCOUNT_ID = "5f6e7d8c9b0a1f2e3d4c5b6a"
AGENT_ACCOUNT_ID = "5b10ac8d82e05b22cc7d4ef5"
CUSTOMER_ACCOUNT_ID = "qm:6f2a1c6e-8e0b-4bd4-9a6a-2f1d3c0e7a11:0b4a8a2b-93a4-4b50-9f59-6e1f8e1f1c2d"
# Assignable agents: the Jira account ids of rules/rules.example.toml's teams (teams.<team>.jira.assignee_id)
# and people (people.<p>.jira); tests/test_sandbox_jira.py checks the two stay in step.
TEAM_ACCOUNTS: Mapping[str, str] = {
    "5d53f3cbc6b9320d9ea5bd01": "Support Desk",
    "5d53f3cbc6b9320d9ea5bd02": "Purchasing Desk",
    "5d53f3cbc6b9320d9ea5bd03": "Warehouse Desk",
    "5d53f3cbc6b9320d9ea5bd04": "Branch Manager",
    "5d53f3cbc6b9320d9ea5bd05": "L2 Specialists",
    "5d53f3cbc6b9320d9ea5bd06": "Engineering",
    "5d53f3cbc6b9320d9ea5bd07": "Tech Leads",
    **{f"5d53f3cbc6b9320d9ea5be{n:02d}": name for n, name in enumerate(
        ("Sam Ortiz", "Maria Keller", "Erik Lund", "Nina Okafor", "Omar Haddad", "Elena Ruiz", "Paula Novak",
         "Victor Chen", "Tess Moreau", "Gus Hale"), start=1)},
}
# The support desk's Jira group (rules/rules.example.toml's teams.support.jira.group_id): the sandbox agent and the
# Support Desk account, so a least-loaded pick has a choice.
SUPPORT_GROUP_ID = "b8a3c4d5-0000-4000-8000-000000000002"
GROUP_MEMBERS: Mapping[str, tuple[str, ...]] = {SUPPORT_GROUP_ID: ("5d53f3cbc6b9320d9ea5bd01", AGENT_ACCOUNT_ID)}
DEFAULT_SITE_URL = "https://sandbox.atlassian.net"
# The events of the admin webhook the sandbox sends (every webhookEvent it builds).
SUBSCRIBED_EVENTS = ("jira:issue_created", "jira:issue_updated", "comment_created", "comment_updated")


@dataclass
class JiraConfig:
    """Credentials, webhook target, accounts, projects and custom fields of the fake Jira site."""

    api_email: str = "slaclock@example.com"
    api_token: str = "sandbox-jira-token"
    webhook_url: str | None = None
    # None: deliveries go out unsigned (an admin webhook without a secret).
    webhook_secret: str | None = "sandbox-jira-webhook-secret"
    # The base of `self` links in webhooks; SandboxServer sets its own URL when this is None.
    site_url: str | None = None
    api_account_id: str = API_ACCOUNT_ID
    agent_account_id: str = AGENT_ACCOUNT_ID
    customer_account_id: str = CUSTOMER_ACCOUNT_ID
    team_accounts: Mapping[str, str] = field(default_factory=lambda: dict(TEAM_ACCOUNTS))
    reason_field_id: str = REASON_FIELD_ID
    due_field_id: str = DUE_FIELD_ID
    extra_fields: Sequence[FieldDef] = (FieldDef(FIRST_RESPONSE_FIELD_ID, "First response due (slaclock)", "datetime"),
                                        FieldDef(NEXT_UPDATE_FIELD_ID, "Next update due (slaclock)", "datetime"),
                                        *AGENT_FIELDS, *RULES_FIELDS)
    # Project key → is a service project (JSM). servicedeskapi answers 404 for issues of the others.
    projects: Mapping[str, bool] = field(default_factory=lambda: {"SD": True, "OPS": False})
    # Accounts that exist but lack Browse Projects: adding one as a watcher is a 404, as on Jira.
    no_browse_accounts: Sequence[str] = ()
    # False: the edit screen lacks the assignee, so PUT issue refuses it and only PUT …/assignee assigns.
    assignee_on_edit_screen: bool = True
    # False: the API user lacks Administer Jira (creating fields and admin webhooks is a 403).
    api_is_admin: bool = True
    # Project permission keys getMyPermissions answers false for (e.g. ASSIGN_ISSUES).
    missing_permissions: Sequence[str] = ()

    def users(self) -> list[JiraUser]:
        return [JiraUser(self.api_account_id, "slaclock API", self.api_email.lower()),
                JiraUser(self.agent_account_id, "Sandbox Agent", "agent@sandbox.invalid"),
                JiraUser(self.customer_account_id, "Sam Customer", "sam@customer.invalid", "customer"),
                *(JiraUser(account_id, name, f"{account_id[-4:]}@sandbox.invalid")
                  for account_id, name in self.team_accounts.items())]

    def fields(self) -> list[FieldDef]:
        specs = [FieldDef(self.reason_field_id, "Reason code", "select", REASON_CODES),
                 FieldDef(self.due_field_id, "Resolution due (slaclock)", "datetime"), *self.extra_fields]
        return list({spec.id: spec for spec in specs}.values())


class JiraSite(HelpdeskSite[IssueRecord]):
    """The fake Jira site; `site_url` is the base of the `self` links in its webhooks."""

    store: JiraStore

    def __init__(self, config: JiraConfig, backoff: tuple[float, ...] = (0.1, 0.3, 0.9), max_wait: float = 5.0,
                 timeout: float = 10.0, clock: Callable[[], datetime] = utc_now):
        self.config = config
        self.site_url = config.site_url or DEFAULT_SITE_URL
        super().__init__(JiraStore(config.users(), config.fields(), config.projects, clock,
                                   config.no_browse_accounts),
                         WebhookSender(config.webhook_url, JiraProtocol(config.webhook_secret), backoff, max_wait,
                                       timeout, clock, name="sandbox-jira-webhooks"),
                         route_key, clock)
        from sandbox.jira.admin import JiraAdmin
        self.admin = JiraAdmin(dict(self.store.fields))
        self._seed_webhook()

    def _seed_webhook(self) -> None:
        """The admin webhook a configured sandbox already sends to (JiraConfig.webhook_url), as the API lists it."""
        if self.config.webhook_url:
            self.admin.webhooks.append({
                "name": "slaclock", "url": self.config.webhook_url, "excludeBody": False, "filters": {},
                "events": list(SUBSCRIBED_EVENTS), "enabled": True, "self": "/rest/webhooks/1.0/webhook/0",
                "lastUpdatedUser": self.config.api_account_id})

    def reset(self) -> None:
        super().reset()
        with self.admin.lock:
            self.store.fields.clear()
            self.store.fields.update(self.admin.initial_fields)
            self.admin.reset_state()
        self._seed_webhook()
        # A webhook registered through the API retargeted the sender; a reset restores the configured one.
        self.sender.url = self.config.webhook_url
        self.sender.protocol.secret = self.config.webhook_secret

    def views_user(self, account_id: str) -> dict[str, Any] | None:
        """A user as getUser shows it, or None."""
        from flask import request

        from sandbox.jira.shapes import JiraJson
        return JiraJson(self.store, request.host_url, 3).user(account_id)

    @property
    def credentials(self) -> str:
        return f"{self.config.api_email}:{self.config.api_token}"

    def webhooks(self, mutation: Mutation[IssueRecord]) -> list[Outgoing]:
        return build_payloads(mutation, self.store, self.site_url)

    def writes(self) -> dict[str, Any]:
        """Per issue the API user's internal notes and public replies (bodies, in order), its watchers and the links
        going out of it ([type, inward, outward]); and every issue the API user created ({key, labels, summary,
        properties})."""
        return _writes(self)


def _writes(site: "JiraSite") -> dict[str, Any]:
    me, tickets = site.config.api_account_id, {}
    for issue in site.store.select(lambda i: True):
        own = [c for c in issue.comments if c.author_id == me]
        links = [[link.type, link.inward, link.outward] for link in site.store.links_of(issue.key)
                 if link.inward == issue.key]
        if own or issue.watchers or links:
            tickets[issue.key] = {"notes": [c.body for c in own if not c.public],
                                  "public_replies": [c.body for c in own if c.public],
                                  "watchers": list(issue.watchers), "links": links}
    created = [{"key": i.key, "labels": list(i.labels), "summary": i.summary, "properties": dict(i.properties)}
               for i in site.store.select(lambda i: i.creator_id == me)]
    return {"tickets": tickets, "created": created}


def current_site() -> JiraSite:
    """The Jira site of the sandbox serving this request."""
    return current_app.extensions["sandbox"].jira


RESOURCE = re.compile(r"/(issue|request)/[^/]+")
RESOURCE_KEY = r"/\1/{key}"


def route_key(method: str, path: str) -> str:
    """`PUT /rest/api/3/issue/{key}/assignee`: issue keys and ids normalised away."""
    return f"{method} {RESOURCE.sub(RESOURCE_KEY, path.rstrip('/'))}"
