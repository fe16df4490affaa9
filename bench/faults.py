"""Process-level fault scenarios (issue 10): real sandbox, `slaclock serve` and `slaclock worker` processes.

    python bench/faults.py [--scenario all|kill|helpdesk|two-workers|resend] [--events 1000] [--tickets 100]
                           [--seed N]

Each scenario sends signed Zendesk webhooks (event subscriptions, agent actor) straight to the receiver for
tickets an agent opened in the sandbox, lets the worker(s) decide and write, and then counts, from slaclock's
store and the sandbox's record of what slaclock's API user wrote (GET /_sandbox/writes):

    accepted     deliveries the receiver stored (inbox rows: the burst plus the sandbox's echoes of our writes)
    processed    of those, the ones processed (done, or recognised as our own echo)
    writes       notes, public replies and created tickets at the helpdesk
    duplicates   writes beyond the decisions: per ticket and body, the notes (replies, created tickets) at the
                 helpdesk minus the outbox rows that carry them and were sent (done, superseded or parked: a row
                 whose answer was lost may have landed once); a retry that posts a note twice shows here
    repeats      the same body more than once on one ticket (what a customer or agent would see twice, even when
                 slaclock decided it twice because it did not know its first write had landed)
    unrecorded   writes that landed while slaclock recorded their row as superseded or parked (not asserted:
                 nothing is written twice, but the record is wrong)
    lost         outbox rows `done` with no write at the helpdesk
    parked       outbox rows left `failed` once everything settled; unfinished: still pending or sending

Scenarios (the figures line of each is printed; tests/faults/test_processes.py asserts on them):
    kill         `kill -9` of the worker at random points of the burst, `--kills` times, restarting it each time
    helpdesk     500s, 429s (Retry-After 1 s), dropped answers (the call applied, the connection closed: what a
                 timeout after the helpdesk did the work looks like to the client) and short delays on the
                 helpdesk API for the first calls of the burst, then healed
    two-workers  two workers on one store
    resend       every delivery sent 3× in a shuffled order, beside a twin set of tickets sent each once: the
                 twins must end the same

Randomness is seeded (`--seed`, printed). A worker killed with SIGKILL leaves its claims behind; slaclock takes
a claim back only once it is STALE_CLAIM_SECONDS (5 min) old, so after each kill the harness ages the dead
worker's claims past that limit in the database (as if five minutes had passed) instead of waiting.
Slaclock's read timeout (30 s) is not configurable, so "timeouts" are the dropped answers, whose outcome the
client cannot know in exactly the same way.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from jobs.demo import WEBHOOK_SECRET, ZENDESK_REASON_FIELD, Stack, wait_until  # noqa: E402
from rules import EXAMPLE_RULES  # noqa: E402
from sandbox.zendesk.webhooks import EVENT_PREFIX, EVENT_VERSION, sign  # noqa: E402
from store import Store  # noqa: E402
from store.sqlite import STALE_CLAIM_SECONDS  # noqa: E402

AGENT_USER = "9002"  # the sandbox's human agent: the actor of every event sent
ACCOUNT_ID = 22129848
# (priority, reason code) of the tickets, cycled: the example rules route each reason to a team with a note.
CASES = (("normal", "missing_part"), ("high", "wrong_item"), ("low", "site_not_ready"), ("urgent", "damage"),
         ("normal", "access_issue"), ("high", "defect"), ("normal", None))
EVENT_KINDS = ("priority_changed", "comment_added", "tags_changed", "status_changed")
# Every ticket is opened this long ago, the same instant for all, so twin tickets get the same clocks.
OPENED_AGO = timedelta(minutes=10)
# Receiver settings for the harness: no reconciler pass during a run (it would add deliveries of its own), fast
# polling.
# A helpdesk call times out after 2 s here (30 s by default), so the outage's slow answers are real timeouts.
ENV = {"SLACLOCK_RECONCILE_SECONDS": "3600", "SLACLOCK_SWEEP_SECONDS": "1", "SLACLOCK_POLL_SECONDS": "0.05",
       "SLACLOCK_HTTP_TIMEOUT_SECONDS": "2"}
TIMEOUT_DELAY = 2.5
SETTLE_SECONDS = 180
# A webhook answered 503 (store busy) is sent again, as the helpdesk would.
HELPDESK_RETRIES, HELPDESK_RETRY_SECONDS = 5, 0.2
# How long the helpdesk's outage may last before it heals (its remaining faults are cleared).
OUTAGE_SECONDS = 60


@dataclass
class Figures:
    """One scenario's outcome; `line()` is what the bench prints."""

    scenario: str
    seed: int
    events: int = 0
    accepted: int = 0
    processed: int = 0
    writes: int = 0
    duplicates: int = 0
    repeats: int = 0  # the same body twice on one ticket at the helpdesk (what a customer would notice)
    unrecorded: int = 0
    lost: int = 0
    parked: int = 0
    unfinished: int = 0
    unprocessed: int = 0
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """Nothing written twice, lost, parked or left over; every accepted delivery processed."""
        return self.duplicates == self.repeats == self.lost == self.parked == self.unfinished == \
            self.unprocessed == 0 and self.notes.get("twins_differing", 0) == 0

    def line(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.notes.items())
        return (f"faults[{self.scenario}] seed={self.seed} events={self.events} accepted={self.accepted} "
                f"processed={self.processed} writes={self.writes} duplicates={self.duplicates} "
                f"repeats={self.repeats} unrecorded={self.unrecorded} lost={self.lost} parked={self.parked} "
                f"unfinished={self.unfinished} "
                f"unprocessed={self.unprocessed} seconds={self.seconds:.1f}" + (f" {extra}" if extra else ""))


def signed_event(ticket_id: str, kind: str, rng: random.Random) -> tuple[bytes, dict[str, str]]:
    """A Zendesk event-subscription webhook about `ticket_id`, by the agent, signed as Zendesk signs."""
    now = datetime.now(timezone.utc)
    event: dict[str, Any] = {"priority_changed": {"current": "HIGH", "previous": "NORMAL"},
                             "status_changed": {"current": "OPEN", "previous": "NEW"},
                             "tags_changed": {"tags_added": [f"t{rng.randrange(100)}"], "tags_removed": []},
                             "comment_added": {"comment": {"id": str(rng.randrange(10**9)), "body": "any news?",
                                                           "is_public": True,
                                                           "author": {"id": AGENT_USER, "is_staff": True,
                                                                      "name": "Sandbox Agent"}}}}[kind]
    body = json.dumps({
        "type": EVENT_PREFIX + kind, "account_id": ACCOUNT_ID, "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "time": now.strftime("%Y-%m-%dT%H:%M:%S.%f000Z"), "zendesk_event_version": EVENT_VERSION,
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {"id": ticket_id, "actor_id": AGENT_USER, "status": "OPEN", "priority": "HIGH", "tags": [],
                   "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "updated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "via": {"channel": "web_form"}},
        "event": event,
    }, separators=(",", ":")).encode()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return body, {"Content-Type": "application/json", "User-Agent": "Zendesk Webhook",
                  "X-Zendesk-Account-Id": str(ACCOUNT_ID), "X-Zendesk-Webhook-Id": "01HFAULTSUITE0000000000000",
                  "X-Zendesk-Webhook-Invocation-Id": str(rng.randrange(10**10, 10**11)),
                  "X-Zendesk-Webhook-Signature": sign(WEBHOOK_SECRET, stamp, body),
                  "X-Zendesk-Webhook-Signature-Timestamp": stamp}


class Harness:
    """A running stack plus what the scenarios need: tickets, a burst of signed events, counting."""

    def __init__(self, workdir: Path, seed: int, workers: int = 1, receivers: int = 1, database: str | None = None):
        self.seed, self.rng = seed, random.Random(seed)
        # The example rules with customer messages on, so public replies (PUTs without safe_update) are among
        # the writes (whether one goes out depends on the customer's hour; the counts compare to it), and with a
        # note on every routing write (`routing.note`), so each ticket's first write is one that must not double.
        rules = Path(workdir) / "rules.toml"
        rules.write_text(EXAMPLE_RULES.read_text(encoding="utf-8").replace("[routing]\n", "[routing]\nnote = true\n"),
                         encoding="utf-8")
        self.stack = Stack(workdir, rules_path=str(rules), env=ENV, workers=workers, receivers=receivers,
                           database=database)
        self.tickets: list[str] = []
        self.accepted_answers = 0
        self.busy_answers = 0  # 503s answered (and retried) while the store was busy
        self.opened = (datetime.now(timezone.utc) - OPENED_AGO).replace(microsecond=0)

    def __enter__(self) -> Harness:
        self.stack.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stack.stop()

    def open_tickets(self, count: int) -> list[str]:
        """`count` tickets opened by the agent, all at the same instant; their webhooks are lost on purpose, so
        the burst is what slaclock hears of them."""
        self.stack.drop_webhooks(count)
        opened, made = self.opened, []
        for n in range(count):
            priority, reason = CASES[n % len(CASES)]
            custom = [{"id": ZENDESK_REASON_FIELD, "value": reason}] if reason else []
            body = {"ticket": {"subject": f"fault suite case {n}", "comment": {"body": f"case {n}"},
                               "priority": priority, "custom_fields": custom,
                               "created_at": opened.strftime("%Y-%m-%dT%H:%M:%SZ")}}
            made.append(str(self.stack._post("/_sandbox/agent/tickets", body)["ticket"]["id"]))
        self.tickets.extend(made)
        return made

    def events(self, count: int, tickets: list[str] | None = None) -> list[tuple[bytes, dict[str, str]]]:
        """`count` signed events, each about a random one of `tickets`; every ticket gets at least one."""
        tickets = tickets or self.tickets
        chosen = list(tickets) + [self.rng.choice(tickets) for _ in range(max(0, count - len(tickets)))]
        self.rng.shuffle(chosen)
        return [signed_event(t, self.rng.choice(EVENT_KINDS), self.rng) for t in chosen[:count]]

    def send(self, events: list[tuple[bytes, dict[str, str]]], clients: int = 4) -> Counter[int]:
        """POST every event to the receiver from `clients` threads; the statuses answered."""
        def one(item: tuple[bytes, dict[str, str]]) -> int:
            # A busy store answers 503 + Retry-After within a second; Zendesk then sends the same delivery again
            # (here after HELPDESK_RETRY_SECONDS, not the 10 s asked, to keep the run short). With several
            # receivers, each delivery goes to one of them at random, as a load balancer would send it.
            for _ in range(HELPDESK_RETRIES):
                receiver = self.rng.randrange(len(self.stack.receiver_urls))
                status = self.stack.post_webhook("zendesk", *item, receiver=receiver).status_code
                if status != 503:
                    return status
                self.busy_answers += 1
                time.sleep(HELPDESK_RETRY_SECONDS)
            return status
        with ThreadPoolExecutor(clients) as pool:
            statuses = Counter(pool.map(one, events))
        self.accepted_answers += statuses[202]
        return statuses

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """One statement on the stack's store, SQLite or PostgreSQL (`?` placeholders)."""
        return self.stack.store.db.execute(query, params or [])

    def inbox_done(self) -> int:
        return self.sql("select count(*) from inbox where status in ('done', 'echo')").fetchone()[0]

    def age_dead_claims(self) -> int:
        """Make every claim older than STALE_CLAIM_SECONDS (call only while no worker runs): as if the time after
        which slaclock takes back a dead worker's claims had passed."""
        old = (datetime.now(timezone.utc) - timedelta(seconds=STALE_CLAIM_SECONDS + 1)).isoformat()
        aged = self.sql("update inbox set claimed_at = ? where status = 'processing'", [old]).rowcount
        aged += self.sql("update outbox set next_attempt_at = ? where status = 'sending'", [old]).rowcount
        if isinstance(self.stack.store, Store):  # sqlite3 opened a transaction for the updates; PostgreSQL autocommits
            self.stack.store.db.conn.commit()
        return aged

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        self.stack.settle(timeout)

    def figures(self, scenario: str, events: int, started: float, tickets: list[str] | None = None) -> Figures:
        """Count what happened to `tickets` (default: all the harness opened)."""
        tickets = set(tickets or self.tickets)
        inbox = Counter(row[0] for row in self.sql("select status from inbox"))
        rows = [dict(zip(("ticket_id", "kind", "payload_json", "status"), row))
                for row in self.sql("select ticket_id, kind, payload_json, status from outbox") if row[0] in tickets]
        written = self.stack.writes()["zendesk"]
        at_helpdesk: Counter[tuple[str, str, str]] = Counter()
        for ticket_id, mine in written["tickets"].items():
            if ticket_id in tickets:
                at_helpdesk.update((ticket_id, "note", body) for body in mine["notes"])
                at_helpdesk.update((ticket_id, "reply", body) for body in mine["public_replies"])
        created = [t for t in written["created"] if str(t["id"]) not in tickets]
        at_helpdesk.update(("created", "ticket", t["subject"]) for t in created)
        done: Counter[tuple[str, str, str]] = Counter()  # rows slaclock recorded as written
        sent: Counter[tuple[str, str, str]] = Counter()  # rows that were sent, whatever came of it
        for row in rows:
            payload = json.loads(row["payload_json"])
            if row["kind"] == "ticket_update" and payload.get("note"):
                key = (row["ticket_id"], "note", payload["note"])
            elif row["kind"] == "public_reply":
                key = (row["ticket_id"], "reply", payload["text"])
            elif row["kind"] in ("follow_up", "problem"):
                key = ("created", "ticket", payload["subject"])
            else:
                continue
            if row["status"] == "done":
                done[key] += 1
            if row["status"] in ("done", "superseded", "failed"):
                sent[key] += 1
        statuses = Counter(row["status"] for row in rows)
        duplicates = at_helpdesk - sent
        figures = Figures(scenario, self.seed, events=events, accepted=sum(inbox.values()),
                          processed=inbox["done"] + inbox["echo"], writes=sum(at_helpdesk.values()),
                          duplicates=sum(duplicates.values()), lost=sum((done - at_helpdesk).values()),
                          unrecorded=sum((at_helpdesk - done - duplicates).values()),
                          repeats=sum(n - 1 for key, n in at_helpdesk.items() if n > 1 and key[0] != "created"),
                          parked=statuses["failed"], unfinished=statuses["pending"] + statuses["sending"],
                          unprocessed=sum(n for s, n in inbox.items() if s not in ("done", "echo")),
                          seconds=time.monotonic() - started)
        figures.notes["accepted_202"] = self.accepted_answers
        figures.notes["busy_503_retried"] = self.busy_answers
        figures.notes.setdefault("accepted_expected", events)
        return figures


# --- the scenarios ------------------------------------------------------------------------------

def kill_scenario(workdir: Path, seed: int, events: int = 1000, tickets: int = 100, kills: int = 5) -> Figures:
    """`kill -9` of the worker at `kills` random points of the burst's processing, restarting it each time."""
    started = time.monotonic()
    with Harness(workdir, seed) as harness:
        harness.open_tickets(tickets)
        burst = harness.events(events)
        points = sorted(harness.rng.sample(range(1, events), kills))
        with ThreadPoolExecutor(1) as background:
            sending = background.submit(harness.send, burst)
            killed_at = []
            for point in points:
                wait_until(lambda: harness.inbox_done() >= point, SETTLE_SECONDS, f"{point} deliveries processed",
                           interval=0.01)
                harness.stack.kill("worker")
                killed_at.append(harness.inbox_done())
                harness.age_dead_claims()
                harness.stack.start_worker("worker")
            sending.result()
        harness.settle()
        figures = harness.figures("kill", events, started)
        figures.notes["killed_after"] = ",".join(map(str, killed_at))
        return figures


def fault_plan(rng: random.Random, size: int) -> list[dict[str, Any]]:
    """`size` one-call faults on the Zendesk API in a seeded order: 500s, 429s, dropped answers (on writes) and
    answers slower than slaclock's timeout (applied, then answered too late: a timeout of unknown outcome)."""
    plan = []
    for n in range(size):
        kind = n % 4
        if kind == 0:
            plan.append({"status": 500})
        elif kind == 1:
            plan.append({"status": 429, "retry_after": 1})
        elif kind == 2:
            plan.append({"drop_answer": True, "method": "PUT"})
        else:
            plan.append({"delay": TIMEOUT_DELAY})
    rng.shuffle(plan)
    return [{"path_prefix": "/api/v2/", "count": 1, **fault} for fault in plan]


def helpdesk_scenario(workdir: Path, seed: int, events: int = 1000, tickets: int = 100,
                      faults: int = 24) -> Figures:
    """Helpdesk faults on the first calls of the burst, then healed."""
    started = time.monotonic()
    with Harness(workdir, seed) as harness:
        harness.open_tickets(tickets)
        plan = fault_plan(harness.rng, faults)
        harness.stack.http.post(f"{harness.stack.sandbox_url}/_sandbox/faults", json=plan, timeout=5).raise_for_status()
        harness.send(harness.events(events))
        faults_url = f"{harness.stack.sandbox_url}/_sandbox/faults"
        try:  # the outage lasts until its faults are served, or OUTAGE_SECONDS at most
            wait_until(lambda: not harness.stack.http.get(faults_url, timeout=5).json()["faults"],
                       OUTAGE_SECONDS, "every injected fault to be served")
        except TimeoutError:
            pass  # the calls left to make did not match the rest (e.g. no more writes to drop an answer of)
        harness.stack.http.delete(faults_url, timeout=5).raise_for_status()  # healed
        # Traffic goes on after the outage: a new case's write is the helpdesk answering again, and what waits
        # out its backoff goes at once (the deliverer hastens retries on a success).
        after = harness.open_tickets(1)
        harness.send(harness.events(1, after))
        harness.settle()
        figures = harness.figures("helpdesk", events, started)
        figures.notes["faults_served"] = harness.stack.stats("zendesk")["faults_served"]
        figures.notes["faults_planned"] = faults
        figures.notes["accepted_expected"] = events + 1
        return figures


def two_workers_scenario(workdir: Path, seed: int, events: int = 1000, tickets: int = 100,
                         database: str | None = None, receivers: int = 1) -> Figures:
    """Two workers on one store (`database`: a PostgreSQL URL, with `receivers` receivers in front of it)."""
    started = time.monotonic()
    with Harness(workdir, seed, workers=2, receivers=receivers, database=database) as harness:
        harness.open_tickets(tickets)
        harness.send(harness.events(events))
        harness.settle()
        figures = harness.figures("two-workers" if database is None else "postgres", events, started)
        figures.notes["receivers"] = receivers
        return figures


# A note names its own ticket and instants that depend on when it was decided (a vendor's "confirm by …", a
# minute apart between twins); the comparison masks both.
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d( UTC)?")


def final_state(harness: Harness, ticket_id: str) -> dict[str, Any]:
    """What a ticket ended as: the fields slaclock writes and its comments' bodies (own id and stamps masked)."""
    ticket = harness.stack.ticket(ticket_id)

    def masked(body: str) -> str:
        return STAMP.sub("<stamp>", body.replace(f"zendesk:{ticket_id}", "zendesk:<this>"))
    return {"group_id": ticket["group_id"], "priority": ticket["priority"], "status": ticket["status"],
            "tags": sorted(ticket["tags"]), "custom_fields": ticket["custom_fields"],
            "comments": [(masked(c["body"]), c["public"]) for c in ticket["comments"][1:]]}


def resend_scenario(workdir: Path, seed: int, events: int = 1000, tickets: int = 50) -> Figures:
    """Every delivery sent 3× shuffled, beside twin tickets whose deliveries are each sent once."""
    started = time.monotonic()
    with Harness(workdir, seed) as harness:
        once, thrice = harness.open_tickets(tickets), harness.open_tickets(tickets)
        twin = dict(zip(once, thrice))
        burst = harness.events(events // 4, once)
        # The twins' events: the same kinds in the same order, each one its own delivery sent three times.
        copies = [signed_event(twin[json.loads(body)["detail"]["id"]], json.loads(body)["type"][len(EVENT_PREFIX):],
                               harness.rng) for body, _ in burst]
        resent = copies * 3
        harness.rng.shuffle(resent)
        harness.send(burst)
        statuses = harness.send(resent)
        harness.settle()
        figures = harness.figures("resend", len(burst) + len(resent), started)
        states = {t: (final_state(harness, t), final_state(harness, twin[t])) for t in once}
        differ = [t for t, (a, b) in states.items() if a != b]
        figures.notes.update(resent_duplicates_answered=statuses[200], twins_differing=len(differ))
        if differ:
            a, b = states[differ[0]]
            figures.notes["first_difference"] = repr({k: (a[k], b[k]) for k in a if a[k] != b[k]})[:300]
        figures.notes["accepted_expected"] = len(burst) + len(copies)
        return figures


SCENARIOS: dict[str, Callable[..., Figures]] = {"kill": kill_scenario, "helpdesk": helpdesk_scenario,
                                                "two-workers": two_workers_scenario, "resend": resend_scenario}


def run(name: str, seed: int, **sizes: Any) -> Figures:
    """Run one scenario in a fresh directory; print and return its figures."""
    with tempfile.TemporaryDirectory(prefix=f"slaclock-faults-{name}-") as workdir:
        figures = SCENARIOS[name](Path(workdir), seed, **sizes)
    print(figures.line(), flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"faults: seed {seed}", flush=True)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results = [run(name, seed, events=args.events,
                   tickets=args.tickets if name != "resend" else max(1, args.tickets // 2)) for name in names]
    return 0 if all(f.clean for f in results) else 1


if __name__ == "__main__":
    sys.exit(main())
