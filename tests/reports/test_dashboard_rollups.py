"""The dashboard's figures read from the daily rollups equal the same figures computed from
the raw rows: several stores and scopes, sub-cent parts costs and odd clocked seconds, a
refund, a back-dated order (kept incrementally) and an empty period."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autocrm.feedback.models import Survey
from autocrm.reports import dashboard as sections
from autocrm.reports import figures, kpis, rollups, selectors
from autocrm.reports.models import DailyItemStat, MonthlyItemStat, PeriodFigure
from autocrm.service.models import Payment, TimeEntry, WorkOrder
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.reports.conftest import at, visit

# The figures the rollups serve (all additive per store-day).
ROLLED = (
    "car_count",
    "sales",
    "average_repair_order",
    "gross_profit",
    "gross_margin",
    "labour_mix",
    "parts_mix",
    "comeback_rate",
    "technician_efficiency",
    "revenue_per_bay_day",
    "close_ratio",
    "declined_value",
    "nps",
)
# The figures the worker stores per period and set of stores (not additive per store-day).
STORED = ("return_rate", "appointment_conversion")
PERIODS = {
    "january": (datetime.date(2026, 1, 1), datetime.date(2026, 1, 31)),
    "across months": (datetime.date(2026, 1, 5), datetime.date(2026, 2, 10)),
    "twelve months": (datetime.date(2025, 3, 1), datetime.date(2026, 2, 28)),
    "one day": (datetime.date(2026, 1, 20), datetime.date(2026, 1, 20)),
    "empty": (datetime.date(2025, 3, 1), datetime.date(2025, 3, 31)),
}
USERS = ("hq", "region_mgr", "manager_a1", "manager_a2", "other_admin")


@pytest.fixture
def chain(world, january):
    """January's store A1 plus: A3 (another region) with sub-cent parts costs on three days
    (0.5 × ¥0.01 each: 0.015 in all, 0.03 if each day were rounded), time entries of odd
    seconds, an advisor and a refund; an order of A2 settled on 3 February; B1 (another org)
    in February."""
    tiny = sf.part(world.org, name="垫片", price="0.02", cost=Decimal("0.01"))
    a3_advisor = world.advisor_a1  # advisors are per org: one who also wrote for A3
    a3_orders = []
    for day in (4, 12, 20):
        wo = visit(world.a3, cf.customer(world.a3), datetime.date(2026, 1, day), "113", parts="1")
        wo.advisor = a3_advisor
        wo.save()
        sf.line(
            wo, "垫片", price="0.02", quantity="0.5", kind="part", part=tiny, approval="approved"
        )
        labour = sf.line(wo, "工时", price="100.00", quantity="1.25", approval="approved")
        labour.technicians.set([world.tech_a1])
        start = at(datetime.date(2026, 1, day), 9)
        TimeEntry.objects.create(
            work_order=wo,
            line=labour,
            technician=world.tech_a1,
            started_at=start,
            ended_at=start + datetime.timedelta(minutes=47, seconds=13, microseconds=370000),
        )
        a3_orders.append(wo)
    # Two technicians on one order rated on another day (and month): once each.
    helper = f.staff(world.org, "technician", stores=[world.a3], username="tech-a3")
    a3_orders[2].lines.get(name="工时").technicians.add(helper)
    Survey.objects.create(
        org=world.org,
        store=world.a3,
        work_order=a3_orders[2],
        customer=a3_orders[2].customer,
        nps=6,
        timeliness=3,
        professionalism=3,
        attitude=3,
        result=3,
        submitted_at=at(datetime.date(2026, 2, 1), 10),
        is_low=True,
        # A code no longer offered is counted as "other", with the real "other".
        reasons=["slow", "price", "retired-code"],
    )
    Survey.objects.create(
        org=world.org,
        store=world.a3,
        work_order=a3_orders[1],
        customer=a3_orders[1].customer,
        nps=2,
        timeliness=1,
        professionalism=2,
        attitude=2,
        result=2,
        submitted_at=at(datetime.date(2026, 1, 13), 10),
        is_low=True,
        reasons=["slow", "other"],
    )
    paid = Payment.objects.create(
        org=world.org,
        store=world.a3,
        work_order=a3_orders[0],
        method="cash",
        amount=Decimal("113.00"),
        created_at=at(datetime.date(2026, 1, 4), 13),
    )
    Payment.objects.create(
        org=world.org,
        store=world.a3,
        work_order=paid.work_order,
        method="cash",
        amount=Decimal("-50.00"),
        created_at=at(datetime.date(2026, 1, 6), 10),
    )
    feb = visit(world.a2, cf.customer(world.a2), datetime.date(2026, 2, 3), "452", labour="452")
    sf.line(feb, "四轮定位", price="400.00", approval="approved")
    other = visit(world.b1, cf.customer(world.b1), datetime.date(2026, 2, 3), "999")
    sf.line(other, "别家项目", price="999.00", approval="approved")
    rollups.rebuild()
    return {"feb": feb}


def _bases(user, start, end):
    return (
        kpis.basis_for(user, start, end, rollups=True),
        kpis.basis_for(user, start, end),
    )


def assert_same_figures(world):
    for name in USERS:
        user = getattr(world, name)
        for period, (start, end) in PERIODS.items():
            rolled, raw = _bases(user, start, end)
            assert rolled.rolled_up and not raw.rolled_up
            where = f"{name}, {period}"
            for code in ROLLED:
                assert kpis.value(code, rolled) == kpis.value(code, raw), f"{code}: {where}"
            assert sections.advisor_ranking(user, rolled) == sections.advisor_ranking(user, raw)
            assert sections.technician_satisfaction(
                user, rolled
            ) == sections.technician_satisfaction(user, raw)
            assert sections.popular_services(rolled) == sections.popular_services(raw), where
            assert sections.low_score_reasons(rolled) == sections.low_score_reasons(raw), where
            assert selectors.tiles(user, start, end) == selectors.tiles(user, start, end, raw)
            for row in sections.store_ranking(user, rolled):
                store = raw.narrow("store", row["key"])
                assert row["cars"] == kpis.car_count(store), where
                assert Decimal(row["value"]) == kpis.sales(store), where


def test_rollup_figures_equal_the_raw_ones(world, chain):
    jan, _raw = _bases(world.hq, *PERIODS["january"])
    # Sub-cent costs summed exactly (a per-day rounding would give 500.03).
    assert kpis.parts_cost(jan) == Decimal("500.02")
    # 5 h + 3 × 47 min 13.37 s = 26 500.11 s, rounded to tenths as the raw sum is.
    assert kpis.clocked_hours(jan) == Decimal("26500.1") / Decimal(3600)
    both, _raw = _bases(world.hq, *PERIODS["across months"])
    counted = {r["key"]: r["value"] for r in sections.low_score_reasons(both)}
    assert counted == {"slow": 2, "other": 2, "price": 1}
    assert_same_figures(world)


def test_empty_period_and_scopes(world, chain):
    rolled, raw = _bases(world.hq, *PERIODS["empty"])
    assert kpis.car_count(rolled) == 0 and kpis.sales(rolled) is None
    assert kpis.technician_efficiency(rolled) is None
    assert sections.popular_services(rolled) == {"revenue": [], "margin": []}
    assert sections.advisor_ranking(world.hq, rolled) == []
    # The store manager of A2 sees A2 only; the other org none of the antu stores.
    jan_a2, _raw = _bases(world.manager_a2, *PERIODS["january"])
    assert kpis.car_count(jan_a2) == 1
    feb_other, _raw = _bases(world.other_admin, *PERIODS["across months"])
    assert [s["label"] for s in sections.popular_services(feb_other)["revenue"]] == ["别家项目"]
    # Narrowed to a region or store the rollups stay; to an advisor or technician they go.
    north = rolled.narrow("region", world.north.pk)
    assert north.rolled_up and north.narrow("store", world.a1.pk).rolled_up
    assert not rolled.narrow("advisor", world.advisor_a1.pk).rolled_up
    assert not rolled.narrow("technician", world.tech_a1.pk).rolled_up


def test_backdated_order_is_moved_incrementally(world, chain):
    feb = chain["feb"]
    assert MonthlyItemStat.objects.filter(store=world.a2, name="四轮定位").count() == 1
    previous = rollups.local_window(datetime.date(2026, 2, 3), datetime.date(2026, 2, 3))
    assert previous[0] <= feb.settled_at < previous[1]
    WorkOrder.objects.filter(pk=feb.pk).update(settled_at=at(datetime.date(2026, 1, 28)))
    rollups.refresh_work_order(feb.pk, previous_days=["2026-02-03"])
    moved = MonthlyItemStat.objects.get(store=world.a2, name="四轮定位")
    assert moved.month == datetime.date(2026, 1, 1) and moved.lines == 1
    assert not DailyItemStat.objects.filter(store=world.a2, day=datetime.date(2026, 2, 3))
    assert_same_figures(world)


def test_dashboard_reads_no_raw_history_for_additive_figures(world, chain):
    rolled, _raw = _bases(world.hq, *PERIODS["twelve months"])
    with CaptureQueriesContext(connection) as ctx:
        for code in ROLLED:
            kpis.value(code, rolled)
        sections.popular_services(rolled)
        sections.low_score_reasons(rolled)
        sections.advisor_ranking(world.hq, rolled)
        sections.technician_satisfaction(world.hq, rolled)
        sections.store_ranking(world.hq, rolled)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "service_workorder" not in sql and "service_timeentry" not in sql
    assert "feedback_survey" not in sql
    # Whole months from the month rows.
    for table in ("store", "staff", "item", "reason"):
        assert f"reports_monthly{table}stat" in sql


def test_stored_period_figures_equal_the_live_ones(world, chain):
    """The worker's figures per store, region and org equal the live computation for every
    scope that reads them; the tile says when they were computed."""
    kept = figures.refresh(spans=list(PERIODS.values()))
    # Per period: each distinct set of stores (the org, each region, each store; a region
    # of one store is that store's set) of both orgs.
    sets = set()
    for org in (world.org, world.other_org):
        stores = list(org.stores.all())
        sets.add(frozenset(s.pk for s in stores))
        sets |= {frozenset([s.pk]) for s in stores}
        for region in {s.region_id for s in stores} - {None}:
            sets.add(frozenset(s.pk for s in stores if s.region_id == region))
    assert kept == len(PERIODS) * len(STORED) * len(sets)
    jan_rate = None
    for name in USERS:
        user = getattr(world, name)
        for period, (start, end) in PERIODS.items():
            rolled, raw = _bases(user, start, end)
            for code in STORED:
                assert kpis.value(code, rolled) == kpis.value(code, raw), f"{code}: {name} {period}"
                assert kpis.stored_at(rolled, code) is not None, f"{code}: {name} {period}"
            if name == "hq" and period == "january":
                jan_rate = kpis.return_rate(rolled)
            # Narrowed to a store of theirs: that store's own figure.
            for store_id in sorted(rolled.store_ids)[:1]:
                narrowed = rolled.narrow("store", store_id)
                assert kpis.stored_at(narrowed, "return_rate") is not None
                assert kpis.return_rate(narrowed) == kpis.return_rate(raw.narrow("store", store_id))
    # 张一 came twice in January at A1 among the org's customers seen that month.
    assert jan_rate is not None and jan_rate > 0
    # An advisor's or a technician's narrowing has no stored figure: computed live.
    jan, _raw = _bases(world.hq, *PERIODS["january"])
    assert kpis.stored_at(jan.narrow("advisor", world.advisor_a1.pk), "return_rate") is None


def test_stored_figures_are_read_not_recomputed(world, chain):
    start, end = PERIODS["january"]
    figures.refresh(spans=[(start, end)])
    rolled, _raw = _bases(world.hq, start, end)
    with CaptureQueriesContext(connection) as ctx:
        for code in STORED:
            kpis.value(code, rolled)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert len(ctx.captured_queries) == 1 and "reports_periodfigure" in sql
    assert "service_workorder" not in sql and "service_appointment" not in sql


def test_stale_or_unknown_period_figures_are_computed_live(world, chain):
    start, end = PERIODS["january"]
    figures.refresh(spans=[(start, end)])
    live = kpis.return_rate(_bases(world.hq, start, end)[1])
    # A figure the worker has not refreshed for longer than FRESH is not shown as current.
    PeriodFigure.objects.update(
        value=Decimal("99.99"), computed_at=timezone.now() - figures.FRESH * 2
    )
    rolled, _raw = _bases(world.hq, start, end)
    assert kpis.return_rate(rolled) == live and kpis.stored_at(rolled, "return_rate") is None
    # A period the worker does not keep: live too.
    other, raw = _bases(world.hq, start, end - datetime.timedelta(days=1))
    assert kpis.stored_at(other, "return_rate") is None
    assert kpis.return_rate(other) == kpis.return_rate(raw)


def test_figures_of_another_org_are_never_read(world, chain):
    """Rows are found by org as well as by the set of stores: a copy of antu's figures
    filed under the other org's id is not read by antu's HQ, nor antu's by the other org."""
    start, end = PERIODS["january"]
    figures.refresh(orgs=[world.other_org], spans=[(start, end)])
    rolled, raw = _bases(world.hq, start, end)
    key = figures.stores_key(rolled.store_ids)
    PeriodFigure.objects.create(
        org=world.other_org,
        stores_key=key,
        start=start,
        end=end,
        code="return_rate",
        value=Decimal("99.99"),
    )
    assert kpis.stored_at(rolled, "return_rate") is None
    assert kpis.return_rate(rolled) == kpis.return_rate(raw)


def test_dashboard_page_shows_when_stored_figures_were_computed(world, chain, client):
    start, end = PERIODS["january"]
    figures.refresh(spans=[(start, end)])
    client.force_login(world.hq)
    page = client.get(f"/reports/?from={start}&to={end}").content.decode()
    assert 'data-testid="tile-as-of"' in page and "截至" in page
    # The quick periods are links to the periods the worker keeps.
    assert 'data-testid="period-last_12_months"' in page


def test_worker_task_keeps_the_quick_periods(world, chain, client):
    """The 10-minute task stores the quick periods' figures; the dashboard's default period
    (this month so far) and its quick links then read them."""
    from autocrm.reports import builder
    from autocrm.reports.tasks import refresh_period_figures

    refresh_period_figures.call_local()
    kept = set(PeriodFigure.objects.values_list("start", "end").distinct())
    assert kept == {builder.period_window(p) for p in figures.PRESETS}
    client.force_login(world.hq)
    page = client.get("/reports/").content.decode()
    assert 'data-testid="tile-as-of"' in page


def test_this_month_so_far_reads_the_month_row(world, chain):
    """A period from the 1st to today reads this month's item row (nothing is rolled up after
    today); the figures equal the raw ones. A period ending before today reads the days."""
    today = timezone.localdate()
    first = today.replace(day=1)
    wo = visit(world.a1, cf.customer(world.a1), today, "226", labour="200")
    sf.line(wo, "今日保养", price="200.00", approval="approved")
    rollups.refresh_work_order(wo.pk)
    rolled, raw = _bases(world.hq, first, today)
    with CaptureQueriesContext(connection) as ctx:
        got = sections.popular_services(rolled)
    assert got == sections.popular_services(raw)
    assert [s["label"] for s in got["revenue"]] == ["今日保养"]
    reads = [q["sql"] for q in ctx.captured_queries if "SUM(" in q["sql"]]
    assert len(reads) == 1 and "reports_monthlyitemstat" in reads[0]
    if today.day > 1:  # up to yesterday: the month is not over, the days are read
        rolled, raw = _bases(world.hq, first, today - datetime.timedelta(days=1))
        with CaptureQueriesContext(connection) as ctx:
            assert sections.popular_services(rolled) == sections.popular_services(raw)
        assert "reports_monthlyitemstat" not in " ".join(q["sql"] for q in ctx.captured_queries)
