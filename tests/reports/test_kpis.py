"""Every KPI against the hand-computed January of ``conftest.january``."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from autocrm.reports import kpis
from tests.reports.conftest import JAN_1, JAN_31

D = Decimal

EXPECTED = {
    "return_rate": D("33.33"),
    "avg_days_between_visits": D("20.00"),
    # c1 1695/1y, c2 226/1y, c3 1339/2y → yearly (1695+226+669.5)/3 = 863.5; years 4/3.
    "lifetime_value": D("1151.33"),
    "active_customers_30": 3,
    "active_customers_90": 3,
    "active_customers_365": 3,
    "new_customers_30": 2,
    "new_customers_90": 2,
    "new_customers_365": 2,
    "churned_customers": 1,
    "nps": D("25.00"),
    "survey_timeliness": D("3.50"),
    "survey_professionalism": D("5.00"),
    "appointment_conversion": D("60.00"),
    "no_show_rate": D("20.00"),
    "car_count": 4,
    "sales": D("2000.00"),
    "average_repair_order": D("500.00"),
    "gross_profit": D("1500.00"),
    "gross_margin": D("75.00"),
    "labour_mix": D("63.45"),
    "parts_mix": D("36.55"),
    "close_ratio": D("88.28"),
    "declined_value": D("300.00"),
    "technician_efficiency": D("80.00"),
    "technician_productivity": D("1.33"),
    "comeback_rate": D("25.00"),
    # Sales 2000 ÷ (4 bays, the default × 31 open days of January) = 16.129…
    "revenue_per_bay_day": D("16.13"),
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_kpi_against_hand_computed_january(world, january, code):
    b = kpis.basis_for(world.manager_a1, JAN_1, JAN_31)
    assert kpis.value(code, b) == EXPECTED[code]


def test_every_metric_has_a_formula_and_is_covered():
    for metric in kpis.METRICS.values():
        assert str(metric.formula) and str(metric.label)
    missing = set(kpis.METRICS) - set(EXPECTED) - {"survey_attitude", "survey_result"}
    assert not missing


def test_churn_days_are_configurable(world, january):
    b = kpis.basis_for(world.manager_a1, JAN_1, JAN_31, churn_days=700)
    assert kpis.churned_customers(b) == 0  # c6's last visit was 609 days before Jan 31
    assert kpis.churned_customers(b, days=30) == 1


RATIOS = [
    "return_rate",
    "avg_days_between_visits",
    "lifetime_value",
    "nps",
    "survey_timeliness",
    "appointment_conversion",
    "no_show_rate",
    "sales",
    "average_repair_order",
    "gross_profit",
    "gross_margin",
    "labour_mix",
    "parts_mix",
    "close_ratio",
    "technician_efficiency",
    "technician_productivity",
    "comeback_rate",
    "revenue_per_bay_day",
]


@pytest.mark.parametrize("code", RATIOS)
def test_empty_period_gives_none_not_an_error(world, january, code):
    b = kpis.basis_for(world.manager_a1, datetime.date(2025, 3, 1), datetime.date(2025, 3, 31))
    assert kpis.value(code, b) is None
    assert kpis.display(None) == "—"


def test_counts_in_an_empty_period_are_zero(world, january):
    b = kpis.basis_for(world.manager_a1, datetime.date(2025, 3, 1), datetime.date(2025, 3, 31))
    assert kpis.car_count(b) == 0
    assert kpis.declined_value(b) == D("0.00")


def test_zero_sales_margin_is_none(world):
    from tests import customer_factories as cf
    from tests.reports.conftest import visit

    visit(world.a1, cf.customer(world.a1), JAN_1, "0")
    b = kpis.basis_for(world.manager_a1, JAN_1, JAN_31)
    assert kpis.car_count(b) == 1
    assert kpis.gross_margin(b) is None and kpis.labour_mix(b) is None


def test_scope_store_manager_region_hq_and_other_org(world, january):
    def cars(user):
        return kpis.car_count(kpis.basis_for(user, JAN_1, JAN_31))

    assert cars(world.manager_a1) == 4
    assert cars(world.manager_a2) == 1
    assert cars(world.region_mgr) == 5
    assert cars(world.hq) == 5
    assert cars(world.other_admin) == 1  # their own store only, none of ours


def test_advisor_sees_own_figures_only(world, january):
    b = kpis.basis_for(world.advisor_a1, JAN_1, JAN_31)
    assert kpis.car_count(b) == 1
    assert kpis.sales(b) == D("1000.00")


def test_narrow_by_technician_and_store(world, january):
    b = kpis.basis_for(world.hq, JAN_1, JAN_31)
    tech = b.narrow("technician", world.tech_a1.pk)
    assert kpis.technician_efficiency(tech) == D("80.00")
    assert kpis.car_count(b.narrow("store", world.a2.pk)) == 1
    assert kpis.car_count(b.narrow("region", world.north.pk)) == 5
    assert kpis.car_count(b.narrow("region", world.south.pk)) == 0


def test_revenue_per_bay_day_uses_each_stores_bays(world, january):
    from autocrm.service.models import ServiceSettings

    ServiceSettings.objects.update_or_create(store=world.a1, defaults={"bays": 5})
    b = kpis.basis_for(world.manager_a1, JAN_1, JAN_31)
    assert kpis.bay_days(b) == 155
    assert kpis.revenue_per_bay_day(b) == D("12.90")  # 2000 ÷ (5 × 31)
    # HQ: A1 2000 + A2 100 (113 less VAT) over A1 5 + A2 4 + A3 4 bays × 31 days.
    hq = kpis.basis_for(world.hq, JAN_1, JAN_31)
    assert kpis.revenue_per_bay_day(hq) == D("5.21")  # 2100 ÷ 403
    # One store of the HQ basis: its own bays only.
    assert kpis.revenue_per_bay_day(hq.narrow("store", world.a2.pk)) == D("0.81")  # 100 ÷ 124
    assert "÷" in str(kpis.METRICS["revenue_per_bay_day"].formula)


def test_open_days_stop_today(world):
    import datetime as dt

    from django.utils import timezone

    today = timezone.localdate()
    b = kpis.basis_for(world.manager_a1, today - dt.timedelta(days=2), today + dt.timedelta(9))
    assert kpis.open_days(b) == 3
    assert kpis.revenue_per_bay_day(b) is None  # no visits: nothing to show


def test_money_totals_are_read_once_per_basis(world, january, django_assert_num_queries):
    b = kpis.basis_for(world.manager_a1, JAN_1, JAN_31)
    with django_assert_num_queries(1):
        figures = [kpis.value(code, b) for code in ("car_count", "sales", "comeback_rate")]
        figures += [kpis.average_repair_order(b), kpis.labour_mix(b), kpis.parts_mix(b)]
    assert figures[:2] == [EXPECTED["car_count"], EXPECTED["sales"]]
    # A narrowed basis reads its own totals.
    assert kpis.car_count(b.narrow("advisor", world.advisor_a1.pk)) == 1
