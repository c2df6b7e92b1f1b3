"""Plate search keys carry their vehicle's home store (``PlateKey.home_store``), whoever writes
them, and a store's plate search reads them by (home_store, key) without leaking other stores'
plates. Also: the search returns hit lists, not model instances, in a bounded number of
queries."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from autocrm.customers import privacy, selectors
from autocrm.customers import services as cs
from autocrm.customers.models import PlateKey, Vehicle
from autocrm.imports import services as import_services
from tests import customer_factories as cf
from tests.imports.files import csv_file


def key_stores(vehicle) -> set[int]:
    return set(PlateKey.objects.filter(vehicle=vehicle).values_list("home_store_id", flat=True))


def plates(user, q) -> list[str]:
    return [h.vehicle.plate for h in selectors.search(user, q) if h.vehicle]


def assert_keys_follow_vehicles() -> None:
    """Every key's store is its vehicle's (the invariant the store-scoped search relies on)."""
    wrong = PlateKey.objects.exclude(home_store_id=models_home_store())
    assert not wrong.exists(), list(wrong.values("vehicle_id", "home_store_id"))


def warm(user):
    """Load the user's roles and stores (cached per request) before counting queries."""
    from autocrm.core.scoping import store_ids

    user.can("customer.view")
    store_ids(user)
    return user


def models_home_store():
    from django.db.models import OuterRef, Subquery

    return Subquery(Vehicle.objects.filter(pk=OuterRef("vehicle_id")).values("home_store_id"))


class TestKeysFollowTheVehicle:
    def test_create_writes_the_home_store(self, world):
        owner = cf.customer(world.a1)
        v = cs.create_vehicle(world.advisor_a1, owner_id=owner.pk, plate="京A12345")
        assert key_stores(v) == {world.a1.pk}
        assert PlateKey.objects.filter(vehicle=v).count() == 5  # A12345 … 45

    def test_home_store_change_moves_the_keys(self, world):
        v = cf.vehicle(cf.customer(world.a1), plate="京A7K512")
        assert plates(world.manager_a1, "7K51") == ["京A7K512"]
        assert plates(world.manager_a2, "7K51") == []
        cs.update_vehicle(world.hq, v, home_store_id=world.a2.pk)
        v.refresh_from_db()
        assert v.home_store_id == world.a2.pk
        assert key_stores(v) == {world.a2.pk}
        assert plates(world.manager_a1, "7K51") == []
        assert plates(world.manager_a2, "7K51") == ["京A7K512"]
        assert_keys_follow_vehicles()

    def test_home_store_change_refused_outside_the_actors_stores(self, world):
        from autocrm.core.errors import ServiceError

        v = cf.vehicle(cf.customer(world.a1), plate="京A7K512")
        with pytest.raises(ServiceError):
            cs.update_vehicle(world.advisor_a1, v, home_store_id=world.a2.pk)
        assert key_stores(Vehicle.objects.get(pk=v.pk)) == {world.a1.pk}

    def test_plate_and_store_change_together(self, world):
        v = cf.vehicle(cf.customer(world.a1), plate="京A7K512")
        cs.update_vehicle(world.hq, v, plate="京B99887", home_store_id=world.a2.pk)
        assert key_stores(v) == {world.a2.pk}
        assert set(PlateKey.objects.filter(vehicle=v).values_list("key", flat=True)) >= {
            "B99887",
            "87",
        }
        assert plates(world.manager_a2, "9988") == ["京B99887"]
        assert plates(world.manager_a2, "7K51") == []

    def test_transfer_to_another_stores_customer(self, world):
        """The vehicle keeps its home store (and its keys); the new owner shows on the hit."""
        v = cf.vehicle(cf.customer(world.a1, name="老车主"), plate="京A7K512")
        new = cf.customer(world.a2, name="新车主")
        cs.transfer_vehicle(world.hq, v, new)
        v.refresh_from_db()
        assert key_stores(v) == {v.home_store_id} == {world.a1.pk}
        assert_keys_follow_vehicles()
        [hit] = selectors.search(world.manager_a1, "7K51")
        assert hit.customer.name == "新车主" and hit.vehicle == v
        assert plates(world.manager_a2, "7K51") == []

    def test_merge(self, world):
        keep = cf.customer(world.a1, name="李四")
        drop = cf.customer(world.a1, name="李四")
        mine = cf.vehicle(keep, plate="京A11111")
        theirs = cf.vehicle(drop, plate="京A22222")
        privacy.merge_customers(world.advisor_a1, keep, drop)
        assert key_stores(mine) == key_stores(theirs) == {world.a1.pk}
        assert_keys_follow_vehicles()
        [hit] = selectors.search(world.advisor_a1, "2222")
        assert hit.vehicle == theirs and hit.customer == keep

    def test_import_writes_the_home_store(self, world, tmp_path):
        path = csv_file(
            tmp_path / "cars.csv",
            [["赵六", "13912340000", "津C12345", "", "丰田", "卡罗拉", "", "", ""]],
        )
        import_services.import_path(
            path, store=world.a2, actor=world.hq, dry_run=False, report_to=None
        )
        v = Vehicle.objects.get(plate="津C12345")
        assert v.home_store_id == world.a2.pk
        assert key_stores(v) == {world.a2.pk}
        assert plates(world.manager_a2, "C123") == ["津C12345"]
        assert plates(world.manager_a1, "C123") == []

    def test_migration_backfills_from_the_vehicles(self, world):
        a = cf.vehicle(cf.customer(world.a1), plate="京A12345")
        b = cf.vehicle(cf.customer(world.a2), plate="津B12345")
        PlateKey.objects.update(home_store=world.a1)  # as if written before the column existed
        migration = importlib.import_module("autocrm.customers.migrations.0006_platekey_home_store")
        migration.backfill(None, connection.schema_editor(atomic=False))
        assert key_stores(a) == {world.a1.pk} and key_stores(b) == {world.a2.pk}

    def test_sync_without_a_store_takes_each_vehicles(self, world):
        a = cf.vehicle(cf.customer(world.a1), plate="京A12345")
        b = cf.vehicle(cf.customer(world.a2), plate="津B12345")
        PlateKey.objects.update(home_store=world.a1)
        assert cs.sync_plate_key_store([a.pk, b.pk]) == 5
        assert key_stores(a) == {world.a1.pk} and key_stores(b) == {world.a2.pk}


class TestStoreScopedPlateSearch:
    def test_store_a_never_finds_store_bs_plate(self, world):
        b_car = cf.vehicle(cf.customer(world.a2), plate="津B12388")
        for i in range(30):  # store B's matches must neither show nor crowd out A's
            cf.vehicle(cf.customer(world.a2), plate=f"津B{i:03d}88")
        a_car = cf.vehicle(cf.customer(world.a1), plate="京C99988")
        for q in ("88", "988", "C99988", "京C99988"):
            hits = selectors.search(world.manager_a1, q)
            assert [h.vehicle for h in hits] == [a_car], q
        for q in ("12388", "B12388", "津B12388"):
            assert selectors.search(world.manager_a1, q) == [], q
            assert [h.vehicle for h in selectors.search(world.manager_a2, q)] == [b_car], q
        assert a_car in [h.vehicle for h in selectors.search(world.hq, "99988")]
        assert b_car in [h.vehicle for h in selectors.search(world.hq, "12388")]

    def test_stale_key_does_not_leak(self, world):
        """Even a key whose store is wrong shows nothing of another store: the vehicle's own
        store is checked too."""
        b_car = cf.vehicle(cf.customer(world.a2), plate="津B12388")
        PlateKey.objects.filter(vehicle=b_car).update(home_store=world.a1)
        assert selectors.search(world.manager_a1, "12388") == []

    def test_store_query_reads_keys_by_home_store(self, world):
        cf.vehicle(cf.customer(world.a1), plate="京C99988")
        with CaptureQueriesContext(connection) as captured:
            selectors.search(world.manager_a1, "9998")
        plate_sql = [q["sql"] for q in captured.captured_queries if "platekey" in q["sql"]]
        assert len(plate_sql) == 1
        keys = plate_sql[0].split("FROM customers_platekey", 1)[1]
        assert "k.home_store_id IN" in keys.split("LIMIT", 1)[0]
        assert "JOIN" not in keys.split("LIMIT", 1)[0]  # no join to the vehicles before LIMIT


class TestLeanSearch:
    def test_hits_carry_only_the_shown_columns(self, world):
        c = cf.customer(world.a1, name="张三", mobile="13900001234")
        v = cf.vehicle(c, plate="京A12345")
        [hit] = selectors.search(world.advisor_a1, "京A12345")
        assert hit.customer == c and hit.vehicle == v and c == hit.customer
        assert (hit.customer.pk, hit.customer.name, hit.customer.mobile) == (
            c.pk,
            "张三",
            "13900001234",
        )
        assert (hit.vehicle.pk, hit.vehicle.plate, hit.vehicle.vin) == (v.pk, v.plate, v.vin)
        assert not isinstance(hit.customer, type(c)) and hit.vehicle != c

    def test_exact_plate_is_one_query(self, world):
        cf.vehicle(cf.customer(world.a1), plate="京A12345")
        warm(world.advisor_a1)
        with CaptureQueriesContext(connection) as captured:
            assert len(selectors.search(world.advisor_a1, "京A12345")) == 1
        assert len(captured.captured_queries) == 1

    @pytest.mark.parametrize("q", ["zs", "1234", "13900001234", "A123", "张"])
    def test_bounded_queries(self, world, q):
        cf.vehicle(cf.customer(world.a1, name="张三", mobile="13900001234"), plate="京A12345")
        warm(world.advisor_a1)
        with CaptureQueriesContext(connection) as captured:
            assert selectors.search(world.advisor_a1, q)
        assert len(captured.captured_queries) <= 3  # one per branch that applies

    def test_name_hits_sorted_by_pinyin(self, world):
        for name in ("张三丰", "赵四", "张三"):
            cf.customer(world.a1, name=name)
        names = [h.customer.name for h in selectors.search(world.advisor_a1, "z")]
        assert names == ["张三", "张三丰", "赵四"]

    def test_owner_of_vehicle_not_repeated_as_name_hit(self, world):
        c = cf.customer(world.a1, name="王五", mobile="13900005555")
        cf.vehicle(c, plate="京A55550")
        hits = selectors.search(world.advisor_a1, "5555")
        assert [(h.matched, h.customer.pk) for h in hits] == [("mobile", c.pk), ("plate", c.pk)]
