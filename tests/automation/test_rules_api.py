"""Rule services and the API: HQ-only writes, definitions checked with Chinese messages,
switching on and off, preview (a dry run that writes nothing) and the firing log."""

from __future__ import annotations

import datetime

import pytest

from autocrm.automation import rules
from autocrm.automation.models import Rule, RuleFiring, Task
from autocrm.core.errors import Conflict, Forbidden, Invalid
from autocrm.core.models import AuditLog
from autocrm.messaging.models import MessageTemplate, OutboxMessage
from tests import customer_factories as cf
from tests.automation.rule_helpers import at, insurance_rule, task_action
from tests.conftest import api_client_for, send_json

pytestmark = pytest.mark.django_db

RULE = {
    "name": "续保跟进",
    "entity": "vehicle",
    "trigger": {"type": "date", "field": "vehicle.insurance_expires_on", "offset_days": -30},
    "condition": {"field": "vehicle.brand", "op": "in", "value": ["宝马", "奔驰"]},
    "actions": [task_action("续保：{plate}")],
}


class TestServices:
    def test_only_hq_admins_manage_rules(self, world):
        for user in (world.manager_a1, world.region_mgr, world.advisor_a1):
            with pytest.raises(Forbidden):
                rules.create_rule(user, **RULE)
        rule = rules.create_rule(world.hq, **RULE)
        assert rule.state == "off" and rule.owner_id == world.hq.pk and rule.kind == "time"
        with pytest.raises(Forbidden):
            rules.enable_rule(world.manager_a1, rule)
        entry = AuditLog.objects.get(object_type="automation.Rule", object_id=str(rule.pk))
        assert entry.action == "create" and entry.user_label == "hq"

    def test_refusals_name_the_problem_in_chinese(self, world):
        cases = {
            "condition": {**RULE, "condition": {"field": "vehicle.wheels", "op": "eq", "value": 4}},
            "trigger": {**RULE, "trigger": {"type": "date", "field": "vehicle.brand"}},
            "actions": {**RULE, "actions": [{"type": "fax"}]},
            "name": {**RULE, "name": " "},
            "entity": {**RULE, "entity": "invoice"},
        }
        for field, data in cases.items():
            with pytest.raises(Invalid) as caught:
                rules.create_rule(world.hq, **data)
            message = str(caught.value.fields[field])
            assert any("\u4e00" <= ch <= "\u9fff" for ch in message), (field, message)
        with pytest.raises(Invalid) as caught:
            rules.create_rule(
                world.hq,
                **{**RULE, "condition": {"field": "vehicle.brand", "op": "gt", "value": "A"}},
            )
        assert "品牌" in str(caught.value.message)

    def test_scope_must_be_of_the_org(self, world):
        with pytest.raises(Invalid):
            rules.create_rule(world.hq, **RULE, scope="stores", store_ids=[world.b1.pk])
        with pytest.raises(Invalid):
            rules.create_rule(world.hq, **RULE, scope="region", region_id=None)
        rule = rules.create_rule(world.hq, **RULE, scope="stores", store_ids=[world.a1.pk])
        assert list(rule.stores.all()) == [world.a1]

    def test_switch_on_off_and_update(self, world):
        rule = rules.create_rule(world.hq, **RULE)
        rule = rules.enable_rule(world.hq, rule)
        assert rule.state == "active" and rule.activated_at is not None
        rule = rules.update_rule(world.hq, rule, name="豪华品牌续保跟进", version=rule.version)
        assert rule.name == "豪华品牌续保跟进" and rule.state == "active"
        with pytest.raises(Conflict):
            rules.update_rule(world.hq, rule, name="旧版本", version=1)
        rule = rules.disable_rule(world.hq, rule)
        assert rule.state == "off"
        rules.delete_rule(world.hq, rule)
        assert not Rule.objects.exists()

    def test_fixing_a_disabled_rule_leaves_it_off_until_switched_on(self, world):
        rule = rules.create_rule(world.hq, **RULE, enabled=True)
        rules.disable_with_reason(rule, "字段已删除")
        rule.refresh_from_db()
        assert (rule.state, rule.disabled_reason) == ("disabled", "字段已删除")
        rule = rules.update_rule(world.hq, rule, condition={})
        assert (rule.state, rule.disabled_reason) == ("off", "")

    def test_other_orgs_rules_are_invisible(self, world):
        rule = rules.create_rule(world.hq, **RULE)
        assert not rules.rules(world.other_admin).exists()
        with pytest.raises(Exception) as caught:
            rules.update_rule(world.other_admin, rule, name="偷改")
        assert getattr(caught.value, "status", None) == 404


class TestApi:
    def test_create_list_get_patch(self, world):
        client = api_client_for(world.hq)
        response = send_json(client, "post", "/api/v1/rules", {**RULE, "enabled": True})
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["enabled"] and body["state"] == "active" and body["kind"] == "time"
        listed = client.get("/api/v1/rules").json()
        assert [r["id"] for r in listed["items"]] == [body["id"]]
        response = send_json(
            client, "patch", f"/api/v1/rules/{body['id']}", {"enabled": False, "at": "08:30"}
        )
        assert response.status_code == 200
        assert response.json()["state"] == "off" and response.json()["at"] == "08:30:00"
        assert client.get(f"/api/v1/rules/{body['id']}").json()["version"] == 2

    def test_refusals(self, world):
        hq = api_client_for(world.hq)
        bad = {**RULE, "condition": {"any": "宝马"}}
        response = send_json(hq, "post", "/api/v1/rules", bad)
        assert response.status_code == 422
        assert response.json()["code"] == "invalid" and response.json()["fields"]["condition"]
        response = hq.post("/api/v1/rules", data="{not json", content_type="application/json")
        assert response.status_code == 400
        manager = api_client_for(world.manager_a1)
        assert send_json(manager, "post", "/api/v1/rules", RULE).status_code == 403
        assert manager.get("/api/v1/rules").status_code == 403

    def test_webhook_secret_never_shown(self, world):
        client = api_client_for(world.hq)
        action = {"type": "webhook", "url": "https://partner.example.cn/hook", "secret": "s" * 24}
        body = send_json(client, "post", "/api/v1/rules", {**RULE, "actions": [action]}).json()
        assert body["actions"][0]["secret"] == "******"

    def test_catalog_for_the_builder(self, world):
        body = api_client_for(world.hq).get("/api/v1/rules/catalog/vehicle").json()
        fields = {f["field"]: f for f in body["fields"]}
        assert fields["vehicle.insurance_expires_on"]["label"] == "保险到期"
        assert fields["customer.spend_12m"]["namespace_label"] == "客户"
        assert {t["type"] for t in body["triggers"]} >= {"date", "anniversary", "created"}
        assert "payment_made" not in {t["type"] for t in body["triggers"]}
        assert {a["type"] for a in body["actions"]} == {
            "message",
            "task",
            "set_field",
            "tag",
            "webhook",
        }

    def test_preview_writes_nothing(self, world):
        template = MessageTemplate.objects.create(
            org=world.org,
            name="续保",
            purpose="rule.ins",
            kind="reminder",
            body="{customer_name}您好，{plate}的保险{due_date}到期",
        )
        owner = cf.customer(world.a1, "张三")
        for n in range(3):
            cf.vehicle(
                owner, f"京A0000{n}", brand="宝马", insurance_expires_on=datetime.date(2026, 12, 31)
            )
        cf.vehicle(owner, brand="大众", insurance_expires_on=datetime.date(2026, 12, 31))
        rule = insurance_rule(
            world,
            activated="2026-11-30",
            condition=RULE["condition"],
            actions=[{"type": "message", "template": template.pk}, task_action()],
        )
        client = api_client_for(world.hq)
        response = send_json(
            client, "post", f"/api/v1/rules/{rule.pk}/preview", {"now": "2026-12-01T10:00"}
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == 3 and len(body["records"]) == 3
        assert body["records"][0]["occurrence"] == "2026-12-31"
        assert "张三您好，京A0000" in body["sample_message"]
        assert "2026-12-31到期" in body["sample_message"]
        assert not RuleFiring.objects.exists() and not Task.objects.exists()
        assert not OutboxMessage.objects.exists()

    def test_preview_of_an_event_rule(self, world):
        rule = rules.create_rule(
            world.hq,
            name="升级",
            entity="customer",
            trigger={"type": "field_changed", "field": "customer.level"},
            condition={
                "all": [
                    {"field": "customer.level", "op": "changed"},
                    {"field": "customer.level", "op": "eq", "value": "VIP"},
                ]
            },
            actions=[task_action()],
        )
        cf.customer(world.a1, level="VIP")
        cf.customer(world.a1, level="")
        body = send_json(
            api_client_for(world.hq), "post", f"/api/v1/rules/{rule.pk}/preview"
        ).json()
        assert body["count"] == 1 and body["note"]

    def test_firings_log(self, world):
        from autocrm.automation import scan

        owner = cf.customer(world.a1, "张三")
        car = cf.vehicle(owner, brand="宝马", insurance_expires_on=datetime.date(2026, 12, 31))
        rule = insurance_rule(world, activated="2026-11-30", condition=RULE["condition"])
        scan.run_time_rules(at("2026-12-01", 10))
        body = api_client_for(world.hq).get(f"/api/v1/rules/{rule.pk}/firings").json()
        [firing] = body["items"]
        assert firing["record_id"] == car.pk and firing["status"] == "done"
        assert firing["label"] == car.plate and firing["results"][0]["type"] == "task"
        assert (
            api_client_for(world.other_admin).get(f"/api/v1/rules/{rule.pk}/firings").status_code
            == 404
        )

    def test_delete(self, world):
        rule = rules.create_rule(world.hq, **RULE)
        client = api_client_for(world.hq)
        assert client.delete(f"/api/v1/rules/{rule.pk}").status_code == 204
        assert client.get(f"/api/v1/rules/{rule.pk}").status_code == 404


def test_documented_in_openapi(world):
    from django.test import Client

    paths = Client().get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/rules",
        "/api/v1/rules/{rule_id}/preview",
        "/api/v1/rules/{rule_id}/firings",
    ):
        assert path in paths
