"""`/_sandbox/jira/…`: act as a customer or an agent on the fake Jira site, read issues whole, lose webhooks.

    POST /_sandbox/jira/customer/issues        {"fields": {...}}  a customer raises a request on the portal
    POST /_sandbox/jira/agent/issues           {"fields": {...}}  an agent logs one (reporter: the customer)
    POST /_sandbox/jira/agent/issues/{key}     {"fields", "update", "comment": {"body", "public"}, "as"?}  an agent
                                               (or the account "as" names) edits
    POST /_sandbox/jira/customer/issues/{key}/comment  {"body": text}  the customer replies on the portal
    POST /_sandbox/jira/customer/issues/{key}/feedback  {"rating": 1-5, "comment": {"body"}}  the reporter rates it
    GET  /_sandbox/jira/issues/{key}           the issue (REST v3) and every comment with its internal flag
    POST /_sandbox/jira/webhooks/drop          {"count": n}  lose the next n webhooks
    GET  /_sandbox/jira/webhooks               every delivery and how it went

`fields` take the REST create/edit shapes (priority {"name"}, labels [...], assignee {"accountId"},
custom fields by id); agents may also set `status` {"name"} (Jira would use a transition) and write
`description` as plain text.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from sandbox.api import json_response
from sandbox.control import webhook_routes
from sandbox.jira.errors import JiraError
from sandbox.jira.shapes import JiraJson, jira_time
from sandbox.jira.site import current_site

control = Blueprint("sandbox_jira_control", __name__, url_prefix="/_sandbox/jira")
webhook_routes(control, "jira")


def _object(name: str = "body") -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise JiraError(400, [f"{name} must be a JSON object"])
    return body


def _issue_answer(key: str, status: int) -> Response:
    issue = current_site().store.get(key)
    views = JiraJson(current_site().store, request.host_url)
    return json_response({"id": str(issue.id), "key": issue.key, "self": views.issue(issue, set())["self"],
                          "issue": views.issue(issue)}, status)


def _create(actor_id: str) -> Response:
    fields = _object().get("fields")
    if not isinstance(fields, dict):
        raise JiraError(400, ["body must be {\"fields\": {...}}"])
    site = current_site()
    fields = {"reporter": {"accountId": site.config.customer_account_id}, **fields}
    mutation = site.store.create(fields, actor_id)
    return _issue_answer(mutation.record.key, 201)


@control.post("/customer/issues")
def customer_create() -> Response:
    """A customer raises a request (actor and reporter: the customer)."""
    return _create(current_site().config.customer_account_id)


@control.post("/agent/issues")
def agent_create() -> Response:
    """An agent logs a request for the customer (e.g. a phone call)."""
    return _create(current_site().config.agent_account_id)


@control.post("/agent/issues/<key>")
def agent_edit(key: str) -> Response:
    """Change an issue as the human agent; webhooks name the agent as `user`."""
    body, site = _object(), current_site()
    agent = str(body.get("as") or site.config.agent_account_id)
    if site.store.user(agent) is None:
        raise JiraError(404, [f"no user {agent}"])
    edit = {k: body[k] for k in ("fields", "update") if k in body}
    if edit:
        site.store.edit(key, edit, agent, rich_text_only=False, allow_status=True)
    comment = body.get("comment")
    if comment is not None:
        if not isinstance(comment, dict) or not str(comment.get("body") or "").strip():
            raise JiraError(400, ["comment must be {\"body\": text, \"public\": true|false}"])
        site.store.add_comment(key, str(comment["body"]), bool(comment.get("public", True)), agent)
    return _issue_answer(key, 200)


@control.post("/customer/issues/<key>/comment")
def customer_comment(key: str) -> Response:
    """The customer replies on the portal: a public comment by the reporter (no status change, as JSM without an
    automation rule)."""
    body, site = _object(), current_site()
    if not str(body.get("body") or "").strip():
        raise JiraError(400, ["body must be {\"body\": text}"])
    site.store.add_comment(key, str(body["body"]), True, site.config.customer_account_id)
    return _issue_answer(key, 201)


@control.post("/customer/issues/<key>/feedback")
def customer_feedback(key: str) -> Response:
    """The reporter rates the request (the body of JSM's Post feedback); the webhook shows Satisfaction changed."""
    body, site = _object(), current_site()
    comment = body.get("comment") if isinstance(body.get("comment"), dict) else {}
    mutation = site.store.rate(key, body.get("rating"), str(comment.get("body") or ""),
                               site.config.customer_account_id)
    return json_response(mutation.record.feedback, 201)


@control.get("/issues/<key>")
def internal_issue(key: str) -> Response:
    site = current_site()
    issue = site.store.get(key)
    comments = [{"id": str(c.id), "author": c.author_id, "body": c.body, "public": c.public,
                 "internal": not c.public, "created": jira_time(c.created)} for c in issue.comments]
    return json_response({"issue": JiraJson(site.store, request.host_url).issue(issue), "comments": comments})
