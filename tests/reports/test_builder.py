"""The report builder on the hand-computed January 2026 (``conftest.january``): grouped
results, the viewer's scope, validation, a filter on a deleted custom field, Excel, schedules
and the API."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test import override_settings
from openpyxl import load_workbook

from autocrm.core.errors import Invalid, NotFound
from autocrm.core.models import CustomField
from autocrm.customers.models import Customer, SourceChannel
from autocrm.messaging.models import OutboxMessage
from autocrm.reports import builder
from autocrm.reports.builder_schedule import send_due
from autocrm.reports.builder_tasks import send_scheduled_reports
from autocrm.reports.models import SavedReport
from tests.conftest import api_client_for, client_for
from tests.reports.conftest import JAN_1, JAN_31

pytestmark = pytest.mark.django_db

WO_BY_STORE_MONTH = {
    "name": "门店月度工单",
    "dataset": "work_orders",
    "dimensions": ["store", "month"],
    "measures": [{"agg": "count"}, {"agg": "sum", "field": "total"}],
    "chart": "pivot",
    "shared_roles": ["store_manager"],
}


def _jan(report, user):
    return builder.run(report, user, JAN_1, JAN_31)


def test_work_orders_by_store_and_month(world, january):
    report = builder.create_report(world.hq, **WO_BY_STORE_MONTH)
    result = _jan(report, world.hq)
    assert result.columns == ["门店", "月份", "数量", "合计·合计（含增值税）"]
    assert result.rows == [
        ["北京朝阳店", "2026-01", 4, Decimal("2260.00")],
        ["天津滨江店", "2026-01", 1, Decimal("113.00")],
    ]
    pivot = result.pivot()
    assert pivot["columns"] == ["2026-01"]
    assert [(r["label"], r["cells"]) for r in pivot["rows"]] == [
        ("北京朝阳店", [4]),
        ("天津滨江店", [1]),
    ]
    chart = result.chart_data()
    assert chart["categories"] == ["北京朝阳店", "天津滨江店"]
    assert chart["series"] == [{"name": "2026-01", "data": [4, 1]}]


def test_lines_by_service_item(world, january):
    report = builder.create_report(
        world.hq,
        name="项目",
        dataset="work_order_lines",
        dimensions=["item"],
        measures=[{"agg": "sum", "field": "amount"}, {"agg": "distinct", "field": "work_order"}],
        chart="bar",
    )
    rows = {r[0]: (r[1], r[2]) for r in _jan(report, world.hq).rows}
    # Approved lines of finished orders only: the declined tyre, the deferred wash and the
    # open order's proposed line are not sold.
    assert rows == {
        "工时": (Decimal("530.00"), 1),
        "刹车片": (Decimal("600.00"), 1),
        "自带机油": (Decimal("0.00"), 1),
        "返修": (Decimal("565.00"), 1),
        "滤芯": (Decimal("226.00"), 1),
        "检查": (Decimal("339.00"), 1),
    }
    assert sum(v for v, _n in rows.values()) == Decimal("2260.00")


def test_lines_by_technician_and_store_month_use_the_index(world, january):
    report = builder.create_report(
        world.hq,
        name="技师",
        dataset="work_order_lines",
        dimensions=["technician"],
        measures=[{"agg": "sum", "field": "amount"}],
    )
    rows = _jan(report, world.hq).rows
    assert [world.tech_a1.display_name, Decimal("1434.00")] in rows
    # 12 months of lines by store × month: the work orders are found by store and date.
    report = builder.create_report(
        world.hq,
        name="年度",
        dataset="work_order_lines",
        dimensions=["store", "month"],
        measures=[{"agg": "sum", "field": "amount"}],
    )
    start, end = builder.period_window("last_12_months")
    assert start.day == 1 and (end - start).days >= 330
    if connection.vendor == "sqlite":
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            builder.run(report, world.hq, rollups=False)  # the raw path (a filter takes it)
        sql = queries.captured_queries[-1]["sql"]
        with connection.cursor() as cur:
            cur.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row) for row in cur.fetchall())
        assert "wo_store_settled" in plan
        assert "woline_wo" in plan or "work_order_id" in plan


LINES_ROLLED = [
    (["store", "month"], [{"agg": "count"}, {"agg": "sum", "field": "amount"}]),
    (["region", "item"], [{"agg": "sum", "field": "amount"}]),
    (["month", "store", "item"], [{"agg": "count"}]),
    (["item"], [{"agg": "count"}, {"agg": "sum", "field": "amount"}]),
]


@pytest.mark.parametrize(("dims", "measures"), LINES_ROLLED)
def test_lines_from_the_item_rollups_equal_the_raw_lines(world, january, dims, measures):
    """Lines counted or summed by store, region, item and month are read from the item
    rollups: the same rows as the raw lines for whole months, edges of months, this month so
    far and another user's scope; with a filter, another measure or another dimension the
    raw lines are read."""
    import datetime

    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from autocrm.reports import rollups
    from tests import customer_factories as cf
    from tests import service_factories as sf
    from tests.reports.conftest import visit

    today = timezone.localdate()
    wo = visit(world.a1, cf.customer(world.a1), today, "226", labour="200")
    sf.line(wo, "今日保养", price="200.00", approval="approved")
    rollups.rebuild()
    report = builder.create_report(
        world.hq, name="行", dataset="work_order_lines", dimensions=dims, measures=measures
    )
    periods = [
        (JAN_1, JAN_31),
        (datetime.date(2026, 1, 10), datetime.date(2026, 2, 20)),
        (today.replace(day=1), today),
        builder.period_window("last_12_months"),
    ]
    for user in (world.hq, world.manager_a1, world.other_admin):
        for start, end in periods:
            with CaptureQueriesContext(connection) as ctx:
                rolled = builder.run(report, user, start, end)
            raw = builder.run(report, user, start, end, rollups=False)
            where = f"{user}, {start}–{end}"
            assert sorted(map(str, rolled.rows)) == sorted(map(str, raw.rows)), where
            sql = " ".join(q["sql"] for q in ctx.captured_queries)
            assert "service_workorderline" not in sql, where
    jan = builder.run(report, world.hq, JAN_1, JAN_31)
    raw = builder.run(report, world.hq, JAN_1, JAN_31, rollups=False)
    assert jan.rows and jan.columns == raw.columns
    # Another measure: the raw lines.
    report.measures = [{"agg": "avg", "field": "amount"}]
    with CaptureQueriesContext(connection) as ctx:
        builder.run(report, world.hq, JAN_1, JAN_31)
    assert "service_workorderline" in " ".join(q["sql"] for q in ctx.captured_queries)


def test_customers_by_source_channel(world, january):
    web = SourceChannel.objects.create(org=world.org, name="抖音")
    friend = SourceChannel.objects.create(org=world.org, name="老客户介绍")
    customers = {c.name: c for c in Customer.objects.filter(org=world.org)}
    for name, source in (("张一", web), ("张二", web), ("张三", friend)):
        customers[name].source = source
        customers[name].save()
    report = builder.create_report(
        world.hq,
        name="来源",
        dataset="customers",
        dimensions=["source"],
        measures=[{"agg": "count"}],
        period="all",
    )
    rows = {r[0]: r[1] for r in builder.run(report, world.hq).rows}
    assert rows == {"抖音": 2, "老客户介绍": 1, "—": 2}  # 张六 and 李四 have none; 赵五 is not ours


def test_store_manager_sees_only_their_store_of_an_hq_shared_report(world, january):
    report = builder.create_report(world.hq, **WO_BY_STORE_MONTH)
    assert _jan(report, world.manager_a2).rows == [["天津滨江店", "2026-01", 1, Decimal("113.00")]]
    assert _jan(report, world.manager_a1).rows == [["北京朝阳店", "2026-01", 4, Decimal("2260.00")]]
    assert report in builder.visible_reports(world.manager_a2)
    # Not shared with advisors; another org never sees it.
    with pytest.raises(NotFound):
        builder.get_report(world.advisor_a1, report.pk)
    with pytest.raises(NotFound):
        builder.get_report(world.other_admin, report.pk)
    # The page and the API run it on the viewer's scope too.
    page = client_for(world.manager_a2).get(
        f"/reports/builder/{report.pk}/?from=2026-01-01&to=2026-01-31"
    )
    assert page.status_code == 200
    assert "天津滨江店" in page.content.decode()
    assert "北京朝阳店" not in page.content.decode()
    assert client_for(world.advisor_a1).get(f"/reports/builder/{report.pk}/").status_code == 404


def test_only_managers_build(world):
    assert client_for(world.advisor_a1).get("/reports/builder/new/").status_code == 403
    with pytest.raises(Exception) as exc:
        builder.create_report(world.advisor_a1, **WO_BY_STORE_MONTH)
    assert exc.value.__class__.__name__ == "Forbidden"


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"dataset": "invoices"}, "dataset", "数据"),
        ({"dimensions": ["store", "colour"]}, "dimensions", "colour"),
        ({"dimensions": ["technician"]}, "dimensions", "technician"),  # lines only
        ({"measures": [{"agg": "median", "field": "total"}]}, "measures", "median"),
        ({"measures": [{"agg": "sum", "field": "password"}]}, "measures", "password"),
        ({"measures": []}, "measures", "度量"),
        ({"chart": "radar"}, "chart", "radar"),
        ({"chart": "pivot", "dimensions": ["store"]}, "chart", "透视"),
        ({"shared_roles": ["janitor"]}, "shared_roles", "janitor"),
        ({"schedule": "weekly", "recipients": []}, "recipients", "邮箱"),
        ({"recipients": ["not-an-email"]}, "recipients", "not-an-email"),
        (
            {"filters": {"field": "customer.password", "op": "eq", "value": "x"}},
            "condition",
            "customer.password",
        ),
    ],
)
def test_validation_refusals_in_chinese(world, change, field, text):
    with pytest.raises(Invalid) as exc:
        builder.create_report(world.hq, **{**WO_BY_STORE_MONTH, **change})
    assert field in exc.value.fields
    message = exc.value.display_text
    assert text in message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message
    assert not SavedReport.objects.exists()


def test_filter_through_the_condition_compiler(world, january):
    report = builder.create_report(
        world.hq,
        **{
            **WO_BY_STORE_MONTH,
            "filters": {"all": [{"field": "work_order.total", "op": "gte", "value": "500"}]},
        },
    )
    assert _jan(report, world.hq).rows == [["北京朝阳店", "2026-01", 2, Decimal("1695.00")]]
    # Lines are filtered through their work order.
    lines = builder.create_report(
        world.hq,
        name="大单项目",
        dataset="work_order_lines",
        dimensions=["item"],
        measures=[{"agg": "count"}],
        filters={"field": "work_order.total", "op": "gte", "value": "1000"},
    )
    assert sorted(r[0] for r in _jan(lines, world.hq).rows) == sorted(
        ["工时", "刹车片", "自带机油"]
    )


def test_filter_on_a_deleted_custom_field_shows_a_message(world, january):
    cf = CustomField.objects.create(
        org=world.org, target="work_order", key="plan", label_zh="套餐", type="text"
    )
    report = builder.create_report(
        world.hq,
        **{
            **WO_BY_STORE_MONTH,
            "filters": {"field": "work_order.custom.plan", "op": "eq", "value": "年卡"},
        },
    )
    assert _jan(report, world.hq).rows == []
    cf.delete()
    result = _jan(report, world.hq)
    assert result.rows == []
    assert "work_order.custom.plan" in result.error
    assert "筛选" in result.error
    page = client_for(world.hq).get(f"/reports/builder/{report.pk}/")
    assert page.status_code == 200
    assert "work_order.custom.plan" in page.content.decode()
    api = api_client_for(world.hq).get(f"/api/v1/reports/{report.pk}/result")
    assert api.status_code == 200
    assert "work_order.custom.plan" in api.json()["error"]


def test_empty_state(world):
    report = builder.create_report(world.hq, **WO_BY_STORE_MONTH)
    page = client_for(world.hq).get(f"/reports/builder/{report.pk}/")
    assert page.status_code == 200
    assert 'data-testid="report-empty"' in page.content.decode()


def test_excel_rows_with_chinese_headers(world, january):
    report = builder.create_report(world.hq, **WO_BY_STORE_MONTH)
    response = client_for(world.manager_a1).get(
        f"/reports/builder/{report.pk}/?format=xlsx&from=2026-01-01&to=2026-01-31"
    )
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    wb = load_workbook(io.BytesIO(response.content))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("门店", "月份", "数量", "合计·合计（含增值税）")
    assert rows[1:] == [("北京朝阳店", "2026-01", 4, 2260)]
    pivot = list(wb.worksheets[1].iter_rows(values_only=True))
    assert pivot == [("门店 \\ 月份", "2026-01"), ("北京朝阳店", 4)]


def test_pages_list_form_pin_and_dashboard(world, january):
    client = client_for(world.manager_a1)
    assert client.get("/reports/builder/new/").status_code == 200
    form = client.get("/reports/builder/new/?dataset=work_orders")
    assert form.status_code == 200
    response = client.post(
        "/reports/builder/new/",
        {
            "dataset": "work_orders",
            "name": "顾问月度",
            "dimension_0": "advisor",
            "dimension_1": "month",
            "measure_agg_0": "sum",
            "measure_field_0": "total",
            "chart": "pivot",
            "period": "all",
            "filter_field_0": "work_order.total",
            "filter_op_0": "gt",
            "filter_value_0": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    report = SavedReport.objects.get(name="顾问月度")
    assert report.owner == world.manager_a1
    assert report.filters == {"all": [{"field": "work_order.total", "op": "gt", "value": "0"}]}
    assert client.get(f"/reports/builder/{report.pk}/edit/").status_code == 200
    assert "顾问月度" in client.get("/reports/builder/").content.decode()
    assert client.post(f"/reports/builder/{report.pk}/pin/", {"pinned": "1"}).status_code == 302
    report.refresh_from_db()
    assert report.pinned
    dashboard = client.get("/reports/").content.decode()
    assert 'data-testid="pinned-report"' in dashboard
    assert "顾问月度" in dashboard
    # Another manager may not change it.
    other = client_for(world.manager_a2)
    assert other.post(f"/reports/builder/{report.pk}/pin/", {"pinned": "0"}).status_code in (
        403,
        404,
    )
    bad = client.post("/reports/builder/new/", {"dataset": "work_orders", "name": ""})
    assert bad.status_code == 200
    assert 'data-testid="form-error"' in bad.content.decode()


@override_settings(
    AUTOCRM_EMAIL_ENABLED=True,
    AUTOCRM_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
)
def test_schedule_sends_one_email_with_the_excel(world, january):
    report = builder.create_report(
        world.hq,
        **{**WO_BY_STORE_MONTH, "period": "all", "schedule": "daily"},
        recipients="boss@example.com, ops@example.com",
    )
    assert send_due() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["boss@example.com", "ops@example.com"]
    assert "门店月度工单" in message.subject
    ((name, content, mimetype),) = message.attachments
    assert name.endswith(".xlsx")
    rows = list(load_workbook(io.BytesIO(content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "门店"
    assert len(rows) > 2
    report.refresh_from_db()
    assert report.last_sent_at is not None
    assert send_due() == 0  # not again the same day
    assert len(mail.outbox) == 1


@override_settings(AUTOCRM_EMAIL_ENABLED=False)
def test_schedule_without_email_queues_outbox_rows(world, january):
    builder.create_report(
        world.hq,
        **{**WO_BY_STORE_MONTH, "schedule": "weekly", "recipients": ["boss@example.com"]},
    )
    send_scheduled_reports.call_local()  # the worker's periodic task
    message = OutboxMessage.objects.get(purpose="scheduled_report")
    assert message.channel == "email"
    assert message.to == "boss@example.com"
    assert len(mail.outbox) == 0
    assert SavedReport.objects.get().last_sent_at is not None
    assert send_due() == 0  # a week has not passed


def test_api_lists_and_runs_on_the_callers_scope(world, january):
    report = builder.create_report(world.hq, **WO_BY_STORE_MONTH)
    listed = api_client_for(world.manager_a2).get("/api/v1/reports")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [report.pk]
    assert listed.json()[0]["mine"] is False
    got = api_client_for(world.manager_a2).get(
        f"/api/v1/reports/{report.pk}/result?from=2026-01-01&to=2026-01-31"
    )
    assert got.status_code == 200
    body = got.json()
    assert body["keys"] == ["store", "month", "count", "sum_total"]
    assert body["rows"] == [
        {"store": "天津滨江店", "month": "2026-01", "count": 1, "sum_total": "113.00"}
    ]
    assert (
        api_client_for(world.advisor_a1).get(f"/api/v1/reports/{report.pk}/result").status_code
        == 404
    )


def test_work_orders_by_source_and_campaign(world, january):
    from autocrm.service.models import WorkOrder

    web = SourceChannel.objects.create(org=world.org, name="抖音")
    mine = SourceChannel.objects.create(org=world.org, name="门店自来")
    WorkOrder.objects.filter(pk__in=[january.c1v1.pk, january.c2v.pk]).update(
        source=web, campaign="DY-2601"
    )
    WorkOrder.objects.filter(pk=january.c1v2.pk).update(source=web)
    WorkOrder.objects.filter(pk=january.c3v.pk).update(source=mine)
    # The customer's own channel is another dimension: 张一 came through 门店自来.
    Customer.objects.filter(pk=january.c1v1.customer_id).update(source=mine)
    report = builder.create_report(
        world.hq,
        name="渠道活动",
        dataset="work_orders",
        dimensions=["source", "campaign"],
        measures=[{"agg": "count"}, {"agg": "sum", "field": "total"}],
    )
    rows = _jan(report, world.manager_a1).rows
    assert sorted(rows, key=str) == sorted(
        [
            ["抖音", "DY-2601", 2, Decimal("1356.00")],
            ["抖音", "—", 1, Decimal("565.00")],
            ["门店自来", "—", 1, Decimal("339.00")],
        ],
        key=str,
    )
    by_customer = builder.create_report(
        world.hq,
        name="客户渠道",
        dataset="work_orders",
        dimensions=["customer_source"],
        measures=[{"agg": "count"}],
    )
    assert {r[0]: r[1] for r in _jan(by_customer, world.manager_a1).rows} == {
        "门店自来": 2,
        "—": 2,
    }
    # Filterable: the condition compiler knows the work order's source and campaign.
    filtered = builder.create_report(
        world.hq,
        name="抖音活动",
        dataset="work_orders",
        dimensions=[],
        measures=[{"agg": "count"}],
        filters={"all": [{"field": "work_order.campaign", "op": "eq", "value": "DY-2601"}]},
    )
    assert _jan(filtered, world.manager_a1).rows == [[2]]
    by_source = builder.create_report(
        world.hq,
        name="抖音单",
        dataset="work_orders",
        dimensions=[],
        measures=[{"agg": "count"}],
        filters={"all": [{"field": "work_order.source", "op": "eq", "value": "抖音"}]},
    )
    assert _jan(by_source, world.manager_a1).rows == [[3]]


def test_pivot_of_three_levels_recomputes_averages_and_distinct_counts(world, january):
    """Store × month × day: the pivot's store × month cell is not the sum of the day rows
    for an average (Σ totals ÷ orders) or a distinct count (c1 came on two days)."""
    base = {**WO_BY_STORE_MONTH, "dimensions": ["store", "month", "day"]}
    avg = builder.create_report(
        world.hq, **{**base, "name": "平均", "measures": [{"agg": "avg", "field": "total"}]}
    )
    result = _jan(avg, world.hq)
    assert len([r for r in result.rows if r[0] == "北京朝阳店"]) == 4  # one row per day
    cells = {r["label"]: r["cells"] for r in result.pivot()["rows"]}
    # A1: (1130 + 565 + 226 + 339) ÷ 4 = 565.00 (the sum of the day averages is 2260).
    assert cells == {"北京朝阳店": [Decimal("565.00")], "天津滨江店": [Decimal("113.00")]}
    distinct = builder.create_report(
        world.hq,
        **{**base, "name": "客户数", "measures": [{"agg": "distinct", "field": "customer"}]},
    )
    cells = {r["label"]: r["cells"] for r in _jan(distinct, world.hq).pivot()["rows"]}
    assert cells == {"北京朝阳店": [3], "天津滨江店": [1]}  # c1, c2, c3 (days add up to 4)
    # Additive measures still add up, and the Excel pivot sheet has the same cells.
    summed = builder.create_report(
        world.hq, **{**base, "name": "合计", "measures": [{"agg": "sum", "field": "total"}]}
    )
    cells = {r["label"]: r["cells"] for r in _jan(summed, world.hq).pivot()["rows"]}
    assert cells == {"北京朝阳店": [Decimal("2260.00")], "天津滨江店": [Decimal("113.00")]}
    wb = load_workbook(io.BytesIO(builder.workbook(_jan(avg, world.hq))))
    assert list(wb.worksheets[1].iter_rows(values_only=True))[1:] == [
        ("北京朝阳店", 565),
        ("天津滨江店", 113),
    ]
    # A store manager's pivot is recomputed on their scope only.
    cells = {r["label"]: r["cells"] for r in _jan(avg, world.manager_a1).pivot()["rows"]}
    assert cells == {"北京朝阳店": [Decimal("565.00")]}
