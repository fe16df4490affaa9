"""slaclock: the Flask app factory and the `slaclock` command. Wiring only: the routes are in `web/`."""
from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Mapping

from dotenv import load_dotenv
from flask import Flask
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from connectors.contract import Connector
from connectors.settings import SettingsError, boolean, number
from jobs.clock import utcnow
import metrics
from logs import access_log, configure, gunicorn_logger_class, log_format
from logs import formatter as log_formatter
from rules import Rules, RulesError, load_rules
from rules.wording import count
from store import Store, StoreError, is_postgres_url, open_store
from store.sqlite import BUSY_TIMEOUT_SECONDS
from web import (MAX_BODY_BYTES, RECEIVER_BUSY_TIMEOUT_SECONDS, health, http_error, store_failed, too_large,
                 vendor_api, webhooks)
from web import metrics as metrics_view
from web.admin import bp as admin_bp

logger = logging.getLogger("slaclock")

DESCRIPTION = """\
slaclock keeps the SLA clock beside Zendesk and Jira Service Management: it reads their webhooks,
routes, prioritises and escalates each ticket by one rules file, and writes back through their APIs."""
EPILOG = "Settings come from the environment or ./.env (every variable is described in .env.example)."


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Ranges of the process settings. The lower bounds keep the worker from spinning (a 0 s sweep or poll
# is a busy loop; the tests' stacks sweep every 0.25 s); the upper ones catch unit mistakes (minutes
# typed as seconds) and keep timedelta and Event.wait within what they accept.
PORTS = (1, 65_535)
POLL_SECONDS = (0.01, 60.0)
SWEEP_SECONDS = (0.1, 86_400.0)
RECONCILE_SECONDS = (0.1, 7 * 86_400.0)
NOTE_MOVE_MINUTES = (0.0, 7 * 1_440.0)
RULES_CHECK_SECONDS = (0.1, 3_600.0)
KEEP_DAYS = (0, 3_650)  # processed deliveries; 0 keeps them all
# Fewer days, and an alert held over a long weekend could no longer see who acted since it was queued.
MIN_KEEP_DAYS = 7
PRUNE_SECONDS = 3_600  # how often the lease holder deletes the deliveries past their keep
PROCESSES = (1, 64)  # gunicorn workers and threads per worker
WORKLOAD = (1, 100_000)  # tickets in `slaclock simulate --workload`'s month
JOBS = (1, 256)  # `slaclock simulate --jobs`: replay processes


def log_level(env: Mapping[str, str]) -> str:
    """SLACLOCK_LOG_LEVEL as logging's name for it (any case of DEBUG … CRITICAL); INFO when unset."""
    raw = env.get("SLACLOCK_LOG_LEVEL", "").strip()
    if not raw:
        return "INFO"
    if raw.upper() not in LOG_LEVELS:
        raise SettingsError(f"SLACLOCK_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)} (any case), got {raw[:40]!r}")
    return raw.upper()


def keep_days(env: Mapping[str, str]) -> int:
    """SLACLOCK_KEEP_DELIVERIES_DAYS: 0 (keep every delivery), or at least a week."""
    days = int(number(env, "SLACLOCK_KEEP_DELIVERIES_DAYS", 30, integer=True, minimum=KEEP_DAYS[0],
                      maximum=KEEP_DAYS[1]))
    if 0 < days < MIN_KEEP_DAYS:
        raise SettingsError(f"SLACLOCK_KEEP_DELIVERIES_DAYS: expected 0 (keep them all) or at least {MIN_KEEP_DAYS} "
                            f"days (an alert held over a long weekend checks who acted since it was queued), "
                            f"got {days}")
    return days


@dataclass(frozen=True)
class Settings:
    """Process-wide settings read from the environment (see .env.example), each range-checked."""

    database: str
    rules_path: str | None
    host: str
    port: int
    poll_seconds: float
    sweep_seconds: float
    reconcile_seconds: float
    note_move_minutes: float
    rules_check_seconds: float = 5.0
    keep_deliveries_days: int = 30
    log_level: str = "INFO"
    log_format: str = "text"
    pg_group_commit: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """Read SLACLOCK_* variables; raise SettingsError naming the variable for any bad value."""
        def within(name: str, default: float, bounds: tuple[float, float], integer: bool = False) -> float:
            low, high = bounds
            return number(env, name, default, integer=integer, minimum=low, maximum=high)

        database = env.get("SLACLOCK_DATABASE", "").strip() or "./slaclock.db"
        # SQLite creates the file but not its directory; say so before "unable to open database file".
        if not is_postgres_url(database) and not Path(database).parent.is_dir():
            raise SettingsError(f"SLACLOCK_DATABASE: the directory of {database[:200]!r} does not exist")
        return cls(
            database=database,
            rules_path=env.get("SLACLOCK_RULES", "").strip() or None,
            host=env.get("SLACLOCK_HOST", "").strip() or "127.0.0.1",
            port=int(within("SLACLOCK_PORT", 8080, PORTS, integer=True)),
            poll_seconds=within("SLACLOCK_POLL_SECONDS", 0.5, POLL_SECONDS),
            sweep_seconds=within("SLACLOCK_SWEEP_SECONDS", 30, SWEEP_SECONDS),
            reconcile_seconds=within("SLACLOCK_RECONCILE_SECONDS", 300, RECONCILE_SECONDS),
            note_move_minutes=within("SLACLOCK_NOTE_MOVE_MINUTES", 15, NOTE_MOVE_MINUTES),
            rules_check_seconds=within("SLACLOCK_RULES_CHECK_SECONDS", 5, RULES_CHECK_SECONDS),
            keep_deliveries_days=keep_days(env),
            log_level=log_level(env),
            log_format=log_format(env),
            pg_group_commit=boolean(env, "SLACLOCK_PG_GROUP_COMMIT", default=True),
        )


def build_connectors(env: Mapping[str, str], rules: Rules,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Connector]:
    """The configured connectors by name: Zendesk always, Jira when JIRA_URL is set.

    `sleep` is every wait of theirs (retry back-off, rate budget): the worker passes one that its stop cuts short."""
    from jira.connector import JiraConnector
    from jira.settings import JiraSettings
    from zendesk.connector import ZendeskConnector
    from zendesk.settings import ZendeskSettings

    connectors: dict[str, Connector] = {"zendesk": ZendeskConnector(ZendeskSettings.from_env(env, rules), sleep=sleep)}
    if env.get("JIRA_URL"):
        connectors["jira"] = JiraConnector(JiraSettings.from_env(env, rules), sleep=sleep)
    return connectors


def boot(env: Mapping[str, str], busy_timeout: float = BUSY_TIMEOUT_SECONDS,
         sleep: Callable[[float], None] = time.sleep) -> tuple[Settings, Rules, Store, dict[str, Connector]]:
    """Settings, rules, store (writers waiting `busy_timeout` s for the lock) and connectors (waiting with `sleep`).

    A bad setting raises SettingsError naming the variable, before anything is opened."""
    settings = Settings.from_env(env)
    rules = load_rules(settings.rules_path)
    try:
        connectors = build_connectors(env, rules, sleep)
    except ValueError as e:  # the connector settings name their variable too
        raise SettingsError(str(e)) from None
    return settings, rules, open_store(settings.database, busy_timeout, settings.pg_group_commit), connectors


def create_app(test_config: Mapping | None = None) -> Flask:
    """Build the webhook receiver. `test_config` may pass STORE, CONNECTORS, RULES and CLOCK."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if test_config:
        app.config.update(test_config)
    if "STORE" not in app.config:
        _, rules, store, connectors = boot(os.environ, RECEIVER_BUSY_TIMEOUT_SECONDS)
        app.config.update(STORE=store, RULES=rules, CONNECTORS=connectors)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(HTTPException, http_error)
    for store_error in (StoreError, sqlite3.Error):
        app.register_error_handler(store_error, store_failed)
    for blueprint in (webhooks.bp, vendor_api.bp, health.bp, metrics_view.bp, admin_bp):
        app.register_blueprint(blueprint)
    access_log(app)
    webhooks.direct(app)
    return app


# --- the `slaclock` command ------------------------------------------------------------------

def serve_workers(database: str) -> int:
    """gunicorn worker processes by default: one on SQLite, two on PostgreSQL. SQLite takes one writer at a time,
    and a second receiver process waiting for the file's write lock sleeps in SQLite's busy handler (1, 2, 5 ... 100
    ms): on the 2-core bench, 2 processes took 5-10 % more deliveries than 1 with a p99 of 69-172 ms against 4-7 ms."""
    return 2 if is_postgres_url(database) else 1


def cmd_serve(args, env) -> int:
    """Serve the webhook receiver with gunicorn (or the Flask dev server with --dev)."""
    settings, rules, store, connectors = boot(env, RECEIVER_BUSY_TIMEOUT_SECONDS)
    # Before any counter exists (gunicorn forks after this): its workers and the worker share these files.
    metrics.enable_multiprocess(metrics.directory(env, settings.database))
    from jobs.rules_file import RulesFile

    # The dashboard's names and report options follow the rules file as the worker's decisions do.
    watched = RulesFile(settings.rules_path, rules, lambda new: new, None, settings.rules_check_seconds)
    app = create_app({"STORE": store, "RULES": rules, "RULES_FILE": watched, "CONNECTORS": connectors})
    host, port = args.host or settings.host, args.port or settings.port
    if args.dev:
        # Werkzeug's own request lines would repeat the access log (logs.access_log) in another layout.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app.run(host=host, port=port, threaded=True)
        return 0
    from gunicorn.app.base import BaseApplication

    logger_class = gunicorn_logger_class(log_formatter(env))

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", args.workers or serve_workers(settings.database))
            self.cfg.set("threads", args.threads)
            self.cfg.set("accesslog", None)  # the app logs each request itself, in the configured format
            self.cfg.set("logger_class", logger_class)

        def load(self):
            return app

    # What the app built stays put: a forked worker then shares those pages with the master instead of
    # copying them when the collector touches their headers (the gc.freeze documentation's advice).
    gc.freeze()
    Server().run()
    return 0


def cmd_worker(args, env) -> int:
    """Run the processor, the deliverer and (while holding the lease) the sweeper and reconciler."""
    from alerts.channels import AlertDesk
    from jobs.deliverer import Deliverer, InFlight
    from jobs.processor import Processor
    from jobs.reconciler import Reconciler
    from jobs.recurring import RecurringDetector
    from jobs.retention import Retention
    from jobs.rules_file import RulesFile
    from jobs.scheduler import LeasedScheduler
    from jobs.sweeper import Sweeper
    from jobs.worker import Crew, interruptible_sleep, run_until_stopped, run_worker

    stop = threading.Event()
    sleep = interruptible_sleep(stop)
    settings, rules, store, connectors = boot(env, sleep=sleep)
    poll_seconds = args.poll or settings.poll_seconds
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    in_flight = InFlight()  # the batch jobs under way: a crew built for new rules takes them over

    def crew(rules: Rules, connectors: dict[str, Connector]) -> Crew:
        note_move = timedelta(minutes=settings.note_move_minutes)
        return Crew(connectors=connectors, reconciler=Reconciler(store, connectors),
                    recurring=RecurringDetector(store, rules),
                    processor=Processor(store, connectors, rules, note_move=note_move),
                    deliverer=Deliverer(store, connectors, alerts=AlertDesk.from_env(rules, env),
                                        in_flight=in_flight))

    parts, sweeper = crew(rules, connectors), Sweeper(store)
    if args.once:  # a one-off pass: its counters stay in this process (the store-read gauges show its effects)
        sweeper.run_once()
        parts.processor.run_once()
        parts.deliverer.run_once()
        parts.deliverer.finish_jobs(sleep)
        return 0

    def rebuilt(rules: Rules) -> Crew:
        # A connector whose settings the new rules leave as they were is kept, with its session and rate budget.
        fresh = build_connectors(env, rules, sleep)
        return crew(rules, {name: parts.connectors[name] if name in parts.connectors
                            and parts.connectors[name].settings == c.settings else c for name, c in fresh.items()})

    rules_file = RulesFile(settings.rules_path, rules, rebuilt, store, settings.rules_check_seconds)

    def reload() -> Crew:
        nonlocal parts
        parts = rules_file.poll() or parts
        return parts

    metrics.enable_multiprocess(metrics.directory(env, settings.database))  # /metrics of serve adds these up
    scheduler = LeasedScheduler(store, ttl_seconds=max(3 * settings.sweep_seconds, 30))
    # The first sweep at start: what fell due while no worker ran is escalated now, and the lease is held from now.
    scheduler.every(settings.sweep_seconds, sweeper.run_once, "sweep", at_start=True)
    scheduler.every(settings.reconcile_seconds, lambda: parts.reconciler.run_once(), "reconcile")
    # Clustering scans the open cases; once per reconcile interval is often enough for a 7-day window.
    scheduler.every(settings.reconcile_seconds, lambda: parts.recurring.run_once(), "recurring")
    scheduler.every(PRUNE_SECONDS, Retention(store, settings.keep_deliveries_days).run_once, "prune", at_start=True)
    logger.info("worker.started", extra={"database": settings.database, "holder": scheduler.holder,
                                         "rules": rules.version})
    try:
        finished = run_until_stopped(
            lambda: run_worker(parts.processor, parts.deliverer, stop, poll_seconds=poll_seconds,
                               scheduler=scheduler, reload=reload), stop)
    finally:
        scheduler.release()
    logger.info("worker.stopped", extra={"finished": finished})
    return 0


def cmd_sandbox(args, env) -> int:
    """Run the local sandbox helpdesk alone."""
    from sandbox.__main__ import main as sandbox_main

    sandbox_main([a for a in args.sandbox_args if a != "--"])
    return 0


def cmd_demo(args, env) -> int:
    """Run the scripted demo on loopback and print each ticket's timeline."""
    from jobs.demo import run_demo

    return run_demo(out=sys.stdout, verbose=args.verbose)


def cmd_check(args, env) -> int:
    """Validate configuration, rules and (unless --offline) credentials; print every problem."""
    problems: list[str] = []
    rules = None
    try:
        settings = Settings.from_env(env)
    except ValueError as e:
        problems.append(str(e))
        settings = None
    try:
        rules = load_rules(args.rules or (settings.rules_path if settings else env.get("SLACLOCK_RULES")))
        print(f"rules: ok (version {rules.version})")
    except RulesError as e:
        problems.extend(e.errors)
    if settings:
        problems.extend(_database_problems(settings.database))
    if rules is not None:
        problems.extend(_connector_problems(env, rules, online=not args.offline, webhook_url=args.webhook_url))
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


def _database_problems(path: str) -> list[str]:
    """An existing database opened read-only; a missing one is not created (serve and worker create it).
    A PostgreSQL URL: the server answers (its password never printed)."""
    if is_postgres_url(path):
        return _postgres_problems(path)
    if not Path(path).exists():
        print(f"database: not created yet ({path}); serve or worker creates it")
        return []
    try:
        with closing(sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)) as db:
            db.execute("SELECT 1 FROM sqlite_master")
    except sqlite3.Error as e:
        return [f"SLACLOCK_DATABASE: cannot read {path}: {e}"]
    print(f"database: ok ({path})")
    return []


def _postgres_problems(url: str) -> list[str]:
    import psycopg

    from store.postgres import redacted

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.Error as e:
        return [f"SLACLOCK_DATABASE: cannot reach {redacted(url)}: {str(e).strip()}"]
    print(f"database: ok ({redacted(url)})")
    return []


def _connector_problems(env: Mapping[str, str], rules: Rules, online: bool,
                        webhook_url: str | None = None) -> list[str]:
    """Each connector's settings problems; when there are none and `online`, what the helpdesk says about every id,
    field, permission and the webhook (checks/)."""
    try:
        connectors = build_connectors(env, rules)
    except ValueError as e:
        return [str(e)]
    problems: list[str] = []
    for name, connector in connectors.items():
        missing = connector.settings.problems()
        problems.extend(f"{name}: {p}" for p in missing)
        if not missing and online:
            try:
                connector.is_own_actor(None)  # reads the API user: proves URL and credentials
                print(f"{name}: credentials ok")
            except Exception as e:  # noqa: BLE001 - report any failure as a check problem
                problems.append(f"{name}: cannot reach the API with these credentials: {e}")
                continue
            feed = _change_feed_problems(name, connector)
            problems.extend(feed)
            # A 403 on the change feed already says "admin role"; the admin-only webhook reads would say it again.
            problems.extend(_helpdesk_problems(name, connector, rules, env, webhook_url, admin=not feed))
    return problems


def _helpdesk_problems(name: str, connector, rules: Rules, env: Mapping[str, str], webhook_url: str | None,
                       admin: bool = True) -> list[str]:
    """What the helpdesk says about the rules' ids, the fields, names, permissions and the webhook (checks/)."""
    from checks import jira as jira_checks
    from checks import zendesk as zendesk_checks
    from install.command import receiver_url

    expected = receiver_url(name, webhook_url, env)
    if name == "zendesk":
        found = zendesk_checks.problems(connector.client, connector.settings, rules, env, expected, admin)
    else:
        found = jira_checks.problems(connector.client, connector.settings, rules, env, expected)
    if not found:
        print(f"{name}: ids, fields, permissions and webhook ok")
    return found


def _change_feed_problems(name: str, connector) -> list[str]:
    """One reconciler pass's first read: a 403 means the lost-webhook safety net is off for this account."""
    from connectors.errors import ApiError

    try:
        connector.changed_tickets(None, datetime.now(timezone.utc))
    except ApiError as e:
        if e.status == 403:
            # Zendesk's incremental export is "Allowed For: Admins"; an agent's token is refused.
            return [f"{name}: the change feed answers 403, so the lost-webhook safety net (reconciler) is off: "
                    "give the API account the admin role"]
        return [f"{name}: the change feed failed: {e}"]
    return []


class NoDatabase(ValueError):
    """A command that only reads was pointed at a database file that does not exist."""


def existing_database(env: Mapping[str, str]) -> Settings:
    """The settings, when SLACLOCK_DATABASE names an existing file (or a PostgreSQL server); NoDatabase otherwise.

    Commands that only read use it: opening a missing SQLite file would create an empty database
    and answer "nothing there" about the wrong file. `main` prints the one line and exits 1."""
    settings = Settings.from_env(env)
    if not is_postgres_url(settings.database) and not Path(settings.database).is_file():
        raise NoDatabase(f"no database at {settings.database} (set SLACLOCK_DATABASE)")
    return settings


def cmd_install(args, env) -> int:
    """Create (or find and reuse) the helpdesk's fields and webhook; write their ids and secrets to the .env file."""
    from install.command import InstallError, run_install

    try:
        return run_install(args, env, out=sys.stdout, err=sys.stderr)
    except InstallError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def cmd_explain(args, env) -> int:
    """Print a ticket's timeline with each decision's inputs and rules."""
    from jobs.explain import explain

    settings = existing_database(env)
    rules = load_rules(settings.rules_path)
    return explain(open_store(settings.database), rules, args.ticket, out=sys.stdout,
                   connectors=build_connectors(env, rules))


def cmd_status(args, env) -> int:
    """Print what the running system is doing: connectors' health, queues, lease, last sweep, tickets at risk."""
    from jobs.status import status

    settings = existing_database(env)
    configured = ["zendesk", *(["jira"] if env.get("JIRA_URL") else [])]
    return status(open_store(settings.database), utcnow(), sys.stdout, as_json=args.json, connectors=configured)


def cmd_report(args, env) -> int:
    """Print the escalation KPIs of the cases opened in a period (default: the last 30 days)."""
    from reports.history import case_histories, report_options
    from reports.kpis import Period, report, report_by
    from reports.text import render

    settings = existing_database(env)
    until = args.until or datetime.now(timezone.utc)
    since = args.since or until - timedelta(days=30)
    if since >= until:
        print(f"error: --since {since:%Y-%m-%d} is not before --until {until:%Y-%m-%d}", file=sys.stderr)
        return 2
    options = report_options(load_rules(settings.rules_path))
    period, cases = Period(since, until), case_histories(open_store(settings.database))
    reports = report_by(cases, period, args.by, **options) if args.by else {"all": report(cases, period, **options)}
    print(render(reports, period, args.by, args.format))
    return 0


def cmd_simulate(args, env) -> int:
    """Replay the stored ticket histories through the current and a new rules file, and print what changes; or
    run a generated month of tickets under each escalation policy (`--workload N`)."""
    from simulate.command import simulate_rules, simulate_workload
    from simulate.pool import cores

    if args.workload is not None:
        return simulate_workload(args.workload, args.seed, args.format, sys.stdout)
    try:
        new = load_rules(args.rules)
    except RulesError as e:
        for line in e.errors:  # the same lines `slaclock check` prints
            print(f"error: {line}", file=sys.stderr)
        return 2
    settings = existing_database(env)
    return simulate_rules(open_store(settings.database), load_rules(settings.rules_path), new, args.rules,
                          args.since, utcnow(), args.format, sys.stdout, args.jobs or cores())


def _day(value: str) -> datetime:
    """An --since / --until date (2026-12-01) or instant, in UTC."""
    try:
        day = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-12-01, got {value!r}") from None
    return day.replace(tzinfo=timezone.utc) if day.tzinfo is None else day.astimezone(timezone.utc)


def _list_or_retry(args, rows: list, describe, retry, noun: tuple[str, str]) -> int:
    """`list` prints the rows; `retry ID… | --all` queues them again."""
    if args.action == "list":
        for row in rows:
            print(describe(row))
        print(count(len(rows), *noun))
        return 0
    if not args.ids and not args.all:
        print(f"error: name the {args.command} ids to retry, or pass --all", file=sys.stderr)
        return 2
    print(f"{count(retry(None if args.all else args.ids), *noun)} queued again")
    return 0


def cmd_inbox(args, env) -> int:
    """List deliveries that failed to process, or put them back in the queue."""
    store = open_store(existing_database(env).database)  # retry too: a new, empty database has nothing to retry
    return _list_or_retry(args, store.failed_deliveries(), lambda r: (
        f"#{r.id} {r.connector}:{r.ticket_id} {r.event_type} received={r.received_at.isoformat()} "
        f"error={r.error}"), store.retry_deliveries, ("failed delivery", "failed deliveries"))


def cmd_outbox(args, env) -> int:
    """List parked (failed) writes, or put them back in the queue."""
    store = open_store(existing_database(env).database)
    return _list_or_retry(args, store.parked(), lambda r: (
        f"#{r.id} {r.connector}:{r.ticket_id} attempts={r.attempts} "
        f"parked={r.done_at.isoformat() if r.done_at else None} error={r.last_error}"),
        lambda ids: store.retry_parked(ids, utcnow()), ("parked write", "parked writes"))


def cmd_vendor(args, env) -> int:
    """Issue or revoke a vendor's API token (for POST /vendor/eta)."""
    settings = Settings.from_env(env)
    rules = load_rules(settings.rules_path)
    team = rules.teams.get(args.team)
    if team is None or team.kind != "vendor":
        vendors = ", ".join(sorted(n for n, t in rules.teams.items() if t.kind == "vendor")) or "none"
        print(f"error: {args.team!r} is not a vendor team in the rules (vendor teams: {vendors})", file=sys.stderr)
        return 1
    store = open_store(settings.database)
    if args.action == "revoke":
        print(f"{count(store.revoke_vendor_tokens(args.team), 'token')} of {args.team} revoked")
        return 0
    token = store.issue_vendor_token(args.team, utcnow())
    print(f"token for {args.team} (shown once; slaclock keeps only its hash):\n{token}")
    return 0


ADMIN_ROLES = ("admin", "manager", "executive")  # web/admin/access.py says what each may do


def cmd_admin(args, env) -> int:
    """Issue (shown once) or revoke a dashboard sign-in token."""
    store = open_store(Settings.from_env(env).database)
    if args.action == "revoke":
        print(f"{count(store.revoke_admin_tokens(args.name), 'dashboard token')} of {args.name} revoked")
        return 0
    if not args.role:
        print("error: admin token needs --role admin|manager|executive", file=sys.stderr)
        return 2
    token = store.issue_admin_token(args.name, args.role, utcnow())
    print(f"dashboard token for {args.name} ({args.role}; shown once; slaclock keeps only its hash):\n{token}")
    return 0


def bounded(kind: Callable[[str], float], bounds: tuple[float, float]) -> Callable[[str], float]:
    """An argparse type: `kind(text)` within `bounds` (argparse reports the error and exits 2)."""
    low, high = bounds

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not low <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(f"expected a number from {low:g} to {high:g}, got {text[:40]!r}")
        return value
    convert.__name__ = kind.__name__
    return convert


def version() -> str:
    """slaclock's version: the installed package's metadata, else pyproject.toml beside this file (a plain checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("slaclock")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parent / "pyproject.toml"
        return tomllib.loads(pyproject.read_text())["project"]["version"] if pyproject.exists() else "unknown"


def _retry_command(sub, name: str, what: str, func) -> None:
    """`outbox` and `inbox`: `list`, or `retry ID… | --all`."""
    cmd = sub.add_parser(name, help=f"list or retry {what}", description=f"List {what}, or queue them again.")
    cmd.add_argument("action", choices=["list", "retry"], help=f"list: print the {what}; retry: queue them again")
    cmd.add_argument("ids", nargs="*", type=int, help=f"with retry: the ids to queue again (as `{name} list` shows)")
    cmd.add_argument("--all", action="store_true", help=f"with retry: queue every one of the {what} again")
    cmd.set_defaults(func=func)


def parser() -> argparse.ArgumentParser:
    """The `slaclock` command line: one subcommand per task, each option with its help text."""
    p = argparse.ArgumentParser(prog="slaclock", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"slaclock {version()}",
                   help="print slaclock's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("serve", help="run the webhook receiver (gunicorn)",
                       description="Serve the webhook receiver, the vendor API and the health checks.")
    s.add_argument("--host", help="address to listen on (default: SLACLOCK_HOST, 127.0.0.1)")
    s.add_argument("--port", type=bounded(int, PORTS), help="port to listen on, 1-65535 (default: SLACLOCK_PORT, 8080)")
    s.add_argument("--workers", type=bounded(int, PROCESSES),
                   help="gunicorn worker processes, 1-64 (default: 1 on SQLite, 2 on PostgreSQL)")
    s.add_argument("--threads", type=bounded(int, PROCESSES), default=4,
                   help="threads per worker process, 1-64 (default: 4)")
    s.add_argument("--dev", action="store_true", help="use the Flask development server instead of gunicorn")
    s.set_defaults(func=cmd_serve)
    w = sub.add_parser("worker", help="process deliveries, write back, sweep and reconcile",
                       description="Process deliveries and write back; while holding the lease, sweep and reconcile.")
    w.add_argument("--poll", type=bounded(float, POLL_SECONDS),
                   help="seconds to wait when idle, 0.01-60 (default: SLACLOCK_POLL_SECONDS, 0.5)")
    w.add_argument("--once", action="store_true", help="one sweep, one processing and one delivery pass, then exit")
    w.set_defaults(func=cmd_worker)
    sb = sub.add_parser("sandbox", help="run the local sandbox helpdesk (its own options: slaclock sandbox --help)",
                        add_help=False)
    sb.add_argument("sandbox_args", nargs=argparse.REMAINDER, help="the sandbox's own options")
    sb.set_defaults(func=cmd_sandbox)
    d = sub.add_parser("demo", help="run the scripted demo on loopback, both helpdesks",
                       description="Run the sandbox, the receiver and the worker on loopback and print, per "
                                   "helpdesk, a table of what slaclock made of each ticket.")
    d.add_argument("--verbose", action="store_true", help="also print every ticket's timeline and the API calls")
    d.set_defaults(func=cmd_demo)
    c = sub.add_parser("check", help="validate settings, rules and credentials; print every problem",
                       description="Validate the settings, the rules file and (unless --offline) the API credentials.")
    c.add_argument("--offline", action="store_true", help="do not call the helpdesk APIs")
    c.add_argument("--rules", metavar="FILE", help="check this rules file instead of SLACLOCK_RULES (an edit, "
                                                   "before it is saved over the file the worker runs on)")
    c.add_argument("--webhook-url", help="the receiver's public address the webhooks must send to, e.g. "
                                         "https://slaclock.example.com (default: SLACLOCK_PUBLIC_URL)")
    c.set_defaults(func=cmd_check)
    i = sub.add_parser("install", help="create the helpdesk fields and webhook slaclock needs; write the .env",
                       description="Create (or find and reuse) the reason-code field, the due-time fields and the "
                                   "webhook in the helpdesk, and write their ids and secrets to the .env file.")
    i.add_argument("helpdesk", choices=["zendesk", "jira"], help="the helpdesk to set up")
    i.add_argument("--webhook-url", help="where the helpdesk sends webhooks, e.g. https://slaclock.example.com/"
                                         "webhooks/zendesk (default: SLACLOCK_PUBLIC_URL plus that path)")
    i.add_argument("--env-file", help="the .env file to update in place (default: SLACLOCK_ENV_FILE, ./.env)")
    i.add_argument("--trigger", action="store_true", help="Zendesk: a trigger-connected webhook and the trigger "
                                                           "sending slaclock's JSON body, instead of event subscriptions")
    i.add_argument("--dry-run", action="store_true", help="print the plan and write nothing")
    i.set_defaults(func=cmd_install)
    e = sub.add_parser("explain", help="show a ticket's decisions, e.g. zendesk:123",
                       description="Print a ticket's timeline with each decision's inputs and rules.")
    e.add_argument("ticket", help="<connector>:<ticket id>, e.g. zendesk:123 or jira:SD-7")
    e.set_defaults(func=cmd_explain)
    st = sub.add_parser("status", help="what the running system is doing: connectors, queues, lease, tickets at risk",
                        description="Print the connectors' health, the inbox and outbox backlog, parked rows, the "
                                    "lease holder, the last sweep and reconcile, and the tickets at risk or breached.")
    st.add_argument("--json", action="store_true", help="print one JSON document (keys described in jobs/status.py)")
    st.set_defaults(func=cmd_status)
    r = sub.add_parser("report", help="escalation KPIs: breach rate, breaches averted, escalations per 1,000, …",
                       description="Print the escalation KPIs of the cases opened in a period.")
    r.add_argument("--since", type=_day, help="first day of the cases counted (default: 30 days before --until)")
    r.add_argument("--until", type=_day, help="the day after the last one counted (default: now)")
    r.add_argument("--by", choices=("team", "priority", "tier", "reason"), help="one row per team, priority, …")
    r.add_argument("--format", choices=("table", "csv", "json"), default="table", help="table (default), csv or json")
    r.set_defaults(func=cmd_report)
    sim = sub.add_parser("simulate", help="replay the stored tickets through a new rules file, or compare policies on a "
                         "generated month",
                         description="Replay the stored history of real tickets through the current and a new rules "
                                     "file (pure engine, nothing written to any helpdesk) and print the decisions "
                                     "that change and the KPIs side by side.")
    what = sim.add_mutually_exclusive_group(required=True)
    what.add_argument("--rules", help="the new rules file to try (validated as `slaclock check` does)")
    what.add_argument("--workload", type=bounded(int, WORKLOAD), metavar="N",
                      help=f"instead: generate a month of N tickets ({WORKLOAD[0]}-{WORKLOAD[1]:,}) and compare no "
                           "escalation, hourly automations and slaclock on it (docs/simulation.md)")
    sim.add_argument("--seed", type=int, default=1, help="with --workload: the generator's seed (default: 1)")
    sim.add_argument("--since", type=_day, help="only tickets opened on or after this day (default: all)")
    sim.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    sim.add_argument("--jobs", type=bounded(int, JOBS), metavar="N",
                     help="with --rules: replay on N processes (default: one per core this process may use)")
    sim.set_defaults(func=cmd_simulate)
    _retry_command(sub, "outbox", "parked writes", cmd_outbox)
    _retry_command(sub, "inbox", "deliveries that failed to process", cmd_inbox)
    v = sub.add_parser("vendor", help="issue or revoke a vendor team's API token",
                       description="Issue (shown once, stored hashed) or revoke a vendor team's token for /vendor/eta.")
    v.add_argument("action", choices=["token", "revoke"], help="token: issue a new token; revoke: revoke all of its")
    v.add_argument("team", help="a team of kind vendor in the rules file")
    v.set_defaults(func=cmd_vendor)
    a = sub.add_parser("admin", help="issue or revoke a dashboard (/admin) sign-in token",
                       description="Issue (shown once, stored hashed) or revoke a sign-in token for the dashboard.")
    a.add_argument("action", choices=["token", "revoke"], help="token: issue a new token; revoke: revoke all of NAME's")
    a.add_argument("name", help="who the token is for (shown on the dashboard)")
    a.add_argument("--role", choices=ADMIN_ROLES,
                   help="with token: executive reads, manager reads and retries, admin does everything")
    a.set_defaults(func=cmd_admin)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `slaclock` console script."""
    load_dotenv(os.environ.get("SLACLOCK_ENV_FILE", ".env"))
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:  # the sandbox parses its own flags, --help included
        argv = ["sandbox", "--", *argv[1:]]
    args = parser().parse_args(argv)  # --help and --version work whatever the settings
    try:
        configure(os.environ, log_level(os.environ))
    except SettingsError as e:
        print(f"slaclock: {e}", file=sys.stderr)
        return 2
    try:
        return args.func(args, os.environ)
    except SettingsError as e:
        # One line naming the variable, no traceback; 2 like a bad command line.
        print(f"slaclock: {e}", file=sys.stderr)
        return 2
    except RulesError as e:
        for line in e.errors:
            print(f"error: {line}", file=sys.stderr)
        return 1
    except (ValueError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
