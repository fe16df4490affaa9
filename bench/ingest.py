"""Signed Zendesk webhooks per second and p99 ack latency, against a bare Flask 204 endpoint in the same server.

    python bench/ingest.py [--seconds 10] [--rounds 3] [--connections 4] [--threads 2] [--database URL] [--receivers 1]

Starts gunicorn (1 worker, 4 threads) serving slaclock's receiver plus a bare route `/bare` that
returns 204, then loads each for the same time with `wrk` (Debian's package; the script installs it
with apt-get when missing) and a Lua script that sends distinct, pre-signed bodies, so every request
to slaclock is a new delivery that must be durably committed (synchronous=FULL) before its 202.
Prints the client's and the server's CPU beside the figures: a load generator that is itself the
bottleneck measures nothing. The two routes are loaded in turn for `--rounds` rounds (each round with bodies of
its own) and each route's best round counts, as in bench/decide.py: on a shared machine the other processes'
load only ever slows a round down. Goals (issue 17): throughput ≥ 0.9× bare, p99 ≤ 2× bare.

`--receivers N` starts N such servers on one store (`--database`: a PostgreSQL URL, default a SQLite file)
and loads each with its own wrk and its own bodies at once, as a load balancer would spread the deliveries;
the rates add up and the latencies are the slowest receiver's (bench/scale.py compares 2 receivers with 1).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.figures import Figure, report, require  # noqa: E402
from jobs.demo import free_port, wait_until  # noqa: E402
from store import is_postgres_url, open_store  # noqa: E402

SECRET = "bench-secret"
LUA = Path(__file__).with_name("ingest.lua")
THROUGHPUT_GOAL, P99_GOAL = 0.9, 2.0


def serve(port: int, database: str) -> None:
    """Child process: the receiver and the bare endpoint under one gunicorn."""
    from gunicorn.app.base import BaseApplication

    from app import build_connectors, create_app
    from rules import load_rules

    env = {"ZENDESK_URL": "http://127.0.0.1:9", "ZENDESK_EMAIL": "b@example.com", "ZENDESK_API_TOKEN": "t",
           "ZENDESK_WEBHOOK_SECRET": SECRET}
    rules = load_rules()
    app = create_app({"STORE": open_store(database), "RULES": rules, "CONNECTORS": build_connectors(env, rules)})
    app.add_url_rule("/bare", "bare", lambda: ("", 204), methods=["POST"])

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": 1, "threads": 4, "accesslog": None}.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    Server().run()


def signed_line(ticket_id: int) -> str:
    """One distinct ticket.priority_changed webhook, signed now: 'signature<TAB>timestamp<TAB>body'."""
    body = json.dumps({
        "type": "zen:event-type:ticket.priority_changed", "account_id": 1, "id": str(uuid.uuid4()),
        "time": datetime.now(timezone.utc).isoformat(), "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {"id": str(ticket_id), "actor_id": "7", "status": "OPEN", "priority": "HIGH", "tags": [],
                   "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"},
        "event": {"current": "HIGH", "previous": "LOW"},
    })
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(SECRET.encode(), stamp.encode() + body.encode(), hashlib.sha256).digest())
    return f"{signature.decode()}\t{stamp}\t{body}\n"


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing."""
    if shutil.which("wrk") is None:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
                       shell=True, check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its children so far (gunicorn's master and worker)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def load(wrk: str, targets: list[tuple[str, Path, int]], args, expect: int) -> dict:
    """One wrk run against each (url, bodies, server pid) of `targets`, all at once; their figures together (rates
    added, latencies the slowest target's) plus the client's and the servers' CPU share (1.0 = one core)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pids = [pid for _, _, pid in targets]
    server_before, started = sum(map(cpu_seconds, pids)), time.perf_counter()
    runs = [(url, subprocess.Popen([wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s",
                                    "--latency", "-s", str(LUA), url, "--", str(bodies), str(args.threads)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "BENCH_EXPECT": str(expect)}))
            for url, bodies, _ in targets]
    results = []
    for url, run in runs:
        stdout, stderr = run.communicate(timeout=300)
        line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
        require(run.returncode == 0 and line is not None, f"wrk failed on {url}: {stderr.strip() or stdout}")
        one = json.loads(line.removeprefix("RESULT "))
        require(one["ok"] > 0, f"{url}: no request answered {expect}")
        require(one["bad"] == 0 and one["socket_errors"] == 0,
                f"{url}: {one['bad']} answers other than {expect} and {one['socket_errors']} socket errors")
        # A body sent twice is a duplicate (200) to slaclock; the bare route answers anything alike.
        require(one["wrapped"] == 0 or expect == 204, f"{url}: wrk sent {one['wrapped']} bodies twice; generate more (--bodies)")
        results.append(one)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"ok": sum(r["ok"] for r in results), "rate": sum(r["ok"] / r["seconds"] for r in results),
              "p50_ms": max(r["p50_ms"] for r in results), "p99_ms": max(r["p99_ms"] for r in results)}
    result["client_cpu"] = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall
    result["server_cpu"] = (sum(map(cpu_seconds, pids)) - server_before) / wall
    return result


def measure(args) -> list[Figure]:
    """Run the comparison; the figures with their goals (`value`: slaclock's rate, requests per second)."""
    require(args.rounds >= 1, f"--rounds: expected 1 or more, got {args.rounds}")
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or f"{tmp}/bench.db"
        # Each receiver and round gets distinct bodies: a body sent twice would be a duplicate (200), not a delivery.
        files = [[Path(tmp) / f"bodies{r}-{n}.tsv" for n in range(args.receivers)] for r in range(args.rounds)]
        for r, paths in enumerate(files):
            for n, path in enumerate(paths):
                numbers = range(n, args.bodies * args.receivers, args.receivers)
                path.write_text("".join(signed_line(r * args.bodies * args.receivers + i + 1) for i in numbers))
        ports = [free_port() for _ in range(args.receivers)]
        servers = [subprocess.Popen([sys.executable, __file__, "--serve", str(port), database],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
        rounds = []
        try:
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for base in bases:
                wait_until(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 20, f"the server at {base}")
            for paths in files:
                rounds.append((load(wrk, [(f"{base}/webhooks/zendesk", bodies, server.pid)
                                          for base, bodies, server in zip(bases, paths, servers)], args, 202),
                               load(wrk, [(f"{base}/bare", bodies, server.pid)
                                          for base, bodies, server in zip(bases, paths, servers)], args, 204)))
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)
        stored = _count_inbox(database)
    accepted = sum(r[0]["ok"] for r in rounds)
    # wrk stops counting at its deadline: up to one request per connection may be stored but not counted.
    require(accepted <= stored <= accepted + args.connections * args.receivers * args.rounds,
            f"{accepted} webhooks were accepted but {stored} are in the inbox")
    store = "PostgreSQL" if is_postgres_url(database) else "SQLite, synchronous=FULL"
    print(f"ingest: wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, distinct signed bodies, "
          f"{args.receivers} × gunicorn 1 worker × 4 threads, {store}, {args.rounds} alternated rounds")
    for n, pair in enumerate(rounds, 1):
        for name, r in zip(("slaclock /webhooks/zendesk", "bare Flask 204"), pair):
            print(f"  {n}  {name:<27} {r['rate']:7.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                  f"server CPU {r['server_cpu']:.0%}  client CPU {r['client_cpu']:.0%}")
    ours = {"rate": max(r[0]["rate"] for r in rounds), "p99_ms": min(r[0]["p99_ms"] for r in rounds)}
    bare = {"rate": max(r[1]["rate"] for r in rounds), "p99_ms": min(r[1]["p99_ms"] for r in rounds)}
    throughput, p99 = ours["rate"] / bare["rate"], ours["p99_ms"] / bare["p99_ms"]
    return [Figure("ingest throughput vs bare Flask", f"{ours['rate']:,.0f} vs {bare['rate']:,.0f} req/s",
                   f"≥ {THROUGHPUT_GOAL}×", throughput >= THROUGHPUT_GOAL, f"{throughput:.2f}×", ours["rate"]),
            Figure("ingest p99 vs bare Flask", f"{ours['p99_ms']:.1f} vs {bare['p99_ms']:.1f} ms",
                   f"≤ {P99_GOAL}×", p99 <= P99_GOAL, f"{p99:.2f}×", ours["p99_ms"])]


def _count_inbox(database: str) -> int:
    store = open_store(database)
    try:
        return sum(store.delivery_counts().values())
    finally:
        store.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bodies", type=int, default=40_000, help="distinct signed bodies to prepare, per receiver and round")
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds of both routes; each route's best counts")
    p.add_argument("--database", help="the store: a PostgreSQL URL or SQLite path (default: a new SQLite file)")
    p.add_argument("--receivers", type=int, default=1, help="servers on that store, each loaded by its own wrk")
    p.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    return p


def main() -> int:
    args = parser().parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0
    return report("ingest", measure, args)


if __name__ == "__main__":
    sys.exit(main())
