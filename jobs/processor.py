"""Process inbox deliveries: fresh read, decide, and commit decision + timeline + outbox together."""
from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from dataclasses import asdict, fields, replace
from datetime import datetime, timedelta
from typing import Callable, Mapping, Protocol, runtime_checkable

from alerts.channels import vendor_channel
from alerts.events import alert_payload, person_key, ticket_url, vendor_payload
from connectors.contract import (BatchReader, ConditionalWriter, Connector, GroupDirectory, RatingReader, TeamLoad,
                                 TicketCarrier, supports)
from connectors.errors import ApiError, RetryableError, WebhookError
from connectors.model import Rating, Ticket, TicketEvent
from connectors.plan import (DEFAULT_NOTE_MOVE, closing, event_lines, fields_text, follow_up_to_json, follow_ups,
                             plan_update, update_to_json)
import metrics
from jobs.clock import utcnow
from jobs.explain import as_written, last_decision, ticket_from_snapshot
from jobs.forecasts import ForecastCache
from jobs.team_load import TeamLoadCache
from jobs.kinds import ALERT_CONNECTOR, CheckKind, JobEvent, OutboxKind, event_name, is_check
from jobs.reconciler import reconciled_version
from rules import CaseMemory, ClusterInfo, Decision, Rules, VendorUpdate, decide
from rules.decision import ActionKind, TimelineEvent, TimelineKind
from rules.enforcement import changed
from rules.engine import routing_team
from rules.owner import load_group
from rules.post_incident import root_cause_of
from store import Case, Delivery, DeliveryPayload, DeliveryStatus, Store, StoreError, Txn

logger = logging.getLogger(__name__)

# Each helpdesk delivery of a batch with its parsed event (`Processor._parsed`).
Parsed = list[tuple[DeliveryPayload, TicketEvent]]
# Our own write's webhooks for a ticket: connector, ticket id, delivery ids, the version they tell (if any).
Echo = tuple[str, str, list[int], datetime | None]


@runtime_checkable
class CommentVisibility(Protocol):
    """A connector that can tell, through its API, whether a comment is public (when the payload does not say)."""

    def comment_is_public(self, ticket_id: str, comment_id: str) -> bool: ...


# Statuses in which the case is resolved: JSM feedback is read once on entering them.
STOPPED = frozenset({"solved", "closed"})
# A delivery that keeps failing to read its ticket is parked after this many passes.
MAX_DELIVERY_ATTEMPTS = 10
# A webhook that carries the whole ticket stands in for a read while it is this fresh; one that waited
# longer (a backlog, a retried delivery) may be behind an agent's later change, so the ticket is read.
CARRIED_FRESH = timedelta(seconds=30)
# What a decision's write may have changed for a sweep to decide on the ticket as slaclock left it: the fields the
# snapshot holds (`as_written`), followers and the internal note. A status or a problem link: read it instead.
REMEMBERED_CHANGES = frozenset({"priority", "group_id", "assignee_id", "due_at", "due_by_metric", "tags",
                                "followers_add", "note"})
# An agent's helpdesk groups (their role) are read once per this long: a solve and the escalation before it
# need one lookup, and a role taken away counts within minutes.
GROUPS_KEPT = timedelta(minutes=5)


_TICKET_FIELDS = tuple(f.name for f in fields(Ticket))


def snapshot(ticket: Ticket) -> dict:
    """The ticket as plain JSON, for the timeline (`asdict` without its deep copy, which took a tenth of the
    processor's time: nothing changes the snapshot before it is stored)."""
    data = {name: getattr(ticket, name) for name in _TICKET_FIELDS}
    data.update(tags=sorted(ticket.tags), due_by_metric=dict(ticket.due_by_metric),
                custom_fields=dict(ticket.custom_fields),
                rating=asdict(ticket.rating) if ticket.rating is not None else None)
    return data


def heard(**said) -> dict:
    """What a decision heard beyond the ticket (a public reply, a customer message and its words, the actor and
    their groups, a rating read on its own, the cluster, the team's load) as JSON, for `slaclock simulate`."""
    def plain(value):
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, (frozenset, set)):
            return sorted(value)
        return value.to_json() if hasattr(value, "to_json") else value
    return {key: plain(value) for key, value in said.items() if value}


class Processor:
    """Turns stored deliveries into decisions and outbox rows."""

    def __init__(self, store: Store, connectors: Mapping[str, Connector], rules: Rules,
                 clock: Callable = utcnow, batch: int = 100, note_move: timedelta = DEFAULT_NOTE_MOVE):
        self.store, self.connectors, self.rules = store, connectors, rules
        self.clock, self.batch, self.note_move = clock, batch, note_move
        self._group_cache: dict[tuple[str, str], tuple[frozenset[str], datetime]] = {}
        self.forecasts = ForecastCache(store, rules)
        self.team_loads = TeamLoadCache()

    def run_once(self) -> int:
        """Process one batch of pending deliveries; return how many were claimed."""
        rows = self.store.claim_deliveries(self.clock(), self.batch)
        self.team_loads = TeamLoadCache()
        by_ticket: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
        for row in rows:
            by_ticket[(row.connector, row.ticket_id)].append(row)
        prefetched, parses = self._prefetch(by_ticket)
        echoes: list[Echo] = []  # recorded together at the end: an echo needs no commit of its own
        try:
            for (connector, ticket_id), deliveries in by_ticket.items():
                try:
                    self.process_ticket(connector, ticket_id, deliveries, prefetched.get((connector, ticket_id)),
                                        parses.get((connector, ticket_id)), echoes)
                except StoreError:
                    raise
                except Exception as e:  # noqa: BLE001 - one odd ticket must not stop the others
                    logger.exception("processor.failed", extra={"ticket": f"{connector}:{ticket_id}"})
                    with self.store.write_txn() as txn:
                        txn.finish_deliveries([d.id for d in deliveries], DeliveryStatus.FAILED, self.clock(),
                                              f"internal error: {type(e).__name__}: {e}")
        finally:
            if echoes:
                self._record_echoes(echoes)
        return len(rows)

    def _record_echoes(self, echoes: list[Echo]) -> None:
        """Our own writes' webhooks, done: each tells the version it left (the reconciler then need not read it)."""
        now = self.clock()
        with self.store.write_txn() as txn:
            for connector_name, ticket_id, ids, version in echoes:
                txn.finish_deliveries(ids, DeliveryStatus.ECHO, now)
                txn.mark_seen(connector_name, ticket_id, version)

    def _prefetch(self, by_ticket: Mapping[tuple[str, str], list[Delivery]]
                  ) -> tuple[dict[tuple[str, str], Ticket], dict[tuple[str, str], Parsed]]:
        """Read the batch's tickets in bulk where the helpdesk can (a sweep storm costs 1 call per 100); with the
        deliveries it parsed to know which need a read, for `process_ticket` to reuse."""
        wanted: dict[str, list[str]] = defaultdict(list)
        found: dict[tuple[str, str], Ticket] = {}
        parses: dict[tuple[str, str], Parsed] = {}
        try:
            for (name, ticket_id), deliveries in by_ticket.items():
                connector = self.connectors.get(name)
                if (not supports(connector, BatchReader) or self.store.has_unsent(name, ticket_id)
                        or self._is_echo(connector, deliveries)):
                    continue
                case = self.store.get_case(name, ticket_id)
                if case is not None:
                    parses[(name, ticket_id)] = parsed = self._parsed(connector, deliveries)
                    if (self._already_decided(connector, case, deliveries, parsed)
                            or self._remembered(connector, case, deliveries) is not None):
                        continue  # decided without a read
                wanted[name].append(ticket_id)
            for name, ids in wanted.items():
                if len(ids) > 1:
                    found.update(((name, i), t) for i, t in self.connectors[name].fetch_tickets(ids).items())
        except ApiError as e:
            # Each ticket is then read on its own, with that path's retry and failure handling.
            logger.warning("processor.bulk-read-failed", extra={"error": str(e)})
        return found, parses

    def _is_echo(self, connector: Connector, deliveries: list[Delivery]) -> bool:
        # Our own write comes back as one webhook per changed field; the write itself was
        # already decided, so none of them needs a fresh read.
        return all(not is_check(d.event_type) and connector.is_own_actor(d.actor_id) for d in deliveries)

    def _echo(self, connector: Connector, ticket_id: str, deliveries: list[Delivery],
              parsed: Parsed) -> tuple[bool, datetime | None]:
        """(whether the deliveries are only our own write coming back, the version its webhooks carry)."""
        own = [d for d in deliveries if not is_check(d.event_type)]
        checks = [d for d in deliveries if is_check(d.event_type)]
        if not own or not self._is_echo(connector, own):
            return False, None
        version = self._echoed_version(connector, ticket_id, parsed)  # `parsed` holds only `own`'s events
        if not checks:
            return True, version
        # The change feed can show our write before its webhook is processed (a busy worker): the reconcile
        # check then asks for no version the echo does not tell, and the echo settles it without a read.
        if version is None or any(d.event_type != CheckKind.RECONCILE for d in checks):
            return False, None
        seen = [reconciled_version(p.body) for p in self.store.delivery_payloads([d.id for d in checks])]
        return all(at is not None and at <= version for at in seen), version

    @staticmethod
    def _echoed_version(connector: Connector, ticket_id: str, own: Parsed) -> datetime | None:
        """The newest version of the ticket our own write's webhooks (`own`) carry (Jira's issue events), if any."""
        if not supports(connector, TicketCarrier):
            return None
        carried = (connector.ticket_from_delivery(p.body) for p, _ in own)
        return max((t.updated_at for t in carried if t and t.ticket_id == ticket_id and t.updated_at), default=None)

    def process_ticket(self, connector_name: str, ticket_id: str, deliveries: list[Delivery],
                       ticket: Ticket | None = None, parsed: Parsed | None = None,
                       echoes: list[Echo] | None = None) -> None:
        """Decide once for all deliveries of one ticket (`ticket`: already read fresh in bulk; `parsed`: the
        deliveries as `_parsed` gives them, already parsed; `echoes`: where to leave our own writes' webhooks for
        the caller to record, else they are recorded at once)."""
        ids = [d.id for d in deliveries]
        now = self.clock()
        connector = self.connectors.get(connector_name)
        if connector is None:
            with self.store.write_txn() as txn:
                txn.finish_deliveries(ids, DeliveryStatus.FAILED, now, f"connector {connector_name} is not configured")
            return
        if self.store.has_unsent(connector_name, ticket_id):
            # Decide again only once our pending write has landed, or we would plan it twice.
            self.store.release_deliveries(ids)
            return
        try:
            parsed = self._parsed(connector, deliveries) if parsed is None else parsed
            echo, version = self._echo(connector, ticket_id, deliveries, parsed)
            if echo:
                if echoes is not None:
                    echoes.append((connector_name, ticket_id, ids, version))
                else:
                    self._record_echoes([(connector_name, ticket_id, ids, version)])
                return
            case = self.store.get_case(connector_name, ticket_id)
            if self._already_decided(connector, case, deliveries, parsed):
                with self.store.write_txn() as txn:
                    txn.finish_deliveries(ids, DeliveryStatus.DONE, now)
                logger.info("processor.already-decided", extra={"ticket": f"{connector_name}:{ticket_id}"})
                return
            remembered = None if ticket else self._remembered(connector, case, deliveries)
            ticket = (ticket or self._carried(connector, ticket_id, case, deliveries, parsed, now) or remembered
                      or connector.fetch_ticket(ticket_id))
            # May ask the helpdesk whether a comment is public: a failed read is retried like the ticket's.
            reply_at, message_at, message_text = self._comments(connector, parsed, ticket)
            if ticket.ticket_id != ticket_id:
                case = self.store.get_case(connector_name, ticket.ticket_id)
            memory = CaseMemory.from_json(case.memory) if case else None
            rating = self._rating(connector, deliveries, parsed, ticket, memory)
        except ApiError as e:
            self._read_failed(connector_name, ticket_id, deliveries, e)
            return
        # The helpdesk's own id wins: a Jira Server comment event names the numeric issue id, and a
        # moved Jira issue gets a new key.
        delivered_id, ticket_id = ticket_id, ticket.ticket_id
        review = self.store.review_task(connector_name, ticket_id)
        if review is not None:
            self._reviewed(connector_name, ticket, review, ids, now)
            return

        cluster = self._cluster(connector_name, ticket_id)
        actor = self._actor(connector, deliveries)
        vendor_update = self._vendor_update(deliveries)

        def decide_on(ticket: Ticket, rating: Rating | None):
            group, load = self._team_load(connector, ticket, memory)
            actor_groups = self._groups(connector, actor, ticket, memory)
            return group, load, actor_groups, decide(
                ticket, self.rules, now, memory, agent_reply_at=reply_at, vendor_update=vendor_update, actor_id=actor,
                actor_group_ids=actor_groups, cluster=cluster, customer_message_at=message_at,
                customer_message_text=message_text, rating=rating, team_load=load, forecasts=self.forecasts.at(now))
        group, load, actor_groups, decision = decide_on(ticket, rating)
        if remembered is not None and any(a.kind != ActionKind.NOTE for a in decision.actions):
            # Words to the customer, a linked ticket or an alert: no stamp would stop them on a stale picture.
            try:
                ticket = connector.fetch_ticket(ticket_id)
                rating = self._rating(connector, deliveries, parsed, ticket, memory)
            except ApiError as e:
                self._read_failed(connector_name, ticket_id, deliveries, e)
                return
            group, load, actor_groups, decision = decide_on(ticket, rating)
        carried = self._refused_lines(deliveries)
        update = plan_update(ticket, decision, connector.due_metrics, self.note_move,
                             problem_id=cluster.problem_id if cluster else None, carried=carried)
        payload = update_to_json(update)
        changes = {k: v for k, v in payload.items()
                   if v is not None and k not in ("ticket_id", "version", "tags_added", "tags_removed")}
        if update.note and (lines := event_lines(decision, carried)):
            payload["note_lines"] = lines  # carried on, should the helpdesk refuse this write (409)
        events = sorted({d.event_type for d in deliveries})
        detail = {
            "events": events, "inputs": dict(decision.inputs), "rules_version": decision.rules_version,
            "reasons": [{"rule": r.rule, "text": r.text, "field": r.field} for r in decision.reasons],
            "changes": changes, "ticket": snapshot(ticket),
            "change_ids": self._change_ids(parsed),
            "heard": heard(agent_reply_at=reply_at, customer_message_at=message_at, customer_message_text=message_text,
                           actor_id=actor, actor_group_ids=actor_groups, cluster=cluster, team_load=load,
                           rating=rating if rating is not ticket.rating else None),
        }
        with self.store.write_txn() as txn:
            if txn.has_unsent(connector_name, ticket_id) or txn.has_unsent(connector_name, delivered_id):
                # Another worker's write for the ticket was queued meanwhile (checked in this very
                # transaction): deciding on top of it would plan it twice. Decide again once it has landed.
                txn.release_deliveries(ids)
                logger.info("processor.write-pending", extra={"ticket": f"{connector_name}:{ticket_id}"})
                return
            txn.save_case(connector=connector_name, ticket_id=ticket_id, memory=decision.memory.to_json(),
                          snapshot=detail["ticket"], priority=decision.priority,
                          team=decision.team or (case.team if case else None), due_at=decision.due_at,
                          rules_version=decision.rules_version, decided_at=now, seen_updated_at=ticket.updated_at,
                          next_action_at=decision.next_action_at, next_action=decision.next_action)
            for event in decision.timeline:
                txn.add_timeline(connector=connector_name, ticket_id=ticket_id, at=event.at, kind=event.kind,
                                 summary=event.text, detail=event.to_json())
            if update.is_empty():
                txn.add_timeline(connector=connector_name, ticket_id=ticket_id, at=now, kind=JobEvent.NO_CHANGE,
                                 summary=f"no change needed ({', '.join(map(event_name, events))})", detail=detail)
            else:
                txn.add_timeline(connector=connector_name, ticket_id=ticket_id, at=now, kind=JobEvent.DECISION,
                                 summary=update.note or f"updated {fields_text(changes)}", detail=detail)
                txn.add_outbox(connector=connector_name, ticket_id=ticket_id, kind=OutboxKind.TICKET_UPDATE,
                               payload=payload, now=now,
                               idem_key=f"slaclock-{connector_name}-{ticket_id}-{uuid.uuid4().hex}")
            for key, follow_up in follow_ups(ticket, decision):
                # Keyed by the action: it fires once, and Zendesk's Idempotency-Key dedupes a resend.
                txn.add_outbox(connector=connector_name, ticket_id=ticket_id, kind=OutboxKind.FOLLOW_UP,
                               payload=follow_up_to_json(follow_up), now=now,
                               idem_key=f"slaclock-{connector_name}-{ticket_id}-{key}")
            for action in decision.actions:
                if action.kind == ActionKind.PUBLIC_REPLY and action.text:
                    # Its own row: a Zendesk update carries one comment, and the internal note takes it.
                    txn.add_outbox(connector=connector_name, ticket_id=ticket_id, kind=OutboxKind.PUBLIC_REPLY,
                                   payload={"text": action.text}, now=now,
                                   idem_key=f"slaclock-{connector_name}-{ticket_id}-{action.key}")
            close = closing(decision)
            if close is not None:
                # Last: a closed ticket takes no more writes (Zendesk), so the follow-up goes with the close.
                txn.add_outbox(connector=connector_name, ticket_id=ticket_id, kind=OutboxKind.CLOSE,
                               payload={"text": close[1]}, now=now,
                               idem_key=f"slaclock-{connector_name}-{ticket_id}-{close[0]}")
            queue_alerts(txn, self.rules, connector, ticket, decision, now)
            queue_vendor_events(txn, self.rules, connector, ticket, decision, now)
            txn.finish_deliveries(ids, DeliveryStatus.DONE, now)
        if group is not None and update.assignee_id:
            self.team_loads.assigned(connector_name, group, ticket_id, update.assignee_id)
        metrics.decision(connector_name, "no_change" if update.is_empty() else "write")
        logger.info("processor.decided", extra={"ticket": f"{connector_name}:{ticket_id}", "changes": list(changes)})

    def _reviewed(self, connector_name: str, task: Ticket, review: tuple[str, str | None], ids: list[int],
                  now: datetime) -> None:
        """A post-incident task slaclock opened has no case lifecycle of its own (no routing, no confirmation);
        once it is solved, its root cause is kept on the case it reviews."""
        case_id, recorded = review
        cfg = self.rules.post_incident
        solved = task.status in ("solved", "closed")
        root_cause = root_cause_of(task, cfg) if cfg is not None and solved and recorded is None else None
        with self.store.write_txn() as txn:
            if root_cause:
                txn.record_root_cause(connector_name, task.ticket_id, root_cause, now)
                # When the task was solved; a helpdesk stamp may run a little ahead of our clock.
                event = TimelineEvent(TimelineKind.ROOT_CAUSE, min(task.updated_at or now, now),
                                      f"root_cause:{task.ticket_id}", threshold=task.ticket_id, text=root_cause)
                txn.add_timeline(connector=connector_name, ticket_id=case_id, at=event.at, kind=event.kind,
                                 summary=f"root cause recorded on {task.ticket_id}: {root_cause}",
                                 detail=event.to_json())
            txn.finish_deliveries(ids, DeliveryStatus.DONE, now)

    def _carried(self, connector: Connector, ticket_id: str, case: Case | None, deliveries: list[Delivery],
                 parsed: Parsed, now: datetime) -> Ticket | None:
        """The ticket as the newest delivery carries it, when that is as good as a read: it carries every field,
        it arrived moments ago, and it is not older than slaclock's own last write (`case`: the version that write
        left, told by its answer or its echo)."""
        if not supports(connector, TicketCarrier) or not parsed or len(parsed) != len(deliveries):
            return None  # a sweep's check (nothing carried) or a delivery that no longer parses: read
        newest = parsed[-1][0]
        if now - newest.received_at > CARRIED_FRESH:
            return None
        ticket = connector.ticket_from_delivery(newest.body)
        if ticket is None or ticket.updated_at is None or ticket.ticket_id != ticket_id:
            return None
        if case is None or case.seen_updated_at is None:
            return ticket
        own, _ = self._by_actor(connector, deliveries, parsed)
        echoed = self._echoed_version(connector, ticket_id, own)
        known = max(case.seen_updated_at, echoed) if echoed else case.seen_updated_at
        if known > ticket.updated_at or self._write_unplaced(case, known):
            return None
        return ticket

    def _write_unplaced(self, case: Case, known: datetime) -> bool:
        """Whether slaclock's last write changed the ticket's fields without telling which version it left (a Jira
        PUT answers 204) and no echo has told it since: a webhook sent before that write would undo it, so the
        ticket is read. A note alone changes no field a webhook carries."""
        read = ticket_from_snapshot(case.snapshot).updated_at if case.snapshot else None
        if read is None or known > read:
            return False
        return bool(set(self._last_changes(case) or ()) - {"note"})

    def _last_changes(self, case: Case) -> dict | None:
        """What slaclock's last decision on the case wrote ({}: nothing to change); None before its first."""
        last = last_decision(self.store, case.connector, case.ticket_id)
        if last is None:
            return None
        return last.detail.get("changes") or {} if last.kind == JobEvent.DECISION else {}

    @staticmethod
    def _by_actor(connector: Connector, deliveries: list[Delivery], parsed: Parsed) -> tuple[Parsed, Parsed]:
        """(our own write's events, everyone else's) in `parsed`, which holds every one of `deliveries`."""
        own: Parsed = []
        theirs: Parsed = []
        for delivery, entry in zip(sorted(deliveries, key=lambda d: d.id), parsed):  # in id order, as `parsed` is
            (own if connector.is_own_actor(delivery.actor_id) else theirs).append(entry)
        return own, theirs

    @staticmethod
    def _change_ids(parsed: Parsed) -> list[str | None]:
        """The helpdesk's action id of each delivery (None where it gives none)."""
        return [event.change_id for _, event in parsed]

    def _already_decided(self, connector: Connector, case: Case | None, deliveries: list[Delivery],
                         parsed: Parsed) -> bool:
        """Whether these deliveries are more events of an action the last decision already heard: Zendesk sends one
        webhook per changed field, a claim can fall between them, and the read for the first showed them all.
        Not for a person's comment: the decision heard its words only if it had its event. Our own write's events
        among them, our own comments included, are echoes."""
        if case is None or not parsed or len(parsed) != len(deliveries):
            return False
        _, theirs = self._by_actor(connector, deliveries, parsed)
        ids = {event.change_id for _, event in theirs}
        if not ids or None in ids or any("comment_public" in event.fields for _, event in theirs):
            return False
        last = last_decision(self.store, case.connector, case.ticket_id)
        return last is not None and ids <= set(last.detail.get("change_ids") or ())

    def _remembered(self, connector: Connector, case: Case | None, deliveries: list[Delivery]) -> Ticket | None:
        """The ticket as slaclock last left it, for a sweep on a helpdesk whose writes are conditional: a write
        decided on it is refused (409) if anyone changed the ticket since, and it is then read and decided again.
        None (read it) unless slaclock knows that version: its last decision's write landed and said which it left."""
        if (not supports(connector, ConditionalWriter) or case is None or not case.snapshot
                or case.seen_updated_at is None or any(d.event_type != CheckKind.SWEEP for d in deliveries)
                or self.store.has_unsettled(case.connector, case.ticket_id)):
            return None
        changes = self._last_changes(case)
        ticket = ticket_from_snapshot(case.snapshot)  # as read before the last decision
        if changes is None or ticket.updated_at is None:
            return None
        if changes:
            if not set(changes) <= REMEMBERED_CHANGES or case.seen_updated_at <= ticket.updated_at:
                return None  # a change the snapshot cannot show, or a write that did not say what it left
            ticket = as_written(ticket, changes)
        elif case.seen_updated_at != ticket.updated_at:
            return None
        return replace(ticket, updated_at=case.seen_updated_at, version=connector.version_at(case.seen_updated_at))

    def _refused_lines(self, deliveries: list[Delivery]) -> tuple[str, ...]:
        """The event lines of notes the helpdesk refused (409) whose rechecks are among these deliveries."""
        ids = [d.id for d in deliveries if d.event_type == CheckKind.RECHECK]
        bodies = [json.loads(p.body) for p in self.store.delivery_payloads(ids) if p.body] if ids else []
        return tuple(dict.fromkeys(line for body in bodies for line in body.get("note_lines", ())))

    def _vendor_update(self, deliveries: list[Delivery]) -> VendorUpdate | None:
        """The latest word from the vendor (POST /vendor/eta) among these deliveries."""
        ids = [d.id for d in deliveries if d.event_type == CheckKind.VENDOR_ETA]
        if not ids:
            return None
        latest = self.store.delivery_payloads(ids)[-1]
        return VendorUpdate.from_json({**json.loads(latest.body), "at": latest.received_at.isoformat()})

    @staticmethod
    def _actor(connector: Connector, deliveries: list[Delivery]) -> str | None:
        """Who made the latest human change (checked against the role map for a manual escalation)."""
        people = [d.actor_id for d in deliveries if not is_check(d.event_type) and d.actor_id
                  and not connector.is_own_actor(d.actor_id)]
        return people[-1] if people else None

    def _groups(self, connector: Connector, actor: str | None, ticket: Ticket,
                memory: CaseMemory | None) -> frozenset[str]:
        """The actor's helpdesk groups, read only when they matter: a manual escalation is asked for, or a change
        the roles check (`rules.enforcement`)."""
        checked = self.rules.roles.enforce and memory is not None and changed(ticket, memory.held)
        if (not actor or (self.rules.escalation.tag not in ticket.tags and not checked)
                or not supports(connector, GroupDirectory)):
            return frozenset()
        key, now = (connector.name, actor), self.clock()
        cached = self._group_cache.get(key)
        if cached is not None and now - cached[1] < GROUPS_KEPT:
            return cached[0]
        try:
            groups = connector.actor_groups(actor)
            self._group_cache[key] = (groups, now)
            return groups
        except (ApiError, ValueError) as e:
            # An actor the directory cannot look up (e.g. an id of no user) simply has no groups.
            logger.warning("processor.groups-unreadable", extra={"actor": actor, "error": str(e)})
            return frozenset()

    def _team_load(self, connector: Connector, ticket: Ticket,
                   memory: CaseMemory | None) -> tuple[str | None, dict[str, int] | None]:
        """(the group, its open tickets per member) of the team this decision routes to, when it owns by load."""
        group = load_group(self.rules, ticket.connector, routing_team(ticket, self.rules, memory or CaseMemory()))
        if group is None or not supports(connector, TeamLoad):
            return None, None
        try:
            return group, self.team_loads.load(connector.name, connector, group, ticket.ticket_id)
        except ApiError as e:
            # The case is routed anyway; the team's assignee (if any) owns it, and the reason says why.
            logger.warning("processor.load-unreadable", extra={"group": group, "error": str(e)})
            return group, None

    def _cluster(self, connector_name: str, ticket_id: str) -> ClusterInfo | None:
        """The recurring-issue cluster the ticket belongs to, once its problem ticket exists."""
        cluster = self.store.cluster_of(connector_name, ticket_id)
        if cluster is None or cluster.problem_id is None:
            return None
        return ClusterInfo(key=cluster.key, problem_id=cluster.problem_id, subject=cluster.subject,
                           members=len(cluster.members))

    def _parsed(self, connector: Connector, deliveries: list[Delivery]) -> Parsed:
        """(payload, parsed event) of each helpdesk delivery (not the sweep's checks) that still parses."""
        ids = [d.id for d in deliveries if not is_check(d.event_type)]
        parsed = []
        for payload in self.store.delivery_payloads(ids) if ids else []:
            try:
                parsed.append((payload, connector.parse(payload.headers, payload.body)))
            except WebhookError:
                continue
        return parsed

    @staticmethod
    def _rating(connector: Connector, deliveries: list[Delivery], parsed: Parsed, ticket: Ticket,
                memory: CaseMemory | None) -> Rating | None:
        """The customer's rating: read with the ticket (Zendesk), or read on its own (JSM feedback) once when the
        case is seen solved, whenever a delivery says the rating changed, and when the change feed shows a solved
        case changed with no webhook to say how (a lost rating webhook)."""
        if ticket.rating is not None or not supports(connector, RatingReader):
            return ticket.rating
        stopped = ticket.status in STOPPED
        newly_solved = stopped and (memory is None or memory.last_status not in STOPPED)
        unheard = stopped and any(d.event_type == CheckKind.RECONCILE for d in deliveries)
        if newly_solved or unheard or any(event.fields.get("satisfaction_changed") for _, event in parsed):
            return connector.fetch_rating(ticket.ticket_id)
        return None

    def _comments(self, connector: Connector, parsed: Parsed,
                  ticket: Ticket) -> tuple[datetime | None, datetime | None, str | None]:
        """(the latest public agent reply, the earliest public customer message, the latest one's words) among
        these deliveries: the reply stops first_response and restarts next_update; the message starts next_reply
        and its words may answer a request to confirm a solve."""
        # Not only comment events: Jira also delivers a comment inside jira:issue_updated (issue_commented, and
        # old Server bodies with no event type), so every helpdesk delivery is read for a comment.
        replies, messages, words = [], [], None
        for payload, event in parsed:
            fields = event.fields
            if "comment_public" not in fields:
                continue  # no comment in this delivery
            public = fields["comment_public"]
            if public is None and fields.get("comment_id") and supports(connector, CommentVisibility):
                # The payload does not say (Jira Server/DC, non-service projects): the API does.
                public = connector.comment_is_public(ticket.ticket_id, fields["comment_id"])
            if not public:
                continue
            # Zendesk says whether the author is staff; Jira does not, so anyone but the requester counts.
            by_agent = fields.get("comment_author_is_staff",
                                  fields.get("comment_author_id") not in (None, ticket.requester_id))
            (replies if by_agent else messages).append(fields.get("comment_created_at") or payload.received_at)
            if not by_agent:
                words = fields.get("comment_body") or ""
        return max(replies, default=None), min(messages, default=None), words

    def _read_failed(self, connector_name: str, ticket_id: str, deliveries: list[Delivery], error: ApiError) -> None:
        ids = [d.id for d in deliveries]
        exhausted = max(d.attempts for d in deliveries) >= MAX_DELIVERY_ATTEMPTS
        if isinstance(error, RetryableError) and not exhausted:
            logger.warning("processor.read-retry",
                           extra={"ticket": f"{connector_name}:{ticket_id}", "error": str(error)})
            self.store.release_deliveries(ids, str(error))
            return
        now = self.clock()
        with self.store.write_txn() as txn:
            txn.add_timeline(connector=connector_name, ticket_id=ticket_id, at=now, kind=JobEvent.READ_FAILED,
                             summary=f"could not read the ticket: {error}", detail={"error": str(error)})
            txn.finish_deliveries(ids, DeliveryStatus.FAILED, now, str(error))


def queue_alerts(txn: Txn, rules: Rules, connector: Connector, ticket: Ticket, decision: Decision,
                 now: datetime) -> None:
    """One ALERT row per notify action and channel of its person (`people.<p>.alerts`), keyed
    `alert:<channel>:<helpdesk>:<ticket>:<action key>`: the action fires once per ticket, so the row does."""
    if rules.alerts is None:
        return
    for action in decision.actions:
        person = rules.people.get(person_key(action) or "")
        if action.kind != ActionKind.NOTIFY or person is None or (
                not rules.alerts.milestones and action.key.startswith("milestone:")):
            continue
        url = ticket_url(connector, connector.name, ticket.ticket_id)
        for channel in person.alerts:
            txn.add_outbox(connector=f"{ALERT_CONNECTOR}{channel}", ticket_id=f"{ticket.key}:{person_key(action)}",
                           kind=OutboxKind.ALERT, now=now, idem_key=f"alert:{channel}:{ticket.key}:{action.key}",
                           payload=alert_payload(action, decision, helpdesk=connector.name, ticket_id=ticket.ticket_id,
                                                 subject=ticket.subject, channel=channel, now=now, url=url))


def queue_vendor_events(txn: Txn, rules: Rules, connector: Connector, ticket: Ticket, decision: Decision,
                        now: datetime) -> None:
    """One ALERT row per vendor_webhook action, for the vendor team's channel `vendor:<team>`, keyed by the action
    (it fires once per ticket, so the row does; the event's id is the same on every resend)."""
    for action in decision.actions:
        if action.kind != ActionKind.VENDOR_WEBHOOK or not action.team:
            continue
        channel = vendor_channel(action.team)
        txn.add_outbox(connector=f"{ALERT_CONNECTOR}{channel}", ticket_id=ticket.key, kind=OutboxKind.ALERT, now=now,
                       idem_key=f"alert:{channel}:{ticket.key}:{action.key}",
                       payload=vendor_payload(action, decision, helpdesk=connector.name, ticket_id=ticket.ticket_id,
                                              subject=ticket.subject, channel=channel, now=now,
                                              vendor=rules.team_title(action.team),
                                              url=ticket_url(connector, connector.name, ticket.ticket_id)))
