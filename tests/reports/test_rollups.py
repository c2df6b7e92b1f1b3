"""Daily rollups kept by events (settle, pay, refund, back-date) equal a from-scratch
computation, and so does ``rebuild``."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

import pytest
from django.utils import timezone

from autocrm import cli
from autocrm.core import events
from autocrm.feedback.models import Survey
from autocrm.reports import rollups
from autocrm.reports.models import DailyStaffStat, DailyStoreStat
from autocrm.service import services
from autocrm.service.models import Payment, TimeEntry, WorkOrder
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.floor import finish

CENT = Decimal("0.01")
FIN = ("settled", "closed")


def q(v) -> Decimal:
    return Decimal(v).quantize(CENT)


def scratch() -> tuple[dict, dict]:
    """Every figure recomputed the plain way, one work order at a time."""
    store: dict = defaultdict(lambda: defaultdict(Decimal))
    staff: dict = defaultdict(lambda: defaultdict(Decimal))
    done = [
        wo
        for wo in WorkOrder.objects.order_by("settled_at", "id")
        if wo.status in FIN and wo.settled_at
    ]
    first_seen = set()
    for wo in done:
        key = (wo.store_id, timezone.localdate(wo.settled_at))
        row = store[key]
        row["car_count"] += 1
        row["sales"] += wo.total
        row["tax"] += wo.tax
        row["labour"] += wo.labour_total
        row["parts"] += wo.parts_total
        row["other"] += wo.other_total
        row["discount"] += wo.discount_total
        row["comebacks"] += 1 if wo.comeback_of_id else 0
        if wo.customer_id not in first_seen:
            first_seen.add(wo.customer_id)
            row["new_customers"] += 1
        if wo.advisor_id:
            s = staff[(*key, wo.advisor_id)]
            s["car_count"] += 1
            s["sales"] += wo.total
            s["tax"] += wo.tax
        for line in wo.lines.filter(approval="approved"):
            if line.kind == "part" and line.part_id and not line.customer_supplied:
                row["parts_cost"] += line.quantity * line.part.cost
            if line.kind == "labour":
                row["billed_hours"] += line.quantity
                techs = list(line.technicians.all())
                for t in techs:
                    staff[(*key, t.pk)]["billed_hours"] += line.quantity / len(techs)
        for entry in TimeEntry.objects.filter(work_order=wo, ended_at__isnull=False):
            hours = Decimal((entry.ended_at - entry.started_at).total_seconds()) / 3600
            row["clocked_hours"] += hours
            staff[(*key, entry.technician_id)]["clocked_hours"] += hours
    for wo in WorkOrder.objects.all():  # estimates: by opening day, whatever the state
        for line in wo.lines.filter(approval__in=("approved", "declined", "deferred")):
            row = store[(wo.store_id, timezone.localdate(wo.opened_at))]
            row["presented"] += line.amount
            if line.approval == "approved":
                row["presented_approved"] += line.amount
    for survey in Survey.objects.select_related("work_order"):  # ratings, and technicians'
        row = store[(survey.store_id, timezone.localdate(survey.submitted_at))]
        row["surveys"] += 1
        row["promoters"] += 1 if survey.nps >= 9 else 0
        row["detractors"] += 1 if survey.nps <= 6 else 0
        techs = {t.pk for line in survey.work_order.lines.all() for t in line.technicians.all()}
        for tech in techs:
            s = staff[(survey.store_id, timezone.localdate(survey.submitted_at), tech)]
            s["surveys"] += 1
            s["promoters"] += 1 if survey.nps >= 9 else 0
            s["detractors"] += 1 if survey.nps <= 6 else 0
    for p in Payment.objects.all():
        row = store[(p.store_id, timezone.localdate(p.created_at))]
        row["takings"] += p.amount
        if p.amount < 0:
            row["refunds"] -= p.amount
    return (
        {k: {f: q(v.get(f, 0)) for f in rollups.STORE_FIELDS} for k, v in store.items()},
        {k: {f: q(v.get(f, 0)) for f in rollups.STAFF_FIELDS} for k, v in staff.items()},
    )


def stored() -> tuple[dict, dict]:
    stores = {
        (r.store_id, r.day): {f: q(getattr(r, f)) for f in rollups.STORE_FIELDS}
        for r in DailyStoreStat.objects.all()
    }
    staff = {
        (r.store_id, r.day, r.user_id): {f: q(getattr(r, f)) for f in rollups.STAFF_FIELDS}
        for r in DailyStaffStat.objects.all()
    }
    return stores, staff


def assert_matches_scratch():
    stores, staff = stored()
    want_stores, want_staff = scratch()
    assert stores == want_stores
    assert staff == want_staff
    assert_months_sum_days()


def assert_months_sum_days():
    """Every month table holds its day table's rows summed per store, month and key, and
    nothing else."""
    for day_model, month_model, keys, figures in rollups.MONTHS.values():
        want: dict = {}
        for row in day_model.objects.values("store_id", "org_id", "day", *keys, *figures):
            key = (row["store_id"], row["org_id"], row["day"].replace(day=1)) + tuple(
                row[k] for k in keys
            )
            into = want.setdefault(key, dict.fromkeys(figures, 0))
            for name in figures:
                into[name] += row[name]
        got = {
            (row["store_id"], row["org_id"], row["month"]) + tuple(row[k] for k in keys): {
                name: row[name] for name in figures
            }
            for row in month_model.objects.values("store_id", "org_id", "month", *keys, *figures)
        }
        assert got == want, month_model.__name__


def order(world, car, *lines):
    wo = services.create_work_order(world.advisor_a1, vehicle=car, mileage_in=10000)
    made = [services.add_line(world.advisor_a1, wo, **kw) for kw in lines]
    services.record_approval(
        world.advisor_a1, wo, {ln.pk: "approved" for ln in made}, channel="in_person"
    )
    return wo


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run the events (and, huey being immediate in tests, the rollup task) at once."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_events_keep_rollups_equal_to_scratch(world, commit):
    part = sf.part(world.org, price="300.00", cost=Decimal("180.00"))
    owner = cf.customer(world.a1, name="周一")
    car = cf.vehicle(owner)
    with commit():
        wo1 = order(
            world,
            car,
            {"kind": "labour", "name": "二级维护", "unit_price": 600, "quantity": "1.5"},
            {"kind": "part", "part_id": part.pk, "quantity": 2},
        )
        wo1 = finish(world, wo1)
    stores, _staff = stored()
    today = timezone.localdate()
    row = stores[(world.a1.pk, today)]
    assert row["car_count"] == 1 and row["sales"] == wo1.total
    assert row["parts_cost"] == Decimal("360.00") and row["new_customers"] == 1
    assert row["takings"] == wo1.total
    assert_matches_scratch()

    # A second visit of the same car, partly paid, then a refund.
    with commit():
        wo2 = order(world, car, {"kind": "labour", "name": "检查", "unit_price": 100})
        wo2 = finish(world, wo2, payments=[{"method": "card", "amount": "60"}])
        services.take_payments(world.advisor_a1, wo2, [{"method": "cash", "amount": "40"}])
        services.refund_payment(world.manager_a1, wo2.payments.first(), amount="10", reason="多收")
    row = stored()[0][(world.a1.pk, today)]
    assert row["car_count"] == 2 and row["refunds"] == Decimal("10.00")
    assert row["new_customers"] == 1
    assert_matches_scratch()

    # Back-date the second visit to before the first: the customer is new on that day now,
    # and today's figures lose it.
    earlier = timezone.now() - datetime.timedelta(days=10)
    with commit():
        WorkOrder.objects.filter(pk=wo2.pk).update(settled_at=earlier)
        events.publish(
            "work_order.backdated",
            work_order_id=wo2.pk,
            store_id=wo2.store_id,
            previous_days=[today.isoformat()],
        )
    stores, _staff = stored()
    assert stores[(world.a1.pk, today)]["car_count"] == 1
    assert stores[(world.a1.pk, today)]["new_customers"] == 0
    assert stores[(world.a1.pk, timezone.localdate(earlier))]["new_customers"] == 1
    assert_matches_scratch()

    # Replaying an event changes nothing.
    before = stored()
    with commit():
        events.publish("work_order.settled", work_order_id=wo1.pk, store_id=wo1.store_id)
    assert stored() == before

    # A rebuild from nothing gives the same rows.
    DailyStoreStat.objects.all().delete()
    DailyStaffStat.objects.all().delete()
    assert rollups.rebuild() == 2
    assert stored() == before
    assert_matches_scratch()


def test_rebuild_limits_to_stores_and_dates(world):
    from tests.reports.conftest import visit

    day = datetime.date(2026, 1, 5)
    visit(world.a1, cf.customer(world.a1), day, "113")
    visit(world.a2, cf.customer(world.a2), day, "226")
    visit(world.a1, cf.customer(world.a1), day + datetime.timedelta(days=3), "339")
    assert rollups.rebuild([world.a1.pk], day, day) == 1
    assert list(DailyStoreStat.objects.values_list("store_id", "day", "car_count")) == [
        (world.a1.pk, day, 1)
    ]
    assert rollups.rebuild() == 3
    assert_matches_scratch()
    assert rollups.rebuild(start=day, end=day) == 2  # other days are kept
    assert DailyStoreStat.objects.count() == 3


def test_rebuild_with_no_data_writes_nothing(world):
    assert rollups.rebuild() == 0


def test_cli_rebuild(world, capsys):
    from tests.reports.conftest import visit

    visit(world.a1, cf.customer(world.a1), datetime.date(2026, 1, 5), "113")
    assert cli.main(["reports", "rebuild", "--store", world.a1.code]) == 0
    assert "1" in capsys.readouterr().out
    assert DailyStoreStat.objects.get().car_count == 1
    assert cli.main(["reports", "rebuild", "--store", "nope"]) == 2
    assert cli.main(["reports", "rebuild", "--from", "2026-13-01"]) == 2
    assert cli.main(["reports", "rebuild", "--workers", "-1"]) == 2
    assert cli.main(["reports", "rebuild", "--workers", "2"]) == 0
    assert DailyStoreStat.objects.get().car_count == 1


def test_settlements_piled_up_are_recomputed_once_per_store_day(world, monkeypatch):
    """The worker takes every work order noted since its last run and recomputes each of
    their store-days once; the noted rows are then gone."""
    from autocrm.reports.models import RollupPending

    orders = []
    for name in ("吴一", "吴二", "吴三"):
        car = cf.vehicle(cf.customer(world.a1, name=name))
        orders.append(
            finish(world, order(world, car, {"kind": "labour", "name": "检查", "unit_price": 80}))
        )
    # As if the events had come while the worker was busy: noted, not yet recomputed.
    DailyStoreStat.objects.all().delete()
    DailyStaffStat.objects.all().delete()
    for wo in orders:
        RollupPending.objects.create(work_order_id=wo.pk)
    calls = []
    real = rollups.recompute_store_day
    monkeypatch.setattr(
        rollups, "recompute_store_day", lambda s, d: calls.append((s, d)) or real(s, d)
    )
    assert rollups.flush_pending() == 1
    assert calls == [(world.a1.pk, timezone.localdate())]
    assert not RollupPending.objects.exists()
    assert stored()[0][(world.a1.pk, timezone.localdate())]["car_count"] == 3
    assert_matches_scratch()
    assert rollups.flush_pending() == 0


def test_rebuild_at_boundaries_matches_scratch(world):
    """New customers whose first visit is in another store, before the rebuilt range or at
    the same minute as another visit; technicians sharing lines unevenly; a range across a
    month end (rebuilt a month at a time)."""
    from tests import factories as f
    from tests.reports.conftest import at, visit

    jan_31, feb_1 = datetime.date(2026, 1, 31), datetime.date(2026, 2, 1)
    # First visit in A2, then A1: A1 has no new customer.
    moved = cf.customer(world.a1, name="钱一")
    visit(world.a2, moved, datetime.date(2026, 1, 10), "113")
    visit(world.a1, moved, jan_31, "226")
    # First visit before the range rebuilt below.
    old = cf.customer(world.a1, name="钱二")
    visit(world.a1, old, datetime.date(2025, 12, 20), "113")
    visit(world.a1, old, feb_1, "339")
    # Two visits at the same minute in two stores: the lower id is the first.
    twice = cf.customer(world.a1, name="钱三")
    tied = visit(world.a2, twice, feb_1, "113")
    assert visit(world.a1, twice, feb_1, "113").settled_at == tied.settled_at
    # A cancelled visit before does not count.
    late = cf.customer(world.a1, name="钱四")
    visit(world.a1, late, datetime.date(2026, 1, 2), "113", status="cancelled")
    visit(world.a1, late, jan_31, "113")

    # Local midnight: the last microsecond of a month, of a day within it, its first.
    for store, when in (
        (world.a1, at(feb_1, 0) - datetime.timedelta(microseconds=1)),
        (world.a2, at(jan_31, 0) - datetime.timedelta(microseconds=1)),
        (world.a2, at(jan_31, 0)),
    ):
        wo = visit(store, cf.customer(store), feb_1, "113")
        WorkOrder.objects.filter(pk=wo.pk).update(opened_at=when, settled_at=when)
    # Labour shared by three technicians (thirds), two, one; whole and decimal quantities.
    techs = [world.tech_a1] + [
        f.staff(world.org, "technician", stores=[world.a1], username=f"tech-qian{i}")
        for i in (2, 3)
    ]
    for day, crews in ((jan_31, ((3, "1"), (3, "1"), (2, "0.01"))), (feb_1, ((1, "2.5"),))):
        wo = visit(world.a1, cf.customer(world.a1), day, "565")
        for size, quantity in crews:
            sf.line(wo, "工时", price="100.00", quantity=quantity, approval="approved")
            wo.lines.order_by("-id").first().technicians.set(techs[:size])
    sf.line(wo, "未批", price="100.00", approval="declined").technicians.set(techs)

    assert rollups.rebuild() == 7
    stores, staff = stored()
    assert stores[(world.a1.pk, jan_31)]["new_customers"] == 3  # 钱四, at midnight, the crew's
    assert stores[(world.a2.pk, feb_1)]["new_customers"] == 1
    assert stores[(world.a2.pk, jan_31)]["new_customers"] == 1
    assert stores[(world.a2.pk, datetime.date(2026, 1, 30))]["car_count"] == 1
    assert stores[(world.a1.pk, feb_1)]["new_customers"] == 1  # only the crew's customer
    assert stores[(world.a1.pk, jan_31)]["billed_hours"] == Decimal("2.01")
    assert staff[(world.a1.pk, jan_31, world.tech_a1.pk)]["billed_hours"] == Decimal("0.67")
    assert staff[(world.a1.pk, jan_31, techs[2].pk)]["billed_hours"] == Decimal("0.67")
    assert staff[(world.a1.pk, feb_1, world.tech_a1.pk)]["billed_hours"] == Decimal("2.50")
    assert_matches_scratch()

    # A range starting after 钱二's first visit, in A1 only: the figures stay the same.
    before = stored()
    assert rollups.rebuild([world.a1.pk], jan_31, feb_1) == 2
    assert stored() == before
    # A range within a month (one chunk).
    assert rollups.rebuild(start=datetime.date(2026, 1, 30), end=jan_31) == 3
    assert stored() == before


@pytest.mark.django_db(transaction=True)
def test_rebuild_by_several_threads_equals_scratch(world, monkeypatch):
    """Months rebuilt by two threads, each with its own connection and committing month by
    month, leave the same rows as the from-scratch computation; both threads take a month."""
    import threading

    from tests.reports.conftest import visit

    for n, day in enumerate(
        (
            datetime.date(2025, 11, 30),
            datetime.date(2025, 12, 1),
            datetime.date(2026, 1, 15),
            datetime.date(2026, 2, 1),
            datetime.date(2026, 2, 28),
        )
    ):
        for store in (world.a1, world.a2):
            visit(store, cf.customer(store, name=f"孙{n}"), day, str(100 + 13 * n))
    threads: set[str] = set()
    meet = threading.Barrier(2, timeout=30)
    real = rollups._rebuild_month

    def recorded(*args):
        name = threading.current_thread().name
        if name not in threads:  # the first month of each thread waits for the other's
            threads.add(name)
            meet.wait()
        return real(*args)

    monkeypatch.setattr(rollups, "_rebuild_month", recorded)
    assert rollups.rebuild(workers=2) == 10
    assert len(threads) == 2
    assert_matches_scratch()

    # A failing month reaches the caller, whichever thread ran it.
    def broken(*args):
        raise RuntimeError("month failed")

    monkeypatch.setattr(rollups, "_rebuild_month", broken)
    with pytest.raises(RuntimeError, match="month failed"):
        rollups.rebuild(workers=2)
    assert_matches_scratch()  # nothing was replaced
