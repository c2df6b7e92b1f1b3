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
    with page.expect_navigation():
        page.click(f"[data-testid=main-nav] [data-nav={key}]")


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
