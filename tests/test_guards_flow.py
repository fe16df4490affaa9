"""Issue 15's guards through processor and deliverer, on both helpdesks (their names and the example rules'
targets): bouncing tickets, what an escalation request must carry, roles enforced on every change, and the
resolution path a solve must record."""
from datetime import datetime, timedelta, timezone

import pytest

from jobs.deliverer import Deliverer
from jobs.processor import Processor
from rules import load_rules
from tests.fakes import Clock, FakeConnector

RULES = load_rules()
OPENED = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)  # Monday 10:00 in New York


class Desk:
    """One helpdesk in the flow: its fake connector, the clock, and how a person there changes a ticket."""

    def __init__(self, store, name: str):
        self.store, self.name = store, name
        self.fake, self.clock = FakeConnector(), Clock(OPENED)
        self.fake.name = name
        connectors = {name: self.fake}
        self.jobs = (Processor(store, connectors, RULES, self.clock), Deliverer(store, connectors, self.clock))
        self.n = 0

    def drain(self) -> None:
        while sum(job.run_once() for job in self.jobs):
            pass

    def deliver(self, ticket_id: str, event: str = "ticket.updated", actor: str = "500") -> None:
        self.n += 1
        self.store.add_delivery(connector=self.name, delivery_key=f"d{self.n}", event_type=event, ticket_id=ticket_id,
                                actor_id=actor, headers={}, body=b"{}", received_at=self.clock.at)
        self.drain()

    def create(self, ticket_id: str = "1", **fields) -> None:
        self.fake.add(ticket_id, opened_at=OPENED, updated_at=OPENED, **fields)
        self.deliver(ticket_id, "ticket.created")

    def change(self, ticket_id: str = "1", actor: str = "500", minutes: int = 20, **fields) -> None:
        """A person changes the ticket `minutes` later."""
        self.clock.advance(minutes=minutes)
        self.fake.change(ticket_id, updated_at=self.clock.at, **fields)
        self.deliver(ticket_id, actor=actor)

    def route_to(self, team: str, ticket_id: str = "1", minutes: int = 20) -> None:
        """An agent moves the ticket to another team by hand (Zendesk: its group; Jira: its assignee)."""
        target = getattr(RULES.teams[team], self.name)
        self.change(ticket_id, minutes=minutes, **({"group_id": target.group_id} if target.group_id else
                                  {"assignee_id": target.assignee_id}))

    def kinds(self, ticket_id: str = "1") -> list[str]:
        return [e.kind for e in self.store.timeline(self.name, ticket_id)]

    def notes(self) -> list[str]:
        return [u.note for u, _ in self.fake.writes if u.note]


@pytest.fixture(params=["zendesk", "jira"])
def desk(request, store):
    return Desk(store, request.param)


def test_a_ticket_bouncing_between_teams_climbs_to_the_manager_once_with_the_hops_listed(desk):
    desk.create()
    for team in ("warehouse", "purchasing", "support"):
        desk.route_to(team)
    assert "bouncing" not in desk.kinds(), "three hops within the day are still fine"
    desk.route_to("warehouse")
    assert desk.kinds().count("bouncing") == 1 and "level_change" in desk.kinds()
    manager = RULES.people["maria"]
    assert desk.fake.tickets["1"].assignee_id == getattr(manager, desk.name)
    assert desk.notes()[-1] == (
        f"Escalated to {manager.name} (Escalation manager): reassigned between teams 4 times within 24 h (Support → "
        f"Warehouse → Purchasing → Support → Warehouse, since Mon 2 Mar at 10:20 EST).\nAssigned to {manager.name}.")
    for team in ("purchasing", "support"):
        desk.route_to(team)
    assert desk.kinds().count("bouncing") == 1, "once per case"


def test_hops_spread_over_more_than_the_window_are_not_bouncing(desk):
    desk.create()
    for team in ("warehouse", "purchasing", "support", "warehouse", "purchasing"):
        desk.route_to(team, minutes=10 * 60)
    assert "bouncing" not in desk.kinds()
