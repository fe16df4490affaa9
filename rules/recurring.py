"""Recurring issues across customers (seed 003): open cases that share a product, an order or a
reason code become one cluster, with one problem ticket escalated once to engineering.

`recurring_clusters(cases, rules, now)` is pure: the jobs layer queries the open cases from the
store (`case_summary` turns a ticket into one) and calls it, typically once per sweep.

The rule (`[recurring]`): for each key in `keys` (in file order; a list is a combined key),
open cases of one helpdesk with the same value(s), opened within `window` before `now`, from
at least `min_customers` different customers (the organization, else the requester; with
`customer = "requester"` the requester), form a cluster. Two cases of one customer are both
members but count once. A case already in a cluster (`CaseSummary.cluster_key`) is never
clustered again; a new open case with the value of an existing cluster joins it (the cluster
grows, whatever the count). Only clusters with something to do are returned: a new one
(`is_new`: create the problem ticket) or one with `new_members` (link them).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from rules.calendar import utc_instant
from rules.decision import ClusterInfo
from rules.facts import TicketFacts
from rules.ladder import LadderSnapshot
from rules.schema import CLUSTER_FIELDS, Rules, field_value
from rules.wording import format_duration


@dataclass(frozen=True)
class CaseSummary:
    """One open case as the store knows it, for clustering."""

    connector: str
    ticket_id: str
    opened_at: datetime
    requester_id: str | None = None
    organization_id: str | None = None
    reason_code: str | None = None
    product: str | None = None
    order: str | None = None
    status: str = "open"
    cluster_key: str | None = None  # the cluster it already belongs to (None: not clustered)
    problem_id: str | None = None  # that cluster's problem ticket, once created
    subject: str = ""


@dataclass(frozen=True)
class Cluster:
    """A recurring issue: its members, and the problem ticket to create (or update) for it."""

    key: str  # stable: `<connector>:<dimension>=<normalised value>[+...]`
    connector: str
    dimensions: tuple[tuple[str, str], ...]  # (dimension, value as first seen), e.g. (("product", "PX-200"),)
    members: tuple[str, ...]  # every member's ticket id, oldest first (old and new)
    new_members: tuple[str, ...]  # the ones to link now
    customers: int  # different customers among the members
    first_seen: datetime  # the oldest member's opened_at
    is_new: bool  # no member was clustered before: create the problem ticket
    problem_id: str | None  # the existing problem ticket (a growing cluster), when known
    subject: str  # the problem ticket's subject and body (templates `recurring.subject` / `body`)
    body: str
    priority: str
    team: str | None  # the engineering target: team, group and assignee ids in this helpdesk
    group_id: str | None
    assignee_id: str | None
    owner: str | None  # the name of who owns the problem

    def info(self, problem_id: str | None = None) -> ClusterInfo:
        """What `decide(cluster=...)` needs for each member."""
        return ClusterInfo(self.key, problem_id or self.problem_id, self.subject, len(self.members), self.owner)


def case_summary(ticket: TicketFacts, rules: Rules, *, cluster_key: str | None = None,
                 problem_id: str | None = None) -> CaseSummary:
    """A ticket (connectors.Ticket or alike) as a CaseSummary; product and order from the custom
    fields `recurring.product_field` / `recurring.order_field`."""
    cfg = rules.recurring
    product = field_value(ticket, cfg.product_field) if cfg is not None else None
    order = field_value(ticket, cfg.order_field) if cfg is not None else None
    return CaseSummary(
        connector=ticket.connector, ticket_id=str(ticket.ticket_id), opened_at=utc_instant(ticket.opened_at),
        requester_id=ticket.requester_id, organization_id=ticket.organization_id,
        reason_code=ticket.reason_code, product=str(product) if product not in (None, "") else None,
        order=str(order) if order not in (None, "") else None, status=ticket.status or "open",
        cluster_key=cluster_key, problem_id=problem_id, subject=ticket.subject or "")


def _norm(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text.casefold() if text else None


def _customer(case: CaseSummary, by: str) -> str | None:
    if by == "organization" and case.organization_id:
        return f"org:{case.organization_id}"
    return f"user:{case.requester_id}" if case.requester_id else None


def _target(rules: Rules, connector: str, now: datetime) -> tuple[str | None, str | None, str | None, str | None]:
    """(team, group id, assignee id, owner name) of the engineering target."""
    cfg = rules.recurring
    if cfg.team is not None:
        target = getattr(rules.teams[cfg.team], connector, None)
        return cfg.team, target.group_id if target else None, target.assignee_id if target else None, None
    if cfg.level is not None and rules.escalation.ladder:
        ladder = LadderSnapshot.take(rules, rules.escalation.ladder)
        index = ladder.index(cfg.level)
        if index is not None:
            level = ladder.levels[index]
            group_id, assignee_id = level.target(connector)
            owner, _ = level.resolve_owner(now)
            owner_id = owner.id_for(connector) if owner else None
            return level.team, group_id, owner_id or assignee_id, owner.name if owner else None
    return None, None, None, None


def recurring_clusters(cases: Sequence[CaseSummary], rules: Rules, now: datetime) -> list[Cluster]:
    """New and growing clusters among `cases` at `now` (see the module docstring)."""
    cfg = rules.recurring
    if cfg is None:
        return []
    now = utc_instant(now)
    since = now - cfg.window
    stop = set(rules.sla.stop_statuses)
    open_cases = sorted((c for c in cases if c.status not in stop), key=lambda c: (c.opened_at, c.ticket_id))
    taken: set[tuple[str, str]] = set()  # joined a cluster in this call
    out: list[Cluster] = []
    for dims in cfg.keys:
        groups: dict[tuple[str, tuple[str, ...]], list[CaseSummary]] = {}
        for case in open_cases:
            values = tuple(_norm(getattr(case, d)) for d in dims)
            if all(values):
                groups.setdefault((case.connector, values), []).append(case)  # type: ignore[arg-type]
        for (connector, values), members in groups.items():
            key = f"{connector}:" + "+".join(f"{d}={v}" for d, v in zip(dims, values))
            old = [c for c in members if c.cluster_key == key]
            fresh = [c for c in members if c.cluster_key is None and (c.connector, c.ticket_id) not in taken
                     and utc_instant(c.opened_at) >= since]
            if not fresh:
                continue
            everyone = old + fresh
            customers = {who for c in everyone if (who := _customer(c, cfg.customer)) is not None}
            if not old and len(customers) < cfg.min_customers:
                continue
            taken |= {(c.connector, c.ticket_id) for c in fresh}
            everyone.sort(key=lambda c: (c.opened_at, c.ticket_id))
            first = everyone[0]
            shown = tuple((d, str(getattr(first, d)).strip()) for d in dims)
            team, group_id, assignee_id, owner = _target(rules, connector, now)
            values_map = {
                "key": ", ".join(f"{d.replace('_', ' ')} {v}" for d, v in shown),
                "value": " / ".join(v for _, v in shown),
                "count": str(len(everyone)), "customers": str(len(customers)),
                "members": ", ".join(f"{c.connector}:{c.ticket_id}" for c in everyone),
                "first_seen": f"{first.opened_at:%Y-%m-%d %H:%M} UTC", "window": format_duration(cfg.window),
                "reason_code": first.reason_code or "-", "product": first.product or "-", "order": first.order or "-",
            }
            assert set(values_map) == set(CLUSTER_FIELDS)
            out.append(Cluster(
                key=key, connector=connector, dimensions=shown, members=tuple(c.ticket_id for c in everyone),
                new_members=tuple(c.ticket_id for c in fresh), customers=len(customers),
                first_seen=utc_instant(first.opened_at), is_new=not old,
                problem_id=next((c.problem_id for c in old if c.problem_id), None),
                subject=cfg.subject.format_map(values_map), body=cfg.body.format_map(values_map),
                priority=cfg.priority, team=team, group_id=group_id, assignee_id=assignee_id, owner=owner))
    return out
