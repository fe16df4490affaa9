"""The Zendesk install plan: the reason-code drop-down, the due-time text fields and the event webhook.

Endpoints: Create Ticket Field and Create Or Update Ticket Field Option
(https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_fields/), the Webhooks API and its signing
secret (https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks). Fields are found again by
title, the webhook by name, so a second run reuses them.
"""
from __future__ import annotations

from typing import Any, Mapping

from checks import rules_fields
from install.plan import Plan, Step, missing_fields
from rules import Rules
from zendesk.client import ZendeskClient
from zendesk.webhook import HANDLERS, TRIGGER_TEMPLATE

REASON_TITLE = "Reason code (slaclock)"
# (variable, title, description) of each due-time field. Text fields: a Zendesk date field has no time of day.
DUE_FIELDS = (
    ("ZENDESK_DUE_FIELD_ID", "SLA due (slaclock)", "When the case breaches its resolution target (UTC, set by "
                                                   "slaclock)"),
    ("ZENDESK_FIRST_RESPONSE_FIELD_ID", "First response due (slaclock)", "When the first reply is due (UTC)"),
    ("ZENDESK_NEXT_UPDATE_FIELD_ID", "Next update due (slaclock)", "When the next reply is due (UTC)"),
)
WEBHOOK_NAME = "slaclock"
# Every ticket event slaclock's receiver reads (zendesk.webhook.HANDLERS), in its order.
EVENTS = tuple(HANDLERS)
# The trigger variant (--trigger): a webhook connected to triggers, and the trigger that sends the template body.
# "A webhook that's subscribed to a Zendesk event can't connect to a trigger" and the connection method cannot be
# changed, so it is a second webhook with its own name.
TRIGGER_WEBHOOK_NAME = "slaclock (trigger)"
CONDITIONAL = "conditional_ticket_events"
TRIGGER_TITLE = "slaclock: ticket created or updated"
# Conditions "Ticket is Created" or "Ticket is Updated" (Conditions reference: update_type Create / Change).
TRIGGER_CONDITIONS = {"all": [], "any": [{"field": "update_type", "operator": "is", "value": "Create"},
                                        {"field": "update_type", "operator": "is", "value": "Change"}]}


def option_name(code: str) -> str:
    """An option's display name: `missing_part` → `Missing part`."""
    return code.replace("_", " ").capitalize()


def _by_title(fields: list[dict[str, Any]], title: str) -> dict[str, Any] | None:
    return next((f for f in fields if f.get("title") == title and f.get("active", True)), None)


def plan(client: ZendeskClient, rules: Rules, webhook_url: str, trigger: bool = False) -> Plan:
    """What `install zendesk` will do, read from the account (reads only); `trigger`: the trigger variant."""
    result = Plan("zendesk")
    fields = client.ticket_fields()
    codes = list(rules.routing.reason_codes)
    result.steps.append(_reason_step(client, fields, codes))
    for variable, title, description in DUE_FIELDS:
        result.steps.append(_text_step(client, fields, variable, title, description))
    webhooks = client.webhooks()
    if trigger:
        result.steps.append(_webhook_step(client, webhooks, webhook_url, TRIGGER_WEBHOOK_NAME, (CONDITIONAL,)))
        result.steps.append(_trigger_step(client, webhooks))
    else:
        result.steps.append(_webhook_step(client, webhooks, webhook_url))
    result.by_hand += [
        "if your account uses ticket forms, add the fields to each form (Admin Center → Objects and rules → "
        "Tickets → Forms); agents need not edit them",
        "give the API account the admin role if it has not (the incremental export, the lost-webhook safety net, "
        "is admin-only)",
    ]
    # Numeric ids only, as `check` reads them: a tier field may name a ticket attribute instead.
    named = [(key, fid) for key, fid in rules_fields(rules, "zendesk") if fid.isdigit()]
    result.by_hand += missing_fields(named, {str(f.get("id")) for f in fields}, "Zendesk ticket field",
                                     "this account", "Admin Center → Objects and rules → Tickets → Fields")
    if rules.connectors.zendesk.reason_field_id or rules.connectors.zendesk.due_field_id:
        result.by_hand.append("the rules file's [connectors.zendesk] field ids are overridden by the .env values "
                              "written here: remove them from the rules file to avoid confusion")
    return result


def _reason_step(client: ZendeskClient, fields: list[dict[str, Any]], codes: list[str]) -> Step:
    found = _by_title(fields, REASON_TITLE)
    what = f"reason-code drop-down {REASON_TITLE!r} ({len(codes)} option tags)"
    if found is None:
        def create() -> Mapping[str, str]:
            created = client.create_ticket_field({
                "type": "tagger", "title": REASON_TITLE,
                "description": "Why the case needs someone (slaclock routes by it)",
                "custom_field_options": [{"name": option_name(c), "value": c} for c in codes]})
            return {"ZENDESK_REASON_FIELD_ID": str(created["id"])}
        return Step(what, "create", run=create)
    env = {"ZENDESK_REASON_FIELD_ID": str(found["id"])}
    if found.get("type") != "tagger":
        return Step(what, f"field {found['id']} has that title but is a {found.get('type')} field: not used", {},
                    by_hand=[f"rename or delete ticket field {found['id']} ({REASON_TITLE!r}, type "
                             f"{found.get('type')}) and run install again: the reason field must be a drop-down"])
    tags = {o.get("value") for o in found.get("custom_field_options") or []}
    missing = [c for c in codes if c not in tags]
    if not missing:
        return Step(what, f"reuse field {found['id']}", env)

    def add_options() -> Mapping[str, str]:
        for code in missing:
            client.add_ticket_field_option(found["id"], option_name(code), code)
        return {}
    return Step(what, f"reuse field {found['id']}, add option tags {', '.join(missing)}", env, run=add_options)


def _text_step(client: ZendeskClient, fields: list[dict[str, Any]], variable: str, title: str,
               description: str) -> Step:
    found = _by_title(fields, title)
    what = f"due-time text field {title!r}"
    if found is None:
        def create() -> Mapping[str, str]:
            created = client.create_ticket_field({"type": "text", "title": title, "description": description})
            return {variable: str(created["id"])}
        return Step(what, "create", run=create)
    if found.get("type") != "text":
        return Step(what, f"field {found['id']} has that title but is a {found.get('type')} field: not used",
                    by_hand=[f"rename or delete ticket field {found['id']} ({title!r}) and run install again: "
                             "slaclock writes an ISO 8601 time, which needs a text field"])
    return Step(what, f"reuse field {found['id']}", {variable: str(found["id"])})


def _webhook_step(client: ZendeskClient, webhooks: list[dict[str, Any]], url: str, name: str = WEBHOOK_NAME,
                  subscriptions: tuple[str, ...] = EVENTS) -> Step:
    found = next((w for w in webhooks if w.get("name") == name), None)
    what = (f"webhook {name!r} → {url} (" +
            ("for triggers)" if subscriptions == (CONDITIONAL,) else f"{len(subscriptions)} ticket events)"))

    def secret_of(webhook_id: str) -> dict[str, str]:
        return {"ZENDESK_WEBHOOK_SECRET": client.webhook_signing_secret(webhook_id)}

    if found is None:
        def create() -> Mapping[str, str]:
            # Event subscriptions need POST and json ("JSON format" on the Webhooks API page).
            created = client.create_webhook({"name": name, "endpoint": url, "http_method": "POST",
                                             "request_format": "json", "status": "active",
                                             "subscriptions": list(subscriptions),
                                             "description": "slaclock: ticket events for the SLA clock"})
            return secret_of(str(created["id"]))
        return Step(what, "create, then read its signing secret", run=create)
    by_hand = []
    if found.get("endpoint") != url:
        by_hand.append(f"webhook {found['id']} ({name!r}) points at {found.get('endpoint')}, not {url}: "
                       "change its endpoint in Admin Center → Apps and integrations → Webhooks")
    if found.get("status") != "active":
        by_hand.append(f"webhook {found['id']} is {found.get('status')}: activate it")
    missing = [e for e in subscriptions if e not in (found.get("subscriptions") or [])]
    if missing:
        by_hand.append(f"webhook {found['id']} is not subscribed to {', '.join(missing)}: add them (Admin Center)")
    return Step(what, f"reuse webhook {found['id']}, read its signing secret", by_hand=by_hand,
                run=lambda: secret_of(str(found["id"])))


def _trigger_step(client: ZendeskClient, webhooks: list[dict[str, Any]]) -> Step:
    """The trigger whose action *Notify by → Active webhook* sends TRIGGER_TEMPLATE (the body is a string:
    `{"field": "notification_webhook", "value": [webhook_id, body]}`, Webhooks API page)."""
    found = next((t for t in client.triggers() if t.get("title") == TRIGGER_TITLE), None)
    what = f"trigger {TRIGGER_TITLE!r} (created or updated → webhook {TRIGGER_WEBHOOK_NAME!r}, slaclock's JSON body)"
    if found is not None:
        return Step(what, f"reuse trigger {found['id']}",
                    by_hand=[] if found.get("active") else [f"trigger {found['id']} is inactive: activate it"])

    def create() -> Mapping[str, str]:
        # Looked up again: on a first run the webhook step has just created it.
        hook = next(w for w in client.webhooks() if w.get("name") == TRIGGER_WEBHOOK_NAME)
        client.create_trigger({"title": TRIGGER_TITLE, "active": True, "conditions": TRIGGER_CONDITIONS,
                               "description": "Sends each ticket change to slaclock",
                               "actions": [{"field": "notification_webhook",
                                            "value": [str(hook["id"]), TRIGGER_TEMPLATE]}]})
        return {}
    return Step(what, "create", run=create)
