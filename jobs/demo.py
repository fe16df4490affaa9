"""`slaclock demo` and the end-to-end tests: sandbox, receiver and worker as real processes on loopback.

The sandbox serves a fake Zendesk and a fake Jira Service Management site from one process; the receiver
and the worker run both connectors, with the example rules (rules/rules.example.toml), which route to both.
"""
from __future__ import annotations

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
from typing import Any, Callable, TextIO

import requests

from jobs.explain import format_timeline
from rules import EXAMPLE_RULES, load_rules
from store import Store

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


class Stack:
    """The sandbox helpdesks, `slaclock serve` and `slaclock worker`, wired together on loopback."""

    def __init__(self, workdir: str | Path, rules_path: str | None = None, env: dict[str, str] | None = None,
                 workers: int = 1, sandbox_args: tuple[str, ...] = ()):
        self.workdir = Path(workdir)
        self.workers = workers
        self.sandbox_args = sandbox_args  # extra `python -m sandbox` flags (e.g. --jira-no-browse)
        self.database = str(self.workdir / "slaclock.db")
        self.sandbox_port, self.receiver_port = free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.receiver_url = f"http://127.0.0.1:{self.receiver_port}"
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
        Store(self.database)  # migrate once before two processes race to
        self._spawn("sandbox", "-m", "sandbox", "--port", str(self.sandbox_port),
                    "--webhook-url", f"{self.receiver_url}/webhooks/zendesk", "--webhook-secret", WEBHOOK_SECRET,
                    "--email", API_EMAIL, "--token", API_TOKEN,
                    "--jira-webhook-url", f"{self.receiver_url}/webhooks/jira",
                    "--jira-webhook-secret", JIRA_WEBHOOK_SECRET, "--jira-email", API_EMAIL,
                    "--jira-token", JIRA_API_TOKEN, "--jira-reason-field-id", JIRA_REASON_FIELD_ID,
                    "--jira-due-field-id", JIRA_DUE_FIELD_ID, *self.sandbox_args)
        self._spawn("serve", "-m", "app", "serve", "--port", str(self.receiver_port), "--workers", "1")
        for name in self.worker_names:
            self.start_worker(name)
        wait_until(lambda: self.http.get(f"{self.sandbox_url}/_sandbox/stats", timeout=1).ok, 20, "the sandbox")
        wait_until(lambda: self.http.get(f"{self.receiver_url}/readyz", timeout=1).ok, 20, "the receiver")
        return self

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

    def post_webhook(self, helpdesk: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        """POST a (signed) webhook straight to the receiver, as the helpdesk would."""
        return self.http.post(f"{self.receiver_url}/webhooks/{helpdesk}", data=body, headers=headers, timeout=10)

    def writes(self) -> dict:
        """Per helpdesk and ticket, what slaclock's API user wrote there (the sandbox's GET /_sandbox/writes)."""
        return self.http.get(f"{self.sandbox_url}/_sandbox/writes", timeout=10).json()

    def stop(self) -> None:
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
        body = {"ticket": {"subject": subject, "comment": {"body": subject}, "priority": priority,
                           "custom_fields": custom}}
        if opened_at:
            body["ticket"]["created_at"] = opened_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return str(self._post("/_sandbox/agent/tickets", body)["ticket"]["id"])

    def agent_changes(self, ticket_id: str, helpdesk: str = "zendesk", **changes: Any) -> None:
        """Change a ticket as a human agent in the helpdesk UI would.

        Zendesk takes ticket attributes as they are; for Jira, `priority` and `tags` are slaclock's names
        (turned into a Jira priority and labels), anything else passes as a Jira field."""
        if helpdesk == "jira":
            fields = dict(changes)
            if "priority" in fields:
                fields["priority"] = {"name": JIRA_PRIORITY[fields["priority"]]}
            if "tags" in fields:
                fields["labels"] = list(fields.pop("tags"))
            self._post(f"/_sandbox/jira/agent/issues/{ticket_id}", {"fields": fields})
            return
        self._post(f"/_sandbox/agent/tickets/{ticket_id}", {"ticket": changes})

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
        store = Store(self.database)
        inbox, outbox = store.delivery_counts(), store.outbox_counts()
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
    return ticket_id


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


def _print_ticket(stack: Stack, store: Store, helpdesk: str, ticket_id: str, out: TextIO) -> None:
    view = stack.summary(ticket_id, helpdesk)
    print(f"\n== {helpdesk}:{ticket_id} «{view['subject']}» → {view['routed_name']} · "
          f"priority {view['priority']} · {len(view['notes'])} internal note(s), "
          f"{view['public_comments']} public", file=out)
    print("\n".join(format_timeline(store, f"{helpdesk}:{ticket_id}")), file=out)
    case = store.get_case(helpdesk, ticket_id)
    memory = case.memory if case else {}
    for held in (memory.get("customer") or {}).get("held", []):
        print(f"{'':22}customer message «{held['message']}» held for the customer's quiet hours until "
              f"{held['release_at']}", file=out)


def run_demo(out: TextIO) -> int:
    """Run the scripted scenario on both helpdesks; print every ticket's timeline and the API calls used."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="slaclock-demo-") as workdir, Stack(workdir) as stack:
        print(f"sandbox {stack.sandbox_url} (Zendesk + Jira) · receiver {stack.receiver_url} · "
              f"database {stack.database}", file=out)
        played = {helpdesk: _play(stack, helpdesk) for helpdesk in HELPDESKS}
        stack.settle()
        print("\non each helpdesk an agent's macro adds the escalation tag (Jira: a label); another agent raises "
              "a priority to urgent (Jira: Highest)", file=out)
        for helpdesk, (_, escalated, reprioritised) in played.items():
            current = stack.summary(escalated, helpdesk)["tags"]
            stack.agent_changes(escalated, helpdesk, tags=[*current, stack.rules.escalation.tag])
            stack.agent_changes(reprioritised, helpdesk, priority="urgent")
        stack.settle()
        store = Store(stack.database)
        urgent = _before_the_breach(stack, store, out)
        vendor_cases = _vendor_loop(stack, out)
        for helpdesk, (tickets, escalated, reprioritised) in played.items():
            print(f"\n######## {helpdesk} ########", file=out)
            for ticket_id in [*tickets, escalated, reprioritised]:
                _print_ticket(stack, store, helpdesk, ticket_id, out)
        for ticket_id in (urgent, *vendor_cases):
            _print_ticket(stack, store, "zendesk", ticket_id, out)
        report = stack.stats()
        print(f"\nAPI calls served by the sandbox: {report['total']}", file=out)
        for helpdesk in HELPDESKS:
            stats = report["helpdesks"][helpdesk]
            print(f"  {helpdesk}: {stats['total']} call(s), {stats['webhooks']['sent']} webhook(s) sent", file=out)
            for route, count in sorted(stats["api_calls"].items()):
                print(f"    {count:4d}  {route}", file=out)
        print(f"demo took {time.monotonic() - started:.1f} s", file=out)
    return 0
