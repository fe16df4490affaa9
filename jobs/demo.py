"""`slaclock demo` and the end-to-end tests: sandbox, receiver and worker as real processes on loopback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, TextIO

import requests

from jobs.explain import format_timeline
from rules import load_rules
from store import Store

API_EMAIL = "slaclock@example.com"
API_TOKEN = "sandbox-token"
WEBHOOK_SECRET = "sandbox-webhook-secret"


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
    """The sandbox helpdesk, `slaclock serve` and `slaclock worker`, wired together on loopback."""

    def __init__(self, workdir: str | Path, rules_path: str | None = None, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.database = str(self.workdir / "slaclock.db")
        self.sandbox_port, self.receiver_port = free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.receiver_url = f"http://127.0.0.1:{self.receiver_port}"
        self.env = {
            **os.environ,
            "SLACLOCK_DATABASE": self.database,
            "SLACLOCK_ENV_FILE": str(self.workdir / "no.env"),
            "SLACLOCK_POLL_SECONDS": "0.05",
            "SLACLOCK_LOG_LEVEL": "WARNING",
            "ZENDESK_URL": self.sandbox_url,
            "ZENDESK_EMAIL": API_EMAIL,
            "ZENDESK_API_TOKEN": API_TOKEN,
            "ZENDESK_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **(env or {}),
        }
        if rules_path:
            self.env["SLACLOCK_RULES"] = rules_path
        self.processes: dict[str, subprocess.Popen] = {}
        self.http = requests.Session()

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.workdir / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen([sys.executable, *args], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, cwd=self.workdir)

    def start(self) -> "Stack":
        """Start the three processes and wait until each answers."""
        Store(self.database)  # migrate once before two processes race to
        self._spawn("sandbox", "-m", "sandbox", "--port", str(self.sandbox_port),
                    "--webhook-url", f"{self.receiver_url}/webhooks/zendesk", "--webhook-secret", WEBHOOK_SECRET,
                    "--email", API_EMAIL, "--token", API_TOKEN)
        self._spawn("serve", "-m", "app", "serve", "--port", str(self.receiver_port), "--workers", "1")
        self._spawn("worker", "-m", "app", "worker")
        wait_until(lambda: self.http.get(f"{self.sandbox_url}/_sandbox/stats", timeout=1).ok, 20, "the sandbox")
        wait_until(lambda: self.http.get(f"{self.receiver_url}/readyz", timeout=1).ok, 20, "the receiver")
        return self

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

    def customer_creates(self, subject: str, priority: str | None, reason_code: str | None) -> str:
        """Create a ticket as a customer would (not as slaclock's API user); return its id."""
        fields = [{"id": 360001, "value": reason_code}] if reason_code else []
        body = {"ticket": {"subject": subject, "comment": {"body": subject}, "priority": priority,
                           "custom_fields": fields}}
        response = self.http.post(f"{self.sandbox_url}/_sandbox/agent/tickets", json=body, timeout=5)
        response.raise_for_status()
        return str(response.json()["ticket"]["id"])

    def agent_changes(self, ticket_id: str, **changes: Any) -> None:
        """Change a ticket as a human agent in the helpdesk UI would."""
        response = self.http.post(f"{self.sandbox_url}/_sandbox/agent/tickets/{ticket_id}",
                                  json={"ticket": changes}, timeout=5)
        response.raise_for_status()

    def ticket(self, ticket_id: str) -> dict:
        """The sandbox's ticket with all its comments (public and internal)."""
        data = self.http.get(f"{self.sandbox_url}/_sandbox/tickets/{ticket_id}", timeout=5).json()
        return {**data["ticket"], "comments": data["comments"]}

    def stats(self) -> dict:
        return self.http.get(f"{self.sandbox_url}/_sandbox/stats", timeout=5).json()

    def faults(self, **fault: Any) -> None:
        self.http.post(f"{self.sandbox_url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()

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


def run_demo(out: TextIO) -> int:
    """Run the scripted scenario and print every ticket's timeline and the API calls used."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="slaclock-demo-") as workdir, Stack(workdir) as stack:
        print(f"sandbox {stack.sandbox_url} · receiver {stack.receiver_url} · database {stack.database}", file=out)
        tickets = [stack.customer_creates(*case) for case in SCENARIO]
        escalated = stack.customer_creates("Customer chasing a late refund", "normal", None)
        reprioritised = stack.customer_creates("Gate code does not work", "normal", "access_issue")
        stack.settle()
        print("\nan agent's macro adds the escalation tag; another agent raises a priority to urgent", file=out)
        rules = load_rules(stack.env.get("SLACLOCK_RULES"))
        current = stack.ticket(escalated)["tags"]
        stack.agent_changes(escalated, tags=[*current, rules.escalation.tag])
        stack.agent_changes(reprioritised, priority="urgent")
        stack.settle()
        store = Store(stack.database)
        for ticket_id in [*tickets, escalated, reprioritised]:
            ticket = stack.ticket(ticket_id)
            notes = [c for c in ticket["comments"] if not c["public"]]
            print(f"\n== zendesk:{ticket_id} «{ticket['subject']}» group {ticket['group_id']} · "
                  f"priority {ticket['priority']} · {len(notes)} internal note(s)", file=out)
            print("\n".join(format_timeline(store, f"zendesk:{ticket_id}")), file=out)
        stats = stack.stats()
        print(f"\nAPI calls served by the sandbox: {stats['total']}", file=out)
        for route, count in sorted(stats["api_calls"].items()):
            print(f"  {count:4d}  {route}", file=out)
        print(f"webhooks sent: {stats['webhooks']['sent']} · demo took {time.monotonic() - started:.1f} s", file=out)
    return 0
