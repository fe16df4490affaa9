"""The JQL subset the sandbox understands: clauses joined by AND, then an optional ORDER BY.

    project = SD · project in (SD, OPS) · key = SD-1 · status != "Waiting for customer" · statusCategory != Done
    priority in (High, Highest) · labels = vip · assignee is EMPTY · updated >= "-5m" · created < "2025-03-04 09:00"

Anything else is a 400 naming the problem, as Jira answers a query it cannot parse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sandbox.jira.fields import PRIORITIES, STATUSES
from sandbox.jira.store import IssueRecord

UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
_TOKEN = re.compile(r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>>=|<=|!=|=|>|<|\(|\)|,)"""
                    r"""|(?P<word>[^\s"'(),=<>!]+))""")
_RELATIVE = re.compile(r"^([-+]?)(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CATEGORY_NAMES = {"to do": "new", "new": "new", "2": "new", "in progress": "indeterminate",
                   "indeterminate": "indeterminate", "4": "indeterminate", "done": "done", "complete": "done",
                   "3": "done"}
_ORDERABLE = ("updated", "created", "key", "priority")
_FIELDS = ("project", "key", "issuekey", "id", "status", "statuscategory", "priority", "labels", "assignee",
           "reporter", "updated", "created")


class JqlError(ValueError):
    """The query is not valid JQL (or not in the subset); the message is Jira's `errorMessages` entry."""


@dataclass(frozen=True)
class Query:
    matches: Callable[[IssueRecord, datetime], bool]
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    bounded: bool

    def sort(self, issues: list[IssueRecord]) -> list[IssueRecord]:
        for name, descending in reversed(self.order or (("key", True),)):
            issues = sorted(issues, key=_sort_key(name), reverse=descending)
        return issues


def _sort_key(name: str) -> Callable[[IssueRecord], Any]:
    if name == "key":
        return lambda issue: (issue.project, int(issue.key.rpartition("-")[2]))
    if name == "priority":
        return lambda issue: -[n for _, n in PRIORITIES].index(issue.priority)
    return lambda issue: getattr(issue, name)


def _tokens(jql: str) -> list[str]:
    tokens, position = [], 0
    while position < len(jql):
        match = _TOKEN.match(jql, position)
        if not match or match.end() == position:
            if not jql[position:].strip():
                break
            raise JqlError(f"Error in the JQL Query: the character '{jql[position:].strip()[0]}' is a reserved "
                           f"JQL character (at character {position + 1}).")
        position = match.end()
        text = match.group("string") or match.group("op") or match.group("word")
        if text:
            tokens.append(text)
    return tokens


def _unquote(token: str) -> str:
    return token[1:-1].replace('\\"', '"').replace("\\'", "'") if token[:1] in "\"'" else token


def _moment(text: str, now: datetime) -> datetime:
    relative = _RELATIVE.match(text.strip())
    if relative:
        sign, amount, unit = relative.groups()
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        return now - delta if sign == "-" else now + delta
    for pattern in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text.strip(), pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise JqlError(f"Date value '{text}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
                   "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")


def _text_of(field: str, issue: IssueRecord) -> list[str]:
    """The values of a field, case-folded, that `=`/`in` compare with."""
    if field == "project":
        return [issue.project.casefold()]
    if field in ("key", "issuekey", "id"):
        return [issue.key.casefold(), str(issue.id)]
    if field == "status":
        return [issue.status.casefold(), STATUSES[issue.status][0]]
    if field == "statuscategory":
        return [STATUSES[issue.status][1]]
    if field == "priority":
        return [issue.priority.casefold(), next(i for i, n in PRIORITIES if n == issue.priority)]
    if field == "labels":
        return [label.casefold() for label in issue.labels]
    if field in ("assignee", "reporter"):
        value = issue.assignee_id if field == "assignee" else issue.reporter_id
        return [value.casefold()] if value else []
    raise JqlError(f"Field '{field}' cannot be compared with = or IN.")


def _normalise(field: str, value: str) -> str:
    folded = value.casefold()
    if field == "statuscategory":
        if folded not in _CATEGORY_NAMES:
            raise JqlError(f"The value '{value}' does not exist for the field 'statusCategory'.")
        return _CATEGORY_NAMES[folded]
    return folded


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, what: str = "a value") -> str:
        token = self.peek()
        if token is None:
            raise JqlError(f"Error in the JQL Query: Expecting {what} but reached the end of the query.")
        self.i += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.casefold() in words:
            self.i += 1
            return True
        return False

    def values(self) -> list[str]:
        if self.take("'('") != "(":
            raise JqlError("Error in the JQL Query: Expecting '(' after IN.")
        values = [_unquote(self.take())]
        while self.peek() == ",":
            self.i += 1
            values.append(_unquote(self.take()))
        if self.take("')'") != ")":
            raise JqlError("Error in the JQL Query: Expecting ')' to close the list of values.")
        return values

    def clause(self) -> Callable[[IssueRecord, datetime], bool]:
        field = _unquote(self.take("a field name")).casefold()
        if field not in _FIELDS:
            raise JqlError(f"Field '{field}' does not exist or you do not have permission to view it.")
        if self.keyword("is"):
            negate = self.keyword("not")
            if not self.keyword("empty", "null"):
                raise JqlError("Error in the JQL Query: Expecting EMPTY or NULL after IS.")
            return lambda issue, now: bool(_text_of(field, issue)) == negate
        negate = self.keyword("not")
        if self.keyword("in"):
            wanted = {_normalise(field, v) for v in self.values()}
            return lambda issue, now: bool(wanted & set(_text_of(field, issue))) != negate
        if negate:
            raise JqlError("Error in the JQL Query: Expecting IN after NOT.")
        op = self.take("an operator")
        value = _unquote(self.take())
        if field in ("updated", "created"):
            return self._date(field, op, value)
        if op not in ("=", "!="):
            raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")
        wanted = _normalise(field, value)
        return lambda issue, now: (wanted in _text_of(field, issue)) == (op == "=")

    def _date(self, field: str, op: str, value: str) -> Callable[[IssueRecord, datetime], bool]:
        compare = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
                   "<": lambda a, b: a < b, "=": lambda a, b: a == b, "!=": lambda a, b: a != b}.get(op)
        if compare is None:
            raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")
        _moment(value, datetime.now(timezone.utc))  # reject a bad date before the first issue is tested
        return lambda issue, now: compare(getattr(issue, field), _moment(value, now))

    def order(self) -> tuple[tuple[str, bool], ...]:
        order = []
        while True:
            name = _unquote(self.take("a field to order by")).casefold()
            if name not in _ORDERABLE:
                raise JqlError(f"Not able to sort using field '{name}'.")
            descending = self.keyword("desc")
            if not descending:
                self.keyword("asc")
            order.append((name, descending))
            if self.peek() != ",":
                return tuple(order)
            self.i += 1


def parse(jql: str) -> Query:
    """Parse `jql`; JqlError with Jira's wording for anything outside the subset."""
    parser = _Parser(_tokens(jql or ""))
    clauses: list[Callable[[IssueRecord, datetime], bool]] = []
    order: tuple[tuple[str, bool], ...] = ()
    while parser.peek() is not None:
        if parser.keyword("order"):
            if not parser.keyword("by"):
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            order = parser.order()
            if parser.peek() is not None:
                raise JqlError(f"Error in the JQL Query: Expecting end of query after ORDER BY, got "
                               f"'{parser.peek()}'.")
            break
        if clauses and not parser.keyword("and"):
            token = parser.peek()
            hint = " (the sandbox supports AND only)" if token.casefold() == "or" else ""
            raise JqlError(f"Error in the JQL Query: Expecting AND or ORDER BY but got '{token}'{hint}.")
        clauses.append(parser.clause())
    return Query(lambda issue, now: all(c(issue, now) for c in clauses), order, bounded=bool(clauses))
