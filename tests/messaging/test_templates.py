"""Message templates: placeholders refused on save, the SMS length count, render() and
send_templated() for the rules engine."""

from __future__ import annotations

import pytest

from autocrm.core.errors import Conflict, Forbidden, Invalid
from autocrm.messaging import services, templating
from autocrm.messaging.models import MessageTemplate, OutboxMessage
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(world):
    return f.staff(world.org, "marketing", scope="org", username="mkt")


def data(**kw):
    base = {
        "name": "保养到期提醒",
        "channel": "sms",
        "kind": "reminder",
        "purpose": "maintenance_due",
        "body": "{customer_name}您好，您的爱车{plate}保养将于{due_date}到期，"
        "预约请致电{store_phone}。",
    }
    base.update(kw)
    return base


def test_marketing_role_creates_a_template(marketer):
    template = services.create_template(marketer, **data())
    assert template.org_id == marketer.org_id and template.is_active


def test_unknown_placeholder_is_refused_by_name(marketer):
    with pytest.raises(Invalid) as exc:
        services.create_template(marketer, **data(body="{customer_name}您好，{车牌}和{mileage}"))
    message = str(exc.value.fields["body"])
    assert message.startswith("未知的占位符 {车牌}、{mileage}。只能使用：{customer_name}")
    assert not MessageTemplate.objects.exists()


def test_sms_body_must_not_carry_its_own_signature(marketer):
    with pytest.raises(Invalid) as exc:
        services.create_template(marketer, **data(body="【某店】您好"))
    assert "签名" in str(exc.value.fields["body"])


def test_too_long_sms_is_refused_with_the_count(marketer):
    with pytest.raises(Invalid) as exc:
        services.create_template(marketer, **data(body="很" * 520))
    assert "短信过长" in str(exc.value.fields["body"])


def test_other_refusals(world, marketer):
    with pytest.raises(Invalid) as exc:
        services.create_template(marketer, **data(name="", purpose="保养", channel="fax"))
    assert set(exc.value.fields) == {"name", "purpose", "channel"}
    services.create_template(marketer, **data())
    with pytest.raises(Conflict):
        services.create_template(marketer, **data())
    with pytest.raises(Forbidden):
        services.create_template(world.manager_a1, **data(name="店长的"))


def test_update_checks_the_merged_text(marketer):
    template = services.create_template(marketer, **data())
    with pytest.raises(Invalid):
        services.update_template(marketer, template, body="{oops}")
    services.update_template(marketer, template, is_active=False, body="{customer_name}你好")
    template.refresh_from_db()
    assert template.body == "{customer_name}你好" and not template.is_active


def test_sms_length_count():
    assert templating.sms_segments("字" * 70) == 1
    assert templating.sms_segments("字" * 71) == 2
    assert templating.sms_segments("字" * 134) == 2
    assert templating.sms_segments("字" * 135) == 3


def test_preview_adds_signature_and_opt_out_and_counts():
    figures = services.preview(channel="sms", kind="marketing", body="{customer_name}您好，8折。")
    assert figures["text"] == "【北京朝阳店】张先生您好，8折。回TD退订"
    assert figures["chars"] == len(figures["text"]) and figures["segments"] == 1
    reminder = services.preview(channel="sms", kind="reminder", body="您好")
    assert reminder["text"] == "【北京朝阳店】您好"
    long = services.preview(channel="sms", kind="reminder", body="好" * 80)
    assert long["segments"] == 2


def test_brand_signature_setting(settings):
    settings.AUTOCRM_SMS_SIGN = "安途养车"
    assert (
        services.preview(channel="sms", kind="reminder", body="您好")["text"] == "【安途养车】您好"
    )


def test_render_for_the_rules_engine(world, marketer):
    template = services.create_template(marketer, **data())
    text = services.render(
        template,
        {
            "customer_name": "李雷",
            "plate": "京A12345",
            "due_date": "12月1日",
            "store_phone": "010-1234",
        },
        store=world.a1,
    )
    assert (
        text == "【北京朝阳店】李雷您好，您的爱车京A12345保养将于12月1日到期，预约请致电010-1234。"
    )
    with pytest.raises(Invalid) as exc:
        services.render(template, {"customer_name": "李雷"})
    assert "{plate}" in str(exc.value.message) and "{due_date}" in str(exc.value.message)


def test_send_templated_fills_from_customer_and_store(world, marketer, owner):
    world.a1.phone = "010-88886666"
    world.a1.save()
    template = services.create_template(marketer, **data())
    message = services.send_templated(
        template,
        customer=owner,
        store_id=world.a1.pk,
        context={"plate": "京A12345", "due_date": "12月1日"},
        related="vehicle:1",
        key="rule:7:vehicle:1:2026-12-01",
    )
    assert message.status == OutboxMessage.Status.QUEUED and message.kind == "reminder"
    assert message.template == template and message.related == "vehicle:1"
    assert "李雷您好" in message.body and "010-88886666" in message.body
    assert message.params[:2] == [["customer_name", "李雷"], ["plate", "京A12345"]]
    again = services.send_templated(
        template,
        customer=owner,
        store_id=world.a1.pk,
        context={"plate": "京A12345", "due_date": "12月1日"},
        key="rule:7:vehicle:1:2026-12-01",
    )
    assert again.pk == message.pk and OutboxMessage.objects.count() == 1


def test_send_templated_refusals(world, marketer, owner):
    template = services.create_template(marketer, **data())
    with pytest.raises(Invalid):
        services.send_templated(template, customer=owner, store_id=world.b1.pk, context={})
    assert (
        services.send_templated(template, customer=None, store_id=world.a1.pk, context={}) is None
    )
    template.is_active = False
    template.save()
    off = services.send_templated(
        template, customer=owner, store_id=world.a1.pk, context={"plate": "x", "due_date": "y"}
    )
    assert off.status == "suppressed" and off.suppressed_reason == "模板已停用。"
    template.is_active = True
    template.channel = "wechat"
    template.save()
    nowhere = services.send_templated(
        template,
        customer=owner,
        store_id=world.a1.pk,
        context={"plate": "x", "due_date": "y", "store_phone": "010-1"},
    )
    assert (
        nowhere.status == "suppressed" and nowhere.suppressed_reason == "客户没有该渠道的联系方式。"
    )
