"""Shared set-up for the job board tests."""

from __future__ import annotations

from autocrm.workflow import services
from autocrm.workflow.models import Stage
from tests import service_factories as sf


def stages_of(store) -> list[Stage]:
    services.ensure_default_stages(store)
    return list(Stage.objects.filter(store=store, is_active=True).order_by("sort", "id"))


def order_in(store, stage=None, **kw):
    """An open work order placed in ``stage`` (the store's first by default)."""
    stage = stage or stages_of(store)[0]
    wo = sf.work_order(store, **kw)
    services.place_new_order(wo.pk)
    wo.refresh_from_db()
    if wo.stage_id != stage.pk:
        wo.stage = stage
        wo.save(update_fields=["stage"])
    return wo


def process_of(user, entity: str = "work_order"):
    """The org's process (made with the default stages on the first look), as HQ sees it."""
    from autocrm.workflow import processes

    return processes.open_process(user, entity)


def pstage(process, key: str):
    return process.stages.get(key=key)


def column(store, process_stage) -> Stage:
    """The store's board column of a process stage (the board made first if needed)."""
    services.ensure_default_stages(store)
    return Stage.objects.get(store=store, process_stage=process_stage)


def columns(store, process) -> dict[str, Stage]:
    """The store's board columns of every stage of ``process``, by the stage's key."""
    return {s.key: column(store, s) for s in process.stages.all()}


def manager_approves(hq, source: str = "estimate", target: str = "repair"):
    """A transition whose moves the store manager must approve."""
    from autocrm.workflow import processes

    return processes.save_transition(
        hq,
        "work_order",
        source=source,
        target=target,
        approval="role",
        approval_role="store_manager",
    )


def backdate(visit, business_minutes: int, now=None):
    """Make ``visit`` look entered ``business_minutes`` of open hours ago, with the due time
    its limit gives from then (as entering at that moment would have)."""
    from django.utils import timezone

    from autocrm.workflow import business_hours as bh

    now = now or timezone.now()
    hours = bh.hours_for(visit.work_order.store_id)
    visit.entered_at = bh.subtract(hours, now, business_minutes)
    visit.due_at = (
        bh.add(hours, visit.entered_at, visit.limit_minutes) if visit.limit_minutes else None
    )
    visit.save(update_fields=["entered_at", "due_at"])
    type(visit.work_order).objects.filter(pk=visit.work_order_id).update(
        stage_entered_at=visit.entered_at
    )
    return visit


def order_at(store, stage=None, **kw):
    """An open work order that entered ``stage`` (a board column) just now, with its visit."""
    wo = sf.work_order(store, **kw)
    services.place_new_order(wo.pk)
    if stage is not None:
        services.system_move(wo, stage.pk, None)
    wo.refresh_from_db()
    return wo
