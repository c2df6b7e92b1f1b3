"""A store manager opens the vehicle list from the menu, narrows it to one brand and cars
whose insurance runs out within 60 days, as they type, and exports that list to Excel."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.helpers import htmx_settled, login, nav, path_of

pytestmark = pytest.mark.e2e


def test_manager_filters_vehicles_and_exports_them(new_context, tmp_path):
    from autocrm.core.models import Store
    from tests import customer_factories as cf

    today = timezone.localdate()
    soon, later = today + datetime.timedelta(days=20), today + datetime.timedelta(days=200)
    s001, s002 = Store.objects.get(code="s001"), Store.objects.get(code="s002")
    owner = cf.customer(s001, name="周车主")
    expected = {
        cf.vehicle(owner, brand="比亚迪", insurance_expires_on=soon).plate for _i in range(3)
    }
    cf.vehicle(owner, brand="比亚迪", insurance_expires_on=later)  # insured for longer
    cf.vehicle(owner, brand="丰田", insurance_expires_on=soon)  # another brand
    other = cf.customer(s002, name="吴车主")
    cf.vehicle(other, brand="比亚迪", insurance_expires_on=soon)  # another store's car
    brand = "比亚迪"

    page = new_context().new_page()
    login(page, "manager1")
    nav(page, "vehicle")
    assert path_of(page) == "/vehicles/"
    page.fill("[data-testid=vehicle-filter] [name=brand]", brand)
    page.fill("[data-testid=vehicle-filter] [name=insurance_days]", "60")
    htmx_settled(page)
    rows = page.locator("[data-testid=vehicle-row]")
    expect(rows).to_have_count(len(expected))
    shown = {rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())}
    assert shown == expected
    assert "brand=" in page.url  # the filters are in the address, for a bookmark or a colleague

    with page.expect_download() as info:
        page.click("[data-testid=export-list]")
    path = tmp_path / "vehicles.xlsx"
    info.value.save_as(path)
    sheet = load_workbook(path).worksheets[0]
    exported = list(sheet.iter_rows(values_only=True))
    assert exported[0][0] == "车牌号"
    assert {r[0] for r in exported[1:]} == expected
    assert {r[2] for r in exported[1:]} == {brand}
