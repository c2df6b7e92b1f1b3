"""Car owners on a 375 px phone, without an account: book online; open the estimate link,
approve one item, decline another with a reason and sign; rate the visit badly — and the store
manager finds it in the low-score list."""

from __future__ import annotations

import datetime

import pytest
from playwright.sync_api import expect

from autocrm.core.models import User
from autocrm.customers import services as customer_services
from autocrm.feedback.models import Survey
from autocrm.portal import services as links
from autocrm.portal.models import PortalLink
from autocrm.service import notify
from autocrm.service import services as shop
from autocrm.service.models import Appointment, WorkOrder
from tests.e2e.helpers import login, page_width, path_of

pytestmark = pytest.mark.e2e

WIDTH = 375


def phone(new_context):
    context = new_context(viewport={"width": WIDTH, "height": 800}, is_mobile=True, has_touch=True)
    return context.new_page()


def _visit(plate: str, owner_name: str, mobile: str) -> WorkOrder:
    advisor = User.objects.get(username="advisor1")
    store_id = advisor.stores.get().pk
    owner = customer_services.create_customer(
        advisor, home_store_id=store_id, name=owner_name, mobile=mobile
    )
    car = customer_services.create_vehicle(
        advisor, owner_id=owner.pk, home_store_id=store_id, plate=plate, brand="丰田"
    )
    return shop.create_work_order(advisor, vehicle=car, store_id=store_id)


def test_owner_books_online(new_context, demo):
    page = phone(new_context)
    page.goto("/book/antu/")
    expect(page.locator("h1")).to_have_text("预约服务")
    with page.expect_navigation():
        page.click("[data-testid=store-s001]")
    assert path_of(page) == "/book/antu/s001/"
    day = datetime.date.today() + datetime.timedelta(days=2)
    with page.expect_response(lambda r: "/slots/" in r.url):
        page.select_option("[data-testid=booking-day]", day.isoformat())
    page.locator('label.portal-slot:has([data-testid="slot-09:30"])').click()
    page.fill("[data-testid=booking-name]", "赵敏")
    page.fill("[data-testid=booking-mobile]", "13566667777")
    page.fill("[data-testid=booking-plate]", "京N66888")
    page.fill("[data-testid=booking-note]", "空调不凉")
    assert page_width(page) <= WIDTH
    with page.expect_navigation():
        page.click("[data-testid=booking-submit]")
    expect(page.locator("[data-testid=booking-done]")).to_contain_text("预约已提交")
    expect(page.locator("[data-testid=booking-done]")).to_contain_text("135****7777")
    assert page_width(page) <= WIDTH
    appt = Appointment.objects.get(mobile="13566667777")
    assert appt.channel == "online" and appt.plate == "京N66888"
    assert (
        appt.starts_at.astimezone(datetime.timezone(datetime.timedelta(hours=8))).strftime(
            "%Y-%m-%d %H:%M"
        )
        == f"{day.isoformat()} 09:30"
    )


def test_owner_decides_the_estimate_and_signs(new_context, demo):
    advisor = User.objects.get(username="advisor1")
    wo = _visit("京E12121", "钱多多", "13677778888")
    brakes = shop.add_line(advisor, wo, kind="labour", name="更换前刹车片", unit_price="320.00")
    tyres = shop.add_line(advisor, wo, kind="labour", name="四轮换位", unit_price="80.00")
    path = notify.estimate_link(wo)

    page = phone(new_context)
    page.goto(path)
    expect(page.locator("h1")).to_have_text("请确认维修项目")
    expect(page.locator("[data-testid=car-plate]")).to_have_text("京E12121")
    assert page_width(page) <= WIDTH

    first = page.locator("[data-testid=line]", has_text="更换前刹车片")
    with page.expect_navigation():
        first.locator("[data-testid=approve]").click()
    expect(page.locator("[data-testid=portal-message]")).to_contain_text("已同意：更换前刹车片")
    expect(first.locator("[data-testid=line-decision]")).to_contain_text("已同意")

    second = page.locator("[data-testid=line]", has_text="四轮换位")
    second.locator("[data-testid=decline]").click()
    second.locator("[data-testid=decline-reason]").fill("上个月刚做过")
    with page.expect_navigation():
        second.locator("[data-testid=confirm-decline]").click()
    expect(second.locator("[data-testid=line-decision]")).to_contain_text("上个月刚做过")
    expect(page.locator("[data-testid=total-gross]")).to_have_text("¥320.00")

    pad = page.locator("[data-testid=signature-pad]")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(box["x"] + 20 + step * 20, box["y"] + box["height"] / 2 + (step % 3) * 8)
    page.mouse.up()
    expect(page.locator("[data-testid=save-signature]")).to_be_enabled()
    with page.expect_navigation():
        page.click("[data-testid=save-signature]")
    expect(page.locator("[data-testid=signature-image]")).to_be_visible()
    assert page_width(page) <= WIDTH

    brakes.refresh_from_db()
    tyres.refresh_from_db()
    assert brakes.approval == "approved" and brakes.approval_channel == "link"
    assert tyres.approval == "declined" and tyres.decline_reason == "上个月刚做过"
    link = PortalLink.objects.get(work_order=wo, purpose="estimate", revoked_at__isnull=True)
    assert link.signature.startswith("data:image/png;base64,")


def test_low_rating_reaches_the_manager(new_context, demo):
    wo = _visit("京F34343", "孙不满", "13788889999")
    WorkOrder.objects.filter(pk=wo.pk).update(status=WorkOrder.Status.SETTLED)
    _link, token = links.issue_link(wo, "survey")

    page = phone(new_context)
    page.goto(links.link_path("survey", token))
    expect(page.locator("h1")).to_have_text("服务满意度评价")
    reasons = page.locator("[data-survey-reasons]")
    expect(reasons).to_be_hidden()  # asked only when a score is low
    page.locator('label.portal-nps-option:has([data-testid="nps-3"])').click()
    expect(reasons).to_be_visible()
    for name, stars in (("timeliness", 2), ("professionalism", 4), ("attitude", 3), ("result", 4)):
        page.click(f"label[for={name}-{stars}]")
    page.locator("label.form-check:has([data-testid=reason-slow])").click()
    page.fill("[data-testid=survey-comment]", "等了一整天也没人通知")
    assert page_width(page) <= WIDTH
    with page.expect_navigation():
        page.click("[data-testid=survey-submit]")
    expect(page.locator("[data-testid=survey-thanks]")).to_contain_text("感谢您的评价")
    survey = Survey.objects.get(work_order=wo)
    assert survey.is_low and survey.nps == 3 and survey.timeliness == 2
    assert survey.reasons == ["slow"]

    manager = new_context().new_page()
    login(manager, "manager1")
    manager.goto("/feedback/alerts/")
    alert = manager.locator("[data-testid=alert]", has_text="孙不满")
    expect(alert).to_contain_text("等了一整天也没人通知")
    expect(alert).to_contain_text(wo.number)
    alert.locator("[data-testid=handle-note]").fill("已致电道歉，下次免工时费")
    with manager.expect_navigation():
        alert.locator("[data-testid=handle-submit]").click()
    expect(manager.locator("[data-testid=alert]", has_text="孙不满")).to_have_count(0)
