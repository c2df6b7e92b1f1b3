"""HQ sets up a check-in checklist in the settings (items added, edited and reordered in place),
then a technician chooses it on a phone when inspecting a car."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login, logout, nav, path_of

pytestmark = pytest.mark.e2e

WIDTH = 375


@pytest.fixture
def job(demo):
    """An in-progress order at the first store with a job assigned to tech1."""
    from autocrm.core.models import Store, User
    from autocrm.service.models import WorkOrder, WorkOrderLine
    from tests import customer_factories as cf
    from tests import service_factories as sf

    store = Store.objects.get(code="s001")
    car = cf.vehicle(cf.customer(store, name="李四"), plate="京A66666", brand="本田", model="雅阁")
    wo = sf.work_order(store, vehicle=car, customer=car.owner, status=WorkOrder.Status.IN_PROGRESS)
    line = sf.line(wo, "小保养", approval=WorkOrderLine.Approval.APPROVED)
    line.technicians.set([User.objects.get(username="tech1")])
    return wo


def test_hq_builds_a_checklist_and_a_technician_uses_it(new_context, job):
    from autocrm.service.models import InspectionTemplate

    admin = new_context().new_page()
    login(admin, "hq")
    nav(admin, "checklist")
    assert path_of(admin) == "/settings/checklists/"
    expect(admin.locator(".page-title")).to_have_text("检查清单")

    # a new checklist: created inactive, then its items, one after the other
    admin.fill("#id_name", "保养前检查")
    with admin.expect_navigation():
        admin.click("[data-testid=create-checklist]")
    template = InspectionTemplate.objects.get(name="保养前检查")
    assert path_of(admin) == f"/settings/checklists/{template.pk}/"
    expect(admin.locator("[data-testid=checklist-state]")).to_have_text("未启用")
    expect(admin.locator("[data-testid=no-items]")).to_be_visible()

    items = admin.locator("[data-testid=checklist-item] [data-testid=item-name]")
    for section, name, count in (
        ("发动机舱", "机油液位", 1),
        (None, "防冻液", 2),  # the section stays filled in for the next item
        ("轮胎", "胎压", 3),
        ("发动机舱", "空气滤芯", 4),  # joins its section, before 轮胎
    ):
        if section is not None:
            admin.fill("#id_new-section", section)
        admin.fill("#id_new-name", name)
        admin.click("[data-testid=add-item]")
        expect(items).to_have_count(count)
        expect(admin.locator("#id_new-name")).to_have_value("")
        expect(admin.locator("#id_new-name")).to_be_focused()
    expect(items).to_have_text(["机油液位", "防冻液", "空气滤芯", "胎压"])
    expect(admin.locator("[data-testid=section-name]")).to_have_text(["发动机舱", "轮胎"])

    # a duplicate is refused in place, the page stays
    admin.fill("#id_new-section", "轮胎")
    admin.fill("#id_new-name", "胎压")
    admin.click("[data-testid=add-item]")
    expect(admin.locator("[data-testid=add-item-form]")).to_contain_text("此分组中已有同名项目")
    expect(items).to_have_count(4)

    # fix a name in place, then move 防冻液 to the top of its section
    row = admin.locator("[data-testid=checklist-item]", has_text="空气滤芯")
    row.locator("[data-testid=item-edit]").click()
    edit = admin.locator("[data-testid=checklist-item-form]")
    expect(edit).to_be_visible()
    edit.locator("input[name$=-name]").fill("空气滤清器")
    edit.locator("[data-testid=item-save]").click()
    expect(items).to_have_text(["机油液位", "防冻液", "空气滤清器", "胎压"])
    admin.locator("[data-testid=checklist-item]", has_text="防冻液").locator(
        "[data-testid=item-up]"
    ).click()
    expect(items).to_have_text(["防冻液", "机油液位", "空气滤清器", "胎压"])
    assert path_of(admin) == f"/settings/checklists/{template.pk}/"  # all in place

    with admin.expect_navigation():
        admin.click("[data-testid=activate-checklist]")
    expect(admin.locator("[data-testid=checklist-state]")).to_have_text("启用")
    nav(admin, "checklist")
    row = admin.locator("[data-testid=checklist-row]", has_text="保养前检查")
    expect(row.locator("[data-testid=checklist-count]")).to_have_text("4")
    expect(row.locator("[data-testid=checklist-state]")).to_have_text("启用")
    logout(admin)

    # the technician, on a phone, starts an inspection with it
    context = new_context(viewport={"width": WIDTH, "height": 800}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    login(phone, "tech1")
    phone.goto("/floor/")
    job_card = phone.locator("[data-testid=job]", has_text="京A66666")
    with phone.expect_navigation():
        job_card.locator("[data-testid=job-inspection]").click()
    assert path_of(phone) == f"/floor/wo/{job.pk}/inspection/"
    phone.select_option("#id_template", label="保养前检查")
    with phone.expect_navigation():
        phone.click("[data-testid=inspection-start-button]")
    results = phone.locator("[data-testid=result]")
    expect(results).to_have_count(4)
    names = [results.nth(i).get_attribute("data-name") for i in range(4)]
    assert names == ["防冻液", "机油液位", "空气滤清器", "胎压"]
    expect(phone.locator("[data-testid=inspection-meta]")).to_contain_text("保养前检查")
    assert job.inspections.get().template_id == template.pk
