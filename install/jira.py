"""The Jira install plan: the reason-code select list with its options, the Date Time Picker due fields and the
admin webhook with a generated secret.

Endpoints: createCustomField, getContextsForField / createCustomFieldContext, getOptionsForContext /
createCustomFieldOption (platform REST v3, in the OpenAPI file), and the admin webhook resource
`/rest/webhooks/1.0/webhook` (https://developer.atlassian.com/server/jira/platform/webhooks/#registering-a-webhook-via-
the-jira-rest-api; its secret: https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
Fields are found again by name, the webhook by name, so a second run reuses them.
"""
from __future__ import annotations

import secrets
from typing import Any, Callable, Mapping

from checks import rules_fields
from install.plan import Plan, Step, missing_fields
from jira.client import JiraClient
from jira.webhook import HANDLERS
from rules import Rules

CUSTOM_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:"
# createCustomField's searcherKey must suit the type ("select: multiselectsearcher", "datetime: datetimerange").
SELECT = (CUSTOM_TYPE + "select", CUSTOM_TYPE + "multiselectsearcher")
DATETIME = (CUSTOM_TYPE + "datetime", CUSTOM_TYPE + "datetimerange")
REASON_NAME = "Reason code (slaclock)"
DUE_FIELDS = (
    ("JIRA_DUE_FIELD_ID", "SLA due (slaclock)", "When the case breaches its resolution target (set by slaclock)"),
    ("JIRA_FIRST_RESPONSE_FIELD_ID", "First response due (slaclock)", "When the first reply is due"),
    ("JIRA_NEXT_UPDATE_FIELD_ID", "Next update due (slaclock)", "When the next reply is due"),
)
WEBHOOK_NAME = "slaclock"
# Every event slaclock's receiver reads (jira.webhook.HANDLERS).
EVENTS = tuple(HANDLERS)
# The admin webhook's JQL filter key ("filters" in the REST body).
JQL_FILTER = "issue-related-events-section"


def _by_name(fields: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((f for f in fields if f.get("custom") and f.get("name") == name), None)


def _type_of(found: Mapping[str, Any]) -> str:
    return str((found.get("schema") or {}).get("custom") or "")


def plan(client: JiraClient, rules: Rules, webhook_url: str, projects: tuple[str, ...] = (),
         existing_secrets: tuple[str, ...] = (), new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(32)
         ) -> Plan:
    """What `install jira` will do, read from the site (reads only)."""
    result = Plan("jira")
    fields = client.fields()
    result.steps.append(_reason_step(client, fields, list(rules.routing.reason_codes)))
    for variable, name, description in DUE_FIELDS:
        result.steps.append(_datetime_step(client, fields, variable, name, description))
    result.steps.append(_webhook_step(client, webhook_url, projects, existing_secrets, new_secret))
    named = [(key, fid) for key, fid in rules_fields(rules, "jira") if fid.startswith("customfield_")]
    result.by_hand += missing_fields(named, {str(f.get("id")) for f in fields}, "Jira field", "this site",
                                     "Settings → Issues → Custom fields")
    result.by_hand.append("add the slaclock fields to the screens of your service projects' request types "
                          "(Project settings → Issue types → the type's fields, or Settings → Issues → Screens): "
                          "Jira refuses to set a field that is not on the edit screen")
    return result


def _reason_step(client: JiraClient, fields: list[dict[str, Any]], codes: list[str]) -> Step:
    found = _by_name(fields, REASON_NAME)
    what = f"reason-code select list {REASON_NAME!r} ({len(codes)} options)"
    if found is None:
        def create() -> Mapping[str, str]:
            created = client.create_field(REASON_NAME, *SELECT, "Why the case needs someone (slaclock routes by it)")
            _ensure_options(client, created["id"], codes)
            return {"JIRA_REASON_FIELD_ID": created["id"]}
        return Step(what, "create, with a global context and the options", run=create)
    if _type_of(found) != SELECT[0]:
        return Step(what, f"{found['id']} has that name but is {_type_of(found) or 'not a custom field'}: not used",
                    by_hand=[f"rename the custom field {found['id']} ({REASON_NAME!r}) and run install again: the "
                             "reason field must be a Select List (single choice)"])
    env = {"JIRA_REASON_FIELD_ID": found["id"]}
    contexts = client.field_contexts(found["id"])
    have = {o.get("value") for c in contexts for o in client.context_options(found["id"], c["id"])}
    missing = [c for c in codes if c not in have]
    if contexts and not missing:
        return Step(what, f"reuse {found['id']}", env)
    return Step(what, f"reuse {found['id']}, add options {', '.join(missing)}", env,
                run=lambda: _ensure_options(client, found["id"], missing) or {})


def _ensure_options(client: JiraClient, field_id: str, values: list[str]) -> None:
    """Add `values` to the field's first context (a global one is created when it has none)."""
    contexts = client.field_contexts(field_id)
    context_id = contexts[0]["id"] if contexts else client.create_field_context(field_id, "slaclock")["id"]
    have = {o.get("value") for o in client.context_options(field_id, context_id)}
    wanted = [v for v in values if v not in have]
    if wanted:
        client.create_context_options(field_id, context_id, wanted)


def _datetime_step(client: JiraClient, fields: list[dict[str, Any]], variable: str, name: str,
                   description: str) -> Step:
    found = _by_name(fields, name)
    what = f"Date Time Picker field {name!r}"
    if found is None:
        return Step(what, "create", run=lambda: {variable: client.create_field(name, *DATETIME, description)["id"]})
    if _type_of(found) != DATETIME[0]:
        return Step(what, f"{found['id']} has that name but is {_type_of(found)}: not used",
                    by_hand=[f"rename the custom field {found['id']} ({name!r}) and run install again: slaclock "
                             "writes a date and time, which needs a Date Time Picker"])
    return Step(what, f"reuse {found['id']}", {variable: found["id"]})


def _webhook_step(client: JiraClient, url: str, projects: tuple[str, ...], existing: tuple[str, ...],
                  new_secret: Callable[[], str]) -> Step:
    found = next((w for w in client.admin_webhooks() if w.get("name") == WEBHOOK_NAME), None)
    what = f"admin webhook {WEBHOOK_NAME!r} → {url} ({', '.join(EVENTS)})"
    if found is None:
        def create() -> Mapping[str, str]:
            secret = new_secret()
            body: dict[str, Any] = {"name": WEBHOOK_NAME, "url": url, "events": list(EVENTS), "excludeBody": False,
                                    "secret": secret}
            if projects:
                body["filters"] = {JQL_FILTER: f"project in ({', '.join(projects)})"}
            client.create_admin_webhook(body)
            # The new secret first; other values (an automation rule's header) stay valid.
            return {"JIRA_WEBHOOK_SECRET": ",".join([secret, *(s for s in existing if s != secret)])}
        return Step(what, "create, with a generated secret", run=create)
    by_hand = []
    if found.get("url") != url:
        by_hand.append(f"the admin webhook {WEBHOOK_NAME!r} points at {found.get('url')}, not {url}: change it in "
                       "Settings → System → WebHooks")
    if not found.get("enabled", True):
        by_hand.append(f"the admin webhook {WEBHOOK_NAME!r} is disabled: enable it")
    missing = [e for e in EVENTS if e not in (found.get("events") or [])]
    if missing:
        by_hand.append(f"the admin webhook {WEBHOOK_NAME!r} lacks the events {', '.join(missing)}: add them")
    if not existing:
        # Jira never shows a saved secret again.
        by_hand.append(f"the admin webhook {WEBHOOK_NAME!r} exists but JIRA_WEBHOOK_SECRET is not set and Jira does "
                       "not show its secret: generate a new one in Settings → System → WebHooks and set it")
    return Step(what, "reuse (its secret is the JIRA_WEBHOOK_SECRET already set)", by_hand=by_hand)
