"""Scale out on PostgreSQL (issue 16): workers and receivers added to one store, as ratios of one run.

    python bench/scale.py [--events 3000] [--seconds 10] [--connections 4] [--threads 2]

Three bursts drained through the whole pipeline against the sandbox, rate budget lifted (bench/worker.py's
measure: a fresh store each, SQLite first): 1 worker on SQLite, 1 worker on PostgreSQL, 2 workers on
PostgreSQL; then the ingest load (bench/ingest.py's measure) on 1 and on 2 receivers on PostgreSQL. The
server is the one SLACLOCK_TEST_POSTGRES_URL names, or else a throw-away cluster started with .ci/postgres's
own logic, with fsync and synchronous commit on (SLACLOCK_PG_DURABLE=1), as SQLite's synchronous=FULL is; the
server's durability settings are printed, since a server that does not fsync flatters PostgreSQL.
Every process shares this machine's cores with the sandbox and the database: the ratios say what a second
worker or receiver buys here (the core count is printed), not on a machine with cores to spare.
Goals: a second worker or receiver ≥ 1.5× the first; one worker on PostgreSQL ≥ 0.5× one on SQLite.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import ingest, worker  # noqa: E402
from bench.figures import Figure, report, require  # noqa: E402
from tests.postgres_support import URL_ENV, Databases  # noqa: E402

SCALE_GOAL, POSTGRES_VS_SQLITE_GOAL = 1.5, 0.5
# .ci/postgres's cluster, kept until this script's end: the shell stops it when its stdin closes (its trap).
CLUSTER = 'set -euo pipefail; source .ci/postgres >&2; trap stop_test_postgres EXIT; echo "$SLACLOCK_TEST_POSTGRES_URL"; read -r _'


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server: SLACLOCK_TEST_POSTGRES_URL's, or a throw-away durable cluster's."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        yield url
        return
    shell = subprocess.Popen(["bash", "-c", CLUSTER], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "SLACLOCK_PG_DURABLE": "1"})
    try:
        url = shell.stdout.readline().strip()
        require(url.startswith("postgresql://"), f"no PostgreSQL cluster started (.ci/postgres exited {shell.poll()})")
        yield url
    finally:
        shell.stdin.close()
        shell.wait(60)


def durability(url: str) -> str:
    """The server's version and the settings that decide what a commit costs."""
    with psycopg.connect(url) as conn:
        version, fsync, commit = (conn.execute(f"show {name}").fetchone()[0]
                                  for name in ("server_version", "fsync", "synchronous_commit"))
    return f"PostgreSQL {version.split()[0]}, fsync={fsync}, synchronous_commit={commit}"


def ratio(name: str, new: Figure, old: Figure, unit: str, goal: float) -> Figure:
    require(bool(new.value) and bool(old.value), f"{name}: a run measured nothing ({new.measured}, {old.measured})")
    times = new.value / old.value
    return Figure(name, f"{new.value:,.0f} vs {old.value:,.0f} {unit}", f"≥ {goal}×", times >= goal, f"{times:.2f}×")


def measure(args) -> list[Figure]:
    """The five runs; the three ratios with their goals."""
    def drain(workers: int, database: str | None) -> Figure:
        return worker.measure(worker.parser().parse_args(
            ["--events", str(args.events), "--workers", str(workers), *(["--database", database] if database else [])]))[0]

    def ingest_on(receivers: int, database: str) -> Figure:
        return ingest.measure(ingest.parser().parse_args(
            ["--seconds", str(args.seconds), "--connections", str(args.connections), "--threads", str(args.threads),
             "--bodies", str(args.bodies), "--receivers", str(receivers), "--database", database]))[0]

    with postgres_server() as server:
        print(f"scale: {durability(server)}; {os.cpu_count()} cores shared by every process", flush=True)
        databases = Databases(server)
        try:
            sqlite = drain(1, None)
            one, two = drain(1, databases.create()), drain(2, databases.create())
            ingest_one, ingest_two = ingest_on(1, databases.create()), ingest_on(2, databases.create())
        finally:
            databases.drop_all()
    return [ratio("scale: 2 workers vs 1, PostgreSQL", two, one, "deliveries/s", SCALE_GOAL),
            ratio("scale: 1 worker, PostgreSQL vs SQLite", one, sqlite, "deliveries/s", POSTGRES_VS_SQLITE_GOAL),
            ratio("scale: ingest, 2 receivers vs 1, PostgreSQL", ingest_two, ingest_one, "req/s", SCALE_GOAL)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=3000, help="the burst each worker run drains")
    p.add_argument("--seconds", type=int, default=10, help="each wrk run of the ingest load")
    p.add_argument("--connections", type=int, default=4, help="wrk connections per receiver")
    p.add_argument("--threads", type=int, default=2, help="wrk threads per receiver")
    p.add_argument("--bodies", type=int, default=40_000, help="distinct signed bodies per receiver and ingest run")
    return p


if __name__ == "__main__":
    sys.exit(report("scale", measure, parser().parse_args()))
