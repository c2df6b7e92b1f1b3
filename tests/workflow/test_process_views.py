"""Process pages: HQ's editor (stages, transitions, refusals in place), the board's Chinese
reason for a refused move, and the approvals list where an approver decides."""

from __future__ import annotations

import pytest

from autocrm.workflow import processes
from autocrm.workflow.models import ApprovalRequest, ProcessStage, Transition
from tests.workflow.helpers import column, manager_approves, order_at, process_of, pstage

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def stage_post(stage, **data) -> dict:
    fields = {
        "name": stage.name,
        "owner_role": stage.owner_role,
        "limit_hours": "",
        "escalate_role": "",
        "escalate_to": "",
    }
    fields.update(data)
    return {f"s{stage.pk}-{k}": v for k, v in fields.items()}


def test_hq_opens_the_editor_others_may_not(world, login):
    client = login(world.hq)
    response = client.get("/process/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "流程设置" in html and "待接车" in html and "阶段流转" in html
    assert 'data-nav="process"' in html
    for user in (world.manager_a1, world.advisor_a1):
        assert login(user).get("/process/").status_code == 403
    assert 'data-nav="process"' not in login(world.manager_a1).get("/board/").content.decode()
    assert client.get("/process/?entity=spaceship").status_code == 404


def test_hq_sets_a_limit_with_escalation_and_required_fields(world, login):
    client = login(world.hq)
    client.get("/process/")
    stage = pstage(process_of(world.hq), "repair")
    data = stage_post(
        stage,
        owner_role="technician",
        limit_hours="1.5",
        escalate_role="store_manager",
        required_fields=["promised_at", "mileage_in"],
    )
    response = client.post(f"/process/stages/{stage.pk}/", data)
    assert response.status_code == 302
    stage.refresh_from_db()
    assert (stage.limit_minutes, stage.escalate_role, stage.owner_role) == (
        90,
        "store_manager",
        "technician",
    )
    assert stage.required_fields == ["promised_at", "mileage_in"]
    html = client.get(response.url).content.decode()
    assert "时限 1.5 工作小时 → 店长" in html and "已保存" in html


def test_editor_shows_refusals_in_place(world, login):
    client = login(world.hq)
    client.get("/process/")
    stage = pstage(process_of(world.hq), "repair")
    response = client.post(
        f"/process/stages/{stage.pk}/", stage_post(stage, escalate_to="nobody", limit_hours="1")
    )
    assert response.status_code == 422
    assert "请选择本集团在职的员工。" in response.content.decode()
    response = client.post(f"/process/stages/{stage.pk}/", stage_post(stage, name="质检"))
    assert response.status_code == 422 and "流程中已有同名阶段。" in response.content.decode()


def test_adding_and_deleting_stages(world, login):
    client = login(world.hq)
    client.get("/process/")
    response = client.post(
        "/process/stages/new/",
        {"entity": "work_order", "new-name": "洗车", "new-limit_hours": "0.5"},
    )
    assert response.status_code == 302
    wash = ProcessStage.objects.get(name="洗车")
    assert wash.limit_minutes == 30
    wo = order_at(world.a1, column(world.a1, wash))
    response = client.post(f"/process/stages/{wash.pk}/delete/", {f"d{wash.pk}-move_to": ""})
    assert response.status_code == 409
    assert "「洗车」中还有 1 张未完成工单" in response.content.decode()
    delivery = pstage(process_of(world.hq), "delivery")
    response = client.post(
        f"/process/stages/{wash.pk}/delete/", {f"d{wash.pk}-move_to": str(delivery.pk)}
    )
    assert response.status_code == 302
    wo.refresh_from_db()
    assert wo.stage.process_stage == delivery
    assert not ProcessStage.objects.filter(pk=wash.pk).exists()


def test_adding_a_transition_with_condition_and_tiers(world, login):
    client = login(world.hq)
    client.get("/process/")
    process = process_of(world.hq)
    estimate, repair = pstage(process, "estimate"), pstage(process, "repair")
    response = client.post(
        "/process/transitions/new/",
        {
            "entity": "work_order",
            "nt-source": estimate.pk,
            "nt-target": repair.pk,
            "nt-allowed_roles": ["service_advisor", "store_manager"],
            "nt-condition_field": "work_order.total",
            "nt-condition_op": "gt",
            "nt-condition_value": "2000",
            "nt-approval": "tiered",
            "nt-amount_field": "discount_total",
            "nt-tier1_over": "500",
            "nt-tier1_role": "store_manager",
            "nt-tier2_over": "2000",
            "nt-tier2_role": "region_manager",
        },
    )
    assert response.status_code == 302
    t = Transition.objects.get(source=estimate, target=repair)
    assert t.condition == {"field": "work_order.total", "op": "gt", "value": "2000.00"}
    assert t.tiers == [
        {"over": "500.00", "role": "store_manager"},
        {"over": "2000.00", "role": "region_manager"},
    ]
    html = client.get("/process/").content.decode()
    assert "待客户确认 → 维修中" in html and "合计 &gt; 2000.00" in html
    assert "超过 ¥500.00：店长" in html
    # The condition pickers come from the rules engine's catalog, grouped by record.
    assert 'value="customer.level"' in html and 'value="work_order.advisor"' in html
    assert '<optgroup label="客户">' in html and '<option value="set">已填写</option>' in html
    # Saving the existing one changes its rules, never its stages.
    response = client.post(
        f"/process/transitions/{t.pk}/",
        {
            f"t{t.pk}-source": repair.pk,
            f"t{t.pk}-target": estimate.pk,
            f"t{t.pk}-approval": "role",
            f"t{t.pk}-approval_role": "store_manager",
        },
    )
    assert response.status_code == 302
    t.refresh_from_db()
    assert (t.source, t.target, t.approval, t.condition) == (estimate, repair, "role", {})
    response = client.post(
        "/process/transitions/new/",
        {
            "entity": "work_order",
            "nt-source": estimate.pk,
            "nt-target": repair.pk,
            "nt-approval": "none",
            "nt-condition_json": "{not json",
        },
    )
    assert response.status_code == 422 and "这不是有效的 JSON。" in response.content.decode()
    assert client.post(f"/process/transitions/{t.pk}/delete/").status_code == 302
    assert not Transition.objects.exists()


def test_refused_move_on_the_board_says_why_in_chinese(world, login):
    process = process_of(world.hq)
    processes.update_stage(world.hq, pstage(process, "reception"), required_fields=["mileage_in"])
    wo = order_at(world.a1, column(world.a1, pstage(process, "reception")))
    target = column(world.a1, pstage(process, "inspection"))
    client = login(world.advisor_a1)
    response = client.post(f"/board/move/{wo.pk}/", {"stage": target.pk}, **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "离开「待接车」前请先填写：进厂里程（公里）。" in html
    response = client.post(f"/board/move/{wo.pk}/", {"stage": target.pk}, follow=True)
    assert "离开「待接车」前请先填写" in response.content.decode()


def test_approver_decides_on_the_approvals_page(world, login):
    manager_approves(world.hq)
    process = process_of(world.hq)
    wo = order_at(world.a1, column(world.a1, pstage(process, "estimate")))
    target = column(world.a1, pstage(process, "repair"))
    response = login(world.advisor_a1).post(f"/board/move/{wo.pk}/", {"stage": target.pk}, **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "需要店长审批" in html and 'data-testid="card-approval"' in html
    req = ApprovalRequest.objects.get()
    manager = login(world.manager_a1)
    page = manager.get("/approvals/").content.decode()
    assert f'data-approval-id="{req.pk}"' in page and "待客户确认 → 维修中" in page
    assert 'data-nav="approval"' in page
    assert (
        f'data-approval-id="{req.pk}"'
        not in login(world.manager_a2).get("/approvals/").content.decode()
    )
    assert (
        login(world.manager_a2)
        .post(f"/approvals/{req.pk}/decide/", {"decision": "approve"})
        .status_code
        == 404
    )
    response = manager.post(f"/approvals/{req.pk}/decide/", {"decision": "refuse"}, follow=True)
    assert "请填写拒绝理由。" in response.content.decode()
    response = manager.post(
        f"/approvals/{req.pk}/decide/", {"decision": "approve", "note": "可以"}, follow=True
    )
    assert "已批准：工单已流转。" in response.content.decode()
    wo.refresh_from_db()
    assert wo.stage == target
    mine = login(world.advisor_a1).get("/approvals/").content.decode()
    assert "已批准并流转" in mine
