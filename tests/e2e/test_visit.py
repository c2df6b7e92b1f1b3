"""One whole visit as people click it, each in their own browser: the owner books online; the
advisor checks the car in; the technician inspects it on a 375 px phone (red and yellow items,
a photo) and proposes lines; the advisor prices them and sends the estimate link; the owner
approves one line and declines the other on the phone; the technician clocks the job and marks
it done; the manager passes QC; the advisor settles with a split payment and prints the
settlement list; the owner rates the visit; and on the next visit the declined line comes
back as a recommendation.

Only the links that would reach the owner by text message are read from the outbox."""

from __future__ import annotations

import datetime
import io
import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import htmx_settled, login, nav, page_width

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
WIDTH = PHONE["viewport"]["width"]

OWNER = "周晓明"
MOBILE = "13512348888"
PLATE = "京P52013"
COMPLAINT = "刹车有异响"
RED, RED_NOTE = "前刹车片", "剩余2毫米"
RED_LINE = f"{RED}（{RED_NOTE}）"  # the proposed line carries the technician's note
YELLOW = "空调滤芯"
DECLINE_REASON = "下次保养再换"
CHECKLIST = "接车检查"


# --- small steps ----------------------------------------------------------------------------


def phone(new_context) -> Page:
    return new_context(**PHONE).new_page()


def signed_in(new_context, username: str, **options) -> Page:
    page = new_context(**options).new_page()
    login(page, username)
    return page


def submit(page: Page, button: Locator) -> None:
    """Click a button that posts a form and wait for the page it leads to."""
    with page.expect_navigation():
        button.click()


def open_menu_item(page: Page, key: str) -> None:
    """On a phone the menu folds behind the toggler."""
    page.click(".navbar-toggler")
    with page.expect_navigation():
        page.click(f"[data-testid=main-nav] [data-nav={key}]")


def status(page: Page) -> Locator:
    return page.locator("[data-testid=wo-status]")


def line_row(page: Page, name: str) -> Locator:
    return page.locator("[data-testid=wo-lines] tbody tr", has_text=name)


def action(page: Page, name: str) -> None:
    submit(page, page.locator(f"[data-testid=wo-actions] [data-action={name}]"))


def link_from_outbox(purpose: str) -> str:
    """The path of the link in the text message queued for the owner."""
    from autocrm.messaging.models import OutboxMessage

    message = OutboxMessage.objects.filter(to=MOBILE, purpose=f"work_order.{purpose}").latest(
        "created_at", "id"
    )
    return urlsplit(re.search(r"https?://\S+", message.body).group(0)).path


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 40, 40)).save(out, "PNG")
    return out.getvalue()


# --- the visit, step by step ----------------------------------------------------------------


def owner_books_online(owner: Page) -> str:
    """Book tomorrow's first free time at the first store; returns the time booked."""
    owner.goto("/book/antu/")
    expect(owner.locator("h1")).to_have_text("预约服务")
    submit(owner, owner.locator("[data-testid=store-s001]"))
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    owner.locator("[data-testid=slots]").evaluate("el => el.dataset.stale = 'today'")
    owner.select_option("[data-testid=booking-day]", tomorrow.isoformat())
    expect(owner.locator("[data-testid=slots]:not([data-stale])")).to_be_visible()
    slot = owner.locator("label.portal-slot:not(.disabled)").first
    time = slot.locator("input").get_attribute("value")
    slot.click()
    owner.fill("[data-testid=booking-name]", OWNER)
    owner.fill("[data-testid=booking-mobile]", MOBILE)
    owner.fill("[data-testid=booking-plate]", PLATE)
    owner.fill("[data-testid=booking-note]", COMPLAINT)
    submit(owner, owner.locator("[data-testid=booking-submit]"))
    done = owner.locator("[data-testid=booking-done]")
    expect(done).to_contain_text("预约已提交")
    expect(done).to_contain_text("135****8888")
    return time


def advisor_checks_in(advisor: Page, time: str) -> str:
    """Tomorrow's calendar, the owner's booking, "arrived": the work order opens."""
    nav(advisor, "appointment")
    with advisor.expect_navigation():
        advisor.get_by_role("link", name="›").click()  # the next day
    booking = advisor.locator("[data-testid=appointment]", has_text=OWNER)
    expect(booking).to_contain_text(PLATE)
    expect(booking).to_contain_text(time)
    expect(booking.locator("[data-testid=appointment-status]")).to_have_text("已预约")
    submit(advisor, booking.locator("[data-testid=arrive]"))
    expect(status(advisor)).to_have_text("草稿")
    expect(advisor.locator("[data-testid=wo-vehicle]")).to_contain_text(PLATE)
    expect(advisor.locator("[data-testid=wo-vehicle]")).to_contain_text(OWNER)
    expect(advisor.locator("#wo-complaint")).to_have_value(COMPLAINT)
    return advisor.locator("[data-testid=wo-number]").inner_text()


def technician_inspects(tech: Page) -> None:
    """From the job board to the car's check-in inspection: rate every item, one red with a
    note and a photo, one yellow; complete; propose both as lines in one tap."""
    open_menu_item(tech, "board")
    submit(tech, tech.locator("[data-testid=card-link]", has_text=PLATE))
    expect(status(tech)).to_have_text("草稿")
    submit(tech, tech.locator("[data-testid=wo-media] a[href$='/inspection/']"))
    expect(tech.locator("[data-testid=wo-plate]")).to_have_text(PLATE)
    tech.select_option("#id_template", label=CHECKLIST)
    submit(tech, tech.locator("[data-testid=inspection-start-button]"))

    def item(name: str) -> Locator:
        return tech.locator(f"[data-testid=result][data-name='{name}']")

    names = [r.get_attribute("data-name") for r in tech.locator("[data-testid=result]").all()]
    assert {RED, YELLOW} <= set(names) and len(names) > 10
    for name in names:
        rating = {RED: "now", YELLOW: "soon"}.get(name, "ok")
        item(name).locator(f"[data-testid=rate-{rating}]").click()
        expect(item(name)).to_have_attribute("data-rating", rating)

    item(RED).locator("[data-testid=result-note]").fill(RED_NOTE)
    with tech.expect_response(lambda r: "/floor/results/" in r.url):
        item(RED).locator("[data-testid=result-save]").click()
    expect(item(RED).locator("[data-testid=result-note]")).to_have_value(RED_NOTE)
    htmx_settled(tech)
    item(RED).locator("[data-testid=result-file]").set_input_files(
        files=[{"name": "brakes.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )
    # The upload is decoded and a thumbnail made: allow for a busy machine.
    expect(item(RED).locator("[data-testid=thumb] img")).to_be_visible(timeout=30_000)
    expect(item(RED)).to_have_attribute("data-rating", "now")
    assert page_width(tech) <= WIDTH

    submit(tech, tech.locator("[data-testid=inspection-complete]"))
    expect(tech.locator("[data-testid=inspection-completed]")).to_be_visible()
    propose = tech.locator("[data-testid=propose-form]")
    expect(propose.locator("input[type=checkbox]:checked")).to_have_count(2)
    submit(tech, tech.locator("[data-testid=propose-button]"))
    proposed = tech.locator("[data-testid=proposed-line]")
    expect(proposed).to_have_count(2)
    expect(proposed.filter(has_text=RED_LINE)).to_contain_text("待确认")
    expect(proposed.filter(has_text=YELLOW)).to_contain_text("待确认")
    assert page_width(tech) <= WIDTH


def advisor_prices_and_sends_estimate(advisor: Page, prices: dict[str, str]) -> str:
    """Price the proposed lines, send for estimate, send the owner the approval link."""
    advisor.reload()
    for name, price in prices.items():
        row = line_row(advisor, name)
        expect(row.locator("[data-testid=line-approval]")).to_have_text("待确认")
        row.locator("input[name=unit_price]").fill(price)
        submit(advisor, row.locator("button[type=submit]:not([name=remove])"))
        expect(line_row(advisor, name).locator("[data-testid=line-amount]")).to_have_text(
            f"¥{price}.00"
        )
    expect(line_row(advisor, RED_LINE)).to_contain_text("🔴")
    expect(line_row(advisor, YELLOW)).to_contain_text("🟡")
    action(advisor, "estimate")
    expect(status(advisor)).to_have_text("报价中")

    advisor.click("[data-testid=send-link-estimate]")
    sent = advisor.locator("[data-testid=sent-link-url]")
    expect(sent).to_be_visible()
    url = sent.input_value()
    assert link_from_outbox("estimate") == urlsplit(url).path  # the same link as the text
    return urlsplit(url).path


def owner_decides(owner: Page, path: str, total: str) -> None:
    """On the phone: the red finding with its photo; approve the red line, decline the
    yellow one with a reason."""
    owner.goto(path)
    expect(owner.locator("h1")).to_have_text("请确认维修项目")
    expect(owner.locator("[data-testid=car-plate]")).to_have_text(PLATE)
    findings = owner.locator("[data-testid=findings]")
    expect(findings).to_contain_text(RED)
    expect(findings.locator("img").first).to_be_visible()

    red = owner.locator("[data-testid=line]", has_text=RED_LINE)
    submit(owner, red.locator("[data-testid=approve]"))
    expect(owner.locator("[data-testid=portal-message]")).to_contain_text(f"已同意：{RED_LINE}")
    expect(red.locator("[data-testid=line-decision]")).to_contain_text("已同意")

    yellow = owner.locator("[data-testid=line]", has_text=YELLOW)
    yellow.locator("[data-testid=decline]").click()
    yellow.locator("[data-testid=decline-reason]").fill(DECLINE_REASON)
    submit(owner, yellow.locator("[data-testid=confirm-decline]"))
    expect(yellow.locator("[data-testid=line-decision]")).to_contain_text("已拒绝")
    expect(yellow.locator("[data-testid=line-decision]")).to_contain_text(DECLINE_REASON)
    expect(owner.locator("[data-testid=total-gross]")).to_have_text(total)
    assert page_width(owner) <= WIDTH


def advisor_starts_and_assigns(advisor: Page, technician: str) -> None:
    advisor.reload()
    expect(line_row(advisor, RED_LINE).locator("[data-testid=line-approval]")).to_have_text(
        "已同意"
    )
    declined = line_row(advisor, YELLOW)
    expect(declined.locator("[data-testid=line-approval]")).to_have_text("已拒绝")
    expect(declined).to_contain_text(DECLINE_REASON)
    action(advisor, "start")
    expect(status(advisor)).to_have_text("维修中")
    row = line_row(advisor, RED_LINE)
    row.locator("select[name=technicians]").select_option(label=technician)
    submit(advisor, row.locator("[data-testid=assign]"))
    assigned = line_row(advisor, RED_LINE).locator("select[name=technicians] option:checked")
    expect(assigned).to_have_text(technician)


def technician_does_the_job(tech: Page) -> None:
    """My jobs: clock on, clock off, done."""
    open_menu_item(tech, "floor")
    job = tech.locator(
        "[data-testid=job]", has=tech.locator("[data-testid=job-plate]", has_text=PLATE)
    )
    line = job.locator("[data-testid=job-line]", has_text=RED)
    expect(line.locator("[data-testid=line-progress]")).to_have_text("未开始")
    line.locator("[data-testid=clock-on]").click()
    expect(tech.locator("[data-testid=running]")).to_contain_text(PLATE)
    expect(line.locator("[data-testid=line-progress]")).to_have_text("维修中")
    line.locator("[data-testid=clock-off]").click()
    expect(tech.locator("[data-testid=running]")).to_have_count(0)
    expect(line.locator("[data-testid=clock-on]")).to_be_visible()
    tech.once("dialog", lambda dialog: dialog.accept())  # "mark this item done?"
    line.locator("[data-testid=mark-done]").click()
    expect(tech.locator("[data-testid=floor-notice]")).to_contain_text(RED)
    expect(line.locator("[data-testid=line-progress]")).to_have_text("已完成")
    expect(line.locator("[data-testid=mark-done]")).to_have_count(0)
    assert page_width(tech) <= WIDTH


def manager_passes_qc(manager: Page, number: str) -> None:
    nav(manager, "workorder")
    submit(manager, manager.locator("[data-testid=workorder-table] a", has_text=number))
    expect(status(manager)).to_have_text("质检")
    qc = manager.locator("[data-testid=qc-form]")
    for box in qc.locator("input[name^=qc_]").all():
        box.check()
    submit(manager, qc.locator("[data-testid=qc-submit]"))
    expect(status(manager)).to_have_text("待交车")
    expect(manager.locator("[data-testid=wo-history]")).to_contain_text("质检通过")


def advisor_settles(advisor: Page, total: str, cash: str, wechat: str) -> None:
    advisor.reload()
    expect(status(advisor)).to_have_text("待交车")
    settle = advisor.locator("[data-testid=settle-form]")
    expect(settle.locator("[data-testid=balance]")).to_have_text(total)
    settle.locator("select[name=method_0]").select_option("cash")
    settle.locator("[data-testid=amount-0]").fill(cash)
    settle.locator("select[name=method_1]").select_option("wechat")
    settle.locator("[data-testid=amount-1]").fill(wechat)
    submit(advisor, settle.locator("[data-testid=settle-submit]"))
    expect(status(advisor)).to_have_text("已结算")
    payments = advisor.locator("[data-testid=wo-payments]")
    expect(payments).to_contain_text(f"现金 · ¥{cash}")
    expect(payments).to_contain_text(f"微信支付 · ¥{wechat}")
    expect(advisor.locator("[data-testid=balance]")).to_have_text("0.00")

    advisor.click("[data-testid=wo-print]")
    printed = advisor.locator("[data-testid=print-settlement]")
    expect(printed).to_be_visible()
    pdf = advisor.request.get(printed.get_attribute("href"))
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")


def owner_rates(owner: Page, path: str) -> None:
    owner.goto(path)
    expect(owner.locator("h1")).to_have_text("服务满意度评价")
    owner.locator('label.portal-nps-option:has([data-testid="nps-10"])').click()
    for name in ("timeliness", "professionalism", "attitude", "result"):
        owner.click(f"label[for={name}-5]")
    owner.fill("[data-testid=survey-comment]", "师傅很专业，价格透明")
    assert page_width(owner) <= WIDTH
    submit(owner, owner.locator("[data-testid=survey-submit]"))
    expect(owner.locator("[data-testid=survey-thanks]")).to_contain_text("感谢您的评价")


def advisor_opens_the_next_visit(advisor: Page, number: str) -> None:
    """The car's page shows the declined line; a new work order offers it again."""
    submit(advisor, advisor.locator("[data-testid=wo-vehicle] a", has_text=PLATE))
    recommendations = advisor.locator("[data-testid=profile-recommendations]")
    expect(recommendations).to_contain_text(YELLOW)
    expect(recommendations).to_contain_text(DECLINE_REASON)
    expect(advisor.locator("[data-testid=profile-work-orders]")).to_contain_text(number)
    expect(advisor.locator("[data-testid=profile-survey]")).to_contain_text("NPS 10")

    car = advisor.locator("[data-testid=vehicle-card]", has_text=PLATE)
    submit(advisor, car.locator("[data-testid=open-workorder]"))
    expect(advisor.get_by_text(YELLOW)).to_be_visible()  # the open recommendations
    submit(advisor, advisor.locator("[data-testid=workorder-form] [data-testid=open-workorder]"))
    expect(status(advisor)).to_have_text("草稿")
    expect(advisor.locator("[data-testid=wo-number]")).not_to_have_text(number)
    offered = advisor.locator("[data-testid=wo-recommendations]")
    expect(offered).to_contain_text("上次建议项目")
    expect(offered).to_contain_text(YELLOW)
    expect(offered).to_contain_text(DECLINE_REASON)
    submit(advisor, offered.locator("[data-testid=add-recommendation]", has_text="加入本次工单"))
    expect(line_row(advisor, YELLOW).locator("[data-testid=line-approval]")).to_have_text("待确认")
    expect(advisor.locator("[data-testid=wo-recommendations]")).to_have_count(0)


# --- the test -------------------------------------------------------------------------------


@pytest.fixture
def checklist(demo):
    """HQ's check-in checklist, as the full demo has it (HQ has no page for it yet, and the
    "chain" demo of the browser tests loads stores and staff only)."""
    from autocrm.core.models import Organization
    from autocrm.service.demo import INSPECTION_ITEMS
    from autocrm.service.models import InspectionTemplate, InspectionTemplateItem

    org = Organization.objects.get(code="antu")
    template = InspectionTemplate.objects.create(org=org, name=CHECKLIST)
    items = [(section, name) for section, names in INSPECTION_ITEMS for name in names]
    InspectionTemplateItem.objects.bulk_create(
        InspectionTemplateItem(template=template, section=section, name=name, sort=i)
        for i, (section, name) in enumerate(items, start=1)
    )
    return template


def test_whole_visit(new_context, demo, checklist, settings, tmp_path):
    from autocrm.core.models import User

    settings.MEDIA_ROOT = tmp_path
    technician = User.objects.get(username="tech1").display_name

    owner = phone(new_context)
    time = owner_books_online(owner)

    advisor = signed_in(new_context, "advisor1")
    number = advisor_checks_in(advisor, time)

    tech = signed_in(new_context, "tech1", **PHONE)
    technician_inspects(tech)

    estimate = advisor_prices_and_sends_estimate(advisor, {RED_LINE: "480", YELLOW: "120"})
    owner_decides(owner, estimate, total="¥480.00")

    advisor_starts_and_assigns(advisor, technician)
    technician_does_the_job(tech)

    advisor.reload()
    expect(line_row(advisor, RED_LINE)).to_contain_text("✅")
    action(advisor, "qc")
    expect(status(advisor)).to_have_text("质检")
    manager_passes_qc(signed_in(new_context, "manager1"), number)

    advisor_settles(advisor, total="480.00", cash="200.00", wechat="280.00")
    owner_rates(owner, link_from_outbox("survey"))

    advisor.reload()
    advisor_opens_the_next_visit(advisor, number)
