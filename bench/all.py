"""Every benchmark in one run, one table: figure · goal · measured · ratio.

    python bench/all.py [--quick] [--write BENCHMARKS.md]

Runs bench/ingest.py, worker.py, decide.py, sweep.py (sweep cost, detection, memory, storm),
economy.py, reaction.py, clock.py, scale.py, simulate.py and outcome.py one after another, each with its own preconditions: a benchmark whose run
proves nothing fails, and the table says so instead of printing a number. `--quick` shrinks each
run (for a smoke test; its figures are not the goals' sizes). `--write` regenerates BENCHMARKS.md
from this run: the table, then a sentence per figure on what it means.
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.figures import BenchError, Figure  # noqa: E402

# (module, its arguments for a full run, for a --quick run)
BENCHMARKS = [
    ("ingest", [], ["--seconds", "3", "--rounds", "1"]),
    ("worker", [], ["--events", "300"]),
    ("decide", [], ["--decisions", "300", "--rounds", "1"]),
    ("sweep", [], ["--sizes", "1000", "5000", "--latency", "3", "--open", "5000", "--storm", "100"]),
    ("economy", [], []),
    ("reaction", [], ["--tickets", "10"]),
    ("clock", [], ["--quick"]),
    ("scale", [], ["--events", "300", "--seconds", "3"]),
    ("simulate", [], ["--tickets", "200"]),
    ("outcome", [], ["--tickets", "60"]),
]

# What each figure means, by the start of its name (BENCHMARKS.md).
MEANING = {
    "ingest throughput": "Signed webhooks accepted per second by `slaclock serve`, each durably committed "
                         "(synchronous=FULL) before its 202, against a bare Flask endpoint in the same gunicorn "
                         "under the same wrk load; deliveries that arrive together share one commit. The routes "
                         "take turns for three rounds and each route's best round counts.",
    "ingest p99": "The 99th-percentile time to the 202 under that load, against the bare endpoint's.",
    "worker": "Deliveries decided and written per second through the whole pipeline (claim → fresh read → "
              "decide → commit → deliver) by one worker draining a burst, rate budget lifted.",
    "decide()": "Pure decisions per second of CPU time, this code against the code before issue 17, timed "
                "alternately in the same run.",
    "sweep cost": "Time of a sweep with the same 100 tickets due among many more open ones: it follows what "
                  "is due, not what is open (an indexed range scan).",
    "detection": "From the instant a ticket reaches a threshold to the warning note visible in the helpdesk, "
                 "with that many other open tickets stored; Zendesk's hourly automations take up to an hour.",
    "memory of serve": "RAM held by `slaclock serve` (gunicorn master and worker together) at the end of the "
                       "detection run, as PSS: each page counted once, where a sum of RSS counts the pages the "
                       "forked worker shares with its master twice. On this machine sqlite-utils also imports "
                       "numpy (installed here for scipy, not a slaclock dependency): about 12 MB per process.",
    "memory of worker": "RAM held by `slaclock worker` at the end of the detection run (PSS; RSS beside).",
    "storm": "Zendesk write calls spent when that many urgent tickets reach a threshold at the same instant "
             "(update_many takes 100 tickets a call); reads and job polls are counted beside.",
    "API calls per lifecycle": "Helpdesk calls for one urgent ticket from creation through routing, three "
                               "warnings, an agent's escalation and the solve, against the fewest that lifecycle "
                               "needs given what the helpdesk's webhooks carry (bench/economy.py explains each).",
    "reaction": "Webhook → write-back visible at the sandbox, tickets one after another.",
    "API calls per routed ticket": "Calls slaclock makes to route one new ticket (a fresh read and one write).",
    "SLA clock": "Due-time computations per second on the example business calendar, day cache warm.",
    "scale: 2 workers": "The worker burst drained by two `slaclock worker` processes on one PostgreSQL database "
                        "against one, each run on a fresh database (every process shares this machine's cores with "
                        "the sandbox and the server; docs/scaling.md).",
    "scale: 1 worker": "The same burst drained by one worker on PostgreSQL against one on SQLite: what the "
                       "server store costs a single worker.",
    "scale: ingest": "Signed webhooks accepted per second by two receivers on one PostgreSQL database, each "
                     "loaded by its own wrk, against one receiver under one wrk.",
    "simulate replay": "Stored ticket histories (three recorded decisions each, plus the sweeps each rules set asks "
                       "for) read back and replayed by `slaclock simulate --rules` through the example rules and a "
                       "changed copy, KPIs included, per second of wall time.",
    "outcome": "On a generated capacity-constrained month (docs/simulation.md), the share of deadlines missed with "
               "slaclock's example rules against no escalation and against Zendesk-style hourly automations "
               "(`slaclock simulate --workload`).",
}


def run(name: str, argv: list[str]) -> tuple[list[Figure], str | None, float]:
    module = importlib.import_module(f"bench.{name}")
    started = time.perf_counter()
    print(f"\n=== bench/{name}.py {' '.join(argv)}", flush=True)
    try:
        return module.measure(module.parser().parse_args(argv)), None, time.perf_counter() - started
    except (BenchError, TimeoutError) as e:
        return [], str(e), time.perf_counter() - started


def table(results: list[tuple[str, list[Figure], str | None]]) -> list[str]:
    rows = ["| figure | goal | measured | ratio | |", "|---|---|---|---|---|"]
    for name, figures, error in results:
        if error:
            rows.append(f"| bench/{name}.py | — | **the run proved nothing:** {error} | | FAILED |")
        for f in figures:
            mark = {True: "met", False: "**not met**", None: ""}[f.met]
            rows.append(f"| {f.name} | {f.goal} | {f.measured} | {f.ratio} | {mark} |")
    return rows


def write(path: Path, rows: list[str], results, quick: bool) -> None:
    seen, meanings = set(), []
    for _, figures, _ in results:
        for f in figures:
            key = next((k for k in MEANING if f.name.startswith(k)), None)
            if key and key not in seen:
                seen.add(key)
                meanings.append(f"- **{f.name}**: {MEANING[key]}")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path.write_text("\n".join([
        "# Benchmarks", "",
        f"Generated by `python bench/all.py{' --quick' if quick else ''} --write BENCHMARKS.md` on {stamp}, "
        f"one run of every benchmark on {os.cpu_count()} cores ({platform.machine()}, Python "
        f"{platform.python_version()}); the machine is shared and noisy, so compare the ratios within the run, "
        "not absolute numbers across runs. Each benchmark checks its own preconditions and fails loudly "
        "rather than print a figure its run cannot support.", "",
        *rows, "", "## What each figure means", "", *meanings, ""]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=[b[0] for b in BENCHMARKS])
    parser.add_argument("--write", type=Path, help="regenerate this Markdown file (BENCHMARKS.md) from the run")
    args = parser.parse_args()
    results = []
    for name, full, quick in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        figures, error, seconds = run(name, quick if args.quick else full)
        print(f"=== bench/{name}.py: {'FAILED: ' + error if error else 'done'} in {seconds:.0f} s", flush=True)
        results.append((name, figures, error))
    rows = table(results)
    print("\n" + "\n".join(rows))
    if args.write:
        write(args.write, rows, results, args.quick)
    return 1 if any(error for _, _, error in results) else 0


if __name__ == "__main__":
    sys.exit(main())
