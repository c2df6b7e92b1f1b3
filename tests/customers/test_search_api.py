"""Search by every key, scoping and hostile input; the customers API end to end."""

from __future__ import annotations

import pytest

from autocrm.core.models import AuditLog
from autocrm.customers import selectors
from autocrm.customers.models import Customer
from tests import customer_factories as cf
from tests.conftest import api_client_for, send_json


@pytest.fixture
def zhang(world):
    c = cf.customer(world.a1, name="张三", mobile="13900001234")
    v = cf.vehicle(c, plate="京A12345")
    return c, v


def found(user, q):
    return [
        (h.matched, h.customer and h.customer.name, h.vehicle and h.vehicle.plate)
        for h in selectors.search(user, q)
    ]


class TestSearch:
    @pytest.mark.parametrize(
        "q", ["京A12345", "京a12345", "A12345", "12345", "a123", "234", "京A1", " 京Ａ·123 "]
    )
    def test_plate_any_part(self, world, zhang, q):
        assert ("plate", "张三", "京A12345") in found(world.advisor_a1, q)

    def test_wrong_province_does_not_match(self, world, zhang):
        assert found(world.advisor_a1, "沪A12345") == []

    @pytest.mark.parametrize(
        "q", ["13900001234", "139 0000 1234", "1234", "+86 139 0000 1234", "0086-139-0000-1234"]
    )
    def test_mobile_full_or_last_four(self, world, zhang, q):
        assert ("mobile", "张三", None) in found(world.advisor_a1, q)

    def test_vin_full_or_last_six(self, world, zhang):
        _c, v = zhang
        for q in (v.vin, v.vin[-6:], v.vin.lower()):
            assert ("vin", "张三", "京A12345") in found(world.advisor_a1, q)

    @pytest.mark.parametrize("q", ["zs", "ZS", "zhangsan", "zhang", "张", "张三"])
    def test_name_pinyin_and_initials(self, world, zhang, q):
        assert any(name == "张三" for _m, name, _p in found(world.advisor_a1, q))

    def test_company_name(self, world):
        cf.customer(world.a1, name="顺丰速运北京分公司", kind="company")
        assert found(world.advisor_a1, "顺丰")[0][1] == "顺丰速运北京分公司"

    def test_scoped(self, world, zhang):
        assert found(world.manager_a2, "12345") == []
        assert found(world.manager_a2, "zs") == []
        assert found(world.other_admin, "13900001234") == []
        assert found(world.hq, "12345")

    @pytest.mark.parametrize(
        "q", ["%", "_", "%%", "'", '"', "' OR 1=1 --", "1%' OR '1'='1", "张%", "z_", "\\", ";drop"]
    )
    def test_hostile_input_is_ordinary(self, world, zhang, q):
        assert found(world.advisor_a1, q) == []

    def test_exact_match_opens_customer(self, world, zhang):
        c, _v = zhang
        assert selectors.exact_match(world.advisor_a1, "京a12345") == c
        assert selectors.exact_match(world.advisor_a1, "13900001234") == c
        assert selectors.exact_match(world.advisor_a1, "+86 139 0000 1234") == c
        assert selectors.exact_match(world.advisor_a1, "京A·12345") == c
        assert selectors.exact_match(world.advisor_a1, "12345") is None
        assert selectors.exact_match(world.manager_a2, "京A12345") is None


class TestApi:
    def test_customer_vehicle_lifecycle(self, world):
        client = api_client_for(world.advisor_a1)
        r = send_json(
            client, "post", "/api/v1/customers", {"name": "李四", "mobile": "13800138000"}
        )
        assert r.status_code == 201, r.content
        cid = r.json()["id"]
        r = send_json(
            client,
            "post",
            "/api/v1/vehicles",
            {"owner_id": cid, "plate": "粤B D12345", "brand": "比亚迪", "mileage_km": 8000},
        )
        assert r.status_code == 201, r.content
        vid = r.json()["id"]
        assert r.json()["plate"] == "粤BD12345" and r.json()["current_mileage"] == 8000
        r = send_json(client, "post", f"/api/v1/vehicles/{vid}/mileage", {"km": 9000})
        assert r.status_code == 201
        r = send_json(client, "post", f"/api/v1/vehicles/{vid}/mileage", {"km": 100})
        assert r.status_code == 422 and "km" in r.json()["fields"]
        r = send_json(
            client,
            "post",
            f"/api/v1/customers/{cid}/interactions",
            {"kind": "call", "summary": "预约周六保养"},
        )
        assert r.status_code == 201
        r = send_json(client, "patch", f"/api/v1/customers/{cid}", {"level": "金卡"})
        assert r.json()["level"] == "金卡"
        profile = client.get(f"/api/v1/customers/{cid}/profile").json()
        assert profile["customer"]["name"] == "李四"
        assert [v["plate"] for v in profile["vehicles"]] == ["粤BD12345"]
        assert profile["timeline"][0]["summary"] == "预约周六保养"
        assert len(client.get(f"/api/v1/vehicles/{vid}/mileage").json()) == 2
        sources = set(
            AuditLog.objects.filter(object_type="customers.Customer").values_list(
                "source", flat=True
            )
        )
        assert sources == {"api"}

    def test_duplicate_409_with_existing_id(self, world):
        c = cf.customer(world.a1, mobile="13800138001")
        r = send_json(
            api_client_for(world.advisor_a1),
            "post",
            "/api/v1/customers",
            {"name": "重复", "mobile": "13800138001"},
        )
        assert r.status_code == 409 and r.json()["existing_id"] == c.pk

    def test_scoped_and_masked(self, world):
        mine = cf.customer(world.a1, mobile="13812345678")
        theirs = cf.customer(world.a2)
        client = api_client_for(world.advisor_a1)
        ids = {row["id"] for row in client.get("/api/v1/customers").json()["items"]}
        assert mine.pk in ids and theirs.pk not in ids
        assert client.get(f"/api/v1/customers/{theirs.pk}").status_code == 404
        assert client.get(f"/api/v1/customers/{theirs.pk}/profile").status_code == 404
        tech = api_client_for(world.tech_a1)
        assert tech.get(f"/api/v1/customers/{mine.pk}").json()["mobile"] == "138****5678"
        assert tech.post(f"/api/v1/customers/{mine.pk}/reveal-mobile").status_code == 403
        shown = client.post(f"/api/v1/customers/{mine.pk}/reveal-mobile").json()
        assert shown == {"mobile": "13812345678"}
        assert send_json(tech, "post", "/api/v1/customers", {"name": "x"}).status_code == 403

    def test_list_filters_and_search(self, world):
        vip = cf.customer(world.a1, name="王五", level="VIP")
        cf.customer(world.a1, name="赵六")
        t = cf.tag(world.org, "注重品质")
        vip.tags.add(t)
        client = api_client_for(world.advisor_a1)

        def names(params):
            return {r["name"] for r in client.get("/api/v1/customers", params).json()["items"]}

        assert names({"level": "VIP"}) == {"王五"}
        assert names({"tag_id": t.pk}) == {"王五"}
        assert names({"q": "zl"}) == {"赵六"}
        hits = client.get("/api/v1/search", {"q": "ww"}).json()["hits"]
        assert hits[0]["customer_name"] == "王五"

    def test_list_loads_field_definitions_once(self, world):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from autocrm.core import customfields

        customfields.create_field(world.hq, target="customer", key="film", label_zh="贴膜品牌")
        client = api_client_for(world.advisor_a1)

        def list_queries():
            with CaptureQueriesContext(connection) as ctx:
                response = client.get("/api/v1/customers")
            assert response.status_code == 200
            assert {c["custom"].get("film") for c in response.json()["items"]} == {"3M"}
            return len(ctx.captured_queries)

        cf.customer(world.a1, custom={"film": "3M"})
        list_queries()  # the first call also stamps the token's last use
        one = list_queries()
        for i in range(5):
            cf.customer(world.a1, name=f"客户{i}", custom={"film": "3M"})
        assert list_queries() == one

    def test_tags(self, world):
        client = api_client_for(world.advisor_a1)
        assert send_json(client, "post", "/api/v1/tags", {"name": "家有小孩"}).status_code == 201
        assert [t["name"] for t in client.get("/api/v1/tags").json()] == ["家有小孩"]

    def test_html_in_name_stored_as_text(self, world):
        client = api_client_for(world.advisor_a1)
        r = send_json(client, "post", "/api/v1/customers", {"name": "<b>张</b><script>x</script>"})
        assert r.status_code == 201
        assert Customer.objects.get(pk=r.json()["id"]).name == "<b>张</b><script>x</script>"


def test_plate_fragment_not_crowded_out_by_other_stores(world):
    """Hundreds of matching plates elsewhere must not hide the store's own vehicle."""
    other = cf.customer(world.a2)
    for i in range(230):
        cf.vehicle(other, plate=f"京B{i:03d}88")
    mine = cf.vehicle(cf.customer(world.a1), plate="京C99988")
    hits = selectors.search(world.advisor_a1, "88")
    assert [h.vehicle for h in hits] == [mine]


def test_vehicle_api_hides_custom_fields_the_reader_may_not_see(world):
    from autocrm.core.models import CustomField
    from tests import customer_factories as cf
    from tests.conftest import api_client_for

    CustomField.objects.create(
        org=world.org,
        target="vehicle",
        key="purchase_price",
        label_zh="购车价",
        visible_roles=["store_manager"],
    )
    CustomField.objects.create(org=world.org, target="vehicle", key="wrap", label_zh="车衣")
    car = cf.vehicle(cf.customer(world.a1), custom={"purchase_price": "180000", "wrap": "无"})
    advisor = api_client_for(world.advisor_a1)
    assert advisor.get(f"/api/v1/vehicles/{car.pk}").json()["custom"] == {"wrap": "无"}
    listed = advisor.get("/api/v1/vehicles").json()["items"]
    assert [v["custom"] for v in listed if v["id"] == car.pk] == [{"wrap": "无"}]
    profile = advisor.get(f"/api/v1/customers/{car.owner_id}/profile").json()
    assert profile["vehicles"][0]["custom"] == {"wrap": "无"}
    manager = api_client_for(world.manager_a1)
    assert manager.get(f"/api/v1/vehicles/{car.pk}").json()["custom"]["purchase_price"] == "180000"
