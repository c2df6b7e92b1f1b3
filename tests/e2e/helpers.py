"""Steps a person takes in the browser, shared by the browser tests."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Response

PASSWORD = "demo1234"


def login(page: Page, username: str, password: str = PASSWORD) -> Response | None:
    """Fill and submit the sign-in form like a person; returns the answer to the POST."""
    if path_of(page) != "/login/":
        page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation(), page.expect_response(_is_login_post) as info:
        page.click("[data-testid=login-submit]")
    return info.value


def logout(page: Page) -> None:
    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    page.wait_for_url("**/login/")


def nav(page: Page, key: str) -> None:
    """Click a menu item like a person: unfold the phone menu and the Admin menu if needed."""
    link = page.locator(f"[data-testid=main-nav] [data-nav={key}]")
    toggler = page.locator(".navbar-toggler")
    if not link.is_visible() and toggler.is_visible():
        toggler.click()
    admin = page.locator("[data-testid=main-nav] [data-testid=nav-admin]")
    if not link.is_visible() and admin.count():
        admin.click()
    with page.expect_navigation():
        link.click()


def html_lang(page: Page) -> str:
    return page.get_attribute("html", "lang") or ""


def page_width(page: Page) -> int:
    """How wide the page is laid out: more than the viewport means it scrolls sideways."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def _is_login_post(response: Response) -> bool:
    return response.request.method == "POST" and urlsplit(response.url).path == "/login/"


def htmx_settled(page: Page) -> None:
    """Wait until htmx has finished every request and swap: a new fragment listens for its
    triggers only once settled, so an event sent sooner (as no person could) is missed."""
    busy = ".htmx-request, .htmx-settling, .htmx-added, .htmx-swapping"
    page.wait_for_function(f"() => !document.querySelector('{busy}')")
