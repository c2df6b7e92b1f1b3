"""The advisor's visit in the browser: booking → arrival → items → owner's decision by phone →
dispatch → QC → settlement with a split payment."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.helpers import login

pytestmark = pytest.mark.e2e


def test_advisor_runs_a_visit(page, demo):
    from autocrm.core.models import User
    from autocrm.service import services
    from autocrm.service.models import WorkOrder

    login(page, "advisor1")
    day = timezone.localdate() + datetime.timedelta(days=1)
    page.goto(f"/appointments/?date={day}")
    form = page.locator("[data-testid=booking-form]")
    form.locator("select[name=starts_at]").select_option(index=2)
    form.locator("input[name=name]").fill("钱七")
    form.locator("input[name=mobile]").fill("139 0000 7777")
    form.locator("input[name=plate]").fill("京Ｑ·7A777 ")
    with page.expect_navigation():
        form.locator("[data-testid=book]").click()
    row = page.locator("[data-testid=appointment]", has_text="钱七")
    expect(row).to_contain_text("京Q7A777")
    with page.expect_navigation():
        row.locator("[data-testid=arrive]").click()
    expect(page.locator("[data-testid=wo-status]")).to_have_text("草稿")

    add = page.locator("[data-testid=add-line-form]")
    add.locator("input[name=name]").fill("更换刹车片")
    add.locator("input[name=unit_price]").fill("380")
    with page.expect_navigation():
        add.locator("[data-testid=add-line]").click()
    add = page.locator("[data-testid=add-line-form]")
    add.locator("input[name=name]").fill("空调清洗")
    add.locator("input[name=unit_price]").fill("120")
    with page.expect_navigation():
        add.locator("[data-testid=add-line]").click()
    lines = page.locator("[data-testid=wo-lines] tbody tr")
    expect(lines).to_have_count(2)

    approval = page.locator("[data-testid=approval-form]")
    selects = approval.locator("select[name^=decision_]")
    selects.nth(0).select_option("approved")
    selects.nth(1).select_option("declined")
    approval.locator("input[name^=reason_]").nth(1).fill("下次再做")
    approval.locator("select[name=channel]").select_option("phone")
    with page.expect_navigation():
        approval.locator("button[type=submit]").click()
    expect(page.locator("[data-testid=wo-total]")).to_have_text("¥380.00")

    with page.expect_navigation():
        page.locator("[data-action=start]").click()
    expect(page.locator("[data-testid=wo-status]")).to_have_text("维修中")
    tech = User.objects.get(username="tech1")
    assign = page.locator("[data-testid=wo-lines] form[action$='/assign/']").first
    assign.locator("select").select_option(str(tech.pk))
    with page.expect_navigation():
        assign.locator("[data-testid=assign]").click()

    wo = WorkOrder.objects.get(vehicle__plate="京Q7A777")
    line = wo.lines.get(approval="approved")
    services.mark_line_done(tech, line)  # the technician's phone pages are tested on their own
    page.reload()
    with page.expect_navigation():
        page.locator("[data-action=qc]").click()
    qc = page.locator("[data-testid=qc-form]")
    for box in qc.locator("input[type=checkbox]").all():
        box.check()
    with page.expect_navigation():
        qc.locator("[data-testid=qc-submit]").click()
    expect(page.locator("[data-testid=wo-status]")).to_have_text("待交车")

    settle = page.locator("[data-testid=settle-form]")
    settle.locator("select[name=method_0]").select_option("wechat")
    settle.locator("[data-testid=amount-0]").fill("300")
    settle.locator("select[name=method_1]").select_option("cash")
    settle.locator("[data-testid=amount-1]").fill("80")
    with page.expect_navigation():
        settle.locator("[data-testid=settle-submit]").click()
    expect(page.locator("[data-testid=wo-status]")).to_have_text("已结算")
    expect(page.locator("[data-testid=wo-payments]")).to_contain_text("微信支付")
    page.goto(f"/customers/{wo.customer_id}/")
    expect(page.locator("[data-testid=profile-recommendations]")).to_contain_text("空调清洗")
    expect(page.locator("[data-testid=profile-work-orders]")).to_contain_text(wo.number)
