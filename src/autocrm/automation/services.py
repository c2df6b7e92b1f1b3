"""Every write to follow-up tasks. People create and complete them; rules and the escalation
scan create them as the system (``actor=None``) with a ``key`` that makes them exactly once."""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.automation.models import Task
from autocrm.core import audit, events, scoping
from autocrm.core.errors import Conflict, Forbidden, Invalid
from autocrm.core.models import Store, User
from autocrm.core.roles import ROLE_CODES
from autocrm.core.selectors import store_for
from autocrm.core.services import check_errors, require
from autocrm.core.validators import tidy_prose


def _assignee(store: Store, assignee_id) -> User | None:
    if assignee_id in (None, ""):
        return None
    user = User.objects.filter(pk=assignee_id, org_id=store.org_id, is_active=True).first()
    if user is None or store.pk not in scoping.store_ids(user):
        raise Invalid(fields={"assignee": _("Choose a colleague who works in this store.")})
    return user


def _links(
    actor: User | None,
    store: Store,
    customer_id,
    vehicle_id,
    work_order_id,
) -> tuple[int | None, int | None, int | None]:
    """The customer, vehicle and work order a task is about, checked to be the actor's to see
    (the system: of the store's org). A work order brings its customer and vehicle, a vehicle
    its owner, when they are not given."""
    from autocrm.customers.models import Customer, Vehicle
    from autocrm.service.models import WorkOrder

    def visible(model, pk, field: str, message: str):
        if pk in (None, ""):
            return None
        if actor is not None:
            qs = scoping.scoped(model.objects.all(), actor)
        else:
            qs = model.objects.filter(org_id=store.org_id)
        try:
            row = qs.filter(pk=int(pk)).first()
        except (TypeError, ValueError):
            row = None
        if row is None:
            raise Invalid(fields={field: message})
        return row

    work_order = visible(
        WorkOrder, work_order_id, "work_order", _("Choose a work order you can see.")
    )
    vehicle = visible(Vehicle, vehicle_id, "vehicle", _("Choose a vehicle you can see."))
    customer = visible(Customer, customer_id, "customer", _("Choose a customer you can see."))
    customer_pk = customer.pk if customer else None
    vehicle_pk = vehicle.pk if vehicle else None
    if work_order is not None:
        customer_pk = customer_pk or work_order.customer_id
        vehicle_pk = vehicle_pk or work_order.vehicle_id
    if vehicle is not None and customer_pk is None:
        customer_pk = vehicle.owner_id
    return customer_pk, vehicle_pk, (work_order.pk if work_order else None)


@audit.by_actor
@transaction.atomic
def create_task(
    actor: User | None,
    *,
    store_id: int,
    title: str,
    kind: str = Task.Kind.OTHER,
    details: str = "",
    role: str = "",
    assignee_id=None,
    due_at: datetime.datetime | None = None,
    customer_id: int | None = None,
    vehicle_id: int | None = None,
    work_order_id: int | None = None,
    source: str = "",
    key: str | None = None,
    follows: Task | None = None,
) -> Task:
    """A new open task for a person (``assignee_id``) or whoever holds ``role`` in the store.

    ``actor=None`` is the system (a rule, the escalation scan). With a ``key``, a second call
    returns the task the first one made instead of making another."""
    if actor is not None:
        require(actor, "task.create")
        store = store_for(actor, store_id)
    else:
        store = Store.objects.get(pk=store_id)
    if key:
        existing = Task.objects.filter(key=key).first()
        if existing is not None:
            return existing
    title = tidy_prose(title)[:200]
    role = role or ""
    kind = kind or Task.Kind.OTHER
    check_errors(
        {
            "title": "" if title else _("Say what has to be done."),
            "role": "" if role in ("", *ROLE_CODES) else _("Choose one of the listed roles."),
            "kind": "" if kind in Task.Kind.values else _("Choose one of the listed kinds."),
        }
    )
    assignee = _assignee(store, assignee_id)
    if assignee is None and not role:
        raise Invalid(fields={"assignee": _("Assign the task to a person or a role.")})
    customer_id, vehicle_id, work_order_id = _links(
        actor, store, customer_id, vehicle_id, work_order_id
    )
    task = Task(
        org_id=store.org_id,
        store=store,
        kind=kind,
        title=title,
        details=tidy_prose(details)[:4000],
        role=role,
        assignee=assignee,
        due_at=due_at or timezone.now(),
        customer_id=customer_id,
        vehicle_id=vehicle_id,
        work_order_id=work_order_id,
        source=(source or "")[:60],
        key=key or None,
        follows=follows,
        created_by=actor,
    )
    try:
        with transaction.atomic():
            task.save()
    except IntegrityError:
        if key:  # made by a concurrent run between our check and insert
            return Task.objects.get(key=key)
        raise
    events.publish("task.created", task_id=task.pk, store_id=task.store_id)
    return task


def can_work(user: User, task: Task) -> bool:
    """The assignee; anyone holding the task's role in its store; a manager of the store."""
    if task.store_id not in scoping.store_ids(user) or task.org_id != user.org_id:
        return False
    if user.can("task.manage") or task.assignee_id == user.pk:
        return True
    return task.assignee_id is None and task.role in user.role_codes()


def _workable(actor: User, task: Task) -> Task:
    require(actor, "task.view")
    task = audit.locked(Task.objects.select_for_update().get(pk=task.pk))
    if not can_work(actor, task):
        raise Forbidden(_("This task is for someone else."))
    if task.status != Task.Status.OPEN:
        raise Conflict(_("This task is already closed."), code="closed")
    return task


@audit.by_actor
@transaction.atomic
def complete_task(
    actor: User,
    task: Task,
    *,
    result: str,
    note: str = "",
    next_step: str = "",
    next_due: datetime.datetime | None = None,
) -> Task:
    """Record the result; a next step with a date becomes a new task for the same people."""
    task = _workable(actor, task)
    next_step = tidy_prose(next_step)[:200]
    due_error = ""
    if next_step and next_due is None:
        due_error = _("Give the date of the next step.")
    elif next_step and timezone.localdate(next_due) < timezone.localdate():
        due_error = _("The next step cannot be due in the past.")
    check_errors(
        {
            "result": "" if result in Task.Result.values else _("Choose the result."),
            "next_due": due_error,
        }
    )
    task.status = Task.Status.DONE
    task.result = result
    task.result_note = tidy_prose(note)[:4000]
    task.next_step = next_step
    task.completed_at = timezone.now()
    task.completed_by = actor
    task.save()
    if next_step:
        create_task(
            None,
            store_id=task.store_id,
            title=next_step,
            kind=task.kind,
            role=task.role,
            # a role's task: the follow-up stays with whoever of the role took the first step
            assignee_id=task.assignee_id
            or (actor.pk if not task.role or task.role in actor.role_codes() else None),
            due_at=next_due,
            customer_id=task.customer_id,
            vehicle_id=task.vehicle_id,
            work_order_id=task.work_order_id,
            source=f"task:{task.pk}",
            follows=task,
        )
    events.publish("task.completed", task_id=task.pk, store_id=task.store_id, result=result)
    return task


@audit.by_actor
@transaction.atomic
def cancel_task(actor: User, task: Task, *, reason: str) -> Task:
    require(actor, "task.manage")
    task = _workable(actor, task)
    reason = tidy_prose(reason)
    if not reason:
        raise Invalid(fields={"reason": _("Say why the task is cancelled.")})
    task.status = Task.Status.CANCELLED
    task.result_note = reason[:4000]
    task.completed_at = timezone.now()
    task.completed_by = actor
    task.save()
    events.publish("task.cancelled", task_id=task.pk, store_id=task.store_id)
    return task


@audit.by_actor
@transaction.atomic
def reassign_task(actor: User, task: Task, *, assignee_id=None, role: str = "") -> Task:
    require(actor, "task.manage")
    task = _workable(actor, task)
    if role and role not in ROLE_CODES:
        raise Invalid(fields={"role": _("Choose one of the listed roles.")})
    assignee = _assignee(task.store, assignee_id)
    if assignee is None and not role:
        raise Invalid(fields={"assignee": _("Assign the task to a person or a role.")})
    task.assignee = assignee
    task.role = role or task.role
    task.save()
    events.publish("task.reassigned", task_id=task.pk, store_id=task.store_id)
    return task
