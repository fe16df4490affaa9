"""Signed Zendesk webhooks per second and ack latency, against a bare Flask 204 endpoint in the same server.

    python bench/ingest.py [--requests 2000] [--clients 4]

Starts gunicorn (1 worker, 4 threads) serving slaclock's receiver plus a bare route `/bare`
that returns 204, then sends the same number of requests to each from `--clients` threads.
The ratio is the figure to compare between runs; absolute numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from jobs.demo import free_port, wait_until  # noqa: E402

SECRET = "bench-secret"


def serve(port: int, database: str) -> None:
    """Child process: the receiver and the bare endpoint under one gunicorn."""
    from gunicorn.app.base import BaseApplication

    from app import build_connectors, create_app
    from rules import load_rules
    from store import Store

    env = {"ZENDESK_URL": "http://127.0.0.1:9", "ZENDESK_EMAIL": "b@example.com", "ZENDESK_API_TOKEN": "t",
           "ZENDESK_WEBHOOK_SECRET": SECRET}
    rules = load_rules()
    app = create_app({"STORE": Store(database), "RULES": rules, "CONNECTORS": build_connectors(env, rules)})
    app.add_url_rule("/bare", "bare", lambda: ("", 204), methods=["POST"])

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": 1, "threads": 4, "accesslog": None}.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    Server().run()


def signed_event(ticket_id: int) -> tuple[bytes, dict]:
    body = json.dumps({
        "type": "zen:event-type:ticket.priority_changed", "account_id": 1, "id": str(uuid.uuid4()),
        "time": datetime.now(timezone.utc).isoformat(), "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {"id": str(ticket_id), "actor_id": "7", "status": "OPEN", "priority": "HIGH", "tags": [],
                   "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"},
        "event": {"current": "HIGH", "previous": "LOW"},
    }).encode()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(SECRET.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return body, {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": signature,
                  "X-Zendesk-Webhook-Signature-Timestamp": stamp}


def load(url: str, bodies: list[tuple[bytes, dict]], clients: int, expect: int) -> tuple[float, list[float]]:
    local = threading.local()

    def one(item):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        started = time.perf_counter()
        response = session.post(url, data=item[0], headers=item[1], timeout=10)
        elapsed = time.perf_counter() - started
        assert response.status_code == expect, (response.status_code, response.text)
        return elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, bodies))
    return time.perf_counter() - started, latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), f"{tmp}/bench.db"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 20, "the server")
            warm = [signed_event(n + 1) for n in range(100)]
            load(f"{base}/webhooks/zendesk", warm, args.clients, 202)
            load(f"{base}/bare", warm, args.clients, 204)
            events = [signed_event(1000 + n) for n in range(args.requests)]
            ours_s, ours = load(f"{base}/webhooks/zendesk", events, args.clients, 202)
            bare_s, bare = load(f"{base}/bare", events, args.clients, 204)
        finally:
            server.terminate()
            server.wait(10)
    rate, bare_rate = args.requests / ours_s, args.requests / bare_s
    print(f"ingest: {args.requests} signed webhooks, {args.clients} clients, gunicorn 1 worker × 4 threads")
    print(f"  slaclock /webhooks/zendesk: {rate:7.0f} req/s  p50 {pct(ours, 50):6.2f} ms  p99 {pct(ours, 99):6.2f} ms")
    print(f"  bare Flask 204:             {bare_rate:7.0f} req/s  p50 {pct(bare, 50):6.2f} ms  p99 {pct(bare, 99):6.2f} ms")
    print(f"  ratio slaclock/bare: throughput {rate / bare_rate:.2f}×, p50 latency {pct(ours, 50) / pct(bare, 50):.2f}×, "
          f"p99 latency {pct(ours, 99) / pct(bare, 99):.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
