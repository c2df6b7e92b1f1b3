"""Catalog API: lists with search and cursor paging, writes with JSON errors, store prices and
quotes, all scoped to the caller's org and stores."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autocrm.catalog.models import LabourItem, ServicePackage, StorePrice
from tests import service_factories as sf
from tests.core.test_api import as_user, assert_error, post_json


class TestLabourAndParts:
    def test_create_list_get_update(self, world):
        client = as_user(world.hq)
        response = post_json(
            client,
            "/api/v1/catalog/labour",
            {"code": "kt-01", "name": "空调清洗", "hours": "0.8", "price": 168},
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["code"], body["price"], body["hours"]) == ("KT-01", "168.00", "0.80")
        listed = client.get("/api/v1/catalog/labour", {"q": "空调"}).json()
        assert [i["id"] for i in listed["items"]] == [body["id"]] and listed["next_cursor"] is None
        got = client.get(f"/api/v1/catalog/labour/{body['id']}").json()
        assert got["name"] == "空调清洗"
        patched = post_json(
            client, f"/api/v1/catalog/labour/{body['id']}", {"price": "158.5"}, "patch"
        ).json()
        assert patched["price"] == "158.50" and patched["hours"] == "0.80"

    def test_errors_are_json_with_fields(self, world):
        client = as_user(world.hq)
        body = assert_error(
            post_json(
                client, "/api/v1/catalog/labour", {"code": "X", "name": "x", "price": "1.234"}
            ),
            422,
            "invalid",
        )
        assert "price" in body["fields"]
        assert_error(post_json(client, "/api/v1/catalog/labour", {"code": "X"}), 422)
        sf.labour(world.org, code="X")
        body = assert_error(
            post_json(client, "/api/v1/catalog/labour", {"code": "x", "name": "x", "price": "1"}),
            409,
            "conflict",
        )
        assert "code" in body["fields"]

    def test_technician_reads_but_cannot_write(self, world):
        sf.labour(world.org)
        client = as_user(world.tech_a1)
        assert len(client.get("/api/v1/catalog/labour").json()["items"]) == 1
        assert_error(
            post_json(client, "/api/v1/catalog/labour", {"code": "X", "name": "x", "price": "1"}),
            403,
            "forbidden",
        )

    def test_other_org_gets_404(self, world):
        item = sf.labour(world.org)
        client = as_user(world.other_admin)
        assert_error(client.get(f"/api/v1/catalog/labour/{item.pk}"), 404, "not_found")
        assert_error(
            post_json(client, f"/api/v1/catalog/labour/{item.pk}", {"price": "1"}, "patch"), 404
        )
        assert client.get("/api/v1/catalog/labour").json()["items"] == []

    def test_cursor_paging(self, world):
        for n in range(5):
            sf.labour(world.org, code=f"L{n}")
        client = as_user(world.hq)
        first = client.get("/api/v1/catalog/labour", {"limit": 3}).json()
        assert len(first["items"]) == 3 and first["next_cursor"]
        rest = client.get(
            "/api/v1/catalog/labour", {"limit": 3, "cursor": first["next_cursor"]}
        ).json()
        assert len(rest["items"]) == 2 and rest["next_cursor"] is None
        assert_error(client.get("/api/v1/catalog/labour", {"cursor": "!!"}), 422)

    def test_parts_hide_cost_from_store_staff(self, world):
        client = as_user(world.hq)
        created = post_json(
            client,
            "/api/v1/catalog/parts",
            {
                "code": "P1",
                "name": "刹车片",
                "brand": "博世",
                "unit": "套",
                "price": "300",
                "cost": 180,
            },
        ).json()
        assert created["cost"] == "180.00"
        seen = as_user(world.advisor_a1).get(f"/api/v1/catalog/parts/{created['id']}").json()
        assert seen["cost"] is None and seen["price"] == "300.00"
        body = assert_error(
            post_json(client, f"/api/v1/catalog/parts/{created['id']}", {"cost": "400"}, "patch"),
            422,
        )
        assert "cost" in body["fields"]

    def test_delete_deactivates_used_items(self, world):
        labour = sf.labour(world.org)
        sf.line(sf.work_order(world.a1), labour=labour)
        client = as_user(world.hq)
        assert client.delete(f"/api/v1/catalog/labour/{labour.pk}").json() == {
            "deleted": False,
            "is_active": False,
        }
        assert LabourItem.objects.filter(pk=labour.pk, is_active=False).exists()
        unused = sf.part(world.org)
        assert client.delete(f"/api/v1/catalog/parts/{unused.pk}").json()["deleted"] is True
        in_package = sf.package(world.org).items.get(part__isnull=False).part
        assert_error(client.delete(f"/api/v1/catalog/parts/{in_package.pk}"), 409, "conflict")


class TestPackages:
    def test_create_with_items_and_edit_them(self, world):
        labour, part = sf.labour(world.org), sf.part(world.org)
        extra = sf.part(world.org, name="空调滤芯")
        client = as_user(world.hq)
        response = post_json(
            client,
            "/api/v1/catalog/packages",
            {
                "code": "xby",
                "name": "小保养",
                "items": [{"labour_id": labour.pk}, {"part_id": part.pk, "quantity": 4}],
            },
        )
        assert response.status_code == 201, response.content
        package = response.json()
        assert [(i["kind"], i["quantity"]) for i in package["items"]] == [
            ("labour", "1.00"),
            ("part", "4.00"),
        ]
        pid = package["id"]
        added = post_json(client, f"/api/v1/catalog/packages/{pid}/items", {"part_id": extra.pk})
        assert added.status_code == 201 and len(added.json()["items"]) == 3
        ids = [i["id"] for i in added.json()["items"]]
        reordered = post_json(
            client,
            f"/api/v1/catalog/packages/{pid}/items/order",
            {"item_ids": list(reversed(ids))},
            "put",
        ).json()
        assert [i["id"] for i in reordered["items"]] == list(reversed(ids))
        changed = post_json(
            client, f"/api/v1/catalog/packages/{pid}/items/{ids[0]}", {"quantity": "2"}, "patch"
        ).json()
        assert [i["quantity"] for i in changed["items"] if i["id"] == ids[0]] == ["2.00"]
        after = client.delete(f"/api/v1/catalog/packages/{pid}/items/{ids[2]}").json()
        assert len(after["items"]) == 2
        listed = client.get("/api/v1/catalog/packages", {"q": "小保"}).json()
        assert [p["id"] for p in listed["items"]] == [pid]
        patched = post_json(
            client,
            f"/api/v1/catalog/packages/{pid}",
            {"name": "大保养", "items": [{"labour_id": labour.pk}]},
            "patch",
        ).json()
        assert patched["name"] == "大保养" and len(patched["items"]) == 1

    def test_refusals(self, world):
        labour = sf.labour(world.org)
        client = as_user(world.hq)
        body = assert_error(
            post_json(client, "/api/v1/catalog/packages", {"code": "K", "name": "x", "items": []}),
            422,
        )
        assert "items" in body["fields"]
        package = sf.package(world.org)
        one = package.items.first()
        client.delete(f"/api/v1/catalog/packages/{package.pk}/items/{one.pk}")
        last = package.items.get()
        assert_error(client.delete(f"/api/v1/catalog/packages/{package.pk}/items/{last.pk}"), 422)
        assert_error(
            post_json(
                as_user(world.manager_a1),
                f"/api/v1/catalog/packages/{package.pk}/items",
                {"labour_id": labour.pk},
            ),
            403,
        )
        assert_error(as_user(world.other_admin).get(f"/api/v1/catalog/packages/{package.pk}"), 404)
        other = sf.package(world.org)
        assert_error(
            client.delete(f"/api/v1/catalog/packages/{package.pk}/items/{other.items.first().pk}"),
            404,
        )

    def test_delete_package(self, world):
        package = sf.package(world.org)
        response = as_user(world.hq).delete(f"/api/v1/catalog/packages/{package.pk}")
        assert response.json()["deleted"] is True
        assert not ServicePackage.objects.exists()


class TestPricesAndQuotes:
    def test_manager_sets_and_lists_store_prices(self, world):
        labour = sf.labour(world.org, price="120")
        client = as_user(world.manager_a1)
        body = {
            "store_id": world.a1.pk,
            "labour_id": labour.pk,
            "price": "110",
            "member_prices": {"金卡": 99, "银卡": "105"},
        }
        response = post_json(client, "/api/v1/catalog/prices", body, "put")
        assert response.status_code == 200, response.content
        row = response.json()
        assert row["member_prices"] == {"金卡": "99.00", "银卡": "105.00"}
        assert row["catalog_price"] == "120.00" and row["price"] == "110.00"
        listed = client.get("/api/v1/catalog/prices", {"store": world.a1.pk}).json()
        assert [r["id"] for r in listed["items"]] == [row["id"]]
        assert client.delete(f"/api/v1/catalog/prices/{row['id']}").json() == {"deleted": True}
        assert not StorePrice.objects.exists()

    def test_price_refusals(self, world):
        labour = sf.labour(world.org)
        body = {"store_id": world.a2.pk, "labour_id": labour.pk, "price": "1"}
        assert_error(
            post_json(as_user(world.manager_a1), "/api/v1/catalog/prices", body, "put"), 404
        )
        body["store_id"] = world.a1.pk
        assert_error(
            post_json(as_user(world.advisor_a1), "/api/v1/catalog/prices", body, "put"), 403
        )
        body["member_prices"] = {"": "1"}
        result = assert_error(
            post_json(as_user(world.manager_a1), "/api/v1/catalog/prices", body, "put"), 422
        )
        assert "member_prices" in result["fields"]
        assert_error(
            as_user(world.manager_a1).get("/api/v1/catalog/prices", {"store": world.a2.pk}), 404
        )
        assert_error(
            as_user(world.other_admin).get("/api/v1/catalog/prices", {"store": world.a1.pk}), 404
        )

    def test_quote_follows_precedence(self, world):
        package = sf.package(world.org)
        part = package.items.get(part__isnull=False).part
        labour = package.items.get(labour__isnull=False).labour
        StorePrice.objects.create(
            store=world.a1, part=part, price=Decimal("250"), member_prices={"金卡": "200"}
        )
        client = as_user(world.advisor_a1)
        url = "/api/v1/catalog/quote"
        got = client.get(url, {"store": world.a1.pk, "level": "金卡", "part": part.pk}).json()
        assert got["lines"][0]["unit_price"] == "200.00" and got["total"] == "200.00"
        got = client.get(url, {"store": world.a1.pk, "level": "银卡", "part": part.pk}).json()
        assert got["total"] == "250.00"
        got = client.get(url, {"store": world.a1.pk, "labour": labour.pk}).json()
        assert got["total"] == "80.00"
        got = client.get(url, {"store": world.a1.pk, "level": "金卡", "package": package.pk}).json()
        assert [(line["kind"], line["unit_price"]) for line in got["lines"]] == [
            ("labour", "80.00"),
            ("part", "200.00"),
        ]
        assert got["total"] == "280.00" and got["lines"][1]["category"] == "material"

    @pytest.mark.parametrize("params", [{}, {"labour": 1, "part": 1}])
    def test_quote_needs_one_item(self, world, params):
        client = as_user(world.advisor_a1)
        assert_error(client.get("/api/v1/catalog/quote", {"store": world.a1.pk, **params}), 422)

    def test_quote_scoped(self, world):
        labour = sf.labour(world.org)
        url = "/api/v1/catalog/quote"
        assert_error(
            as_user(world.advisor_a1).get(url, {"store": world.a2.pk, "labour": labour.pk}), 404
        )
        assert_error(
            as_user(world.other_admin).get(url, {"store": world.b1.pk, "labour": labour.pk}), 404
        )
