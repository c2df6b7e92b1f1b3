"""Browser-test fixtures: one Debian Chromium for all browser tests, a fresh context per test,
and the "chain" demo data (1 org, 3 regions, 30 stores) loaded into the live server's database.

pytest-django's ``live_server`` runs the app in a thread against the test database; the tests
get a transactional database that is flushed after every test, which also clears django-axes'
attempt tables; role rows are re-created on demand by ``Role.objects.ensure``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = os.environ.get("AUTOCRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-sandbox",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests, closed after the last of them.

    Playwright's sync API keeps an event loop running in this thread, so Django's ORM would
    refuse the tests' (and the database flush's) queries as "async-unsafe": allowed here, only
    while the browser is open, so later tests and their subprocesses do not inherit it."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with pytest.MonkeyPatch.context() as mp, sync_playwright() as p:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Demo:
    base_url: str
    store_ids: dict[str, int]  # store code (s001…s030) -> pk
    store_names: dict[str, str]  # store code -> name


@pytest.fixture
def demo(live_server, transactional_db) -> Demo:
    from axes.models import AccessAttempt, AccessFailureLog

    from autocrm.core.demo import load_demo
    from autocrm.core.models import Store

    # The previous test's flush must have removed every sign-in failure and lockout.
    assert not AccessAttempt.objects.exists()
    assert not AccessFailureLog.objects.exists()
    result = load_demo("chain", extend=False)
    assert result.created
    stores = list(Store.objects.values_list("code", "pk", "name"))
    return Demo(
        base_url=live_server.url,
        store_ids={code: pk for code, pk, _name in stores},
        store_names={code: name for code, _pk, name in stores},
    )


@pytest.fixture
def new_context(browser: Browser, demo: Demo) -> Iterator[Callable[..., BrowserContext]]:
    """Make fresh browser contexts (own cookies); a Chinese-speaking browser by default."""
    contexts: list[BrowserContext] = []

    def make(**options) -> BrowserContext:
        options.setdefault("locale", "zh-CN")
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=demo.base_url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()
