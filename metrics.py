"""slaclock's Prometheus figures: the counters the receiver and the worker bump, and the gauges read from the store.

Counters live in `prometheus_client`'s multiprocess files when `enable_multiprocess` has run (serve and the
long-running worker call it, with the same directory, so one scrape of /metrics sums the gunicorn workers and
the slaclock worker); otherwise in this process. Gauges (queue depths, lease, tickets at risk, a refused rules
edit) are computed from the store at scrape time, so they need no shared files and are never stale.

`prometheus_client` picks its storage when it is first imported (it reads PROMETHEUS_MULTIPROC_DIR then), so
this module imports it lazily: `enable_multiprocess` must run before the first counter is touched.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator, Mapping

from store import is_postgres_url

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# "At risk": the next threshold (or the resolution deadline) falls within this long.
AT_RISK_WITHIN = timedelta(hours=1)
# Sweep lag buckets, seconds: the tests' stacks sweep every 0.25 s, production every 30 s by default.
SWEEP_LAG_BUCKETS = (0.5, 1, 5, 15, 30, 60, 120, 300, 900, 3600)
WEBHOOK_OUTCOMES = ("accepted", "duplicate", "rejected", "ignored", "unavailable")

_lock = threading.Lock()
_counters: dict[str, Any] | None = None


def directory(env: Mapping[str, str], database: str) -> Path:
    """The multiprocess directory: PROMETHEUS_MULTIPROC_DIR, else `<database>-metrics` beside the database
    (for a PostgreSQL URL, a directory named after it in the temp dir).

    Beside the database rather than a fresh temp dir: the worker is another process (often another unit or
    container) and must find the same directory; it already shares the database's directory with serve."""
    raw = env.get(MULTIPROC_ENV, "").strip()
    if raw:
        return Path(raw)
    if is_postgres_url(database):  # no directory to share: one per machine and database
        return Path(tempfile.gettempdir()) / f"slaclock-metrics-{hashlib.sha256(database.encode()).hexdigest()[:12]}"
    return Path(database).with_name(Path(database).name + "-metrics")


def enable_multiprocess(path: Path) -> Path:
    """Keep this process's counters in `path` (created), where every slaclock process of this database adds its own.

    The directory is not wiped: it holds only counters (summed over every process that ever wrote, so they
    keep counting across restarts); every gauge comes from the store."""
    global _counters
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    import sys
    if "prometheus_client.values" in sys.modules:
        # Imported before the variable was set (an in-process test, say): let the library pick its storage again.
        from prometheus_client import values
        values.ValueClass = values.get_value_class()
    with _lock:
        _counters = None
    return path


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def _build() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    def counter(name: str, doc: str, labels: tuple[str, ...]) -> Any:
        return Counter(name, doc, labels, registry=None)
    return {
        "webhooks": counter("slaclock_webhooks_received", "Webhook deliveries answered, by connector and outcome",
                            ("connector", "outcome")),
        "decisions": counter("slaclock_decisions", "Decisions taken (a write queued or no change needed)",
                             ("connector", "outcome")),
        "api_calls": counter("slaclock_api_calls", "Helpdesk API calls by connector, endpoint template and status",
                             ("connector", "endpoint", "status")),
        "budget_waits": counter("slaclock_rate_budget_waits", "Requests that waited for the rate budget",
                                ("connector",)),
        "budget_seconds": counter("slaclock_rate_budget_wait_seconds", "Seconds spent waiting for the rate budget",
                                  ("connector",)),
        "sweep_lag": Histogram("slaclock_sweep_lag_seconds",
                               "Seconds between a ticket's next_action_at and the sweep that queued it",
                               ("connector",), buckets=SWEEP_LAG_BUCKETS, registry=None),
        "webhook_children": {},
    }


def _get(name: str) -> Any:
    global _counters
    counters = _counters  # read without the lock: every request bumps a counter, and a contended lock under the
    if counters is None:  # GIL makes its threads queue for each other
        with _lock:
            if _counters is None:
                _counters = _build()
            counters = _counters
    return counters[name]


# --- what the code records ----------------------------------------------------------------------

def webhook(connector: str, outcome: str) -> None:
    """A webhook delivery was answered with `outcome` (one of WEBHOOK_OUTCOMES)."""
    # labels() takes the counter's lock at every call: every request comes here, so its children are kept.
    children = _get("webhook_children")
    child = children.get((connector, outcome))
    if child is None:
        child = children[(connector, outcome)] = _get("webhooks").labels(connector, outcome)
    child.inc()


def decision(connector: str, outcome: str) -> None:
    """The processor decided on a ticket: outcome `write` (a write queued) or `no_change`."""
    _get("decisions").labels(connector, outcome).inc()


def api_call(method: str, path: str, status: int | str) -> None:
    """A helpdesk API call answered `status` (an HTTP status, or `timeout` / `connection-error`).

    Its endpoint label is the method and the client's URL template: `PUT /api/v2/tickets/{ticket_id}.json`."""
    _get("api_calls").labels(connector_of(path), f"{method.upper()} {endpoint(path)}", str(status)).inc()


def budget_wait(path: str, seconds: float) -> None:
    """A request to `path` waited `seconds` for its connector's rate budget."""
    connector = connector_of(path)
    _get("budget_waits").labels(connector).inc()
    _get("budget_seconds").labels(connector).inc(seconds)


def sweep_lag(connector: str, seconds: float) -> None:
    """The sweeper queued a ticket `seconds` after its next_action_at."""
    _get("sweep_lag").labels(connector).observe(max(0.0, seconds))


# --- endpoint templates ---------------------------------------------------------------------------

def connector_of(path: str) -> str:
    """The helpdesk a path belongs to: Zendesk's API is under /api/v2/, Jira's and JSM's under /rest/."""
    if path.startswith("/api/v2/"):
        return "zendesk"
    return "jira" if path.startswith("/rest/") else "other"


def _templates() -> list[tuple[re.Pattern[str], str]]:
    """The clients' own URL templates (every `*_URL` constant), as patterns matching a concrete path."""
    import jira.client
    import zendesk.client
    templates = {value for module in (zendesk.client, jira.client) for name, value in vars(module).items()
                 if name.endswith("_URL") and isinstance(value, str) and value.startswith("/")}
    patterns = []
    for template in sorted(templates, key=lambda t: (t.count("{"), -len(t))):  # literal segments first
        regex = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+?", re.escape(template))
        patterns.append((re.compile(f"^{regex}$"), template))
    return patterns


_TEMPLATES: list[tuple[re.Pattern[str], str]] | None = None
# A path segment that is an id: digits, a Jira issue key (SD-12) or a long hex job id.
_ID_SEGMENT = re.compile(r"^(?:[0-9]+|[A-Za-z][A-Za-z0-9_]*-[0-9]+|[0-9a-f]{16,})(?=\.json$|$)")


def endpoint(path: str) -> str:
    """The path as its URL template (`/api/v2/tickets/{ticket_id}.json`): ids never become label values."""
    global _TEMPLATES
    path = path.split("?", 1)[0]
    if _TEMPLATES is None:
        _TEMPLATES = _templates()
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return template
    # A path no client template names: every id-like segment (but the API version) becomes {id}.
    parts = path.split("/")
    return "/".join(p if i < 4 or not _ID_SEGMENT.match(p) else _ID_SEGMENT.sub("{id}", p)
                    for i, p in enumerate(parts))


# --- the scrape -------------------------------------------------------------------------------------

class StoreCollector:
    """The gauges read from the store at each scrape."""

    def __init__(self, store, now: datetime):
        self.store, self.now = store, now

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        def family(name: str, doc: str, labels: list[str], samples: Mapping[tuple[str, ...], float]):
            metric = GaugeMetricFamily(name, doc, labels=labels)
            for values, value in sorted(samples.items()):
                metric.add_metric(list(values), value)
            return metric

        inbox = {"pending": 0, "processing": 0, "failed": 0, **self.store.delivery_counts()}
        outbox = {"pending": 0, "sending": 0, "failed": 0, **self.store.outbox_counts()}
        yield family("slaclock_inbox_depth", "Inbox rows by status", ["status"], {(k,): v for k, v in inbox.items()})
        yield family("slaclock_outbox_depth", "Outbox rows by status", ["status"], {(k,): v for k, v in outbox.items()})
        yield family("slaclock_parked_rows", "Rows that wait for an admin's retry (outbox: parked writes; inbox: "
                     "failed deliveries)", ["queue"], {("outbox",): outbox["failed"], ("inbox",): inbox["failed"]})
        yield family("slaclock_lease_holder", "1 for the worker holding a live lease (it sweeps and reconciles)",
                     ["lease", "holder"], {(lease, holder): 1 for lease, holder, _ in self.store.live_leases(self.now)})
        risk = self.store.ticket_risk(self.now, AT_RISK_WITHIN)
        yield family("slaclock_tickets_at_risk", "Open tickets whose next threshold or resolution deadline falls "
                     "within an hour", ["connector"], {(c,): n["at_risk"] for c, n in risk.items()})
        yield family("slaclock_tickets_breached", "Open tickets with a breached clock that has not stopped",
                     ["connector"], {(c,): n["breached"] for c, n in risk.items()})
        outcomes = self.store.job_outcomes("reconcile")
        yield family("slaclock_reconciler_ok", "1 when the connector's last reconcile pass succeeded, 0 when refused",
                     ["connector"], {(c,): 1 if o["outcome"] == "ok" else 0 for c, o in outcomes.items()})
        from jobs.rules_file import rules_in_use  # jobs imports this module
        rules = rules_in_use(self.store)
        yield family("slaclock_rules_refused", "1 while the worker refuses the rules file's latest edit (it runs on "
                     "the version named), 0 when it runs on the file as it is", ["version"],
                     {(rules["version"],): 1 if rules["refused"] else 0} if rules else {})


def render(store, now: datetime) -> tuple[bytes, str]:
    """The Prometheus text exposition of every slaclock figure: (body, content type)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    if multiprocess():
        from prometheus_client.multiprocess import MultiProcessCollector
        MultiProcessCollector(registry)
    else:
        for name in ("webhooks", "decisions", "api_calls", "budget_waits", "budget_seconds", "sweep_lag"):
            registry.register(_get(name))
    registry.register(StoreCollector(store, now))
    return generate_latest(registry), CONTENT_TYPE_LATEST
