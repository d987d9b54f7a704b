"""Browser tests: Playwright (sync API) drives Debian's Chromium against the live_server.

One browser per session, a fresh context (cookies, storage) per test. Without
/usr/bin/chromium the tests are skipped, unless ``MANDANT_REQUIRE_BROWSER=1`` (CI), in which
case they fail loudly.
"""

import os
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

import pytest

# Re-exported: tests that do ``from conftest import PASSWORD`` get *this* module as
# ``conftest`` once pytest has loaded it (conftests outside packages share that module name).
from tests.conftest import PASSWORD  # noqa: F401

# Playwright's sync API runs an asyncio event loop in the test thread; Django would otherwise
# refuse ORM calls made from the test thread (the `world` fixture, assertions on the DB).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS_DIR = Path("/tmp/mandant-shots")
DEFAULT_TIMEOUT_MS = 10_000


def _browser_required() -> bool:
    return os.environ.get("MANDANT_REQUIRE_BROWSER", "") == "1"


@pytest.fixture(autouse=True)
def _browser_db(transactional_db):  # type: ignore[no-untyped-def]
    """Transactional DB: the live server thread must see committed data.

    Every transactional test ends with a flush, which also wipes the platform root tenant
    that a data migration created. Serialized rollback cannot bring it back here: once
    Playwright's event loop runs in the test thread, Django keeps this thread's connections
    per context (asgiref), so the test thread gets a new connection wrapper without the
    serialized contents. Re-create the root with the migration's own function instead.
    """
    from django.apps import apps

    import_module("mandant.tenants.migrations.0002_platform_root").create_root(apps, None)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests"
        if _browser_required():
            pytest.fail(f"MANDANT_REQUIRE_BROWSER=1 but {message}", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context):  # type: ignore[no-untyped-def]
    return context.new_page()


@pytest.fixture
def shots_dir() -> Iterator[Path]:
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    yield SHOTS_DIR
