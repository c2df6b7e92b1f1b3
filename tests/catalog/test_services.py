"""Catalog services: what they do and what they refuse."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autocrm.catalog import services as cs
from autocrm.catalog.models import LabourItem, PackageItem, Part, ServicePackage, StorePrice
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import AuditLog
from autocrm.service.models import WorkOrderLine
from tests import service_factories as sf


def labour_data(**kw) -> dict:
    data = {"code": "by-001", "name": "更换机油机滤", "hours": "0.5", "price": "80"}
    data.update(kw)
    return data


def part_data(**kw) -> dict:
    data = {
        "code": "15208-65F0E",
        "name": "机油滤清器",
        "brand": "日产",
        "spec": "原厂",
        "unit": "个",
        "price": "45.00",
        "cost": "20.5",
    }
    data.update(kw)
    return data


class TestLabour:
    def test_create_normalises_and_audits(self, world):
        item = cs.create_labour(
            world.hq, **labour_data(name=" 更换 机油机滤 ", repair_class="first")
        )
        assert (item.code, item.name, item.hours, item.price) == (
            "BY-001",
            "更换 机油机滤",
            Decimal("0.50"),
            Decimal("80.00"),
        )
        assert item.org == world.org and item.category == "labour" and item.repair_class == "first"
        assert AuditLog.objects.filter(
            object_id=str(item.pk), user_id=world.hq.pk, action="create"
        ).exists()

    @pytest.mark.parametrize(
        "user", ["manager_a1", "region_mgr", "advisor_a1", "tech_a1", "manager_a2"]
    )
    def test_only_hq_manages_the_catalog(self, world, user):
        with pytest.raises(Forbidden):
            cs.create_labour(getattr(world, user), **labour_data())
        item = sf.labour(world.org)
        with pytest.raises(Forbidden):
            cs.update_labour(getattr(world, user), item, price="1")
        with pytest.raises(Forbidden):
            cs.retire_labour(getattr(world, user), item)

    def test_other_org_gets_not_found(self, world):
        item = sf.labour(world.org)
        with pytest.raises(NotFound):
            cs.update_labour(world.other_admin, item, price="1")
        with pytest.raises(NotFound):
            cs.retire_labour(world.other_admin, item)

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"code": ""}, "code"),
            ({"code": "保养 1"}, "code"),
            ({"code": "A" * 31}, "code"),
            ({"name": " "}, "name"),
            ({"price": "-1"}, "price"),
            ({"price": "12.345"}, "price"),
            ({"price": "abc"}, "price"),
            ({"price": ""}, "price"),
            ({"price": "1e20"}, "price"),
            ({"hours": "0"}, "hours"),
            ({"hours": "-2"}, "hours"),
            ({"category": "food"}, "category"),
            ({"repair_class": "x"}, "repair_class"),
        ],
    )
    def test_bad_input_names_the_field(self, world, data, field):
        with pytest.raises(Invalid) as exc:
            cs.create_labour(world.hq, **labour_data(**data))
        assert field in exc.value.fields
        assert not LabourItem.objects.exists()

    def test_code_unique_in_org_not_across_orgs(self, world):
        cs.create_labour(world.hq, **labour_data())
        with pytest.raises(Conflict) as exc:
            cs.create_labour(world.hq, **labour_data(code="by-001 ", name="别的"))
        assert "code" in exc.value.fields
        assert cs.create_labour(world.other_admin, **labour_data()).org == world.other_org

    def test_update_keeps_own_code_and_refuses_anothers(self, world):
        a = cs.create_labour(world.hq, **labour_data())
        b = cs.create_labour(world.hq, **labour_data(code="BY-002"))
        cs.update_labour(world.hq, a, code="BY-001", price="90.5")
        a.refresh_from_db()
        assert a.price == Decimal("90.50")
        with pytest.raises(Conflict):
            cs.update_labour(world.hq, b, code="by-001")

    def test_retire_deletes_unused_and_deactivates_used(self, world):
        unused = sf.labour(world.org)
        StorePrice.objects.create(store=world.a1, labour=unused, price=1)
        assert cs.retire_labour(world.hq, unused) is True
        assert not LabourItem.objects.filter(pk=unused.pk).exists()
        assert not StorePrice.objects.exists()
        used = sf.labour(world.org)
        sf.line(sf.work_order(world.a1), kind="labour", labour=used)
        assert cs.retire_labour(world.hq, used) is False
        used.refresh_from_db()
        assert not used.is_active

    def test_an_item_of_an_active_package_stays_active(self, world):
        package = sf.package(world.org, name="小保养")
        labour = package.items.get(labour__isnull=False).labour
        with pytest.raises(Conflict) as exc:
            cs.retire_labour(world.hq, labour)
        assert "小保养" in str(exc.value.message)
        with pytest.raises(Conflict):
            cs.update_labour(world.hq, labour, is_active=False)
        labour.refresh_from_db()
        assert labour.is_active
        cs.update_package(world.hq, package, is_active=False)
        assert cs.retire_labour(world.hq, labour) is False  # in a package: kept, deactivated
        labour.refresh_from_db()
        assert not labour.is_active


class TestParts:
    def test_create(self, world):
        part = cs.create_part(world.hq, **part_data())
        assert (part.code, part.cost, part.price, part.unit) == (
            "15208-65F0E",
            Decimal("20.50"),
            Decimal("45.00"),
            "个",
        )

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"name": ""}, "name"),
            ({"unit": ""}, "unit"),
            ({"unit": "一个很长很长很长的单位名称"}, "unit"),
            ({"price": "-0.01"}, "price"),
            ({"cost": "-1"}, "cost"),
            ({"cost": "46"}, "cost"),
            ({"brand": "品" * 41}, "brand"),
            ({"code": "P" * 41}, "code"),
        ],
    )
    def test_bad_input(self, world, data, field):
        with pytest.raises(Invalid) as exc:
            cs.create_part(world.hq, **part_data(**data))
        assert field in exc.value.fields

    def test_cost_checked_against_the_stored_price_on_update(self, world):
        part = cs.create_part(world.hq, **part_data())
        with pytest.raises(Invalid) as exc:
            cs.update_part(world.hq, part, cost="50")
        assert "cost" in exc.value.fields
        cs.update_part(world.hq, part, price="60", cost="50")
        part.refresh_from_db()
        assert (part.price, part.cost) == (Decimal("60.00"), Decimal("50.00"))

    def test_refusals(self, world):
        part = sf.part(world.org)
        with pytest.raises(Forbidden):
            cs.create_part(world.manager_a1, **part_data())
        with pytest.raises(Forbidden):
            cs.update_part(world.tech_a1, part, name="x")
        with pytest.raises(NotFound):
            cs.update_part(world.other_admin, part, name="x")

    def test_part_on_a_work_order_is_deactivated(self, world):
        part = sf.part(world.org)
        wo = sf.work_order(world.a1)
        WorkOrderLine.objects.create(
            work_order=wo, kind="part", part=part, name=part.name, unit_price=part.price
        )
        assert cs.retire_part(world.hq, part) is False
        part.refresh_from_db()
        assert not part.is_active
        assert cs.retire_part(world.hq, sf.part(world.org)) is True


class TestPackages:
    def test_create_with_items_in_order(self, world):
        labour, part = sf.labour(world.org), sf.part(world.org)
        package = cs.create_package(
            world.hq,
            code="xby",
            name="小保养",
            items=[{"part_id": part.pk, "quantity": "4"}, {"labour_id": labour.pk}],
        )
        items = list(package.items.all())
        assert [(i.part, i.labour, i.quantity, i.sort) for i in items] == [
            (part, None, Decimal("4.00"), 1),
            (None, labour, Decimal("1.00"), 2),
        ]
        assert package.code == "XBY" and package.bookable

    @pytest.mark.parametrize(
        "items",
        [
            [],
            [{}],
            [{"labour_id": 1, "part_id": 1}],
            [{"labour_id": 999999}],
            [{"labour_id": "x"}],
        ],
    )
    def test_needs_valid_items(self, world, items):
        with pytest.raises(Invalid) as exc:
            cs.create_package(world.hq, code="K1", name="四轮定位", items=items)
        assert any(k.startswith("items") for k in exc.value.fields)
        assert not ServicePackage.objects.exists()

    def test_bad_quantity_and_inactive_items(self, world):
        labour = sf.labour(world.org)
        with pytest.raises(Invalid) as exc:
            cs.create_package(
                world.hq, code="K1", name="x", items=[{"labour_id": labour.pk, "quantity": "0"}]
            )
        assert "items.0.quantity" in exc.value.fields
        labour.is_active = False
        labour.save()
        with pytest.raises(Invalid) as exc:
            cs.create_package(world.hq, code="K1", name="x", items=[{"labour_id": labour.pk}])
        assert "items.0" in exc.value.fields

    def test_items_of_another_org_are_refused(self, world):
        foreign = sf.labour(world.other_org)
        with pytest.raises(Invalid):
            cs.create_package(world.hq, code="K1", name="x", items=[{"labour_id": foreign.pk}])

    def test_add_remove_reorder(self, world):
        package = sf.package(world.org)
        first, second = package.items.all()
        extra = sf.part(world.org, name="空调滤芯")
        added = cs.add_package_item(world.hq, package, part_id=extra.pk, quantity="2")
        assert added.sort == 3
        again = cs.add_package_item(world.hq, package, part_id=extra.pk, quantity="1")
        assert again.pk == added.pk and again.quantity == Decimal("3.00")
        cs.reorder_package_items(world.hq, package, [added.pk, first.pk, second.pk])
        assert list(package.items.values_list("pk", flat=True)) == [added.pk, first.pk, second.pk]
        cs.move_package_item(world.hq, package, first, -1)
        assert list(package.items.values_list("pk", flat=True)) == [first.pk, added.pk, second.pk]
        cs.move_package_item(world.hq, package, second, +1)  # already last: stays
        assert list(package.items.values_list("sort", flat=True)) == [1, 2, 3]
        cs.remove_package_item(world.hq, package, added)
        assert list(package.items.values_list("pk", flat=True)) == [first.pk, second.pk]
        cs.set_package_item_quantity(world.hq, package, second, "2.5")
        second.refresh_from_db()
        assert second.quantity == Decimal("2.50")

    def test_reorder_must_list_every_line_once(self, world):
        package = sf.package(world.org)
        first, _second = package.items.all()
        with pytest.raises(Invalid):
            cs.reorder_package_items(world.hq, package, [first.pk, first.pk])

    def test_last_item_cannot_be_removed(self, world):
        package = sf.package(world.org)
        first, second = package.items.all()
        cs.remove_package_item(world.hq, package, first)
        with pytest.raises(Invalid) as exc:
            cs.remove_package_item(world.hq, package, second)
        assert "items" in exc.value.fields
        assert package.items.count() == 1

    def test_item_of_another_package_is_not_found(self, world):
        one, two = sf.package(world.org), sf.package(world.org)
        with pytest.raises(NotFound):
            cs.remove_package_item(world.hq, one, two.items.first())

    def test_update_replaces_items(self, world):
        package = sf.package(world.org)
        part = sf.part(world.org)
        cs.update_package(world.hq, package, name="大保养", items=[{"part_id": part.pk}])
        package.refresh_from_db()
        assert package.name == "大保养"
        assert [i.part for i in package.items.all()] == [part]
        with pytest.raises(Invalid):
            cs.update_package(world.hq, package, items=[])

    def test_refusals(self, world):
        package = sf.package(world.org)
        item = package.items.first()
        for user in (world.manager_a1, world.advisor_a1, world.tech_a1):
            with pytest.raises(Forbidden):
                cs.update_package(user, package, name="x")
            with pytest.raises(Forbidden):
                cs.remove_package_item(user, package, item)
        with pytest.raises(NotFound):
            cs.add_package_item(world.other_admin, package, labour_id=item.labour_id or 0)
        with pytest.raises(NotFound):
            cs.retire_package(world.other_admin, package)

    def test_retire(self, world):
        unused = sf.package(world.org)
        assert cs.retire_package(world.hq, unused) is True
        assert not PackageItem.objects.filter(package_id=unused.pk).exists()
        booked = sf.package(world.org)
        sf.appointment(world.a1, package=booked)
        assert cs.retire_package(world.hq, booked) is False
        booked.refresh_from_db()
        assert not booked.is_active and booked.items.count() == 2
        on_order = sf.package(world.org)
        wo = sf.work_order(world.a1)
        WorkOrderLine.objects.create(
            work_order=wo, kind="labour", package=on_order, name="x", unit_price=1
        )
        assert cs.retire_package(world.hq, on_order) is False


class TestStorePrices:
    def test_manager_sets_price_and_member_prices(self, world):
        labour = sf.labour(world.org, price="80")
        row = cs.set_store_price(
            world.manager_a1,
            world.a1,
            labour_id=labour.pk,
            price="75",
            member_prices={" 金卡 ": "60", "银卡": 70.5},
        )
        assert row.price == Decimal("75.00")
        assert row.member_prices == {"金卡": "60.00", "银卡": "70.50"}
        again = cs.set_store_price(world.manager_a1, world.a1, labour_id=labour.pk, price="78")
        assert again.pk == row.pk and again.member_prices == {}

    def test_region_manager_and_hq_in_scope(self, world):
        part = sf.part(world.org)
        assert cs.set_store_price(world.region_mgr, world.a2, part_id=part.pk, price="1").pk
        assert cs.set_store_price(world.hq, world.a3, part_id=part.pk, price="1").pk
        with pytest.raises(NotFound):
            cs.set_store_price(world.region_mgr, world.a3, part_id=part.pk, price="1")

    def test_manager_of_a1_cannot_price_a2(self, world):
        labour = sf.labour(world.org)
        with pytest.raises(NotFound):
            cs.set_store_price(world.manager_a1, world.a2, labour_id=labour.pk, price="1")
        row = StorePrice.objects.create(store=world.a2, labour=labour, price=5)
        with pytest.raises(NotFound):
            cs.remove_store_price(world.manager_a1, row)
        assert StorePrice.objects.filter(pk=row.pk).exists()

    @pytest.mark.parametrize("user", ["advisor_a1", "tech_a1"])
    def test_staff_cannot_set_prices(self, world, user):
        labour = sf.labour(world.org)
        with pytest.raises(Forbidden):
            cs.set_store_price(getattr(world, user), world.a1, labour_id=labour.pk, price="1")

    def test_other_org(self, world):
        labour = sf.labour(world.org)
        with pytest.raises(NotFound):
            cs.set_store_price(world.other_admin, world.a1, labour_id=labour.pk, price="1")
        with pytest.raises(NotFound):  # their own store, our item
            cs.set_store_price(world.other_admin, world.b1, labour_id=labour.pk, price="1")

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"price": "-1"}, "price"),
            ({"price": "1.001"}, "price"),
            ({"member_prices": {"": "10"}}, "member_prices"),
            ({"member_prices": {"  ": "10"}}, "member_prices"),
            ({"member_prices": {"金卡": "-1"}}, "member_prices.金卡"),
            ({"member_prices": {"金卡": "x"}}, "member_prices.金卡"),
            ({"member_prices": {"金卡": "99"}}, "member_prices.金卡"),
            ({"member_prices": {"级" * 31: "9"}}, "member_prices." + "级" * 31),
            ({"member_prices": {"金卡": "9", "金卡 ": "8"}}, "member_prices.金卡"),
            ({"member_prices": ["金卡"]}, "member_prices"),
        ],
    )
    def test_bad_input(self, world, data, field):
        labour = sf.labour(world.org)
        payload = {"labour_id": labour.pk, "price": "50", **data}
        with pytest.raises(Invalid) as exc:
            cs.set_store_price(world.manager_a1, world.a1, **payload)
        assert field in exc.value.fields
        assert not StorePrice.objects.exists()

    def test_needs_exactly_one_item(self, world):
        labour, part = sf.labour(world.org), sf.part(world.org)
        with pytest.raises(Invalid):
            cs.set_store_price(world.hq, world.a1, price="1")
        with pytest.raises(Invalid):
            cs.set_store_price(world.hq, world.a1, labour_id=labour.pk, part_id=part.pk, price="1")

    def test_remove_returns_to_catalog_price(self, world):
        part = sf.part(world.org)
        row = cs.set_store_price(world.manager_a1, world.a1, part_id=part.pk, price="1")
        cs.remove_store_price(world.manager_a1, row)
        assert not StorePrice.objects.exists()
        assert Part.objects.filter(pk=part.pk).exists()
