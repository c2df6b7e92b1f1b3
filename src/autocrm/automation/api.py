"""API of the task inbox: list (mine / all, by status and kind), read, create, complete,
cancel and pass on follow-up tasks."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from autocrm.automation import selectors, services
from autocrm.automation.models import Task
from autocrm.core.api import page_of
from autocrm.core.services import check_errors, require
from autocrm.core.validators import mask_mobile

router = Router(tags=["tasks"])


class TaskOut(Schema):
    id: int
    store_id: int
    store_name: str
    kind: str
    title: str
    details: str
    role: str
    assignee_id: int | None
    assignee_name: str
    due_at: datetime.datetime
    is_overdue: bool
    status: str
    result: str
    result_note: str
    next_step: str
    completed_at: datetime.datetime | None
    completed_by_id: int | None
    created_by_id: int | None
    customer_id: int | None
    customer_name: str
    customer_mobile: str
    vehicle_id: int | None
    plate: str
    work_order_id: int | None
    follows_id: int | None
    next_task_ids: list[int] = []
    source: str
    created_at: datetime.datetime


TaskPage = page_of(TaskOut)


class TaskIn(Schema):
    store_id: int | None = None
    title: str = Field(..., max_length=200)
    kind: str = Field(Task.Kind.OTHER, max_length=20)
    details: str = Field("", max_length=4000)
    role: str = Field("", max_length=30)
    assignee_id: int | None = None
    due_at: datetime.datetime | None = None
    customer_id: int | None = None
    vehicle_id: int | None = None
    work_order_id: int | None = None


class TaskCompleteIn(Schema):
    result: str = Field(..., max_length=20)
    note: str = Field("", max_length=4000)
    next_step: str = Field("", max_length=200)
    next_due: datetime.datetime | None = None


class TaskCancelIn(Schema):
    reason: str = Field(..., max_length=4000)


class TaskReassignIn(Schema):
    assignee_id: int | None = None
    role: str = Field("", max_length=30)


def task_out(viewer, task: Task, next_task_ids: list[int] | None = None) -> dict:
    data = {f: getattr(task, f, None) for f in TaskOut.model_fields}
    customer = task.customer if task.customer_id else None
    mobile = customer.mobile if customer else ""
    data.update(
        store_name=task.store.name,
        assignee_name=task.assignee.display_name if task.assignee_id else "",
        customer_name=customer.name if customer else "",
        customer_mobile=mobile if viewer.can("customer.phone") else mask_mobile(mobile),
        plate=(task.vehicle.plate or "") if task.vehicle_id else "",
        next_task_ids=next_task_ids or [],
    )
    return data


def aware(value: datetime.datetime | None) -> datetime.datetime | None:
    """Times without an offset are the local time (Asia/Shanghai)."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


@router.get("/tasks", response=TaskPage)
def list_tasks(
    request,
    view: str = "mine",
    status: str = Task.Status.OPEN,
    kind: str = "",
    cursor: str | None = None,
    limit: int = 50,
):
    """``view=mine`` (default): the caller's and their roles' tasks; ``view=all``: every task
    of the stores a manager sees. Open tasks come by due time, closed ones newest first;
    ``status=closed`` is done and cancelled together."""
    require(request.user, "task.view")
    check_errors(
        {
            "view": "" if view in selectors.VIEWS else _("Use mine or all."),
            "status": ""
            if status in selectors.STATUSES
            else _("Use open, done, cancelled or closed."),
            "kind": ""
            if not kind or kind in Task.Kind.values
            else _("Choose one of the listed kinds."),
        }
    )
    qs = selectors.inbox(request.user, view, status, kind)
    page = selectors.page(qs, cursor, limit)
    page["items"] = [task_out(request.user, t) for t in page["items"]]
    return page


@router.get("/tasks/{task_id}", response=TaskOut)
def get_task(request, task_id: int):
    require(request.user, "task.view")
    task = selectors.get_task(request.user, task_id)
    return task_out(request.user, task, [t.pk for t in selectors.next_tasks(task)])


@router.post("/tasks", response={201: TaskOut})
def create_task(request, payload: TaskIn):
    task = services.create_task(
        request.user,
        store_id=payload.store_id,
        title=payload.title,
        kind=payload.kind,
        details=payload.details,
        role=payload.role,
        assignee_id=payload.assignee_id,
        due_at=aware(payload.due_at),
        customer_id=payload.customer_id,
        vehicle_id=payload.vehicle_id,
        work_order_id=payload.work_order_id,
    )
    return Status(201, task_out(request.user, selectors.get_task(request.user, task.pk)))


@router.post("/tasks/{task_id}/complete", response=TaskOut)
def complete_task(request, task_id: int, payload: TaskCompleteIn):
    """A ``next_step`` with a ``next_due`` becomes a new task; its id is in ``next_task_ids``."""
    require(request.user, "task.view")
    task = selectors.get_task(request.user, task_id)
    services.complete_task(
        request.user,
        task,
        result=payload.result,
        note=payload.note,
        next_step=payload.next_step,
        next_due=aware(payload.next_due),
    )
    task = selectors.get_task(request.user, task_id)
    return task_out(request.user, task, [t.pk for t in selectors.next_tasks(task)])


@router.post("/tasks/{task_id}/cancel", response=TaskOut)
def cancel_task(request, task_id: int, payload: TaskCancelIn):
    require(request.user, "task.manage")
    task = selectors.get_task(request.user, task_id)
    services.cancel_task(request.user, task, reason=payload.reason)
    return task_out(request.user, selectors.get_task(request.user, task_id))


@router.post("/tasks/{task_id}/reassign", response=TaskOut)
def reassign_task(request, task_id: int, payload: TaskReassignIn):
    """To a person (``assignee_id``) or, with none, whoever holds ``role`` in the store."""
    require(request.user, "task.manage")
    task = selectors.get_task(request.user, task_id)
    services.reassign_task(request.user, task, assignee_id=payload.assignee_id, role=payload.role)
    return task_out(request.user, selectors.get_task(request.user, task_id))
