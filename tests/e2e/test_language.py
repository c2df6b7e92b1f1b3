"""The language switch: English sticks across pages, sign-out and a new browser; back to 中文."""

from __future__ import annotations

import pytest

from autocrm.core.models import User
from tests.e2e.helpers import html_lang, login, logout, nav, path_of

pytestmark = pytest.mark.e2e


def switch_language(page, to: str) -> None:
    with page.expect_navigation():
        page.click(f"[data-testid=language-switch] button[name=language][value={to}]")


def test_language_switch_is_remembered(page, new_context, demo):
    login(page, "advisor1")
    assert path_of(page) == "/"
    assert html_lang(page) == "zh-hans"

    nav(page, "store")
    switch_language(page, "en")
    assert html_lang(page) == "en"
    assert path_of(page) == "/stores/"  # the switch returns to the page it was used on
    assert User.objects.get(username="advisor1").language == "en"
    # Only the way back is offered now.
    assert page.locator("[data-testid=language-switch] button[value=en]").count() == 0

    page.reload()
    assert html_lang(page) == "en"
    nav(page, "home")
    assert path_of(page) == "/"
    assert html_lang(page) == "en"

    logout(page)
    assert html_lang(page) == "en"  # the cookie keeps the sign-in page in English
    login(page, "advisor1")
    assert path_of(page) == "/"
    assert html_lang(page) == "en"

    # A browser that never saw the cookie: Chinese sign-in page, English once signed in.
    other = new_context().new_page()
    other.goto("/login/")
    assert html_lang(other) == "zh-hans"
    login(other, "advisor1")
    assert path_of(other) == "/"
    assert html_lang(other) == "en"

    switch_language(page, "zh-hans")
    assert html_lang(page) == "zh-hans"
    assert User.objects.get(username="advisor1").language == "zh-hans"
    nav(page, "store")
    assert html_lang(page) == "zh-hans"
    # Someone else's preference was never touched.
    assert User.objects.get(username="manager1").language == "zh-hans"
