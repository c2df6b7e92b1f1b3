"""The header search: typing part of a store name lists it; arrow down and Enter open it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from autocrm.core.models import Store
from tests.e2e.helpers import login, path_of

pytestmark = pytest.mark.e2e


def test_search_keyboard_opens_store(page, demo):
    # Part of a store name ("安途…店" without brand and suffix) that names just one store.
    name = demo.store_names["s007"]
    part = name.removeprefix("安途").removesuffix("店")
    assert part and part != name
    assert Store.objects.filter(name__icontains=part).count() == 1

    login(page, "hq")
    box = page.locator("[data-testid=global-search]")
    box.click()
    box.press_sequentially(part, delay=30)
    results = page.locator("[data-testid=search-results]")
    expect(results).to_be_visible()
    options = results.locator("a[role=option]")
    expect(options.first).to_contain_text(name)
    expect(options.filter(has_text=name)).to_have_count(1)

    box.press("ArrowDown")
    expect(options.first).to_have_class("list-group-item list-group-item-action active-option")
    with page.expect_navigation():
        box.press("Enter")
    assert path_of(page) == f"/stores/{demo.store_ids['s007']}/"
    expect(page.locator(".page-title")).to_have_text(name)


def test_search_without_match_says_so(page, demo):
    login(page, "hq")
    box = page.locator("[data-testid=global-search]")
    box.press_sequentially("zzqq-none", delay=20)
    results = page.locator("[data-testid=search-results]")
    expect(results).to_be_visible()
    expect(results.locator("a[role=option]")).to_have_count(0)
    expect(results).to_contain_text("zzqq-none")
    box.press("Enter")  # nothing chosen: the plain search page opens
    page.wait_for_url("**/search/?q=zzqq-none")
    expect(page.locator("[data-testid=search-results]")).to_contain_text("zzqq-none")
