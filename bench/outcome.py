"""The comparison that matters (seed 000's claim, measured on a model): a generated capacity-constrained month
under no escalation, Zendesk-style hourly automations and slaclock with the example rules.

    python bench/outcome.py [--tickets 600] [--seed 1] [--predictive]

The same as `slaclock simulate --workload N`; the model's assumptions are in docs/simulation.md. The figures:
slaclock's breach rate against each other policy's, in the same run on the same tickets. Goal: below both.
`--predictive` adds slaclock with predictive escalation on (`simulate.predictive`), against the fixed thresholds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.figures import Figure, report, require  # noqa: E402
from rules import load_rules  # noqa: E402
from simulate.predictive import last_month, predictive_policy  # noqa: E402
from simulate.workload import POLICIES, compare_policies, render  # noqa: E402


def measure(args) -> list[Figure]:
    policies = dict(POLICIES)
    if args.predictive:
        history = last_month(args.tickets, args.seed, load_rules())
        policies["slaclock_predictive"] = lambda rules: predictive_policy(rules, history)
    results = compare_policies(args.tickets, args.seed, policies=policies)
    print(render(results, args.tickets, args.seed))
    require(all(r.median_first_response_minutes is not None for r in results.values()),
            "a policy answered no ticket: the month simulated nothing")
    require(results["none"].breach_rate > 0, "nothing breached without escalation: the month put no strain on the "
                                             "agents, so it cannot compare escalation policies (raise --tickets)")
    ours = results["slaclock"].breach_rate
    figures = [Figure(f"outcome: breach rate, slaclock vs {name}", f"{ours:.1%} vs {r.breach_rate:.1%}",
                      f"below {name}", ours < r.breach_rate, f"{ours / r.breach_rate:.2f}×")
               for name, r in results.items() if name not in ("slaclock", "slaclock_predictive")]
    if args.predictive:
        predicted = results["slaclock_predictive"].breach_rate
        figures.append(Figure("outcome: breach rate, predictive vs fixed thresholds",
                              f"{predicted:.1%} vs {ours:.1%}", "below the fixed thresholds", predicted < ours,
                              f"{predicted / ours:.2f}×" if ours else "-"))
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=600)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--predictive", action="store_true", help="add slaclock with predictive escalation on")
    return p


if __name__ == "__main__":
    sys.exit(report("outcome", measure, parser().parse_args()))
