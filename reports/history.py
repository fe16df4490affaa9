"""Case histories for the KPIs, read from the store: one query for the cases, one for their events."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from typing import Any

from reports.kpis import CaseHistory
from rules.attribution import time_by_holder
from rules.decision import CaseMemory, TimelineEvent, TimelineKind
from rules.schema import Rules
from store import Store


def report_options(rules: Rules) -> dict[str, Any]:
    """What `reports.kpis.report` takes from the rules: the stop statuses, the update cadence, who held a case."""
    return dict(stop=frozenset(rules.sla.stop_statuses),
                cadence=lambda priority: getattr(rules.customer_updates.cadence, priority or "", None)
                if rules.customer_updates else None,
                attribute=lambda case, until: time_by_holder(rules, case.memory, case.opened_at, until))


def case_histories(store: Store) -> list[CaseHistory]:
    """Every case the store holds, with its rules timeline events in order."""
    events: dict[tuple[str, str], list[TimelineEvent]] = defaultdict(list)
    for entry in store.timeline_of_kinds([k.value for k in TimelineKind]):
        events[(entry.connector, entry.ticket_id)].append(TimelineEvent.from_json(entry.detail))
    cluster_of = {(c.connector, member): c.key for c in store.clusters() for member in c.members}
    histories = []
    for case in store.cases():
        snapshot, memory = case.snapshot or {}, CaseMemory.from_json(case.memory)
        opened = snapshot.get("opened_at")
        if not opened:
            continue  # decided from a snapshot this version did not keep: nothing to measure
        histories.append(CaseHistory(
            key=f"{case.connector}:{case.ticket_id}", opened_at=datetime.fromisoformat(opened), memory=memory,
            events=tuple(sorted(events[(case.connector, case.ticket_id)], key=lambda e: e.at)),
            team=case.team, priority=case.priority, tier=memory.bases[-1].tier if memory.bases else None,
            reason=snapshot.get("reason_code"), cluster=cluster_of.get((case.connector, case.ticket_id))))
    return histories
