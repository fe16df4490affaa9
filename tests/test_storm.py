"""Escalation storms: many due writes go out in batch jobs; what a job did not apply is retried per ticket."""
from datetime import datetime, timezone

from connectors.plan import update_to_json
from connectors.model import TicketUpdate
from jobs.deliverer import STORM_THRESHOLD, Deliverer
from tests.fakes import Clock, FakeConnector

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


class BatchFake(FakeConnector):
    def __init__(self, refuse=()):
        super().__init__()
        self.batches: list[list[str]] = []
        self.refuse = set(refuse)

    def apply_updates(self, updates, keys=None):
        self.batches.append([u.ticket_id for u in updates])
        self.keys = keys
        return {u.ticket_id: u.ticket_id not in self.refuse for u in updates}


def queue(store, fake, count):
    with store.write_txn() as txn:
        for n in range(count):
            ticket = fake.add(str(n))
            update = TicketUpdate(ticket_id=ticket.ticket_id, version=ticket.version, priority="high", note="x")
            txn.add_outbox(connector="zendesk", ticket_id=ticket.ticket_id, kind="ticket_update",
                           payload=update_to_json(update), now=NOW, idem_key=f"k{n}")


def test_storm_goes_out_in_one_batch_and_failures_are_retried_singly(store):
    fake = BatchFake(refuse={"3", "7"})
    queue(store, fake, 25)
    Deliverer(store, {"zendesk": fake}, Clock(NOW)).run_once()
    assert len(fake.batches) == 1 and len(fake.batches[0]) == 25
    assert sorted(u.ticket_id for u, _ in fake.writes) == ["3", "7"]
    assert fake.keys == [f"k{n}" for n in range(25)], "each update goes with its marker"
    assert fake.read_backs == 2, "a row the job did not apply may have landed all the same: read back first"
    assert store.outbox_counts() == {"done": 25}
    summaries = [e.summary for e in store.timeline("zendesk", "0")]
    assert summaries == ["wrote priority and internal note (batch job)"]


def test_a_few_writes_go_out_one_by_one(store):
    fake = BatchFake()
    queue(store, fake, STORM_THRESHOLD - 1)
    Deliverer(store, {"zendesk": fake}, Clock(NOW)).run_once()
    assert fake.batches == [] and len(fake.writes) == STORM_THRESHOLD - 1


class ReaderFake(FakeConnector):
    def __init__(self):
        super().__init__()
        self.bulk_reads: list[list[str]] = []

    def fetch_tickets(self, ids):
        self.bulk_reads.append(list(ids))
        return {i: self.tickets[i] for i in ids if i in self.tickets}


def test_a_sweep_storm_reads_its_tickets_in_bulk(store):
    from jobs.processor import Processor
    from rules import load_rules

    fake = ReaderFake()
    for n in range(30):
        fake.add(str(n), reason_code="wrong_item")
        store.add_delivery(connector="zendesk", delivery_key=f"s{n}", event_type="slaclock.sweep", ticket_id=str(n),
                           actor_id=None, headers={}, body=b"", received_at=NOW)
    Processor(store, {"zendesk": fake}, load_rules(), Clock(NOW)).run_once()
    assert fake.bulk_reads == [[str(n) for n in range(30)]] and fake.reads == 0
    assert store.outbox_counts() == {"pending": 30}


def test_a_batch_parses_each_webhook_once_when_its_tickets_are_read_in_bulk(store):
    from jobs.processor import Processor
    from rules import load_rules

    class Counting(ReaderFake):
        parses = 0

        def parse(self, headers, body, fields=True):
            self.parses += 1
            return super().parse(headers, body, fields)

    fake = Counting()
    processor = Processor(store, {"zendesk": fake}, load_rules(), Clock(NOW))
    for n in range(3):
        fake.add(str(n), reason_code="wrong_item")
        store.add_delivery(connector="zendesk", delivery_key=f"s{n}", event_type="slaclock.sweep", ticket_id=str(n),
                           actor_id=None, headers={}, body=b"", received_at=NOW)
    processor.run_once()  # the cases are stored and their writes land: the next webhooks come for known tickets
    Deliverer(store, {"zendesk": fake}, Clock(NOW)).run_once()
    for n in range(3):
        fake.change(str(n), priority="high")
        store.add_delivery(connector="zendesk", delivery_key=f"w{n}", event_type="ticket.priority_changed",
                           ticket_id=str(n), actor_id="55", headers={}, body=b'{"change_id": "c%d"}' % n,
                           received_at=NOW)
    fake.parses, fake.bulk_reads = 0, []
    processor.run_once()
    assert fake.bulk_reads == [["0", "1", "2"]] and fake.reads == 0
    assert fake.parses == 3, "the bulk read's check parsed them; deciding reuses that parse"
