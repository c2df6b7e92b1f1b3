"""The report builder in the browser: a store manager builds a pivot of work orders by advisor
× month (sum of total), saves it, pins it to the dashboard, sees it there and exports it to
Excel."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.e2e.helpers import login


@pytest.fixture
def settled(demo):
    """Three settled orders at s001 written by advisor1: two this month, one 40 days ago;
    one more at another store the manager does not see."""
    from django.utils import timezone

    from autocrm.core.models import Store, User
    from autocrm.service.models import WorkOrder
    from tests import customer_factories as cf
    from tests import service_factories as sf

    store = Store.objects.get(code="s001")
    other = Store.objects.get(code="s002")
    advisor = User.objects.get(username="advisor1")
    now = timezone.now() - datetime.timedelta(minutes=5)
    earlier = now - datetime.timedelta(days=40)
    for shop, when, total in (
        (store, now, "1130.00"),
        (store, now, "565.00"),
        (store, earlier, "226.00"),
        (other, now, "999.00"),
    ):
        car = cf.vehicle(cf.customer(shop, name="王五"))
        sf.work_order(
            shop,
            vehicle=car,
            customer=car.owner,
            status=WorkOrder.Status.SETTLED,
            opened_at=when - datetime.timedelta(hours=2),
            settled_at=when,
            total=Decimal(total),
            advisor=advisor,
        )
    months = [
        timezone.localtime(earlier).strftime("%Y-%m"),
        timezone.localtime(now).strftime("%Y-%m"),
    ]
    return advisor, months


def test_manager_builds_pins_and_exports_a_pivot(new_context, settled, tmp_path):
    advisor, (last_month, this_month) = settled
    page = new_context().new_page()
    login(page, "manager1")
    page.goto("/reports/builder/")
    with page.expect_navigation():
        page.click("[data-testid=new-report]")
    with page.expect_navigation():
        page.click("[data-testid=dataset-work_orders]")
    page.fill("#id_name", "顾问月度产值")
    page.select_option("[data-testid=dimension-0]", "advisor")
    page.select_option("[data-testid=dimension-1]", "month")
    page.select_option("[data-testid=measure-agg-0]", "sum")
    page.select_option("[data-testid=measure-field-0]", "total")
    page.select_option("[data-testid=chart]", "pivot")
    with page.expect_navigation():
        page.click("[data-testid=save-report]")
    assert "/reports/builder/" in page.url
    pivot = page.locator("[data-testid=pivot-table]")
    head = pivot.locator("thead").inner_text()
    assert last_month in head and this_month in head
    row = page.locator("[data-testid=pivot-row]")
    assert row.count() == 1
    text = row.first.inner_text()
    assert advisor.display_name in text
    assert "1695.00" in text and "226.00" in text
    assert "999" not in pivot.inner_text()  # another store's order
    page.wait_for_selector("[data-testid=report-chart] canvas")

    with page.expect_navigation():
        page.click("[data-testid=pin-report]")
    page.goto("/reports/")
    pinned = page.locator("[data-testid=pinned-report]")
    assert pinned.count() == 1
    assert "顾问月度产值" in pinned.inner_text()
    assert "1695.00" in pinned.inner_text()
    page.wait_for_selector("[data-testid=pinned-report] [data-testid=report-chart] canvas")
    page.wait_for_selector("#trend-chart canvas")

    with page.expect_navigation():
        pinned.locator("a:has-text('顾问月度产值')").click()
    with page.expect_download() as info:
        page.click("[data-testid=export-xlsx]")
    path = tmp_path / "report.xlsx"
    info.value.save_as(path)
    wb = load_workbook(path)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("顾问", "月份", "合计·合计（含增值税）")
    assert rows[1:] == [
        (advisor.display_name, last_month, 226),
        (advisor.display_name, this_month, 1695),
    ]
    pivot_rows = list(wb.worksheets[1].iter_rows(values_only=True))
    assert pivot_rows == [
        ("顾问 \\ 月份", last_month, this_month),
        (advisor.display_name, 226, 1695),
    ]
