"""The sandbox's workflow: which transitions an issue offers in each status (a JSM service-request workflow,
trimmed). Jira changes a status only through these (`GET`/`POST /rest/api/3/issue/{key}/transitions`)."""
from __future__ import annotations

from sandbox.jira.fields import STATUSES

# Transition id → (name, target status).
TRANSITIONS: dict[str, tuple[str, str]] = {
    "11": ("Start progress", "In Progress"),
    "21": ("Resolve", "Resolved"),
    "31": ("Close", "Closed"),
    "41": ("Reopen", "Waiting for support"),
}
# Closed and Canceled are final; a resolved request may be closed or reopened; any other may progress, resolve
# or close.
FINAL = ("Closed", "Canceled")


def offered(status: str) -> list[str]:
    """The transition ids available from `status`, in id order."""
    if status in FINAL:
        return []
    if STATUSES[status][1] == "done":
        return ["31", "41"]
    return [t for t in ("11", "21", "31") if TRANSITIONS[t][1] != status]
