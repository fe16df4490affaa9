"""The people around the case, through processor and deliverer: vendor loop, clusters, roles."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from jobs.deliverer import Deliverer
from jobs.kinds import CheckKind
from jobs.processor import Processor
from jobs.recurring import RecurringDetector
from rules import load_rules
from tests.fakes import Clock, FakeConnector

RULES = load_rules()
OPENED = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)  # Monday 10:00 in New York


@pytest.fixture
def flow(store):
    fake, clock = FakeConnector(), Clock(OPENED)
    connectors = {"zendesk": fake}
    jobs = (Processor(store, connectors, RULES, clock), Deliverer(store, connectors, clock))

    def drain():
        while sum(job.run_once() for job in jobs):
            pass
    return store, fake, clock, drain


def deliver(store, ticket_id, key, at, event_type="ticket.created", actor="500", body=b"{}"):
    store.add_delivery(connector="zendesk", delivery_key=key, event_type=event_type, ticket_id=ticket_id,
                       actor_id=actor, headers={}, body=body, received_at=at)


def vendor_says(store, clock, ticket_id, **update):
    body = json.dumps({"ticket": f"zendesk:{ticket_id}", "note": "", "vendor": "acme_parts", "eta": None,
                       "capacity_available": None, **update}).encode()
    deliver(store, ticket_id, f"vendor-{clock.at}", clock.at, CheckKind.VENDOR_ETA, "vendor:acme_parts", body)


def kinds(store, ticket_id):
    return [e.kind for e in store.timeline("zendesk", ticket_id)]


def test_defect_goes_to_the_vendor_who_is_asked_for_capacity_and_an_eta(flow):
    store, fake, clock, drain = flow
    fake.add("1", reason_code="defect", priority="high", opened_at=OPENED, updated_at=OPENED)
    deliver(store, "1", "c", OPENED)
    drain()
    assert store.get_case("zendesk", "1").team == "acme_parts"
    assert "vendor_request" in kinds(store, "1") and fake.writes[0][0].note.startswith(
        "Vendor ACME Parts: capacity and an ETA requested, due by ")


def test_vendor_confirms_in_time_and_the_customer_hears_the_schedule(flow):
    store, fake, clock, drain = flow
    fake.add("1", reason_code="defect", priority="high", opened_at=OPENED, updated_at=OPENED)
    deliver(store, "1", "c", OPENED)
    drain()
    clock.advance(minutes=30)
    vendor_says(store, clock, "1", eta=(OPENED + timedelta(hours=20)).isoformat(), capacity_available=True)
    drain()
    assert "vendor_confirmed" in kinds(store, "1") and "vendor_risk" not in kinds(store, "1")
    (reply,) = fake.public_replies
    assert reply[0] == "1" and "confirmed" in reply[1]


def test_no_capacity_is_an_sla_risk_that_escalates_and_sends_an_updated_plan(flow):
    store, fake, clock, drain = flow
    fake.add("1", reason_code="defect", priority="normal", opened_at=OPENED, updated_at=OPENED)
    deliver(store, "1", "c", OPENED)
    drain()
    clock.advance(minutes=30)
    vendor_says(store, clock, "1", capacity_available=False, note="backlog until April")
    drain()
    assert "vendor_risk" in kinds(store, "1") and "level_change" in kinds(store, "1")
    assert fake.tickets["1"].priority == "high"
    assert len(fake.public_replies) == 1 and "could not be scheduled in time" in fake.public_replies[0][1]
    # The same word again changes nothing and sends nothing.
    vendor_says(store, clock, "1", capacity_available=False, note="backlog until April")
    drain()
    assert len(fake.public_replies) == 1


def test_three_customers_with_one_product_make_one_problem_and_are_linked_to_it(flow):
    store, fake, clock, drain = flow
    product = RULES.recurring.product_field["zendesk"]
    for n, org in enumerate(("10", "11", "12", "10")):
        fake.add(str(n), reason_code="wrong_item", organization_id=org, opened_at=OPENED, updated_at=OPENED,
                 custom_fields={product: "PX-200"})
        deliver(store, str(n), f"c{n}", OPENED)
    drain()
    detector = RecurringDetector(store, RULES, clock)
    assert detector.run_once() == 1
    drain()
    assert len(fake.created) == 1 and fake.created[0][0].problem
    linked = {u.ticket_id: u.problem_id for u, _ in fake.writes if u.problem_id}
    assert linked == {"0": "900", "1": "900", "2": "900", "3": "900"}
    assert detector.run_once() == 0, "a cluster is made once"


def test_an_escalation_asked_by_someone_without_the_right_is_refused(flow):
    store, fake, clock, drain = flow
    fake.add("1", reason_code="wrong_item", opened_at=OPENED, updated_at=OPENED)
    deliver(store, "1", "c", OPENED)
    drain()
    fake.change("1", tags=frozenset({RULES.escalation.tag}))
    executive = RULES.people["elena"].zendesk  # executives may read, not escalate (seed 002)
    deliver(store, "1", "tag", clock.at, "ticket.tags_changed", actor=executive)
    drain()
    update = fake.writes[-1][0]
    assert update.tags == frozenset() and update.priority is None
    assert "refused" in kinds(store, "1") and "escalate" in update.note


def test_an_agents_groups_are_read_once_per_five_minutes(flow):
    store, fake, clock, drain = flow
    asked = []
    fake.actor_groups = lambda actor: asked.append(actor) or frozenset({"2010"})  # the installers' group
    for n in range(3):
        fake.add(str(n), reason_code="wrong_item", opened_at=OPENED, updated_at=OPENED)
        deliver(store, str(n), f"c{n}", clock.at)
        drain()
        fake.change(str(n), tags=frozenset({RULES.escalation.tag}))
        deliver(store, str(n), f"tag{n}", clock.at, "ticket.tags_changed", actor="777")
        drain()
        clock.advance(minutes=2, seconds=40)  # the third asks 5 min 20 s after the first
    assert asked == ["777", "777"]


def test_roles_by_group_are_read_only_when_a_manual_escalation_is_asked(flow):
    store, fake, clock, drain = flow
    asked = []
    fake.actor_groups = lambda actor: asked.append(actor) or frozenset({"2010"})  # the installers' group
    fake.add("1", reason_code="wrong_item", opened_at=OPENED, updated_at=OPENED)
    deliver(store, "1", "c", OPENED, actor="777")
    drain()
    assert asked == []
    fake.change("1", tags=frozenset({RULES.escalation.tag}))
    deliver(store, "1", "tag", clock.at, "ticket.tags_changed", actor="777")
    drain()
    assert asked == ["777"] and "refused" in kinds(store, "1") and fake.tickets["1"].priority == "normal"
