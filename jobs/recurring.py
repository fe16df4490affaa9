"""Recurring issues: cluster open cases across customers and open one problem ticket per cluster."""
from __future__ import annotations

import logging
from typing import Callable

from connectors.plan import follow_up_to_json
from connectors.model import FollowUp
from jobs.clock import utcnow
from jobs.explain import ticket_from_snapshot
from rules import Rules, case_summary, recurring_clusters
from store import Store

logger = logging.getLogger(__name__)

CLUSTER = "slaclock.cluster"


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
        membership = {(c["connector"], member): c for c in self.store.clusters() for member in c["members"]}
        cases = []
        for row in self.store.open_cases():
            cluster = membership.get((row["connector"], row["ticket_id"]))
            cases.append(case_summary(ticket_from_snapshot(row["snapshot"]), self.rules,
                                      cluster_key=cluster["key"] if cluster else None,
                                      problem_id=cluster["problem_id"] if cluster else None))
        clusters = recurring_clusters(cases, self.rules, now)
        for cluster in clusters:
            with self.store.write_txn() as db:
                self.store.save_cluster(db, key=cluster.key, connector=cluster.connector,
                                        members=list(cluster.members), subject=cluster.subject, now=now)
                if cluster.problem_id is None:
                    problem = FollowUp(original_id=cluster.members[0], subject=cluster.subject, body=cluster.body,
                                       group_id=cluster.group_id, assignee_id=cluster.assignee_id,
                                       priority=cluster.priority, problem=True)
                    # One problem ticket per cluster, whatever happens to this row (keyed by the cluster).
                    self.store.add_outbox(db, connector=cluster.connector, ticket_id=cluster.members[0],
                                          kind="problem", payload={**follow_up_to_json(problem), "cluster": cluster.key},
                                          now=now, idem_key=f"slaclock-problem-{cluster.key}")
                else:
                    self.queue_members(db, cluster.connector, cluster.key, cluster.new_members, now)
            logger.info("recurring.cluster", extra={"cluster": cluster.key, "members": len(cluster.members)})
        return len(clusters)

    def queue_members(self, db, connector: str, key: str, members, now) -> None:
        """A check for each member, which links it to the problem and brings its customer updates."""
        for ticket_id in members:
            self.store.enqueue_check(db, connector=connector, ticket_id=ticket_id, kind=CLUSTER,
                                     key=f"cluster:{key}:{ticket_id}", now=now)
