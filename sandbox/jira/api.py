"""The Jira Cloud platform (REST v3) and JSM (servicedeskapi) endpoints slaclock uses, with Jira's shapes and errors.

Every endpoint is a row of ROUTES; a JiraError raised anywhere is answered in the shape of the API it hit.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import Response, request

from sandbox.api import Route, blueprint, json_response
from sandbox.jira import admin
from sandbox.jira.errors import JiraError, jira_error
from sandbox.jira.fields import PRIORITIES, STATUSES, adf_to_text, is_adf_doc
from sandbox.jira.jql import UNBOUNDED, JqlError, parse
from sandbox.jira.shapes import LINK_VERBS, JiraJson, wanted_fields
from sandbox.jira.site import GROUP_MEMBERS, current_site
from sandbox.jira.sla import sla_metrics
from sandbox.jira.store import IssueRecord
from sandbox.jira.workflow import TRANSITIONS, offered

PREFIX = "/rest/"
# Jira returns at most 5000 ids per page, and fewer (here 100) when fields are asked for.
MAX_PAGE_IDS, MAX_PAGE_WITH_FIELDS, DEFAULT_PAGE = 5000, 100, 50
INTERNAL_PROPERTY = "sd.public.comment"
# search/jql: "A list of up to 5 issue properties to include in the results".
MAX_SEARCH_PROPERTIES = 5
REQUEST_NOT_FOUND = "Request does not exist or you do not have permission to see it."


def _body() -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except json.JSONDecodeError as e:
        raise JiraError(400, [f"Unexpected character at line {e.lineno} column {e.colno}"]) from None


def _views(version: int = 3) -> JiraJson:
    return JiraJson(current_site().store, request.host_url, version)


def myself() -> Response:
    return json_response(_views().user(current_site().config.api_account_id, with_email=True))


def user_groups() -> Response:
    """Every sandbox agent is in JSM's agent group; customers are in none."""
    account = request.args.get("accountId", "")
    if not account:
        raise JiraError(400, ["accountId is required"])
    if account.startswith("qm:"):
        return json_response([])
    return json_response([{"name": "jira-servicemanagement-users", "groupId": "b8a3c4d5-0000-4000-8000-000000000001",
                           "self": f"{request.host_url.rstrip('/')}/rest/api/3/group?groupId=b8a3c4d5"}])


def group_members() -> Response:
    """getUsersFromGroup by `groupId`: one page of every member (PageBeanUserDetails)."""
    group_id = request.args.get("groupId") or ""
    if group_id not in GROUP_MEMBERS:
        raise JiraError(404, [f"Specified group does not exist: {group_id or '(none)'}"])
    views = _views()
    members = [views.user(account) for account in GROUP_MEMBERS[group_id]]
    return json_response({"self": request.url, "maxResults": 50, "startAt": 0, "total": len(members),
                          "isLast": True, "values": [m for m in members if m is not None]})


def assignable_users() -> Response:
    """findAssignableUsers for `issueKey` (or `project`): every agent account (customers may not be assigned)."""
    key, project = request.args.get("issueKey"), request.args.get("project")
    if not key and not project:
        raise JiraError(400, ["One of the following parameters must be provided: project, issueKey, issueId"])
    site = current_site()
    if key:
        site.store.get(key)  # 404 for an issue that does not exist
    views = _views()
    return json_response([views.user(u.account_id) for u in site.store.users.values() if u.assignable])


def approximate_count() -> Response:
    """countIssues: how many issues a bounded JQL query matches."""
    params = _body()
    jql = str((params or {}).get("jql") or "") if isinstance(params, dict) else ""
    try:
        query = parse(jql)
    except JqlError as e:
        raise JiraError(400, [str(e)]) from None
    if not query.bounded:
        raise JiraError(400, [UNBOUNDED])
    site = current_site()
    now = site.clock()
    return json_response({"count": len(site.store.select(lambda issue: query.matches(issue, now)))})


def list_fields() -> Response:
    """getFields: the system fields slaclock reads and every custom field of the site (FieldDetails)."""
    def field(fid: str, name: str, kind: str) -> dict[str, Any]:
        return {"id": fid, "key": fid, "name": name, "custom": False, "orderable": True, "navigable": True,
                "searchable": True, "clauseNames": [fid], "schema": {"type": kind, "system": fid}}

    system = [field("summary", "Summary", "string"), field("status", "Status", "status"),
              field("priority", "Priority", "priority"), field("assignee", "Assignee", "user"),
              field("labels", "Labels", "array")]
    return json_response(system + admin.custom_fields())


def list_priorities() -> Response:
    """getPriorities: every priority (Priority), highest first."""
    views = _views()
    return json_response([{**views.priority(name), "description": name, "statusColor": "#cccccc"}
                          for _, name in PRIORITIES])


def list_statuses() -> Response:
    """getStatuses: every status (StatusDetails) with its category."""
    views = _views()
    return json_response([{**views.status(name), "iconUrl": f"{request.host_url}images/icons/statuses/generic.png"}
                          for name in STATUSES])


def get_issue(key: str) -> Response:
    issue = current_site().store.get(key)
    return json_response(_views().issue(issue, wanted_fields(request.args.get("fields"), default_all=True)))


def edit_issue(key: str) -> Response:
    site = current_site()
    mutation = site.store.edit(key, _body(), site.config.api_account_id,
                               assignee_on_screen=site.config.assignee_on_edit_screen)
    if request.args.get("returnIssue", "").lower() == "true":
        return json_response(_views().issue(mutation.record))
    return Response(status=204)


def list_transitions(key: str) -> Response:
    """getTransitions: what the issue's workflow offers from its status now (IssueTransition)."""
    issue, views = current_site().store.get(key), _views()
    return json_response({"expand": "transitions", "transitions": [
        {"id": t, "name": TRANSITIONS[t][0], "to": views.status(TRANSITIONS[t][1]), "hasScreen": False,
         "isGlobal": False, "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False}
        for t in offered(issue.status)]})


def do_transition(key: str) -> Response:
    """doTransition: `{"transition": {"id"}}` moves the issue to that transition's status; 204."""
    body, site = _body(), current_site()
    transition = (body.get("transition") or {}).get("id") if isinstance(body, dict) else None
    issue = site.store.get(key)
    if str(transition) not in offered(issue.status):
        raise JiraError(400, [f"Transition id '{transition}' is not valid for this issue."])
    site.store.edit(key, {"fields": {"status": {"name": TRANSITIONS[str(transition)][1]}}},
                    site.config.api_account_id, allow_status=True)
    return Response(status=204)


def assign_issue(key: str) -> Response:
    body = _body()
    if not isinstance(body, dict) or "accountId" not in body:
        raise JiraError(400, errors={"accountId": "Specify the accountId of the user to assign, or null."})
    current_site().store.assign(key, body["accountId"], current_site().config.api_account_id)
    return Response(status=204)


# getComments: `orderBy` takes created, -created or +created; `maxResults` defaults to 100.
COMMENT_ORDERS = {"created": False, "+created": False, "-created": True}  # orderBy → descending
COMMENTS_PAGE = 100
# commentList: "A maximum of 1000 IDs can be specified"; setCommentProperty: key ≤ 255 chars, value ≤ 32768 bytes.
COMMENT_LIST_MAX_IDS = 1000
PROPERTY_KEY_MAX, PROPERTY_VALUE_MAX = 255, 32768


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        raise JiraError(400, [f"The value '{request.args.get(name)}' is not valid for {name}."]) from None


def _expand() -> set[str]:
    return {part.strip() for part in request.args.get("expand", "").split(",") if part.strip()}


def list_comments(key: str) -> Response:
    """getComments: one page (`startAt`, `maxResults`) in creation order or, with `orderBy=-created`, newest first.

    Like v3 documents, `expand` is `renderedBody` only: properties are read through POST /comment/list."""
    issue, views = current_site().store.get(key), _views()
    order = request.args.get("orderBy")
    if order is not None and order not in COMMENT_ORDERS:
        raise JiraError(400, [f"The value '{order}' is not valid for orderBy. Valid values are created, -created, "
                              "+created."])
    start, limit = max(0, _int_arg("startAt", 0)), max(1, _int_arg("maxResults", COMMENTS_PAGE))
    ordered = sorted(issue.comments, key=lambda c: (c.created, c.id), reverse=COMMENT_ORDERS.get(order, False))
    comments = [views.comment(issue, c) for c in ordered[start:start + limit]]
    return json_response({"startAt": start, "maxResults": limit, "total": len(ordered), "comments": comments})


def _properties(value: Any) -> dict[str, Any]:
    """`properties`: a list of EntityProperty {key, value}, validated as setCommentProperty validates one."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise JiraError(400, errors={"properties": "properties must be a list of {key, value} objects."})
    found: dict[str, Any] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"] \
                or set(item) - {"key", "value"}:
            raise JiraError(400, errors={"properties": "Each property needs a key and a value, and nothing else."})
        if len(item["key"]) > PROPERTY_KEY_MAX:
            raise JiraError(400, [f"The property key can't be longer than {PROPERTY_KEY_MAX} characters."])
        if item.get("value") in (None, "", [], {}):
            raise JiraError(400, [f"The value of property '{item['key']}' must not be empty."])
        if len(json.dumps(item["value"]).encode()) > PROPERTY_VALUE_MAX:
            raise JiraError(400, [f"The property '{item['key']}' is too large; the limit is "
                                  f"{PROPERTY_VALUE_MAX} bytes."])
        found[item["key"]] = item["value"]
    return found


def add_comment(key: str) -> Response:
    body = _body()
    if not isinstance(body, dict) or not is_adf_doc(body.get("body")):
        raise JiraError(400, errors={"comment": "Comment body must be an Atlassian Document (ADF)."})
    text = adf_to_text(body["body"])
    if not text.strip():
        raise JiraError(400, errors={"comment": "Comment body can not be empty!"})
    properties = _properties(body.get("properties"))
    internal = (properties.get(INTERNAL_PROPERTY) or {}) if isinstance(properties.get(INTERNAL_PROPERTY), dict) \
        else {}
    site = current_site()
    mutation = site.store.add_comment(key, text, internal.get("internal") is not True, site.config.api_account_id,
                                      properties)
    return json_response(_views().comment(mutation.record, mutation.comment), 201)


def comment_list() -> Response:
    """getCommentsByIds: the comments with these ids (unknown ids left out); `expand=properties` adds each one's."""
    body = _body()
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids) \
            or set(body) - {"ids"}:
        raise JiraError(400, ["The request body must be {\"ids\": [comment ids]}."])
    if len(ids) > COMMENT_LIST_MAX_IDS:
        raise JiraError(400, [f"A maximum of {COMMENT_LIST_MAX_IDS} IDs can be specified."])
    views, with_properties = _views(), "properties" in _expand()
    values = []
    for issue, comment in current_site().store.comments_by_id(ids):
        value = views.comment(issue, comment)
        if with_properties:
            value["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
        values.append(value)
    return json_response({"isLast": True, "maxResults": COMMENT_LIST_MAX_IDS, "startAt": 0, "total": len(values),
                          "values": values})


def create_issue() -> Response:
    """createIssue: `fields` (issuetype required) and issue `properties`; 201 {id, key, self}."""
    body = _body()
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise JiraError(400, ["The request body must be an object with `fields`."])
    fields = body["fields"]
    issuetype = fields.get("issuetype")
    if not isinstance(issuetype, dict) or not (issuetype.get("name") or issuetype.get("id")):
        raise JiraError(400, errors={"issuetype": "Specify an issue type"})
    properties = _properties(body.get("properties"))
    site = current_site()
    mutation = site.store.create(fields, site.config.api_account_id, properties)
    issue = mutation.record
    return json_response({"id": str(issue.id), "key": issue.key, "self": _views().issue(issue, set())["self"]}, 201)


def add_watcher(key: str) -> Response:
    """addWatcher: the body is the accountId as a JSON string; no body adds the caller. 204; 404 for a user who is
    unknown or may not browse the issue."""
    # "If no user is specified the calling user is added."
    account = _body() if request.get_data(as_text=True).strip() else current_site().config.api_account_id
    if not isinstance(account, str) or not account:
        raise JiraError(400, ["The body must be the account ID of the user, as a JSON string."])
    current_site().store.add_watcher(key, account)
    return Response(status=204)


def list_watchers(key: str) -> Response:
    site, views = current_site(), _views()
    issue = site.store.get(key)
    return json_response({"self": views._api(f"issue/{issue.key}/watchers"),
                          "isWatching": site.config.api_account_id in issue.watchers,
                          "watchCount": len(issue.watchers),
                          "watchers": [views.user(account) for account in issue.watchers]})




def link_issues() -> Response:
    """linkIssues: 201, no body; a link that exists already is answered 201 and not added again (as Jira documents:
    "the response indicates that the issue link was created"), while a `comment` is added each time."""
    body = _body()
    if not isinstance(body, dict) or set(body) - {"type", "inwardIssue", "outwardIssue", "comment"}:
        raise JiraError(400, ["The body must have type, inwardIssue and outwardIssue (and optionally comment)."])
    link_type, inward, outward = (body.get(k) if isinstance(body.get(k), dict) else {}
                                  for k in ("type", "inwardIssue", "outwardIssue"))
    name = link_type.get("name")
    if name not in LINK_VERBS:
        raise JiraError(404, [f"No issue link type with name '{name}' found."])
    inward_key, outward_key = inward.get("key") or inward.get("id"), outward.get("key") or outward.get("id")
    if not inward_key or not outward_key:
        raise JiraError(400, ["inwardIssue and outwardIssue each need a key or an id."])
    site = current_site()
    site.store.link(name, str(inward_key), str(outward_key))
    comment = body.get("comment")
    if isinstance(comment, dict) and is_adf_doc(comment.get("body")):
        # Derived (the spec does not say which end gets it): the comment lands on the inward issue.
        site.store.add_comment(str(inward_key), adf_to_text(comment["body"]), True, site.config.api_account_id)
    return Response(status=201)


def _page_token(offset: int, jql: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": jql}).encode()).decode()


def _offset(token: str | None, jql: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["q"] == jql and isinstance(data["o"], int) and data["o"] >= 0:
            return data["o"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise JiraError(400, ["The provided next page token is invalid or expired."])


def search_jql() -> Response:
    if request.method == "POST":
        params = _body()
        if not isinstance(params, dict):
            raise JiraError(400, ["Can not deserialize the request body: expected a JSON object"])
    else:
        params = {"jql": request.args.get("jql"), "nextPageToken": request.args.get("nextPageToken"),
                  "maxResults": request.args.get("maxResults"), "fields": request.args.get("fields"),
                  "properties": request.args.get("properties")}
    jql = str(params.get("jql") or "")
    try:
        query = parse(jql)
    except JqlError as e:
        raise JiraError(400, [str(e)]) from None
    if not query.bounded:
        raise JiraError(400, [UNBOUNDED])
    wanted = wanted_fields(params.get("fields"), default_all=False)
    try:
        limit = int(params.get("maxResults") or DEFAULT_PAGE)
    except (TypeError, ValueError):
        raise JiraError(400, ["maxResults must be a number"]) from None
    limit = max(1, min(limit, MAX_PAGE_IDS if not wanted or wanted == {"id"} else MAX_PAGE_WITH_FIELDS))
    site = current_site()
    now, offset = site.clock(), _offset(params.get("nextPageToken"), jql)
    issues = query.sort(site.store.select(lambda issue: query.matches(issue, now)))
    page = issues[offset:offset + limit]
    views = _views()
    keys = params.get("properties") or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not isinstance(keys, list) or len(keys) > MAX_SEARCH_PROPERTIES:
        raise JiraError(400, [f"properties: give at most {MAX_SEARCH_PROPERTIES} property keys."])
    rendered = []
    for issue in page:
        item = views.issue(issue, wanted)
        if keys:
            item["properties"] = {k: issue.properties[k] for k in keys if k in issue.properties}
        rendered.append(item)
    body: dict[str, Any] = {"issues": rendered}
    more = offset + limit < len(issues)
    if more:
        body["nextPageToken"] = _page_token(offset + limit, jql)
    body["isLast"] = not more
    return json_response(body)


def _service_request(key: str) -> IssueRecord:
    issue = current_site().store.get(key)
    if not issue.service_project:
        raise JiraError(404, [REQUEST_NOT_FOUND])
    return issue


def add_request_comment(key: str) -> Response:
    issue = _service_request(key)
    body = _body()
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"].strip():
        raise JiraError(400, ["The comment body must be a non-empty string."])
    # CommentCreateDTO is `additionalProperties: false`: body and public only (no properties at creation).
    unknown = sorted(set(body) - {"body", "public"})
    if unknown:
        raise JiraError(400, [f"Unrecognized field(s) {unknown}: a request comment takes body and public only."])
    if not isinstance(body.get("public"), bool):
        raise JiraError(400, ["The 'public' field is required: true for a reply, false for an internal comment."])
    site = current_site()
    mutation = site.store.add_comment(issue.key, body["body"], body["public"], site.config.api_account_id)
    return json_response(_views().request_comment(mutation.record, mutation.comment), 201)


def request_feedback(key: str) -> Response:
    """Get feedback: CSATFeedbackFullDTO, or 404 while the customer has given none."""
    issue = _service_request(key)
    if issue.feedback is None:
        raise JiraError(404, ["No feedback has been given for this request."])
    return json_response(issue.feedback)


def request_sla(key: str) -> Response:
    issue = _service_request(key)
    try:
        start = max(0, int(request.args.get("start", 0)))
        limit = max(1, int(request.args.get("limit", 50)))
    except ValueError:
        raise JiraError(400, ["start and limit must be numbers"]) from None
    metrics = sla_metrics(issue, current_site().clock(), request.host_url.rstrip("/"))
    values = metrics[start:start + limit]
    base = f"{request.host_url.rstrip('/')}/rest/servicedeskapi/request/{issue.id}/sla"
    return json_response({"size": len(values), "start": start, "limit": limit,
                          "isLastPage": start + limit >= len(metrics),
                          "_links": {"base": request.host_url.rstrip("/"), "context": "", "self": base},
                          "values": values})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/rest/api/3/myself", myself),
    Route("GET", "/rest/api/3/user/groups", user_groups),
    Route("GET", "/rest/api/3/group/member", group_members),
    Route("GET", "/rest/api/3/user/assignable/search", assignable_users),
    Route("POST", "/rest/api/3/search/approximate-count", approximate_count),
    Route("GET", "/rest/api/3/field", list_fields),
    Route("POST", "/rest/api/3/field", admin.create_field),
    Route("GET", "/rest/api/3/field/<field_id>/context", admin.list_contexts),
    Route("POST", "/rest/api/3/field/<field_id>/context", admin.create_context),
    Route("GET", "/rest/api/3/field/<field_id>/context/<context_id>/option", admin.list_options),
    Route("POST", "/rest/api/3/field/<field_id>/context/<context_id>/option", admin.create_options),
    Route("GET", "/rest/api/3/mypermissions", admin.my_permissions),
    Route("GET", "/rest/api/3/user", admin.get_user),
    Route("GET", "/rest/webhooks/1.0/webhook", admin.list_admin_webhooks),
    Route("POST", "/rest/webhooks/1.0/webhook", admin.create_admin_webhook),
    Route("GET", "/rest/api/3/priority", list_priorities),
    Route("GET", "/rest/api/3/status", list_statuses),
    Route("POST", "/rest/api/3/issue", create_issue),
    Route("GET", "/rest/api/3/issue/<key>", get_issue),
    Route("PUT", "/rest/api/3/issue/<key>", edit_issue),
    Route("PUT", "/rest/api/3/issue/<key>/assignee", assign_issue),
    Route("GET", "/rest/api/3/issue/<key>/transitions", list_transitions),
    Route("POST", "/rest/api/3/issue/<key>/transitions", do_transition),
    Route("GET", "/rest/api/3/issue/<key>/comment", list_comments),
    Route("POST", "/rest/api/3/issue/<key>/comment", add_comment),
    Route("POST", "/rest/api/3/comment/list", comment_list),
    Route("POST", "/rest/api/3/issue/<key>/watchers", add_watcher),
    Route("GET", "/rest/api/3/issue/<key>/watchers", list_watchers),
    Route("POST", "/rest/api/3/issueLink", link_issues),
    Route("GET", "/rest/api/3/search/jql", search_jql),
    Route("POST", "/rest/api/3/search/jql", search_jql),
    Route("POST", "/rest/servicedeskapi/request/<key>/comment", add_request_comment),
    Route("GET", "/rest/servicedeskapi/request/<key>/sla", request_sla),
    Route("GET", "/rest/servicedeskapi/request/<key>/feedback", request_feedback),
)

bp = blueprint("jira_api", ROUTES)
bp.app_errorhandler(JiraError)(jira_error)
