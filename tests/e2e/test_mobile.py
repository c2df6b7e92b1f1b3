"""Phone width (375 px): no sideways scrolling, and the collapsed menu opens and works."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login, path_of

pytestmark = pytest.mark.e2e

WIDTH = 375


def page_width(page) -> int:
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )


def test_phone_layout_and_menu(new_context, demo):
    page = new_context(viewport={"width": WIDTH, "height": 800}, is_mobile=True, has_touch=True)
    page = page.new_page()
    login(page, "manager1")
    assert path_of(page) == "/"
    assert page.evaluate("window.innerWidth") == WIDTH

    for path in ("/", "/stores/", "/staff/", f"/stores/{demo.store_ids['s001']}/"):
        page.goto(path)
        expect(page.locator(".page-title")).to_be_visible()
        assert page_width(page) <= WIDTH, path

    # The menu is folded away behind the toggler until tapped.
    page.goto("/")
    store_link = page.locator("[data-testid=main-nav] [data-nav=store]")
    toggler = page.locator(".navbar-toggler")
    expect(toggler).to_be_visible()
    expect(store_link).to_be_hidden()
    toggler.click()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    # The menu has finished unfolding (a tap during the animation would be lost).
    expect(page.locator("#navbar-menu")).to_have_class(re.compile(r"\bshow\b"))
    # Stores are in the folded Admin menu.
    admin = page.locator("[data-testid=main-nav] [data-testid=nav-admin]")
    admin.click()
    expect(admin).to_have_attribute("aria-expanded", "true")
    expect(store_link).to_be_visible()
    assert page_width(page) <= WIDTH
    with page.expect_navigation():
        store_link.click()
    assert path_of(page) == "/stores/"
    expect(page.locator("[data-testid=store-table] tbody tr")).to_have_count(1)
