"""The sections about the people around a case: the vendor loop, customer updates, triggers, roles,
recurring issues."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from rules.schema.sla import ByPriority
from rules.schema.values import (BUILTIN_CALENDAR, DURATION_HELP, FIELD_HELP, ClimbClock, Duration, FieldRef,
                                 Placeholders, Priority, Status, Strict)

# Placeholders of the vendor loop's texts.
VENDOR_FIELDS: tuple[str, ...] = ("ticket", "ticket_id", "subject", "priority", "due_at", "vendor", "team",
                                  "eta_due_at", "eta_within", "eta")
VendorTemplate = Annotated[str, BeforeValidator(Placeholders(VENDOR_FIELDS))]


class VendorLoop(Strict):
    """Seed 000: a case sent to a vendor team asks for capacity and an ETA, on a clock of its own."""

    eta_within: Duration = Field(timedelta(hours=48), description=f"the time-to-ETA budget: {DURATION_HELP}")
    calendar: str = Field(BUILTIN_CALENDAR, description='a calendar name from [calendars] the time-to-ETA clock '
                                                        'counts on (default "24x7": wall-clock hours)')
    eta_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the vendor's ETA (an ISO instant)")
    capacity_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding yes / no: capacity available")
    request_note: VendorTemplate = Field(
        "Vendor {vendor}: capacity and an ETA requested, due by {eta_due_at}.", description="a text template")
    follow_up: bool = Field(False, description="true to also ask for a follow-up ticket in the vendor's group")
    follow_up_subject: VendorTemplate = Field("Capacity and ETA needed: {subject} ({ticket})",
                                              description="a text template")
    follow_up_body: VendorTemplate = Field(
        "Please confirm capacity and an ETA for {ticket} by {eta_due_at}. The customer's resolution is due "
        "{due_at}.", description="a text template")
    risk_level: str | None = Field(None, description="a ladder level name to climb to on an SLA risk (absent: one "
                                                     "level up)")
    risk_priority: Priority = Field("high", description="the priority an SLA risk raises to (never lowers): the "
                                                        "priority override")
    notify: list[str] = Field([], description="a list of person names from [people] told of an SLA risk")


# Placeholders of the customer messages. {reference}: the ticket as the customer knows it (#42, SD-12);
# {next_update}: "by <time>" or no_next_update_text; {planned_for}: "planned for <the vendor's ETA>", and a
# sentence using it is left out while there is no ETA.
CUSTOMER_FIELDS: tuple[str, ...] = ("reference", "next_update", "planned_for", "ticket", "ticket_id", "subject",
                                    "priority", "due_at", "owner", "next_update_at", "eta", "vendor", "level",
                                    "problem")
CustomerTemplate = Annotated[str, BeforeValidator(Placeholders(CUSTOMER_FIELDS))]


class CustomerTemplates(Strict):
    """Public replies; an empty text switches that message off."""

    key_kind = "message"
    escalated: CustomerTemplate = Field(
        "We have escalated your request {reference} so that it gets more attention. {owner} is now looking after "
        "it and will update you {next_update}.", description="a text template")
    escalated_again: CustomerTemplate = Field(
        "Your request {reference} has moved up to {owner}, who will update you {next_update}.",
        description="a text template: a later climb of the same escalation")
    update: CustomerTemplate = Field(
        "An update on your request {reference}: {owner} is still working on it and will update you again "
        "{next_update}.", description="a text template")
    schedule_confirmed: CustomerTemplate = Field(
        "Good news on your request {reference}: the repair has been confirmed. It is {planned_for}. {owner} will "
        "update you again {next_update}.", description="a text template")
    updated_plan: CustomerTemplate = Field(
        "An update on your request {reference}: the repair could not be scheduled in time, so we have escalated "
        "your request. {owner} is now looking after it and will update you {next_update}.",
        description="a text template")
    linked: CustomerTemplate = Field(
        "Several customers have reported the same problem as your request {reference}, and our engineers are "
        "investigating it as one issue. We will update you {next_update}.", description="a text template")


class CadenceByPriority(ByPriority[Annotated[Duration | None, Field(description=DURATION_HELP)]]):
    """The interval between customer updates per priority."""


class CustomerUpdates(Strict):
    """Seeds 000, 003: customers hear first. An escalation is acknowledged, then updates follow on a cadence."""

    enabled: bool = Field(True, description="false to switch every proactive customer message off")
    cadence: CadenceByPriority = Field(CadenceByPriority(), description="a table priority = interval between "
                                                                        "updates (absent: no cadence)")
    clock: ClimbClock = Field("wall", description='"wall" (clock hours) or "calendar" (working time of the '
                                                  'ticket\'s SLA calendar)')
    skip_statuses: list[Status] = Field(["pending"], description="a list of statuses in which no cadence update "
                                                                 "goes out (the cadence restarts when it ends)")
    send_hours: str | None = Field(None, description="a calendar name from [calendars]: messages go out while it is "
                                                     "open; outside it (the customer's quiet hours) they are held")
    send_hours_by_tier: dict[str, str] = Field({}, description="a table tier name = calendar name")
    timezone_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the customer's IANA time "
                                                                           "zone (the send hours are read there)")
    hold_priorities: list[Priority] = Field(["low", "normal", "high"],
                                            description="a list of priorities whose messages quiet hours hold "
                                                        "(urgent is not held by default)")
    hold_24x7: bool = Field(False, description="true to hold messages of a case whose SLA clock runs 24×7 too "
                                               "(by default a case worked around the clock is answered at once)")
    name_vendor: bool = Field(False, description="true to name the vendor in {vendor}; otherwise it reads "
                                                 "\"our partner\"")
    no_owner_text: str = Field("our support team", description="the {owner} text when nobody is named")
    no_next_update_text: str = Field("as soon as we have news", description="the {next_update_at} text when no "
                                                                           "cadence applies")
    templates: CustomerTemplates = CustomerTemplates()


TriggerField = Literal["subject", "description"]


class Trigger(Strict):
    """Seed 003: an escalation trigger. It fires once per case and climbs the ladder at once."""

    title: str | None = Field(None, description="the name shown in notes (default: the key)")
    keywords: list[str] = Field([], description="a list of words or phrases (case-insensitive, whole words)")
    match_in: list[TriggerField] = Field(["subject", "description"], description="a list of subject, description")
    tags: list[str] = Field([], description="a list of ticket tags, any of which fires it")
    promised_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding a promised date or instant")
    within: Duration = Field(timedelta(hours=24), description=f"with promised_field: fire this long before the "
                                                              f"promised time ({DURATION_HELP}, wall-clock)")
    level: str | None = Field(None, description="a ladder level name to climb to (absent: one level up)")
    priority: Priority | None = Field("high", description="a priority it raises to (never lowers)")
    add_tags: list[str] = Field([], description="a list of ticket tags to add when it fires")
    notify: list[str] = Field([], description="a list of person names from [people] to notify")
    note: bool = Field(True, description="true to write an internal note when it fires")

    @model_validator(mode="after")
    def _something_to_match(self) -> "Trigger":
        if not (self.keywords or self.tags or self.promised_field):
            raise ValueError("got no keywords, tags or promised_field; expected at least one of them")
        if any(not k.strip() for k in self.keywords):
            raise ValueError("keywords: got an empty keyword; expected words or phrases")
        return self


RIGHTS: tuple[str, ...] = ("read", "write", "escalate", "resolve")
Right = Literal["read", "write", "escalate", "resolve"]
# Seed 002's "who can do what"; support_lead is the "Support (lead)" who may resolve.
SEED_ROLE_RIGHTS: dict[str, tuple[str, ...]] = {
    "support": ("read", "write", "escalate"),
    "support_lead": ("read", "write", "escalate", "resolve"),
    "service": ("read", "write"),
    "manager": ("read", "write", "escalate", "resolve"),
    "installer": ("read",),
    "owner": ("read", "write", "escalate", "resolve"),
    "admin": ("read", "write", "escalate", "resolve"),
    "executive": ("read",),
}


class RoleMembers(Strict):
    users: dict[str, str] = Field({}, description="a table user id = role name")
    groups: dict[str, str] = Field({}, description="a table group id = role name")


class Roles(Strict):
    """Seed 002: who may do what. An actor's role: their user id, else their person, else their groups."""

    default: str = Field("support", description="the role of an actor the map does not know (support: may "
                                                "escalate, as without a role map)")
    rights: dict[str, list[Right]] = Field({}, description="a table role name = list of read, write, escalate, "
                                                           "resolve (adds roles or replaces seed 002's rights)")
    people: dict[str, str] = Field({}, description="a table person name from [people] = role name")
    enforce: bool = Field(False, description="true: every change is checked, not only a manual escalation: a solve "
                                             "without resolve, a priority change or re-route without write is "
                                             "reverted with a note")
    zendesk: RoleMembers = RoleMembers()
    jira: RoleMembers = RoleMembers()

    def rights_of(self, role: str) -> frozenset[str]:
        """The rights of a role (seed 002 unless the file says otherwise)."""
        if role in self.rights:
            return frozenset(self.rights[role])
        return frozenset(SEED_ROLE_RIGHTS.get(role, ()))

    def names(self) -> list[str]:
        return [*SEED_ROLE_RIGHTS, *(r for r in self.rights if r not in SEED_ROLE_RIGHTS)]


ClusterKey = Literal["product", "order", "reason_code"]
CLUSTER_FIELDS: tuple[str, ...] = ("key", "value", "count", "customers", "members", "first_seen", "window",
                                   "reason_code", "product", "order")
ClusterTemplate = Annotated[str, BeforeValidator(Placeholders(CLUSTER_FIELDS))]
MemberNote = Annotated[str, BeforeValidator(Placeholders(("problem", "key")))]


def _cluster_keys(value: object) -> object:
    if isinstance(value, list):
        return [[v] if isinstance(v, str) else v for v in value]
    return value


class Recurring(Strict):
    """Seed 003: the same problem from several customers becomes one problem ticket, escalated once."""

    min_customers: int = Field(3, ge=2, description="a number of different customers, at least 2")
    window: Duration = Field(timedelta(days=7), description=f"how far back open cases count: {DURATION_HELP} "
                                                            "(wall-clock)")
    keys: Annotated[list[list[ClusterKey]], BeforeValidator(_cluster_keys)] = Field(
        [["product"], ["order"]], description='a list of product, order, reason_code, or lists of them for a '
                                              'combined key, e.g. ["product", ["reason_code", "order"]]')
    product_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the product")
    order_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the order")
    customer: Literal["organization", "requester"] = Field(
        "organization", description='"organization" (the requester when there is none) or "requester"')
    team: str | None = Field(None, description="a team name from [teams]: the problem ticket's group")
    level: str | None = Field(None, description="a level of escalation.ladder whose team and owner take the problem "
                                                "ticket (when no team is given)")
    priority: Priority = Field("high", description="the problem ticket's priority")
    subject: ClusterTemplate = Field("Recurring issue: {key} ({customers} customers)", description="a text template")
    body: ClusterTemplate = Field(
        "{count} open cases from {customers} different customers share {key} since {first_seen} (window "
        "{window}): {members}. Find the root cause once; slaclock keeps the customers updated.",
        description="a text template")
    member_note: MemberNote = Field("Linked to problem {problem} (recurring issue {key}): it is escalated once "
                                    "there, not case by case.", description="the internal note on each member; "
                                                                            "placeholders {problem}, {key}")

    @field_validator("keys")
    @classmethod
    def _keys(cls, keys: list[list[str]]) -> list[list[str]]:
        if not keys or any(not k for k in keys):
            raise ValueError("got an empty key; expected product, order, reason_code or a list of them")
        return keys


AlertKind = Literal["slack", "email", "webhook"]
AlertRecipient = Literal["owner", "on_call", "account_manager"]
_RECIPIENTS_HELP = 'a list of owner (the escalation owner), on_call (the on-call person of the level\'s rota), ' \
                   'account_manager'
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class AlertChannel(Strict):
    """Where alerts go outside the helpdesk. Secrets and URLs are read from the named environment variables,
    never from the rules file."""

    kind: AlertKind = Field(description='"slack" (an incoming webhook), "email" (SMTP) or "webhook" (a signed '
                                        'JSON event)')
    url_env: str = Field(pattern=_ENV_NAME, description="the environment variable holding the URL: the Slack "
                                                        "incoming-webhook URL, the webhook URL, or "
                                                        "smtp://[user@]host[:port] (smtps:// for TLS)")
    secret_env: str | None = Field(None, pattern=_ENV_NAME,
                                   description="the environment variable holding the secret: the webhook's "
                                               "signing secret, or the SMTP password")
    sender: str | None = Field(None, description="email: the From address")
    starttls: bool = Field(False, description="email: upgrade an smtp:// connection with STARTTLS")

    @model_validator(mode="after")
    def _complete(self) -> "AlertChannel":
        if self.kind == "email" and not self.sender:
            raise ValueError('an email channel needs sender = "slaclock@example.com" (the From address)')
        if self.kind == "webhook" and not self.secret_env:
            raise ValueError("a webhook channel needs secret_env: the variable holding its signing secret")
        return self


class Alerts(Strict):
    """Issue 12: who hears of an escalation, a breach or a milestone outside the helpdesk, and where
    (each person's `alerts` channels, within their `calendar`)."""

    channels: dict[str, AlertChannel] = Field({}, description="a table per channel name")
    level_changed: list[AlertRecipient] = Field(["owner", "on_call"], description="who hears of a level change: "
                                                                                  + _RECIPIENTS_HELP)
    breached: list[AlertRecipient] = Field(["owner", "on_call"], description="who hears of a breach: "
                                                                             + _RECIPIENTS_HELP)
    warned: list[AlertRecipient] = Field([], description="who hears of a warning threshold: " + _RECIPIENTS_HELP)
    milestones: bool = Field(True, description="true to send the milestones' notifications (the account manager's) "
                                               "as alerts too")
