"""What the browser tests share: Debian's chromium driven by Playwright (one browser per
test module), a fresh page per test whose console errors fail it and whose failure leaves
a screenshot in var/test-screenshots/, and signing in through the sign-in form."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from users import PASSWORD

from conftest import REPO, Server

CHROMIUM = shutil.which("chromium")
SCREENSHOTS = REPO / "var" / "test-screenshots"
TIMEOUT = 15_000  # ms


def launched_browser() -> Iterator:
    """Headless chromium for a module's `browser` fixture (`yield from` this)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@contextmanager
def page_for(browser, name: str, expected: tuple[str, ...] = ()) -> Iterator:
    """A fresh browser context and page; console errors fail the test (but the browser's
    own line about an answer the test provokes, such as `status of 413`, in `expected`),
    and any failure leaves a screenshot named after the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        unexpected = [e for e in errors if not any(part in e for part in expected)]
        assert not unexpected, unexpected
    except BaseException:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        raise
    finally:
        context.close()


def sign_in(page, server: Server, user: str, start: str = "ui/") -> None:
    page.goto(server.url + start)
    page.wait_for_url("**/ui/sign-in**")
    page.fill("#user", user)
    page.fill("#password", PASSWORD[user])
    page.click("#sign-in button[type=submit]")
    page.wait_for_url(lambda url: "/sign-in" not in url)
