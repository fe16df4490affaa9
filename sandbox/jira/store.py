"""In-memory Jira issues and comments: changelog items, strictly increasing `updated`, listeners, one lock."""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping

from sandbox.jira.errors import JiraError
from sandbox.jira.fields import DEFAULT_PRIORITY, FieldDef, Staging, operations, value_of
from sandbox.records import Change, Mutation, Store, utc_now

INITIAL_STATUS = {True: "Waiting for support", False: "Open"}  # by "is a service project"
ONE_MS = timedelta(milliseconds=1)
NOT_FOUND = "Issue does not exist or you do not have permission to see it."


def issue_not_found() -> JiraError:
    return JiraError(404, [NOT_FOUND])


@dataclass(frozen=True)
class JiraUser:
    account_id: str
    display_name: str
    email: str
    account_type: str = "atlassian"  # atlassian (agents, apps' users) | customer (JSM portal-only)

    @property
    def assignable(self) -> bool:
        return self.account_type == "atlassian"


@dataclass
class CommentRecord:
    id: int
    author_id: str
    body: str
    public: bool
    created: datetime
    # Comment properties by key (addComment's `properties`; `sd.public.comment` included).
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IssueLink:
    """A link of `type` (its name) from `inward` to `outward` (issue keys)."""

    id: int
    type: str
    inward: str
    outward: str


@dataclass
class IssueRecord:
    id: int
    key: str
    project: str
    service_project: bool
    summary: str
    description: str
    status: str
    priority: str
    assignee_id: str | None
    reporter_id: str
    creator_id: str
    labels: list[str]
    custom: dict[str, Any]  # field id → option value, aware datetime or text (None when unset)
    created: datetime
    updated: datetime
    comments: list[CommentRecord] = field(default_factory=list)
    # (since, status name), oldest first: what the SLA read needs to count paused time.
    status_history: list[tuple[datetime, str]] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)  # issue properties by key
    watchers: list[str] = field(default_factory=list)  # account ids, each once, in the order added
    duedate: str | None = None  # the Due date field, "YYYY-MM-DD"
    # The reporter's CSAT feedback ({"type": "csat", "rating": 1-5, "comment": {"body"}}), once given.
    feedback: dict[str, Any] | None = None


class JiraStore(Store[IssueRecord]):
    """Thread-safe issues and comments; a change's values are raw (labels as lists, users as account ids)."""

    def __init__(self, users: Iterable[JiraUser], fields: Iterable[FieldDef], projects: Mapping[str, bool],
                 clock: Callable[[], datetime] = utc_now, no_browse: Iterable[str] = ()):
        super().__init__(clock)
        self.users = {user.account_id: user for user in users}
        self.no_browse = frozenset(no_browse)  # accounts without Browse Projects permission
        self.fields = {spec.id: spec for spec in fields}
        self.projects = dict(projects)
        self.reset()

    def reset(self) -> None:
        """Forget every issue and comment."""
        with self._lock:
            self._issues: dict[str, IssueRecord] = {}
            self._issue_ids = itertools.count(10001)
            self._numbers = {project: itertools.count(1) for project in self.projects}
            self._comment_ids = itertools.count(10100)
            self._changelog_ids = itertools.count(10500)
            self._link_ids = itertools.count(10700)
            self.links: list[IssueLink] = []

    def user(self, account_id: str | None) -> JiraUser | None:
        return self.users.get(account_id) if account_id else None

    def assignable_id(self, account_id: Any) -> str | None:
        """The account id to store as assignee; ValueError unless it names an assignable user."""
        if account_id in (None, "-1"):  # "-1": the project's default assignee, none here
            return None
        user = self.users.get(str(account_id))
        if user is None or not user.assignable:
            raise ValueError(f"User '{account_id}' cannot be assigned issues.")
        return user.account_id

    def _find(self, key_or_id: str) -> IssueRecord:
        key = str(key_or_id).upper()
        issue = self._issues.get(key) or next((i for i in self._issues.values() if str(i.id) == key), None)
        if issue is None:
            raise issue_not_found()
        return issue

    def get(self, key_or_id: str) -> IssueRecord:
        """A copy of the issue with its comments; JiraError 404 when absent."""
        with self._lock:
            return copy.deepcopy(self._find(key_or_id))

    def select(self, predicate: Callable[[IssueRecord], bool]) -> list[IssueRecord]:
        """Copies of the issues `predicate` accepts, in creation order."""
        with self._lock:
            return copy.deepcopy([issue for issue in self._issues.values() if predicate(issue)])

    def create(self, fields: Mapping[str, Any], actor_id: str,
               properties: Mapping[str, Any] | None = None) -> Mutation[IssueRecord]:
        """Create an issue from `fields` (project {key}, summary, description, priority, labels, custom fields,
        assignee, reporter {accountId}) and issue `properties` (key → value); the reporter defaults to the actor."""
        fields = dict(fields)
        project = str((fields.pop("project", None) or {}).get("key") or next(iter(self.projects))).upper()
        reporter = (fields.pop("reporter", None) or {}).get("accountId") or actor_id
        fields.pop("issuetype", None)
        errors = {}
        if project not in self.projects:
            errors["project"] = "Specify a valid project ID or key"
        if self.user(reporter) is None:
            errors["reporter"] = f"Reporter '{reporter}' does not exist."
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        staging = Staging(self, None, rich_text_only=False, allow_status=True, assignee_on_screen=True)
        for name, value in fields.items():
            staging.apply(name, "set", value)
        errors.update(staging.errors)
        if errors:
            raise JiraError(400, errors=errors)
        values = staging.values
        with self._lock:
            moment = self._clock()
            now = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            service = self.projects[project]
            status = values.get("status") or INITIAL_STATUS[service]
            issue = IssueRecord(
                id=next(self._issue_ids), key=f"{project}-{next(self._numbers[project])}", project=project,
                service_project=service, summary=values["summary"], description=values.get("description", ""),
                status=status, priority=values.get("priority") or DEFAULT_PRIORITY,
                assignee_id=values.get("assignee"), reporter_id=reporter, creator_id=actor_id,
                labels=values.get("labels", []),
                custom={**{fid: None for fid in self.fields}, **{k: v for k, v in values.items() if k in self.fields}},
                created=now, updated=now, status_history=[(now, status)], properties=dict(properties or {}),
                duedate=values.get("duedate"))
            self._issues[issue.key] = issue
            return self._publish(Mutation(copy.deepcopy(issue), actor_id, 0, True, ()))

    def edit(self, key_or_id: str, body: Any, actor_id: str, *, rich_text_only: bool = True,
             allow_status: bool = False, assignee_on_screen: bool = True) -> Mutation[IssueRecord]:
        """Apply an edit body; JiraError 400 naming each bad field, nothing applied then."""
        ops = operations(body)
        with self._lock:
            issue = self._find(key_or_id)
            staging = Staging(self, issue, rich_text_only, allow_status, assignee_on_screen)
            for name, op, value in ops:
                staging.apply(name, op, value)
            if staging.errors:
                raise JiraError(400, errors=staging.errors)
            return self._change(issue, staging.values, actor_id)

    def assign(self, key_or_id: str, account_id: Any, actor_id: str) -> Mutation[IssueRecord]:
        with self._lock:
            issue = self._find(key_or_id)
            try:
                assignee = self.assignable_id(account_id)
            except ValueError as e:
                raise JiraError(400, errors={"accountId": str(e)}) from None
            return self._change(issue, {"assignee": assignee}, actor_id)

    def add_comment(self, key_or_id: str, body: str, public: bool, actor_id: str,
                    properties: Mapping[str, Any] | None = None) -> Mutation[IssueRecord]:
        with self._lock:
            issue = self._find(key_or_id)
            now = self._next_stamp(issue.updated)
            comment = CommentRecord(next(self._comment_ids), actor_id, body, public, now, dict(properties or {}))
            issue.comments.append(comment)
            issue.updated = now
            return self._publish(Mutation(copy.deepcopy(issue), actor_id, 0, False,
                                          (Change("comment", None, copy.deepcopy(comment)),)))

    def rate(self, key_or_id: str, rating: Any, comment: str, actor_id: str) -> Mutation[IssueRecord]:
        """The reporter gives (or changes) the request's feedback; the change is the Satisfaction field's."""
        with self._lock:
            issue = self._find(key_or_id)
            if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
                raise JiraError(400, ["The rating must be an integer value between 1 and 5."])
            if actor_id != issue.reporter_id:
                raise JiraError(403, ["Only the reporter of the request can give feedback."])
            feedback = {"type": "csat", "rating": rating, **({"comment": {"body": comment}} if comment else {})}
            previous = issue.feedback["rating"] if issue.feedback else None
            issue.feedback = feedback
            issue.updated = self._next_stamp(issue.updated)
            return self._publish(Mutation(copy.deepcopy(issue), actor_id, next(self._changelog_ids), False,
                                          (Change("satisfaction", previous, rating),)))

    def comments_by_id(self, ids: Iterable[int]) -> list[tuple[IssueRecord, CommentRecord]]:
        """(issue, comment) copies for each known comment id, in id order; unknown ids are left out."""
        wanted = set(ids)
        with self._lock:
            found = [(issue, comment) for issue in self._issues.values() for comment in issue.comments
                     if comment.id in wanted]
            return copy.deepcopy(sorted(found, key=lambda pair: pair[1].id))

    def add_watcher(self, key_or_id: str, account_id: str) -> bool:
        """Add a watcher (a set: adding one twice changes nothing); True when newly added.

        JiraError 404 for an unknown account or one without Browse permission, as Jira answers both."""
        with self._lock:
            issue = self._find(key_or_id)
            if account_id not in self.users or account_id in self.no_browse:
                raise JiraError(404, [f"The user with account ID '{account_id}' does not exist or does not have "
                                      "permission to view this issue."])
            if account_id in issue.watchers:
                return False
            issue.watchers.append(account_id)
            return True

    def link(self, type_name: str, inward: str, outward: str) -> bool:
        """Link two issues; a link that exists already (same type and ends) is not added again. True: added."""
        with self._lock:
            inward_key, outward_key = self._find(inward).key, self._find(outward).key
            if any(link.type == type_name and link.inward == inward_key and link.outward == outward_key
                   for link in self.links):
                return False
            self.links.append(IssueLink(next(self._link_ids), type_name, inward_key, outward_key))
            return True

    def links_of(self, key: str) -> list[IssueLink]:
        with self._lock:
            return [link for link in self.links if key in (link.inward, link.outward)]

    def _change(self, issue: IssueRecord, values: Mapping[str, Any], actor_id: str) -> Mutation[IssueRecord]:
        items = []
        for name, value in values.items():
            previous = value_of(issue, name)
            if value == previous:
                continue
            items.append(Change(name, copy.copy(previous), copy.copy(value)))
            if name.startswith("customfield_"):
                issue.custom[name] = value
            else:
                setattr(issue, {"assignee": "assignee_id"}.get(name, name), value)
        if not items:
            return Mutation(copy.deepcopy(issue), actor_id, 0, False, ())
        issue.updated = self._next_stamp(issue.updated)
        if "status" in values and any(i.field == "status" for i in items):
            issue.status_history.append((issue.updated, issue.status))
        return self._publish(Mutation(copy.deepcopy(issue), actor_id, next(self._changelog_ids), False,
                                      tuple(items)))

    def _next_stamp(self, previous: datetime) -> datetime:
        now = self._clock()
        return max(now.replace(microsecond=now.microsecond // 1000 * 1000), previous + ONE_MS)
