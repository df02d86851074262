"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's live server.

Use the `page` fixture (a fresh browser context per test, its base URL the live server) and
`log_in`. Tests using them need `@pytest.mark.browser` and `@pytest.mark.django_db(transaction=True)`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse ORM calls here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed as root
    "--disable-gpu",
    "--disable-background-networking",  # else Chromium keeps trying the closed network
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}


# Module scope: while Playwright is started its event loop counts as running in this thread, which
# would upset async-aware code in unrelated tests that run later in the session.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, username: str, password: str, next_url: str = "/") -> None:
    """Sign in through the real login form and wait for the redirect to `next_url`."""
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**{next_url}")
