"""Varied walks through `decide`, each decision in a canonical text: to check that a speed-up changes nothing.

    python -m tests.equivalence [--against main] [--walks 600]

decides the walks with this checkout and with `--against` (a commit checked out in a temporary worktree) and
prints the first decisions that differ. A walk is one ticket (normal, urgent, tier gold, vendor, keyword
trigger, ...) decided again and again as the processor would: agent and customer replies, manual escalations
by several roles, status changes, vendor updates, sweeps at the decision's next action, the helpdesk taking
each write. Rules: the example and variants (business-hours resolution, OLA budgets, alerts, no roles).
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import random
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OLA = "\n[ola]\nwarn_percent = 75\nbudgets = { support = \"24h\", specialist = \"8h\", acme_parts = \"48h\" }\n"
NO_ROLES = ("enforce = true", "enforce = false")
GOLD_ORGANIZATION = ('organizations = []', 'organizations = ["77"]')
KEYWORDS = ("", "", "", "there was smoke from the unit", "possible gdpr issue", "I was charged twice")
REPLIES = ("yes it works now, thanks", "no, still broken", "ok", "")
ACTORS = (None, None, "3101", "3120", "9002", "3102", "3106")


def rules_sets() -> dict[str, object]:
    """The rules the walks run on, by name."""
    from rules import EXAMPLE_RULES, parse_rules
    from tests.alerts_support import alert_rules_text
    from tests.business_rules import business_resolution_rules
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    return {"example": parse_rules(text), "business": business_resolution_rules(),
            "ola": parse_rules(text.replace(*GOLD_ORGANIZATION) + OLA), "alerts": parse_rules(alert_rules_text("business")),
            "lenient": parse_rules(text.replace(*NO_ROLES))}


def canon(value: object) -> object:
    """`value` as plain JSON data: dataclasses by field, sets sorted, instants in ISO form."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, {f.name: canon(getattr(value, f.name)) for f in dataclasses.fields(value)}]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted((canon(v) for v in value), key=json.dumps)
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canon(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return ["datetime", value.isoformat(), str(value.tzinfo)]
    if isinstance(value, timedelta):
        return ["timedelta", value.total_seconds()]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def walk(seed: int, steps: int, rules: dict[str, object]) -> list[str]:
    """One ticket's decisions, each as canonical JSON (a walk's choices depend on the seed alone)."""
    from connectors.model import Ticket
    from rules import CaseMemory, decide
    from rules.decision import Rating, VendorUpdate
    from tests.fakes import written
    rng = random.Random(seed)
    name = rng.choice(sorted(rules))
    ruleset = rules[name]
    now = datetime(2026, 1, 2, tzinfo=UTC) + timedelta(minutes=rng.randrange(360 * 24 * 60))
    fields: dict[str, object] = {}
    if rng.random() < 0.4:
        fields["360008"] = rng.choice(["Europe/Berlin", "Asia/Kathmandu", "America/Los_Angeles"])
    if rng.random() < 0.2:
        fields["360005"] = (now + timedelta(hours=rng.randrange(1, 72))).isoformat()
    ticket = Ticket(rng.choice(["zendesk", "zendesk", "jira"]), str(seed), rng.choice(["new", "open"]),
                    rng.choice(["urgent", "urgent", "high", "normal", "low", None]), now,
                    subject=rng.choice(KEYWORDS), reason_code=rng.choice(
                        ["damage", "missing_part", "wrong_item", "defect", "defect", "access_issue", None]),
                    organization_id=rng.choice([None, None, "77"]),
                    tags=frozenset(rng.choice([(), (), ("tier_gold",), ("safety",)])), custom_fields=fields)
    memory, decisions = None, []
    for _ in range(steps):
        kind = rng.choice(["sweep", "sweep", "sweep", "touch", "reply", "customer", "escalate", "escalate",
                           "status", "priority", "vendor", "fields", "rating"])
        nxt = decisions[-1].next_action_at if decisions else None
        if kind == "sweep" and nxt is not None:
            now = nxt
        else:
            now += timedelta(minutes=rng.choice([1, 7, 30, 90, 240, 900, 3000]))
        inputs: dict[str, object] = {}
        changes: dict[str, object] = {}
        if kind == "reply":
            inputs["agent_reply_at"] = now
        elif kind == "customer":
            inputs.update(customer_message_at=now, customer_message_text=rng.choice(REPLIES))
        elif kind == "escalate":
            changes["tags"] = ticket.tags | {"slaclock_escalate"}
            inputs["actor_id"] = rng.choice(ACTORS)
            if rng.random() < 0.2:
                inputs["actor_group_ids"] = frozenset({"2010"})
        elif kind == "status":
            changes["status"] = rng.choice(["open", "pending", "hold", "solved", "solved"])
            inputs["actor_id"] = rng.choice(ACTORS)
        elif kind == "priority":
            changes["priority"] = rng.choice(["urgent", "high", "normal", "low"])
        elif kind == "vendor":
            inputs["vendor_update"] = VendorUpdate(now, eta=rng.choice([None, now + timedelta(hours=rng.randrange(
                1, 200))]), capacity_available=rng.choice([None, True, False]))
        elif kind == "fields":
            changes["custom_fields"] = {**ticket.custom_fields, "360007": "A-1", "360011": "3", "360012": "reboot",
                                        "360013": "replaced the part"}
        elif kind == "rating":
            inputs["rating"] = Rating(score=rng.randrange(1, 6))
        if kind != "sweep":
            changes["updated_at"] = now
        ticket = replace(ticket, **changes)
        d = decide(ticket, ruleset, now, memory, **inputs)
        decisions.append(d)
        memory = CaseMemory.from_json(json.loads(json.dumps(d.memory.to_json())))
        ticket = written(ticket, d)
        if d.status:
            ticket = replace(ticket, status="closed" if d.status == "closed" else d.status)
    return [json.dumps([name, seed, i, canon(d)], sort_keys=True) for i, d in enumerate(decisions)]


def decided(walks: int, steps: int = 8, first_seed: int = 0) -> list[str]:
    """Every walk's decisions, in order."""
    rules = rules_sets()
    return [line for seed in range(first_seed, first_seed + walks) for line in walk(seed, steps, rules)]


def _elsewhere(checkout: Path, walks: int) -> list[str]:
    # The walker is this file; the rules, the engine and the test helpers are the checkout's.
    code = ("import runpy, sys; walker = runpy.run_path(sys.argv[1]); "
            "print('\\n'.join(walker['decided'](int(sys.argv[2]))))")
    run = subprocess.run([sys.executable, "-c", code, __file__, str(walks)], cwd=checkout, capture_output=True,
                         text=True, env={"PYTHONPATH": f"{checkout}", "PATH": "/usr/bin:/bin",
                                         "PYTHONHASHSEED": "0"}, check=True)
    return run.stdout.splitlines()


def _differences(a: object, b: object, path: str = "") -> list[tuple[str, object, object]]:
    """Where two canonical values differ: the deepest paths, with both sides."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(a.keys() | b.keys()) for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [(path, a, b)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main")
    parser.add_argument("--walks", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), args.against],
                       check=True, capture_output=True)
        try:
            theirs = _elsewhere(other, args.walks)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], capture_output=True)
    ours = _elsewhere(ROOT, args.walks)
    differ = [(a, b) for a, b in zip(ours, theirs) if a != b]
    print(f"{len(ours)} decisions here, {len(theirs)} in {args.against}: {len(differ)} differ")
    for a, b in differ[:3]:
        (name, seed, step, (_, ours_now)), (*_, (_, theirs_now)) = json.loads(a), json.loads(b)
        print(f"rules {name}, walk {seed}, decision {step}:")
        for path, mine, other in _differences(ours_now, theirs_now):
            print(f"  {path}\n    here:  {json.dumps(mine)[:600]}\n    there: {json.dumps(other)[:600]}")
    return 0 if not differ and len(ours) == len(theirs) else 1


if __name__ == "__main__":
    sys.exit(main())
