"""The /reports/ dashboard page."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from autocrm.reports import rollups
from autocrm.service.models import Payment
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.conftest import client_for
from tests.reports.conftest import visit


def test_manager_sees_today_trend_and_tiles(world, january):
    today = timezone.localdate()
    wo = visit(world.a1, cf.customer(world.a1), today, "226")
    Payment.objects.create(
        org=world.org, store=world.a1, work_order=wo, method="cash", amount=Decimal("226.00")
    )
    sf.work_order(world.a1, status="in_progress")  # with the one of January: 2 open
    sf.work_order(world.a2, status="in_progress")  # another store: not counted
    rollups.rebuild()
    r = client_for(world.manager_a1).get("/reports/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "报表" in html and "今日进店台次" in html
    assert 'data-testid="today-cars">1<' in html
    assert "¥226.00" in html
    assert 'data-testid="open-total"><a href="/work-orders/?status=open">2<' in html
    assert "近 12 个月台次与营业额" in html
    assert "/static/vendor/echarts/echarts.min.js" in html
    assert 'id="trend-data"' in html
    assert html.count('data-testid="tile"') == 10
    assert "退税" not in html and "不含税" in html  # formula tooltips
    assert 'href="/work-orders/?status=settled"' in html
    # The nav has the reports item.
    assert 'href="/reports/"' in html


def test_period_from_query_and_bad_period_warns(world, january):
    rollups.rebuild()  # the tiles read the daily rollups the worker keeps
    client = client_for(world.manager_a1)
    r = client.get("/reports/", {"from": "2026-01-01", "to": "2026-01-31"})
    assert r.status_code == 200
    assert "¥500.00" in r.content.decode()  # average repair order of January
    r = client.get("/reports/", {"from": "not-a-date"})
    assert r.status_code == 200 and "请按 YYYY-MM-DD 输入日期" in r.content.decode()


def test_empty_store_shows_dashes(world):
    r = client_for(world.manager_a2).get("/reports/")
    assert r.status_code == 200 and "—" in r.content.decode()


def test_technician_is_refused(world):
    assert client_for(world.tech_a1).get("/reports/").status_code == 403


def test_advisor_may_open_it(world):
    assert client_for(world.advisor_a1).get("/reports/").status_code == 200


# --- charts and per-role sections ---------------------------------------------------------

JAN = {"from": "2026-01-01", "to": "2026-01-31"}


def _charts(response) -> dict:
    import json
    import re

    found = re.search(
        r'<script id="dashboard-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, "no chart data on the page"
    return json.loads(found.group(1))


def _low(work_order, *reasons):
    from autocrm.feedback.models import Survey

    Survey.objects.filter(work_order=work_order).update(is_low=True, reasons=list(reasons))


def _a2_survey(world, january, *reasons):
    from autocrm.feedback.models import Survey

    Survey.objects.create(
        org=world.org,
        store=world.a2,
        work_order=january.a2v,
        customer=january.a2v.customer,
        nps=2,
        timeliness=1,
        professionalism=1,
        attitude=1,
        result=1,
        reasons=list(reasons),
        is_low=True,
        submitted_at=january.a2v.settled_at,
    )


def test_manager_charts_rankings_reasons_and_services(world, january):
    _low(january.c3v, "slow", "price")
    _low(january.c2v, "slow", "no-such-code")
    _a2_survey(world, january, "attitude")  # another store: not in A1's figures
    rollups.rebuild()
    r = client_for(world.manager_a1).get("/reports/", JAN)
    assert r.status_code == 200
    html = r.content.decode()
    for testid in (
        "advisor-rank-chart",
        "technician-rank-chart",
        "reasons-chart",
        "services-revenue-chart",
        "services-margin-chart",
    ):
        assert f'data-testid="{testid}"' in html
    assert 'data-testid="store-rank-chart"' not in html  # one store: nothing to compare
    assert 'data-testid="mine"' not in html
    charts = _charts(r)
    assert charts["stores"] == []
    # Advisor sales: c1's first visit, 1130 incl. VAT → 1000.
    assert [(a["label"], a["value"], a["count"]) for a in charts["advisors"]] == [
        (world.advisor_a1.display_name, "1000.00", 1)
    ]
    assert charts["advisors"][0]["url"] == (
        f"/reports/drill/orders/?from=2026-01-01&to=2026-01-31&advisor={world.advisor_a1.pk}"
    )
    # tech_a1 worked on c1v1 (NPS 10), c1v2 (9) and c3v (3): (2 − 1) ÷ 3 = 33.33.
    tech = charts["technicians"]
    assert [(t["label"], t["value"], t["count"]) for t in tech] == [
        (world.tech_a1.display_name, "33.33", 3)
    ]
    assert tech[0]["url"].endswith(f"technician={world.tech_a1.pk}")
    # Reasons of A1's low scores only; an unknown code counts as "other".
    assert [(x["key"], x["value"]) for x in charts["reasons"]] == [
        ("slow", 2),
        ("other", 1),
        ("price", 1),
    ]
    # Approved lines of January's visits (declined, deferred and open orders left out).
    revenue = [(s["label"], s["revenue"]) for s in charts["services"]["revenue"]]
    assert revenue == [
        ("刹车片", "600.00"),
        ("返修", "565.00"),
        ("工时", "530.00"),
        ("检查", "339.00"),
        ("滤芯", "226.00"),
        ("自带机油", "0.00"),
    ]
    margin = [(s["label"], s["margin"]) for s in charts["services"]["margin"]]
    assert margin == [
        ("返修", "565.00"),
        ("工时", "530.00"),
        ("检查", "339.00"),
        ("刹车片", "200.00"),  # 600 − 2 × 200 cost
        ("滤芯", "126.00"),  # 226 − 100
        ("自带机油", "0.00"),  # owner-supplied: no cost
    ]


def test_charts_never_show_another_store(world, january):
    _low(january.c3v, "slow")
    _a2_survey(world, january, "attitude")
    rollups.rebuild()
    charts = _charts(client_for(world.manager_a2).get("/reports/", JAN))
    assert charts["advisors"] == [] and charts["technicians"] == []
    assert [(x["key"], x["value"]) for x in charts["reasons"]] == [("attitude", 1)]
    assert charts["services"] == {"revenue": [], "margin": []}
    # The other org's admin sees none of it.
    charts = _charts(client_for(world.other_admin).get("/reports/", JAN))
    assert charts["reasons"] == [] and charts["advisors"] == [] and charts["stores"] == []


def test_hq_compares_stores_with_links_to_the_drill_down(world, january):
    _low(january.c3v, "slow")
    _a2_survey(world, january, "attitude")
    rollups.rebuild()
    r = client_for(world.hq).get("/reports/", JAN)
    html = r.content.decode()
    assert 'data-testid="store-rank-chart"' in html
    charts = _charts(r)
    assert [(s["label"], s["value"], s["cars"]) for s in charts["stores"]] == [
        ("北京朝阳店", "2000.00", 4),
        ("天津滨江店", "100.00", 1),
    ]
    assert charts["stores"][0]["url"].endswith(f"store={world.a1.pk}")
    assert sorted(x["key"] for x in charts["reasons"]) == ["attitude", "slow"]
    assert "别家一店" not in html


def test_advisor_sees_own_figures_follow_ups_and_low_scores(world, january):
    import datetime

    from autocrm.automation.models import Task

    _low(january.c1v1, "price")  # c1v1 is advisor_a1's work order
    _low(january.c3v, "slow")  # not theirs
    now = timezone.now()
    Task.objects.create(
        org=world.org,
        store=world.a1,
        title="回访张一",
        assignee=world.advisor_a1,
        due_at=now - datetime.timedelta(days=1),
    )
    Task.objects.create(
        org=world.org,
        store=world.a1,
        title="保养提醒",
        assignee=world.advisor_a1,
        due_at=now + datetime.timedelta(days=2),
    )
    Task.objects.create(
        org=world.org, store=world.a1, title="店长的事", assignee=world.manager_a1, due_at=now
    )
    Task.objects.create(
        org=world.org,
        store=world.a1,
        title="已经办完",
        assignee=world.advisor_a1,
        due_at=now,
        status=Task.Status.DONE,
    )
    rollups.rebuild()
    r = client_for(world.advisor_a1).get("/reports/", JAN)
    assert r.status_code == 200
    html = r.content.decode()
    assert "我的回访" in html and 'data-testid="mine"' in html
    assert 'data-testid="my-open">2 项待办<' in html
    assert 'data-testid="my-overdue">1 项逾期<' in html
    assert html.count('data-testid="my-task"') == 2
    assert "回访张一" in html and "保养提醒" in html
    assert "店长的事" not in html and "已经办完" not in html
    # Own figures only: one visit of 1000, the appointment conversion of their bookings.
    assert html.count('data-testid="tile"') == 6
    assert 'data-metric="close_ratio"' in html and 'data-metric="appointment_conversion"' in html
    assert "¥1,000.00" in html
    # Their low score, not the store's other one.
    assert 'data-testid="my-low-count">1<' in html
    assert html.count('data-testid="my-low-score"') == 1
    assert january.c1v1.number in html and january.c3v.number not in html
    charts = _charts(r)
    assert charts["advisors"] == [] and charts["technicians"] == [] and charts["stores"] == []
    assert [(x["key"], x["value"]) for x in charts["reasons"]] == [("price", 1)]
    assert [s["label"] for s in charts["services"]["revenue"]] == ["刹车片", "工时", "自带机油"]


def test_dashboard_queries_do_not_grow_with_stores_and_people(
    world, january, django_assert_max_num_queries
):
    """The charts are grouped queries: more stores, technicians and advisors with data in the
    period add no query."""
    import datetime

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.reports.conftest import visit

    rollups.rebuild()

    def count(user):
        client = client_for(user)
        client.get("/reports/", JAN)  # warm the session and caches
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/reports/", JAN).status_code == 200
        return len(ctx.captured_queries)

    before = {u: count(u) for u in (world.hq, world.manager_a1)}
    from tests import factories as f

    for i in range(3):
        tech = f.staff(world.org, "technician", stores=[world.a3], username=f"t-a3-{i}")
        adv = f.staff(world.org, "service_advisor", stores=[world.a3], username=f"sa-a3-{i}")
        wo = visit(world.a3, cf.customer(world.a3), datetime.date(2026, 1, 10 + i), "339")
        wo.advisor = adv
        wo.save()
        sf.line(wo, "保养", price="300.00", approval="approved").technicians.set([tech])
    rollups.rebuild()
    after = {u: count(u) for u in (world.hq, world.manager_a1)}
    assert after == before
    assert before[world.hq] <= 45 and before[world.manager_a1] <= 45
