"""The shop-floor demo (small scale, loaded once for the module): sizes, money that adds up,
numbers, the job board, customer and vehicle figures, survey alerts."""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import transaction
from django.db.models import Count, F, Max, Min, Sum

from autocrm.catalog.models import LabourItem, Part, ServicePackage
from autocrm.catalog.pricing import line_amount
from autocrm.core import demo as core_demo
from autocrm.core.demo import load_demo
from autocrm.core.models import Organization
from autocrm.customers.models import Customer, Vehicle
from autocrm.feedback.models import Survey
from autocrm.service import demo as service_demo
from autocrm.service.models import (
    Appointment,
    Inspection,
    InspectionTemplate,
    Payment,
    QualityCheck,
    Recommendation,
    ServiceSettings,
    TimeEntry,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderLine,
)
from autocrm.service.services import CENT
from autocrm.workflow.models import DEFAULT_STAGES, Stage, StageVisit

OPEN = ["draft", "estimate", "in_progress", "qc", "ready"]
VISITS = ["settled", "closed"]


@pytest.fixture(scope="module", params=["per order", "set-based history"])
def demo(request, django_db_setup, django_db_blocker):
    """Load once per way of writing the history, roll back at the end of the module.

    "set-based history": as at ``large`` scale, the customers and vehicles are written by
    ``customers.demo_bulk``'s SQL, only the last 90 days are drawn order by order and the months
    before are written by ``service.demo_history``'s SQL."""
    from autocrm.customers import demo as customers_demo

    plan = service_demo.PLAN["small"]
    saved = dict(plan)
    saved_customers = set(customers_demo.SET_BASED)
    if request.param == "set-based history":
        plan["python_days"] = 90
        customers_demo.SET_BASED.add("small")
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            result = load_demo("small")
            result.set_based = request.param == "set-based history"
            yield result
            transaction.set_rollback(True)
    finally:
        plan.clear()
        plan.update(saved)
        customers_demo.SET_BASED.clear()
        customers_demo.SET_BASED.update(saved_customers)


pytestmark = pytest.mark.django_db


def test_extend_false_skips_the_shop_floor():
    # Runs first, before the module's demo exists. The e2e tests load
    # ``load_demo("chain", extend=False)``: stores and staff only, no shop floor.
    assert not Organization.objects.filter(code=core_demo.ORG_CODE).exists()
    load_demo("small", extend=False)
    assert Stage.objects.count() == 0 and WorkOrder.objects.count() == 0


def test_registered_after_the_customers_loader():
    from autocrm.customers.demo import load as customers_load

    loaders = core_demo.EXTENSIONS
    assert loaders.index(customers_load) < loaders.index(service_demo.load)


def test_counts_are_in_range(demo):
    assert demo.counts["work orders"] == 3_000
    assert WorkOrder.objects.count() == 3_000
    lines = WorkOrderLine.objects.count()
    assert 3 * 3_000 <= lines <= 6 * 3_000
    assert 35 <= LabourItem.objects.count() <= 50 and 70 <= Part.objects.count() <= 90
    assert set(ServicePackage.objects.values_list("name", flat=True)) >= {
        "小保养",
        "大保养",
        "四轮定位",
        "空调清洗",
        "功放安装",
        "DSP调音",
    }
    assert ServiceSettings.objects.count() == 1
    assert Stage.objects.count() == len(DEFAULT_STAGES)
    template = InspectionTemplate.objects.get(name="接车检查")
    assert 18 <= template.items.count() <= 25
    assert len(set(template.items.values_list("section", flat=True))) >= 4
    by_status = dict(WorkOrder.objects.values_list("status").annotate(n=Count("id")))
    assert by_status["closed"] + by_status["settled"] > 0.9 * 3_000
    assert 20 <= sum(by_status.get(s, 0) for s in OPEN) <= 45
    assert 0 < by_status["cancelled"] < 150
    assert Payment.objects.count() >= by_status["closed"]
    assert 100 < Survey.objects.count() < 1_200
    assert Appointment.objects.filter(
        starts_at__gt=WorkOrder.objects.aggregate(m=Max("opened_at"))["m"]
    ).exists()
    assert {"arrived", "no_show", "cancelled"} <= set(
        Appointment.objects.values_list("status", flat=True)
    )
    assert TimeEntry.objects.exists() and QualityCheck.objects.exists()
    assert Inspection.objects.filter(results__rating="now").exists()
    assert Recommendation.objects.filter(status="open").exists()
    assert Recommendation.objects.exclude(status="open").exists()


def test_older_months_come_from_the_set_based_writer(demo):
    import datetime

    from django.utils import timezone

    cutoff = timezone.now() - datetime.timedelta(days=95)
    older = WorkOrder.objects.filter(opened_at__lt=cutoff)
    assert older.count() > 1_500
    # The set-based writer leaves out the shop floor's detail (time, QC, inspections).
    detail = TimeEntry.objects.filter(work_order__opened_at__lt=cutoff).exists()
    assert detail is not demo.set_based
    assert older.filter(appointment__isnull=False).exists()
    assert older.filter(survey__isnull=False).exists()


def test_every_reference_resolves(demo):
    from autocrm.customers.models import MileageReading
    from tests.references import dangling

    assert (
        dangling(
            WorkOrder,
            WorkOrderLine,
            Payment,
            Appointment,
            Recommendation,
            Survey,
            MileageReading,
            WorkOrderCounter,
        )
        == []
    )


def test_line_amounts_and_totals_add_up(demo):
    sums = defaultdict(lambda: defaultdict(Decimal))
    for wo_id, category, approval, qty, price, pct, amount in WorkOrderLine.objects.values_list(
        "work_order", "category", "approval", "quantity", "unit_price", "discount_pct", "amount"
    ):
        expected = line_amount(qty, price, pct)
        assert amount == expected
        if approval != "approved":
            continue
        s = sums[wo_id]
        key = {"material": "parts", "other": "other"}.get(category, "labour")
        s[key] += amount
        s["discount"] += (qty * price).quantize(CENT, ROUND_HALF_UP) - amount
    paid = dict(
        Payment.objects.values_list("work_order")
        .annotate(s=Sum("amount"))
        .values_list("work_order", "s")
    )
    for wo in WorkOrder.objects.all():
        s = sums[wo.pk]
        assert wo.labour_total == s["labour"]
        assert wo.parts_total == s["parts"]
        assert wo.other_total == s["other"]
        assert wo.discount_total == s["discount"]
        assert wo.total == s["labour"] + s["parts"] + s["other"]
        assert wo.tax == wo.total - (wo.total / Decimal("1.13")).quantize(CENT, ROUND_HALF_UP)
        assert wo.paid == paid.get(wo.pk, Decimal(0))
        assert wo.paid <= wo.total
        if wo.status == "closed":
            assert wo.paid == wo.total and wo.closed_at >= wo.settled_at
    assert WorkOrder.objects.filter(status="settled", paid__lt=F("total")).exists()


def test_numbers_are_unique_and_well_formed(demo):
    numbers = list(WorkOrder.objects.values_list("store__code", "number", "opened_at"))
    assert len({n for _s, n, _o in numbers}) == len(numbers)
    for code, number, opened in numbers:
        match = re.fullmatch(r"([A-Z0-9]+)-(\d{8})-(\d{3})", number)
        assert match and match[1] == code.upper()
        assert match[2] == opened.astimezone(_shanghai()).strftime("%Y%m%d")
    last = dict(WorkOrderCounter.objects.values_list("day", "last"))
    per_day = defaultdict(int)
    for _c, _n, opened in numbers:
        per_day[opened.astimezone(_shanghai()).date()] += 1
    assert last == dict(per_day)


def _shanghai():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_every_open_order_is_on_the_board(demo):
    open_orders = WorkOrder.objects.filter(status__in=OPEN)
    assert open_orders.exists()
    for wo in open_orders:
        assert wo.stage_id is not None and wo.stage_entered_at is not None
        current = StageVisit.objects.filter(work_order=wo, left_at__isnull=True)
        assert list(current.values_list("stage", flat=True)) == [wo.stage_id]
    assert not WorkOrder.objects.exclude(status__in=OPEN).filter(stage__isnull=False).exists()
    running = TimeEntry.objects.filter(ended_at__isnull=True)
    assert running.values("technician").distinct().count() == running.count()


def test_customer_and_vehicle_figures_match_their_work_orders(demo):
    visits = {
        row["customer"]: row
        for row in WorkOrder.objects.filter(status__in=VISITS)
        .values("customer")
        .annotate(
            n=Count("id"), spend=Sum("total"), first=Min("settled_at"), last=Max("settled_at")
        )
    }
    customers = Customer.objects.all()
    assert sum(1 for c in customers if c.visit_count) == len(visits)
    for c in customers:
        row = visits.get(c.pk)
        if row is None:
            assert (c.visit_count, c.lifetime_spend, c.last_visit_at) == (0, 0, None)
            continue
        assert c.visit_count == row["n"]
        assert c.lifetime_spend == row["spend"]
        assert (c.first_visit_at, c.last_visit_at) == (row["first"], row["last"])
    last_service = {}
    for vid, settled, km in (
        WorkOrder.objects.filter(status__in=VISITS)
        .order_by("opened_at", "id")
        .values_list("vehicle", "settled_at", "mileage_in")
    ):
        last_service[vid] = (settled.astimezone(_shanghai()).date(), km)
    for v in Vehicle.objects.filter(pk__in=last_service):
        assert (v.last_service_on, v.last_service_km) == last_service[v.pk]
        assert v.current_mileage >= v.last_service_km
        # Mileage never goes down along a vehicle's visits.
    for vid in list(last_service)[:300]:
        kms = list(
            WorkOrder.objects.filter(vehicle=vid)
            .order_by("opened_at")
            .values_list("mileage_in", flat=True)
        )
        assert kms == sorted(kms)
        readings = list(
            Vehicle.objects.get(pk=vid)
            .mileage.order_by("read_on", "km")
            .values_list("km", flat=True)
        )
        assert readings == sorted(readings)


def test_surveys_low_score_rule(demo):
    surveys = list(Survey.objects.select_related("work_order"))
    assert any(s.is_low for s in surveys) and not all(s.is_low for s in surveys)
    for s in surveys:
        low = s.nps <= 6 or min(s.timeliness, s.professionalism, s.attitude, s.result) <= 3
        assert s.is_low == low
        assert s.work_order.status in VISITS and s.submitted_at > s.work_order.settled_at
        assert bool(s.reasons) == low
        if s.handled_at:
            assert s.is_low and s.handled_by_id and s.handling_note
    assert Survey.objects.filter(is_low=True, handled_at__isnull=True).exists()


def test_declined_work_becomes_recommendations(demo):
    suggested = WorkOrderLine.objects.filter(approval__in=["declined", "deferred"])
    assert suggested.exists()
    recos = Recommendation.objects.select_related("source_line")
    assert recos.exists()
    for r in recos[:500]:
        assert r.source_line.approval in ("declined", "deferred")
        assert r.vehicle_id == r.source_line.work_order.vehicle_id
        assert r.amount > 0


def test_work_orders_carry_their_customers_source(demo):
    from django.db.models import F

    from autocrm.customers.models import Customer

    assert Customer.objects.exclude(source=None).exists()
    assert WorkOrder.objects.exclude(source=None).exists()
    assert (
        not WorkOrder.objects.exclude(source_id=F("customer__source_id"))
        .exclude(customer__source=None)
        .exists()
    )
    assert not WorkOrder.objects.filter(source=None).exclude(customer__source=None).exists()


def test_report_rollups_follow_the_committed_rows(demo):
    from django.db.models import Sum

    from autocrm.reports import rollups
    from autocrm.reports.models import DailyStoreStat, MonthlyStoreStat

    # Built after the rows' transaction, not inside it.
    assert rollups.demo_loader in core_demo.AFTER_COMMIT
    assert rollups.demo_loader not in core_demo.EXTENSIONS
    finished = WorkOrder.objects.filter(status__in=rollups.FINISHED).count()
    assert finished > 0 and demo.counts["report store-days"] > 0
    assert DailyStoreStat.objects.aggregate(n=Sum("car_count"))["n"] == finished
    assert MonthlyStoreStat.objects.aggregate(n=Sum("car_count"))["n"] == finished
