"""API economy: the helpdesk calls slaclock spends on one ticket's lifecycle, against the minimum it needs.

    python bench/economy.py [--target 60]

One urgent ticket on each helpdesk, through: creation and routing, three threshold warnings (50, 75
and 90 % of a resolution target shortened to `--target` seconds so the run takes minutes, not hours),
one escalation asked by an agent (the escalation tag, with what a request carries), and the agent's solve
with the resolution path recorded (slaclock asks the customer to confirm). Counted from the sandbox's API log, per route, once the pipeline has settled.

The minimum (what the lifecycle cannot do without, given what each helpdesk's webhooks carry, whether its
writes can be conditional, and one comment per Zendesk update):
- Zendesk: three reads: at creation, at the escalation request and at the solve (its event webhooks carry
  no custom fields beside the one that changed, and one webhook per field with no count of how many the
  update made: the reason code, what the request carries and the resolution path need the ticket); none
  for the warnings (a sweep decides on the ticket as slaclock left it, under safe_update). One PUT for
  routing, one per warning, two for the escalation (the internal note, then the customer's update), two for
  the solve (the review note, then the request to confirm); one POST for the post-incident review ticket;
  one lookup of the agent's groups (their role); the API user's own id (users/me): 14.
- Jira: no read at creation, escalation or solve (its issue webhooks carry the whole issue); one read per
  warning (a write cannot be made conditional on the version: a sweep decides on what is there now). One
  PUT for routing; one internal comment per warning; for the escalation one PUT, its note and the
  customer's update; for the solve the request's feedback (CSAT), the review issue and its link, the review
  note, the request to confirm and the PUT of the label that marks the case awaiting confirmation; one
  lookup of the agent's groups; the API user's own id (myself): 18.
The API user's own id is read once per process: it is counted, as the stack is fresh.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.figures import Figure, report, require  # noqa: E402
from jobs.demo import EXAMPLE_RULES, Stack, wait_until  # noqa: E402

MINIMUM = {"zendesk": 14, "jira": 18}
WARNINGS = ("reached 50 %", "reached 75 %", "reached 90 %")


def bench_rules(workdir: Path, target_seconds: int) -> Path:
    """The example rules with urgent resolution shortened and three warnings on it (no ladder climbs)."""
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    urgent = re.compile(r'^urgent = \{ first_response = "30m", next_update = "1h", resolution = "4h" \}$', re.M)
    thresholds = re.compile(r"^resolution = \[\n(?:.*\n)*?\]\n", re.M)
    require(bool(urgent.search(text)) and bool(thresholds.search(text)),
            "the example rules no longer have the urgent target or resolution thresholds this bench edits")
    minutes = max(1, target_seconds // 60)
    text = urgent.sub(f'urgent = {{ first_response = "30m", next_update = "1h", resolution = "{minutes}m" }}', text)
    text = thresholds.sub("resolution = [{ percent = 50 }, { percent = 75 }, { percent = 90 }]\n", text, count=1)
    path = workdir / "economy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _notes(stack: Stack, helpdesk: str, ticket_id: str) -> list[str]:
    return stack.summary(ticket_id, helpdesk)["notes"]


def lifecycle(stack: Stack, helpdesk: str, target: timedelta) -> dict[str, int]:
    """Drive one ticket through its lifecycle on `helpdesk`; the API calls per route it cost."""
    before = stack.stats(helpdesk)["api_calls"]
    ticket_id = stack.customer_creates(f"economy {helpdesk}", "urgent", "missing_part", helpdesk)
    stack.settle()
    require(stack.team_of(ticket_id, helpdesk) == "purchasing", f"{helpdesk}: the ticket was not routed")
    for warning in WARNINGS:
        wait_until(lambda: any(warning in n for n in _notes(stack, helpdesk, ticket_id)), target.total_seconds() * 2,
                   f"{helpdesk}: the note '{warning}'", interval=0.2)
    stack.settle()
    stack.agent_escalates(ticket_id, helpdesk)  # with what an escalation request carries filled in
    stack.settle()
    require(any(n.startswith("Escalated to") for n in _notes(stack, helpdesk, ticket_id)[3:]),
            f"{helpdesk}: the agent's escalation left no note")
    stack.agent_solves(ticket_id, helpdesk)  # with the resolution path recorded
    stack.settle()
    require(any("Is everything working again?" in p for p in stack.summary(ticket_id, helpdesk)["public"]),
            f"{helpdesk}: the solve was not followed by the confirmation request")
    after = stack.stats(helpdesk)["api_calls"]
    return {route: after.get(route, 0) - before.get(route, 0) for route in after
            if after.get(route, 0) > before.get(route, 0)}


def measure(args) -> list[Figure]:
    """Both helpdesks' lifecycles in one stack; calls against the minimum."""
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        rules = bench_rules(Path(tmp), args.target)
        with Stack(tmp, rules_path=str(rules), env={"ZENDESK_RATE_PER_MINUTE": "100000",
                                                     "JIRA_RATE_PER_MINUTE": "100000"}) as stack:
            for helpdesk in ("zendesk", "jira"):
                started = time.perf_counter()
                calls = lifecycle(stack, helpdesk, timedelta(seconds=args.target))
                total = sum(calls.values())
                print(f"economy, {helpdesk}: one urgent ticket's lifecycle ({time.perf_counter() - started:.0f} s), "
                      f"{total} API calls (minimum {MINIMUM[helpdesk]}):")
                for route, count in sorted(calls.items()):
                    print(f"  {count:4d}  {route}")
                require(total > 0, f"{helpdesk}: no API call was counted")
                ratio = total / MINIMUM[helpdesk]
                figures.append(Figure(f"API calls per lifecycle, {helpdesk}", f"{total} calls",
                                      f"{MINIMUM[helpdesk]} (the minimum)", total <= MINIMUM[helpdesk],
                                      f"{ratio:.2f}× minimum"))
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", type=int, default=60, help="the urgent resolution target, in seconds (whole minutes)")
    return p


if __name__ == "__main__":
    sys.exit(report("economy", measure, parser().parse_args()))
