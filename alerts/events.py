"""What an alert says: the outbox payload of one ALERT row, the generic webhook's JSON event, and the
text of a message (one alert, or a digest of several due together for one recipient).

The webhook event (documented in the README, "The people around the case"):

    {"type": "sla.warning" | "sla.breached" | "escalation.level_changed" | "milestone.reached",
     "id": <stable key, the same on every resend>, "occurred_at": ISO 8601,
     "ticket": {"helpdesk": "zendesk" | "jira", "id": "42", "url"?: ...},
     "metric"?: "first_response" | ..., "level"?: <level title>, "owner"?: <display name>, "text": ...}

A vendor team's system (`teams.<team>.webhook`) gets the same envelope with "type": "vendor.capacity_requested"
| "vendor.priority_override" and "vendor", "priority", "subject", "sla_due_at", "eta_due_at"?.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from rules.alerts import reference
from rules.decision import Action, Decision, TimelineKind

SLA_WARNING, SLA_BREACHED = "sla.warning", "sla.breached"
LEVEL_CHANGED, MILESTONE_REACHED = "escalation.level_changed", "milestone.reached"
EVENT_TYPES = (SLA_WARNING, SLA_BREACHED, LEVEL_CHANGED, MILESTONE_REACHED)
# What a vendor team's system is told besides the envelope (vendor.capacity_requested, vendor.priority_override).
VENDOR_FIELDS = ("vendor", "priority", "subject", "sla_due_at", "eta_due_at")
# What a digest's first line says the alerts are about, by event type.
DIGEST_TITLES = {SLA_WARNING: "SLA at risk", SLA_BREACHED: "SLA breached", LEVEL_CHANGED: "escalated",
                 MILESTONE_REACHED: "milestone reached"}
# The timeline kinds whose event a notify action's key starts with (see rules.decision.Action).
_KIND_TYPES = {TimelineKind.BREACH: SLA_BREACHED, TimelineKind.WARNING: SLA_WARNING,
               TimelineKind.ESCALATION: LEVEL_CHANGED, TimelineKind.LEVEL_CHANGE: LEVEL_CHANGED,
               TimelineKind.MILESTONE: MILESTONE_REACHED, TimelineKind.TRIGGER: LEVEL_CHANGED,
               TimelineKind.VENDOR_RISK: SLA_WARNING}


def person_key(action: Action) -> str | None:
    """The person a notify action is for: the first part of its `digest_key` (`<person key>:<reason>`)."""
    return action.digest_key.split(":", 1)[0] if action.digest_key else None


def _event_of(action: Action, decision: Decision):
    """The timeline event the action tells of: the one whose key its own key starts with."""
    return next((e for e in decision.timeline if e.key and action.key.startswith(e.key + ":")), None)


def event_type(action: Action, decision: Decision) -> str:
    """The webhook event type of a notify action (a trigger or vendor risk counts as an escalation / a warning)."""
    event = _event_of(action, decision)
    if event is not None and event.kind in _KIND_TYPES:
        return _KIND_TYPES[event.kind]
    prefix = action.key.split(":", 1)[0]
    return {"milestone": MILESTONE_REACHED, "level": LEVEL_CHANGED, "vendor": SLA_WARNING}.get(prefix, LEVEL_CHANGED)


def ticket_url(connector: Any, helpdesk: str, ticket_id: str) -> str | None:
    """The agent's link to the ticket, when the connector knows its site (Zendesk agent view, Jira browse)."""
    base = getattr(getattr(connector, "settings", None), "base_url", None)
    if not base:
        return None
    base = str(base).rstrip("/")
    return f"{base}/agent/tickets/{ticket_id}" if helpdesk == "zendesk" else f"{base}/browse/{ticket_id}"


def alert_payload(action: Action, decision: Decision, *, helpdesk: str, ticket_id: str, subject: str,
                  channel: str, now: datetime, url: str | None) -> dict[str, Any]:
    """The outbox payload of one ALERT row: the event, who it is for, and what the re-check needs."""
    event = _event_of(action, decision)
    kind = event_type(action, decision)
    payload: dict[str, Any] = {
        "type": kind, "id": f"{helpdesk}:{ticket_id}:{action.key}", "channel": channel,
        "occurred_at": (event.at if event is not None else now).isoformat(), "queued_at": now.isoformat(),
        "helpdesk": helpdesk, "ticket_id": ticket_id, "subject": subject, "url": url,
        "person": person_key(action), "person_name": action.person_name, "email": action.email,
        "digest_key": action.digest_key, "text": _plain(action.text, helpdesk, ticket_id),
    }
    if event is not None and event.metric:
        payload["metric"] = event.metric
    if decision.escalation_level:
        payload["level"] = _level_title(decision) or decision.escalation_level
    if decision.escalation_owner:
        payload["owner"] = decision.escalation_owner
    return payload


def vendor_payload(action: Action, decision: Decision, *, helpdesk: str, ticket_id: str, subject: str,
                   channel: str, vendor: str, now: datetime, url: str | None) -> dict[str, Any]:
    """The outbox payload of a vendor team's webhook event (a vendor_webhook action): sent as it is decided, with
    no quiet hours and no re-check (the vendor's system dedupes on `id`)."""
    return {
        "type": action.subject, "id": f"{helpdesk}:{ticket_id}:{action.key}", "channel": channel,
        "occurred_at": now.isoformat(), "queued_at": now.isoformat(), "helpdesk": helpdesk, "ticket_id": ticket_id,
        "subject": subject, "url": url, "person": None, "person_name": vendor, "email": None, "digest_key": None,
        "text": action.text, "vendor": action.team, "priority": action.priority,
        "sla_due_at": decision.due_at.isoformat(),
        **({"eta_due_at": decision.vendor_eta_due_at.isoformat()} if decision.vendor_eta_due_at else {}),
    }


def _level_title(decision: Decision) -> str | None:
    state = decision.memory.escalation
    return state.current.title if state is not None else None


def _plain(text: str, helpdesk: str, ticket_id: str) -> str:
    # Older notify texts name the ticket by its internal key (zendesk:42); people know it as #42 / SD-12.
    return text.replace(f"{helpdesk}:{ticket_id}", reference(helpdesk, ticket_id))


def webhook_event(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The documented JSON event of one ALERT row."""
    ticket = {"helpdesk": payload["helpdesk"], "id": payload["ticket_id"],
              **({"url": payload["url"]} if payload.get("url") else {})}
    event = {"type": payload["type"], "id": payload["id"], "occurred_at": payload["occurred_at"], "ticket": ticket}
    event.update({k: payload[k] for k in ("metric", "level", "owner") if payload.get(k)})
    if payload.get("vendor"):
        event.update({k: payload[k] for k in VENDOR_FIELDS if payload.get(k)})
    event["text"] = payload["text"]
    return event


@dataclass(frozen=True)
class Message:
    """What a human channel sends one recipient: a subject line and a plain text (one alert, or a digest)."""

    person: str
    person_name: str
    email: str | None
    subject: str
    text: str
    ids: tuple[str, ...]


def message(payloads: Sequence[Mapping[str, Any]]) -> Message:
    """One message for one recipient: a single alert as it is, several (same digest key) as one list."""
    first = payloads[0]
    name = first.get("person_name") or first.get("person") or "you"
    lines = [p["text"] + (f" {p['url']}" if p.get("url") else "") for p in payloads]
    if len(payloads) == 1:
        subject, text = first["text"], lines[0]
    else:
        title = DIGEST_TITLES.get(first["type"], "alerts")
        subject = f"{len(payloads)} tickets {title}"
        text = f"{subject}:\n" + "\n".join(f"• {line}" for line in lines)
    return Message(first.get("person") or "", name, first.get("email"), _one_line(subject), text,
                   tuple(p["id"] for p in payloads))


def _one_line(text: str, limit: int = 150) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
