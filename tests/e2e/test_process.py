"""HQ sets a one-hour limit with escalation to the store manager on the "repair" stage; a work
order that entered that stage three business hours ago is escalated by the scan; the store
manager sees the card flagged on the board, the task in the inbox and the line in the work
order's history. On a phone the process editor and the approvals list fit the screen."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from autocrm.automation.models import Task
from autocrm.core.models import Store, User
from autocrm.workflow import escalation, processes
from autocrm.workflow.models import ProcessStage, StageVisit
from tests.e2e.helpers import login, nav, page_width, path_of
from tests.workflow.helpers import backdate, column, order_at

pytestmark = pytest.mark.e2e


def has_task_inbox() -> bool:
    try:
        reverse("task_inbox")
    except NoReverseMatch:
        return False
    return True


def test_hq_limit_escalates_to_the_store_manager(new_context, demo):
    hq = new_context().new_page()
    login(hq, "hq")
    nav(hq, "process")
    assert path_of(hq) == "/process/"
    row = hq.locator("[data-testid=process-stage][data-stage-key=repair]")
    row.locator("[data-testid=stage-summary]").click()
    row.locator("[name$='-limit_hours']").fill("1")
    row.locator("[name$='-escalate_role']").select_option("store_manager")
    with hq.expect_navigation():
        row.locator("[data-testid=save-process-stage]").click()
    expect(hq.locator(".alert-success")).to_contain_text("已保存")
    expect(
        hq.locator("[data-testid=process-stage][data-stage-key=repair] [data-testid=stage-limit]")
    ).to_have_text("时限 1 工作小时 → 店长")
    stage = ProcessStage.objects.get(key="repair")
    assert (stage.limit_minutes, stage.escalate_role) == (60, "store_manager")

    # A car entered "repair" three business hours ago in the first store.
    store = Store.objects.get(pk=demo.store_ids["s001"])
    wo = order_at(store, column(store, stage))
    visit = StageVisit.objects.get(work_order=wo, left_at__isnull=True)
    assert (visit.limit_minutes, visit.escalate_role) == (60, "store_manager")
    visit = backdate(visit, 180)
    assert escalation.scan() == 1
    assert escalation.scan() == 0
    task = Task.objects.get(key=f"escalate:{visit.pk}")
    assert (task.kind, task.role, task.store_id, task.work_order_id) == (
        Task.Kind.ESCALATION,
        "store_manager",
        store.pk,
        wo.pk,
    )

    manager = new_context().new_page()
    login(manager, "manager1")
    nav(manager, "board")
    card = manager.locator(f"[data-testid=board-card][data-card-id='{wo.pk}']")
    expect(card.locator("[data-testid=card-escalated]")).to_have_text("已升级")
    assert "board-card-overdue" in (card.get_attribute("class") or "")
    column_head = manager.locator(f".board-column[data-stage-id='{wo.stage_id}']")
    expect(column_head.locator("[data-testid=column-limit]")).to_have_text("时限 1 工作小时")

    # A move out of "repair" without the promised time is refused, with the reason on the board.
    processes.update_stage(User.objects.get(username="hq"), stage, required_fields=["promised_at"])
    card.locator("[data-testid=move-menu]").click()
    with manager.expect_response(lambda r: f"/board/move/{wo.pk}/" in r.url) as answer:
        card.locator("[data-testid=move-to]", has_text="质检").click()
    assert answer.value.status == 409
    expect(manager.locator("[data-testid=board-error]")).to_have_text(
        "离开「维修中」前请先填写：承诺交车时间。"
    )
    expect(manager.locator(f"[data-testid=board-card][data-card-id='{wo.pk}']")).to_be_visible()

    if has_task_inbox():
        manager.goto("/tasks/")
        row = manager.locator(f"[data-testid=task-row][data-task-id='{task.pk}']")
        expect(row).to_contain_text(f"超时：工单 {wo.number} 在「维修中」超过时限 1 工作小时")

    manager.goto(f"/work-orders/{wo.pk}/")
    expect(manager.locator("[data-testid=wo-history]")).to_contain_text(
        "在「维修中」超过时限 1 工作小时：已升级给店长"
    )


def test_process_and_approvals_pages_fit_a_phone(new_context, demo):
    phone = new_context(viewport={"width": 375, "height": 740}).new_page()
    login(phone, "hq")
    phone.goto("/process/")
    row = phone.locator("[data-testid=process-stage][data-stage-key=repair]")
    row.locator("[data-testid=stage-summary]").click()
    expect(row.locator("[data-testid=save-process-stage]")).to_be_visible()
    phone.locator("[data-testid=add-transition-open]").click()
    expect(phone.locator("[data-testid=add-transition]")).to_be_visible()
    assert page_width(phone) <= 375
    phone.goto("/approvals/")
    expect(phone.locator("[data-testid=approvals-none]")).to_be_visible()
    assert page_width(phone) <= 375
