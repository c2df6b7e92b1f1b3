"""Reads of follow-up tasks, scoped to the user's org and stores."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from autocrm.automation.models import Task
from autocrm.core import scoping
from autocrm.core.models import User
from autocrm.core.selectors import get_or_404


def tasks(user: User) -> QuerySet[Task]:
    return scoping.scoped(Task.objects.all(), user)


def mine_q(user: User) -> Q:
    """Assigned to the user, or unassigned for a role the user holds (in a store they see)."""
    return Q(assignee_id=user.pk) | Q(assignee__isnull=True, role__in=list(user.role_codes()))


def inbox(user: User, view: str = "mine", status: str = Task.Status.OPEN) -> QuerySet[Task]:
    """``mine``: the user's and their roles' tasks; ``all``: every task of the stores the user
    sees (managers)."""
    qs = tasks(user).filter(status=status)
    if view != "all" or not user.can("task.manage"):
        qs = qs.filter(mine_q(user))
    order = ("due_at", "id") if status == Task.Status.OPEN else ("-completed_at", "-id")
    return qs.select_related("customer", "vehicle", "assignee", "store").order_by(*order)


def counts(user: User) -> dict[str, int]:
    """Open and overdue tasks of the user's inbox, for the navigation badge."""
    if not user.is_authenticated or not user.can("task.view"):
        return {"open": 0, "overdue": 0}
    row = (
        tasks(user)
        .filter(mine_q(user), status=Task.Status.OPEN)
        .aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=timezone.now())))
    )
    return {"open": row["open"] or 0, "overdue": row["overdue"] or 0}


def get_task(user: User, pk) -> Task:
    return get_or_404(tasks(user).select_related("customer", "vehicle", "store"), pk)
