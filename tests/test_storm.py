"""Escalation storms: many due writes go out in batch jobs that run while the worker goes on; what a job did not
apply is retried per ticket."""
from datetime import datetime, timezone

from connectors.errors import RetryableError
from connectors.model import BatchJob, TicketUpdate
from connectors.plan import update_to_json
from jobs.deliverer import JOB_POLL, JOB_TIMEOUT, MAX_JOBS, STORM_THRESHOLD, Deliverer
from tests.fakes import Clock, FakeConnector, counted_commits

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


class BatchFake(FakeConnector):
    """A helpdesk whose batch jobs run after `runs_for` questions; `refuse`: tickets a job does not apply."""

    def __init__(self, refuse=(), runs_for=0):
        super().__init__()
        self.batches: list[list[str]] = []
        self.asked: list[str] = []
        self.refuse, self.runs_for = set(refuse), runs_for
        self.failures: list[Exception] = []  # raised by the next questions, in turn

    def start_updates(self, updates, keys=None):
        self.batches.append([u.ticket_id for u in updates])
        self.keys = keys
        return [BatchJob(f"job{len(self.batches)}", tuple(u.ticket_id for u in updates))]

    def job_applied(self, job):
        self.asked.append(job.id)
        if self.failures:
            raise self.failures.pop(0)
        if self.asked.count(job.id) <= self.runs_for:
            return None
        return {t: t not in self.refuse for t in job.ticket_ids}


def queue(store, fake, count, first=0):
    with store.write_txn() as txn:
        for n in range(first, first + count):
            ticket = fake.add(str(n))
            update = TicketUpdate(ticket_id=ticket.ticket_id, version=ticket.version, priority="high", note="x")
            txn.add_outbox(connector="zendesk", ticket_id=ticket.ticket_id, kind="ticket_update",
                           payload=update_to_json(update), now=NOW, idem_key=f"k{n}")


def storm_then_held(store, fake, clock, held, storm=12):
    """A deliverer whose first storm's job runs while `held` more rows wait to join the next one."""
    deliverer = Deliverer(store, {"zendesk": fake}, clock)
    queue(store, fake, storm)
    deliverer.run_once()
    queue(store, fake, held, first=storm)
    deliverer.run_once()
    return deliverer


def test_storm_goes_out_in_one_batch_and_failures_are_retried_singly(store):
    fake, clock = BatchFake(refuse={"3", "7"}), Clock(NOW)
    queue(store, fake, 25)
    deliverer = Deliverer(store, {"zendesk": fake}, clock)
    assert deliverer.run_once() == 25
    assert len(fake.batches) == 1 and len(fake.batches[0]) == 25
    assert fake.keys == [f"k{n}" for n in range(25)], "each update goes with its marker"
    assert fake.asked == [] and store.outbox_counts() == {"sending": 25}, "the job runs while the worker goes on"
    clock.advance(seconds=1)
    assert deliverer.run_once() == 25
    assert fake.asked == ["job1"]
    assert sorted(u.ticket_id for u, _ in fake.writes) == ["3", "7"]
    assert fake.read_backs == 2, "a row the job did not apply may have landed all the same: read back first"
    assert store.outbox_counts() == {"done": 25}
    summaries = [e.summary for e in store.timeline("zendesk", "0")]
    assert summaries == ["wrote priority and internal note (batch job)"]


def test_what_a_job_applied_is_recorded_in_one_commit(store):
    fake, clock = BatchFake(), Clock(NOW)
    queue(store, fake, 12)
    deliverer = Deliverer(store, {"zendesk": fake}, clock)
    deliverer.run_once()
    clock.advance(seconds=1)
    commits = counted_commits(store)
    deliverer.run_once()
    assert store.outbox_counts() == {"done": 12} and fake.writes == []
    assert len(commits) == 1, "the twelve rows the job applied, together"
    assert all(e.summary.endswith("(batch job)") for n in range(12) for e in store.timeline("zendesk", str(n)))


def test_a_few_writes_go_out_one_by_one(store):
    fake = BatchFake()
    queue(store, fake, STORM_THRESHOLD - 1)
    Deliverer(store, {"zendesk": fake}, Clock(NOW)).run_once()
    assert fake.batches == [] and len(fake.writes) == STORM_THRESHOLD - 1


def test_while_a_job_runs_the_next_rows_wait_a_second_to_go_out_together(store):
    fake, clock = BatchFake(), Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": fake}, clock)
    queue(store, fake, 12)
    deliverer.run_once()
    queue(store, fake, 3, first=12)
    assert deliverer.run_once() == 3 and len(fake.batches) == 1 and fake.writes == [], "held, not sent alone"
    assert deliverer.idle_wait(0.5) == 0.5 and deliverer.idle_wait(5.0) == 1.0
    clock.advance(seconds=0.5)
    queue(store, fake, 9, first=15)
    deliverer.run_once()
    assert fake.asked == [] and len(fake.batches) == 1 and deliverer.idle_wait(5.0) == 0.5
    clock.advance(seconds=0.5)
    deliverer.run_once()  # the first job has run: the twelve rows held meanwhile go in one job
    assert fake.asked == ["job1"] and [len(b) for b in fake.batches] == [12, 12] and fake.writes == []
    clock.advance(seconds=1)
    deliverer.run_once()
    assert store.outbox_counts() == {"done": 24} and fake.read_backs == 0


def test_held_rows_go_after_a_second_even_while_the_job_still_runs(store):
    fake, clock = BatchFake(runs_for=2), Clock(NOW)
    deliverer = storm_then_held(store, fake, clock, 3)
    clock.advance(seconds=1)
    deliverer.run_once()
    assert fake.asked == ["job1"] and len(fake.batches) == 1, "the job still runs"
    assert sorted(u.ticket_id for u, _ in fake.writes) == ["12", "13", "14"], "too few for a job: one by one"
    for _ in range(2):
        clock.advance(seconds=1)
        deliverer.run_once()
    assert fake.asked == ["job1"] * 3 and store.outbox_counts() == {"done": 15}


def test_rows_held_for_a_connector_the_new_rules_dropped_are_parked_not_lost(store):
    fake, clock = BatchFake(), Clock(NOW)
    old = storm_then_held(store, fake, clock, 10, storm=10)
    clock.advance(seconds=1)
    Deliverer(store, {}, clock, in_flight=old.in_flight).run_once()
    assert store.outbox_counts() == {"failed": 20}
    assert all(row.last_error == "connector zendesk is not configured" for row in store.parked())


def test_a_full_batch_does_not_wait_for_the_job_before(store):
    fake, clock = BatchFake(runs_for=5), Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": fake}, clock, batch=STORM_THRESHOLD)
    for n in range(2):
        queue(store, fake, STORM_THRESHOLD, first=n * STORM_THRESHOLD)
        deliverer.run_once()
    assert len(fake.batches) == 2 and fake.asked == []


def test_a_job_that_does_not_finish_in_time_has_its_rows_read_back_and_sent_one_by_one(store):
    fake, clock = BatchFake(runs_for=10_000), Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": fake}, clock)
    queue(store, fake, 10)
    deliverer.run_once()
    clock.advance(seconds=JOB_TIMEOUT.total_seconds() - 1)
    deliverer.run_once()
    assert store.outbox_counts() == {"sending": 10}
    clock.advance(seconds=1)
    deliverer.run_once()
    assert fake.read_backs == 10 and len(fake.writes) == 10 and store.outbox_counts() == {"done": 10}


def test_a_question_that_fails_is_asked_again(store):
    fake, clock = BatchFake(), Clock(NOW)
    fake.failures = [RetryableError("503 Service Unavailable")]
    deliverer = Deliverer(store, {"zendesk": fake}, clock)
    queue(store, fake, 10)
    deliverer.run_once()
    clock.advance(seconds=1)
    deliverer.run_once()
    assert store.outbox_counts() == {"sending": 10} and deliverer.in_flight.jobs
    clock.advance(seconds=1)
    deliverer.run_once()
    assert fake.asked == ["job1", "job1"] and store.outbox_counts() == {"done": 10} and fake.writes == []


def test_no_more_jobs_start_than_the_helpdesk_takes_at_once(store):
    fake, clock = BatchFake(runs_for=1), Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": fake}, clock, batch=STORM_THRESHOLD)  # each storm a full batch
    for n in range(MAX_JOBS + 1):
        queue(store, fake, STORM_THRESHOLD, first=n * STORM_THRESHOLD)
        deliverer.run_once()
    assert len(fake.batches) == MAX_JOBS
    assert store.outbox_counts() == {"sending": MAX_JOBS * STORM_THRESHOLD, "pending": STORM_THRESHOLD}
    clock.advance(seconds=JOB_POLL.total_seconds())
    deliverer.run_once()  # asked once: the jobs still run
    clock.advance(seconds=JOB_POLL.total_seconds())
    deliverer.run_once()  # they have run: the waiting storm goes out
    assert len(fake.batches) == MAX_JOBS + 1


def test_finish_jobs_sends_what_is_held_and_waits_for_the_jobs_in_flight(store):
    fake, clock = BatchFake(runs_for=2), Clock(NOW)
    deliverer = storm_then_held(store, fake, clock, 2, storm=10)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock.advance(seconds=seconds)

    deliverer.finish_jobs(sleep)
    assert waits == [1.0, 1.0, 1.0] and not deliverer.in_flight.jobs and not deliverer.in_flight.held
    assert store.outbox_counts() == {"done": 12} and len(fake.writes) == 2


def test_a_deliverer_built_for_new_rules_takes_over_the_jobs_and_held_rows(store):
    fake, clock = BatchFake(), Clock(NOW)
    old = storm_then_held(store, fake, clock, 2, storm=10)
    new = Deliverer(store, {"zendesk": fake}, clock, in_flight=old.in_flight)
    clock.advance(seconds=1)
    new.run_once()
    assert len(fake.writes) == 2
    assert store.outbox_counts() == {"done": 12}


def test_a_stopping_worker_puts_held_and_running_rows_back_for_the_next_one(store):
    fake, clock = BatchFake(), Clock(NOW)
    stopping = storm_then_held(store, fake, clock, 3)
    stopping.release()
    assert store.outbox_counts() == {"pending": 15} and not stopping.in_flight.jobs and not stopping.in_flight.held
    nxt = Deliverer(store, {"zendesk": fake}, clock)
    nxt.run_once()
    # The job's twelve are read back first (this fake's job applied none, so each goes out alone); the three held
    # were never sent: no read back.
    assert fake.read_backs == 12 and len(fake.writes) == 15
    assert store.outbox_counts() == {"done": 15}


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
