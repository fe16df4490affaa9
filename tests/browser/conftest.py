"""Browser tests: Playwright for Python driving Debian's chromium, headless, against a real `slaclock serve`.

Where chromium or playwright is missing they skip with the reason, except in CI (CI=true), where `.ci/run`
installs both and a missing one fails the run."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.stacks import absent_outside_ci

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine notes say: no sandbox as root, and no background connections (the closed network refuses them).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1360, "height": 860}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session")
def playwright_driver():
    missing = _missing()
    if missing:
        absent_outside_ci(missing)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser_for(playwright_driver, tmp_path) -> Iterator[Callable]:
    """`browser_for(name)`: a fresh headless chromium (its own new user-data dir) as one person; closed after."""
    opened = []

    def launch(name: str):
        context = playwright_driver.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{name}"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        opened.append(context)
        return context
    yield launch
    for context in opened:
        context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where each page's screenshot is kept (the test prints each path)."""
    return tmp_path_factory.mktemp("screenshots")
