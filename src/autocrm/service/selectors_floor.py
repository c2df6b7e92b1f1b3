"""Reads for the technician's phone and the floor reports, always scoped to the user."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from autocrm.core import scoping
from autocrm.core.errors import NotFound
from autocrm.core.models import User
from autocrm.core.selectors import get_or_404
from autocrm.service.media import valid_token
from autocrm.service.models import (
    Inspection,
    InspectionResult,
    InspectionTemplate,
    Media,
    TimeEntry,
    WorkOrder,
    WorkOrderLine,
)

HOURS = Decimal("0.01")


# --- my jobs ------------------------------------------------------------------------------


@dataclass
class Job:
    work_order: WorkOrder
    lines: list[WorkOrderLine]


def my_lines(user: User) -> QuerySet[WorkOrderLine]:
    """Approved lines assigned to the user on in-progress orders of their stores."""
    return (
        scoping.scoped(WorkOrderLine.objects.all(), user)
        .filter(
            technicians=user,
            approval=WorkOrderLine.Approval.APPROVED,
            work_order__status=WorkOrder.Status.IN_PROGRESS,
        )
        .select_related("work_order__vehicle", "work_order__store")
        .prefetch_related("technicians")
        .order_by("work_order__promised_at", "work_order_id", "sort", "id")
    )


def running_entry(user: User) -> TimeEntry | None:
    return (
        TimeEntry.objects.filter(technician=user, ended_at__isnull=True)
        .select_related("line", "work_order__vehicle")
        .first()
    )


def my_jobs(user: User) -> list[Job]:
    """The user's lines grouped by work order, soonest promised first (none last)."""
    groups: dict[int, Job] = {}
    for line in my_lines(user):
        job = groups.setdefault(line.work_order_id, Job(line.work_order, []))
        job.lines.append(line)
    far = timezone.now() + datetime.timedelta(days=3650)
    return sorted(groups.values(), key=lambda j: (j.work_order.promised_at or far, j.work_order.pk))


def my_jobs_with_time(user: User) -> tuple[list[Job], TimeEntry | None]:
    """My jobs with, on each line, the minutes I clocked (``my_minutes``) and whether my
    running entry is on it (``running``); and the running entry itself."""
    jobs = my_jobs(user)
    running = running_entry(user)
    minutes = line_minutes(user, [ln.pk for job in jobs for ln in job.lines])
    for job in jobs:
        for line in job.lines:
            line.my_minutes = minutes.get(line.pk, 0)
            line.running = running is not None and running.line_id == line.pk
    return jobs, running


def line_minutes(user: User, line_ids) -> dict[int, int]:
    """Minutes the user has clocked so far on each line (running entries up to now)."""
    totals: dict[int, int] = defaultdict(int)
    for entry in TimeEntry.objects.filter(technician=user, line_id__in=list(line_ids)):
        totals[entry.line_id] += entry.minutes
    return totals


# --- inspections and media ----------------------------------------------------------------


def templates(user: User) -> QuerySet[InspectionTemplate]:
    return scoping.scoped(InspectionTemplate.objects.filter(is_active=True), user).order_by("name")


def inspections(user: User) -> QuerySet[Inspection]:
    return scoping.scoped(Inspection.objects.all(), user)


def get_inspection(user: User, pk) -> Inspection:
    return get_or_404(inspections(user).select_related("work_order", "template", "inspector"), pk)


def inspection_results(inspection: Inspection) -> list[InspectionResult]:
    """The inspection's items with their photos (two queries)."""
    return list(
        inspection.results.order_by("sort", "id").prefetch_related(
            Prefetch("media", queryset=Media.objects.order_by("created_at", "id"))
        )
    )


def get_result(user: User, pk) -> InspectionResult:
    qs = scoping.scoped(InspectionResult.objects.all(), user)
    return get_or_404(qs.select_related("inspection__work_order"), pk)


def work_order_media(user: User, wo: WorkOrder) -> QuerySet[Media]:
    return (
        scoping.scoped(Media.objects.filter(work_order=wo), user)
        .select_related("line", "result", "uploaded_by")
        .order_by("created_at", "id")
    )


def get_media(user: User, token: str) -> Media:
    """A photo or video the user may see (staff of its store, with work orders in view)."""
    if not valid_token(token) or not user.is_authenticated or not user.can("workorder.view"):
        raise NotFound()
    found = scoping.scoped(Media.objects.filter(token=token), user).first()
    if found is None:
        raise NotFound()
    return found


# --- time and hours -----------------------------------------------------------------------


def _day_bounds(date_from: datetime.date, date_to: datetime.date):
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(date_from, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(
        date_to + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
    )
    return start, end


def time_entries(
    user: User,
    *,
    technician_id: int | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[TimeEntry]:
    qs = scoping.scoped(TimeEntry.objects.all(), user).select_related("line", "work_order")
    if technician_id is not None:
        qs = qs.filter(technician_id=technician_id)
    if date_from is not None or date_to is not None:
        start, end = _day_bounds(
            date_from or datetime.date(2000, 1, 1), date_to or timezone.localdate()
        )
        qs = qs.filter(started_at__gte=start, started_at__lt=end)
    return qs.order_by("started_at", "id")


@dataclass
class HoursRow:
    technician: User
    billed: Decimal
    clocked: Decimal
    entries: int

    @property
    def efficiency(self) -> Decimal | None:
        """Billed hours per clocked hour, in percent (None before anyone clocked)."""
        if not self.clocked:
            return None
        return (self.billed / self.clocked * 100).quantize(Decimal("1"), ROUND_HALF_UP)


def hours_report(
    user: User, date_from: datetime.date, date_to: datetime.date, *, store_id: int | None = None
) -> list[HoursRow]:
    """Billed against clocked hours per technician.

    Billed: the hours (quantity) of approved labour lines on orders settled in the period,
    shared equally among the line's technicians. Clocked: time entries started in the period
    (one still running counts up to now)."""
    start, end = _day_bounds(date_from, date_to)
    lines = scoping.scoped(WorkOrderLine.objects.all(), user).filter(
        kind=WorkOrderLine.Kind.LABOUR,
        approval=WorkOrderLine.Approval.APPROVED,
        work_order__status__in=[WorkOrder.Status.SETTLED, WorkOrder.Status.CLOSED],
        work_order__settled_at__gte=start,
        work_order__settled_at__lt=end,
    )
    entries = scoping.scoped(TimeEntry.objects.all(), user).filter(
        started_at__gte=start, started_at__lt=end
    )
    if store_id is not None:
        lines = lines.filter(work_order__store_id=store_id)
        entries = entries.filter(work_order__store_id=store_id)
    billed: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines.prefetch_related("technicians").only("id", "quantity"):
        techs = [t.pk for t in line.technicians.all()]
        for pk in techs:
            billed[pk] += line.quantity / len(techs)
    seconds: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    now = timezone.now()
    for entry in entries.only("technician_id", "started_at", "ended_at"):
        seconds[entry.technician_id] += max(
            0.0, ((entry.ended_at or now) - entry.started_at).total_seconds()
        )
        counts[entry.technician_id] += 1
    store_ids = [store_id] if store_id is not None else list(scoping.store_ids(user))
    staff = User.objects.filter(org_id=user.org_id).filter(
        pk__in=set(billed) | set(seconds)
    ) | User.objects.filter(
        org_id=user.org_id, is_active=True, roles__code="technician", stores__id__in=store_ids
    )
    rows = [
        HoursRow(
            technician=tech,
            billed=billed.get(tech.pk, Decimal(0)).quantize(HOURS, ROUND_HALF_UP),
            clocked=(Decimal(seconds.get(tech.pk, 0.0)) / 3600).quantize(HOURS, ROUND_HALF_UP),
            entries=counts.get(tech.pk, 0),
        )
        for tech in staff.distinct().order_by("full_name", "username")
    ]
    return rows
