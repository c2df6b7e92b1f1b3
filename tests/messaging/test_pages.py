"""Outbox and template pages and the messages API, with their refusals (wrong role, other
store, other org, bad input)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from autocrm.messaging.models import MessageAttempt, MessageTemplate, OutboxMessage
from tests import factories as f
from tests.conftest import api_client_for, client_for, send_json

pytestmark = pytest.mark.django_db
S = OutboxMessage.Status


@pytest.fixture
def marketer(world):
    return f.staff(world.org, "marketing", scope="org", username="mkt")


def message(world, store=None, **kw):
    store = store or world.a1
    values = dict(
        org=store.org,
        store=store,
        to="13912345678",
        channel="sms",
        purpose="work_order.ready",
        body="【北京朝阳店】您的爱车已完工。",
    )
    values.update(kw)
    return OutboxMessage.objects.create(**values)


@pytest.fixture
def failed(world):
    m = message(
        world, status=S.FAILED, attempts=5, last_error="HTTP 500: 网关忙", provider="aliyun"
    )
    MessageAttempt.objects.create(message=m, provider="aliyun", error="HTTP 500: 网关忙")
    return m


# --- outbox pages -------------------------------------------------------------------------


def test_outbox_lists_own_stores_messages(world):
    mine = message(world)
    message(world, store=world.a2, to="13700000002")
    message(world, store=world.b1, to="13700000003")
    body = client_for(world.manager_a1).get("/messages/").content.decode()
    assert f'data-message-id="{mine.pk}"' in body and "13912345678" in body
    assert "13700000002" not in body and "13700000003" not in body
    assert "短信：未配置服务商，1 条消息等待手工发送。" in body
    hq = client_for(world.hq).get("/messages/").content.decode()
    assert "13700000002" in hq and "13700000003" not in hq


def test_outbox_page_and_api_query_count_does_not_grow_with_rows(world):
    """Store, customer and sender come with the rows: no query per message."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests import customer_factories as cf

    def count(path, client):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    def add(n):
        for _i in range(n):
            message(world, customer=cf.customer(world.a1), sent_by=world.manager_a1)

    web, api = client_for(world.hq), api_client_for(world.hq)
    add(2)
    count("/messages/", web), count("/api/v1/messages", api)  # sessions, caches warmed
    few = count("/messages/", web), count("/api/v1/messages", api)
    add(8)
    assert (count("/messages/", web), count("/api/v1/messages", api)) == few


def test_outbox_masks_numbers_without_customer_phone(world, marketer):
    message(world)
    body = client_for(marketer).get("/messages/").content.decode()
    assert "139****5678" in body and "13912345678" not in body


def test_outbox_filters(world):
    sent = message(world, status=S.SENT, purpose="survey", to="13800000001")
    message(world, channel="wechat", to="o-openid-1")
    client = client_for(world.manager_a1)
    body = client.get("/messages/?status=sent").content.decode()
    assert f'data-message-id="{sent.pk}"' in body and "o-openid-1" not in body
    body = client.get("/messages/?channel=wechat").content.decode()
    assert "o-openid-1" in body and "13800000001" not in body
    body = client.get("/messages/?purpose=survey").content.decode()
    assert "13800000001" in body and "o-openid-1" not in body


def test_outbox_refusals(world):
    assert client_for(world.tech_a1).get("/messages/").status_code == 403
    m = message(world)
    assert client_for(world.manager_a2).get(f"/messages/{m.pk}/").status_code == 404
    assert client_for(world.other_admin).get(f"/messages/{m.pk}/").status_code == 404


def test_detail_shows_attempts_and_error(world, failed):
    body = client_for(world.manager_a1).get(f"/messages/{failed.pk}/").content.decode()
    assert "发送失败" in body and "HTTP 500: 网关忙" in body
    assert 'data-testid="attempt-row"' in body and 'data-testid="resend"' in body


def test_send_by_hand_records_who_and_when(world):
    m = message(world)
    client = client_for(world.manager_a1)
    r = client.post(f"/messages/{m.pk}/sent-by-hand/", {"note": "门店手机发送"}, follow=True)
    assert "已标记为手工发送" in r.content.decode()
    m.refresh_from_db()
    assert m.status == S.SENT and m.sent_by == world.manager_a1 and m.provider == "manual"
    assert m.sent_at is not None
    assert MessageAttempt.objects.get(message=m).error == "门店手机发送"
    again = client.post(f"/messages/{m.pk}/sent-by-hand/", follow=True).content.decode()
    assert "只有排队中或发送失败的消息可以手工发送" in again


def test_send_by_hand_needs_the_full_number(world, marketer):
    m = message(world)
    client = client_for(marketer)
    assert 'data-testid="send-by-hand"' not in client.get(f"/messages/{m.pk}/").content.decode()
    r = client.post(f"/messages/{m.pk}/sent-by-hand/", follow=True)
    assert "手工发送需要完整手机号" in r.content.decode()
    m.refresh_from_db()
    assert m.status == S.QUEUED


def test_send_by_hand_refused_for_wrong_role_and_other_store(world):
    m = message(world)
    assert client_for(world.tech_a1).post(f"/messages/{m.pk}/sent-by-hand/").status_code == 403
    assert client_for(world.manager_a2).post(f"/messages/{m.pk}/sent-by-hand/").status_code == 404
    m.refresh_from_db()
    assert m.status == S.QUEUED


def test_resend_and_cancel(world, failed):
    client = client_for(world.manager_a1)
    r = client.post(f"/messages/{failed.pk}/resend/", follow=True)
    assert "已重新加入发送队列" in r.content.decode()
    failed.refresh_from_db()
    assert failed.status == S.QUEUED and failed.attempts == 0
    client.post(f"/messages/{failed.pk}/cancel/")
    failed.refresh_from_db()
    assert failed.status == S.CANCELLED
    r = client.post(f"/messages/{failed.pk}/resend/", follow=True)
    assert "只有发送失败的消息可以重发" in r.content.decode()


def test_message_being_sent_cannot_be_touched(world):
    m = message(world, claim_token="run", claimed_until=timezone.now() + timezone.timedelta(60))
    r = client_for(world.manager_a1).post(f"/messages/{m.pk}/cancel/", follow=True)
    assert "正在发送" in r.content.decode()


# --- template pages -----------------------------------------------------------------------


FORM = {
    "name": "冬季保养",
    "channel": "sms",
    "kind": "marketing",
    "purpose": "winter_promo",
    "body": "{customer_name}您好，冬季保养8折。",
    "is_active": "on",
}


def test_marketer_creates_a_template_through_the_form(world, marketer):
    client = client_for(marketer)
    assert client.get("/messages/templates/new/").status_code == 200
    r = client.post("/messages/templates/new/", FORM, follow=True)
    assert "模板 冬季保养 已保存" in r.content.decode()
    template = MessageTemplate.objects.get(name="冬季保养")
    assert template.org == world.org and template.kind == "marketing"
    listing = client.get("/messages/templates/").content.decode()
    assert "冬季保养" in listing and "1 条" in listing


def test_form_shows_the_placeholder_refusal(world, marketer):
    r = client_for(marketer).post("/messages/templates/new/", {**FORM, "body": "{姓名}您好"})
    body = r.content.decode()
    assert r.status_code == 200 and "未知的占位符 {姓名}" in body
    assert not MessageTemplate.objects.exists()


def test_preview_fragment_counts_the_sms(world, marketer):
    r = client_for(marketer).post(
        "/messages/templates/preview/", {**FORM, "body": "好" * 80}, headers={"HX-Request": "true"}
    )
    body = r.content.decode()
    assert "<html" not in body and "【北京朝阳店】" in body and "回TD退订" in body
    assert "92 字 · 按 2 条短信计费" in body


def test_template_pages_refusals(world, marketer):
    template = MessageTemplate.objects.create(org=world.org, name="t", purpose="p", body="您好")
    other = MessageTemplate.objects.create(org=world.other_org, name="t", purpose="p", body="x")
    assert client_for(world.manager_a1).get("/messages/templates/new/").status_code == 403
    assert client_for(world.tech_a1).get("/messages/templates/").status_code == 403
    assert client_for(marketer).get(f"/messages/templates/{other.pk}/").status_code == 404
    assert client_for(marketer).get(f"/messages/templates/{template.pk}/").status_code == 200


# --- API ----------------------------------------------------------------------------------


def test_api_lists_messages_scoped_and_masked(world, marketer):
    mine = message(world)
    message(world, store=world.a2, to="13700000002")
    data = api_client_for(world.manager_a1).get("/api/v1/messages").json()
    assert [m["id"] for m in data["items"]] == [mine.pk]
    assert data["items"][0]["to"] == "13912345678" and data["items"][0]["status"] == "queued"
    masked = api_client_for(marketer).get(f"/api/v1/messages?store_id={world.a1.pk}").json()
    assert masked["items"][0]["to"] == "139****5678"
    filtered = api_client_for(world.hq).get("/api/v1/messages?status=sent").json()
    assert filtered["items"] == []
    assert api_client_for(world.tech_a1).get("/api/v1/messages").status_code == 403


def test_api_message_detail_and_resend(world, failed):
    client = api_client_for(world.manager_a1)
    detail = client.get(f"/api/v1/messages/{failed.pk}").json()
    assert detail["last_error"] == "HTTP 500: 网关忙" and len(detail["tries"]) == 1
    r = client.post(f"/api/v1/messages/{failed.pk}/resend")
    assert r.status_code == 200 and r.json()["status"] == "queued"
    again = client.post(f"/api/v1/messages/{failed.pk}/resend")
    assert again.status_code == 409 and again.json()["code"] == "conflict"


def test_api_resend_refusals(world, failed, marketer):
    assert (
        api_client_for(world.tech_a1).post(f"/api/v1/messages/{failed.pk}/resend").status_code
        == 403
    )
    assert (
        api_client_for(world.manager_a2).post(f"/api/v1/messages/{failed.pk}/resend").status_code
        == 404
    )
    assert (
        api_client_for(world.other_admin).post(f"/api/v1/messages/{failed.pk}/resend").status_code
        == 404
    )
    failed.refresh_from_db()
    assert failed.status == S.FAILED


def test_api_sent_by_hand(world):
    m = message(world)
    r = send_json(
        api_client_for(world.manager_a1), "post", f"/api/v1/messages/{m.pk}/sent-by-hand", {}
    )
    assert r.status_code == 200 and r.json()["status"] == "sent"
    assert r.json()["sent_by_id"] == world.manager_a1.pk


def test_api_templates(world, marketer):
    client = api_client_for(marketer)
    r = send_json(client, "post", "/api/v1/message-templates", {**FORM, "is_active": True})
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["preview"] == "【北京朝阳店】张先生您好，冬季保养8折。回TD退订"
    assert created["sms_segments"] == 1 and created["chars"] == len(created["preview"])
    r = send_json(
        client, "patch", f"/api/v1/message-templates/{created['id']}", {"body": "{x}您好"}
    )
    assert r.status_code == 422 and "未知的占位符 {x}" in r.json()["fields"]["body"]
    r = send_json(
        client, "patch", f"/api/v1/message-templates/{created['id']}", {"is_active": False}
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    listing = client.get("/api/v1/message-templates").json()
    assert [t["name"] for t in listing["items"]] == ["冬季保养"]
    assert client.get(f"/api/v1/message-templates/{created['id']}").status_code == 200


def test_api_template_refusals(world, marketer):
    r = send_json(api_client_for(world.manager_a1), "post", "/api/v1/message-templates", FORM)
    assert r.status_code == 403
    r = send_json(api_client_for(marketer), "post", "/api/v1/message-templates", {"name": "x"})
    assert r.status_code == 422 and "body" in r.json()["fields"]
    other = MessageTemplate.objects.create(org=world.other_org, name="t", purpose="p", body="x")
    r = send_json(
        api_client_for(marketer), "patch", f"/api/v1/message-templates/{other.pk}", {"body": "y"}
    )
    assert r.status_code == 404
    assert api_client_for(world.tech_a1).get("/api/v1/message-templates").status_code == 403
