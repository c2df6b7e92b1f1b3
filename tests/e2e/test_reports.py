"""Reports drill-down as people click it: a store manager from the dashboard to one
technician's work orders; HQ from the regions to a store to an advisor's work orders."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from tests.e2e.helpers import login


@pytest.fixture
def settled(demo):
    """Two visits settled today at s001: advisor1 wrote both, tech1 did the first."""
    from django.utils import timezone

    from autocrm.core.models import Store, User
    from autocrm.service.models import WorkOrder, WorkOrderLine
    from tests import customer_factories as cf
    from tests import service_factories as sf

    store = Store.objects.get(code="s001")
    advisor = User.objects.get(username="advisor1")
    tech = User.objects.get(username="tech1")
    now = timezone.now() - datetime.timedelta(minutes=5)
    orders = []
    for i, (name, total) in enumerate((("张三", "1130.00"), ("李四", "565.00"))):
        car = cf.vehicle(cf.customer(store, name=name))
        wo = sf.work_order(
            store,
            vehicle=car,
            customer=car.owner,
            status=WorkOrder.Status.SETTLED,
            opened_at=now - datetime.timedelta(hours=2),
            settled_at=now,
            total=Decimal(total),
            tax=Decimal("0.00"),
            advisor=advisor,
        )
        line = sf.line(wo, "保养", approval=WorkOrderLine.Approval.APPROVED)
        if i == 0:
            line.technicians.set([tech])
        orders.append(wo)
    return store, advisor, tech, orders


def test_manager_clicks_a_technician_to_their_work_orders(new_context, settled):
    store, _advisor, tech, orders = settled
    page = new_context().new_page()
    login(page, "manager1")
    page.goto("/reports/")
    with page.expect_navigation():
        page.click("[data-testid=drill-link]")
    assert "技师效率排名" in page.content()
    page.wait_for_selector("#technician-chart canvas")
    with page.expect_navigation():
        page.click(f"[data-testid=technician-row] a:has-text('{tech.display_name}')")
    assert f"technician={tech.pk}" in page.url
    rows = page.locator("[data-testid=drill-order]")
    assert rows.count() == 1
    assert orders[0].number in rows.first.inner_text()
    assert orders[1].number not in page.content()


def test_hq_drills_region_store_advisor(new_context, settled):
    store, advisor, _tech, orders = settled
    page = new_context().new_page()
    login(page, "hq")
    page.goto("/reports/drill/")
    assert "区域对比" in page.content()
    page.wait_for_selector("#compare-chart canvas")
    with page.expect_navigation():
        page.click(f"[data-testid=compare-row] a:has-text('{store.region.name}')")
    assert "门店对比" in page.content()
    with page.expect_navigation():
        page.click(f"[data-testid=compare-row] a:has-text('{store.name}')")
    with page.expect_navigation():
        page.click(f"[data-testid=advisor-row] a:has-text('{advisor.display_name}')")
    assert f"advisor={advisor.pk}" in page.url and "from=" in page.url
    assert page.locator("[data-testid=drill-order]").count() == 2
    for wo in orders:
        assert wo.number in page.content()
