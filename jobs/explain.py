"""`slaclock explain`: a ticket's timeline with each decision's inputs and the rules that made it."""
from __future__ import annotations

from typing import TextIO

from rules import Rules
from store import Store


def format_timeline(store: Store, key: str) -> list[str]:
    """The lines `slaclock explain <connector:id>` prints."""
    connector, _, ticket_id = key.partition(":")
    if not ticket_id:
        raise ValueError(f"expected <connector>:<ticket id>, e.g. zendesk:123; got {key!r}")
    case = store.get_case(connector, ticket_id)
    entries = store.timeline(connector, ticket_id)
    if case is None and not entries:
        raise LookupError(f"slaclock has no record of {key}")
    lines = []
    if case:
        lines.append(f"{key}: priority {case['priority']} · team {case['team'] or '-'} · "
                     f"due {case['due_at']} · rules {case['rules_version']}")
    for entry in entries:
        lines.append(f"{entry['at'][:19]}Z  {entry['kind']:<10} {entry['summary']}")
        detail = entry["detail"]
        if detail.get("events"):
            lines.append(f"{'':22}events: {', '.join(detail['events'])}")
        if detail.get("inputs"):
            shown = " ".join(f"{k}={v}" for k, v in detail["inputs"].items())
            lines.append(f"{'':22}inputs: {shown}")
        for reason in detail.get("reasons", []):
            lines.append(f"{'':22}rule {reason['rule']}: {reason['text']}")
    return lines


def explain(store: Store, rules: Rules, key: str, out: TextIO) -> int:
    """Print the explanation; return the exit status."""
    try:
        lines = format_timeline(store, key)
    except (ValueError, LookupError) as e:
        print(f"error: {e}", file=out)
        return 1
    print("\n".join(lines), file=out)
    return 0
