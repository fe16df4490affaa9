"""Recurring issues: cluster open cases across customers and open one problem ticket per cluster."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable, Iterable

from connectors.plan import follow_up_to_json
from connectors.model import FollowUp
from jobs.clock import utcnow
from jobs.explain import ticket_from_snapshot
from jobs.kinds import CheckKind, OutboxKind
from rules import Rules, case_summary, recurring_clusters
from store import Store, Txn

logger = logging.getLogger(__name__)


def queue_cluster_checks(txn: Txn, connector: str, key: str, members: Iterable[str], now: datetime) -> None:
    """A check for each member of a cluster, which links it to the problem and brings its customer updates."""
    for ticket_id in members:
        txn.enqueue_check(connector=connector, ticket_id=ticket_id, kind=CheckKind.CLUSTER,
                          key=f"cluster:{key}:{ticket_id}", now=now)


class RecurringDetector:
    """Each pass finds clusters with something to do: a new one gets its problem ticket (an outbox row);
    new members of one whose problem exists get a check, which links them and tells their customers."""

    def __init__(self, store: Store, rules: Rules, clock: Callable = utcnow):
        self.store, self.rules, self.clock = store, rules, clock

    def run_once(self) -> int:
        """One pass; return how many clusters changed."""
        if self.rules.recurring is None:
            return 0
        now = self.clock()
        membership = {(c.connector, member): c for c in self.store.clusters() for member in c.members}
        cases = []
        for case in self.store.open_cases():
            known = membership.get((case.connector, case.ticket_id))
            cases.append(case_summary(ticket_from_snapshot(case.snapshot), self.rules,
                                      cluster_key=known.key if known else None,
                                      problem_id=known.problem_id if known else None))
        clusters = recurring_clusters(cases, self.rules, now)
        for cluster in clusters:
            with self.store.write_txn() as txn:
                txn.save_cluster(key=cluster.key, connector=cluster.connector, members=list(cluster.members),
                                 subject=cluster.subject, now=now)
                if cluster.problem_id is None:
                    problem = FollowUp(original_id=cluster.members[0], subject=cluster.subject, body=cluster.body,
                                       group_id=cluster.group_id, assignee_id=cluster.assignee_id,
                                       priority=cluster.priority, problem=True)
                    # One problem ticket per cluster, whatever happens to this row (keyed by the cluster).
                    txn.add_outbox(connector=cluster.connector, ticket_id=cluster.members[0], kind=OutboxKind.PROBLEM,
                                   payload=follow_up_to_json(problem), cluster_key=cluster.key, now=now,
                                   idem_key=f"slaclock-problem-{cluster.key}")
                else:
                    queue_cluster_checks(txn, cluster.connector, cluster.key, cluster.new_members, now)
            logger.info("recurring.cluster", extra={"cluster": cluster.key, "members": len(cluster.members)})
        return len(clusters)
