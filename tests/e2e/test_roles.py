"""What a store manager and a technician see: their own store only, their own menu only."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login, nav, path_of

pytestmark = pytest.mark.e2e


def test_store_manager_sees_only_their_store(page, demo):
    login(page, "manager1")
    assert path_of(page) == "/"
    expect(page.locator("[data-testid=store-count]")).to_have_text("1")
    expect(page.locator("[data-testid=my-roles] .badge")).to_have_count(1)

    nav(page, "store")
    assert path_of(page) == "/stores/"
    rows = page.locator("[data-testid=store-table] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").first).to_have_text(demo.store_names["s001"])
    expect(rows.first).to_contain_text("s001")

    # Opening the own store works; another store's address is "not found", not "forbidden".
    with page.expect_navigation():
        rows.first.locator("a").click()
    assert path_of(page) == f"/stores/{demo.store_ids['s001']}/"
    expect(page.locator(".page-title")).to_have_text(demo.store_names["s001"])
    other = page.goto(f"/stores/{demo.store_ids['s002']}/")
    assert other is not None and other.status == 404
    expect(page.locator("body")).not_to_contain_text(demo.store_names["s002"])
    expect(page.locator(".empty-title")).to_have_text("404")

    nav(page, "staff")
    assert path_of(page) == "/staff/"
    logins = page.locator("[data-testid=staff-table] tbody tr td:nth-child(2)").all_inner_texts()
    # s001: manager1, advisor1, s001-sa2, tech1, s001-tech2..4, s001-desk1 (+ sales if dealer).
    assert {"manager1", "advisor1", "tech1", "s001-tech2", "s001-desk1"} <= set(logins)
    assert "s002-tech1" not in logins
    assert "hq" not in logins
    named = {"manager1", "advisor1", "tech1"}
    assert all(name in named or name.startswith("s001-") for name in logins), logins
    # The store filter offers only the manager's store as well.
    options = page.locator("select[name=store] option").all_inner_texts()
    assert options[1:] == [demo.store_names["s001"]]


def test_technician_menu_and_forbidden_pages(page, demo):
    login(page, "tech1")
    assert path_of(page) == "/"
    menu = page.locator("[data-testid=main-nav] [data-nav]")
    expect(menu).to_have_count(5)  # my jobs, tasks, the board and the catalog to look items up
    keys = [item.get_attribute("data-nav") for item in menu.all()]
    assert keys == ["home", "floor", "task", "board", "catalog"]
    for key in ("store", "staff", "audit", "job"):
        expect(page.locator(f"[data-testid=main-nav] [data-nav={key}]")).to_have_count(0)
    # The technician's store is listed on the home page, but without a link to its page.
    expect(page.locator("[data-testid=store-count]")).to_have_text("1")
    expect(page.locator("[data-testid=my-stores]")).to_contain_text(demo.store_names["s001"])
    expect(page.locator("[data-testid=my-stores] a")).to_have_count(0)

    for path in ("/staff/", "/stores/", "/audit/", "/jobs/"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.locator(".empty-title")).to_have_text("403")
