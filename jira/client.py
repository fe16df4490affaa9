"""A thin Jira Cloud / JSM client: URL templates and one short method per endpoint.

Retries (429 + Retry-After, 5xx, timeouts), the rate budget and the error taxonomy live in
:class:`connectors.http.HelpdeskSession`. Writes use REST v3 (ADF bodies); JSM calls use `servicedeskapi`.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Sequence

from connectors.http import HelpdeskSession

ISSUE_URL = "/rest/api/3/issue/{key}"
ASSIGNEE_URL = "/rest/api/3/issue/{key}/assignee"
ISSUE_COMMENT_URL = "/rest/api/3/issue/{key}/comment"
COMMENT_LIST_URL = "/rest/api/3/comment/list"
REQUEST_COMMENT_URL = "/rest/servicedeskapi/request/{key}/comment"
REQUEST_SLA_URL = "/rest/servicedeskapi/request/{key}/sla"
# "Get request comment by id" (not in the JSM extract of reference/openapi; documented at
# https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-comment-commentid-get).
REQUEST_COMMENT_BY_ID_URL = "/rest/servicedeskapi/request/{key}/comment/{comment_id}"
# "Get feedback" (not in the JSM extract of reference/openapi; documented at
# https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-requestidorkey-feedback-get):
# {"type": "csat", "rating": 1-5, "comment": {"body"}}; 404 while the customer has given none.
REQUEST_FEEDBACK_URL = "/rest/servicedeskapi/request/{key}/feedback"
COMMENT_PROPERTY_URL = "/rest/api/3/comment/{comment_id}/properties/{property_key}"
# The enhanced search; /rest/api/3/search (startAt/total) is deprecated and being removed.
SEARCH_URL = "/rest/api/3/search/jql"
MYSELF_URL = "/rest/api/3/myself"
ISSUES_URL = "/rest/api/3/issue"
ISSUE_LINK_URL = "/rest/api/3/issueLink"
TRANSITIONS_URL = "/rest/api/3/issue/{key}/transitions"
WATCHERS_URL = "/rest/api/3/issue/{key}/watchers"
USER_GROUPS_URL = "/rest/api/3/user/groups"
GROUP_MEMBERS_URL = "/rest/api/3/group/member"
ASSIGNABLE_URL = "/rest/api/3/user/assignable/search"
COUNT_URL = "/rest/api/3/search/approximate-count"
FIELDS_URL = "/rest/api/3/field"
FIELD_CONTEXTS_URL = "/rest/api/3/field/{field_id}/context"
CONTEXT_OPTIONS_URL = "/rest/api/3/field/{field_id}/context/{context_id}/option"
PRIORITIES_URL = "/rest/api/3/priority"
STATUSES_URL = "/rest/api/3/status"
USER_URL = "/rest/api/3/user"
MY_PERMISSIONS_URL = "/rest/api/3/mypermissions"
# Admin webhooks: not in the platform OpenAPI; documented for Jira (the same REST resource on Cloud and DC) at
# https://developer.atlassian.com/server/jira/platform/webhooks/#registering-a-webhook-via-the-jira-rest-api
ADMIN_WEBHOOKS_URL = "/rest/webhooks/1.0/webhook"

GROUP_PAGE_SIZE = 50  # getUsersFromGroup: "maxResults … default 50"
ASSIGNABLE_PAGE_SIZE = 1000
# Jira may return fewer per page than asked; 100 keeps one page's body small when `fields` is wide.
SEARCH_PAGE_SIZE = 100
SLA_PAGE_SIZE = 50
# A read-back looks at this many of the newest comments: a lost write is looked for within minutes.
RECENT_COMMENTS = 20
# Makes a platform-API comment internal in JSM (what pycontribs/jira sends for is_internal=True).
INTERNAL_COMMENT_PROPERTY = {"key": "sd.public.comment", "value": {"internal": True}}

_FIELD_ID = re.compile(r"^customfield_[0-9]+$")
_ISSUE_KEY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]*-[0-9]+|[0-9]+)$")


def basic_auth(email: str, api_token: str) -> tuple[str, str]:
    """API-token basic auth: the Atlassian account email and the token."""
    return (email, api_token)


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format doc: one paragraph per non-empty line."""
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": line}]}
                  for line in text.splitlines() if line.strip()]
    return {"version": 1, "type": "doc", "content": paragraphs or [{"type": "paragraph", "content": []}]}


def _path(template: str, key: str) -> str:
    # Issue keys (SD-12) or numeric ids only; anything else would change the path.
    if not _ISSUE_KEY.match(str(key)):
        raise ValueError(f"invalid Jira issue key {key!r}")
    return template.format(key=key)


def _custom_field(field_id: str) -> str:
    if not _FIELD_ID.match(field_id):
        raise ValueError(f"invalid Jira custom field id {field_id!r}")
    return field_id


def _numeric(value: str) -> str:
    if not str(value).isdigit():
        raise ValueError(f"invalid Jira id {value!r}")
    return str(value)


class JiraClient:
    """Calls to the Jira Cloud platform and JSM REST APIs through one HelpdeskSession."""

    def __init__(self, session: HelpdeskSession):
        self.session = session

    def get_issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]:
        """The issue with only `fields` (Jira returns every field when none are named)."""
        return self.session.request("GET", _path(ISSUE_URL, key), params={"fields": ",".join(fields)})

    def edit_issue(self, key: str, body: dict[str, Any]) -> None:
        """PUT `{"fields": …}` (sets values: idempotent); Jira answers 204."""
        self.session.request("PUT", _path(ISSUE_URL, key), json=body, idempotent=True)

    def assign(self, key: str, account_id: str | None) -> None:
        """Set the assignee (needs *Assign issues*, not *Edit issues*); None unassigns."""
        self.session.request("PUT", _path(ASSIGNEE_URL, key), json={"accountId": account_id}, idempotent=True)

    def add_internal_comment(self, key: str, body: str) -> dict[str, Any]:
        """An internal JSM comment; `body` is plain text, and `public` is required (400 without it).
        Not retried blindly: a resend posts it twice."""
        return self.session.request("POST", _path(REQUEST_COMMENT_URL, key), json={"body": body, "public": False})

    def add_platform_comment(self, key: str, body: str, internal: bool = True,
                             properties: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """A comment through the platform API (ADF) with comment `properties` set at creation; internal for
        JSM by the `sd.public.comment` property unless `internal` is False (then public: jsdPublic defaults
        to true). Not retried blindly."""
        payload: dict[str, Any] = {"body": adf(body)}
        if internal or properties:
            payload["properties"] = ([INTERNAL_COMMENT_PROPERTY] if internal else []) + list(properties)
        return self.session.request("POST", _path(ISSUE_COMMENT_URL, key), json=payload)

    def recent_comments(self, key: str, count: int = RECENT_COMMENTS) -> list[dict[str, Any]]:
        """The newest `count` comments of the issue, newest first (ADF bodies), internal ones included."""
        return self.session.request("GET", _path(ISSUE_COMMENT_URL, key),
                                    params={"orderBy": "-created", "maxResults": count})["comments"]

    def comment_property(self, comment_id: str, property_key: str) -> dict[str, Any]:
        """One property of a comment, `{key, value}` (getCommentProperty); PermanentError 404 when the comment or
        the property does not exist."""
        if not str(comment_id).isdigit() or not re.fullmatch(r"[A-Za-z0-9._-]{1,255}", property_key):
            raise ValueError(f"invalid Jira comment id or property key {comment_id!r} / {property_key!r}")
        return self.session.request("GET", COMMENT_PROPERTY_URL.format(comment_id=comment_id, property_key=property_key))

    def request_comment(self, key: str, comment_id: str) -> dict[str, Any]:
        """A JSM request comment by id, `{id, body, public, author, created}`; PermanentError 404 outside a
        service project (or when the comment is not there)."""
        if not str(comment_id).isdigit():
            raise ValueError(f"invalid Jira comment id {comment_id!r}")
        path = _path(REQUEST_COMMENT_BY_ID_URL.replace("{comment_id}", str(comment_id)), key)
        return self.session.request("GET", path)

    def comments_by_ids(self, comment_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Comments by id (≤ 1000) with their properties (the GET above documents no `properties` expansion)."""
        return self.session.request("POST", COMMENT_LIST_URL, params={"expand": "properties"},
                                    json={"ids": list(comment_ids)}, idempotent=True)["values"]

    def search_jql(self, jql: str, fields: Sequence[str], next_page_token: str | None = None,
                   max_results: int = SEARCH_PAGE_SIZE) -> dict[str, Any]:
        """One page of `{issues, nextPageToken?, isLast}`; the JQL must be bounded (e.g. by project)."""
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": max_results}
        if next_page_token:
            body["nextPageToken"] = next_page_token
        return self.session.request("POST", SEARCH_URL, json=body, idempotent=True)

    def search_all(self, jql: str, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every issue matching `jql`, following `nextPageToken` (absent on the last page)."""
        token = None
        while True:
            page = self.search_jql(jql, fields, token)
            yield from page.get("issues") or []
            token = page.get("nextPageToken")
            if page.get("isLast") or not token:
                return

    def request_feedback(self, key: str) -> dict[str, Any]:
        """GET the request's CSAT feedback (PermanentError 404 when there is none yet)."""
        return self.session.request("GET", _path(REQUEST_FEEDBACK_URL, key))

    def request_sla(self, key: str) -> list[dict[str, Any]]:
        """The request's SLA metrics (`name`, `ongoingCycle?`, `completedCycles`), every page."""
        path, metrics, start = _path(REQUEST_SLA_URL, key), [], 0
        while True:
            page = self.session.request("GET", path, params={"start": start, "limit": SLA_PAGE_SIZE})
            values = page.get("values") or []
            metrics.extend(values)
            if page.get("isLastPage", True) or not values:
                return metrics
            start += len(values)

    def create_issue(self, fields: dict[str, Any]) -> dict[str, Any]:
        """POST `{"fields": …}`; return `{id, key, self}`. Jira has no idempotency key: never retried blindly."""
        return self.session.request("POST", ISSUES_URL, json={"fields": fields})

    def link_issues(self, inward_key: str, outward_key: str, link_type: str = "Relates") -> None:
        """Link two issues (Jira answers 201 with no body). A duplicate link is reported as created, so
        without a `comment` (never sent) a resend is harmless."""
        self.session.request("POST", ISSUE_LINK_URL, json={"type": {"name": link_type},
                                                           "inwardIssue": {"key": inward_key},
                                                           "outwardIssue": {"key": outward_key}}, idempotent=True)

    def transitions(self, key: str) -> list[dict[str, Any]]:
        """The workflow transitions the API user may make now (`id`, `name`, `to` status); empty when none."""
        return self.session.request("GET", _path(TRANSITIONS_URL, key))["transitions"]

    def transition(self, key: str, transition_id: str) -> None:
        """Make a transition (Jira answers 204). Not retried blindly: the transition may be gone once made."""
        self.session.request("POST", _path(TRANSITIONS_URL, key), json={"transition": {"id": _numeric(transition_id)}})

    def add_watcher(self, key: str, account_id: str) -> None:
        """Add a watcher (a set: a resend is harmless); the body is the bare accountId as a JSON string."""
        self.session.request("POST", _path(WATCHERS_URL, key), json=account_id, idempotent=True)

    def user_groups(self, account_id: str) -> list[dict[str, Any]]:
        """The groups of a user (`name`, `groupId`)."""
        return self.session.request("GET", USER_GROUPS_URL, params={"accountId": account_id})

    def group_members(self, group_id: str) -> list[dict[str, Any]]:
        """The active members of a group (`accountId`), every page."""
        members, start = [], 0
        while True:
            page = self.session.request("GET", GROUP_MEMBERS_URL, params={
                "groupId": group_id, "startAt": start, "maxResults": GROUP_PAGE_SIZE})
            values = page.get("values") or []
            members.extend(values)
            if page.get("isLast", True) or not values:
                return members
            start += len(values)

    def assignable_users(self, key: str) -> list[dict[str, Any]]:
        """The users who may be assigned the issue (`accountId`)."""
        return self.session.request("GET", ASSIGNABLE_URL, params={"issueKey": key,
                                                                   "maxResults": ASSIGNABLE_PAGE_SIZE})

    def count_issues(self, jql: str) -> int:
        """How many issues a (bounded) JQL query matches, approximately: recent changes may not count yet."""
        return int(self.session.request("POST", COUNT_URL, json={"jql": jql}, idempotent=True)["count"])

    def fields(self) -> list[dict[str, Any]]:
        """Every field of the site (FieldDetails: `id`, `name`, `custom`, `schema.custom`)."""
        return self.session.request("GET", FIELDS_URL)

    def create_field(self, name: str, field_type: str, searcher_key: str, description: str = "") -> dict[str, Any]:
        """createCustomField (Administer Jira); `field_type` is a full `…customfieldtypes:select` key. Not retried
        blindly: a resend makes a second field."""
        return self.session.request("POST", FIELDS_URL, json={"name": name, "type": field_type,
                                                              "searcherKey": searcher_key, "description": description})

    def field_contexts(self, field_id: str) -> list[dict[str, Any]]:
        """The field's contexts (one page of up to 100: slaclock's fields have one)."""
        return self.session.request("GET", FIELD_CONTEXTS_URL.format(field_id=_custom_field(field_id)),
                                    params={"maxResults": 100})["values"]

    def create_field_context(self, field_id: str, name: str) -> dict[str, Any]:
        """A global context for every issue type (empty project and issue type lists)."""
        return self.session.request("POST", FIELD_CONTEXTS_URL.format(field_id=_custom_field(field_id)),
                                    json={"name": name, "projectIds": [], "issueTypeIds": []})

    def context_options(self, field_id: str, context_id: str) -> list[dict[str, Any]]:
        """The options of a select field's context (one page of up to 1000: the rules' reason codes)."""
        path = CONTEXT_OPTIONS_URL.format(field_id=_custom_field(field_id), context_id=_numeric(context_id))
        return self.session.request("GET", path, params={"maxResults": 1000})["values"]

    def create_context_options(self, field_id: str, context_id: str, values: Sequence[str]) -> list[dict[str, Any]]:
        """Add options (`value`s) to a context; not retried blindly (a resend adds them twice)."""
        path = CONTEXT_OPTIONS_URL.format(field_id=_custom_field(field_id), context_id=_numeric(context_id))
        return self.session.request("POST", path, json={"options": [{"value": v} for v in values]})["options"]

    def priorities(self) -> list[dict[str, Any]]:
        """Every priority of the site (`id`, `name`)."""
        return self.session.request("GET", PRIORITIES_URL)

    def statuses(self) -> list[dict[str, Any]]:
        """Every status of the site (`id`, `name`, `statusCategory`)."""
        return self.session.request("GET", STATUSES_URL)

    def user(self, account_id: str) -> dict[str, Any]:
        """One user by account id; PermanentError 404 when there is none."""
        return self.session.request("GET", USER_URL, params={"accountId": account_id})

    def my_permissions(self, permissions: Sequence[str], project_key: str | None = None) -> dict[str, bool]:
        """Whether the API user has each permission key (in `project_key`, else anywhere): key → havePermission."""
        params = {"permissions": ",".join(permissions)}
        if project_key:
            params["projectKey"] = project_key
        answer = self.session.request("GET", MY_PERMISSIONS_URL, params=params)["permissions"]
        return {key: bool((answer.get(key) or {}).get("havePermission")) for key in permissions}

    def admin_webhooks(self) -> list[dict[str, Any]]:
        """The site's admin webhooks (`name`, `url`, `events`, `enabled`, `self`); needs Administer Jira."""
        return self.session.request("GET", ADMIN_WEBHOOKS_URL)

    def create_admin_webhook(self, webhook: dict[str, Any]) -> dict[str, Any]:
        """Register an admin webhook (`name`, `url`, `events`, `filters`, `excludeBody`, `secret`); Jira answers
        201 with it. Not retried blindly: a resend registers a second one."""
        return self.session.request("POST", ADMIN_WEBHOOKS_URL, json=webhook)

    def myself(self) -> dict[str, Any]:
        """The account slaclock authenticates as."""
        return self.session.request("GET", MYSELF_URL)
