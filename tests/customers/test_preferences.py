"""Customer preferences: the service's checks (in Chinese, naming the field), the edit form, the
360° page and the API."""

from __future__ import annotations

import pytest
from django.utils import translation

from autocrm.core.errors import Invalid
from autocrm.customers import preferences
from autocrm.customers import services as cs
from autocrm.customers.models import Customer
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.conftest import api_client_for, client_for

GOOD = {
    "services": ["功放安装", "隔音"],
    "music_style": "古典",
    "budget_min": 3000,
    "budget_max": "8,000元",
    "brands": "JBL，哈曼卡顿、JBL",
}


class TestService:
    def test_create_stores_the_clean_shape(self, world):
        c = cs.create_customer(world.advisor_a1, name="张三", preferences=GOOD)
        c.refresh_from_db()
        assert c.preferences == {
            "services": ["功放安装", "隔音"],
            "music_style": "古典",
            "budget_min": 3000,
            "budget_max": 8000,
            "brands": ["JBL", "哈曼卡顿"],
        }

    def test_update_merges_and_keeps_messaging_contacts(self, world):
        c = cf.customer(world.a1, "张三")
        c.preferences = {"email": "zs@example.cn", "music_style": "摇滚", "budget_min": 100}
        c.save()
        cs.update_customer(world.advisor_a1, c, preferences={"music_style": "", "brands": ["JBL"]})
        c.refresh_from_db()
        assert c.preferences == {"email": "zs@example.cn", "budget_min": 100, "brands": ["JBL"]}

    @pytest.mark.parametrize(
        ("prefs", "field", "words"),
        [
            ({"budget_min": "三千"}, "preferences.budget_min", "预算下限"),
            ({"budget_min": -5}, "preferences.budget_min", "预算下限"),
            ({"budget_max": "12.5"}, "preferences.budget_max", "预算上限"),
            ({"budget_max": 10**9}, "preferences.budget_max", "预算上限"),
            ({"budget_min": 9000, "budget_max": 3000}, "preferences.budget_max", "预算上限"),
            ({"brands": ["x" * 41]}, "preferences.brands", "偏好品牌"),
            ({"services": [f"s{n}" for n in range(21)]}, "preferences.services", "偏好服务"),
            ({"services": 5}, "preferences.services", "偏好服务"),
            ({"music_style": "长" * 41}, "preferences.music_style", "音乐风格"),
            ({"colour": "red"}, "preferences", "偏好"),
        ],
    )
    def test_bad_input_is_refused_in_chinese_naming_the_field(self, world, prefs, field, words):
        c = cf.customer(world.a1, "张三")
        with translation.override("zh-hans"), pytest.raises(Invalid) as exc:
            cs.update_customer(world.advisor_a1, c, preferences=prefs)
        assert field in exc.value.fields
        assert words in str(exc.value.fields[field])
        c.refresh_from_db()
        assert c.preferences == {}

    def test_a_budget_range_keeps_the_stored_bound(self, world):
        c = cs.create_customer(world.advisor_a1, name="张三", preferences={"budget_min": 5000})
        with pytest.raises(Invalid) as exc:
            cs.update_customer(world.advisor_a1, c, preferences={"budget_max": 1000})
        assert "preferences.budget_max" in exc.value.fields

    def test_technician_may_not_edit(self, world):
        c = cf.customer(world.a1, "张三")
        with pytest.raises(Exception) as exc:
            cs.update_customer(world.tech_a1, c, preferences={"music_style": "爵士"})
        assert exc.type.__name__ == "Forbidden"

    def test_split_tags(self):
        assert preferences.split_tags(" JBL ,哈曼卡顿；; 丹拿\n JBL") == ["JBL", "哈曼卡顿", "丹拿"]
        assert preferences.split_tags(None) == []


def form_post(**overrides) -> dict:
    data = {"name": "张三", "kind": "person", "mobile": "13912345678", "gender": ""}
    data.update(overrides)
    return data


class TestPages:
    def test_form_offers_catalog_services_and_saves(self, world):
        sf.package(world.org, "功放升级")
        customer = cf.customer(world.a1, "张三", mobile="13912345678")
        client = client_for(world.advisor_a1)
        page = client.get(f"/customers/{customer.pk}/edit/")
        assert "功放升级" in dict(page.context["form"].fields["pref_services"].choices)
        response = client.post(
            f"/customers/{customer.pk}/edit/",
            form_post(
                pref_services=["功放升级"],
                pref_services_other="隔音，贴膜",
                pref_music_style="古典",
                pref_budget_min="3000",
                pref_budget_max="8000",
                pref_brands="JBL, 哈曼卡顿",
            ),
        )
        assert response.status_code == 302
        customer.refresh_from_db()
        assert customer.preferences == {
            "services": ["功放升级", "隔音", "贴膜"],
            "music_style": "古典",
            "budget_min": 3000,
            "budget_max": 8000,
            "brands": ["JBL", "哈曼卡顿"],
        }
        # the 360° page shows them; the form reads them back (catalog ticked, others as text)
        body = client.get(f"/customers/{customer.pk}/").content.decode()
        for text in ("功放升级", "贴膜", "古典", "¥3000 – ¥8000", "哈曼卡顿"):
            assert text in body
        form = client.get(f"/customers/{customer.pk}/edit/").context["form"]
        assert form.initial["pref_services"] == ["功放升级"]
        assert form.initial["pref_services_other"] == "隔音，贴膜"

    def test_bad_budget_lands_on_its_field_and_saves_nothing(self, world):
        customer = cf.customer(world.a1, "张三", mobile="13912345678")
        with translation.override("zh-hans"):
            response = client_for(world.advisor_a1).post(
                f"/customers/{customer.pk}/edit/",
                form_post(pref_budget_min="9000", pref_budget_max="abc", name="张三丰"),
            )
        errors = response.context["form"].errors
        assert response.status_code == 200
        assert "预算上限" in errors["pref_budget_max"][0]
        customer.refresh_from_db()
        assert customer.name == "张三" and customer.preferences == {}
        response = client_for(world.advisor_a1).post(
            f"/customers/{customer.pk}/edit/",
            form_post(pref_budget_min="9000", pref_budget_max="3000"),
        )
        assert set(response.context["form"].errors) == {"pref_budget_max"}

    def test_page_without_preferences_has_no_section(self, world):
        customer = cf.customer(world.a1, "张三")
        body = client_for(world.advisor_a1).get(f"/customers/{customer.pk}/").content.decode()
        assert 'data-testid="pref-budget"' not in body


class TestApi:
    def test_create_read_patch(self, world):
        client = api_client_for(world.advisor_a1)
        response = client.post(
            "/api/v1/customers",
            {"name": "张三", "mobile": "13912345678", "preferences": GOOD},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        data = response.json()
        assert data["preferences"]["budget_max"] == 8000
        assert data["preferences"]["brands"] == ["JBL", "哈曼卡顿"]
        customer = Customer.objects.get(pk=data["id"])
        customer.preferences = {**customer.preferences, "wechat_openid": "o-123"}
        customer.save()
        response = client.patch(
            f"/api/v1/customers/{customer.pk}",
            {"preferences": {"budget_min": 9000}},
            content_type="application/json",
        )
        assert response.status_code == 422
        assert "preferences.budget_max" in response.json()["fields"]
        response = client.patch(
            f"/api/v1/customers/{customer.pk}",
            {"preferences": {"music_style": "爵士"}},
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["preferences"]["music_style"] == "爵士"
        assert "wechat_openid" not in response.json()["preferences"]  # messaging's, not shown
        customer.refresh_from_db()
        assert customer.preferences["wechat_openid"] == "o-123"
