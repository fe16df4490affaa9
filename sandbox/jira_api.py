"""The Jira Cloud platform (REST v3) and JSM (servicedeskapi) endpoints slaclock uses, with Jira's shapes and errors.

    GET  /rest/api/3/myself                              PUT  /rest/api/3/issue/{key}/assignee
    GET  /rest/api/3/issue/{key}?fields=…                GET|POST /rest/api/3/issue/{key}/comment
    PUT  /rest/api/3/issue/{key}                         GET|POST /rest/api/3/search/jql (nextPageToken)
    POST /rest/servicedeskapi/request/{key}/comment      GET  /rest/servicedeskapi/request/{key}/sla
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Any, Mapping

from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.auth import basic_auth_matches
from sandbox.faults import JIRA_ERROR_BODIES, jsm_error
from sandbox.jira_fields import JiraError, adf_to_text, is_adf_doc
from sandbox.jira_jql import UNBOUNDED, JqlError, parse
from sandbox.jira_json import JiraJson, wanted_fields
from sandbox.jira_site import JiraSite
from sandbox.jira_sla import sla_metrics

if TYPE_CHECKING:
    from sandbox.server import Sandbox

API_PREFIX = "/rest/"
JSM_PREFIX = "/rest/servicedeskapi/"
# Jira returns at most 5000 ids per page, and fewer (here 100) when fields are asked for.
MAX_PAGE_IDS, MAX_PAGE_WITH_FIELDS, DEFAULT_PAGE = 5000, 100, 50
INTERNAL_PROPERTY = "sd.public.comment"
REQUEST_NOT_FOUND = "Request does not exist or you do not have permission to see it."

bp = Blueprint("jira_api", __name__)


def _site() -> JiraSite:
    sandbox: Sandbox = current_app.extensions["sandbox"]
    return sandbox.jira


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def jira_error(error: JiraError) -> Response:
    """A JiraError in the shape of the API it happened in."""
    if request.path.startswith(JSM_PREFIX):
        message = "; ".join([*error.messages, *error.errors.values()]) or "Bad request"
        return _json(jsm_error(message), error.status)
    return _json({"errorMessages": error.messages, "errors": error.errors}, error.status)


def _body() -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except json.JSONDecodeError as e:
        raise JiraError(400, [f"Unexpected character at line {e.lineno} column {e.colno}"]) from None


def _views(version: int = 3) -> JiraJson:
    return JiraJson(_site().store, request.host_url, version)


def _authorized() -> bool:
    config = _site().config
    return basic_auth_matches(request.headers.get("Authorization", ""), f"{config.api_email}:{config.api_token}")


@bp.before_app_request
def guard() -> Response | None:
    """Every /rest call: count it, serve an injected fault if one matches, then require basic auth."""
    if not request.path.startswith(API_PREFIX):
        return None
    sandbox: Sandbox = current_app.extensions["sandbox"]
    sandbox.jira.stats.record(request.method, request.path)
    fault = sandbox.faults.take(request.method, request.path)
    if fault is not None:
        if fault.delay:
            time.sleep(fault.delay)
        answer = fault.response(request.method, request.path)
        if answer is not None:
            text, status, headers = answer
            return Response(text, status=status, headers=headers)
    if not _authorized():
        if request.path.startswith(JSM_PREFIX):
            return _json(jsm_error("You are not authenticated.", "sd.error.not.authenticated"), 401)
        return _json(JIRA_ERROR_BODIES[401], 401)
    return None


@bp.get("/rest/api/3/myself")
def myself() -> Response:
    return _json(_views().user(_site().config.api_account_id, with_email=True))


@bp.get("/rest/api/3/user/groups")
def user_groups() -> Response:
    """Every sandbox agent is in JSM's agent group; customers are in none."""
    account = request.args.get("accountId", "")
    if not account:
        raise JiraError(400, ["accountId is required"])
    if account.startswith("qm:"):
        return _json([])
    return _json([{"name": "jira-servicemanagement-users", "groupId": "b8a3c4d5-0000-4000-8000-000000000001",
                   "self": f"{request.host_url.rstrip('/')}/rest/api/3/group?groupId=b8a3c4d5"}])


@bp.get("/rest/api/3/issue/<key>")
def get_issue(key: str) -> Response:
    issue = _site().store.get(key)
    return _json(_views().issue(issue, wanted_fields(request.args.get("fields"), default_all=True)))


@bp.put("/rest/api/3/issue/<key>")
def edit_issue(key: str) -> Response:
    site = _site()
    mutation = site.store.edit(key, _body(), site.config.api_account_id,
                               assignee_on_screen=site.config.assignee_on_edit_screen)
    if request.args.get("returnIssue", "").lower() == "true":
        return _json(_views().issue(mutation.issue))
    return Response(status=204)


@bp.put("/rest/api/3/issue/<key>/assignee")
def assign_issue(key: str) -> Response:
    body = _body()
    if not isinstance(body, dict) or "accountId" not in body:
        raise JiraError(400, errors={"accountId": "Specify the accountId of the user to assign, or null."})
    _site().store.assign(key, body["accountId"], _site().config.api_account_id)
    return Response(status=204)


@bp.get("/rest/api/3/issue/<key>/comment")
def list_comments(key: str) -> Response:
    issue, views = _site().store.get(key), _views()
    comments = [views.comment(issue, c) for c in issue.comments]
    return _json({"startAt": 0, "maxResults": max(len(comments), 50), "total": len(comments), "comments": comments})


@bp.post("/rest/api/3/issue/<key>/comment")
def add_comment(key: str) -> Response:
    body = _body()
    if not isinstance(body, dict) or not is_adf_doc(body.get("body")):
        raise JiraError(400, errors={"comment": "Comment body must be an Atlassian Document (ADF)."})
    text = adf_to_text(body["body"])
    if not text.strip():
        raise JiraError(400, errors={"comment": "Comment body can not be empty!"})
    properties = body.get("properties") or []
    internal = any(isinstance(p, dict) and p.get("key") == INTERNAL_PROPERTY
                   and (p.get("value") or {}).get("internal") is True for p in properties)
    site = _site()
    mutation = site.store.add_comment(key, text, not internal, site.config.api_account_id)
    return _json(_views().comment(mutation.issue, mutation.comment), 201)


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


@bp.route("/rest/api/3/search/jql", methods=["GET", "POST"])
def search_jql() -> Response:
    if request.method == "POST":
        params = _body()
        if not isinstance(params, dict):
            raise JiraError(400, ["Can not deserialize the request body: expected a JSON object"])
    else:
        params = {"jql": request.args.get("jql"), "nextPageToken": request.args.get("nextPageToken"),
                  "maxResults": request.args.get("maxResults"), "fields": request.args.get("fields")}
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
    site = _site()
    now, offset = site.clock(), _offset(params.get("nextPageToken"), jql)
    issues = query.sort(site.store.select(lambda issue: query.matches(issue, now)))
    page = issues[offset:offset + limit]
    views = _views()
    body: dict[str, Any] = {"issues": [views.issue(issue, wanted) for issue in page]}
    more = offset + limit < len(issues)
    if more:
        body["nextPageToken"] = _page_token(offset + limit, jql)
    body["isLast"] = not more
    return _json(body)


def _service_request(key: str):
    issue = _site().store.get(key)
    if not issue.service_project:
        raise JiraError(404, [REQUEST_NOT_FOUND])
    return issue


@bp.post("/rest/servicedeskapi/request/<key>/comment")
def add_request_comment(key: str) -> Response:
    issue = _service_request(key)
    body = _body()
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"].strip():
        raise JiraError(400, ["The comment body must be a non-empty string."])
    if not isinstance(body.get("public"), bool):
        raise JiraError(400, ["The 'public' field is required: true for a reply, false for an internal comment."])
    site = _site()
    mutation = site.store.add_comment(issue.key, body["body"], body["public"], site.config.api_account_id)
    return _json(_views().request_comment(mutation.issue, mutation.comment), 201)


@bp.get("/rest/servicedeskapi/request/<key>/sla")
def request_sla(key: str) -> Response:
    issue = _service_request(key)
    try:
        start = max(0, int(request.args.get("start", 0)))
        limit = max(1, int(request.args.get("limit", 50)))
    except ValueError:
        raise JiraError(400, ["start and limit must be numbers"]) from None
    metrics = sla_metrics(issue, _site().clock(), request.host_url.rstrip("/"))
    values = metrics[start:start + limit]
    base = f"{request.host_url.rstrip('/')}/rest/servicedeskapi/request/{issue.id}/sla"
    return _json({"size": len(values), "start": start, "limit": limit, "isLastPage": start + limit >= len(metrics),
                  "_links": {"base": request.host_url.rstrip("/"), "context": "", "self": base}, "values": values})


def api_not_found(error: Exception) -> Response | None:
    """Jira's answer to an unknown endpoint under /rest (None: not a Jira path)."""
    if request.path.startswith(JSM_PREFIX):
        return _json(jsm_error(f"No resource at {request.path}", "sd.error.not.found"), 404)
    if request.path.startswith(API_PREFIX):
        return _json({"errorMessages": [f"null for uri: {request.url}"], "errors": {}}, 404)
    return None
