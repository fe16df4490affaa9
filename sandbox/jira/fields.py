"""Jira's field rules for the sandbox: priorities, statuses, custom field kinds, and edit bodies validated
field by field (`fields` set, `update` verbs) before anything is applied."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from sandbox.jira.errors import JiraError

if TYPE_CHECKING:
    from sandbox.jira.store import IssueRecord, JiraStore

# (id, name) in the order Jira lists them; the default priority scheme of a Cloud site.
PRIORITIES: tuple[tuple[str, str], ...] = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"),
                                           ("5", "Lowest"))
DEFAULT_PRIORITY = "Medium"
# Status name → (id, status category key). A JSM service request starts in "Waiting for support".
STATUSES: dict[str, tuple[str, str]] = {
    "Open": ("1", "new"),
    "Waiting for support": ("10001", "indeterminate"),
    "In Progress": ("3", "indeterminate"),
    "Waiting for customer": ("10002", "indeterminate"),
    "Pending": ("10003", "indeterminate"),
    "Waiting for vendor": ("10004", "indeterminate"),
    "Resolved": ("10005", "done"),
    "Closed": ("6", "done"),
    "Canceled": ("10006", "done"),
}


@dataclass(frozen=True)
class FieldDef:
    """A custom field: `select` (options), `datetime` (Date Time Picker) or `text` (single line)."""

    id: str
    name: str
    kind: str
    options: tuple[str, ...] = ()

    def option_id(self, value: str) -> str:
        """A stable option id, unique across fields (Jira's option ids are site-wide)."""
        return str(int(self.id.rpartition("_")[2]) * 10 + self.options.index(value))


def parse_datetime(value: Any) -> datetime | None:
    """Jira's `2025-01-08T10:12:07.123+0000`, or ISO 8601 with `Z` or an offset; None when neither."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def adf_to_text(value: Any) -> str:
    """The plain text of an Atlassian Document Format node (paragraphs on their own lines)."""
    if not isinstance(value, dict):
        return ""
    if value.get("type") == "text":
        return str(value.get("text") or "")
    parts = [adf_to_text(child) for child in value.get("content") or []]
    return ("\n" if value.get("type") == "doc" else "").join(parts)


def is_adf_doc(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
            and isinstance(value.get("content"), list))


def cannot_set(name: str) -> str:
    return f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."


class Staging:
    """New field values for one write, validated before any is applied; errors per field."""

    def __init__(self, store: "JiraStore", issue: "IssueRecord | None", rich_text_only: bool,
                 allow_status: bool, assignee_on_screen: bool):
        self.store, self.issue = store, issue
        self.rich_text_only, self.allow_status = rich_text_only, allow_status
        self.assignee_on_screen = assignee_on_screen
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def current(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if self.issue is None:
            return [] if name == "labels" else None
        return value_of(self.issue, name)

    def apply(self, name: str, op: str, value: Any) -> None:
        try:
            self._apply(name, op, value)
        except ValueError as e:
            self.errors[name] = str(e)

    def _apply(self, name: str, op: str, value: Any) -> None:
        if name == "labels":
            self.values["labels"] = _labels(op, value, self.current("labels"))
            return
        if op != "set":
            raise ValueError(f"Operation '{op}' is not supported for field '{name}'.")
        if name == "summary":
            if not isinstance(value, str) or not value.strip():
                raise ValueError("You must specify a summary of the issue.")
            self.values[name] = value.strip()
        elif name == "description":
            self.values[name] = self._rich_text(value)
        elif name == "priority":
            self.values[name] = _priority(value)
        elif name == "assignee":
            if not self.assignee_on_screen:
                raise ValueError(cannot_set("assignee"))
            self.values[name] = self.store.assignable_id(value.get("accountId") if isinstance(value, dict) else value)
        elif name == "duedate":
            if value is not None and not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
                                          and _is_date(value)):
                raise ValueError(f"Error parsing date string: {value}")
            self.values[name] = value
        elif name == "status" and self.allow_status:
            status = value.get("name") if isinstance(value, dict) else value
            if status not in STATUSES:
                raise ValueError(f"Status '{status}' does not exist.")
            self.values[name] = status
        elif name in self.store.fields:
            self.values[name] = _custom_value(self.store.fields[name], value)
        else:
            raise ValueError(cannot_set(name))

    def _rich_text(self, value: Any) -> str:
        if value is None:
            return ""
        if is_adf_doc(value):
            return adf_to_text(value)
        if isinstance(value, str) and not self.rich_text_only:
            return value
        raise ValueError("Operation value must be an Atlassian Document (see the Atlassian Document Format)")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def value_of(issue: "IssueRecord", name: str) -> Any:
    attribute = {"assignee": "assignee_id"}.get(name, name)
    return issue.custom.get(name) if name.startswith("customfield_") else getattr(issue, attribute)


def _labels(op: str, value: Any, current: list[str]) -> list[str]:
    values = value if op == "set" else [value]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("The labels must be a list of strings.")
    for label in values:
        if not label.strip() or any(c.isspace() for c in label):
            raise ValueError(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise ValueError("The label exceeds the maximum length of 255 characters.")
    if op == "set":
        return list(dict.fromkeys(values))
    if op == "add":
        return list(dict.fromkeys([*current, value]))
    if op == "remove":
        return [label for label in current if label != value]
    raise ValueError(f"Operation '{op}' is not supported for field 'labels'.")


def _priority(value: Any) -> str:
    if isinstance(value, dict):
        for priority_id, name in PRIORITIES:
            if value.get("name") == name or str(value.get("id")) == priority_id:
                return name
    raise ValueError("The priority selected is invalid.")


def _custom_value(spec: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if spec.kind == "select":
        chosen = value.get("value") if isinstance(value, dict) and "value" in value else None
        if isinstance(value, dict) and "id" in value:
            chosen = next((o for o in spec.options if spec.option_id(o) == str(value["id"])), None)
        if chosen not in spec.options:
            raise ValueError(f"Option value '{chosen if chosen is not None else value}' is not valid")
        return chosen
    if spec.kind == "datetime":
        moment = parse_datetime(value)
        if moment is None:
            raise ValueError("Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\".")
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if not isinstance(value, str):
        raise ValueError("Operation value must be a string")
    return value


def operations(body: Any) -> list[tuple[str, str, Any]]:
    """(field, op, value) from an edit body `{"fields": {...}, "update": {field: [{op: value}]}}`."""
    if not isinstance(body, dict):
        raise JiraError(400, ["Can not deserialize the request body: expected a JSON object"])
    fields, update = body.get("fields") or {}, body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, ["'fields' and 'update' must be JSON objects"])
    both = sorted(set(fields) & set(update))
    if both:
        raise JiraError(400, errors={name: f"Field '{name}' cannot be set in both 'fields' and 'update'."
                                     for name in both})
    ops = [(name, "set", value) for name, value in fields.items()]
    for name, changes in update.items():
        for change in changes if isinstance(changes, list) else [changes]:
            if not isinstance(change, dict) or len(change) != 1:
                raise JiraError(400, errors={name: "Each update operation must be an object with one verb."})
            (op, value), = change.items()
            ops.append((name, op, value))
    return ops
