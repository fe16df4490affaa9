"""The PostgreSQL half of the tests: a fresh database per test, copied from a migrated template.

The server is the one `SLACLOCK_TEST_POSTGRES_URL` names (`.ci/run` starts a throw-away cluster and sets it);
without it the PostgreSQL half skips outside CI and fails in CI."""
from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.stacks import absent_outside_ci

URL_ENV = "SLACLOCK_TEST_POSTGRES_URL"


def server_url() -> str:
    """The test server's URL (any database on it), or skip / fail as `absent_outside_ci` says."""
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        absent_outside_ci(f"{URL_ENV} is not set (no PostgreSQL server for the tests; .ci/run starts one)")
    return url


def _with_dbname(server: str, name: str) -> str:
    """The server's URL naming another database."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


class Databases:
    """Creates databases on the test server from one migrated template, and drops them all at the end."""

    def __init__(self, server: str):
        from store.postgres import Store

        self.server = server
        self.template = f"slaclock_template_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self._admin(f"create database {self.template}")
        Store(_with_dbname(server, self.template)).close()  # migrate once; every test's database is a copy

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(sql)

    def create(self, migrated: bool = True) -> str:
        """A new empty database (`migrated`: with slaclock's schema, else with no tables at all); its URL."""
        name = f"slaclock_test_{uuid.uuid4().hex[:12]}"
        self._admin(f"create database {name} template {self.template if migrated else 'template0'} "
                    "strategy file_copy")
        self.created.append(name)
        return _with_dbname(self.server, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin(f"drop database if exists {name} with (force)")
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            self._admin(f"drop database if exists {name} with (force)")
        self.created.clear()
