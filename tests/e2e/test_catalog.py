"""HQ builds the catalog: a labour item, a part, and a package made of both. A store manager,
on a phone, gives a member price for the part at their store and sees it in the price list and
in the package's price at the store."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from autocrm.catalog.models import LabourItem, Part, ServicePackage, StorePrice
from tests.e2e.helpers import login, nav, path_of

pytestmark = pytest.mark.e2e

PHONE = 375


def page_width(page) -> int:
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )


def save(page, testid: str = "save-catalog") -> None:
    with page.expect_navigation():
        page.click(f"[data-testid={testid}]")


def test_hq_builds_a_package_and_a_manager_sets_a_member_price(page, new_context, demo):
    login(page, "hq")
    nav(page, "catalog")
    assert path_of(page) == "/catalog/"

    # A labour item.
    with page.expect_navigation():
        page.click("[data-testid=new-labour]")
    form = page.locator("[data-testid=catalog-form]")
    form.locator("#id_code").fill("e2e-dsp")
    form.locator("#id_name").fill("DSP调音")
    form.locator("#id_hours").fill("1.5")
    form.locator("#id_price").fill("300")
    save(page)
    expect(page.locator(".alert-success")).to_contain_text("DSP调音")
    expect(page.locator("[data-testid=catalog-table] tbody")).to_contain_text("E2E-DSP")
    labour = LabourItem.objects.get(code="E2E-DSP")

    # A part; a wrong cost is refused with a Chinese message first.
    page.click("[data-testid=catalog-tabs] [data-tab=parts]")
    with page.expect_navigation():
        page.click("[data-testid=new-part]")
    form = page.locator("[data-testid=catalog-form]")
    form.locator("#id_code").fill("e2e-amp")
    form.locator("#id_name").fill("四声道功放")
    form.locator("#id_brand").fill("JBL")
    form.locator("#id_unit").fill("台")
    form.locator("#id_price").fill("1200")
    form.locator("#id_cost").fill("1500")
    save(page)
    expect(form.locator(".invalid-feedback")).to_contain_text("成本高于售价")
    form.locator("#id_cost").fill("800")
    save(page)
    expect(page.locator("[data-testid=catalog-table] tbody")).to_contain_text("四声道功放")
    part = Part.objects.get(code="E2E-AMP")

    # A package from both: created with the labour item, the part added on its page.
    page.click("[data-testid=catalog-tabs] [data-tab=packages]")
    with page.expect_navigation():
        page.click("[data-testid=new-package]")
    form = page.locator("[data-testid=catalog-form]")
    form.locator("#id_code").fill("e2e-amp-install")
    form.locator("#id_name").fill("功放安装")
    form.locator("#id_item").select_option(f"labour:{labour.pk}")
    save(page)
    package = ServicePackage.objects.get(code="E2E-AMP-INSTALL")
    assert path_of(page) == f"/catalog/packages/{package.pk}/"
    add = page.locator("[data-testid=add-item-form]")
    add.locator("#id_item").select_option(f"part:{part.pk}")
    add.locator("#id_quantity").fill("1")
    with page.expect_navigation():
        add.locator("[data-testid=add-item]").click()
    items = page.locator("[data-testid=package-item]")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("DSP调音")
    expect(items.nth(1)).to_contain_text("四声道功放")
    # The part first: moved up like a person would.
    with page.expect_navigation():
        items.nth(1).locator("[data-testid=move-up]").click()
    expect(page.locator("[data-testid=package-item]").nth(0)).to_contain_text("四声道功放")

    # The manager of the first store, on a phone, sets a member price for the part.
    phone = new_context(
        viewport={"width": PHONE, "height": 800}, is_mobile=True, has_touch=True
    ).new_page()
    login(phone, "manager1")
    phone.goto("/catalog/")
    assert page_width(phone) <= PHONE
    with phone.expect_navigation():
        phone.click("[data-testid=store-prices]")
    store_id = demo.store_ids["s001"]
    assert path_of(phone) == f"/catalog/prices/{store_id}/"
    phone.click("[data-testid=price-tabs] [data-tab=parts]")
    phone.locator("#price-rows").wait_for()
    phone.locator(".page-body input[name=q]").fill("E2E-AMP")  # filters as you type (htmx)
    row = phone.locator("[data-testid=price-table] tbody tr[data-code='E2E-AMP']")
    expect(row).to_have_count(1)
    expect(phone.locator("[data-testid=price-table] tbody tr")).to_have_count(1)
    with phone.expect_navigation():
        row.locator("[data-testid=edit-price]").click()
    assert page_width(phone) <= PHONE
    form = phone.locator("[data-testid=price-form]")
    form.locator("#id_price").fill("1100")
    form.locator("#id_level_0").fill("金卡")
    form.locator("#id_member_0").fill("999")
    save(phone, "save-price")
    expect(phone.locator(".alert-success")).to_contain_text("四声道功放")
    row = phone.locator("[data-testid=price-table] tbody tr[data-code='E2E-AMP']")
    expect(row.locator("[data-testid=member-prices]")).to_contain_text("金卡 ¥999.00")
    expect(row).to_contain_text("¥1100.00")
    assert page_width(phone) <= PHONE
    saved = StorePrice.objects.get(store_id=store_id, part=part)
    assert saved.member_prices == {"金卡": "999.00"}

    # The package's price at that store for a 金卡 member: 999 + 300.
    phone.goto(f"/catalog/packages/{package.pk}/?store={store_id}&level=金卡")
    expect(phone.locator("[data-testid=package-total]")).to_have_text("¥1299.00")
    assert page_width(phone) <= PHONE
