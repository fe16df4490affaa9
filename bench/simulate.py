"""`slaclock simulate --rules` replay rate: ticket histories per second through the current and a new rules file.

    python bench/simulate.py [--tickets 5000]

Stores `--tickets` histories in a fresh SQLite database as the processor records them (a new ticket, an agent's
public reply, the solve by a support lead with its resolution path: three decisions each, over a month), then times what `simulate` does: read them back
and replay each through the example rules and a changed copy (routing and thresholds), KPIs included. The
figure is histories per second of wall time, both rules sets together. Goal (issue 18): ≥ 5,000 /s.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.figures import Figure, report, require  # noqa: E402
from connectors.model import Ticket  # noqa: E402
from jobs.processor import heard, snapshot  # noqa: E402
from rules import EXAMPLE_RULES, load_rules, parse_rules  # noqa: E402
from simulate.compare import compare, period_of  # noqa: E402
from simulate.history import ticket_histories  # noqa: E402
from simulate.pool import cores  # noqa: E402
from simulate.replay import horizon  # noqa: E402
from store import open_store  # noqa: E402

GOAL = 5_000
START = datetime(2026, 11, 2, tzinfo=timezone.utc)
REASONS = ("missing_part", "wrong_item", "site_not_ready", "access_issue", "damage", None)
PRIORITIES = ("low", "normal", "normal", "high", "urgent")
# The agent who solves (a support lead in the example roles) and the resolution-path field a solve must fill.
AGENT, RESOLUTION_PATH = "9002", "360013"


def changed_rules():
    """The example rules with wrong items routed to Support and the first resolution warning at 40 %."""
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    for old, new in (('wrong_item = "warehouse"', 'wrong_item = "support"'),
                     ("  { percent = 50 },                          # warn the team",
                      "  { percent = 40 },                          # warn the team")):
        require(old in text, f"the example rules no longer hold {old!r}: update bench/simulate.py")
        text = text.replace(old, new)
    return parse_rules(text, source="changed.toml")


def _entry(ticket: Ticket, at: datetime, events: list[str], **said) -> dict:
    return {"events": events, "inputs": {}, "changes": {}, "ticket": snapshot(ticket), "heard": heard(**said)}


def store_histories(path: Path, tickets: int, seed: int = 18) -> None:
    """`tickets` three-decision histories, written as the processor writes its decision lines."""
    rng, store = random.Random(seed), open_store(str(path))
    with store.write_txn() as txn:
        for n in range(tickets):
            opened = START + timedelta(minutes=rng.randrange(30 * 24 * 60))
            ticket = Ticket("zendesk", str(n + 1), "new", rng.choice(PRIORITIES), opened, updated_at=opened,
                            subject=f"Order {n}", requester_id="900", reason_code=rng.choice(REASONS))
            reply, solved = opened + timedelta(minutes=rng.randrange(5, 600)), None
            solved = reply + timedelta(minutes=rng.randrange(30, 5000))
            steps = [(opened, ticket, ["ticket.created"], {}),
                     (reply, Ticket(**{**ticket.__dict__, "status": "open", "updated_at": reply}),
                      ["ticket.comment_added"], {"agent_reply_at": reply}),
                     (solved, Ticket(**{**ticket.__dict__, "status": "solved", "updated_at": solved,
                                        "custom_fields": {RESOLUTION_PATH: "Replaced the part"}}),
                      ["ticket.status_changed"], {"actor_id": AGENT})]
            for at, seen, events, said in steps:
                txn.add_timeline(connector="zendesk", ticket_id=seen.ticket_id, at=at, kind="decision",
                                 summary="decided", detail=_entry(seen, at, events, **said))
    store.close()


def measure(args) -> list[Figure]:
    current, new = load_rules(), changed_rules()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        store_histories(path, args.tickets)
        store = open_store(str(path))
        began = time.perf_counter()
        histories = ticket_histories(store)
        now = START + timedelta(days=40)
        result = compare(histories, current, new, period_of(histories, None, horizon(histories, now)),
                         jobs=cores())
        seconds = time.perf_counter() - began
        store.close()
    require(result.histories == args.tickets and result.decisions > 0,
            f"replayed {result.histories} of {args.tickets} histories ({result.decisions} decisions): nothing to time")
    require(result.decisions_changed > 0, "the changed rules changed no decision: the replay compared nothing")
    rate = result.histories / seconds
    print(f"simulate: {result.histories:,} histories ({result.decisions:,} recorded decisions, "
          f"{result.decisions_changed:,} changed) through two rules sets on {cores()} processes in {seconds:.2f} s "
          f"→ {rate:,.0f} /s")
    return [Figure("simulate replay", f"{rate:,.0f} histories/s", f"≥ {GOAL:,} /s", rate >= GOAL,
                   f"{rate / GOAL:.2f}×")]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=5_000)
    return p


if __name__ == "__main__":
    sys.exit(report("simulate", measure, parser().parse_args()))
