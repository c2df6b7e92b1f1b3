"""The escalation scan: visits past their limit in business hours get one escalation task,
a line in the history and the board flag; exactly once, whatever the number of runs."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.automation.models import Task
from autocrm.service.models import WorkOrder, WorkOrderEvent
from autocrm.workflow import business_hours as bh
from autocrm.workflow import escalation, processes, selectors, services
from autocrm.workflow.models import StageVisit
from tests.workflow.helpers import backdate, column, order_at, process_of, pstage

pytestmark = pytest.mark.django_db
TZ = timezone.get_default_timezone()


@pytest.fixture
def repair(world):
    process = process_of(world.hq)
    stage = processes.update_stage(
        world.hq,
        pstage(process, "repair"),
        limit_minutes=60,
        escalate_role="store_manager",
        owner_role="technician",
    )
    return column(world.a1, stage)


def visit_of(wo) -> StageVisit:
    return StageVisit.objects.get(work_order=wo, left_at__isnull=True)


def test_overdue_visit_is_escalated_exactly_once(world, repair):
    wo = order_at(world.a1, repair)
    visit = backdate(visit_of(wo), 180)
    assert escalation.scan() == 1
    assert escalation.scan() == 0  # the second run finds nothing new
    tasks = Task.objects.filter(key=f"escalate:{visit.pk}")
    assert tasks.count() == 1
    task = tasks.get()
    assert (task.kind, task.role, task.store_id, task.work_order_id, task.source) == (
        Task.Kind.ESCALATION,
        "store_manager",
        world.a1.pk,
        wo.pk,
        "escalation",
    )
    assert task.title == f"超时：工单 {wo.number} 在「维修中」超过时限 1 工作小时"
    assert "负责角色：技师" in task.details
    visit.refresh_from_db()
    assert visit.escalated_at is not None and visit.escalation_task == task
    event = WorkOrderEvent.objects.get(work_order=wo, kind="escalation")
    assert event.text == "在「维修中」超过时限 1 工作小时：已升级给店长"
    assert not event.public
    card = selectors.get_card(world.manager_a1, wo.pk)[0]
    assert card.escalated
    # Even a visit claimed twice (two workers at once) makes one task.
    StageVisit.objects.filter(pk=visit.pk).update(escalated_at=None)
    assert escalation.escalate(visit.pk, timezone.now())
    assert Task.objects.filter(key=f"escalate:{visit.pk}").count() == 1


def test_only_business_hours_count(world, repair):
    hours = bh.hours_for(world.a1.pk)  # 08:30–18:00
    wo = order_at(world.a1, repair)
    monday_1730 = datetime.datetime(2026, 3, 2, 17, 30, tzinfo=TZ)
    StageVisit.objects.filter(pk=visit_of(wo).pk).update(
        entered_at=monday_1730, due_at=bh.add(hours, monday_1730, 60)
    )
    tuesday = datetime.datetime(2026, 3, 3, tzinfo=TZ)
    # Fifteen hours later by the clock, but only 50 minutes of open time.
    assert escalation.scan(now=tuesday.replace(hour=8, minute=50)) == 0
    assert escalation.scan(now=tuesday.replace(hour=9, minute=1)) == 1


def test_not_yet_due_closed_and_moved_on_visits_are_left_alone(world, repair):
    fresh = order_at(world.a1, repair)
    backdate(visit_of(fresh), 30)
    settled = order_at(world.a1, repair)
    backdate(visit_of(settled), 300)
    WorkOrder.objects.filter(pk=settled.pk).update(status=WorkOrder.Status.SETTLED)
    moved = order_at(world.a1, repair)
    backdate(visit_of(moved), 300)
    services.move(world.manager_a1, moved, column(world.a1, pstage(process_of(world.hq), "qc")).pk)
    no_limit = order_at(world.a1)  # the first stage has no limit
    StageVisit.objects.filter(work_order=no_limit).update(
        entered_at=timezone.now() - datetime.timedelta(days=30)
    )
    assert escalation.scan() == 0
    assert not Task.objects.filter(kind=Task.Kind.ESCALATION).exists()


def test_escalation_to_a_person(world):
    process = process_of(world.hq)
    stage = processes.update_stage(
        world.hq, pstage(process, "qc"), limit_minutes=30, escalate_to=world.manager_a1.pk
    )
    wo = order_at(world.a1, column(world.a1, stage))
    visit = backdate(visit_of(wo), 45)
    assert escalation.scan() == 1
    task = Task.objects.get(key=f"escalate:{visit.pk}")
    assert (task.assignee, task.role) == (world.manager_a1, "")
    assert WorkOrderEvent.objects.get(work_order=wo, kind="escalation").text.endswith(
        world.manager_a1.display_name
    )
    # A person who does not work in the order's store: the store manager takes it.
    in_a2 = order_at(world.a2, column(world.a2, stage))
    visit = backdate(visit_of(in_a2), 45)
    assert escalation.scan() == 1
    task = Task.objects.get(key=f"escalate:{visit.pk}")
    assert (task.assignee, task.role, task.store_id) == (None, "store_manager", world.a2.pk)


def test_a_changed_limit_applies_to_orders_entering_after_it(world, repair):
    before = order_at(world.a1, repair)
    processes.update_stage(world.hq, repair.process_stage, limit_minutes=600)
    after = order_at(world.a1, repair)
    backdate(visit_of(before), 180)
    backdate(visit_of(after), 180)
    assert escalation.scan() == 1  # the order admitted under the one-hour limit
    assert Task.objects.get(kind=Task.Kind.ESCALATION).work_order_id == before.pk
    assert visit_of(after).limit_minutes == 600


def test_the_scan_reads_a_fixed_number_of_queries_when_nothing_is_due(
    world, repair, django_assert_max_num_queries
):
    for _n in range(10):
        backdate(visit_of(order_at(world.a1, repair)), 10)
    with django_assert_max_num_queries(1):
        assert escalation.scan() == 0


def test_the_periodic_task_runs_the_scan(world, repair):
    from autocrm.workflow import tasks

    backdate(visit_of(order_at(world.a1, repair)), 120)
    assert tasks.escalation_scan.call_local() == 1


def test_the_scan_pages_through_many_overdue_visits(world, repair, monkeypatch):
    monkeypatch.setattr(escalation, "BATCH", 2)
    for _n in range(5):
        backdate(visit_of(order_at(world.a1, repair)), 120)
    assert escalation.scan() == 5
    assert Task.objects.filter(kind=Task.Kind.ESCALATION).count() == 5
    assert escalation.scan() == 0
