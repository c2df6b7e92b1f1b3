"""Maintenance prediction: the daily-mileage estimate and its fallbacks, the km-or-months rule,
refresh after a reading and a settlement, the pages and the API, and the set-based refresh
agreeing with the per-vehicle one."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from autocrm.customers import maintenance as m
from autocrm.customers import services as customer_services
from autocrm.customers.models import MileageReading, StoreMileage, Vehicle
from autocrm.service import services as service_services
from autocrm.service.models import ServiceSettings
from tests import customer_factories as cf
from tests.conftest import api_client_for, client_for

pytestmark = pytest.mark.django_db

D = datetime.date
TODAY = D(2026, 11, 20)


def days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def reading(vehicle: Vehicle, on: datetime.date, km: int, source: str = "visit"):
    """A reading written directly (the service refuses future dates and lower values)."""
    return MileageReading.objects.create(vehicle=vehicle, read_on=on, km=km, source=source)


def car(store, **kw) -> Vehicle:
    return cf.vehicle(cf.customer(store), **kw)


def readings_of(*rows):
    return [(on, km, source) for on, km, *rest in rows for source in [rest[0] if rest else "visit"]]


# --- the estimate ------------------------------------------------------------------------


class TestOwnEstimate:
    def test_km_over_days_in_tenths(self):
        rows = readings_of((D(2026, 1, 1), 10_000), (D(2026, 3, 2), 12_280))  # 60 days
        assert m.own_tenths(rows, TODAY) == 380  # 38.0 km a day

    def test_rounds_half_up(self):
        rows = readings_of((D(2026, 1, 1), 0), (D(2026, 1, 21), 761))  # 38.05 km a day
        assert m.own_tenths(rows, TODAY) == 381

    def test_needs_two_readings_at_least_14_days_apart(self):
        assert m.own_tenths([], TODAY) is None
        assert m.own_tenths(readings_of((D(2026, 1, 1), 1000)), TODAY) is None
        close = readings_of((D(2026, 1, 1), 1000), (D(2026, 1, 14), 2000))  # 13 days
        assert m.own_tenths(close, TODAY) is None
        assert m.own_tenths(close + readings_of((D(2026, 1, 15), 2100)), TODAY) == 786

    def test_only_the_last_two_years(self):
        old = readings_of((TODAY - days(800), 0), (TODAY - days(400), 8_000))
        recent = readings_of((TODAY - days(100), 40_000))
        # the 800-day-old reading is out: (40 000 − 8 000) / 300 days
        assert m.own_tenths(old + recent, TODAY) == 1067

    def test_clamped_to_500_km_a_day(self):
        rows = readings_of((D(2026, 1, 1), 1_000), (D(2026, 1, 21), 60_000))
        assert m.own_tenths(rows, TODAY) == m.MAX_TENTHS == 5000
        still = readings_of((D(2026, 1, 1), 1_000), (D(2026, 6, 1), 1_000))
        assert m.own_tenths(still, TODAY) == 0

    def test_a_correction_restarts_the_series(self):
        rows = readings_of(
            (D(2026, 1, 1), 10_000),
            (D(2026, 3, 1), 100_000),  # typo
            (D(2026, 3, 1), 12_000, "correction"),
            (D(2026, 5, 30), 15_560),  # 90 days after the correction
        )
        assert m.own_tenths(rows, TODAY) == 396


# --- the rule ----------------------------------------------------------------------------


def rule(**kw):
    base = {
        "own": 380,
        "store": None,
        "last_service_on": D(2026, 6, 1),
        "last_service_km": 40_000,
        "current_km": 40_000,
        "read_on": D(2026, 6, 1),
    }
    return m.predict(**{**base, **kw})


class TestRule:
    def test_km_first(self):
        # 5 000 km at 100 km a day: 50 days, well before 6 months
        p = rule(own=1000)
        assert (p.due_on, p.due_km, p.source) == (D(2026, 7, 21), 45_000, "own")

    def test_months_first(self):
        # 10 km a day would need 500 days: 6 months wins, at the projected odometer
        p = rule(own=100)
        assert p.due_on == D(2026, 12, 1)
        assert p.due_km == 40_000 + 1_830  # 183 days at 10 km

    def test_km_date_rounds_up_and_counts_from_the_latest_reading(self):
        # 38 km a day from a reading of 41 900 on 1 July: 3 100 km left → 81.6 → 82 days
        p = rule(current_km=41_900, read_on=D(2026, 7, 1))
        assert (p.due_on, p.due_km) == (D(2026, 9, 21), 45_000)

    def test_over_the_limit_already(self):
        p = rule(own=1000, current_km=47_000, read_on=D(2026, 8, 1))
        assert p.due_on == D(2026, 7, 12)  # 2 000 km before the reading at 100 km a day
        assert p.due_km == 45_000

    def test_month_end(self):
        p = rule(own=10, last_service_on=D(2026, 8, 31), read_on=D(2026, 8, 31))
        assert p.due_on == D(2027, 2, 28)

    def test_store_interval_settings(self):
        p = rule(own=1000, interval_km=10_000, interval_months=3)
        assert p.due_on == D(2026, 9, 1)  # 100 days for 10 000 km > 3 months
        p = rule(own=1000, interval_km=2_000)
        assert (p.due_on, p.due_km) == (D(2026, 6, 21), 42_000)

    def test_fallbacks(self):
        assert (rule(own=None, store=420).daily_tenths, rule(own=None, store=420).source) == (
            420,
            "store",
        )
        p = rule(own=None)
        assert (p.daily_tenths, p.source, p.daily_km) == (350, "default", Decimal("35.0"))

    def test_no_last_service_no_date(self):
        p = rule(last_service_on=None, last_service_km=None)
        assert (p.daily_tenths, p.due_on, p.due_km) == (380, None, None)

    def test_last_service_without_km_is_due_by_date(self):
        p = rule(last_service_km=None, current_km=None, read_on=None, own=5000)
        assert (p.due_on, p.due_km) == (D(2026, 12, 1), None)
        p = rule(last_service_km=None, current_km=39_000, read_on=D(2026, 5, 1), own=100)
        assert (p.due_on, p.due_km) == (D(2026, 12, 1), 39_000 + 2_140)  # 214 days

    def test_standing_car_is_due_by_date(self):
        p = rule(own=0)
        assert (p.due_on, p.due_km) == (D(2026, 12, 1), 40_000)

    def test_store_median_of_a_histogram(self):
        assert m._median_tenths([(200, 1), (385, 1), (600, 1)]) == 385
        assert m._median_tenths([(380, 1), (393, 1)]) == 387  # 38.65 → 38.7
        assert m._median_tenths([(380, 2), (394, 1), (900, 1)]) == 387
        assert m._median_tenths([(100, 3), (500, 1)]) == 100

    def test_due_state(self):
        assert m.due_state(None, 14, TODAY) == ""
        assert m.due_state(TODAY - days(1), 14, TODAY) == "overdue"
        assert m.due_state(TODAY + days(14), 14, TODAY) == "soon"
        assert m.due_state(TODAY + days(15), 14, TODAY) == "ok"


# --- refresh, per vehicle and set-based --------------------------------------------------


def serviced(store, on, km, **kw) -> Vehicle:
    return car(store, last_service_on=on, last_service_km=km, **kw)


def state(vehicle: Vehicle) -> tuple:
    vehicle.refresh_from_db()
    return (
        vehicle.daily_km,
        vehicle.daily_km_source,
        vehicle.service_due_on,
        vehicle.service_due_km,
    )


class TestRefresh:
    def test_store_median_then_default(self, world):
        for per_day in (20, 30, 40, 50, 60):
            v = car(world.a1)
            reading(v, TODAY - days(100), 10_000)
            reading(v, TODAY - days(50), 10_000 + 50 * per_day)
        bare = serviced(world.a1, TODAY - days(10), 30_000)
        few = car(world.a2)  # A2 has one car with readings only: below the sample
        reading(few, TODAY - days(100), 0)
        reading(few, TODAY - days(50), 5_000)
        alone = serviced(world.a2, TODAY - days(10), 30_000)

        assert m.refresh(today=TODAY) == 8
        median = StoreMileage.objects.get(store=world.a1)
        assert (median.daily_km, median.vehicles) == (Decimal("40.0"), 5)
        assert not StoreMileage.objects.filter(store=world.a2).exists()
        # 5 000 km at 40 km a day: 125 days, before 6 months
        assert state(bare) == (
            Decimal("40.0"),
            "store",
            TODAY - days(10) + days(125),
            35_000,
        )
        assert state(alone)[:2] == (Decimal("35.0"), "default")
        assert state(few)[:2] == (Decimal("100.0"), "own")
        # the per-vehicle refresh uses the stored median
        assert m.refresh_vehicle(bare, today=TODAY).source == "store"

    def test_store_median_moves_by_whole_km_only(self, world):
        cars = []
        for per_day in (20, 30, 40, 50, 60):
            v = car(world.a1)
            reading(v, TODAY - days(100), 10_000)
            cars.append((v, reading(v, TODAY - days(50), 10_000 + 50 * per_day)))
        m.refresh(today=TODAY)
        assert StoreMileage.objects.get(store=world.a1).daily_km == Decimal("40.0")
        _v, last = cars[2]  # the median car: 40 → 40.9 km a day, so is the median: kept
        MileageReading.objects.filter(pk=last.pk).update(km=10_000 + 2_045)
        m.refresh(today=TODAY)
        assert StoreMileage.objects.get(store=world.a1).daily_km == Decimal("40.0")
        MileageReading.objects.filter(pk=last.pk).update(km=10_000 + 2_050)
        m.refresh(today=TODAY)  # 41 km: moved by a whole km, replaced
        assert StoreMileage.objects.get(store=world.a1).daily_km == Decimal("41.0")

    def test_second_run_changes_nothing(self, world):
        v = serviced(world.a1, TODAY - days(30), 20_000)
        reading(v, TODAY - days(30), 20_000)
        reading(v, TODAY - days(2), 21_400)
        assert m.refresh(today=TODAY) == 1
        assert m.refresh(today=TODAY) == 0
        assert m.refresh([v.pk], today=TODAY) == 0
        assert m.refresh([], today=TODAY) == 0

    def test_a_reading_during_the_run_is_not_overwritten(self, world, monkeypatch):
        v = serviced(world.a1, TODAY - days(30), 20_000)
        computed = m._predictions

        def reading_meanwhile(*args, **kwargs):
            computed(*args, **kwargs)
            Vehicle.objects.filter(pk=v.pk).update(current_mileage=24_000, mileage_read_on=TODAY)
            m.refresh_vehicle(v.pk, today=TODAY)

        monkeypatch.setattr(m, "_predictions", reading_meanwhile)
        assert m.refresh(today=TODAY) == 0
        # 1 000 km left at 35 km a day, not the 143 days from the service the run started with
        assert state(v)[2:] == (TODAY + days(29), 25_000)

    def test_new_reading_refreshes_the_vehicle(self, world):
        today = timezone.localdate()
        v = serviced(world.a1, today - days(60), 50_000)
        reading(v, today - days(60), 50_000)
        customer_services.record_mileage(world.advisor_a1, v, km=53_000, read_on=today)
        # 3 000 km in 60 days = 50 km a day; 2 000 km left → 40 days
        assert (v.daily_km, v.daily_km_source) == (Decimal("50.0"), "own")
        assert state(v) == (Decimal("50.0"), "own", today + days(40), 55_000)

    def test_a_reading_publishes_an_event(self, world, django_capture_on_commit_callbacks):
        from autocrm.core import events

        seen = []
        events.subscribe("vehicle.mileage_recorded", seen.append)
        try:
            v = car(world.a1)
            with django_capture_on_commit_callbacks(execute=True):
                customer_services.record_mileage(world.advisor_a1, v, km=1234)
        finally:
            events.unsubscribe("vehicle.mileage_recorded", seen.append)
        assert seen and seen[0]["vehicle_id"] == v.pk and seen[0]["km"] == 1234

    def test_settlement_refreshes_the_vehicle(self, world):
        v = car(world.a1)
        wo = service_services.create_work_order(world.advisor_a1, vehicle=v, mileage_in=12_000)
        line = service_services.add_line(
            world.advisor_a1, wo, kind="labour", name="小保养", unit_price=300
        )
        service_services.record_approval(
            world.advisor_a1, wo, {line.pk: "approved"}, channel="in_person"
        )
        wo.refresh_from_db()
        service_services.perform(world.advisor_a1, wo, "start")
        line.refresh_from_db()
        service_services.assign_line(world.advisor_a1, line, [world.tech_a1.pk])
        service_services.clock_on(world.tech_a1, line)
        service_services.mark_line_done(world.tech_a1, line)
        service_services.perform(world.tech_a1, wo, "qc")
        items = ServiceSettings.objects.get(store=wo.store).qc_items
        service_services.record_qc(world.tech_a1, wo, checks={n: True for n in items})
        wo.refresh_from_db()
        service_services.perform(
            world.advisor_a1, wo, "settle", payments=[{"method": "cash", "amount": "300"}]
        )
        v.refresh_from_db()
        today = timezone.localdate()
        assert v.last_service_on == today and v.service_due_km is not None
        assert v.last_service_km == 12_000  # written with the prediction, in one UPDATE
        # one reading only: no own estimate, 35 km a day → 143 days for 5 000 km
        assert v.daily_km_source == "default"
        assert (v.service_due_on, v.service_due_km) == (today + days(143), 17_000)


def mixed_sample(world, rng: random.Random) -> list[Vehicle]:
    """Vehicles of every kind: with and without readings, corrections, service date or km,
    month-end services, fast, slow and standing cars, in stores with other settings."""
    conf = ServiceSettings.objects.create(
        store=world.a2, service_interval_km=7_500, service_interval_months=12
    )
    assert conf.service_remind_days == 14
    ServiceSettings.objects.create(store=world.a3, service_interval_km=3_000)
    vehicles = []
    for i in range(60):
        store = (world.a1, world.a2, world.a3, world.b1)[i % 4]
        last_on = rng.choice(
            [None, TODAY - days(rng.randint(0, 400)), D(2026, 8, 31), D(2025, 12, 31)]
        )
        last_km = rng.choice([None, rng.randint(0, 150_000)]) if last_on else None
        v = car(store, last_service_on=last_on, last_service_km=last_km)
        km, on = rng.randint(0, 120_000), TODAY - days(rng.randint(300, 1200))
        for _r in range(rng.choice([0, 1, 2, 3, 5])):
            on = min(TODAY, on + days(rng.choice([0, 5, 13, 14, 60, 200])))
            km += rng.choice([0, 10, 900, 5_000, 40_000])
            source = "correction" if rng.random() < 0.1 else "visit"
            if source == "correction":
                km = max(0, km - rng.randint(0, 5_000))
            reading(v, on, km, source)
            if rng.random() < 0.8:
                Vehicle.objects.filter(pk=v.pk).update(current_mileage=km, mileage_read_on=on)
        vehicles.append(v)
    return vehicles


def test_set_based_refresh_matches_the_per_vehicle_one(world):
    vehicles = mixed_sample(world, random.Random(11))
    assert m.refresh(today=TODAY) == Vehicle.objects.count()
    in_sql = {v.pk: state(v) for v in vehicles}
    assert {s[1] for s in in_sql.values()} == {"own", "store", "default"}
    assert any(s[2] is None for s in in_sql.values())
    assert any(s[2] is not None and s[3] is None for s in in_sql.values())
    Vehicle.objects.update(daily_km=None, daily_km_source="", service_due_on=None)
    for v in vehicles:
        m.refresh_vehicle(v.pk, today=TODAY)
    mismatches = {v.pk: (in_sql[v.pk], state(v)) for v in vehicles if state(v) != in_sql[v.pk]}
    assert mismatches == {}
    # and a partial set-based refresh of some of them finds nothing to change
    assert m.refresh([v.pk for v in vehicles[::3]], today=TODAY) == 0


# --- pages and API -----------------------------------------------------------------------


class TestDisplay:
    def test_customer_page_shows_the_prediction(self, world):
        today = timezone.localdate()
        v = serviced(world.a1, today - days(60), 50_000)
        reading(v, today - days(60), 50_000)
        customer_services.record_mileage(world.advisor_a1, v, km=52_280, read_on=today)
        body = client_for(world.advisor_a1).get(f"/customers/{v.owner_id}/").content.decode()
        due = (today + days(72)).isoformat()  # 2 720 km left at 38 km a day: 71.6 → 72
        assert f"预计下次保养：{due}（约 55000 km，按每日 38 km 估算）" in body
        assert "本车记录" in body and "上次保养" in body
        assert 'data-state="ok"' in body and "保养即将到期" not in body

    def test_due_soon_and_overdue_are_highlighted(self, world):
        today = timezone.localdate()
        soon = serviced(world.a1, today - days(170), None)  # 6 months in 11-14 days
        m.refresh_vehicle(soon)
        body = client_for(world.advisor_a1).get(f"/customers/{soon.owner_id}/").content.decode()
        assert "保养即将到期" in body and 'data-state="soon"' in body
        assert "默认值" in body
        late = serviced(world.a1, today - days(400), 10_000)
        m.refresh_vehicle(late)
        body = client_for(world.advisor_a1).get(f"/customers/{late.owner_id}/").content.decode()
        assert "保养已超期" in body and "bg-red-lt" in body

    def test_remind_days_come_from_the_store(self, world):
        today = timezone.localdate()
        ServiceSettings.objects.create(store=world.a1, service_remind_days=3)
        v = serviced(world.a1, today - days(170), None)
        m.refresh_vehicle(v)
        body = client_for(world.advisor_a1).get(f"/customers/{v.owner_id}/").content.decode()
        assert 'data-state="ok"' in body

    def test_without_a_service_on_record(self, world):
        v = car(world.a1)
        m.refresh_vehicle(v)
        body = client_for(world.advisor_a1).get(f"/customers/{v.owner_id}/").content.decode()
        assert "暂无保养记录" in body

    def test_mileage_fragment_and_history_page(self, world):
        today = timezone.localdate()
        v = serviced(world.a1, today - days(30), 20_000)
        response = client_for(world.advisor_a1).post(
            f"/vehicles/{v.pk}/mileage/",
            {"km": 21_000, "read_on": today.isoformat(), "source": "manual"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        assert "预计下次保养：" in response.content.decode()
        body = client_for(world.manager_a1).get(f"/vehicles/{v.pk}/history/").content.decode()
        assert "预计下次保养：" in body

    def test_api_output(self, world):
        today = timezone.localdate()
        v = serviced(world.a1, today - days(30), 20_000)
        m.refresh_vehicle(v)
        data = api_client_for(world.advisor_a1).get(f"/api/v1/vehicles/{v.pk}").json()
        assert data["daily_km_source"] == "default" and data["daily_km"] == "35.0"
        assert data["service_due_on"] == v.service_due_on.isoformat()
        assert data["service_due_km"] == v.service_due_km
        assert data["last_service_km"] == 20_000
