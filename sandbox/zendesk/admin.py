"""The admin side of the fake Zendesk account that `slaclock install` and `check` use: ticket fields (List / Create
Ticket Field, TicketFieldObject) and the Webhooks API (not in the Support OpenAPI file: shapes from
https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks)."""
from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from flask import Response, request

from sandbox.api import json_response
from sandbox.zendesk.errors import RECORD_NOT_FOUND, record_invalid
from sandbox.zendesk.shapes import base_url
from sandbox.zendesk.site import current_site

STAMP = "2025-01-06T09:00:00Z"
# Custom field types Create Ticket Field accepts ("type": TicketFieldObject; `tagger` is the drop-down).
FIELD_TYPES = ("text", "textarea", "checkbox", "date", "integer", "decimal", "regexp", "partialcreditcard",
               "multiselect", "tagger", "lookup")
OPTION_TYPES = ("tagger", "multiselect")
# Created fields get ids above the configured ones, like Zendesk's large ids.
FIRST_CREATED_FIELD_ID = 360_100
# What the API user may not do: Create Ticket Field and the Webhooks API are "Allowed for: Admins".
ADMIN_ONLY = {"error": "Forbidden", "description": "You do not have access to this page. Please contact the "
                                                   "account owner of this help desk for further help."}


@dataclass
class WebhookRecord:
    """One webhook: its object as the API shows it and its signing secret (shown only by /signing_secret)."""

    body: dict[str, Any]
    secret: str


@dataclass
class Admin:
    """Ticket fields (id → TicketFieldObject) and webhooks (id → WebhookRecord) of the account."""

    configured: Mapping[int, str]
    # The webhook a configured sandbox already sends to: (spec, id, secret), listed after every reset.
    seed_webhook: tuple[Mapping[str, Any], str, str] | None = None
    fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, WebhookRecord] = field(default_factory=dict)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.fields = {fid: field_json(fid, {"type": "text", "title": title}, n)
                           for n, (fid, title) in enumerate(sorted(self.configured.items()))}
            self.webhooks = {}
            self.triggers = []
            self._ids = itertools.count(max([FIRST_CREATED_FIELD_ID, *(i + 1 for i in self.configured)]))
            self._option_ids = itertools.count(360_900_001)
            if self.seed_webhook is not None:
                spec, webhook_id, secret = self.seed_webhook
                self.add_webhook(spec, webhook_id, secret)

    def add_field(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            fid = next(self._ids)
            options = [{**o, "id": next(self._option_ids), "raw_name": o.get("name", ""), "default": False,
                        "url": f"{base_url()}api/v2/ticket_fields/{fid}/options.json"}
                       for o in spec.get("custom_field_options") or []]
            self.fields[fid] = field_json(fid, {**spec, "custom_field_options": options}, len(self.fields))
            return self.fields[fid]

    def add_webhook(self, spec: Mapping[str, Any], webhook_id: str | None = None,
                    secret: str | None = None) -> WebhookRecord:
        with self.lock:
            webhook_id = webhook_id or "01H" + secrets.token_hex(12).upper()[:23]
            body = {"id": webhook_id, "name": spec["name"], "description": spec.get("description", ""),
                    "endpoint": spec["endpoint"], "http_method": spec["http_method"],
                    "request_format": spec["request_format"], "status": spec["status"],
                    "subscriptions": list(spec.get("subscriptions") or []), "created_at": STAMP,
                    "created_by": str(current_site_user_id()), "updated_at": STAMP}
            record = WebhookRecord(body, secret or secrets.token_urlsafe(32))
            self.webhooks[webhook_id] = record
            return record


def current_site_user_id() -> int:
    try:
        return current_site().config.api_user_id
    except RuntimeError:  # outside a request (seeding the configured webhook)
        return -1


def field_json(fid: int, spec: Mapping[str, Any], position: int) -> dict[str, Any]:
    """A TicketFieldObject for a custom field."""
    title = spec["title"]
    body = {"id": fid, "url": f"{_base()}api/v2/ticket_fields/{fid}.json", "type": spec["type"], "title": title,
            "raw_title": title, "description": spec.get("description", ""),
            "raw_description": spec.get("description", ""), "position": position,
            "active": spec.get("active", True), "required": False, "collapsed_for_agents": False,
            "regexp_for_validation": None, "title_in_portal": title, "visible_in_portal": False,
            "editable_in_portal": False, "required_in_portal": False, "tag": None, "removable": True, "key": None,
            "created_at": STAMP, "updated_at": STAMP}
    if spec["type"] in OPTION_TYPES:
        body["custom_field_options"] = list(spec.get("custom_field_options") or [])
    return body


def _base() -> str:
    try:
        return base_url()
    except RuntimeError:
        return "https://sandbox.zendesk.com/"


def _admin() -> Admin:
    return current_site().admin


def _is_admin() -> bool:
    return current_site().config.api_user_role == "admin"


def list_ticket_fields() -> Response:
    """List Ticket Fields: every custom field (configured ones as text fields, created ones as created)."""
    fields = list(_admin().fields.values())
    return json_response({"ticket_fields": fields, "next_page": None, "previous_page": None, "count": len(fields)})


def create_ticket_field() -> Response:
    """Create Ticket Field: `type` and `title` required; a drop-down (`tagger`) needs options with unique tags."""
    if not _is_admin():
        return json_response(ADMIN_ONLY, 403)
    spec = (request.get_json(silent=True) or {}).get("ticket_field") or {}
    problems: dict[str, list[dict[str, str]]] = {}
    if spec.get("type") not in FIELD_TYPES:
        problems["type"] = [{"description": f"Type: is not valid ({spec.get('type')!r})", "error": "InvalidValue"}]
    if not str(spec.get("title") or "").strip():
        problems["title"] = [{"description": "Title: cannot be blank", "error": "BlankValue"}]
    options = spec.get("custom_field_options") or []
    tags = [o.get("value") for o in options]
    if spec.get("type") in OPTION_TYPES and (not options or len(set(tags)) != len(tags) or not all(tags)):
        problems["custom_field_options"] = [{"description": "Field options: need a unique tag each",
                                             "error": "InvalidValue"}]
    if problems:
        return json_response(record_invalid(problems), 422)
    created = _admin().add_field(spec)
    current_site().store.add_custom_field(created["id"])
    return json_response({"ticket_field": created}, 201)


def add_field_option(field_id: int) -> Response:
    """Create or Update Ticket Field Option on a drop-down: 201 with the new option (a tag already there: 422)."""
    if not _is_admin():
        return json_response(ADMIN_ONLY, 403)
    admin = _admin()
    spec = (request.get_json(silent=True) or {}).get("custom_field_option") or {}
    with admin.lock:
        found = admin.fields.get(field_id)
        if found is None:
            return json_response(RECORD_NOT_FOUND, 404)
        options = found.get("custom_field_options")
        if options is None or not spec.get("name") or not spec.get("value") or \
                spec["value"] in {o["value"] for o in options}:
            return json_response(record_invalid({"value": [{"description": "Value: needs a unique tag",
                                                            "error": "InvalidValue"}]}), 422)
        option = {"id": next(admin._option_ids), "name": spec["name"], "raw_name": spec["name"],
                  "value": spec["value"], "default": False,
                  "url": f"{base_url()}api/v2/ticket_fields/{field_id}/options.json"}
        options.append(option)
    return json_response({"custom_field_option": option}, 201)


def list_webhooks() -> Response:
    """List Webhooks (one cursor page); `filter[name_contains]` narrows by name."""
    if not _is_admin():
        return json_response(ADMIN_ONLY, 403)
    contains = request.args.get("filter[name_contains]", "").lower()
    hooks = [w.body for w in _admin().webhooks.values() if contains in w.body["name"].lower()]
    return json_response({"webhooks": hooks, "meta": {"has_more": False, "after_cursor": None,
                                                      "before_cursor": None},
                          "links": {"next": None, "prev": None}})


def create_webhook() -> Response:
    """Create or Clone Webhook: answers 201 with the webhook; the newest active one is the one the sandbox sends to
    (an event-subscription webhook), signed with its own secret."""
    if not _is_admin():
        return json_response(ADMIN_ONLY, 403)
    spec = (request.get_json(silent=True) or {}).get("webhook") or {}
    events = [s for s in spec.get("subscriptions") or [] if s != "conditional_ticket_events"]
    if events and (spec.get("http_method") != "POST" or spec.get("request_format") != "json"):
        # "To subscribe the webhook to Zendesk events, this must be POST" / "must be json".
        return json_response({"errors": [{"code": "InvalidWebhook", "title": "Invalid webhook",
                                          "detail": "event subscriptions need http_method POST and json"}]}, 400)
    record = _admin().add_webhook(spec)
    if spec.get("status") == "active" and events:
        site = current_site()
        site.sender.url = spec["endpoint"]
        site.protocol.secret, site.protocol.webhook_id = record.secret, record.body["id"]
    return json_response({"webhook": record.body}, 201)


def list_triggers() -> Response:
    """List Ticket Triggers (one page)."""
    triggers = _admin().triggers
    return json_response({"triggers": triggers, "next_page": None, "previous_page": None, "count": len(triggers)})


def create_trigger() -> Response:
    """Create Trigger: 201 with the trigger. A `notification_webhook` action must name an existing webhook connected
    to triggers ("conditional_ticket_events") and carry its body as a string. The sandbox records triggers; it does
    not run them (its webhooks are the event subscriptions')."""
    if not _is_admin():
        return json_response(ADMIN_ONLY, 403)
    spec = (request.get_json(silent=True) or {}).get("trigger") or {}
    admin = _admin()
    for action in spec.get("actions") or []:
        if action.get("field") != "notification_webhook":
            continue
        value = action.get("value")
        hook = admin.webhooks.get(value[0]) if isinstance(value, list) and len(value) == 2 else None
        if hook is None or "conditional_ticket_events" not in hook.body["subscriptions"] or \
                not isinstance(value[1], str):
            return json_response(record_invalid({"actions": [{"description": "Actions: notification_webhook needs "
                                                              "[a trigger webhook's id, the body as a string]",
                                                              "error": "InvalidValue"}]}), 422)
    with admin.lock:
        trigger = {"id": 360_500_001 + len(admin.triggers), "title": spec["title"], "active": spec.get("active", True),
                   "conditions": spec["conditions"], "actions": spec["actions"],
                   "description": spec.get("description", ""), "position": len(admin.triggers) + 1,
                   "url": f"{base_url()}api/v2/triggers/{360_500_001 + len(admin.triggers)}.json",
                   "created_at": STAMP, "updated_at": STAMP}
        admin.triggers.append(trigger)
    return json_response({"trigger": trigger}, 201)


def show_webhook(webhook_id: str) -> Response:
    record = _admin().webhooks.get(webhook_id)
    return json_response({"webhook": record.body}) if record else json_response(RECORD_NOT_FOUND, 404)


def show_signing_secret(webhook_id: str) -> Response:
    """Show Webhook Signing Secret: `{"signing_secret": {"algorithm": "SHA256", "secret": …}}`."""
    if not _is_admin():
        return json_response(ADMIN_ONLY, 403)
    record = _admin().webhooks.get(webhook_id)
    if record is None:
        return json_response(RECORD_NOT_FOUND, 404)
    return json_response({"signing_secret": {"algorithm": "SHA256", "secret": record.secret}})


def configured_webhook(config: Any, events: Iterable[str]) -> tuple[Mapping[str, Any], str, str] | None:
    """The webhook a configured sandbox already sends to (SandboxConfig.zendesk.webhook_url), as the API lists it."""
    if not config.webhook_url:
        return None
    return ({"name": "slaclock", "endpoint": config.webhook_url, "http_method": "POST", "request_format": "json",
             "status": "active", "subscriptions": list(events)}, config.webhook_id, config.webhook_secret)
