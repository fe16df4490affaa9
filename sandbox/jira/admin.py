"""The admin side of the fake Jira site that `slaclock install` and `check` use: custom fields with their contexts
and options (createCustomField, createCustomFieldContext, createCustomFieldOption), getMyPermissions, getUser, and
admin webhooks (`/rest/webhooks/1.0/webhook`, not in the platform OpenAPI: shapes from
https://developer.atlassian.com/server/jira/platform/webhooks/#registering-a-webhook-via-the-jira-rest-api)."""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Response, request

from sandbox.api import json_response
from sandbox.jira.errors import JiraError
from sandbox.jira.fields import FieldDef
from sandbox.jira.site import current_site

CUSTOM_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:"
# Field kind of the sandbox (FieldDef.kind) ↔ Jira's custom field type key and the `schema.type` Jira lists.
KINDS = {"select": ("select", "option"), "datetime": ("datetime", "datetime"), "text": ("textfield", "string")}
KIND_OF_TYPE = {CUSTOM_TYPE + jira_type: kind for kind, (jira_type, _) in KINDS.items()}
# createCustomField: "You must specify a searcher that is valid for the field type".
SEARCHERS = {"select": "multiselectsearcher", "datetime": "datetimerange", "text": "textsearcher"}
FIRST_CREATED_FIELD = 10_100
ADMIN_ONLY = "You are not authorized to perform this action. Administrator privileges are required."
# Permission keys getMyPermissions knows (the project permissions slaclock asks about, and a few more).
KNOWN_PERMISSIONS = ("BROWSE_PROJECTS", "EDIT_ISSUES", "ASSIGN_ISSUES", "ADD_COMMENTS", "CREATE_ISSUES",
                     "LINK_ISSUES", "MANAGE_WATCHERS", "TRANSITION_ISSUES", "ADMINISTER", "ADMINISTER_PROJECTS")


@dataclass
class JiraAdmin:
    """Contexts and options of custom fields (by field id), admin webhooks, and what the API user may not do."""

    initial_fields: dict[str, FieldDef]
    contexts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.initial_fields = dict(self.initial_fields)
        self.reset_state()

    def reset_state(self) -> None:
        with self.lock:
            # Every configured field has Jira's default context, "Default Configuration Scheme for <name>".
            self._context_ids = itertools.count(10_300)
            self.contexts = {fid: [self._context(f"Default Configuration Scheme for {spec.name}")]
                             for fid, spec in self.initial_fields.items()}
            self.webhooks = []
            self._field_ids = itertools.count(max([FIRST_CREATED_FIELD, *(
                int(fid.rpartition("_")[2]) + 1 for fid in self.initial_fields)]))
            self._webhook_ids = itertools.count(1)

    def _context(self, name: str) -> dict[str, Any]:
        return {"id": str(next(self._context_ids)), "name": name, "description": "", "isGlobalContext": True,
                "isAnyIssueType": True}


def _admin() -> JiraAdmin:
    return current_site().admin


def _require_admin() -> None:
    if not current_site().config.api_is_admin:
        raise JiraError(403, [ADMIN_ONLY])


def field_json(spec: FieldDef) -> dict[str, Any]:
    """FieldDetails of a custom field."""
    jira_type, schema_type = KINDS[spec.kind]
    number = int(spec.id.removeprefix("customfield_"))
    return {"id": spec.id, "key": spec.id, "name": spec.name, "custom": True, "orderable": True, "navigable": True,
            "searchable": True, "clauseNames": [f"cf[{number}]", spec.name],
            "schema": {"type": schema_type, "custom": CUSTOM_TYPE + jira_type, "customId": number}}


def custom_fields() -> list[dict[str, Any]]:
    return [field_json(spec) for spec in current_site().store.fields.values()]


def _field(field_id: str) -> FieldDef:
    spec = current_site().store.fields.get(field_id)
    if spec is None:
        raise JiraError(404, ["The custom field was not found."])
    return spec


def create_field() -> Response:
    """createCustomField: 201 with FieldDetails; only the three kinds slaclock uses are modelled."""
    _require_admin()
    body = request.get_json(silent=True) or {}
    kind = KIND_OF_TYPE.get(str(body.get("type")))
    if kind is None:
        raise JiraError(400, errors={"type": f"The custom field type {body.get('type')!r} is not supported here."})
    if body.get("searcherKey") and body["searcherKey"] != CUSTOM_TYPE + SEARCHERS[kind]:
        raise JiraError(400, errors={"searcherKey": "The searcher key is not valid for this field type."})
    admin, store = _admin(), current_site().store
    with admin.lock:
        spec = FieldDef(f"customfield_{next(admin._field_ids)}", str(body.get("name") or ""), kind)
        store.fields[spec.id] = spec
        admin.contexts[spec.id] = []  # Jira may add a default context; install must cope with none
    return json_response(field_json(spec), 201)


def list_contexts(field_id: str) -> Response:
    """getContextsForField: one page of the field's contexts (PageBeanCustomFieldContext)."""
    _field(field_id)
    values = _admin().contexts.get(field_id, [])
    return json_response({"maxResults": 100, "startAt": 0, "total": len(values), "isLast": True, "values": values})


def create_context(field_id: str) -> Response:
    """createCustomFieldContext: a global context for every issue type."""
    _require_admin()
    _field(field_id)
    body = request.get_json(silent=True) or {}
    if body.get("projectIds") or body.get("issueTypeIds"):
        raise JiraError(400, ["Only global contexts are modelled by the sandbox."])
    admin = _admin()
    with admin.lock:
        context = admin._context(str(body.get("name") or ""))
        admin.contexts.setdefault(field_id, []).append(context)
    return json_response({"id": context["id"], "name": context["name"], "description": "", "projectIds": [],
                          "issueTypeIds": []}, 201)


def _context_of(field_id: str, context_id: str) -> None:
    if not any(c["id"] == context_id for c in _admin().contexts.get(field_id, [])):
        raise JiraError(404, ["The context was not found."])


def _options(spec: FieldDef) -> list[dict[str, Any]]:
    return [{"id": spec.option_id(value), "value": value, "disabled": False} for value in spec.options]


def list_options(field_id: str, context_id: str) -> Response:
    """getOptionsForContext: one page of the options (PageBeanCustomFieldContextOption)."""
    spec = _field(field_id)
    _context_of(field_id, context_id)
    values = _options(spec)
    return json_response({"maxResults": 1000, "startAt": 0, "total": len(values), "isLast": True, "values": values})


def create_options(field_id: str, context_id: str) -> Response:
    """createCustomFieldOption: options of a select field; a value already there is a 400, as on Jira."""
    _require_admin()
    spec = _field(field_id)
    _context_of(field_id, context_id)
    if spec.kind != "select":
        raise JiraError(400, ["This custom field type does not support options."])
    values = [str(o.get("value") or "") for o in (request.get_json(silent=True) or {}).get("options") or []]
    clash = sorted(set(values) & set(spec.options)) or sorted(v for v in set(values) if values.count(v) > 1)
    if clash or not all(values):
        raise JiraError(400, [f"The option value(s) {', '.join(clash) or '(blank)'} are not unique or blank."])
    store = current_site().store
    with _admin().lock:
        updated = replace(spec, options=spec.options + tuple(values))
        store.fields[field_id] = updated
    return json_response({"options": [o for o in _options(updated) if o["value"] in values]})


def my_permissions() -> Response:
    """getMyPermissions: `permissions` is required; each key answers havePermission (the site's `missing_permissions`
    are false)."""
    keys = [k.strip() for k in request.args.get("permissions", "").split(",") if k.strip()]
    if not keys:
        raise JiraError(400, ["The 'permissions' query parameter is required."])
    unknown = [k for k in keys if k not in KNOWN_PERMISSIONS]
    if unknown:
        raise JiraError(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
    missing = set(current_site().config.missing_permissions)
    return json_response({"permissions": {key: {"id": str(n), "key": key, "name": key.replace("_", " ").title(),
                                                "type": "PROJECT", "description": "",
                                                "havePermission": key not in missing}
                                          for n, key in enumerate(keys, start=10)}})


def get_user() -> Response:
    """getUser by accountId: 404 when the account does not exist."""
    account = request.args.get("accountId", "")
    body = current_site().views_user(account)
    if body is None:
        raise JiraError(404, ["Specified user does not exist or you do not have required permissions"])
    return json_response(body)


def list_admin_webhooks() -> Response:
    _require_admin()
    return json_response(_admin().webhooks)


def create_admin_webhook() -> Response:
    """Register an admin webhook: 201 with it; it becomes the one the sandbox sends to, signed with its secret."""
    _require_admin()
    body = request.get_json(silent=True) or {}
    admin, site = _admin(), current_site()
    with admin.lock:
        number = next(admin._webhook_ids)
        hook = {"name": body["name"], "url": body["url"], "excludeBody": bool(body.get("excludeBody", False)),
                "filters": dict(body.get("filters") or {}), "events": list(body.get("events") or []),
                "enabled": bool(body.get("enabled", True)),
                "self": f"{request.host_url}rest/webhooks/1.0/webhook/{number}",
                "lastUpdatedUser": site.config.api_account_id, "lastUpdatedDisplayName": "slaclock API",
                "lastUpdated": 1736154000000}
        admin.webhooks.append(hook)
    if hook["enabled"]:
        site.sender.url = body["url"]
        site.sender.protocol.secret = body.get("secret") or None
    return json_response(hook, 201)
