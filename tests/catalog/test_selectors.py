"""Catalog reads: pricing precedence, priced package lines, quotes, scoped lists and search."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autocrm.catalog import selectors
from autocrm.catalog.models import PackageItem, StorePrice
from autocrm.catalog.pricing import line_amount, unit_price
from autocrm.core.errors import NotFound
from autocrm.core.selectors import get_store
from tests import service_factories as sf


class TestPricing:
    def test_member_price_beats_store_price_beats_catalog_price(self, world):
        labour = sf.labour(world.org, price="80.00")
        assert unit_price(world.a1.pk, "金卡", labour=labour) == Decimal("80.00")
        StorePrice.objects.create(
            store=world.a1, labour=labour, price=Decimal("70"), member_prices={"金卡": "60.00"}
        )
        assert unit_price(world.a1.pk, "金卡", labour=labour) == Decimal("60.00")
        assert unit_price(world.a1.pk, "银卡", labour=labour) == Decimal("70.00")
        assert unit_price(world.a1.pk, "", labour=labour) == Decimal("70.00")
        # another store of the same org keeps the catalog price
        assert unit_price(world.a2.pk, "金卡", labour=labour) == Decimal("80.00")

    def test_parts_too(self, world):
        part = sf.part(world.org, price="268.00")
        StorePrice.objects.create(
            store=world.a1, part=part, price=Decimal("250"), member_prices={"VIP": "230"}
        )
        assert unit_price(world.a1.pk, "VIP", part=part) == Decimal("230.00")
        assert unit_price(world.a1.pk, part=part) == Decimal("250.00")

    def test_a_broken_member_price_falls_back_to_the_store_price(self, world):
        part = sf.part(world.org, price="10")
        StorePrice.objects.create(store=world.a1, part=part, price=9, member_prices={"金卡": "x"})
        assert unit_price(world.a1.pk, "金卡", part=part) == Decimal("9.00")

    def test_needs_an_item(self, world):
        with pytest.raises(ValueError):
            unit_price(world.a1.pk, "")


class TestPackageLines:
    def test_priced_lines_in_package_order(self, world):
        package = sf.package(world.org, name="小保养")
        labour_item, part_item = package.items.all()
        part_item.quantity = Decimal("4")
        part_item.save()
        StorePrice.objects.create(
            store=world.a1, part=part_item.part, price=200, member_prices={"金卡": "180"}
        )
        lines = selectors.package_lines(world.a1.pk, "金卡", package)
        assert [line["kind"] for line in lines] == ["labour", "part"]
        labour_line, part_line = lines
        assert labour_line["labour"] == labour_item.labour and labour_line["part"] is None
        assert labour_line["unit_price"] == Decimal("80.00")
        assert labour_line["category"] == "labour" and labour_line["quantity"] == Decimal("1")
        assert part_line["unit_price"] == Decimal("180.00")
        assert part_line["quantity"] == Decimal("4.00")
        assert (part_line["brand"], part_line["spec"], part_line["unit"]) == (
            "美孚",
            "5W-30 SP",
            "桶",
        )
        assert part_line["category"] == "material"
        assert part_line["code"] == part_item.part.code and part_line["name"] == "机油 5W-30 4L"
        assert selectors.package_lines(world.a2.pk, "金卡", package)[1]["unit_price"] == Decimal(
            "268.00"
        )

    def test_a_package_is_priced_in_one_query(self, world, django_assert_max_num_queries):
        package = sf.package(world.org)
        for n in range(4):
            part = sf.part(world.org, name=f"滤清器{n}", price="10")
            PackageItem.objects.create(package=package, part=part, quantity=1, sort=10 + n)
            StorePrice.objects.create(store=world.a1, part=part, price=9)
        package = selectors.get_package(world.hq, package.pk)  # items prefetched
        with django_assert_max_num_queries(1):
            lines = selectors.package_lines(world.a1.pk, "", package)
        assert len(lines) == 6
        assert [line["unit_price"] for line in lines[2:]] == [Decimal("9.00")] * 4
        with django_assert_max_num_queries(4):  # store, package, its items, the prices
            result = selectors.quote(world.hq, world.a1.pk, "", package_id=package.pk)
        assert result["total"] == Decimal("384.00")

    def test_line_amount_rounds_half_up_after_the_discount(self):
        assert line_amount(Decimal("3"), Decimal("33.335")) == Decimal("100.01")
        assert line_amount(Decimal("1"), Decimal("0.125")) == Decimal("0.13")
        assert line_amount(Decimal("2"), Decimal("100"), Decimal("15")) == Decimal("170.00")
        assert line_amount(Decimal("1"), Decimal("10.05"), Decimal("50")) == Decimal("5.03")
        line = {"quantity": Decimal("1"), "unit_price": Decimal("0.125")}
        assert selectors.line_amount(line) == Decimal("0.13")

    def test_lines_build_work_order_lines(self, world):
        from autocrm.service.models import WorkOrderLine

        package = sf.package(world.org)
        wo = sf.work_order(world.a1)
        for line in selectors.package_lines(world.a1.pk, "", package):
            WorkOrderLine.objects.create(work_order=wo, package=package, **line)
        assert wo.lines.count() == 2

    def test_quote(self, world):
        package = sf.package(world.org)
        result = selectors.quote(world.advisor_a1, world.a1.pk, "", package_id=package.pk)
        assert result["total"] == Decimal("348.00")
        part = package.items.get(part__isnull=False).part
        result = selectors.quote(world.advisor_a1, world.a1.pk, "", part_id=part.pk)
        assert [line["unit_price"] for line in result["lines"]] == [Decimal("268.00")]

    def test_quote_refuses_other_stores_and_orgs(self, world):
        labour = sf.labour(world.org)
        with pytest.raises(NotFound):
            selectors.quote(world.advisor_a1, world.a2.pk, "", labour_id=labour.pk)
        with pytest.raises(NotFound):
            selectors.quote(world.other_admin, world.b1.pk, "", labour_id=labour.pk)
        with pytest.raises(NotFound):
            selectors.quote(world.other_admin, world.a1.pk, "", labour_id=labour.pk)


class TestLists:
    def test_scoped_to_the_org_and_searchable(self, world):
        sf.labour(world.org, name="四轮定位", code="DW-01")
        sf.labour(world.org, name="空调清洗", code="KT-01")
        sf.labour(world.other_org, name="四轮定位(别家)", code="DW-02")
        names = [i.name for i in selectors.labour_items(world.tech_a1, q="定位")]
        assert names == ["四轮定位"]
        assert [i.code for i in selectors.labour_items(world.tech_a1, q="kt")] == ["KT-01"]
        assert selectors.labour_items(world.other_admin).count() == 1

    def test_parts_search_brand_and_spec(self, world):
        sf.part(world.org, name="机油", brand="美孚", spec="5W-30")
        sf.part(world.org, name="刹车片", brand="博世", spec="前")
        assert [p.name for p in selectors.parts(world.hq, q="美孚")] == ["机油"]
        assert [p.name for p in selectors.parts(world.hq, q="5w-30")] == ["机油"]

    def test_active_filter_and_package_items(self, world):
        package = sf.package(world.org)
        sf.package(world.org, is_active=False)
        assert list(selectors.packages(world.hq, active=True)) == [package]
        got = selectors.get_package(world.hq, package.pk)
        assert [type(i) for i in got.items.all()] == [PackageItem, PackageItem]
        with pytest.raises(NotFound):
            selectors.get_package(world.other_admin, package.pk)
        with pytest.raises(NotFound):
            selectors.get_package(world.hq, "x")

    def test_store_price_list(self, world):
        labour = sf.labour(world.org, name="钣金")
        other = sf.labour(world.org, name="喷漆")
        StorePrice.objects.create(store=world.a1, labour=labour, price=1)
        StorePrice.objects.create(store=world.a2, labour=other, price=2)
        store = get_store(world.manager_a1, world.a1.pk)
        rows = selectors.price_list(world.manager_a1, store, "labour", [labour, other])
        assert [(r.item, r.price) for r in rows] == [(labour, Decimal("1")), (other, other.price)]
        assert [r.labour for r in selectors.store_prices(world.manager_a1, store)] == [labour]
        with pytest.raises(NotFound):
            get_store(world.manager_a1, world.a2.pk)
        with pytest.raises(NotFound):
            get_store(world.other_admin, world.a1.pk)

    def test_level_names(self, world):
        from tests import customer_factories as cf

        cf.customer(world.a1, "张三", level="金卡")
        StorePrice.objects.create(
            store=world.a1, labour=sf.labour(world.org), price=5, member_prices={"钻石卡": "4"}
        )
        assert selectors.level_names(world.manager_a1) == ["金卡", "钻石卡"]
        assert selectors.level_names(world.other_admin) == []
