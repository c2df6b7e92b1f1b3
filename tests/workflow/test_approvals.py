"""Approvals of moves: by role, N of M named approvers, tiered by amount. A waiting approval
blocks the move until granted; each decision is recorded; the grant makes the move."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autocrm.automation.models import Task
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.service.models import WorkOrder, WorkOrderEvent
from autocrm.workflow import approvals, processes, selectors, services
from autocrm.workflow.models import ApprovalRequest, StageVisit
from tests import factories as f
from tests.workflow.helpers import columns, manager_approves, order_at, process_of, pstage

pytestmark = pytest.mark.django_db
R = ApprovalRequest.Status


@pytest.fixture
def cols(world):
    process = process_of(world.hq)
    return columns(world.a1, process)


def ask(user, wo, target) -> ApprovalRequest:
    with pytest.raises(Conflict) as err:
        services.move(user, wo, target.pk)
    assert err.value.code == "approval_pending" and err.value.status == 409
    return ApprovalRequest.objects.get(pk=err.value.extra["approval_id"])


def stage_of(wo):
    wo.refresh_from_db()
    return wo.stage


def test_role_approval_blocks_until_granted_then_moves(world, cols):
    manager_approves(world.hq)
    wo = order_at(world.a1, cols["estimate"])
    with pytest.raises(Conflict) as err:
        services.move(world.advisor_a1, wo, cols["repair"].pk)
    assert str(err.value.message) == (
        "移到「维修中」需要店长审批（目前已批准 0/1）。审批申请已提交，批准后工单会自动移过去。"
    )
    req = ApprovalRequest.objects.get(pk=err.value.extra["approval_id"])
    assert (req.status, req.approver_role, req.needed, req.requested_by) == (
        R.PENDING,
        "store_manager",
        1,
        world.advisor_a1,
    )
    assert stage_of(wo) == cols["estimate"]
    again = ask(world.advisor_a1, wo, cols["repair"])  # a second try finds the same request
    assert again.pk == req.pk and ApprovalRequest.objects.count() == 1
    task = Task.objects.get(key=f"approval:{req.pk}")
    assert (task.role, task.store_id, task.work_order_id, task.status) == (
        "store_manager",
        world.a1.pk,
        wo.pk,
        Task.Status.OPEN,
    )
    assert "审批工单" in task.title
    card = selectors.get_card(world.manager_a1, wo.pk)[0]
    assert card.awaiting_approval
    assert [r.pk for r in selectors.approvals_to_decide(world.manager_a1)] == [req.pk]
    assert selectors.approvals_to_decide(world.advisor_a1) == []  # not an approver

    done = approvals.decide(world.manager_a1, req, approve=True, note="客户已确认")
    assert done.status == R.USED  # granted, and the move was made
    assert stage_of(wo) == cols["repair"]
    visit = StageVisit.objects.get(work_order=wo, left_at__isnull=True)
    assert visit.moved_by == world.advisor_a1  # made for the person who asked
    decision = done.decisions.get()
    assert (decision.approver, decision.approve, decision.note) == (
        world.manager_a1,
        True,
        "客户已确认",
    )
    assert decision.at is not None
    task.refresh_from_db()
    assert task.status == Task.Status.DONE and task.completed_by == world.manager_a1
    texts = list(WorkOrderEvent.objects.filter(work_order=wo).values_list("kind", "text"))
    assert ("approval", f"{world.manager_a1.display_name} 批准了 待客户确认 → 维修中") in texts
    assert ("stage", "待客户确认 → 维修中") in texts
    assert not selectors.get_card(world.manager_a1, wo.pk)[0].awaiting_approval


def test_refusal_needs_a_reason_and_keeps_the_order(world, cols):
    manager_approves(world.hq)
    wo = order_at(world.a1, cols["estimate"])
    req = ask(world.advisor_a1, wo, cols["repair"])
    with pytest.raises(Invalid) as err:
        approvals.decide(world.manager_a1, req, approve=False)
    assert "note" in err.value.fields
    done = approvals.decide(world.manager_a1, req, approve=False, note="报价太高")
    assert done.status == R.REFUSED and done.decided_at is not None
    assert stage_of(wo) == cols["estimate"]
    with pytest.raises(Conflict):  # decided requests take no more decisions
        approvals.decide(world.manager_a1, req, approve=True)
    assert Task.objects.get(key=f"approval:{req.pk}").status == Task.Status.DONE
    newer = ask(world.advisor_a1, wo, cols["repair"])  # asking again makes a new request
    assert newer.pk != req.pk and newer.status == R.PENDING


def test_who_may_decide(world, cols):
    manager_approves(world.hq)
    wo = order_at(world.a1, cols["estimate"])
    own = ask(world.manager_a1, wo, cols["repair"])
    with pytest.raises(Forbidden):  # nobody approves their own request
        approvals.decide(world.manager_a1, own, approve=True)
    with pytest.raises(Forbidden):  # not a store manager
        approvals.decide(world.region_mgr, own, approve=True)
    with pytest.raises(NotFound):  # another store's manager
        approvals.decide(world.manager_a2, own, approve=True)
    with pytest.raises(NotFound):  # another org
        approvals.decide(world.other_admin, own, approve=True)
    with pytest.raises(NotFound):
        selectors.get_approval(world.manager_a2, own.pk)
    WorkOrder.objects.filter(pk=wo.pk).update(status=WorkOrder.Status.CANCELLED)
    other_manager = f.staff(world.org, "store_manager", stores=[world.a1])
    with pytest.raises(Conflict) as err:
        approvals.decide(other_manager, own, approve=True)
    assert err.value.code == "closed"


def test_n_of_m_named_approvers(world, cols):
    processes.save_transition(
        world.hq,
        "work_order",
        source="estimate",
        target="repair",
        approval="people",
        approvers=[world.manager_a1.pk, world.region_mgr.pk, world.hq.username],
        approvals_needed=2,
    )
    wo = order_at(world.a1, cols["estimate"])
    req = ask(world.advisor_a1, wo, cols["repair"])
    assert sorted(req.approver_ids) == sorted(
        [world.manager_a1.pk, world.region_mgr.pk, world.hq.pk]
    )
    assert Task.objects.filter(key__startswith=f"approval:{req.pk}:").count() == 3
    assert approvals.decide(world.manager_a1, req, approve=True).status == R.PENDING
    with pytest.raises(Conflict):  # one decision each
        approvals.decide(world.manager_a1, req, approve=True)
    with pytest.raises(Forbidden):  # not named
        approvals.decide(f.staff(world.org, "store_manager", stores=[world.a1]), req, approve=True)
    # One no of three still leaves two yeses possible.
    assert approvals.decide(world.hq, req, approve=False, note="再看看").status == R.PENDING
    assert stage_of(wo) == cols["estimate"]
    assert approvals.decide(world.region_mgr, req, approve=True).status == R.USED
    assert stage_of(wo) == cols["repair"]
    assert req.decisions.count() == 3
    assert (
        Task.objects.filter(key__startswith=f"approval:{req.pk}:", status=Task.Status.OPEN).count()
        == 0
    )


def test_n_of_m_is_refused_once_it_cannot_be_reached(world, cols):
    processes.save_transition(
        world.hq,
        "work_order",
        source="estimate",
        target="repair",
        approval="people",
        approvers=[world.manager_a1.pk, world.region_mgr.pk, world.hq.pk],
        approvals_needed=2,
    )
    wo = order_at(world.a1, cols["estimate"])
    req = ask(world.advisor_a1, wo, cols["repair"])
    approvals.decide(world.manager_a1, req, approve=False, note="不同意")
    assert approvals.decide(world.hq, req, approve=False, note="不同意").status == R.REFUSED
    assert stage_of(wo) == cols["estimate"]


@pytest.fixture
def tiered(world):
    return processes.save_transition(
        world.hq,
        "work_order",
        source="estimate",
        target="repair",
        approval="tiered",
        amount_field="discount_total",
        tiers=[
            {"over": "500", "role": "store_manager"},
            {"over": "2000", "role": "region_manager"},
        ],
    )


def test_tiered_by_discount(world, cols, tiered):
    small = order_at(world.a1, cols["estimate"], discount_total=Decimal("500.00"))
    assert services.move(world.advisor_a1, small, cols["repair"].pk).stage == cols["repair"]

    medium = order_at(world.a1, cols["estimate"], discount_total=Decimal("800.00"))
    req = ask(world.advisor_a1, medium, cols["repair"])
    assert (req.approver_role, req.amount, req.amount_label) == (
        "store_manager",
        Decimal("800.00"),
        "折扣",
    )
    assert approvals.decide(world.manager_a1, req, approve=True).status == R.USED

    large = order_at(world.a1, cols["estimate"], discount_total=Decimal("2500.00"))
    req = ask(world.advisor_a1, large, cols["repair"])
    assert req.approver_role == "region_manager"
    assert "区域经理" in approvals.pending_message(req)
    with pytest.raises(Forbidden):  # the store manager's tier is not enough
        approvals.decide(world.manager_a1, req, approve=True)
    assert approvals.decide(world.region_mgr, req, approve=True).status == R.USED
    assert stage_of(large) == cols["repair"]


def test_a_grant_covers_only_the_amount_it_was_asked_for(world, cols, tiered):
    process = process_of(world.hq)
    wo = order_at(world.a1, cols["estimate"], discount_total=Decimal("800.00"), mileage_in=100)
    processes.update_stage(world.hq, pstage(process, "estimate"), required_fields=["mileage_in"])
    req = ask(world.advisor_a1, wo, cols["repair"])
    WorkOrder.objects.filter(pk=wo.pk).update(mileage_in=None)  # emptied meanwhile
    granted = approvals.decide(world.manager_a1, req, approve=True)
    assert granted.status == R.APPROVED  # granted, but the move could not be made yet
    assert stage_of(wo) == cols["estimate"]
    WorkOrder.objects.filter(pk=wo.pk).update(mileage_in=100, discount_total=Decimal("900.00"))
    bigger = ask(world.advisor_a1, wo, cols["repair"])  # 900 > the 800 approved: ask again
    assert bigger.pk != req.pk and bigger.amount == Decimal("900.00")
    WorkOrder.objects.filter(pk=wo.pk).update(discount_total=Decimal("800.00"))
    assert services.move(world.advisor_a1, wo, cols["repair"].pk).stage == cols["repair"]
    req.refresh_from_db()
    bigger.refresh_from_db()
    assert (req.status, bigger.status) == (R.USED, R.CANCELLED)  # the other one is withdrawn
    assert Task.objects.get(key=f"approval:{bigger.pk}").status == Task.Status.DONE


def test_moving_elsewhere_withdraws_the_waiting_request(world, cols):
    for target in ("repair", "reception"):
        processes.save_transition(
            world.hq,
            "work_order",
            source="estimate",
            target=target,
            approval="role" if target == "repair" else "none",
            approval_role="store_manager" if target == "repair" else "",
        )
    wo = order_at(world.a1, cols["estimate"])
    req = ask(world.advisor_a1, wo, cols["repair"])
    services.move(world.advisor_a1, wo, cols["reception"].pk)
    req.refresh_from_db()
    assert req.status == R.CANCELLED
    assert selectors.approvals_to_decide(world.manager_a1) == []
