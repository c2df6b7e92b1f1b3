"""The rule builder pages: the list with its switches, building and changing a rule without
code, the dry run and the firing log; HQ administrators only; refusals shown on the form."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.automation.models import Rule
from autocrm.messaging.models import MessageTemplate
from tests import customer_factories as cf
from tests.automation.rule_helpers import insurance_rule
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def form_data(**kw) -> dict:
    """The builder's form as a person fills it: insurance expiring within 30 days, VIP."""
    data = {
        "name": "VIP续保提醒",
        "description": "",
        "entity": "vehicle",
        "scope": "org",
        "trigger_kind": "time",
        "trigger_type": "date",
        "trigger_field": "vehicle.insurance_expires_on",
        "trigger_offset_days": "20",
        "trigger_direction": "before",
        "at": "00:00",
        "catch_up_days": "3",
        "match": "all",
        "cond_field": ["vehicle.insurance_expires_on", "customer.level"],
        "cond_op": ["days_until", "eq"],
        "cond_cmp": ["lte", "lte"],
        "cond_value": ["30", "VIP"],
        "action_count": "1",
        "act-0-type": "task",
        "act-0-title": "续保跟进：{plate}",
        "act-0-kind": "renewal",
        "act-0-who": "role",
        "act-0-role": "service_advisor",
        "act-0-due_hours": "48",
    }
    data.update(kw)
    return data


@pytest.fixture
def vip_car(world):
    owner = cf.customer(world.a1, name="张伟", level="VIP")
    return cf.vehicle(
        owner,
        plate="京A20000",
        insurance_expires_on=timezone.localdate() + datetime.timedelta(days=20),
    )


class TestPages:
    def test_list_shows_rules_with_their_state(self, world):
        rule = insurance_rule(world, name="续保跟进")
        Rule.objects.filter(pk=rule.pk).update(state="disabled", disabled_reason="字段已删除")
        page = client_for(world.hq).get("/rules/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "续保跟进" in html and "保险到期前30天" in html
        assert "字段已删除" in html and 'data-state="disabled"' in html
        assert 'href="/rules/"' in client_for(world.hq).get("/").content.decode()

    def test_new_rule_is_built_from_rows(self, world):
        client = client_for(world.hq)
        assert client.get("/rules/new/").status_code == 200
        answer = client.post("/rules/new/", form_data())
        assert answer.status_code == 302, answer.content.decode()[:3000]
        rule = Rule.objects.get(name="VIP续保提醒")
        assert answer.url == f"/rules/{rule.pk}/"
        assert rule.trigger == {
            "type": "date",
            "field": "vehicle.insurance_expires_on",
            "offset_days": -20,
        }
        assert rule.condition == {
            "all": [
                {
                    "field": "vehicle.insurance_expires_on",
                    "op": "days_until",
                    "value": 30,
                    "cmp": "lte",
                },
                {"field": "customer.level", "op": "eq", "value": "VIP"},
            ]
        }
        assert rule.actions[0]["role"] == "service_advisor"
        assert rule.actions[0]["due_hours"] == 48
        assert rule.state == "off" and rule.at == datetime.time(0, 0)
        page = client.get(f"/rules/{rule.pk}/").content.decode()
        assert 'value="VIP"' in page and "续保跟进：{plate}" in page

    def test_add_and_remove_rows_re_show_the_form(self, world):
        client = client_for(world.hq)
        page = client.post("/rules/new/", form_data(add_row="1"))
        assert page.status_code == 200
        assert page.content.decode().count('data-testid="cond-row"') == 3
        page = client.post("/rules/new/", form_data(add_action="message"))
        assert page.content.decode().count('data-testid="action-block"') == 2
        page = client.post("/rules/new/", form_data(remove_row="0"))
        assert page.content.decode().count('data-testid="cond-row"') == 1
        assert not Rule.objects.exists()

    def test_bad_input_is_shown_again_with_chinese_errors(self, world):
        client = client_for(world.hq)
        page = client.post(
            "/rules/new/",
            form_data(name="", cond_value=["abc", "VIP"], **{"act-0-title": "跟进"}),
        )
        assert page.status_code == 400
        html = page.content.decode()
        assert "请给规则起个名字" in html or 'data-testid="error-name"' in html
        assert 'value="abc"' in html and 'value="跟进"' in html
        page = client.post("/rules/new/", form_data(cond_value=["abc", "VIP"]))
        html = page.content.decode()
        assert page.status_code == 400 and 'data-testid="error-condition"' in html
        assert "保险到期" in html  # the message names the field in Chinese
        page = client.post("/rules/new/", form_data(action_count="0"))
        assert 'data-testid="error-actions"' in page.content.decode()
        assert not Rule.objects.exists()

    def test_edit_keeps_the_rule_and_refuses_a_stale_version(self, world):
        rule = insurance_rule(world, name="续保跟进")
        client = client_for(world.hq)
        answer = client.post(
            f"/rules/{rule.pk}/", form_data(name="续保跟进2", version=str(rule.version))
        )
        assert answer.status_code == 302
        rule.refresh_from_db()
        assert rule.name == "续保跟进2" and rule.trigger["offset_days"] == -20
        stale = client.post(f"/rules/{rule.pk}/", form_data(name="旧的", version="1"))
        assert stale.status_code == 400 and 'data-testid="form-error"' in stale.content.decode()

    def test_switch_on_and_off(self, world):
        rule = insurance_rule(world, enabled=False)
        client = client_for(world.hq)
        row = client.post(f"/rules/{rule.pk}/switch/", HTTP_HX_REQUEST="true")
        assert row.status_code == 200 and 'data-state="active"' in row.content.decode()
        rule.refresh_from_db()
        assert rule.state == "active"
        answer = client.post(f"/rules/{rule.pk}/switch/")
        assert answer.status_code == 302
        rule.refresh_from_db()
        assert rule.state == "off"

    def test_preview_and_firing_log(self, world, vip_car):
        template = MessageTemplate.objects.create(
            org=world.org,
            name="续保短信",
            purpose="rule.test",
            body="{customer_name}您好，{plate}保险快到期了",
        )
        client = client_for(world.hq)
        data = form_data(
            action_count="2", **{"act-1-type": "message", "act-1-template": str(template.pk)}
        )
        assert client.post("/rules/new/", data).status_code == 302
        rule = Rule.objects.get()
        part = client.get(f"/rules/{rule.pk}/preview/", HTTP_HX_REQUEST="true")
        html = part.content.decode()
        assert part.status_code == 200 and "京A20000" in html
        assert 'data-testid="preview-count"' in html and "1" in html
        assert "张伟您好，京A20000保险快到期了" in html
        page = client.get(f"/rules/{rule.pk}/preview/")
        assert page.status_code == 302 and page.url.endswith("?preview=1")
        full = client.get(page.url).content.decode()
        assert "京A20000" in full and 'data-testid="firing-log"' in full


class TestAccess:
    def test_store_manager_and_advisor_are_refused(self, world):
        rule = insurance_rule(world)
        for user in (world.manager_a1, world.advisor_a1, world.region_mgr):
            client = client_for(user)
            for url in (
                "/rules/",
                "/rules/new/",
                f"/rules/{rule.pk}/",
                f"/rules/{rule.pk}/preview/",
            ):
                assert client.get(url).status_code == 403, (user, url)
            assert client.post(f"/rules/{rule.pk}/switch/").status_code == 403

    def test_other_org_rule_is_not_found(self, world):
        rule = insurance_rule(world)
        assert client_for(world.other_admin).get(f"/rules/{rule.pk}/").status_code == 404
