"""Catalog pages: tabs with search, item forms, the package editor and store price lists."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from autocrm.catalog.models import LabourItem, Part, ServicePackage, StorePrice
from tests import service_factories as sf
from tests.conftest import client_for

HTMX = {"HTTP_HX_REQUEST": "true"}


class TestIndex:
    def test_tabs_list_and_search(self, world):
        sf.labour(world.org, name="四轮定位", code="DW-01")
        sf.labour(world.org, name="空调清洗", code="KT-01")
        sf.part(world.org, name="刹车片", brand="博世")
        sf.package(world.org, name="大保养")
        client = client_for(world.tech_a1)
        body = client.get("/catalog/").content.decode()
        assert "四轮定位" in body and "空调清洗" in body and "目录" in body
        assert "新建工时项目" not in body  # technicians only read
        assert (
            "<th>名称</th>" in body and "<th>姓名</th>" not in body
        )  # an item's name, not a person's
        body = client.get("/catalog/", {"tab": "labour", "q": "定位"}).content.decode()
        assert "四轮定位" in body and "空调清洗" not in body
        body = client.get("/catalog/", {"tab": "parts", "q": "博世"}).content.decode()
        assert "刹车片" in body
        body = client.get("/catalog/", {"tab": "packages"}).content.decode()
        assert "大保养" in body and "更换机油机滤" in body

    def test_htmx_returns_rows_only(self, world):
        sf.labour(world.org, name="四轮定位")
        response = client_for(world.hq).get("/catalog/", {"q": "定位"}, **HTMX)
        body = response.content.decode()
        assert "四轮定位" in body and "<html" not in body

    def test_other_org_sees_nothing(self, world):
        sf.labour(world.org, name="四轮定位")
        body = client_for(world.other_admin).get("/catalog/").content.decode()
        assert "四轮定位" not in body

    def test_nav_entry(self, world):
        body = client_for(world.tech_a1).get("/").content.decode()
        assert 'data-nav="catalog"' in body

    def test_needs_sign_in(self, client, world):
        assert client.get("/catalog/").status_code == 302


class TestItemForms:
    def test_hq_creates_and_edits_labour(self, world):
        client = client_for(world.hq)
        assert "新建工时项目" in client.get("/catalog/labour/new/").content.decode()
        response = client.post(
            "/catalog/labour/new/",
            {
                "code": "dw-01",
                "name": "四轮定位",
                "hours": "1",
                "price": "120",
                "category": "labour",
                "repair_class": "minor",
            },
        )
        assert response.status_code == 302
        item = LabourItem.objects.get(code="DW-01")
        response = client.post(
            f"/catalog/labour/{item.pk}/edit/",
            {
                "code": "DW-01",
                "name": "四轮定位",
                "hours": "1.5",
                "price": "150",
                "category": "labour",
                "repair_class": "minor",
                "is_active": "on",
            },
        )
        assert response.status_code == 302
        item.refresh_from_db()
        assert (item.hours, item.price) == (Decimal("1.50"), Decimal("150.00"))

    def test_service_errors_show_in_chinese_on_the_form(self, world):
        client = client_for(world.hq)
        data = {"code": "P1", "name": "刹车片", "unit": "套", "price": "10.123", "cost": "1"}
        body = client.post("/catalog/parts/new/", data).content.decode()
        assert "最多两位小数" in body
        data["price"] = "10"
        data["cost"] = "20"
        body = client.post("/catalog/parts/new/", data).content.decode()
        assert "成本高于售价" in body
        assert not Part.objects.exists()

    def test_duplicate_code(self, world):
        sf.part(world.org, code="P1")
        data = {"code": "p1", "name": "刹车片", "unit": "套", "price": "10", "cost": "1"}
        body = client_for(world.hq).post("/catalog/parts/new/", data).content.decode()
        assert "已被使用" in body

    @pytest.mark.parametrize("user", ["manager_a1", "advisor_a1", "tech_a1"])
    def test_only_hq_opens_the_forms(self, world, user):
        client = client_for(getattr(world, user))
        item = sf.labour(world.org)
        assert client.get("/catalog/labour/new/").status_code == 403
        assert client.get(f"/catalog/labour/{item.pk}/edit/").status_code == 403
        assert client.post(f"/catalog/labour/{item.pk}/retire/").status_code == 403

    def test_other_org_item_is_404(self, world):
        item = sf.part(world.org)
        client = client_for(world.other_admin)
        assert client.get(f"/catalog/parts/{item.pk}/edit/").status_code == 404
        assert client.post(f"/catalog/parts/{item.pk}/retire/").status_code == 404

    def test_retire_used_item_deactivates(self, world):
        labour = sf.labour(world.org)
        sf.line(sf.work_order(world.a1), labour=labour)
        response = client_for(world.hq).post(f"/catalog/labour/{labour.pk}/retire/", follow=True)
        assert "已停用" in response.content.decode()
        labour.refresh_from_db()
        assert not labour.is_active

    def test_retire_item_of_an_active_package_is_refused(self, world):
        package = sf.package(world.org, name="小保养")
        part = package.items.get(part__isnull=False).part
        client = client_for(world.hq)
        response = client.post(f"/catalog/parts/{part.pk}/retire/", follow=True)
        assert "请先从这些套餐中移除" in response.content.decode()
        data = {"code": part.code, "name": part.name, "unit": "桶", "price": "268", "cost": "1"}
        body = client.post(f"/catalog/parts/{part.pk}/edit/", data).content.decode()
        assert "仍在启用的套餐中" in body
        part.refresh_from_db()
        assert part.is_active


class TestPackages:
    def test_create_with_first_item_then_add_and_reorder(self, world):
        labour, part = sf.labour(world.org, name="四轮定位"), sf.part(world.org, name="配重块")
        client = client_for(world.hq)
        body = client.get("/catalog/packages/new/").content.decode()
        assert f"labour:{labour.pk}" in body and f"part:{part.pk}" in body
        response = client.post(
            "/catalog/packages/new/",
            {
                "code": "dw",
                "name": "四轮定位套餐",
                "repair_class": "minor",
                "bookable": "on",
                "item": f"labour:{labour.pk}",
                "quantity": "1",
            },
        )
        package = ServicePackage.objects.get(code="DW")
        assert response.status_code == 302 and response["Location"].endswith(
            f"/catalog/packages/{package.pk}/"
        )
        response = client.post(
            f"/catalog/packages/{package.pk}/items/", {"item": f"part:{part.pk}", "quantity": "4"}
        )
        assert response.status_code == 302
        first, second = package.items.all()
        client.post(f"/catalog/packages/{package.pk}/items/{second.pk}/move/", {"direction": "up"})
        assert list(package.items.values_list("pk", flat=True)) == [second.pk, first.pk]
        client.post(
            f"/catalog/packages/{package.pk}/items/{second.pk}/quantity/", {"quantity": "2"}
        )
        second.refresh_from_db()
        assert second.quantity == Decimal("2.00")
        body = client.get(f"/catalog/packages/{package.pk}/").content.decode()
        assert "配重块" in body and "四轮定位" in body

    def test_package_without_item_is_refused(self, world):
        body = (
            client_for(world.hq)
            .post(
                "/catalog/packages/new/", {"code": "X", "name": "空调清洗", "repair_class": "minor"}
            )
            .content.decode()
        )
        assert "至少需要一个" in body
        assert not ServicePackage.objects.exists()

    def test_removing_last_item_is_refused_with_a_message(self, world):
        package = sf.package(world.org)
        first, second = package.items.all()
        client = client_for(world.hq)
        client.post(f"/catalog/packages/{package.pk}/items/{first.pk}/remove/")
        response = client.post(
            f"/catalog/packages/{package.pk}/items/{second.pk}/remove/", follow=True
        )
        assert "至少需要一个" in response.content.decode()
        assert package.items.count() == 1

    def test_bad_item_shows_422(self, world):
        package = sf.package(world.org)
        response = client_for(world.hq).post(
            f"/catalog/packages/{package.pk}/items/", {"item": "", "quantity": "1"}
        )
        assert response.status_code == 422

    def test_detail_shows_store_prices_to_staff(self, world):
        package = sf.package(world.org)
        part = package.items.get(part__isnull=False).part
        StorePrice.objects.create(
            store=world.a1, part=part, price=200, member_prices={"金卡": "150"}
        )
        client = client_for(world.advisor_a1)
        body = client.get(f"/catalog/packages/{package.pk}/").content.decode()
        assert "¥280.00" in body  # 80 + 200
        assert "添加项目" not in body
        body = client.get(
            f"/catalog/packages/{package.pk}/", {"store": world.a1.pk, "level": "金卡"}
        ).content.decode()
        assert "¥230.00" in body

    def test_package_of_another_org_is_404(self, world):
        package = sf.package(world.org)
        assert (
            client_for(world.other_admin).get(f"/catalog/packages/{package.pk}/").status_code == 404
        )

    def test_technician_cannot_edit(self, world):
        package = sf.package(world.org)
        item = package.items.first()
        client = client_for(world.tech_a1)
        assert (
            client.post(f"/catalog/packages/{package.pk}/items/{item.pk}/remove/").status_code
            == 403
        )
        assert client.get(f"/catalog/packages/{package.pk}/edit/").status_code == 403


class TestPrices:
    def test_manager_sets_member_price(self, world):
        labour = sf.labour(world.org, name="四轮定位", price="120")
        client = client_for(world.manager_a1)
        assert client.get("/catalog/prices/").status_code == 302  # one store: straight to it
        body = client.get(f"/catalog/prices/{world.a1.pk}/").content.decode()
        assert "四轮定位" in body and "¥120.00" in body
        url = f"/catalog/prices/{world.a1.pk}/labour/{labour.pk}/"
        form_page = client.get(url).content.decode()
        assert "会员价" in form_page
        assert re.search(r'<input[^>]*name="level_0"[^>]*class="form-control', form_page)
        response = client.post(
            url,
            {"price": "110", "level_0": "金卡", "member_0": "99", "level_1": "", "member_1": ""},
        )
        assert response.status_code == 302
        row = StorePrice.objects.get(store=world.a1, labour=labour)
        assert row.price == Decimal("110.00") and row.member_prices == {"金卡": "99.00"}
        body = client.get(f"/catalog/prices/{world.a1.pk}/").content.decode()
        assert "金卡 ¥99.00" in body and "¥110.00" in body

    def test_member_price_errors_show_next_to_the_row(self, world):
        labour = sf.labour(world.org, price="120")
        url = f"/catalog/prices/{world.a1.pk}/labour/{labour.pk}/"
        client = client_for(world.manager_a1)
        body = client.post(url, {"price": "100", "level_0": "金卡", "member_0": "150"}).content
        assert "会员价不能高于门店价" in body.decode()
        body = client.post(url, {"price": "100", "level_0": "", "member_0": "50"}).content
        assert "会员等级名称" in body.decode()
        assert not StorePrice.objects.exists()

    def test_remove_store_price(self, world):
        labour = sf.labour(world.org)
        row = StorePrice.objects.create(store=world.a1, labour=labour, price=1)
        response = client_for(world.manager_a1).post(f"/catalog/prices/remove/{row.pk}/")
        assert response.status_code == 302
        assert not StorePrice.objects.exists()

    def test_manager_of_a1_cannot_open_a2(self, world):
        labour = sf.labour(world.org)
        client = client_for(world.manager_a1)
        assert client.get(f"/catalog/prices/{world.a2.pk}/").status_code == 404
        url = f"/catalog/prices/{world.a2.pk}/labour/{labour.pk}/"
        assert client.post(url, {"price": "1"}).status_code == 404
        row = StorePrice.objects.create(store=world.a2, labour=labour, price=1)
        assert client.post(f"/catalog/prices/remove/{row.pk}/").status_code == 404

    def test_advisor_reads_but_cannot_edit(self, world):
        labour = sf.labour(world.org)
        client = client_for(world.advisor_a1)
        body = client.get(f"/catalog/prices/{world.a1.pk}/").content.decode()
        assert labour.name in body and "edit-price" not in body
        url = f"/catalog/prices/{world.a1.pk}/labour/{labour.pk}/"
        assert client.get(url).status_code == 403

    def test_bad_kind_is_404(self, world):
        labour = sf.labour(world.org)
        url = f"/catalog/prices/{world.a1.pk}/package/{labour.pk}/"
        assert client_for(world.hq).get(url).status_code == 404

    def test_other_org_store_is_404(self, world):
        assert (
            client_for(world.other_admin).get(f"/catalog/prices/{world.a1.pk}/").status_code == 404
        )
