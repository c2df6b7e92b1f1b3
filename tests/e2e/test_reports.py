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
    _roll_up(orders)
    return store, advisor, tech, orders


def _roll_up(orders) -> None:
    """What the rollup worker does after a settlement or a survey: the factories write the
    rows directly, without the events that note the work orders."""
    from autocrm.reports import rollups

    for wo in orders:
        rollups.refresh_work_order(wo.pk)


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


def test_manager_clicks_a_technician_bar_on_the_dashboard(new_context, settled):
    """The technician ranking is drawn on a canvas: the bar's pixel position comes from the
    chart instance (``convertToPixel``), then the mouse clicks it like a person would."""
    from autocrm.feedback.models import Survey

    store, _advisor, tech, orders = settled
    for wo, score in zip(orders, (10, 3), strict=True):
        Survey.objects.create(
            org_id=store.org_id,
            store=store,
            work_order=wo,
            customer=wo.customer,
            nps=score,
            timeliness=5,
            professionalism=5,
            attitude=5,
            result=5,
            submitted_at=wo.settled_at,
        )
    _roll_up(orders)
    page = new_context().new_page()
    login(page, "manager1")
    page.goto("/reports/")
    assert "技师满意度排名" in page.content()
    page.wait_for_selector("#technician-rank-chart canvas")
    # The bars grow in (ECharts' animation); a click before they are drawn hits nothing.
    page.evaluate(
        """() => new Promise((done) => {
            const el = document.getElementById("technician-rank-chart");
            const chart = echarts.getInstanceByDom(el);
            chart.on("finished", done);
            setTimeout(done, 3000);
        })"""
    )
    point = page.evaluate(
        """(name) => {
            const el = document.getElementById("technician-rank-chart");
            // The mouse clicks in the viewport: bring the chart into it first.
            el.scrollIntoView({ block: "center", behavior: "instant" });
            const chart = echarts.getInstanceByDom(el);
            const option = chart.getOption();
            const index = option.yAxis[0].data.indexOf(name);
            if (index < 0) return null;
            const value = option.series[0].data[index];
            const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [value / 2, index]);
            const box = el.getBoundingClientRect();
            return { x: box.left + x, y: box.top + y, value: value };
        }""",
        tech.display_name,
    )
    assert point is not None, "the technician has no bar"
    assert point["value"] == 100  # one survey, a promoter
    with page.expect_navigation():
        page.mouse.click(point["x"], point["y"])
    assert "/reports/drill/orders/" in page.url and f"technician={tech.pk}" in page.url
    rows = page.locator("[data-testid=drill-order]")
    assert rows.count() == 1
    assert orders[0].number in rows.first.inner_text()
    assert orders[1].number not in page.content()
