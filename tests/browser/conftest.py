"""Fixtures for the real-browser tests: Debian's chromium driven by Playwright against live_server.

Playwright's sync API runs an event loop in the test's thread, which makes Django refuse ORM calls
from it (SynchronousOnlyOperation). The tests only read rows to check what the pages did, from a
thread that serves no request, so the guard is lifted for this folder alone.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from guichet.demo import ACCOUNTS, DEMO_PASSWORD
from guichet.testing import PDF_BYTES, totp_code

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("GUICHET_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"
TOTP_SECRETS = {account.email: account.totp_secret for account in ACCOUNTS}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module; each test opens its own contexts (cookie jars). Not one per
    session: Playwright's event loop stays set in the thread while it lives, and in a parallel
    run the same process goes on to other modules, whose code (pyHanko's asyncio.run when a
    document is sealed) must not find a loop there."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _browser_settings(settings: Any) -> None:
    """A cache of the test's own: TOTP codes are remembered as used (replay protection) and
    login failures are counted, which must not leak from one test, or from var/, to the next."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"browser-{uuid.uuid4()}",
        }
    }
    cache.clear()


@pytest.fixture
def new_context(browser: Any, live_server: Any) -> Iterator[Any]:
    """Opens browser contexts (separate people) on a phone screen, in French, as a Senegalese
    visitor's browser would ask; all are closed at the end of the test."""
    contexts: list[Any] = []

    def open_context(**options: Any) -> Any:
        context = browser.new_context(
            base_url=live_server.url,
            viewport=PHONE,
            locale="fr-FR",
            **options,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def pdf_path(tmp_path: Path) -> Path:
    path = tmp_path / "cni-awa.pdf"
    path.write_bytes(PDF_BYTES)
    return path


def take_screenshot(page: Any, name: str) -> None:
    """A full-page picture under test-results/, to look at what the phone screen showed."""
    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"{name}.png"), full_page=True)


def sign_in_through_pages(page: Any, email: str) -> None:
    """Through allauth's sign-in page, then its two-factor page for accounts that have TOTP."""
    if "/accounts/login/" not in page.url:
        page.goto("/accounts/login/")
    page.get_by_label("Courriel").fill(email)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    secret = TOTP_SECRETS.get(email, "")
    if secret:
        page.wait_for_url("**/accounts/2fa/authenticate/")
        page.get_by_label("Code").fill(totp_code(secret))
        page.get_by_role("button", name="Connexion").click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


@pytest.fixture
def screenshot() -> Any:
    return take_screenshot


@pytest.fixture
def sign_in() -> Any:
    return sign_in_through_pages
