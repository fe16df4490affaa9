"""Jira connector settings, read from the environment (and the rules file once it has a jira section)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from typing import TYPE_CHECKING, Mapping

from connectors.model import PRIORITIES
from connectors.settings import (DEFAULT_RATE_PER_MINUTE, MAX_RATE_PER_MINUTE, HelpdeskSettings, comma_list,
                                 email_address, field_id, number, site_url, timeout_seconds, unmet)

if TYPE_CHECKING:
    from rules.schema import Rules

# Jira priority name → slaclock priority. The first name listed for a slaclock priority is the one written
# back, so urgent → Highest, high → High, normal → Medium, low → Low.
DEFAULT_PRIORITY_MAP = ("Highest=urgent,High=high,Medium=normal,Low=low,Lowest=low,"
                        "P1=urgent,P2=high,P3=normal,P4=low,P5=low")
# Status names that override the status category (matched case-insensitively):
# pending = waiting for the customer; hold = waiting for a third party (vendor, carrier, another team).
# JSM's own "Waiting for support" means the agent must act, so it stays open (category indeterminate).
DEFAULT_PAUSE_STATUSES = "Waiting for customer,Pending"
DEFAULT_HOLD_STATUSES = "Waiting for vendor,Waiting for third party,On hold"
# Done-category statuses that are final (Zendesk's closed) rather than reopenable (solved).
DEFAULT_CLOSED_STATUSES = "Closed,Canceled,Cancelled"

_field_id = partial(field_id, pattern=re.compile(r"^customfield_[0-9]+$"),
                    expected="a Jira custom field id like customfield_10050")
_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


METRIC_FIELD_VARIABLES = {"first_response": "JIRA_FIRST_RESPONSE_FIELD_ID",
                          "next_update": "JIRA_NEXT_UPDATE_FIELD_ID"}


@dataclass(frozen=True)
class JiraSettings(HelpdeskSettings):
    """Where the Jira site is, how to authenticate, and which fields and statuses mean what.

    `metric_field_ids` are Date Time Picker fields."""

    organization_field_id: str | None = None
    request_type_field_id: str | None = None
    group_field_id: str | None = None
    # Project keys slaclock acts on; empty = every issue the API user can see and every webhook delivered.
    projects: tuple[str, ...] = ()
    # (Jira name, slaclock priority) in the order given; see DEFAULT_PRIORITY_MAP.
    priority_map: tuple[tuple[str, str], ...] = ()
    pause_statuses: frozenset[str] = frozenset()
    hold_statuses: frozenset[str] = frozenset()
    closed_statuses: frozenset[str] = frozenset()
    # Issue type of linked follow-ups (e.g. the tech-lead escalation); it must exist in the project.
    follow_up_issue_type: str = "Task"
    # Custom fields the rules read (vendor ETA, promised date, product, order, tier …).
    rules_field_ids: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str], rules: "Rules | None" = None) -> "JiraSettings":
        """Read JIRA_* variables; raise ValueError naming the variable for any bad value."""
        # [connectors.jira] in the rules file; the environment wins.
        from_rules = rules.connectors.jira if rules else None

        def rules_field(variable: str, key: str) -> str | None:
            return _field_id(env, variable, getattr(from_rules, key, None), f"connectors.jira.{key}")

        pause = _names(env, "JIRA_PAUSE_STATUSES", DEFAULT_PAUSE_STATUSES)
        hold = _names(env, "JIRA_HOLD_STATUSES", DEFAULT_HOLD_STATUSES)
        closed = _names(env, "JIRA_CLOSED_STATUSES", DEFAULT_CLOSED_STATUSES)
        lists = {"JIRA_PAUSE_STATUSES": pause, "JIRA_HOLD_STATUSES": hold, "JIRA_CLOSED_STATUSES": closed}
        for (a, names_a), (b, names_b) in combinations(lists.items(), 2):
            if names_a & names_b:
                raise ValueError(f"{a} and {b} both list {', '.join(sorted(names_a & names_b))}")
        return cls(
            base_url=_base_url(env),
            email=email_address(env, "JIRA_EMAIL", "the Atlassian account's email address"),
            api_token=env.get("JIRA_API_TOKEN", "").strip(),
            webhook_secrets=comma_list(env, "JIRA_WEBHOOK_SECRET"),
            rate_per_minute=number(env, "JIRA_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE, minimum=0, strict=True,
                                   maximum=MAX_RATE_PER_MINUTE),
            timeout_seconds=timeout_seconds(env),
            reason_field_id=rules_field("JIRA_REASON_FIELD_ID", "reason_field_id"),
            due_field_id=rules_field("JIRA_DUE_FIELD_ID", "due_field_id"),
            metric_field_ids={metric: found for metric, variable in METRIC_FIELD_VARIABLES.items()
                              if (found := _field_id(env, variable, None, variable))},
            organization_field_id=rules_field("JIRA_ORGANIZATION_FIELD_ID", "organization_field_id"),
            request_type_field_id=rules_field("JIRA_REQUEST_TYPE_FIELD_ID", "request_type_field_id"),
            group_field_id=rules_field("JIRA_GROUP_FIELD_ID", "group_field_id"),
            projects=_projects(env),
            follow_up_issue_type=env.get("JIRA_FOLLOW_UP_ISSUE_TYPE", "").strip() or "Task",
            rules_field_ids=tuple(i for i in rules.field_ids("jira") if i.startswith("customfield_")) if rules else (),
            priority_map=_priority_map(env),
            pause_statuses=pause,
            hold_statuses=hold,
            closed_statuses=closed,
        )

    def problems(self) -> list[str]:
        """What is missing or risky for a working setup, one line each (for `slaclock check`)."""
        return unmet(
            (self.base_url, "JIRA_URL is not set"),
            (self.email, "JIRA_EMAIL is not set"),
            (self.api_token, "JIRA_API_TOKEN is not set"),
            (self.webhook_secrets, "JIRA_WEBHOOK_SECRET is not set: unsigned webhooks are accepted from anyone "
                                   "(set the same secret on the Jira admin webhook)"),
            (self.due_field_id, "no due-time field: set JIRA_DUE_FIELD_ID (a Date Time Picker custom field)"),
            (self.reason_field_id, "no reason-code field: set JIRA_REASON_FIELD_ID (a single-select custom field)"),
        )

    @property
    def custom_field_ids(self) -> tuple[str, ...]:
        """The configured custom fields, in a stable order (what fetch_ticket asks for)."""
        ids = (self.reason_field_id, self.due_field_id, self.organization_field_id,
               self.request_type_field_id, self.group_field_id, *self.metric_field_ids.values(), *self.rules_field_ids)
        return tuple(dict.fromkeys(i for i in ids if i))


def _base_url(env: Mapping[str, str]) -> str:
    if "@" in env.get("JIRA_URL", ""):
        raise ValueError("JIRA_URL: contains credentials; put them in JIRA_EMAIL and JIRA_API_TOKEN instead")
    return site_url(env, "JIRA_URL", "a site URL like https://acme.atlassian.net", bare=True)


def _projects(env: Mapping[str, str]) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.upper() for k in comma_list(env, "JIRA_PROJECTS")))
    bad = [k for k in keys if not _PROJECT_KEY.match(k)]
    if bad:
        raise ValueError(f"JIRA_PROJECTS: expected project keys like SD,OPS, got {', '.join(map(repr, bad))}")
    return keys


def _priority_map(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    raw = env.get("JIRA_PRIORITY_MAP", "").strip() or DEFAULT_PRIORITY_MAP
    pairs: dict[str, tuple[str, str]] = {}
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        jira_name, sep, ours = (part.strip() for part in entry.partition("="))
        if not sep or not jira_name or ours.lower() not in PRIORITIES:
            raise ValueError(f"JIRA_PRIORITY_MAP: expected 'JiraName=priority' pairs with priority one of "
                             f"{', '.join(PRIORITIES)}, got {entry!r}")
        if jira_name.casefold() in pairs:
            raise ValueError(f"JIRA_PRIORITY_MAP: {jira_name!r} is listed twice")
        pairs[jira_name.casefold()] = (jira_name, ours.lower())
    missing = [p for p in PRIORITIES if p not in {ours for _, ours in pairs.values()}]
    if missing:
        raise ValueError(f"JIRA_PRIORITY_MAP: no Jira priority for {', '.join(missing)}; "
                         "slaclock needs one to write each priority")
    return tuple(pairs.values())


def _names(env: Mapping[str, str], name: str, default: str) -> frozenset[str]:
    return frozenset(n.casefold() for n in comma_list(env, name, default))
