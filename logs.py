"""slaclock's log lines: readable text (the default) or one JSON object per line, secrets masked, and the access log.

`configure(env)` sets the root handler for `serve` and `worker`; `access_log(app)` adds one line per request;
`gunicorn_logger_class(formatter)` makes gunicorn's own lines (worker boot, timeouts) use the same format.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import datetime, timezone
from typing import Iterable, Mapping

from connectors.settings import SettingsError

LOG_FORMATS = ("text", "json")
TEXT_LAYOUT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Variables whose values are credentials: masked wherever they would appear in a log line.
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY)", re.I)
# Shorter values are not masked: replacing every "abc" in every line would hide more than it protects, and no
# real token or signing secret is that short (Zendesk's are 40+ characters, Atlassian's 190+).
MIN_MASKED_LENGTH = 8
MASK = "[redacted]"
ACCESS_LOGGER = "slaclock.access"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def log_format(env: Mapping[str, str]) -> str:
    """SLACLOCK_LOG_FORMAT: `text` (default) or `json`, any case; SettingsError otherwise."""
    raw = env.get("SLACLOCK_LOG_FORMAT", "").strip()
    if not raw:
        return "text"
    if raw.lower() not in LOG_FORMATS:
        raise SettingsError(f"SLACLOCK_LOG_FORMAT: expected text or json, got {raw[:40]!r}")
    return raw.lower()


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of the credential variables in `env` (each part of a `new,old` rotation pair), longest first."""
    values: set[str] = set()
    for name, value in env.items():
        if SECRET_NAME.search(name) and value:
            values |= {part.strip() for part in value.split(",") if len(part.strip()) >= MIN_MASKED_LENGTH}
    return sorted(values, key=len, reverse=True)


def extra_fields(record: logging.LogRecord) -> dict:
    """The `extra=` fields of a record."""
    return {k: v for k, v in vars(record).items() if k not in STANDARD_ATTRIBUTES}


class Masking:
    """Mixin for formatters: replaces each secret, as written and as escaped by repr() or JSON, with MASK."""

    secrets: tuple[str, ...] = ()

    def mask(self, line: str) -> str:
        for secret in self.secrets:
            for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]):
                line = line.replace(form, MASK)
        return line


class KeyValueFormatter(Masking, logging.Formatter):
    """Log lines with the event name first and the `extra=` fields as key=value pairs."""

    def __init__(self, fmt: str = TEXT_LAYOUT, secrets: Iterable[str] = ()):
        super().__init__(fmt)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        extra = extra_fields(record)
        return self.mask(super().format(record) + "".join(f" {k}={v!r}" for k, v in extra.items()))


class JsonFormatter(Masking, logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, event, every `extra=` field, and any traceback."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "event": record.getMessage()}
        # An extra field named like one of ours keeps its value under "extra.<name>" rather than replacing ours.
        entry.update({k if k not in entry else f"extra.{k}": v for k, v in extra_fields(record).items()})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.mask(json.dumps(entry, default=str, ensure_ascii=False))


def formatter(env: Mapping[str, str]) -> logging.Formatter:
    """The formatter SLACLOCK_LOG_FORMAT names, masking the credentials found in `env`."""
    secrets = secret_values(env)
    return JsonFormatter(secrets) if log_format(env) == "json" else KeyValueFormatter(secrets=secrets)


class StderrHandler(logging.StreamHandler):
    """A stream handler writing to whatever sys.stderr is at the time (tests and gunicorn replace it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(env: Mapping[str, str], level: str) -> logging.Formatter:
    """Send every log record to stderr at `level` in the configured format; return the formatter.

    Replaces the handler of an earlier call and leaves other handlers (a test runner's) alone."""
    chosen = formatter(env)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.setFormatter(chosen)
    root.addHandler(handler)
    root.setLevel(level)
    return chosen


def access_log(app) -> None:
    """Log one `http.request` line per request of `app`: method, path, status, duration_ms, remote_addr.

    The path has no query string, so a token passed as a parameter is never logged."""
    from flask import g, request

    access = logging.getLogger(ACCESS_LOGGER)

    # Both hooks run for every request: when the line would be dropped, they return at once.
    @app.before_request
    def start_timer() -> None:
        if access.isEnabledFor(logging.INFO):
            g.slaclock_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        if not access.isEnabledFor(logging.INFO):
            return response
        log_access(request.method, request.path, response.status_code, g.get("slaclock_started"),
                   request.remote_addr)
        return response


def log_access(method: str, path: str, status: int, started: float | None, remote_addr: str | None) -> None:
    """The `http.request` line of one request (`started`: its time.perf_counter() at arrival, if known)."""
    duration = (time.perf_counter() - started) * 1000 if started is not None else None
    logging.getLogger(ACCESS_LOGGER).info("http.request", extra={
        "method": method, "path": path, "status": status,
        "duration_ms": round(duration, 3) if duration is not None else None, "remote_addr": remote_addr})


def gunicorn_logger_class(chosen: logging.Formatter):
    """A gunicorn logger class whose error log (boot, worker exits, timeouts) uses `chosen`.

    gunicorn installs its own handlers with its own layout; slaclock writes the access log itself
    (`access_log`), so gunicorn's is left off."""
    from gunicorn.glogging import Logger

    class SlaclockGunicornLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(chosen)

    return SlaclockGunicornLogger
