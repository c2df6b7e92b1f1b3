"""Consent, opt-out (TD reply, unsubscribe link), the marketing frequency cap and quiet hours."""

from __future__ import annotations

import datetime
import json
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone

from autocrm.core.models import AuditLog
from autocrm.messaging import delivery, policy, services
from autocrm.messaging.models import MessageTemplate, OutboxMessage
from tests import customer_factories as cf

pytestmark = pytest.mark.django_db
S = OutboxMessage.Status
BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(hour, minute=0, day=24):
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=BEIJING)


@pytest.fixture
def promo(world):
    return MessageTemplate.objects.create(
        org=world.org,
        name="冬季保养",
        channel="webhook",
        kind="marketing",
        purpose="winter_promo",
        body="{customer_name}您好，{store_name}冬季保养8折。",
    )


@pytest.fixture
def sms_promo(world):
    return MessageTemplate.objects.create(
        org=world.org,
        name="冬季保养短信",
        channel="sms",
        kind="marketing",
        purpose="winter_promo",
        body="{customer_name}您好，冬季保养8折，预约{booking_link}",
    )


def send(template, customer, world, **kw):
    return services.send_templated(
        template, customer=customer, store_id=world.a1.pk, context={}, **kw
    )


# --- consent ------------------------------------------------------------------------------


def test_marketing_without_consent_is_suppressed_with_the_reason(world, sms_promo):
    customer = cf.customer(world.a1, name="韩梅梅", mobile="13911112222")
    message = send(sms_promo, customer, world)
    assert message.status == S.SUPPRESSED
    assert message.suppressed_reason == "该渠道未记录客户的营销授权。"


def test_marketing_with_consent_is_queued_with_signature_and_opt_out(world, owner, sms_promo):
    message = send(sms_promo, owner, world)
    assert message.status == S.QUEUED and message.kind == "marketing"
    assert message.body.startswith("【北京朝阳店】李雷您好，冬季保养8折，预约http")
    assert message.body.endswith("回TD退订") and message.to == "13912345678"


def test_transactional_needs_no_consent(world):
    customer = cf.customer(world.a1, name="韩梅梅", mobile="13911112222")
    ready = MessageTemplate.objects.create(
        org=world.org,
        name="完工通知",
        channel="sms",
        kind="transactional",
        purpose="car_ready",
        body="{customer_name}您好，您的爱车{plate}已完工。",
    )
    message = services.send_templated(
        ready, customer=customer, store_id=world.a1.pk, context={"plate": "京A12345"}
    )
    assert message.status == S.QUEUED and "回TD退订" not in message.body


def test_consent_withdrawn_after_queueing_suppresses_at_send_time(world, owner, sms_promo, webhook):
    promo = MessageTemplate.objects.create(
        org=world.org,
        name="活动",
        channel="webhook",
        kind="marketing",
        purpose="promo",
        body="活动通知",
    )
    # webhook channel holds no consent of its own: marketing over it is refused
    assert send(promo, owner, world).status == S.SUPPRESSED
    message = services.queue(
        org_id=world.org.pk,
        store_id=world.a1.pk,
        customer=owner,
        to=owner.mobile,
        channel="webhook",
        kind="transactional",
        purpose="car_ready",
        body="完工",
    )
    queued_promo = send(sms_promo, owner, world)
    assert queued_promo.status == S.QUEUED
    owner.consent_sms = False
    owner.save()
    # a webhook-configured run sends the transactional one; the SMS promo has no provider
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.SENT
    decision = policy.decide(
        OutboxMessage.objects.select_related("customer").get(pk=queued_promo.pk), timezone.now()
    )
    assert decision.action == "suppress"


# --- opt-out: replies and the link --------------------------------------------------------


@pytest.fixture
def inbound(settings):
    settings.AUTOCRM_SMS_INBOUND_TOKEN = "in-7b1f"
    return Client()


def test_aliyun_td_reply_withdraws_consent_at_once(world, owner, sms_promo, inbound):
    waiting = send(sms_promo, owner, world)
    payload = [
        {
            "phone_number": "13912345678",
            "send_time": "2026-11-24 10:00:00",
            "content": "TD",
            "sign_name": "北京朝阳店",
            "dest_code": "1234",
            "sequence_id": 1234567890,
        }
    ]
    r = inbound.post(
        "/hooks/sms/aliyun/in-7b1f/", json.dumps(payload), content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["code"] == 0
    owner.refresh_from_db()
    assert owner.consent_sms is False and owner.consent_sms_at is not None
    assert owner.consent_sms_how == "短信回复 TD（aliyun）"
    waiting.refresh_from_db()
    assert waiting.status == S.SUPPRESSED and "营销授权已于" in waiting.suppressed_reason
    assert send(sms_promo, owner, world).status == S.SUPPRESSED
    entry = AuditLog.objects.filter(object_type="customers.Customer", action="update").latest("id")
    assert entry.source == "portal" and entry.changes["consent_sms"] == [True, False]


def test_tencent_td_reply_withdraws_consent(world, owner, inbound):
    payload = {
        "extend": "",
        "mobile": "13912345678",
        "nationcode": "86",
        "sign": "北京朝阳店",
        "text": "退订",
        "time": 1764000000,
    }
    r = inbound.post(
        "/hooks/sms/tencent/in-7b1f/", json.dumps(payload), content_type="application/json"
    )
    assert r.json() == {"result": 0, "errmsg": "OK"}
    owner.refresh_from_db()
    assert owner.consent_sms is False and "tencent" in owner.consent_sms_how


def test_other_replies_change_nothing(world, owner, inbound):
    payload = {"mobile": "13912345678", "nationcode": "86", "text": "好的谢谢", "time": 1}
    inbound.post(
        "/hooks/sms/tencent/in-7b1f/", json.dumps(payload), content_type="application/json"
    )
    owner.refresh_from_db()
    assert owner.consent_sms is True


def test_inbound_refuses_a_wrong_token_and_bad_bodies(world, owner, inbound, settings):
    body = json.dumps([{"phone_number": "13912345678", "content": "TD"}])
    assert inbound.post("/hooks/sms/aliyun/guess/", body, "application/json").status_code == 404
    owner.refresh_from_db()
    assert owner.consent_sms is True
    assert inbound.post("/hooks/sms/aliyun/in-7b1f/", "{", "application/json").status_code == 400
    settings.AUTOCRM_SMS_INBOUND_TOKEN = ""
    assert inbound.post("/hooks/sms/aliyun/", body, "application/json").status_code == 404


def test_unsubscribe_link(world, owner, sms_promo):
    token = services.unsubscribe_token(owner, "sms")
    assert len(token) <= 30  # short enough for an SMS
    client = Client()
    page = client.get(f"/u/{token}/")
    assert page.status_code == 200 and "退订" in page.content.decode()
    owner.refresh_from_db()
    assert owner.consent_sms is True  # a GET (link preview) changes nothing
    done = client.post(f"/u/{token}/")
    assert "您已退订" in done.content.decode()
    owner.refresh_from_db()
    assert owner.consent_sms is False and owner.consent_sms_how == "退订链接"
    assert client.get(f"/u/{token[:-1]}x/").status_code == 404
    other = services.unsubscribe_token(owner, "sms").replace(f"{owner.pk}s", f"{owner.pk + 1}s")
    assert client.get(f"/u/{other}/").status_code == 404


def test_templated_email_marketing_carries_the_unsubscribe_link(world, owner):
    owner.preferences = {"email": "lilei@example.cn"}
    owner.save()
    template = MessageTemplate.objects.create(
        org=world.org, name="邮件", channel="email", kind="marketing", purpose="p", body="优惠"
    )
    message = send(template, owner, world)
    # no consent field for email: marketing email is refused, with the reason
    assert message.status == S.SUPPRESSED
    assert message.suppressed_reason == "该渠道无法记录营销授权，不发送营销消息。"
    assert "/u/" in message.body and message.to == "lilei@example.cn"


# --- frequency cap ------------------------------------------------------------------------


def test_frequency_cap_suppresses_the_rest(world, owner, sms_promo, settings):
    settings.AUTOCRM_MARKETING_CAP = "2/30"
    now = timezone.now()
    for days in (3, 40):  # one inside the window, one outside
        OutboxMessage.objects.create(
            org=world.org,
            store=world.a1,
            customer=owner,
            to=owner.mobile,
            kind="marketing",
            purpose="old",
            body="x",
            status=S.SENT,
            sent_at=now - datetime.timedelta(days=days),
        )
    second = send(sms_promo, owner, world)
    third = send(sms_promo, owner, world)
    assert second.status == S.QUEUED
    assert third.status == S.SUPPRESSED
    assert third.suppressed_reason == "频次上限：30 天内已发送 2 条营销消息。"


def test_cap_is_checked_again_when_sending(world, owner, promo, settings):
    settings.AUTOCRM_MARKETING_CAP = "1/30"
    queued = [
        OutboxMessage.objects.create(
            org=world.org,
            store=world.a1,
            customer=owner,
            to=owner.mobile,
            channel="sms",
            kind="marketing",
            purpose="p",
            body=f"促销{i}",
        )
        for i in range(2)
    ]
    now = timezone.now()
    first = policy.decide(queued[0], now)
    second = policy.decide(queued[1], now, planned=1)
    assert first.action == "send" and second.action == "suppress"


def test_delivery_check_counts_the_cap_once_per_batch(world, owner, settings):
    """A batch of marketing for many customers reads their recent sends in one query (no
    query per message), and the cap still holds: sent earlier plus planned in this run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.AUTOCRM_MARKETING_CAP = "2/30"
    settings.AUTOCRM_QUIET_HOURS = ""
    others = [
        cf.customer(world.a1, name=f"客户{i}", mobile=f"1391111000{i}", consent_sms=True)
        for i in range(5)
    ]

    def promo(customer, **kw):
        return OutboxMessage.objects.create(
            org=world.org,
            store=world.a1,
            customer=customer,
            to=customer.mobile,
            channel="sms",
            kind="marketing",
            purpose="p",
            body="促销",
            **kw,
        )

    promo(owner, status=S.SENT, sent_at=timezone.now() - datetime.timedelta(days=1))
    batch = [promo(owner), promo(owner), *(promo(c) for c in others)]
    batch = list(
        OutboxMessage.objects.filter(pk__in=[m.pk for m in batch]).select_related("customer")
    )
    run = delivery.Run()
    with CaptureQueriesContext(connection) as captured:
        ready = run.check(batch)
    counts = [q for q in captured if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    assert run.report.suppressed == 1  # the owner's second: one sent + one planned = the cap
    assert len(ready) == 6


# --- quiet hours --------------------------------------------------------------------------


def test_quiet_hours_window(settings):
    settings.AUTOCRM_QUIET_HOURS = "21:00-08:00"
    assert policy.in_quiet_hours(at(21, 0)) and policy.in_quiet_hours(at(7, 59))
    assert not policy.in_quiet_hours(at(8, 0)) and not policy.in_quiet_hours(at(20, 59))
    assert policy.next_allowed(at(22, 30)) == at(8, 0, day=25)
    assert policy.next_allowed(at(3, 0)) == at(8, 0)
    assert policy.next_allowed(at(12, 0)) == at(12, 0)
    settings.AUTOCRM_QUIET_HOURS = ""
    assert not policy.in_quiet_hours(at(23, 0))


def test_marketing_and_reminders_wait_transactional_goes_at_night(world, owner, settings):
    settings.AUTOCRM_QUIET_HOURS = "21:00-08:00"
    night = at(22, 15)

    def q(kind, purpose):
        return services.queue(
            org_id=world.org.pk,
            store_id=world.a1.pk,
            customer=owner,
            to=owner.mobile,
            purpose=purpose,
            kind=kind,
            body="x",
            send_after=night,
        )

    assert q("marketing", "promo").send_after == at(8, 0, day=25)
    reminder = q(None, "appointment.reminder")
    assert reminder.kind == "reminder" and reminder.send_after == at(8, 0, day=25)
    estimate = q(None, "work_order.estimate")
    assert estimate.kind == "transactional" and estimate.send_after == night


def test_a_due_marketing_message_at_night_is_deferred_not_dropped(world, owner, webhook, settings):
    message = OutboxMessage.objects.create(
        org=world.org,
        store=world.a1,
        customer=owner,
        to=owner.mobile,
        channel="webhook",
        kind="reminder",
        purpose="maintenance.reminder",
        body="保养提醒",
    )
    now_local = timezone.localtime()
    start = (now_local - datetime.timedelta(minutes=5)).strftime("%H:%M")
    end = (now_local + datetime.timedelta(hours=2)).strftime("%H:%M")
    settings.AUTOCRM_QUIET_HOURS = f"{start}-{end}"
    report = delivery.deliver_due()
    message.refresh_from_db()
    assert report.deferred == 1 and message.status == S.QUEUED and not webhook.requests
    assert message.send_after > timezone.now() + datetime.timedelta(minutes=100)
