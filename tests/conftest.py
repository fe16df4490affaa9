import os

import pytest
from hypothesis import HealthCheck, settings

from jobs.demo import Stack
from store import Store
from tests.stacks import SHARED_ENV

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

    Tests share it by each creating its own tickets and reading back only those."""
    with Stack(tmp_path_factory.mktemp("e2e"), env=SHARED_ENV) as running:
        yield running
