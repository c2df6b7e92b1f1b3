"""Reads of follow-up tasks, scoped to the user's org and stores."""

from __future__ import annotations

import base64
import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from autocrm.automation.models import Task
from autocrm.core import scoping
from autocrm.core.errors import Invalid
from autocrm.core.models import User
from autocrm.core.pagination import MAX_LIMIT
from autocrm.core.selectors import get_or_404

CLOSED = "closed"  # done or cancelled: the inbox's "completed" tab
VIEWS = ("mine", "all")
STATUSES = (*Task.Status.values, CLOSED)


def tasks(user: User) -> QuerySet[Task]:
    return scoping.scoped(Task.objects.all(), user)


def mine_q(user: User) -> Q:
    """Assigned to the user, or unassigned for a role the user holds (in a store they see)."""
    return Q(assignee_id=user.pk) | Q(assignee__isnull=True, role__in=list(user.role_codes()))


def inbox(
    user: User, view: str = "mine", status: str = Task.Status.OPEN, kind: str = ""
) -> QuerySet[Task]:
    """``mine``: the user's and their roles' tasks; ``all``: every task of the stores the user
    sees (managers; others get their own). ``status="closed"`` is done and cancelled ones,
    which for "mine" include those the user closed."""
    qs = tasks(user)
    qs = qs.exclude(status=Task.Status.OPEN) if status == CLOSED else qs.filter(status=status)
    if view != "all" or not user.can("task.manage"):
        mine = mine_q(user)
        if status != Task.Status.OPEN:
            mine |= Q(completed_by_id=user.pk)
        qs = qs.filter(mine)
    if kind:
        qs = qs.filter(kind=kind)
    order = ("due_at", "id") if status == Task.Status.OPEN else ("-completed_at", "-id")
    return qs.select_related("customer", "vehicle", "assignee", "store").order_by(*order)


def counts(user: User) -> dict[str, int]:
    """Open and overdue tasks of the user's inbox, for the navigation badge: one query."""
    if not user.is_authenticated or not user.can("task.view"):
        return {"open": 0, "overdue": 0}
    return open_counts(tasks(user).filter(mine_q(user), status=Task.Status.OPEN))


def open_counts(qs: QuerySet[Task]) -> dict[str, int]:
    """How many of ``qs`` there are and how many of them are overdue, in one query."""
    row = qs.order_by().aggregate(
        open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=timezone.now()))
    )
    return {"open": row["open"] or 0, "overdue": row["overdue"] or 0}


def get_task(user: User, pk) -> Task:
    return get_or_404(
        tasks(user).select_related(
            "customer",
            "vehicle",
            "store",
            "assignee",
            "work_order",
            "follows",
            "created_by",
            "completed_by",
        ),
        pk,
    )


def next_tasks(task: Task) -> list[Task]:
    """The follow-ups made when the task was completed (same store as the task)."""
    return list(task.next_tasks.select_related("assignee").order_by("id"))


# --- pages in inbox order -----------------------------------------------------------------


def _encode(moment: datetime.datetime, pk: int) -> str:
    raw = f"{moment.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pk = raw.rsplit("|", 1)
        when = parse_datetime(moment)
        if when is None:
            raise ValueError
        return when, int(pk)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(fields={"cursor": _("This cursor is not valid.")}) from exc


def page(qs: QuerySet[Task], cursor: str | None, limit: int = 50, *, lenient: bool = False) -> dict:
    """A cursor page of an ``inbox`` queryset in its own order (open ones by due time, closed
    ones newest first): ``{"items", "next_cursor"}``, stable under inserts. A mangled cursor is
    ``Invalid``, or with ``lenient`` (pages) the first page."""
    limit = max(1, min(int(limit or 50), MAX_LIMIT))
    descending = qs.query.order_by and str(qs.query.order_by[0]).startswith("-")
    field = "completed_at" if descending else "due_at"
    after = None
    if cursor:
        try:
            after = _decode(cursor)
        except Invalid:
            if not lenient:
                raise
    if after is not None:
        moment, pk = after
        if descending:
            qs = qs.filter(Q(**{f"{field}__lt": moment}) | Q(**{field: moment, "pk__lt": pk}))
        else:
            qs = qs.filter(Q(**{f"{field}__gt": moment}) | Q(**{field: moment, "pk__gt": pk}))
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = None
    if more and last is not None and getattr(last, field) is not None:
        next_cursor = _encode(getattr(last, field), last.pk)
    return {"items": rows, "next_cursor": next_cursor}
