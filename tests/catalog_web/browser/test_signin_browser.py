"""Signing in with the keyboard alone, and switching the UI language, in a real browser."""

from __future__ import annotations

import pytest

from tests.catalog_web.browser.conftest import BrowserPages, Screenshots, watch_of
from tests.fixtures.api import Members

pytestmark = pytest.mark.browser


def test_keyboard_alone_signs_in(
    browser_pages: BrowserPages, members: Members, screenshot: Screenshots
) -> None:
    page = browser_pages.new()
    page.goto("/signin")
    screenshot(page, "signin")
    # Tab until the username field has the focus (it takes it on load: autofocus).
    for _ in range(10):
        if page.evaluate("document.activeElement && document.activeElement.id") == "username":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type(members.username("kztv"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(members.password("kztv"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{browser_pages.base_url}/")
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert page.locator(".who").inner_text().startswith("kztv-editor")
    screenshot(page, "signed-in-home")
    watch = watch_of(page)
    assert watch.console_errors == [] and watch.page_errors == [] and watch.dialogs == []


def test_the_focus_is_visible_on_the_keyboard_path(
    browser_pages: BrowserPages, screenshot: Screenshots
) -> None:
    page = browser_pages.new()
    page.goto("/signin")
    # The username field has the focus (autofocus); backwards from it, the page's first stop
    # is the skip link, which shows itself when focused.
    assert page.evaluate("document.activeElement.id") == "username"
    stops = []
    for _ in range(6):
        page.keyboard.press("Shift+Tab")
        stops.append(page.evaluate("document.activeElement.className || document.activeElement.id"))
        if stops[-1] == "skip-link":
            break
    assert stops == ["language-switch", "brand", "skip-link"]
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["x"] >= 0
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    screenshot(page, "skip-link-focused")


def test_the_language_switcher_changes_the_page_language(
    browser_pages: BrowserPages, members: Members, screenshot: Screenshots
) -> None:
    page = browser_pages.new(locale="en-US")
    page.goto("/signin")
    assert page.locator("html").get_attribute("lang") == "en"
    with page.expect_navigation():
        page.get_by_label("Language").select_option("kk")
    assert page.locator("html").get_attribute("lang") == "kk"
    # The label is Kazakh now; the switcher keeps its id.
    assert page.locator("#language-switch").input_value() == "kk"
    assert page.get_by_label("Тіл").count() == 1
    assert page.url.endswith("/signin")
    screenshot(page, "signin-kk")
    # The choice is remembered: the next page answers in it too, whatever the browser asks.
    page.goto("/signin")
    assert page.locator("html").get_attribute("lang") == "kk"
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert "kk" in cookies.values()
    with page.expect_navigation():
        page.locator("#language-switch").select_option("tr")
    assert page.locator("html").get_attribute("lang") == "tr"
    screenshot(page, "signin-tr")
    assert watch_of(page).console_errors == []
