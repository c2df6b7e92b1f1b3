"""Each provider against a local stand-in that checks the request as the real service does:
Aliyun's RPC signature, Tencent's TC3 signature, WeChat's access_token, the webhook HMAC, and
an SMTP server."""

from __future__ import annotations

import json

import pytest
from aiosmtpd.controller import Controller

from autocrm.messaging import delivery, services
from autocrm.messaging.models import MessageAttempt, OutboxMessage
from autocrm.messaging.providers import aliyun_signature
from tests.messaging.standins import (
    SmtpSink,
    aliyun_expected_signature,
    free_port,
    tencent_expected_authorization,
)

pytestmark = pytest.mark.django_db
S = OutboxMessage.Status

ALIYUN_KEY, ALIYUN_SECRET = "LTAI5tTestKeyId", "aliyun-test-secret"
TENCENT_ID, TENCENT_KEY = "AKIDtestSecretId", "tencent-test-secret-key"


def sms(world, owner, body="【北京朝阳店】您的爱车已完工，请来取车。", **kw):
    return services.queue(
        org_id=world.org.pk,
        store_id=world.a1.pk,
        customer=owner,
        to=owner.mobile,
        purpose="work_order.ready",
        body=body,
        **kw,
    )


# --- Aliyun -------------------------------------------------------------------------------


@pytest.fixture
def aliyun(settings, receivers):
    def handle(request):
        params = {**request.query, **request.form()}
        expected = aliyun_expected_signature(params, ALIYUN_SECRET, request.method)
        if params.get("Signature") != expected:
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "bad signature"}, {}
        if params.get("AccessKeyId") != ALIYUN_KEY:
            return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "no key"}, {}
        if params.get("PhoneNumbers") == "13000000000":
            return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}, {}
        return 200, {"Code": "OK", "Message": "OK", "BizId": f"biz-{params['OutId']}"}, {}

    receiver = receivers(handle)
    settings.AUTOCRM_SMS_PROVIDER = "aliyun"
    settings.AUTOCRM_ALIYUN_SMS = {
        "access_key_id": ALIYUN_KEY,
        "access_key_secret": ALIYUN_SECRET,
        "endpoint": receiver.url,
        "fallback_template": "SMS_100000001",
    }
    return receiver


def test_aliyun_send_sms_is_signed_and_sent(world, owner, aliyun):
    message = sms(world, owner)
    report = delivery.deliver_due()
    assert report.sent == 1
    message.refresh_from_db()
    assert message.status == S.SENT and message.provider == "aliyun"
    assert message.provider_message_id == f"biz-{message.pk}" and message.attempts == 1
    params = aliyun.requests[0].form()
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["SignatureMethod"] == "HMAC-SHA1" and params["SignatureVersion"] == "1.0"
    assert params["Format"] == "JSON" and params["Timestamp"].endswith("Z")
    assert params["PhoneNumbers"] == "13912345678"
    assert params["SignName"] == "北京朝阳店"  # the store's name: no brand signature set
    assert params["TemplateCode"] == "SMS_100000001"
    # the gateway adds 【signature】 itself, so the content parameter goes without it
    assert json.loads(params["TemplateParam"]) == {"content": "您的爱车已完工，请来取车。"}


def test_aliyun_signature_matches_the_documented_example():
    # Aliyun's published example (DescribeDomainRecords, secret "testsecret", GET).
    params = {
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeDomainRecords",
        "SignatureMethod": "HMAC-SHA1",
        "DomainName": "example.com",
        "SignatureNonce": "f59ed6a9-83fc-473b-9cc6-99c95df3856e",
        "SignatureVersion": "1.0",
        "Version": "2015-01-09",
        "Timestamp": "2016-03-24T16:41:54Z",
    }
    ours = aliyun_signature(params, "testsecret", "GET")
    assert ours == aliyun_expected_signature(params, "testsecret", "GET")
    assert ours == "uRpHwaSEt3J+6KQD//svCh/x+pI="


def test_aliyun_wrong_secret_is_refused_and_not_retried(world, owner, aliyun, settings):
    settings.AUTOCRM_ALIYUN_SMS = {**settings.AUTOCRM_ALIYUN_SMS, "access_key_secret": "wrong"}
    message = sms(world, owner)
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.FAILED and message.attempts == 1
    assert message.last_error.startswith("SignatureDoesNotMatch")


def test_aliyun_business_refusal_fails_with_the_reason(world, owner, aliyun):
    owner.mobile = "13000000000"
    message = sms(world, owner)
    message.to = "13000000000"
    message.save()
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.FAILED and "isv.MOBILE_NUMBER_ILLEGAL" in message.last_error


def test_aliyun_templated_message_sends_its_own_template_and_values(world, owner, aliyun):
    from autocrm.messaging.models import MessageTemplate

    template = MessageTemplate.objects.create(
        org=world.org,
        name="保养到期",
        channel="sms",
        kind="reminder",
        purpose="maintenance_due",
        body="{customer_name}您好，您的爱车{plate}保养将于{due_date}到期。",
        provider_template="SMS_200000002",
    )
    services.send_templated(
        template,
        customer=owner,
        store_id=world.a1.pk,
        context={"plate": "京A12345", "due_date": "12月1日"},
    )
    delivery.deliver_due()
    params = aliyun.requests[0].form()
    assert params["TemplateCode"] == "SMS_200000002"
    assert json.loads(params["TemplateParam"]) == {
        "customer_name": "李雷",
        "plate": "京A12345",
        "due_date": "12月1日",
    }


# --- Tencent ------------------------------------------------------------------------------


@pytest.fixture
def tencent(settings, receivers):
    def handle(request):
        expected = tencent_expected_authorization(request, TENCENT_ID, TENCENT_KEY)
        if request.headers.get("authorization") != expected:
            return (
                200,
                {
                    "Response": {
                        "Error": {
                            "Code": "AuthFailure.SignatureFailure",
                            "Message": "signature mismatch",
                        },
                        "RequestId": "r1",
                    }
                },
                {},
            )
        body = request.json()
        if body["PhoneNumberSet"] == ["+8613900000000"]:
            status = {"Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "bad"}
        else:
            status = {
                "SerialNo": f"serial-{body['SessionContext']}",
                "PhoneNumber": body["PhoneNumberSet"][0],
                "Fee": 1,
                "Code": "Ok",
                "Message": "send success",
            }
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": "r2"}}, {}

    receiver = receivers(handle)
    settings.AUTOCRM_SMS_PROVIDER = "tencent"
    settings.AUTOCRM_TENCENT_SMS = {
        "secret_id": TENCENT_ID,
        "secret_key": TENCENT_KEY,
        "sdk_app_id": "1400000001",
        "endpoint": receiver.url,
        "region": "ap-guangzhou",
        "fallback_template": "100001",
    }
    return receiver


def test_tencent_send_sms_is_tc3_signed(world, owner, tencent):
    message = sms(world, owner)
    assert delivery.deliver_due().sent == 1
    message.refresh_from_db()
    assert message.status == S.SENT and message.provider == "tencent"
    assert message.provider_message_id == f"serial-{message.pk}"
    request = tencent.requests[0]
    assert request.headers["x-tc-action"] == "SendSms"
    assert request.headers["x-tc-version"] == "2021-01-11"
    assert request.headers["x-tc-region"] == "ap-guangzhou"
    assert request.headers["authorization"].startswith(f"TC3-HMAC-SHA256 Credential={TENCENT_ID}/")
    body = request.json()
    assert body["PhoneNumberSet"] == ["+8613912345678"] and body["SmsSdkAppId"] == "1400000001"
    assert body["TemplateId"] == "100001" and body["SignName"] == "北京朝阳店"
    assert body["TemplateParamSet"] == ["您的爱车已完工，请来取车。"]


def test_tencent_wrong_key_fails(world, owner, tencent, settings):
    settings.AUTOCRM_TENCENT_SMS = {**settings.AUTOCRM_TENCENT_SMS, "secret_key": "nope"}
    message = sms(world, owner)
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.FAILED
    assert message.last_error.startswith("AuthFailure.SignatureFailure")


def test_tencent_refused_number_fails(world, owner, tencent):
    message = sms(world, owner)
    OutboxMessage.objects.filter(pk=message.pk).update(to="13900000000")
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.FAILED and "IncorrectPhoneNumber" in message.last_error


# --- WeChat -------------------------------------------------------------------------------


@pytest.fixture
def wechat(settings, receivers):
    state = {"issued": [], "expire_next": False}

    def handle(request):
        if request.path == "/cgi-bin/token":
            q = request.query
            if (q.get("grant_type"), q.get("appid"), q.get("secret")) != (
                "client_credential",
                "wx-app-1",
                "wx-secret-1",
            ):
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}, {}
            token = f"TOKEN{len(state['issued']) + 1}"
            state["issued"].append(token)
            return 200, {"access_token": token, "expires_in": 7200}, {}
        if request.path == "/cgi-bin/message/template/send":
            token = request.query.get("access_token")
            if state["expire_next"]:
                state["expire_next"] = False
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}, {}
            if token != state["issued"][-1]:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}, {}
            body = request.json()
            if body["touser"] == "o-unsubscribed":
                return 200, {"errcode": 43004, "errmsg": "require subscribe"}, {}
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": 200228332 + len(request.body)}, {}
        return 404, {"errcode": 404}, {}

    receiver = receivers(handle)
    receiver.state = state
    settings.AUTOCRM_WECHAT_MP = {
        "app_id": "wx-app-1",
        "app_secret": "wx-secret-1",
        "endpoint": receiver.url,
        "fallback_template": "TPL-CONTENT",
    }
    return receiver


def wechat_message(world, owner, openid="o-owner-1"):
    return services.queue(
        org_id=world.org.pk,
        store_id=world.a1.pk,
        customer=owner,
        to=openid,
        channel="wechat",
        purpose="work_order.progress",
        body="车辆维修进度：https://crm.example.cn/c/p/abc/",
    )


def test_wechat_token_is_fetched_once_and_cached(world, owner, wechat):
    first, second = wechat_message(world, owner), wechat_message(world, owner)
    assert delivery.deliver_due().sent == 2
    assert wechat.state["issued"] == ["TOKEN1"]  # one token for both
    sends = [r for r in wechat.requests if r.path.endswith("/send")]
    body = sends[0].json()
    assert body["touser"] == "o-owner-1" and body["template_id"] == "TPL-CONTENT"
    assert body["data"]["content"]["value"].startswith("车辆维修进度")
    assert body["url"] == "https://crm.example.cn/c/p/abc/"
    third = wechat_message(world, owner)
    delivery.deliver_due()  # a later run reuses the cached token
    assert wechat.state["issued"] == ["TOKEN1"]
    for m in (first, second, third):
        m.refresh_from_db()
        assert m.status == S.SENT and m.provider == "wechat" and m.provider_message_id


def test_wechat_expired_token_is_fetched_again(world, owner, wechat):
    wechat_message(world, owner)
    delivery.deliver_due()
    wechat.state["expire_next"] = True
    message = wechat_message(world, owner)
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.SENT and wechat.state["issued"] == ["TOKEN1", "TOKEN2"]


def test_wechat_unsubscribed_user_fails_for_good(world, owner, wechat):
    message = wechat_message(world, owner, openid="o-unsubscribed")
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.FAILED and message.last_error.startswith("43004")


# --- webhook ------------------------------------------------------------------------------


def test_webhook_is_signed_and_carries_the_message(world, owner, webhook):
    message = services.queue(
        org_id=world.org.pk,
        store_id=world.a1.pk,
        customer=owner,
        to=owner.mobile,
        channel="webhook",
        purpose="work_order.ready",
        body="您的爱车已完工",
    )
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.SENT and message.provider_message_id == f"rcv-{message.pk}"
    body = webhook.requests[0].json()
    assert body["id"] == message.pk and body["body"] == "您的爱车已完工"
    assert body["to"] == "13912345678" and body["store_id"] == world.a1.pk


def test_webhook_with_a_wrong_secret_is_refused(world, owner, webhook, settings):
    settings.AUTOCRM_WEBHOOK = {**settings.AUTOCRM_WEBHOOK, "secret": "not-the-secret"}
    message = services.queue(
        org_id=world.org.pk,
        store_id=world.a1.pk,
        to=owner.mobile,
        channel="webhook",
        purpose="x",
        body="hi",
    )
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.FAILED and message.last_error.startswith("HTTP 401")


def test_plain_http_webhook_to_another_host_is_not_configured(settings):
    from autocrm.messaging import providers

    settings.AUTOCRM_WEBHOOK = {"url": "http://hooks.example.cn/x", "secret": "s"}
    assert "webhook" not in providers.configured_channels()
    settings.AUTOCRM_WEBHOOK = {"url": "https://hooks.example.cn/x", "secret": "s"}
    assert "webhook" in providers.configured_channels()


# --- email --------------------------------------------------------------------------------


@pytest.fixture
def smtp(settings):
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.AUTOCRM_EMAIL_ENABLED = True
    settings.AUTOCRM_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "北京朝阳店 <shop@example.cn>"
    yield sink
    controller.stop()


def email(world, owner, to="lilei@example.cn"):
    return services.queue(
        org_id=world.org.pk,
        store_id=world.a1.pk,
        customer=owner,
        to=to,
        channel="email",
        subject="您的报价单",
        purpose="work_order.estimate",
        body="请查看报价：https://crm.example.cn/c/e/abc/",
    )


def test_email_goes_over_smtp(world, owner, smtp):
    message = email(world, owner)
    assert delivery.deliver_due().sent == 1
    message.refresh_from_db()
    assert message.status == S.SENT and message.provider == "smtp"
    assert message.provider_message_id.startswith("<")
    envelope = smtp.messages[0]
    assert envelope.rcpt_tos == ["lilei@example.cn"]
    raw = envelope.content.decode()
    assert message.provider_message_id in raw and f"X-AutoCRM-Message-Id: {message.pk}" in raw


def test_email_temporary_refusal_is_retried_permanent_refusal_fails(world, owner, smtp):
    smtp.fail_next = ["451 4.3.0 try again later"]
    later = email(world, owner)
    smtp.refuse["nobody@example.cn"] = "550 5.1.1 no such user"
    never = email(world, owner, to="nobody@example.cn")
    delivery.deliver_due()
    later.refresh_from_db()
    never.refresh_from_db()
    assert later.status == S.QUEUED and later.attempts == 1 and "451" in later.last_error
    assert never.status == S.FAILED and "refused" in never.last_error
    OutboxMessage.objects.filter(pk=later.pk).update(send_after=later.created_at)
    delivery.deliver_due()
    later.refresh_from_db()
    assert later.status == S.SENT and later.attempts == 2
    assert MessageAttempt.objects.filter(message=later).count() == 2


def test_smtp_server_down_is_transient(world, owner, settings):
    settings.AUTOCRM_EMAIL_ENABLED = True
    settings.AUTOCRM_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    message = email(world, owner)
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.QUEUED and message.attempts == 1
    assert message.last_error.startswith("SMTP: ConnectionRefusedError")
