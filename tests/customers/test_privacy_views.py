"""Pages for consent, merge, erase and exports."""

from __future__ import annotations

import io
import json

from openpyxl import load_workbook

from autocrm.core.models import AuditLog
from tests import customer_factories as cf
from tests.conftest import client_for


def test_consent_form_records_and_refuses_without_how(world):
    c = cf.customer(world.a1)
    client = client_for(world.advisor_a1)
    client.post(f"/customers/{c.pk}/consent/", {"channel": "wechat", "given": "1", "how": "扫码"})
    c.refresh_from_db()
    assert c.consent_wechat and c.consent_wechat_how == "扫码"
    response = client.post(
        f"/customers/{c.pk}/consent/", {"channel": "sms", "given": "1"}, follow=True
    )
    c.refresh_from_db()
    assert not c.consent_sms and "alert-danger" in response.content.decode()


def test_merge_preview_then_confirm(world):
    keep = cf.customer(world.a1, name="张三", mobile="13900000001")
    drop = cf.customer(world.a1, name="张三(旧)", mobile="13900000002")
    cf.vehicle(drop, plate="京A77777")
    client = client_for(world.advisor_a1)
    page = client.get(f"/customers/{keep.pk}/merge/", {"q": "13900000002"})
    assert "京A77777" in page.content.decode() and page.context["preview"]
    assert client.get(f"/customers/{keep.pk}/merge/", {"q": "nobody"}).context["error"]
    response = client.post(f"/customers/{keep.pk}/merge/", {"q": "13900000002", "confirm": "1"})
    assert response.status_code == 302
    drop.refresh_from_db()
    assert drop.merged_into == keep
    assert client_for(world.tech_a1).get(f"/customers/{keep.pk}/merge/").status_code == 403


def test_erase_needs_confirmation_and_hq(world):
    c = cf.customer(world.a1, name="王小二", mobile="13900000003")
    hq = client_for(world.hq)
    page = hq.post(f"/customers/{c.pk}/erase/", {"reason": "本人申请"})
    assert page.status_code == 200 and page.context["error"]
    hq.post(f"/customers/{c.pk}/erase/", {"reason": "本人申请", "confirm": "1"})
    c.refresh_from_db()
    assert c.erased_at and c.mobile == ""
    assert client_for(world.manager_a1).get(f"/customers/{c.pk}/erase/").status_code == 403


def test_exports(world):
    c = cf.customer(world.a1, name="导出客户", mobile="13900000004", level="金卡")
    cf.customer(world.a1, name="普通客户")
    manager = client_for(world.manager_a1)
    data = json.loads(manager.get(f"/customers/{c.pk}/export/?format=json").content)
    assert data["name"] == "导出客户"
    xlsx = manager.get("/customers/export.xlsx", {"level": "金卡"})
    rows = list(load_workbook(io.BytesIO(xlsx.content)).worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["导出客户"]
    assert AuditLog.objects.filter(action="reveal").count() == 2
    assert client_for(world.advisor_a1).get("/customers/export.xlsx").status_code == 403


def test_custom_field_admin_and_fill(world):
    hq = client_for(world.hq)
    response = hq.post(
        "/settings/fields/new/",
        {
            "target": "customer",
            "key": "film",
            "label_zh": "贴膜品牌",
            "type": "choice",
            "choices": "3M\n龙膜",
            "order": 0,
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    advisor = client_for(world.advisor_a1)
    form = advisor.get("/customers/new/")
    assert "贴膜品牌" in form.content.decode()
    response = advisor.post(
        "/customers/new/", {"name": "甲", "kind": "person", "custom_film": "龙膜"}
    )
    assert response.status_code == 302
    detail = advisor.get(response["Location"]).content.decode()
    assert "贴膜品牌" in detail and "龙膜" in detail
    bad = advisor.post("/customers/new/", {"name": "乙", "kind": "person", "custom_film": "别的"})
    assert bad.status_code == 200 and "custom_film" in bad.context["form"].errors
    assert client_for(world.manager_a1).get("/settings/fields/").status_code == 403


def test_transfer_page(world):
    old = cf.customer(world.a1, name="老车主", mobile="13900000010")
    new = cf.customer(world.a1, name="新车主", mobile="13900000011")
    v = cf.vehicle(old, plate="京A66666")
    client = client_for(world.advisor_a1)
    assert client.post(f"/vehicles/{v.pk}/transfer/", {"q": "nobody"}).context["error"]
    response = client.post(f"/vehicles/{v.pk}/transfer/", {"q": "13900000011"})
    assert response.status_code == 302
    v.refresh_from_db()
    assert v.owner == new
    assert "京A66666" in client.get(f"/customers/{old.pk}/").content.decode()  # past vehicles
    assert client_for(world.tech_a1).get(f"/vehicles/{v.pk}/transfer/").status_code == 403
