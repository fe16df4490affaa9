import os
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from jobs.demo import Stack
from store import Store, open_store
from tests.postgres_support import Databases, server_url
from tests.sandbox_support import FakeClock, Receiver
from tests.stacks import QUEUED, SHARED_ENV, assert_nothing_refused, example_rules_with

# Property tests: a quick pass locally, the thorough one in CI (.ci/run sets HYPOTHESIS_PROFILE=ci).
_PROFILE = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=150, **_PROFILE)
settings.register_profile("fast", max_examples=25, **_PROFILE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "slaclock.db")


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases]:
    """Databases on the test PostgreSQL server (tests/postgres_support.py): skips or fails without one."""
    databases = Databases(server_url())
    yield databases
    databases.drop_all()


@pytest.fixture
def postgres_url(postgres_databases) -> Iterator[str]:
    """The URL of a new, migrated, empty PostgreSQL database of this test's own."""
    url = postgres_databases.create()
    yield url
    postgres_databases.drop(url)


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path):
    """Each store in turn, empty: a module runs its store tests on both with `store = any_store` as its fixture."""
    if request.param == "sqlite":
        yield Store(tmp_path / "slaclock.db")
        return
    store = open_store(request.getfixturevalue("postgres_url"))
    yield store
    store.close()


@pytest.fixture(scope="session")
def stack(sqlite_stack):
    """The shared end-to-end stack (on SQLite; tests/test_e2e.py overrides it to run on both stores)."""
    return sqlite_stack


@pytest.fixture(scope="session")
def sqlite_stack(tmp_path_factory):
    """One sandbox, receiver and worker for every end-to-end test that needs no stack of its own.

    Tests share it by each creating its own tickets and reading back only those. Customer messages are
    off here (the vendor loop's own stack sends them): with the example rules an escalation's message
    to the customer goes out only in the customer's daytime, so write counts would depend on the hour."""
    yield from _shared_stack(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="session")
def postgres_stack(tmp_path_factory, postgres_databases):
    """The shared stack's twin on a PostgreSQL database (tests/test_e2e.py runs its scenarios on both)."""
    yield from _shared_stack(tmp_path_factory.mktemp("e2e-postgres"), postgres_databases.create())


def _shared_stack(workdir, database: str | None = None) -> Iterator[Stack]:
    rules = example_rules_with(workdir, "[customer_updates]\nenabled = true", "[customer_updates]\nenabled = false",
                               QUEUED)
    with Stack(workdir, env=SHARED_ENV, rules_path=rules, database=database) as running:
        yield running
    assert_nothing_refused(running)


# The sandbox tests' fixtures (tests/sandbox_support.py); `client` needs the module's own `make_app`.
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(make_app):
    return make_app().test_client()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()
