"""Messages in the browser: a store manager on a phone finds a queued text in the outbox and
marks it sent by hand; the marketing user edits a template and watches the preview and the
SMS length count follow the typing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login, page_width

pytestmark = pytest.mark.e2e

WIDTH = 375


def test_manager_sends_a_queued_message_by_hand(new_context, demo):
    from autocrm.core.models import User
    from autocrm.messaging import services
    from autocrm.messaging.models import OutboxMessage

    manager = User.objects.get(username="manager1")
    store = manager.stores.get()
    message = services.queue(
        org_id=store.org_id,
        store_id=store.pk,
        to="13912345678",
        purpose="work_order.ready",
        body=f"【{store.name}】您的爱车京A12345已完工，请来取车。",
    )
    page = new_context(
        viewport={"width": WIDTH, "height": 800}, is_mobile=True, has_touch=True
    ).new_page()
    login(page, "manager1")
    page.click(".navbar-toggler")
    with page.expect_navigation():
        page.click("[data-testid=main-nav] [data-nav=message]")
    row = page.locator(f"[data-testid=message-row][data-message-id='{message.pk}']")
    expect(row).to_contain_text("13912345678")
    expect(row.locator("[data-testid=message-status]")).to_have_text("排队中")
    expect(page.locator("[data-testid=by-hand-notice]").first).to_contain_text("等待手工发送")
    assert page_width(page) <= WIDTH
    with page.expect_navigation():
        row.locator("[data-testid=message-link]").click()
    expect(page.locator("[data-testid=message-body]")).to_contain_text("已完工")
    page.fill("[data-testid=by-hand-note]", "用门店手机发送")
    with page.expect_navigation():
        page.click("[data-testid=send-by-hand]")
    expect(page.locator("[data-testid=message-status]")).to_have_text("已发送")
    expect(page.locator("[data-testid=message-sent-at]")).to_contain_text("手工发送")
    expect(page.locator("[data-testid=attempt-row]")).to_contain_text("用门店手机发送")
    assert page_width(page) <= WIDTH
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT and message.sent_by == manager


def test_marketing_edits_a_template_and_sees_the_preview(page, demo):
    from autocrm.core.models import User
    from autocrm.messaging.models import MessageTemplate

    marketer = User.objects.get(username="marketing")
    template = MessageTemplate.objects.create(
        org=marketer.org,
        name="冬季保养活动",
        channel="sms",
        kind="marketing",
        purpose="winter_promo",
        body="{customer_name}您好，冬季保养8折。",
    )
    login(page, "marketing")
    page.goto("/messages/templates/")
    with page.expect_navigation():
        page.click(f"[data-testid=template-link-{template.pk}]")
    preview = page.locator("[data-testid=preview-text]")
    expect(preview).to_have_text("【北京朝阳店】张先生您好，冬季保养8折。回TD退订")
    body = page.locator("textarea[name=body]")
    body.fill(
        "{customer_name}您好，您的爱车{plate}冬季保养8折，{due_date}前有效。" + "欢迎光临" * 12
    )
    expect(preview).to_contain_text("张先生您好，您的爱车京A12345冬季保养8折，2026-12-01前有效")
    expect(page.locator("[data-testid=preview-length]")).to_contain_text("按 2 条短信计费")
    body.fill("{customer_name}您好，{车牌}")
    expect(page.locator("[data-testid=preview-unknown]")).to_contain_text("{车牌}")
    with page.expect_navigation():
        page.click("[data-testid=template-save]")
    expect(page.locator(".invalid-feedback")).to_contain_text("未知的占位符 {车牌}")
    body.fill("{customer_name}您好，冬季保养7折，预约{booking_link}")
    with page.expect_navigation():
        page.click("[data-testid=template-save]")
    expect(page.locator("[data-testid=template-table]")).to_contain_text("冬季保养7折")
    template.refresh_from_db()
    assert template.body == "{customer_name}您好，冬季保养7折，预约{booking_link}"
