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
from sandbox.jira.errors import JiraError, jira_error
from sandbox.jira.fields import adf_to_text, is_adf_doc
from sandbox.jira.jql import UNBOUNDED, JqlError, parse
from sandbox.jira.shapes import JiraJson, wanted_fields
from sandbox.jira.site import current_site
from sandbox.jira.sla import sla_metrics
from sandbox.jira.store import IssueRecord

PREFIX = "/rest/"
# Jira returns at most 5000 ids per page, and fewer (here 100) when fields are asked for.
MAX_PAGE_IDS, MAX_PAGE_WITH_FIELDS, DEFAULT_PAGE = 5000, 100, 50
INTERNAL_PROPERTY = "sd.public.comment"
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


def assign_issue(key: str) -> Response:
    body = _body()
    if not isinstance(body, dict) or "accountId" not in body:
        raise JiraError(400, errors={"accountId": "Specify the accountId of the user to assign, or null."})
    current_site().store.assign(key, body["accountId"], current_site().config.api_account_id)
    return Response(status=204)


def list_comments(key: str) -> Response:
    issue, views = current_site().store.get(key), _views()
    comments = [views.comment(issue, c) for c in issue.comments]
    return json_response({"startAt": 0, "maxResults": max(len(comments), 50), "total": len(comments),
                          "comments": comments})


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
    site = current_site()
    mutation = site.store.add_comment(key, text, not internal, site.config.api_account_id)
    return json_response(_views().comment(mutation.record, mutation.comment), 201)


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
    site = current_site()
    now, offset = site.clock(), _offset(params.get("nextPageToken"), jql)
    issues = query.sort(site.store.select(lambda issue: query.matches(issue, now)))
    page = issues[offset:offset + limit]
    views = _views()
    body: dict[str, Any] = {"issues": [views.issue(issue, wanted) for issue in page]}
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
    if not isinstance(body.get("public"), bool):
        raise JiraError(400, ["The 'public' field is required: true for a reply, false for an internal comment."])
    site = current_site()
    mutation = site.store.add_comment(issue.key, body["body"], body["public"], site.config.api_account_id)
    return json_response(_views().request_comment(mutation.record, mutation.comment), 201)


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
    Route("GET", "/rest/api/3/issue/<key>", get_issue),
    Route("PUT", "/rest/api/3/issue/<key>", edit_issue),
    Route("PUT", "/rest/api/3/issue/<key>/assignee", assign_issue),
    Route("GET", "/rest/api/3/issue/<key>/comment", list_comments),
    Route("POST", "/rest/api/3/issue/<key>/comment", add_comment),
    Route("GET", "/rest/api/3/search/jql", search_jql),
    Route("POST", "/rest/api/3/search/jql", search_jql),
    Route("POST", "/rest/servicedeskapi/request/<key>/comment", add_request_comment),
    Route("GET", "/rest/servicedeskapi/request/<key>/sla", request_sla),
)

bp = blueprint("jira_api", ROUTES)
bp.app_errorhandler(JiraError)(jira_error)
