"""The set-based customers' demo (``customers.demo_bulk``, used at ``large`` scale), run here at
small size: every row is valid by the same rules as the forms, unique where it must be, and the
mileage history and plate keys agree with their vehicles."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from autocrm.core.demo import SEED, load_demo
from autocrm.core.models import Organization, Store
from autocrm.customers import demo as customers_demo
from autocrm.customers.models import (
    Customer,
    Interaction,
    MileageReading,
    Ownership,
    PlateKey,
    Vehicle,
)
from autocrm.customers.pinyin import pinyin_full, pinyin_initials
from autocrm.customers.services import plate_keys
from autocrm.customers.validators import validate_plate, validate_vin

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def bulk(django_db_setup, django_db_blocker):
    saved = set(customers_demo.SET_BASED)
    customers_demo.SET_BASED.add("small")
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            load_demo("chain", extend=False)  # 30 stores, staff only
            org = Organization.objects.get(code="antu")
            stores = list(Store.objects.filter(org=org).order_by("pk"))
            counts = customers_demo.load(org, stores, random.Random(SEED), "small")
            yield org, stores, counts
            transaction.set_rollback(True)
    finally:
        customers_demo.SET_BASED.clear()
        customers_demo.SET_BASED.update(saved)


def test_sizes(bulk):
    _org, stores, counts = bulk
    assert counts["customers"] == Customer.objects.count() == 2_000
    vehicles = Vehicle.objects.count()
    assert counts["vehicles"] == vehicles and 2_400 <= vehicles <= 2_800
    assert Ownership.objects.count() == vehicles
    assert vehicles <= MileageReading.objects.count() <= 4 * vehicles
    assert Interaction.objects.filter(kind="visit").exists()
    assert Customer.tags.through.objects.exists()
    # Customers are spread over every store, a few are companies.
    assert Customer.objects.values("home_store").distinct().count() == len(stores)
    companies = Customer.objects.filter(kind="company").count()
    assert 10 <= companies <= 150


def test_customers_are_valid_and_unique(bulk):
    mobiles = list(Customer.objects.values_list("mobile", "mobile_tail", "name", "name_pinyin"))
    assert len({m for m, *_ in mobiles}) == len(mobiles)
    for mobile, tail, name, spelled in mobiles:
        assert len(mobile) == 11 and mobile.isdigit() and mobile[0] == "1"
        assert tail == mobile[-4:]
        assert spelled == pinyin_full(name)[:200]
    for c in Customer.objects.filter(kind="person")[:200]:
        assert c.gender in ("m", "f") and c.birthday.year >= 1960
        assert c.name_initials == pinyin_initials(c.name)[:60]


def test_vehicles_are_valid_and_unique(bulk):
    rows = list(Vehicle.objects.values_list("plate", "vin", "vin_tail", "owner__home_store"))
    assert len({p for p, *_ in rows}) == len(rows)
    assert len({v for _p, v, *_ in rows}) == len(rows)
    for plate, vin, tail, _store in rows:
        assert validate_plate(plate) == plate
        assert validate_vin(vin) == (vin, True)  # the check digit is right
        assert tail == vin[-6:]
    assert not Vehicle.objects.exclude(home_store=F("owner__home_store")).exists()


def test_readings_rise_and_end_at_the_current_mileage(bulk):
    today = timezone.localdate()
    readings = defaultdict(list)
    for vid, day, km in MileageReading.objects.order_by("read_on", "km").values_list(
        "vehicle", "read_on", "km"
    ):
        readings[vid].append((day, km))
    for v in Vehicle.objects.all():
        history = readings[v.pk]
        assert history, v.plate
        assert [km for _d, km in history] == sorted(km for _d, km in history)
        assert history[-1] == (v.mileage_read_on, v.current_mileage)
        assert v.registered_on < history[0][0] <= today
        days = (v.mileage_read_on - v.registered_on).days
        assert 20 * days <= v.current_mileage <= 60 * days


def test_plate_keys_are_the_plates_suffixes(bulk):
    keys = defaultdict(set)
    for vid, key, store in PlateKey.objects.values_list("vehicle", "key", "home_store"):
        keys[vid].add((key, store))
    for v in Vehicle.objects.all():
        assert keys[v.pk] == {(k, v.home_store_id) for k in plate_keys(v.plate)}


def test_every_reference_resolves(bulk):
    from tests.references import dangling

    models = [Customer, Customer.tags.through, Vehicle, Ownership, MileageReading, Interaction]
    assert dangling(*models, PlateKey) == []
