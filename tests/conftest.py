import os
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from jobs.demo import Stack
from store import Store
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
def stack(tmp_path_factory):
    """One sandbox, receiver and worker for every end-to-end test that needs no stack of its own.

    Tests share it by each creating its own tickets and reading back only those. Customer messages are
    off here (the vendor loop's own stack sends them): with the example rules an escalation's message
    to the customer goes out only in the customer's daytime, so write counts would depend on the hour."""
    workdir = tmp_path_factory.mktemp("e2e")
    rules = example_rules_with(workdir, "[customer_updates]\nenabled = true", "[customer_updates]\nenabled = false",
                               QUEUED)
    with Stack(workdir, env=SHARED_ENV, rules_path=rules) as running:
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
