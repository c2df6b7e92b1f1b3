"""The form engine: definitions, validation of values, roles, and stored values surviving edits."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from autocrm.core import customfields
from autocrm.core import services as core_services
from autocrm.core.errors import Conflict, Forbidden, Invalid
from autocrm.core.models import AuditLog, CustomField
from autocrm.customers import selectors
from autocrm.customers import services as cs
from tests import customer_factories as cf


def make(world, **kw):
    data = {"target": "customer", "key": "film_brand", "label_zh": "贴膜品牌", "type": "text"}
    data.update(kw)
    return customfields.create_field(world.hq, **data)


class TestDefinitions:
    def test_only_hq_defines(self, world):
        with pytest.raises(Forbidden):
            customfields.create_field(world.manager_a1, target="customer", key="x", label_zh="x")

    @pytest.mark.parametrize(
        ("kw", "field"),
        [
            ({"key": "Bad Key"}, "key"),
            ({"key": "1abc"}, "key"),
            ({"target": "invoice"}, "target"),
            ({"label_zh": " "}, "label_zh"),
            ({"type": "choice", "choices": []}, "choices"),
            ({"regex": "(["}, "regex"),
            ({"visible_roles": ["pilot"]}, "visible_roles"),
        ],
    )
    def test_bad_definitions(self, world, kw, field):
        with pytest.raises(Invalid) as exc:
            make(world, **kw)
        assert field in exc.value.fields

    def test_duplicate_key(self, world):
        make(world)
        with pytest.raises(Conflict):
            make(world)
        make(world, target="vehicle")  # same key on another target is fine

    def test_rename_and_add_choices_keep_values(self, world):
        field = make(
            world, key="budget", label_zh="音响预算", type="choice", choices=["5千以下", "1万左右"]
        )
        c = cs.create_customer(world.advisor_a1, name="甲", custom={"budget": "1万左右"})
        customfields.update_field(
            world.hq, field, label_zh="改装预算", choices="5千以下\n1万左右\n3万以上"
        )
        c.refresh_from_db()
        assert c.custom == {"budget": "1万左右"}
        assert CustomField.objects.get(pk=field.pk).label_zh == "改装预算"
        with pytest.raises(Invalid) as exc:
            customfields.update_field(world.hq, field, choices=["3万以上"])
        assert "choices" in exc.value.fields
        with pytest.raises(Invalid):
            customfields.update_field(world.hq, field, type="text")

    def test_delete_needs_confirmation_is_audited_and_keeps_values(self, world):
        field = make(world)
        c = cs.create_customer(world.advisor_a1, name="甲", custom={"film_brand": "3M"})
        with pytest.raises(Invalid):
            customfields.delete_field(world.hq, field, confirm=False)
        customfields.delete_field(world.hq, field, confirm=True)
        assert AuditLog.objects.filter(object_type="core.CustomField", action="delete").exists()
        c.refresh_from_db()
        assert c.custom == {"film_brand": "3M"}
        make(world)  # re-created: the value shows again
        assert selectors.get_customer(world.advisor_a1, c.pk).custom["film_brand"] == "3M"


class TestValues:
    @pytest.mark.parametrize(
        ("kw", "raw", "stored"),
        [
            ({"type": "integer", "min_value": 0, "max_value": 100}, "42", 42),
            ({"type": "decimal"}, "1,234.50", "1234.50"),
            ({"type": "date"}, "2026-03-05", "2026-03-05"),
            ({"type": "boolean"}, "是", True),
            ({"type": "choice", "choices": ["A", "B"]}, "B", "B"),
            ({"type": "multi_choice", "choices": ["A", "B", "C"]}, ["A", "C"], ["A", "C"]),
            ({"type": "url"}, "https://example.com/a", "https://example.com/a"),
            ({"type": "text", "regex": r"[A-Z]{2}\d{4}"}, "AB1234", "AB1234"),
        ],
    )
    def test_each_type_stored(self, world, kw, raw, stored):
        make(world, **kw)
        c = cs.create_customer(world.advisor_a1, name="甲", custom={"film_brand": raw})
        assert c.custom["film_brand"] == stored

    @pytest.mark.parametrize(
        ("kw", "raw"),
        [
            ({"type": "integer", "max_value": 100}, "101"),
            ({"type": "integer"}, "1.5"),
            ({"type": "decimal"}, "abc"),
            ({"type": "date"}, "next week"),
            ({"type": "boolean"}, "maybe"),
            ({"type": "choice", "choices": ["A"]}, "Z"),
            ({"type": "url"}, "not a url"),
            ({"type": "text", "regex": r"\d+"}, "abc"),
        ],
    )
    def test_bad_values_name_the_field(self, world, kw, raw):
        make(world, **kw)
        with pytest.raises(Invalid) as exc:
            cs.create_customer(world.advisor_a1, name="甲", custom={"film_brand": raw})
        assert "custom.film_brand" in exc.value.fields

    def test_required_and_unknown(self, world):
        make(world, required=True)
        with pytest.raises(Invalid) as exc:
            cs.create_customer(world.advisor_a1, name="甲")
        assert "custom.film_brand" in exc.value.fields
        with pytest.raises(Invalid) as exc:
            cs.create_customer(world.advisor_a1, name="甲", custom={"film_brand": "x", "z": 1})
        assert "custom.z" in exc.value.fields

    def test_roles_see_and_edit(self, world):
        make(
            world,
            key="secret",
            label_zh="内部评级",
            visible_roles=["store_manager"],
            editable_roles=["store_manager"],
        )
        c = cs.create_customer(world.manager_a1, name="甲", custom={"secret": "A"})
        with pytest.raises(Invalid):
            cs.update_customer(world.advisor_a1, c, custom={"secret": "B"})
        cs.update_customer(world.advisor_a1, c, name="乙")  # other edits keep the value
        c.refresh_from_db()
        assert c.custom == {"secret": "A"}
        assert customfields.display(world.advisor_a1, "customer", c.custom) == []
        assert customfields.display(world.manager_a1, "customer", c.custom) == [
            ("", "内部评级", "A")
        ]

    def test_vehicle_fields(self, world):
        customfields.create_field(
            world.hq, target="vehicle", key="tint", label_zh="膜", type="text"
        )
        owner = cf.customer(world.a1)
        v = cs.create_vehicle(
            world.advisor_a1, owner_id=owner.pk, plate="京A11111", custom={"tint": "龙膜"}
        )
        assert v.custom == {"tint": "龙膜"}

    def test_list_filter_by_custom_value(self, world):
        make(world)
        cs.create_customer(world.advisor_a1, name="甲", custom={"film_brand": "3M"})
        cs.create_customer(world.advisor_a1, name="乙", custom={"film_brand": "龙膜"})
        qs = selectors.customer_list(
            world.advisor_a1, selectors.CustomerFilter(custom={"film_brand": "3M"})
        )
        assert [c.name for c in qs] == ["甲"]


def test_api(world):
    hq = Client(
        headers={"Authorization": f"Bearer {core_services.create_api_token(world.hq, 't')[1]}"}
    )
    body = {
        "target": "customer",
        "key": "music",
        "label_zh": "音乐风格",
        "type": "choice",
        "choices": ["流行", "古典"],
    }
    r = hq.post("/api/v1/custom-fields", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 201, r.content
    fid = r.json()["id"]
    advisor = Client(
        headers={
            "Authorization": f"Bearer {core_services.create_api_token(world.advisor_a1, 't')[1]}"
        }
    )
    r = advisor.post(
        "/api/v1/customers",
        data=json.dumps({"name": "甲", "custom": {"music": "古典"}}),
        content_type="application/json",
    )
    assert r.status_code == 201 and r.json()["custom"] == {"music": "古典"}
    r = advisor.post(
        "/api/v1/customers",
        data=json.dumps({"name": "乙", "custom": {"music": "摇滚"}}),
        content_type="application/json",
    )
    assert r.status_code == 422 and "custom.music" in r.json()["fields"]
    assert (
        advisor.post(
            "/api/v1/custom-fields", data=json.dumps(body), content_type="application/json"
        ).status_code
        == 403
    )
    assert hq.delete(f"/api/v1/custom-fields/{fid}").status_code == 422
    assert hq.delete(f"/api/v1/custom-fields/{fid}?confirm=true").status_code == 204
