"""The issue's "Bad input" for reports: an empty period, a store with no data, a division by
zero, a filter on a deleted custom field, a report shared with a role that lacks scope — an
honest empty state or a clear Chinese message, never a 500, never someone else's data."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from autocrm.core.models import CustomField
from autocrm.reports import builder, rollups
from autocrm.reports.models import SavedReport
from tests.conftest import api_client_for, client_for
from tests.reports.conftest import JAN_1, JAN_31

pytestmark = pytest.mark.django_db

SHARED = {
    "name": "门店月度工单",
    "dataset": "work_orders",
    "dimensions": ["store", "month"],
    "measures": [{"agg": "count"}, {"agg": "sum", "field": "total"}],
    "chart": "pivot",
    "period": "all",
    "shared_roles": ["store_manager"],
}


def test_hq_report_shared_with_store_managers_shows_each_only_their_store(world, january):
    report = builder.create_report(world.hq, **SHARED)
    SavedReport.objects.filter(pk=report.pk).update(pinned=True)
    # The result page, its Excel file, the API and the dashboard's pinned copy.
    client = client_for(world.manager_a2)
    page = client.get(f"/reports/builder/{report.pk}/").content.decode()
    assert "天津滨江店" in page and "北京朝阳店" not in page and "别家" not in page
    xlsx = client.get(f"/reports/builder/{report.pk}/?format=xlsx")
    assert xlsx.status_code == 200
    wb = load_workbook(io.BytesIO(xlsx.content))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["天津滨江店"]
    api = api_client_for(world.manager_a2).get(f"/api/v1/reports/{report.pk}/result")
    assert api.status_code == 200
    assert {r["store"] for r in api.json()["rows"]} == {"天津滨江店"}
    dashboard = client.get("/reports/").content.decode()
    assert 'data-testid="pinned-report"' in dashboard
    assert "门店月度工单" in dashboard
    assert "天津滨江店" in dashboard and "北京朝阳店" not in dashboard


def test_report_shared_with_a_role_without_reports_is_not_found(world, january):
    report = builder.create_report(world.hq, **{**SHARED, "shared_roles": ["technician"]})
    tech = client_for(world.tech_a1)
    assert tech.get(f"/reports/builder/{report.pk}/").status_code in (403, 404)
    assert api_client_for(world.tech_a1).get(f"/api/v1/reports/{report.pk}/result").status_code in (
        403,
        404,
    )


def test_report_shared_with_advisors_shows_an_advisor_only_their_own_orders(world, january):
    """An advisor sees their own figures only (as in the KPI library), not the store's."""
    report = builder.create_report(
        world.hq,
        **{**SHARED, "dimensions": ["store", "advisor"], "shared_roles": ["service_advisor"]},
    )
    SavedReport.objects.filter(pk=report.pk).update(pinned=True)
    result = builder.run(report, world.advisor_a1, JAN_1, JAN_31)
    # c1's first visit is the only work order they wrote: 1130.
    assert result.rows == [["北京朝阳店", world.advisor_a1.display_name, 1, Decimal("1130.00")]]
    # The store manager of the same store sees every order of it.
    rows = builder.run(report, world.manager_a1, JAN_1, JAN_31).rows
    assert sum(r[2] for r in rows) == 4
    api = api_client_for(world.advisor_a1).get(
        f"/api/v1/reports/{report.pk}/result?from=2026-01-01&to=2026-01-31"
    )
    if api.status_code == 200:
        assert [r["count"] for r in api.json()["rows"]] == [1]
    else:
        assert api.status_code in (403, 404)
    page = client_for(world.advisor_a1).get("/reports/")
    assert page.status_code == 200
    assert 'data-testid="pinned-report"' in page.content.decode()


def test_filter_on_a_deleted_custom_field_everywhere_a_clear_message(world, january):
    field = CustomField.objects.create(
        org=world.org, target="work_order", key="plan", label_zh="套餐", type="text"
    )
    report = builder.create_report(
        world.hq,
        **{**SHARED, "filters": {"field": "work_order.custom.plan", "op": "eq", "value": "年卡"}},
    )
    SavedReport.objects.filter(pk=report.pk).update(pinned=True)
    field.delete()
    for user in (world.hq, world.manager_a1):
        client = client_for(user)
        page = client.get(f"/reports/builder/{report.pk}/")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-testid="report-error"' in html and "筛选" in html
        assert "北京朝阳店" not in html.split('data-testid="report-error"')[1][:2000]
        dashboard = client.get("/reports/")
        assert dashboard.status_code == 200
        assert "work_order.custom.plan" in dashboard.content.decode()
        xlsx = client.get(f"/reports/builder/{report.pk}/?format=xlsx")
        assert xlsx.status_code == 200  # an empty sheet with the headers, no 500
        rows = list(
            load_workbook(io.BytesIO(xlsx.content)).worksheets[0].iter_rows(values_only=True)
        )
        assert len(rows) <= 1


def test_empty_period_and_a_store_without_data_show_dashes_and_empty_states(world, january):
    rollups.rebuild()
    # A period with nothing in it, for HQ; a store with no data at all, for its manager.
    for user, params in (
        (world.hq, {"from": "2025-03-01", "to": "2025-03-31"}),
        (world.manager_a2, {"from": "2025-03-01", "to": "2025-03-31"}),
        (world.manager_a2, {}),
    ):
        r = client_for(user).get("/reports/", params)
        assert r.status_code == 200
        html = r.content.decode()
        assert "—" in html  # ARO, margin, NPS: nothing to divide by
        assert 'data-testid="services-empty"' in html
        assert 'data-testid="reasons-empty"' in html
        assert 'data-testid="technician-rank-empty"' in html
        assert 'data-testid="advisor-rank-empty"' in html
        assert "本期间没有已结算工单" in html
    drill = client_for(world.manager_a2).get(
        "/reports/drill/", {"from": "2025-03-01", "to": "2025-03-31"}
    )
    assert drill.status_code == 200


def test_division_by_zero_is_a_dash_not_an_error(world):
    """Work orders settled at ¥0 (a free check): the margin, labour mix and close ratio
    would divide by zero."""
    import datetime

    from tests import customer_factories as cf
    from tests.reports.conftest import visit

    visit(world.a2, cf.customer(world.a2), datetime.date(2026, 1, 10), "0")
    rollups.rebuild()
    params = {"from": "2026-01-01", "to": "2026-01-31"}
    for path in ("/reports/", "/reports/drill/", "/reports/drill/orders/"):
        assert client_for(world.manager_a2).get(path, params).status_code == 200, path
    r = api_client_for(world.manager_a2).get(
        "/api/v1/kpis", {"metric": "gross_margin", "from": "2026-01-01", "to": "2026-01-31"}
    )
    assert r.json()["value"] is None and r.json()["display"] == "—"


def test_bad_period_on_the_dashboard_is_a_chinese_message(world):
    r = client_for(world.hq).get("/reports/", {"from": "2026-02-01", "to": "2026-01-01"})
    assert r.status_code == 200
    assert 'data-testid="period-error"' in r.content.decode()
