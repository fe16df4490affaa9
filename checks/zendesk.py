"""What `slaclock check` asks Zendesk: groups, users, fields, the webhook. Each problem one line: the rules key or
variable, the value, what is wrong and the fix."""
from __future__ import annotations

import hmac
from typing import Any, Iterator, Mapping

from checks import rules_fields
from connectors.errors import ApiError
from rules import Rules
from zendesk.client import ZendeskClient
from zendesk.settings import METRIC_FIELD_VARIABLES, ZendeskSettings

# Show Many Users takes at most 100 ids.
USERS_PER_CALL = 100
WEBHOOK_PATH = "/webhooks/zendesk"
# Field types that take the ISO 8601 time slaclock writes.
TEXT_TYPES = ("text", "textarea")


def group_refs(rules: Rules) -> Iterator[tuple[str, str]]:
    """(rules key, group id) of every Zendesk group the rules name."""
    for team, spec in rules.teams.items():
        if spec.zendesk and spec.zendesk.group_id:
            yield f"teams.{team}.zendesk.group_id", spec.zendesk.group_id
    for group_id in rules.roles.zendesk.groups:
        yield f"roles.zendesk.groups.{group_id}", group_id


def user_refs(rules: Rules) -> Iterator[tuple[str, str, bool]]:
    """(rules key, user id, must be an agent) of every Zendesk user the rules name (rota members are people)."""
    for team, spec in rules.teams.items():
        if spec.zendesk and spec.zendesk.assignee_id:
            yield f"teams.{team}.zendesk.assignee_id", spec.zendesk.assignee_id, True
    for name, person in rules.people.items():
        if person.zendesk:
            yield f"people.{name}.zendesk", person.zendesk, True
    for user_id in rules.roles.zendesk.users:
        yield f"roles.zendesk.users.{user_id}", user_id, False


def _key(env: Mapping[str, str], variable: str, rules_key: str | None) -> str:
    """Where a field id came from: the variable when it is set, else the rules key."""
    return variable if env.get(variable, "").strip() or rules_key is None else rules_key


def problems(client: ZendeskClient, settings: ZendeskSettings, rules: Rules, env: Mapping[str, str],
             webhook_url: str | None, admin: bool = True) -> list[str]:
    """Every problem Zendesk shows with these rules and settings; the webhook (admin-only reads) unless `admin` is
    False because the account is known not to be one."""
    found: list[str] = []
    for ask in (_groups, _users, _fields):
        try:
            found += ask(client, settings, rules, env)
        except ApiError as e:
            found.append(f"zendesk: {ask.__name__.strip('_')} could not be read: {e}")
    if admin:
        found += _webhook(client, settings, webhook_url)
    else:
        print("zendesk: the webhook is not checked: the Webhooks API is admin-only")
    return found


def _groups(client: ZendeskClient, settings: ZendeskSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    ids = {str(g["id"]) for g in client.groups() if not g.get("deleted")}
    return [f"{key} = {value!r}: no such Zendesk group; use an id from Admin Center → People → Teams → Groups "
            f"(GET /api/v2/groups)" for key, value in group_refs(rules) if value not in ids]


def _users(client: ZendeskClient, settings: ZendeskSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    refs = list(user_refs(rules))
    wanted = sorted({value for _, value, _ in refs if value.isdigit()})
    users: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), USERS_PER_CALL):
        users.update({str(u["id"]): u for u in client.users_by_ids(wanted[start:start + USERS_PER_CALL])})
    out = []
    for key, value, agent in refs:
        user = users.get(value)
        if user is None or not user.get("active", True):
            out.append(f"{key} = {value!r}: no such active Zendesk user; use the user's id from Admin Center → "
                       "People → Team members")
        elif agent and user.get("role") not in ("agent", "admin"):
            out.append(f"{key} = {value!r}: {user.get('name', 'this user')} is an end user and cannot be assigned "
                       "tickets; name an agent")
    return out


def _fields(client: ZendeskClient, settings: ZendeskSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    fields = {str(f["id"]): f for f in client.ticket_fields()}
    out = []
    zd = rules.connectors.zendesk
    reason_key = _key(env, "ZENDESK_REASON_FIELD_ID", "connectors.zendesk.reason_field_id" if zd.reason_field_id
                      else None)
    reason = settings.reason_field_id
    fix = "run `slaclock install zendesk` or set it to the reason drop-down's id"
    if reason and reason not in fields:
        out.append(f"{reason_key} = {reason!r}: no such Zendesk ticket field; {fix}")
    elif reason:
        spec = fields[reason]
        if spec.get("type") != "tagger":
            out.append(f"{reason_key} = {reason!r}: {spec.get('title')!r} is a {spec.get('type')} field, not a "
                       f"drop-down; {fix}")
        else:
            tags = {o.get("value") for o in spec.get("custom_field_options") or []}
            missing = [code for code in rules.routing.reason_codes if code not in tags]
            if missing:
                out.append(f"{reason_key} = {reason!r}: the drop-down has no option tag {', '.join(missing)} "
                           "(routing.reason_codes); add them (or run `slaclock install zendesk`)")
    due = [("ZENDESK_DUE_FIELD_ID", "connectors.zendesk.due_field_id" if zd.due_field_id else None,
            settings.due_field_id)]
    due += [(METRIC_FIELD_VARIABLES[m], None, fid) for m, fid in settings.metric_field_ids.items()]
    for variable, rules_key, fid in due:
        if not fid:
            continue
        key = _key(env, variable, rules_key)
        if fid not in fields:
            out.append(f"{key} = {fid!r}: no such Zendesk ticket field; run `slaclock install zendesk` or set the "
                       "due-time text field's id")
        elif fields[fid].get("type") not in TEXT_TYPES:
            out.append(f"{key} = {fid!r}: {fields[fid].get('title')!r} is a {fields[fid].get('type')} field; "
                       "slaclock writes an ISO 8601 time, which needs a text field")
    for key, fid in rules_fields(rules, "zendesk"):
        if fid.isdigit() and fid not in fields:  # a tier field may name a ticket attribute instead
            out.append(f"{key} = {fid!r}: no such Zendesk ticket field; use the field's id (Admin Center → Objects "
                       "and rules → Tickets → Fields)")
    return out


def _webhook(client: ZendeskClient, settings: ZendeskSettings, expected: str | None) -> list[str]:
    try:
        hooks = client.webhooks()
    except ApiError as e:
        if e.status == 403:
            return ["zendesk: the Webhooks API answers 403, so the webhook cannot be checked: give the API account "
                    "the admin role"]
        return [f"zendesk: the webhooks could not be read: {e}"]
    fix = "run `slaclock install zendesk --webhook-url …`"
    if expected:
        matching = [h for h in hooks if h.get("endpoint") == expected]
        where = expected
    else:
        matching = [h for h in hooks if str(h.get("endpoint", "")).rstrip("/").endswith(WEBHOOK_PATH)]
        where = f"a URL ending in {WEBHOOK_PATH} (set SLACLOCK_PUBLIC_URL to check the exact address)"
    if not matching:
        return [f"zendesk: no webhook sends to {where}; {fix}"]
    active = [h for h in matching if h.get("status") == "active"]
    if not active:
        return [f"zendesk: webhook {matching[0]['id']} ({matching[0].get('name')!r}) is inactive; activate it in "
                "Admin Center → Apps and integrations → Webhooks"]
    hook = active[0]
    out = []
    subscribed = set(hook.get("subscriptions") or [])
    if "conditional_ticket_events" not in subscribed:
        from install.zendesk import EVENTS

        missing = [e for e in EVENTS if e not in subscribed]
        if missing:
            out.append(f"zendesk: webhook {hook['id']} is not subscribed to {', '.join(missing)}; add them")
    elif not _notified_by_a_trigger(client, str(hook["id"])):
        out.append(f"zendesk: webhook {hook['id']} is connected to triggers but no active trigger notifies it; run "
                   "`slaclock install zendesk --trigger` or add the trigger (README)")
    try:
        secret = client.webhook_signing_secret(str(hook["id"]))
    except ApiError as e:
        return out + [f"zendesk: the signing secret of webhook {hook['id']} could not be read: {e}"]
    if not any(hmac.compare_digest(secret.encode(), s.encode()) for s in settings.webhook_secrets):
        out.append(f"ZENDESK_WEBHOOK_SECRET: none of its values is the signing secret of webhook {hook['id']}, so "
                   "every delivery will be refused; copy it (run `slaclock install zendesk` or reveal it in Admin "
                   "Center)")
    return out


def _notified_by_a_trigger(client: ZendeskClient, webhook_id: str) -> bool:
    """An active trigger's `notification_webhook` action names the webhook (`value`: [id, body])."""
    for trigger in client.triggers():
        for action in trigger.get("actions") or [] if trigger.get("active") else []:
            value = action.get("value")
            if action.get("field") == "notification_webhook" and isinstance(value, list) and value and \
                    str(value[0]) == webhook_id:
                return True
    return False
