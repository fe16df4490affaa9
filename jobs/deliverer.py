"""Send outbox rows to the helpdesk, step by step, exactly once: progress recorded around every call that is
not idempotent, read back before any re-send whose outcome is unknown; 409 → decide again; retryable
failures retried with backoff until a horizon (at once when the helpdesk answers again), refusals parked."""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from alerts.channels import AlertDesk
from alerts.events import message, webhook_event
from connectors.contract import UPDATE_STEP, BatchWriter, Connector, WriteStep, supports
from connectors.errors import ApiError, ConflictError, OutcomeUnknown, PermanentError, RetryableError
from connectors.model import BatchJob, FollowUp, Ticket, parse_instant
from connectors.plan import fields_text, update_from_json
from jobs.clock import utcnow
from jobs.kinds import ALERT_CONNECTOR, CheckKind, JobEvent, OutboxKind
from jobs.recurring import queue_cluster_checks
from rules.wording import count
from store import OutboxRow, OutboxStatus, Store, Txn

logger = logging.getLogger(__name__)

# After this many 409s in a row the ticket is being edited faster than we can write; park it.
MAX_CONFLICTS = 3
# From this many due writes for one batch-capable connector, a batch job (one call plus polling)
# beats one call per ticket.
STORM_THRESHOLD = 10
# A batch job is asked after every second until it has run, for at most two minutes (Zendesk's jobs of 100
# tickets usually run in seconds); past that its rows go one by one, each read back first. While a connector's job
# runs, its next storm rows wait up to a second to go out together. Zendesk refuses more than 30 queued or running
# jobs per account (TooManyJobs): we keep to a third of that, for other integrations.
JOB_POLL = timedelta(seconds=1)
JOB_TIMEOUT = timedelta(minutes=2)
MAX_JOBS = 10
# A write that keeps failing with a retryable error (5xx, 429, timeout, unknown outcome) is tried again
# after 15 s, 30 s, 60 s … at most 5 min apart, until a day after it was queued; then it is parked.
RETRY_BASE_SECONDS = 15.0
RETRY_CAP_SECONDS = 300.0
RETRY_HORIZON = timedelta(hours=24)

# Step states in a row's progress.
SENDING, DONE, FAILED = "sending", "done", "failed"
# The one step of an ALERT row (a digest's rows share its call).
ALERT_STEP = "alert"
# Statuses after which nobody needs an alert about the ticket any more.
CLOSED_STATUSES = frozenset({"solved", "closed"})
# A helpdesk sends several webhooks for one change, a few seconds apart: those arriving this soon after the
# alert was queued belong to the change that caused it, not to an agent acting since.
SAME_CHANGE = timedelta(seconds=5)

Progress = dict[str, dict[str, Any]]
StepsOf = Callable[[Connector, OutboxRow], list[WriteStep]]


@dataclass
class Running:
    """A batch job the helpdesk is running for claimed rows (each "sending" until the job says it applied)."""

    connector: str
    job: BatchJob
    rows: list[OutboxRow]  # with their "sending" progress
    ask_at: datetime  # when to ask after it next
    until: datetime  # when to stop asking and send its rows one by one


@dataclass
class InFlight:
    """The batch jobs the helpdesks are running, and the claimed rows waiting to join a connector's next job (since
    when, which); a deliverer built for new rules takes them over."""

    jobs: list[Running] = field(default_factory=list)
    held: dict[str, tuple[datetime, list[OutboxRow]]] = field(default_factory=dict)

    def runs_for(self, connector: str) -> bool:
        return any(r.connector == connector for r in self.jobs)


class Deliverer:
    """Drains the outbox through the connectors (in-call retries and rate budget live in their sessions)."""

    def __init__(self, store: Store, connectors: Mapping[str, Connector], clock: Callable = utcnow, batch: int = 100,
                 alerts: AlertDesk | None = None, in_flight: InFlight | None = None):
        self.store, self.connectors, self.clock, self.batch = store, connectors, clock, batch
        self.alerts = alerts  # the alert channels outside the helpdesk (None: ALERT rows are parked)
        self.in_flight = in_flight if in_flight is not None else InFlight()
        # How each kind of row becomes steps, and how it is recorded once they are done; a kind missing
        # here is parked, never dropped.
        self.writes: dict[OutboxKind, tuple[StepsOf, Callable[[OutboxRow, Progress], None]]] = {
            OutboxKind.TICKET_UPDATE: (
                lambda c, row: c.update_steps(update_from_json(row.payload), row.idem_key), self._written),
            OutboxKind.PUBLIC_REPLY: (
                lambda c, row: c.reply_steps(row.ticket_id, row.payload["text"], row.idem_key), self._written),
            OutboxKind.FOLLOW_UP: (
                lambda c, row: c.follow_up_steps(FollowUp(**row.payload), row.idem_key), self._followed_up),
            OutboxKind.PROBLEM: (self._problem_steps, self._problem_created),
            OutboxKind.CLOSE: (
                lambda c, row: c.close_steps(row.ticket_id, row.payload["text"], row.idem_key), self._written),
        }

    def run_once(self) -> int:
        """Settle the batch jobs that have run, then send the due rows (a storm in batch jobs where the helpdesk has
        them, without waiting for the jobs); return how many rows were claimed or settled."""
        settled = self.settle_jobs()
        if len(self.in_flight.jobs) >= MAX_JOBS:
            return settled  # the rows wait in the queue until a job has run
        rows = self.store.claim_outbox(self.clock(), self.batch)
        singles: list[OutboxRow] = []
        batches: dict[str, dict[str, OutboxRow]] = defaultdict(dict)  # connector → ticket → its first update
        alerts = [row for row in rows if row.kind == OutboxKind.ALERT]
        for row in rows:
            if row.kind == OutboxKind.ALERT:
                continue
            batch = batches[row.connector]
            if (row.kind == OutboxKind.TICKET_UPDATE and row.ticket_id not in batch and not row.progress
                    and supports(self.connectors.get(row.connector), BatchWriter)):
                batch[row.ticket_id] = row
            else:
                singles.append(row)
        now, held = self.clock(), self.in_flight.held
        for name in {*batches, *held}:
            since, waiting = held.pop(name, (now, []))
            storm = waiting + list(batches.get(name, {}).values())
            if len(storm) < self.batch and now - since < JOB_POLL and self.in_flight.runs_for(name):
                held[name] = (since, storm)  # a storm under way: these go with the rows due in the next second
            else:
                singles.extend(self._batched(name, storm))
        for row in sorted(singles, key=lambda r: r.id):
            self.send(row)
        if alerts:
            self.send_alerts(alerts)
        return len(rows) + settled

    def _batched(self, name: str, rows: list[OutboxRow]) -> list[OutboxRow]:
        """A storm's rows into batch jobs (from STORM_THRESHOLD, while the connector still writes in batches: new
        rules may have dropped it); the rows left to send one by one."""
        if len(rows) >= STORM_THRESHOLD and supports(self.connectors.get(name), BatchWriter):
            return self.start_batch(name, rows)
        return rows

    def start_batch(self, name: str, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Hand rows to the connector's batch jobs, which run while the worker goes on; the rows no job took (to
        be sent one by one). The job may apply a row even when its answer is lost, so every row's update is
        "sending" until the job says it applied: a row sent on its own afterwards is read back first."""
        connector: BatchWriter = self.connectors[name]  # type: ignore[assignment]
        now = self.clock()
        rows = [replace(row, progress={UPDATE_STEP: {"state": SENDING, "at": now.isoformat()}}) for row in rows]
        with self.store.write_txn() as txn:
            for row in rows:
                txn.set_progress(row.id, row.progress, now)
        try:
            jobs = connector.start_updates([update_from_json(row.payload) for row in rows],
                                           [row.idem_key for row in rows])
        except ApiError as e:
            logger.warning("deliverer.batch-failed", extra={"rows": len(rows), "error": str(e)})
            jobs = []
        except (KeyError, TypeError, ValueError):
            jobs = []  # a row this version cannot read: each is parked on its own
        by_ticket = {row.ticket_id: row for row in rows}
        for job in jobs:
            self.in_flight.jobs.append(Running(name, job, [by_ticket.pop(t) for t in job.ticket_ids if t in by_ticket],
                                               now + JOB_POLL, now + JOB_TIMEOUT))
        return list(by_ticket.values())

    def settle_jobs(self) -> int:
        """Ask after each batch job whose time to ask has come; record the rows of those that have run (the rows
        a job did not apply, and those of a job that did not finish in time, are sent one by one). How many rows
        were settled."""
        now, settled = self.clock(), 0
        for running in [r for r in self.in_flight.jobs if r.ask_at <= now]:
            try:
                applied = self.connectors[running.connector].job_applied(running.job)  # type: ignore[attr-defined]
            except ApiError as e:
                logger.warning("deliverer.job-unknown", extra={"job": running.job.id, "error": str(e)})
                applied = None  # asked again, until the job's time is up
            except (KeyError, TypeError, ValueError):
                applied = {}
            if applied is None and now < running.until:
                running.ask_at = now + JOB_POLL
                continue
            # Out of the list before its rows are recorded: a row a failure leaves "sending" is read back later.
            self.in_flight.jobs.remove(running)
            landed = {row.id for row in running.rows if (applied or {}).get(row.ticket_id)}
            if landed:
                with self.store.write_txn() as txn:  # one commit for what the job applied
                    txn.hasten_retries(running.connector, now)
                    for row in running.rows:
                        if row.id in landed:
                            self._record_written(txn, row, {UPDATE_STEP: {"state": DONE, "result": None}}, True)
            for row in running.rows:
                if row.id not in landed:  # not applied, or the job's answer is lost: read back, then sent alone
                    self.send(row)
            settled += len(running.rows)
        return settled

    def idle_wait(self, seconds: float) -> float:
        """How long an idle worker may wait, at most `seconds`: no longer than until a batch job is to be asked
        after or held rows are to go."""
        due = [r.ask_at for r in self.in_flight.jobs] + [since + JOB_POLL for since, _ in self.in_flight.held.values()]
        if not due:
            return seconds
        return min(seconds, max((min(due) - self.clock()).total_seconds(), 0.0))

    def finish_jobs(self, sleep: Callable[[float], None]) -> None:
        """Send the held rows and wait for the batch jobs in flight (a one-off pass ends with nothing in flight)."""
        for name, (_, rows) in list(self.in_flight.held.items()):
            del self.in_flight.held[name]
            for row in self._batched(name, rows):
                self.send(row)
        while self.in_flight.jobs:
            sleep(self.idle_wait(JOB_POLL.total_seconds()))
            self.settle_jobs()

    def release(self) -> None:
        """Put the rows held and those of the jobs in flight back in the queue, due now (the worker is stopping):
        whichever worker runs next takes them at once instead of after the stale claim. A job's rows keep their
        "sending" progress, so each is read back before it is sent again."""
        held = [row for _, rows in self.in_flight.held.values() for row in rows]
        running = [row for job in self.in_flight.jobs for row in job.rows]
        if not held and not running:
            return
        now = self.clock()
        with self.store.write_txn() as txn:
            for row in held:
                txn.requeue_outbox(row.id, now, "put back unsent: the worker stopped", row.progress)
            for row in running:
                txn.requeue_outbox(row.id, now, "put back while its batch job ran: the worker stopped", row.progress)
        self.in_flight.held.clear()
        self.in_flight.jobs.clear()

    def send(self, row: OutboxRow) -> None:
        """Send one claimed row's remaining steps and record the outcome."""
        connector = self.connectors.get(row.connector)
        write = self.writes.get(row.kind)
        try:
            if connector is None:
                raise PermanentError(f"connector {row.connector} is not configured")
            if write is None:
                raise ValueError(f"unknown outbox kind {row.kind!r}")
            steps_of, finish = write
            steps = steps_of(connector, row)
        except PermanentError as e:
            self._park(row, str(e), dict(row.progress))
            return
        except (KeyError, TypeError, ValueError) as e:  # a row this version cannot read: keep it, parked
            self._park(row, f"internal error: {type(e).__name__}: {e}", dict(row.progress))
            return
        progress = self._run(row, connector, steps)
        if progress is not None:
            finish(row, progress)

    # --- alerts outside the helpdesk --------------------------------------------------------

    def send_alerts(self, rows: list[OutboxRow]) -> None:
        """Send claimed ALERT rows: each re-checked against the ticket read fresh, held by its recipient's quiet
        hours, and those due together for one recipient, channel and digest key sent as one message."""
        groups: dict[tuple, list[OutboxRow]] = {}
        fresh: dict[tuple[str, str], Ticket] = {}
        for row in sorted(rows, key=lambda r: r.id):
            if not self._alert_due(row, fresh):
                continue
            p = row.payload
            channel = self.alerts.channels.get(p["channel"]) if self.alerts else None
            alone = channel is None or not channel.digests or bool(row.progress)
            key = ("row", row.id) if alone else (p["channel"], p.get("person"), p.get("digest_key") or row.id)
            groups.setdefault(key, []).append(row)
        for members in groups.values():
            self._send_alert(members)

    def _alert_due(self, row: OutboxRow, fresh: dict[tuple[str, str], Ticket]) -> bool:
        """True when the row goes out now; otherwise it was parked, held, requeued or superseded here."""
        p, now = row.payload, self.clock()
        if self.alerts is None:
            self._park(row, "alerts are not configured in this worker", dict(row.progress))
            return False
        if row.progress or p.get("vendor"):
            # Sent before with its outcome unknown (_send_alert decides), or a vendor's system, told as decided.
            return True
        held = self.alerts.held_until(p.get("person"), now)
        if held is not None:
            self._hold(row, held, now)
            return False
        helpdesk, ticket_id = _ticket_of(row)
        connector = self.connectors.get(helpdesk)
        if connector is None:
            self._park(row, f"connector {helpdesk} is not configured", {})
            return False
        try:
            ticket = fresh.get((helpdesk, ticket_id)) or connector.fetch_ticket(ticket_id)
        except RetryableError as e:
            self._retry_later(row, {}, e)
            return False
        except ApiError as e:
            self._park(row, f"cannot re-check the ticket before alerting: {e}", {})
            return False
        fresh[(helpdesk, ticket_id)] = ticket
        why = self._alert_moot(connector, ticket, datetime.fromisoformat(p["queued_at"]))
        if why is not None:
            self._supersede_alert(row, why, now)
            return False
        return True

    def _alert_moot(self, connector: Connector, ticket: Ticket, queued_at: datetime) -> str | None:
        """Why an alert queued at `queued_at` need not go out any more (None: it must)."""
        if ticket.status in CLOSED_STATUSES:
            return f"the ticket is {ticket.status}"
        case = self.store.get_case(connector.name, ticket.ticket_id)
        replied = parse_instant(case.memory.get("last_reply_at")) if case and case.memory.get("last_reply_at") else None
        if replied is not None and replied > queued_at:
            return "an agent replied after it was queued"
        # Anyone but slaclock itself and the requester who changed the ticket since is an agent acting.
        agents = [a for a in self.store.actors_since(connector.name, ticket.ticket_id, queued_at + SAME_CHANGE)
                  if not connector.is_own_actor(a) and a != ticket.requester_id]
        if agents:
            return f"an agent (user {agents[0]}) acted on the ticket after it was queued"
        return None

    def _hold(self, row: OutboxRow, until: datetime, now: datetime) -> None:
        helpdesk, ticket_id = _ticket_of(row)
        p = row.payload
        with self.store.write_txn() as txn:
            txn.requeue_outbox(row.id, until, f"held by quiet hours until {until.isoformat()}", {})
            if not (row.last_error or "").startswith("held by quiet hours"):
                txn.add_timeline(connector=helpdesk, ticket_id=ticket_id, at=now, kind=JobEvent.ALERT_HELD,
                                 summary=f"alert to {p.get('person_name')} ({p['channel']}) held by their quiet "
                                         f"hours until {until.isoformat()}",
                                 detail={"outbox_id": row.id, "until": until.isoformat()})

    def _supersede_alert(self, row: OutboxRow, why: str, now: datetime) -> None:
        helpdesk, ticket_id = _ticket_of(row)
        p = row.payload
        with self.store.write_txn() as txn:
            txn.finish_outbox(row.id, OutboxStatus.SUPERSEDED, now, why)
            txn.add_timeline(connector=helpdesk, ticket_id=ticket_id, at=now, kind=JobEvent.ALERT_SUPERSEDED,
                             summary=f"alert to {p.get('person_name')} ({p['channel']}) not sent: {why}",
                             detail={"outbox_id": row.id, "alert": p["id"], "why": why})

    def _send_alert(self, rows: list[OutboxRow]) -> None:
        """One call for `rows` (one row, or a digest), recorded like a write step: a channel without read-back
        marks the rows "sending" before the call, and a row found "sending" again is parked, never re-sent."""
        name = rows[0].payload["channel"]
        channel = self.alerts.channels.get(name) if self.alerts else None
        if channel is None:
            why = (self.alerts.missing.get(name) if self.alerts else None) or f"no alert channel {name} in the rules"
            for row in rows:
                self._park(row, why, dict(row.progress))
            return
        if any(row.progress.get(ALERT_STEP, {}).get("state") == SENDING for row in rows):
            for row in rows:
                self._park(row, f"cannot tell whether the alert went out on {name} (a {channel.kind} channel has no "
                                "read-back); not sent again", dict(row.progress))
            return
        now = self.clock()
        sending = {ALERT_STEP: {"state": SENDING, "at": now.isoformat(), "rows": [r.id for r in rows]}}
        if not channel.idempotent:
            with self.store.write_txn() as txn:  # committed before the call: a crash leaves them to be parked
                for row in rows:
                    txn.set_progress(row.id, sending, now)
        try:
            if channel.kind == "webhook":
                channel.send_event(webhook_event(rows[0].payload))
            else:
                channel.send(message([row.payload for row in rows]))
        except OutcomeUnknown as e:
            for row in rows:
                if channel.idempotent:
                    self._retry_later(row, {}, e)
                else:
                    self._park(row, f"cannot tell whether the alert went out: {e}; not sent again", sending)
            return
        except RetryableError as e:  # 429, 5xx, not connected: surely not shown
            for row in rows:
                self._retry_later(row, {}, e)
            return
        except PermanentError as e:
            for row in rows:
                self._park(row, str(e), {ALERT_STEP: {"state": FAILED, "error": str(e)}})
            return
        self._alerted(rows, channel.kind)

    def _alerted(self, rows: list[OutboxRow], kind: str) -> None:
        now, done = self.clock(), {ALERT_STEP: {"state": DONE, "result": None}}
        digest = f" (one {kind} message for {len(rows)} tickets)" if len(rows) > 1 else ""
        with self.store.write_txn() as txn:
            for row in rows:
                helpdesk, ticket_id = _ticket_of(row)
                p = row.payload
                txn.finish_outbox(row.id, OutboxStatus.DONE, now, progress=done)
                txn.add_timeline(connector=helpdesk, ticket_id=ticket_id, at=now, kind=JobEvent.ALERTED,
                                 summary=f"alerted {p.get('person_name')} on {p['channel']}{digest}: {p['text']}",
                                 detail={"outbox_id": row.id, "alert": p["id"], "type": p["type"],
                                         "channel": p["channel"], "rows": len(rows)})
            txn.hasten_retries(rows[0].connector, now)

    # --- the steps ------------------------------------------------------------------------

    def _run(self, row: OutboxRow, connector: Connector, steps: list[WriteStep]) -> Progress | None:
        """Run the steps not done yet, in order; the final progress, or None when the row was requeued,
        parked or superseded on the way."""
        progress: Progress = {name: dict(entry) for name, entry in row.progress.items()}
        for step in steps:
            entry = progress.get(step.name, {})
            if entry.get("state") in (DONE, FAILED):
                continue
            phase = "read back"
            try:
                if entry.get("state") == SENDING and step.landed is not None:
                    # Sent before, outcome unknown (a lost answer, or a worker that died): look for the marker.
                    found = step.landed(progress)
                    if found is not None and found is not False:
                        progress[step.name] = {"state": DONE, "result": None if found is True else found,
                                               "read_back": True}
                        self._save(row, progress)
                        continue
                    waited = (self.clock() - datetime.fromisoformat(entry["at"])).total_seconds()
                    if waited < step.grace:
                        # The helpdesk's index may not show it yet; an absent marker proves nothing so soon.
                        self._retry_later(row, progress, RetryableError(
                            f"{step.name}: outcome unknown, not visible yet"), step.grace - waited)
                        return None
                phase = "send"
                if not step.idempotent:
                    # "sends" lets a step that cannot be read back cheaply skip its check on a first send.
                    progress[step.name] = {"state": SENDING, "at": self.clock().isoformat(),
                                           "sends": entry.get("sends", 0) + 1}
                    self._save(row, progress)  # committed before the call: a crash leaves it to be read back
                result = step.send(progress)
                progress[step.name] = {"state": DONE, "result": result}
                if not step.idempotent:
                    self._save(row, progress)
            except ConflictError as e:
                progress.pop(step.name, None)  # refused: nothing was written
                self._conflict(row, e, progress)
                return None
            except OutcomeUnknown as e:
                # Stays "sending": the next attempt reads it back before sending again.
                self._retry_later(row, progress, e, step.grace)
                return None
            except RetryableError as e:
                if phase == "send" and not step.idempotent:
                    progress.pop(step.name, None)  # 429 or no connection: surely not applied
                self._retry_later(row, progress, e)
                return None
            except PermanentError as e:
                if phase == "read back":
                    self._park(row, f"cannot tell whether {step.name} landed: {e}", progress)
                    return None
                line = f"Could not {step.failure or step.name}: {row.connector.capitalize()} refused ({e.status})."
                progress[step.name] = {"state": FAILED, "error": str(e), "line": line}
                if step.essential:
                    self._park(row, str(e), progress)
                    return None
                logger.warning("deliverer.step-failed", extra={"outbox_id": row.id, "step": step.name,
                                                               "error": str(e)})
            except (KeyError, TypeError, ValueError) as e:
                self._park(row, f"internal error: {type(e).__name__}: {e}", progress)
                return None
        return progress

    def _save(self, row: OutboxRow, progress: Progress) -> None:
        with self.store.write_txn() as txn:
            txn.set_progress(row.id, progress, self.clock())

    def _problem_steps(self, connector: Connector, row: OutboxRow) -> list[WriteStep]:
        if row.cluster_key is None:
            raise ValueError("a problem row names no cluster")
        return connector.follow_up_steps(FollowUp(**row.payload), row.idem_key)

    # --- recording the outcome --------------------------------------------------------------

    def _followed_up(self, row: OutboxRow, progress: Progress) -> None:
        now = self.clock()
        with self.store.write_txn() as txn:
            if row.payload.get("review"):
                # A post-incident task: its root cause is read when it is solved.
                txn.add_review_task(connector=row.connector, task_id=str(progress["create"]["result"]),
                                    ticket_id=row.ticket_id, now=now)
            self._record_follow_up(txn, row, progress, now)

    def _problem_created(self, row: OutboxRow, progress: Progress) -> None:
        now, key, created_id = self.clock(), row.cluster_key, str(progress["create"]["result"])
        with self.store.write_txn() as txn:
            # The problem exists: every member gets a check, which links it and updates its customer.
            txn.set_cluster_problem(key, created_id)
            queue_cluster_checks(txn, row.connector, key, txn.cluster_members(key), now)
            self._record_follow_up(txn, row, progress, now)

    def _record_follow_up(self, txn: Txn, row: OutboxRow, progress: Progress, now: datetime) -> None:
        created_id = str(progress["create"]["result"])
        txn.finish_outbox(row.id, OutboxStatus.DONE, now, progress=progress)
        txn.hasten_retries(row.connector, now)
        txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.FOLLOW_UP,
                         summary=f"created linked ticket {row.connector}:{created_id} «{row.payload['subject']}»",
                         detail={"outbox_id": row.id, "follow_up_id": created_id})
        self._record_failures(txn, row, progress, now)

    def _written(self, row: OutboxRow, progress: Progress, batched: bool = False) -> None:
        with self.store.write_txn() as txn:
            # The helpdesk answers again: what waits for a retry after its outage goes now, not after its backoff.
            txn.hasten_retries(row.connector, self.clock())
            self._record_written(txn, row, progress, batched)

    def _record_written(self, txn: Txn, row: OutboxRow, progress: Progress, batched: bool = False) -> None:
        now = self.clock()
        summary = {OutboxKind.PUBLIC_REPLY: "posted a public update to the customer",
                   OutboxKind.CLOSE: "closed the case with a follow-up to the customer"}.get(
            row.kind, f"wrote {fields_text(row.payload)}" + (" (batch job)" if batched else ""))
        txn.finish_outbox(row.id, OutboxStatus.DONE, now, progress=progress)
        txn.mark_seen(row.connector, row.ticket_id, _written_version(progress))
        txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.WRITTEN,
                         summary=summary, detail={"outbox_id": row.id, "batched": batched})
        self._record_failures(txn, row, progress, now)

    @staticmethod
    def _record_failures(txn: Txn, row: OutboxRow, progress: Progress, now: datetime) -> None:
        for step, entry in progress.items():
            if entry.get("state") == FAILED:
                txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.STEP_FAILED,
                                 summary=entry.get("line") or f"could not {step}",
                                 detail={"outbox_id": row.id, "step": step, "error": entry.get("error")})

    def _conflict(self, row: OutboxRow, error: ConflictError, progress: Progress) -> None:
        # The ticket changed after we read it (safe_update): drop this write, read again, decide again.
        now = self.clock()
        give_up = self.store.conflicts_since_last_write(row.connector, row.ticket_id) + 1 >= MAX_CONFLICTS
        with self.store.write_txn() as txn:
            if give_up:
                txn.finish_outbox(row.id, OutboxStatus.FAILED, now, f"{MAX_CONFLICTS} conflicts in a row: {error}",
                                  progress=progress)
            else:
                txn.finish_outbox(row.id, OutboxStatus.SUPERSEDED, now, str(error), progress=progress)
                # The refused note's news (a warning, an escalation) goes with the next decision's note.
                lines = row.payload.get("note_lines") if row.kind == OutboxKind.TICKET_UPDATE else None
                txn.enqueue_check(connector=row.connector, ticket_id=row.ticket_id, kind=CheckKind.RECHECK,
                                  key=f"recheck:outbox-{row.id}", now=now,
                                  body=json.dumps({"note_lines": lines}).encode() if lines else b"")
            txn.add_timeline(connector=row.connector, ticket_id=row.ticket_id, at=now, kind=JobEvent.CONFLICT,
                             summary="ticket changed since it was read; " +
                             ("parked" if give_up else "reading it again to decide afresh"),
                             detail={"outbox_id": row.id, "error": str(error)})

    def _retry_later(self, row: OutboxRow, progress: Progress, error: ApiError, at_least: float = 0.0) -> None:
        """Requeue the row with exponential backoff (or the helpdesk's Retry-After), or park it once the
        next try would fall beyond RETRY_HORIZON from when it was queued."""
        now = self.clock()
        delay = max(min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, row.attempts - 1)),
                    error.retry_after or 0.0, at_least)
        due = now + timedelta(seconds=delay)
        if due > (row.created_at or now) + RETRY_HORIZON:
            self._park(row, f"{error} (still failing {RETRY_HORIZON} after it was queued)", progress)
            return
        logger.warning("deliverer.retry-later", extra={"outbox_id": row.id, "ticket": f"{row.connector}:{row.ticket_id}",
                                                       "attempt": row.attempts, "delay": delay, "error": str(error)})
        with self.store.write_txn() as txn:
            txn.requeue_outbox(row.id, due, str(error), progress)

    def _park(self, row: OutboxRow, error: str, progress: Progress) -> None:
        now = self.clock()
        logger.error("deliverer.parked",
                     extra={"outbox_id": row.id, "ticket": f"{row.connector}:{row.ticket_id}", "error": error})
        connector, ticket_id = _ticket_of(row)
        with self.store.write_txn() as txn:
            txn.finish_outbox(row.id, OutboxStatus.FAILED, now, error, progress=progress)
            txn.add_timeline(connector=connector, ticket_id=ticket_id, at=now, kind=JobEvent.WRITE_FAILED,
                             summary=f"write parked after {count(row.attempts, 'attempt')}: {error}",
                             detail={"outbox_id": row.id, "error": error})


def _ticket_of(row: OutboxRow) -> tuple[str, str]:
    """(helpdesk, ticket id) whose timeline tells of the row: an ALERT row's are in its payload."""
    if row.kind == OutboxKind.ALERT and row.connector.startswith(ALERT_CONNECTOR):
        return str(row.payload.get("helpdesk", row.connector)), str(row.payload.get("ticket_id", row.ticket_id))
    return row.connector, row.ticket_id


def _written_version(progress: Progress) -> datetime | None:
    """The ticket version the write left (a step's {"updated_at": …} result), for the reconciler."""
    stamps = [entry["result"]["updated_at"] for entry in progress.values()
              if isinstance(entry.get("result"), dict) and entry["result"].get("updated_at")]
    return max(filter(None, map(parse_instant, stamps)), default=None)

