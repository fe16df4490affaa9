"""`slaclock demo` and the end-to-end tests: sandbox, receiver and worker as real processes on loopback.

The sandbox serves a fake Zendesk and a fake Jira Service Management site from one process; the receiver
and the worker run both connectors, with the example rules (rules/rules.example.toml), which route to both.
"""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

import requests

from jobs.explain import format_timeline
from reports.history import case_histories
from reports.kpis import Period, report
from rules import EXAMPLE_RULES, CaseMemory, Rules, load_rules
from rules.schema.values import field_id
from rules.wording import METRIC_NAMES, count
from sandbox.alerts import DEFAULT_SECRET as SANDBOX_ALERT_SECRET
from store import Store, is_postgres_url, open_store

API_EMAIL = "slaclock@example.com"
API_TOKEN = "sandbox-token"
WEBHOOK_SECRET = "sandbox-webhook-secret"
JIRA_API_TOKEN = "sandbox-jira-token"
JIRA_WEBHOOK_SECRET = "sandbox-jira-webhook-secret"
# The sandbox's custom fields: Zendesk's reason-code field (as in the rules), Jira's reason select and due time.
ZENDESK_REASON_FIELD = 360001
JIRA_REASON_FIELD_ID = "customfield_10050"
JIRA_DUE_FIELD_ID = "customfield_10060"
# What a customer or agent picks in Jira for each slaclock priority (the connector's default map).
JIRA_PRIORITY = {"urgent": "Highest", "high": "High", "normal": "Medium", "low": "Low"}
NEUTRAL_PRIORITY = {**{name: ours for ours, name in JIRA_PRIORITY.items()}, "Lowest": "low"}
HELPDESKS = ("zendesk", "jira")
# Who opens the demo's Zendesk tickets (the sandbox makes them an end user).
CUSTOMER = {"name": "Casey Customer", "email": "casey@customer.example"}
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Variables of the calling shell that would point the stack somewhere else.
_OWN_PREFIXES = ("SLACLOCK_", "ZENDESK_", "JIRA_", "SANDBOX_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        try:
            value = predicate()
        except requests.ConnectionError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        pause.wait(interval)


def agent_fields(rules: Rules, connector: str, ticket_id: str = "1", *, path: bool = True,
                 request: bool = True) -> dict[str, str]:
    """The custom fields an agent fills in under `rules` (ids of `connector`): each item an escalation request
    carries (`escalation.request.fields`) and the resolution path a solve records (`resolution_path.field`)."""
    refs = dict(rules.escalation.request.fields) if request and rules.escalation.request is not None else {}
    if path and rules.resolution_path is not None and rules.resolution_path.field:
        refs["the resolution path"] = rules.resolution_path.field
    return {fid: f"PO-{ticket_id}" if "order" in name else f"{name} of {ticket_id}"
            for name, ref in refs.items() if (fid := field_id(ref, connector))}


class Stack:
    """The sandbox helpdesks, `slaclock serve` and `slaclock worker`, wired together on loopback."""

    def __init__(self, workdir: str | Path, rules_path: str | None = None, env: dict[str, str] | None = None,
                 workers: int = 1, sandbox_args: tuple[str, ...] = (), database: str | None = None,
                 receivers: int = 1):
        """`database`: a PostgreSQL URL or SQLite path (default: `slaclock.db` in `workdir`); `workers` and
        `receivers`: how many `slaclock worker` and `slaclock serve` processes share it."""
        self.workdir = Path(workdir)
        self.workers = workers
        self.sandbox_args = sandbox_args  # extra `python -m sandbox` flags (e.g. --jira-no-browse)
        self.database = database or str(self.workdir / "slaclock.db")
        self._store: Store | None = None
        self.sandbox_port, self.receiver_ports = free_port(), [free_port() for _ in range(receivers)]
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.receiver_urls = [f"http://127.0.0.1:{port}" for port in self.receiver_ports]
        self.receiver_port, self.receiver_url = self.receiver_ports[0], self.receiver_urls[0]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)},
            # The processes run this checkout's code, as the caller does (not another installed copy).
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            "SLACLOCK_DATABASE": self.database,
            "SLACLOCK_ENV_FILE": str(self.workdir / "no.env"),
            "SLACLOCK_POLL_SECONDS": "0.05",
            "SLACLOCK_SWEEP_SECONDS": "1",
            "SLACLOCK_LOG_LEVEL": "WARNING",
            "SLACLOCK_RULES": rules_path or str(EXAMPLE_RULES),  # the example rules name Jira targets too
            "ZENDESK_URL": self.sandbox_url,
            "ZENDESK_EMAIL": API_EMAIL,
            "ZENDESK_API_TOKEN": API_TOKEN,
            "ZENDESK_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "JIRA_URL": self.sandbox_url,
            "JIRA_EMAIL": API_EMAIL,
            "JIRA_API_TOKEN": JIRA_API_TOKEN,
            "JIRA_WEBHOOK_SECRET": JIRA_WEBHOOK_SECRET,
            # The vendor ACME Parts' system (teams.acme_parts.webhook): the sandbox's signed-webhook receiver.
            "SLACLOCK_ACME_PARTS_WEBHOOK_URL": f"{self.sandbox_url}/_sandbox/alerts/webhook/acme_parts",
            "SLACLOCK_ACME_PARTS_WEBHOOK_SECRET": SANDBOX_ALERT_SECRET,
            "JIRA_REASON_FIELD_ID": JIRA_REASON_FIELD_ID,
            "JIRA_DUE_FIELD_ID": JIRA_DUE_FIELD_ID,
            # The default budgets (100/min, bursts of 16) would pace a demo that writes a dozen tickets at once.
            "ZENDESK_RATE_PER_MINUTE": "600",
            "JIRA_RATE_PER_MINUTE": "600",
            **(env or {}),
        }
        self.rules = load_rules(self.env["SLACLOCK_RULES"])
        self.processes: dict[str, subprocess.Popen] = {}
        self.http = requests.Session()

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.workdir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen([sys.executable, *args], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, cwd=self.workdir)

    def start(self) -> "Stack":
        """Start the three processes and wait until each answers."""
        self.store  # migrate once before the processes start
        self._spawn("sandbox", "-m", "sandbox", "--port", str(self.sandbox_port),
                    "--webhook-url", f"{self.receiver_url}/webhooks/zendesk", "--webhook-secret", WEBHOOK_SECRET,
                    "--email", API_EMAIL, "--token", API_TOKEN,
                    "--jira-webhook-url", f"{self.receiver_url}/webhooks/jira",
                    "--jira-webhook-secret", JIRA_WEBHOOK_SECRET, "--jira-email", API_EMAIL,
                    "--jira-token", JIRA_API_TOKEN, "--jira-reason-field-id", JIRA_REASON_FIELD_ID,
                    "--jira-due-field-id", JIRA_DUE_FIELD_ID, *self.sandbox_args)
        for n, port in enumerate(self.receiver_ports, start=1):
            self._spawn("serve" if n == 1 else f"serve{n}", "-m", "app", "serve", "--port", str(port), "--workers", "1")
        for name in self.worker_names:
            self.start_worker(name)
        wait_until(lambda: self.http.get(f"{self.sandbox_url}/_sandbox/stats", timeout=1).ok, 20, "the sandbox")
        for url in self.receiver_urls:
            wait_until(lambda: self.http.get(f"{url}/readyz", timeout=1).ok, 20, f"the receiver at {url}")
        return self

    @property
    def store(self) -> Store:
        """The stack's store, opened (and migrated) once, for reading what the processes did."""
        if self._store is None:
            self._store = open_store(self.database)
        return self._store

    @property
    def worker_names(self) -> list[str]:
        """`worker`, then `worker2`, `worker3`… for a stack of several workers on one store."""
        return ["worker", *(f"worker{n}" for n in range(2, self.workers + 1))]

    def start_worker(self, name: str = "worker") -> None:
        """Start (or restart) a `slaclock worker` process; its output is appended to `<name>.log`."""
        self._spawn(name, "-m", "app", "worker")

    def kill(self, name: str = "worker") -> int:
        """SIGKILL one process (no clean-up of any kind runs) and reap it; returns its pid."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(10)
        return process.pid

    def post_webhook(self, helpdesk: str, body: bytes, headers: dict[str, str], receiver: int = 0) -> requests.Response:
        """POST a (signed) webhook straight to a receiver (the first, or number `receiver` from 0), as the helpdesk
        would."""
        return self.http.post(f"{self.receiver_urls[receiver]}/webhooks/{helpdesk}", data=body, headers=headers,
                              timeout=10)

    def writes(self) -> dict:
        """Per helpdesk and ticket, what slaclock's API user wrote there (the sandbox's GET /_sandbox/writes)."""
        return self.http.get(f"{self.sandbox_url}/_sandbox/writes", timeout=10).json()

    def stop(self) -> None:
        if self._store is not None:
            self._store.close()
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    # --- talking to the sandbox ---------------------------------------------------------------

    def _post(self, path: str, body: Any) -> dict:
        response = self.http.post(f"{self.sandbox_url}{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def customer_creates(self, subject: str, priority: str | None, reason_code: str | None,
                         helpdesk: str = "zendesk", opened_at: datetime | None = None) -> str:
        """Create a ticket as a customer would (not as slaclock's API user); return its id (Jira: its key).

        `opened_at` backdates a Zendesk ticket (the sandbox allows it, like Zendesk's ticket import).
        """
        if helpdesk == "jira":
            fields: dict[str, Any] = {"summary": subject, "description": subject}
            if priority:
                fields["priority"] = {"name": JIRA_PRIORITY[priority]}
            if reason_code:
                fields[JIRA_REASON_FIELD_ID] = {"value": reason_code}
            return self._post("/_sandbox/jira/customer/issues", {"fields": fields})["key"]
        custom = [{"id": ZENDESK_REASON_FIELD, "value": reason_code}] if reason_code else []
        # The customer is the requester (Creating a ticket with a new requester), not slaclock's API user.
        body = {"ticket": {"subject": subject, "comment": {"body": subject}, "priority": priority,
                           "custom_fields": custom, "requester": CUSTOMER}}
        if opened_at:
            body["ticket"]["created_at"] = opened_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return str(self._post("/_sandbox/agent/tickets", body)["ticket"]["id"])

    def agent_changes(self, ticket_id: str, helpdesk: str = "zendesk", by: str | None = None, **changes: Any) -> None:
        """Change a ticket as a human agent in the helpdesk UI would (`by`: another agent's user id).

        Zendesk takes ticket attributes as they are; for Jira, `priority` and `tags` are slaclock's names
        (turned into a Jira priority and labels), anything else passes as a Jira field."""
        who = {"as": by} if by else {}
        if helpdesk == "jira":
            fields = dict(changes)
            if "priority" in fields:
                fields["priority"] = {"name": JIRA_PRIORITY[fields["priority"]]}
            if "tags" in fields:
                fields["labels"] = list(fields.pop("tags"))
            self._post(f"/_sandbox/jira/agent/issues/{ticket_id}", {"fields": fields, **who})
            return
        self._post(f"/_sandbox/agent/tickets/{ticket_id}", {"ticket": changes, **who})

    def agent_solves(self, ticket_id: str, helpdesk: str = "zendesk", by: str | None = None) -> None:
        """An agent records the resolution path (`resolution_path.field`) and solves the case, in one change."""
        status: Any = {"name": "Resolved"} if helpdesk == "jira" else "solved"
        self.agent_changes(ticket_id, helpdesk, by=by, status=status,
                           **self.filled_in(ticket_id, helpdesk, request=False))

    def agent_escalates(self, ticket_id: str, helpdesk: str = "zendesk", by: str | None = None,
                        tags: list[str] | None = None) -> None:
        """An agent fills in what an escalation request carries (`escalation.request.fields`) and adds the tag to
        `tags` (default: the ticket's)."""
        tags = [*(self.summary(ticket_id, helpdesk)["tags"] if tags is None else tags), self.rules.escalation.tag]
        self.agent_changes(ticket_id, helpdesk, by=by, tags=tags,
                           **self.filled_in(ticket_id, helpdesk, path=False))

    def filled_in(self, ticket_id: str, helpdesk: str = "zendesk", *, path: bool = True,
                  request: bool = True) -> dict[str, Any]:
        """`agent_changes` keywords that fill in the fields `agent_fields` names."""
        values = agent_fields(self.rules, helpdesk, ticket_id, path=path, request=request)
        if helpdesk == "jira":
            return values
        return {"custom_fields": [{"id": int(fid), "value": value} for fid, value in values.items()]}

    def customer_rates(self, ticket_id: str, rating: int | str, comment: str = "", helpdesk: str = "zendesk") -> None:
        """The requester answers the satisfaction survey: a score 1-5 on Jira (request feedback), good or bad on
        Zendesk (its satisfaction rating)."""
        if helpdesk == "jira":
            self._post(f"/_sandbox/jira/customer/issues/{ticket_id}/feedback",
                       {"type": "csat", "rating": rating, **({"comment": {"body": comment}} if comment else {})})
            return
        self._post(f"/_sandbox/customer/tickets/{ticket_id}/satisfaction_rating",
                   {"satisfaction_rating": {"score": rating, "comment": comment}})

    def customer_replies(self, ticket_id: str, text: str, helpdesk: str = "zendesk") -> None:
        """A public reply by the ticket's requester (Zendesk: by e-mail; Jira: on the portal)."""
        if helpdesk == "jira":
            self._post(f"/_sandbox/jira/customer/issues/{ticket_id}/comment", {"body": text})
        else:
            self._post(f"/_sandbox/customer/tickets/{ticket_id}/reply", {"body": text})

    def ticket(self, ticket_id: str, helpdesk: str = "zendesk") -> dict:
        """The sandbox's ticket with all its comments (public and internal), in the helpdesk's own shape."""
        if helpdesk == "jira":
            data = self.http.get(f"{self.sandbox_url}/_sandbox/jira/issues/{ticket_id}", timeout=5).json()
            return {**data["issue"], "comments": data["comments"]}
        data = self.http.get(f"{self.sandbox_url}/_sandbox/tickets/{ticket_id}", timeout=5).json()
        return {**data["ticket"], "comments": data["comments"]}

    def summary(self, ticket_id: str, helpdesk: str = "zendesk") -> dict:
        """A helpdesk-neutral view: subject, priority, routing target, tags, internal notes, public comments."""
        ticket = self.ticket(ticket_id, helpdesk)
        if helpdesk == "jira":
            fields = ticket["fields"]
            assignee = fields.get("assignee") or {}
            return {"subject": fields["summary"], "priority": NEUTRAL_PRIORITY.get(fields["priority"]["name"]),
                    "routed_to": assignee.get("accountId"), "routed_name": assignee.get("displayName"),
                    "tags": list(fields["labels"]),
                    "notes": [c["body"] for c in ticket["comments"] if c["internal"]],
                    "public_comments": sum(c["public"] for c in ticket["comments"]),
                    "public": [c["body"] for c in ticket["comments"] if c["public"]]}
        group = None if ticket["group_id"] is None else str(ticket["group_id"])
        return {"subject": ticket["subject"], "priority": ticket["priority"], "routed_to": group,
                "routed_name": f"group {group}", "tags": list(ticket["tags"]),
                "notes": [c["body"] for c in ticket["comments"] if not c["public"]],
                "public_comments": sum(c["public"] for c in ticket["comments"]),
                "public": [c["body"] for c in ticket["comments"] if c["public"]]}

    def vendor_token(self, team: str) -> str:
        """A vendor API token, issued by `slaclock vendor token` as an admin would."""
        done = subprocess.run([sys.executable, "-m", "app", "vendor", "token", team], env=self.env,
                              capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.strip().splitlines()[-1]

    def vendor_eta(self, token: str, body: dict) -> requests.Response:
        """What a vendor's system sends to POST /vendor/eta."""
        return self.http.post(f"{self.receiver_url}/vendor/eta", json=body,
                              headers={"Authorization": f"Bearer {token}"}, timeout=5)

    def team_of(self, ticket_id: str, helpdesk: str = "zendesk") -> str | None:
        """The rules' team whose target (Zendesk group, Jira assignee) the ticket is routed to."""
        routed = self.summary(ticket_id, helpdesk)["routed_to"]
        key = "assignee_id" if helpdesk == "jira" else "group_id"
        return next((name for name, team in self.rules.teams.items()
                     if getattr(getattr(team, helpdesk, None), key, None) == routed and routed), None)

    def stats(self, helpdesk: str | None = None) -> dict:
        """API calls, faults served and webhooks: in total, or of one helpdesk."""
        report = self.http.get(f"{self.sandbox_url}/_sandbox/stats", timeout=5).json()
        return report["helpdesks"][helpdesk] if helpdesk else report

    def faults(self, **fault: Any) -> None:
        self.http.post(f"{self.sandbox_url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()

    def drop_webhooks(self, count: int, helpdesk: str = "zendesk") -> None:
        """Lose the helpdesk's next `count` webhooks."""
        prefix = "/_sandbox/jira" if helpdesk == "jira" else "/_sandbox"
        self._post(f"{prefix}/webhooks/drop", {"count": count})

    def _quiet(self) -> bool:
        if not self.http.get(f"{self.sandbox_url}/_sandbox/idle", timeout=2).json().get("idle"):
            return False
        inbox, outbox = self.store.delivery_counts(), self.store.outbox_counts()
        return not (inbox.get("pending") or inbox.get("processing") or outbox.get("pending") or outbox.get("sending"))

    def settle(self, timeout: float = 30) -> None:
        """Wait until no webhook is in flight and nothing is left to process or send (twice in a row)."""
        wait_until(lambda: self._quiet() and self._quiet(), timeout, "the pipeline to settle")


SCENARIO = [
    ("Replacement hinge missing from the kit", "normal", "missing_part"),
    ("Wrong tap model delivered", "high", "wrong_item"),
    ("Installer could not start: site not ready", "low", "site_not_ready"),
    ("Cabinet door arrived damaged", "urgent", "damage"),
]


def _play(stack: Stack, helpdesk: str) -> tuple[list[str], str, str]:
    """Create the scenario's tickets on one helpdesk; return (routed ones, to escalate, to reprioritise)."""
    tickets = [stack.customer_creates(*case, helpdesk=helpdesk) for case in SCENARIO]
    escalated = stack.customer_creates("Customer chasing a late refund", "normal", None, helpdesk=helpdesk)
    reprioritised = stack.customer_creates("Gate code does not work", "normal", "access_issue", helpdesk=helpdesk)
    return tickets, escalated, reprioritised


# The demo's urgent case opened this long before now: its 60-minute milestone and 30-minute first
# response have passed, and its 50 % warning (2 h of a 4 h target) comes a few seconds into the demo.
URGENT_AGE = timedelta(hours=2) - timedelta(seconds=8)


def _before_the_breach(stack: Stack, store: Store, out: TextIO) -> str:
    """An urgent Zendesk case nearly two hours old: the sweeper warns at 50 %, live, before the breach."""
    print("\nescalate before the breach: an urgent Zendesk case that came in 1 h 59 min 52 s ago", file=out)
    ticket_id = stack.customer_creates("Production line down: controller fault", "urgent", "damage",
                                       opened_at=datetime.now(timezone.utc) - URGENT_AGE)

    def warned() -> bool:
        return any(e.kind == "warning" and e.detail.get("metric") == "resolution"
                   for e in store.timeline("zendesk", ticket_id))
    wait_until(warned, 30, "the sweeper's 50 % warning")
    stack.settle()
    stack.agent_solves(ticket_id)  # the agent fixes it in time: a breach averted
    stack.settle()
    return ticket_id


def _confirmations(stack: Stack, urgent: str, jira_case: str) -> None:
    """Seeds 001, 003: the urgent Zendesk case's customer confirms the fix (it closes with a follow-up); a Jira
    customer says theirs is not fixed (it reopens for its owner)."""
    stack.customer_replies(urgent, "Yes, the line is running again. Thank you!")
    stack.agent_solves(jira_case, "jira")
    stack.settle()
    stack.customer_replies(jira_case, "Sorry, the gate code still does not work.", "jira")
    stack.settle()


def _vendor_loop(stack: Stack, out: TextIO) -> list[str]:
    """Seed 000 on Zendesk: two defects go to the vendor; one ETA is confirmed in time, one vendor has no capacity."""
    print("\nthe vendor loop (seed 000): two warranty defects go to ACME Parts, which answers through "
          "POST /vendor/eta with its own token", file=out)
    token = stack.vendor_token("acme_parts")
    in_time = stack.customer_creates("Compressor failed under warranty", "high", "defect")
    no_capacity = stack.customer_creates("Second compressor failed", "normal", "defect")
    stack.settle()
    eta = (datetime.now(timezone.utc) + timedelta(hours=20)).replace(microsecond=0).isoformat()
    for body in ({"ticket": f"zendesk:{in_time}", "eta": eta, "capacity_available": True, "note": "crew booked"},
                 {"ticket": f"zendesk:{no_capacity}", "capacity_available": False, "note": "backlog until April"}):
        answer = stack.vendor_eta(token, body)
        print(f"  vendor → POST /vendor/eta {json.dumps(body)} → {answer.status_code}", file=out)
    stack.settle()
    return [in_time, no_capacity]


def _ratings(stack: Stack, urgent: str, jira_ticket: str) -> None:
    """The customers answer the satisfaction survey: the solved urgent Zendesk case good, a resolved Jira
    request 4 of 5 (after the agent resolves it)."""
    stack.agent_solves(jira_ticket, "jira")
    stack.settle()
    stack.customer_rates(urgent, "good", "Back up and running within two hours")
    stack.customer_rates(jira_ticket, 4, "Sorted, thanks", "jira")
    stack.settle()


def _print_ticket(stack: Stack, store: Store, helpdesk: str, ticket_id: str, out: TextIO) -> None:
    view = stack.summary(ticket_id, helpdesk)
    print(f"\n== {helpdesk}:{ticket_id} «{view['subject']}» → {view['routed_name']} · "
          f"priority {view['priority']} · {count(len(view['notes']), 'internal note')}, "
          f"{view['public_comments']} public", file=out)
    print("\n".join(format_timeline(store, f"{helpdesk}:{ticket_id}")), file=out)
    case = store.get_case(helpdesk, ticket_id)
    memory = case.memory if case else {}
    for held in (memory.get("customer") or {}).get("held", []):
        print(f"{'':22}customer message «{held['message']}» held for the customer's quiet hours until "
              f"{held['release_at']}", file=out)


# The demo's rules: the example rules, with customer messages at any hour (so the run shows them whatever the
# time) and alerts for Sam and Maria to the sandbox's Slack and webhook receivers.
DEMO_ALERTS = """
[alerts]
level_changed = ["owner", "on_call"]
breached = ["owner", "on_call"]

[alerts.channels.ops-slack]
kind = "slack"
url_env = "SLACLOCK_DEMO_SLACK_URL"

[alerts.channels.automation]
kind = "webhook"
url_env = "SLACLOCK_DEMO_WEBHOOK_URL"
secret_env = "SLACLOCK_DEMO_WEBHOOK_SECRET"
"""
DEMO_WEBHOOK_SECRET = "demo-alert-secret"


def demo_rules(workdir: Path) -> Path:
    """Write the demo's rules file (see DEMO_ALERTS) into `workdir`."""
    text = EXAMPLE_RULES.read_text(encoding="utf-8").replace('send_hours = "customer_day"', 'send_hours = "24x7"')
    for person in ('[people.sam]\nname = "Sam Ortiz"\n', '[people.maria]\nname = "Maria Keller"\n'):
        assert person in text, person
        text = text.replace(person, person + 'alerts = ["ops-slack", "automation"]\n')
    path = workdir / "rules.toml"
    path.write_text(text + DEMO_ALERTS, encoding="utf-8")
    return path


def _short(instant: datetime | None, zone) -> str:
    return f"{instant.astimezone(zone):%a %d %b %H:%M %Z}" if instant else "-"


def _cut(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def _row(stack: Stack, store: Store, helpdesk: str, ticket_id: str, alerts: dict, writes: dict) -> list[str]:
    """One line of the demo table: what slaclock made of the ticket."""
    rules, case = stack.rules, store.get_case(helpdesk, ticket_id)
    view = stack.summary(ticket_id, helpdesk)
    memory = CaseMemory.from_json(case.memory) if case else CaseMemory()
    state = memory.escalation
    level = (f"{state.current.title} / {state.owner.name if state.owner else '-'}"
             if state is not None and state.level > 0 else "-")
    zone = rules.note_zone(case.team if case else None)
    mine = writes.get(helpdesk, {}).get("tickets", {}).get(ticket_id, {})
    reference = f"#{ticket_id}" if helpdesk == "zendesk" else ticket_id
    # The signed webhook gets one event per alert (it never digests): the alerts the ticket caused.
    told = sum(1 for a in alerts["webhook"] if not a["event"]["type"].startswith("vendor.")
               and (a["event"]["ticket"]["helpdesk"], a["event"]["ticket"]["id"]) == (helpdesk, ticket_id))
    return [reference, _cut(view["subject"]), rules.team_title(case.team) if case and case.team else "-",
            view["priority"] or "-", _short(case.due_at if case else None, zone), level,
            str(len(mine.get("notes", []))), str(len(mine.get("public_replies", []))), str(told)]


HEADER = ["ticket", "subject", "routed to", "priority", "due", "level / owner", "notes", "customer",
          "alerts"]
# What happened, in a line each: the timeline kinds worth telling in a demo, in words (a metric, level, milestone
# or rating from the event fills the braces).
TOLD = {
    "warning": "{threshold} % warning on {metric}",
    "level_change": "escalated to {level}",
    "breach": "{metric} breached",
    "milestone": "{milestone}",
    "vendor_confirmed": "vendor confirmed its schedule",
    "vendor_risk": "vendor at risk",
    "customer_update": "customer updated",
    "resolution_asked": "customer asked to confirm the fix",
    "post_incident": "post-incident review asked",
    "resolution_confirmed": "fix confirmed",
    "reopened": "reopened",
    "closed": "closed",
    "csat": "rated {rating}",
}
MILESTONES = {"queued": "queued until business hours", "tech_lead": "tech-lead ticket opened"}


def _table(rows: list[list[str]], out: TextIO) -> int:
    """Print the table; return its width."""
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip(), file=out)
    return 2 + sum(widths) + 2 * (len(widths) - 1)


def _happened(store: Store, helpdesk: str, tickets: list[str], width: int, limit: int = 8) -> list[str]:
    """A line per ticket of what happened, wrapped at `width` under its first word."""
    lines = []
    for ticket_id in tickets:
        reference = f"#{ticket_id}" if helpdesk == "zendesk" else ticket_id
        case = store.get_case(helpdesk, ticket_id)
        state = CaseMemory.from_json(case.memory).escalation if case else None
        titles = {level.name: level.title for level in state.ladder.levels} if state is not None else {}
        said = [event_words(e.kind, e.detail, titles)
                for e in store.timeline(helpdesk, ticket_id) if e.kind in TOLD]
        if said:
            lines.append(_wrapped(f"  {reference}: ", list(dict.fromkeys(said)), width))
    return lines[:limit]


def _wrapped(head: str, items: list[str], width: int) -> str:
    """`head` and the comma-separated `items`, broken between items at `width`, under the first item."""
    lines, line = [], head + items[0]
    for item in items[1:]:
        if len(line) + len(", ") + len(item) + len(",") > width:  # room for the comma a break leaves
            lines.append(line + ",")
            line = " " * len(head) + item
        else:
            line += ", " + item
    return "\n".join([*lines, line])


def event_words(kind: str, detail: Mapping[str, Any], titles: Mapping[str, str]) -> str:
    """A timeline event of a `TOLD` kind in a few plain words: `escalated to L2 specialist`, `resolution breached`
    (`titles`: the ladder's level titles by level name)."""
    rating = detail.get("rating") or {}
    name, level = detail.get("threshold") or "", detail.get("level") or ""
    return TOLD[kind].format(
        threshold=name, level=titles.get(level, level) or "the next level",
        metric=METRIC_NAMES.get(detail.get("metric") or "", "the clock"),
        milestone=MILESTONES.get(name, f"milestone {name.replace('_', ' ')}".strip()),
        rating=f"{rating['score']} of 5" if rating.get("score") is not None else rating.get("verdict") or "").strip()


def run_demo(out: TextIO, verbose: bool = False) -> int:
    """Run the scripted scenario on both helpdesks; print a table per helpdesk, what happened, and one customer
    message, internal note and alert as written (`verbose`: every ticket's timeline and the API calls too)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="slaclock-demo-") as workdir:
        # SLACLOCK_DATABASE set to a PostgreSQL URL: the demo runs on that server (a SQLite path is ignored:
        # the demo's own database is a fresh one in its temporary directory).
        database = os.environ.get("SLACLOCK_DATABASE", "").strip()
        stack = Stack(workdir, rules_path=str(demo_rules(Path(workdir))),
                      database=database if is_postgres_url(database) else None)
        receivers = f"{stack.sandbox_url}/_sandbox/alerts"
        stack.env.update({"SLACLOCK_DEMO_SLACK_URL": f"{receivers}/slack/ops", "SANDBOX_ALERT_SECRET": DEMO_WEBHOOK_SECRET,
                          "SLACLOCK_ACME_PARTS_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET,
                          "SLACLOCK_DEMO_WEBHOOK_URL": f"{receivers}/webhook/automation",
                          "SLACLOCK_DEMO_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET})
        with stack:  # starts it (a `with stack.start()` would start a second, orphaned set)
            return _run(stack, out, verbose, started)


def _run(stack: Stack, out: TextIO, verbose: bool, started: float) -> int:
    print(f"slaclock demo: a sandbox Zendesk + Jira at {stack.sandbox_url}, the receiver at {stack.receiver_url}",
          file=out)
    played = {helpdesk: _play(stack, helpdesk) for helpdesk in HELPDESKS}
    stack.settle()
    print("- customers open 6 tickets on each helpdesk; an agent fills in what an escalation request carries and "
          "adds the escalation tag to one, raises another to urgent", file=out)
    for helpdesk, (_, escalated, reprioritised) in played.items():
        stack.agent_escalates(escalated, helpdesk)
        stack.agent_changes(reprioritised, helpdesk, priority="urgent")
    stack.settle()
    store = stack.store
    print("- an urgent Zendesk case opened 1 h 59 min ago: the sweeper warns at 50 %, live, before the breach; the "
          "agent records the resolution path and solves it in time", file=out)
    urgent = _before_the_breach(stack, store, io.StringIO())
    print("- its customer confirms the fix: it closes with a follow-up; a Jira customer says the gate code still "
          "fails after the solve: it reopens for its owner", file=out)
    _confirmations(stack, urgent, played["jira"][2])
    print("- two warranty defects go to the vendor ACME Parts, which answers through POST /vendor/eta", file=out)
    vendor_cases = _vendor_loop(stack, io.StringIO())
    print("- customers rate two solved cases: the urgent Zendesk one good, a Jira request 4 of 5", file=out)
    _ratings(stack, urgent, played["jira"][0][0])
    alerts = stack.http.get(f"{stack.sandbox_url}/_sandbox/alerts", timeout=5).json()
    told = [a["event"]["type"] for a in alerts["webhook"] if a["event"]["type"].startswith("vendor.")]
    asked, overrides = told.count("vendor.capacity_requested"), told.count("vendor.priority_override")
    print(f"- ACME Parts' own system got signed webhooks: {count(asked, 'capacity request')}, "
          f"{count(overrides, 'priority override')}", file=out)
    writes = stack.writes()
    for helpdesk, (tickets, escalated, reprioritised) in played.items():
        mine = [*tickets, escalated, reprioritised] + ([urgent, *vendor_cases] if helpdesk == "zendesk" else [])
        print(f"\n{'Zendesk' if helpdesk == 'zendesk' else 'Jira Service Management'}", file=out)
        width = _table([_row(stack, store, helpdesk, t, alerts, writes) for t in mine], out)
        print("  what happened:", file=out)
        print("\n".join(_happened(store, helpdesk, mine, width)), file=out)
    _quote(played["zendesk"][1], writes, alerts, out)
    kpis = report(case_histories(store), Period(datetime.now(timezone.utc) - timedelta(days=1),
                                                datetime.now(timezone.utc) + timedelta(minutes=1)))
    print(f"\nslaclock report: {kpis.tickets} tickets, {kpis.escalated} escalated ({kpis.escalations_per_1000:g} per "
          f"1,000), {count(kpis.breaches_averted, 'breach', 'breaches')} averted, "
          f"breach rate {kpis.breach_rate or 0:.0%}, "
          f"{_csat_text(kpis.csat.to_json())}", file=out)
    calls = stack.stats()
    print(f"{calls['total']} API calls at the sandbox; demo took {time.monotonic() - started:.1f} s "
          "(slaclock demo --verbose prints every ticket's timeline; slaclock explain, one ticket's rules)", file=out)
    if verbose:
        for helpdesk, (tickets, escalated, reprioritised) in played.items():
            for ticket_id in [*tickets, escalated, reprioritised]:
                _print_ticket(stack, store, helpdesk, ticket_id, out)
        for ticket_id in (urgent, *vendor_cases):
            _print_ticket(stack, store, "zendesk", ticket_id, out)
        for helpdesk in HELPDESKS:
            for route, calls_made in sorted(calls["helpdesks"][helpdesk]["api_calls"].items()):
                print(f"    {calls_made:4d}  {helpdesk} {route}", file=out)
    return 0


def _csat_text(csat: dict) -> str:
    """`CSAT 2 rated, 100% satisfied, mean 4.0 of 5`, or `no CSAT ratings`."""
    if not csat["count"]:
        return "no CSAT ratings"
    mean = f", mean {csat['mean']:.1f} of 5" if csat["mean"] is not None else ""
    return f"CSAT {csat['count']} rated, {csat['good_share']:.0%} satisfied{mean}"


def _quote(escalated: str, writes: dict, alerts: dict, out: TextIO) -> None:
    """The words as people read them: the escalated Zendesk ticket's note and customer message, and one alert."""
    mine = writes.get("zendesk", {}).get("tickets", {}).get(escalated, {})
    print(f"\nAs written on #{escalated}:", file=out)
    for label, texts in (("internal note", mine.get("notes", [])), ("customer message", mine.get("public_replies", [])),
                         ("Slack alert", [a["text"] for a in alerts["slack"]])):
        if texts:
            print(f"  {label}: " + texts[-1].replace("\n", "\n  " + " " * (len(label) + 2)), file=out)
