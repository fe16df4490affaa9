"""Jira's JSON shapes for issues, users, comments and dates; REST v3 (ADF bodies) or v2 (strings, webhooks)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import quote

from sandbox.jira.fields import PRIORITIES, STATUSES
from sandbox.jira.store import CommentRecord, IssueRecord, JiraStore

CATEGORIES = {"new": (2, "To Do", "blue-gray"), "indeterminate": (4, "In Progress", "yellow"),
              "done": (3, "Done", "green")}
# Link type name → (outward, inward) description, as on a new Jira Cloud site.
LINK_VERBS = {"Blocks": ("blocks", "is blocked by"), "Cloners": ("clones", "is cloned by"),
              "Duplicate": ("duplicates", "is duplicated by"), "Relates": ("relates to", "relates to")}
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
SYSTEM_FIELDS = ("summary", "description", "status", "priority", "assignee", "reporter", "creator", "labels",
                 "created", "updated", "project", "issuetype", "resolution", "resolutiondate", "issuelinks")


def jira_time(moment: datetime) -> str:
    """Jira's datetime: `2025-03-04T09:00:00.250+0000` (UTC, milliseconds)."""
    moment = moment.astimezone(timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def epoch_millis(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def date_dto(moment: datetime) -> dict[str, Any]:
    """JSM's DateDTO."""
    moment = moment.astimezone(timezone.utc)
    return {"iso8601": f"{moment:%Y-%m-%dT%H:%M:%S}+0000", "jira": jira_time(moment),
            "friendly": f"{moment:%d/%b/%y %I:%M %p}", "epochMillis": epoch_millis(moment)}


def adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF doc, one paragraph per non-empty line."""
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": line}]}
                  for line in text.splitlines() if line.strip()]
    return {"type": "doc", "version": 1, "content": paragraphs}


def wanted_fields(requested: str | Iterable[str] | None, default_all: bool) -> set[str] | None:
    """The field names a `fields` parameter asks for; None means every field."""
    if requested is None:
        return None if default_all else set()
    names = [n.strip() for n in (requested.split(",") if isinstance(requested, str) else requested)
             if isinstance(n, str) and n.strip()]
    if not names:
        return None if default_all else set()
    if any(n in ("*all", "*navigable") for n in names):
        return None if not any(n.startswith("-") for n in names) else {"-" + n[1:] for n in names if n[0] == "-"}
    return {n for n in names if not n.startswith("-")}


class JiraJson:
    """Render sandbox records as Jira does, with `self` links under `base_url` and REST `version` 2 or 3."""

    def __init__(self, store: JiraStore, base_url: str, version: int = 3):
        self.store, self.base, self.version = store, base_url.rstrip("/"), version

    def _api(self, path: str) -> str:
        return f"{self.base}/rest/api/{self.version}/{path}"

    def user(self, account_id: str | None, with_email: bool = False) -> dict[str, Any] | None:
        user = self.store.user(account_id)
        if user is None:
            return None
        body = {"self": self._api(f"user?accountId={quote(user.account_id)}"), "accountId": user.account_id,
                "avatarUrls": {"48x48": "https://secure.gravatar.com/avatar/0?d=mm&s=48"},
                "displayName": user.display_name, "active": True, "timeZone": "Etc/UTC",
                "accountType": user.account_type}
        if with_email:
            body["emailAddress"] = user.email
        return body

    def status(self, name: str) -> dict[str, Any]:
        status_id, category = STATUSES[name]
        category_id, category_name, colour = CATEGORIES[category]
        return {"self": self._api(f"status/{status_id}"), "description": "", "name": name, "id": status_id,
                "statusCategory": {"self": self._api(f"statuscategory/{category_id}"), "id": category_id,
                                   "key": category, "colorName": colour, "name": category_name}}

    def priority(self, name: str) -> dict[str, Any]:
        priority_id = next(i for i, n in PRIORITIES if n == name)
        return {"self": self._api(f"priority/{priority_id}"),
                "iconUrl": f"{self.base}/images/icons/priorities/{name.lower()}.svg", "name": name,
                "id": priority_id}

    def project(self, issue: IssueRecord) -> dict[str, Any]:
        project_id = str(10000 + sorted(self.store.projects).index(issue.project))
        return {"self": self._api(f"project/{project_id}"), "id": project_id, "key": issue.project,
                "name": "Customer Support" if issue.service_project else "Operations",
                "projectTypeKey": "service_desk" if issue.service_project else "software", "simplified": False}

    def issuetype(self, issue: IssueRecord) -> dict[str, Any]:
        type_id, name = ("10003", "[System] Service request") if issue.service_project else ("10002", "Task")
        return {"self": self._api(f"issuetype/{type_id}"), "id": type_id, "name": name, "subtask": False,
                "hierarchyLevel": 0}

    def custom_value(self, field_id: str, value: Any) -> Any:
        spec = self.store.fields[field_id]
        if value is None:
            return None
        if spec.kind == "select":
            option_id = spec.option_id(value)
            return {"self": self._api(f"customFieldOption/{option_id}"), "value": value, "id": option_id}
        if spec.kind == "datetime":
            return jira_time(value)
        return value

    def fields(self, issue: IssueRecord, wanted: set[str] | None = None) -> dict[str, Any]:
        """The issue's fields, all of them or only those `wanted` (names starting with - are left out)."""
        done = STATUSES[issue.status][1] == "done"
        description = issue.description or None
        every = {
            "summary": issue.summary,
            "description": (adf(description) if self.version == 3 else description) if description else None,
            "status": self.status(issue.status),
            "priority": self.priority(issue.priority),
            "assignee": self.user(issue.assignee_id),
            "reporter": self.user(issue.reporter_id),
            "creator": self.user(issue.creator_id),
            "labels": list(issue.labels),
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
            "project": self.project(issue),
            "issuetype": self.issuetype(issue),
            "resolution": {"self": self._api("resolution/10000"), "id": "10000", "name": "Done"} if done else None,
            "resolutiondate": jira_time(issue.status_history[-1][0]) if done else None,
            "issuelinks": self.issue_links(issue),
            "duedate": issue.duedate,
            **{field_id: self.custom_value(field_id, value) for field_id, value in issue.custom.items()},
        }
        if wanted is None:
            return every
        if wanted and all(n.startswith("-") for n in wanted):
            return {k: v for k, v in every.items() if "-" + k not in wanted}
        return {k: v for k, v in every.items() if k in wanted}

    def issue_links(self, issue: IssueRecord) -> list[dict[str, Any]]:
        """The `issuelinks` field: from this issue's side, the other end as `outwardIssue` when this issue is the
        link's inward end (e.g. "this blocks that"), else as `inwardIssue`."""
        links = []
        for link in self.store.links_of(issue.key):
            outward, inward = LINK_VERBS.get(link.type, ("relates to", "relates to"))
            item = {"id": str(link.id), "self": self._api(f"issueLink/{link.id}"),
                    "type": {"id": str(10000 + sorted(LINK_VERBS).index(link.type)) if link.type in LINK_VERBS
                             else "10000", "name": link.type, "inward": inward, "outward": outward}}
            if link.inward == issue.key:
                item["outwardIssue"] = {"key": link.outward, "self": self._api(f"issue/{link.outward}")}
            else:
                item["inwardIssue"] = {"key": link.inward, "self": self._api(f"issue/{link.inward}")}
            links.append(item)
        return links

    def issue(self, issue: IssueRecord, wanted: set[str] | None = None) -> dict[str, Any]:
        body = {"expand": ISSUE_EXPAND, "id": str(issue.id), "self": self._api(f"issue/{issue.id}"), "key": issue.key}
        fields = self.fields(issue, wanted)
        if fields or wanted is None:
            body["fields"] = fields
        return body

    def comment(self, issue: IssueRecord, comment: CommentRecord) -> dict[str, Any]:
        """A platform-API comment: ADF body in v3, a string in v2 (webhooks); `jsdPublic` as JSM keeps it."""
        author = self.user(comment.author_id)
        return {"self": self._api(f"issue/{issue.id}/comment/{comment.id}"), "id": str(comment.id),
                "author": author, "body": adf(comment.body) if self.version == 3 else comment.body,
                "updateAuthor": author, "created": jira_time(comment.created), "updated": jira_time(comment.created),
                "jsdPublic": comment.public}

    def request_comment(self, issue: IssueRecord, comment: CommentRecord) -> dict[str, Any]:
        """A JSM request comment (servicedeskapi): plain-text body, `public`, DateDTO `created`."""
        user = self.store.user(comment.author_id)
        author = {"accountId": comment.author_id, "displayName": user.display_name if user else "", "active": True,
                  "timeZone": "Etc/UTC", "_links": {"self": self._api(f"user?accountId={quote(comment.author_id)}")}}
        return {"id": str(comment.id), "body": comment.body, "public": comment.public, "author": author,
                "created": date_dto(comment.created),
                "_links": {"self": f"{self.base}/rest/servicedeskapi/request/{issue.id}/comment/{comment.id}"}}
