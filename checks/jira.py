"""What `slaclock check` asks Jira: accounts, fields and their types, priorities, statuses, permissions, the admin
webhook. Each problem one line: the rules key or variable, the value, what is wrong and the fix."""
from __future__ import annotations

from typing import Iterator, Mapping

from checks import rules_fields
from connectors.errors import ApiError
from jira.client import JiraClient
from jira.settings import METRIC_FIELD_VARIABLES, JiraSettings
from rules import Rules

CUSTOM_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:"
WEBHOOK_PATH = "/webhooks/jira"
# Project permissions slaclock's writes need (getMyPermissions keys) and where an admin grants them.
PERMISSIONS = {"BROWSE_PROJECTS": "Browse projects", "EDIT_ISSUES": "Edit issues", "ASSIGN_ISSUES": "Assign issues",
               "ADD_COMMENTS": "Add comments"}
STATUS_VARIABLES = {"JIRA_PAUSE_STATUSES": "pause_statuses", "JIRA_HOLD_STATUSES": "hold_statuses",
                    "JIRA_CLOSED_STATUSES": "closed_statuses"}


def account_refs(rules: Rules) -> Iterator[tuple[str, str]]:
    """(rules key, account id) of every Jira account the rules name (rota members are people)."""
    for team, spec in rules.teams.items():
        if spec.jira and spec.jira.assignee_id:
            yield f"teams.{team}.jira.assignee_id", spec.jira.assignee_id
    for name, person in rules.people.items():
        if person.jira:
            yield f"people.{name}.jira", person.jira
    for account_id in rules.roles.jira.users:
        yield f"roles.jira.users.{account_id}", account_id


def problems(client: JiraClient, settings: JiraSettings, rules: Rules, env: Mapping[str, str],
             webhook_url: str | None) -> list[str]:
    """Every problem Jira shows with these rules and settings."""
    found: list[str] = []
    for ask in (_accounts, _fields, _priorities, _statuses, _permissions):
        try:
            found += ask(client, settings, rules, env)
        except ApiError as e:
            found.append(f"jira: {ask.__name__.strip('_')} could not be read: {e}")
    found += _webhook(client, webhook_url)
    return found


def _accounts(client: JiraClient, settings: JiraSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    out, seen = [], {}
    for key, account in account_refs(rules):
        if account not in seen:
            try:
                seen[account] = bool(client.user(account).get("active", True))
            except ApiError as e:
                if e.status != 404:
                    raise
                seen[account] = False
        if not seen[account]:
            out.append(f"{key} = {account!r}: no such active Jira account; use the account id from the user's "
                       "profile URL (…/jira/people/<account id>)")
    return out


def _field_key(env: Mapping[str, str], variable: str, rules: Rules, rules_name: str) -> str:
    if env.get(variable, "").strip():
        return variable
    return f"connectors.jira.{rules_name}" if getattr(rules.connectors.jira, rules_name, None) else variable


def _fields(client: JiraClient, settings: JiraSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    fields = {f["id"]: f for f in client.fields()}
    out = []

    def kind(fid: str) -> str:
        return str((fields[fid].get("schema") or {}).get("custom") or "").removeprefix(CUSTOM_TYPE)

    reason = settings.reason_field_id
    if reason:
        key = _field_key(env, "JIRA_REASON_FIELD_ID", rules, "reason_field_id")
        if reason not in fields:
            out.append(f"{key} = {reason!r}: no such Jira field; run `slaclock install jira` or set the select "
                       "list's id")
        elif kind(reason) != "select":
            out.append(f"{key} = {reason!r}: {fields[reason].get('name')!r} is a {kind(reason) or 'system'} field, "
                       "not a Select List (single choice); run `slaclock install jira`")
        else:
            values = {o.get("value") for c in client.field_contexts(reason)
                      for o in client.context_options(reason, c["id"])}
            missing = [code for code in rules.routing.reason_codes if code not in values]
            if missing:
                out.append(f"{key} = {reason!r}: the select list has no option {', '.join(missing)} "
                           "(routing.reason_codes); add them (or run `slaclock install jira`)")
    due = [("JIRA_DUE_FIELD_ID", settings.due_field_id)]
    due += [(METRIC_FIELD_VARIABLES[m], fid) for m, fid in settings.metric_field_ids.items()]
    for variable, fid in due:
        if not fid:
            continue
        key = _field_key(env, variable, rules, "due_field_id") if variable == "JIRA_DUE_FIELD_ID" else variable
        if fid not in fields:
            out.append(f"{key} = {fid!r}: no such Jira field; run `slaclock install jira` or set the Date Time "
                       "Picker's id")
        elif kind(fid) != "datetime":
            out.append(f"{key} = {fid!r}: {fields[fid].get('name')!r} is a {kind(fid) or 'system'} field; slaclock "
                       "writes a date and time, which needs a Date Time Picker")
    others = [("JIRA_ORGANIZATION_FIELD_ID", "organization_field_id", settings.organization_field_id),
              ("JIRA_REQUEST_TYPE_FIELD_ID", "request_type_field_id", settings.request_type_field_id),
              ("JIRA_GROUP_FIELD_ID", "group_field_id", settings.group_field_id)]
    for variable, name, fid in others:
        if fid and fid not in fields:
            out.append(f"{_field_key(env, variable, rules, name)} = {fid!r}: no such Jira field; fix the id")
    for key, fid in rules_fields(rules, "jira"):
        if fid.startswith("customfield_") and fid not in fields:  # as JiraSettings.rules_field_ids reads them
            out.append(f"{key} = {fid!r}: no such Jira field; use the field's id (Settings → Issues → Custom "
                       "fields)")
    return out


def _priorities(client: JiraClient, settings: JiraSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    names = {str(p.get("name", "")).casefold() for p in client.priorities()}
    written: dict[str, str] = {}
    for jira_name, ours in settings.priority_map:
        written.setdefault(ours, jira_name)  # the first name of each priority is the one slaclock writes
    return [f"JIRA_PRIORITY_MAP: {name!r} (written for {ours}) is not a priority of this site; map {ours} to one of "
            f"its priorities first" for ours, name in written.items() if name.casefold() not in names]


def _statuses(client: JiraClient, settings: JiraSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    names = {str(s.get("name", "")).casefold() for s in client.statuses()}
    out = []
    for variable, attribute in STATUS_VARIABLES.items():
        if not env.get(variable, "").strip():
            continue  # the defaults name statuses a site may or may not have; only a set list is checked
        for name in sorted(getattr(settings, attribute)):
            if name not in names:
                out.append(f"{variable}: {name!r} is not a status of this site; fix the name or remove it")
    return out


def _permissions(client: JiraClient, settings: JiraSettings, rules: Rules, env: Mapping[str, str]) -> list[str]:
    out = []
    for project in settings.projects or (None,):
        have = client.my_permissions(list(PERMISSIONS), project)
        where = f"in project {project}" if project else "in any project"
        out += [f"JIRA_EMAIL: the API account lacks {label} ({key}) {where}; grant it in the project's permission "
                "scheme (Project settings → Permissions)" for key, label in PERMISSIONS.items() if not have[key]]
    return out


def _webhook(client: JiraClient, expected: str | None) -> list[str]:
    try:
        hooks = client.admin_webhooks()
    except ApiError as e:
        if e.status in (401, 403):
            print("jira: the admin webhook is not checked: listing webhooks needs Administer Jira")
            return []
        return [f"jira: the admin webhooks could not be read: {e}"]
    if expected:
        matching, where = [h for h in hooks if h.get("url") == expected], expected
    else:
        matching = [h for h in hooks if str(h.get("url", "")).rstrip("/").endswith(WEBHOOK_PATH)]
        where = f"a URL ending in {WEBHOOK_PATH} (set SLACLOCK_PUBLIC_URL to check the exact address)"
    if not matching:
        return [f"jira: no admin webhook sends to {where}; run `slaclock install jira --webhook-url …`"]
    enabled = [h for h in matching if h.get("enabled", True)]
    if not enabled:
        return [f"jira: the admin webhook {matching[0].get('name')!r} is disabled; enable it in Settings → System → "
                "WebHooks"]
    from install.jira import EVENTS

    missing = [e for e in EVENTS if e not in (enabled[0].get("events") or [])]
    return [f"jira: the admin webhook {enabled[0].get('name')!r} lacks the events {', '.join(missing)}; add them"
            ] if missing else []
