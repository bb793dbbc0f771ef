"""Real-browser fixtures: Debian's Chromium driven by Playwright against the live web UI.

Playwright never downloads a browser here: it launches `/usr/bin/chromium` (or
`JOINTPOOL_TEST_CHROMIUM`) headless. Without it the tests skip, except under
`JOINTPOOL_TEST_REQUIRE_CLIENTS=1` (set by .ci/run, which installs it), where they fail.
Every test in this folder is marked `browser` (`-m "not browser"` leaves them out).

Fixtures:

    chromium        (session)  the launched browser.
    browser_pages   (function) `BrowserPages`: `.new(...)` a fresh context's page on the live
                               web UI (its own cookies), watched for dialogs, console errors
                               and page errors; contexts are closed after the test.
    signed_in_page  (function) `signed_in_page(members, "kztv", "editor") -> Page`: a page
                               signed in through the real sign-in form, on `/`.
    screenshot      (function) `screenshot(page, "uploads")` saves
                               test-artifacts/screenshots/<test>/<nn>-uploads.png; every open
                               page is also saved when the test ends (passed or not).

Helpers: `watch_of(page) -> PageWatch` (the dialogs and errors seen on that page).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
)
from playwright.sync_api import Error as PlaywrightError

from tests.fixtures.api import LiveServer, Members

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
HERE = Path(__file__).parent
# A laptop; tests that check the tablet layout make their own 768 px wide context.
LAPTOP = {"width": 1280, "height": 860}
TABLET = {"width": 768, "height": 1024}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `browser` (before `-m` deselects by marker)."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class PageWatch:
    """What a page did that a test may forbid: dialogs, console errors, script errors."""

    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        """Remember and dismiss it (an unanswered dialog would block the page)."""
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(self, message: ConsoleMessage) -> None:
        """Remember console errors (CSP violations are reported there)."""
        if message.type != "error":
            return
        # Browsers ask for /favicon.ico by themselves; the UI has none (not a page's fault).
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")


def watch_of(page: Page) -> PageWatch:
    """The watch the `browser_pages` fixture attached to this page."""
    watch: PageWatch = page._jointpool_watch  # type: ignore[attr-defined]
    return watch


def attach_watch(page: Page) -> PageWatch:
    """Record the page's dialogs, console errors and uncaught script errors."""
    watch = PageWatch()
    page.on("dialog", watch.on_dialog)
    page.on("console", watch.on_console)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    page._jointpool_watch = watch  # type: ignore[attr-defined]
    return watch


def artefact_name(text: str) -> str:
    """A file-system friendly name for a test id or page name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "page"


@dataclass
class Screenshots:
    """Numbered screenshots of one test, under test-artifacts/screenshots/<test>/."""

    folder: Path
    count: int = 0

    def __call__(self, page: Page, name: str, *, full_page: bool = True) -> Path:
        """Save what the page shows now; the file's path."""
        self.count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.count:02d}-{artefact_name(name)}.png"
        # caret="initial": hiding the caret would put style="" on every input, which htmx then
        # copies while settling a swap, and the CSP reports that as a violation.
        page.screenshot(path=str(path), full_page=full_page, caret="initial")
        return path


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshots:
    """Save numbered screenshots of pages as test artefacts."""
    folder = SCREENSHOTS / artefact_name(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    return Screenshots(folder)


@dataclass
class BrowserPages:
    """Fresh browser contexts on the live web UI, each with its own cookies."""

    browser: Browser
    base_url: str
    contexts: list[BrowserContext] = field(default_factory=list)

    def new(self, *, viewport: dict[str, int] | None = None, locale: str = "en-US") -> Page:
        """A page in a new context (no cookies), its `goto` relative to the live server."""
        size: Any = viewport or LAPTOP  # Playwright's ViewportSize is a TypedDict
        context = self.browser.new_context(base_url=self.base_url, viewport=size, locale=locale)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        attach_watch(page)
        return page

    def pages(self) -> list[Page]:
        """Every page still open."""
        return [page for context in self.contexts for page in context.pages]

    def close(self) -> None:
        """Close every context this test opened."""
        for context in self.contexts:
            with contextlib.suppress(PlaywrightError):  # already closed by the test
                context.close()


@pytest.fixture
def browser_pages(
    chromium: Browser, live_web: LiveServer, screenshot: Screenshots
) -> Iterator[BrowserPages]:
    """Pages on the live web UI; each open page is saved as a screenshot at the end."""
    pages = BrowserPages(chromium, live_web.base_url)
    yield pages
    for page in pages.pages():
        with contextlib.suppress(PlaywrightError):  # a crashed or closed page shows nothing
            screenshot(page, "at-end")
    pages.close()


def sign_in_with_form(page: Page, username: str, password: str) -> None:
    """Sign in through the real form, as a person would, and wait for the home page."""
    page.goto("/signin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/signin).*$"))


SignedInPage = Callable[..., Page]


@pytest.fixture
def signed_in_page(browser_pages: BrowserPages) -> SignedInPage:
    """`signed_in_page(members, org, role, **page_options) -> Page`, signed in on `/`.

    Each call opens its own browser context, so several members can be signed in at once
    (an editor who requests a licence and the rights manager who approves it).
    """

    def open_page(members: Members, org: str, role: str = "editor", **options: Any) -> Page:
        page = browser_pages.new(**options)
        sign_in_with_form(page, members.username(org, role), members.password(org, role))
        return page

    return open_page
