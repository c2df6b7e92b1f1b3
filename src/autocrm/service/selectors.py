"""Every read of the shop floor, scoped to the user's org and stores."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from autocrm.core import scoping
from autocrm.core.errors import NotFound
from autocrm.core.models import User
from autocrm.service.models import (
    Appointment,
    Media,
    Payment,
    Recommendation,
    WorkOrder,
    WorkOrderLine,
)


def work_orders(user: User) -> QuerySet[WorkOrder]:
    return scoping.scoped(WorkOrder.objects.all(), user)


def get_work_order(user: User, pk, *, for_page: bool = False) -> WorkOrder:
    """One work order the user may see (404 otherwise). ``for_page`` loads what the work
    order page shows in a fixed number of queries, whatever the number of lines or photos."""
    qs = work_orders(user).select_related("store", "customer", "vehicle", "advisor", "stage")
    if for_page:
        qs = qs.prefetch_related(
            Prefetch(
                "lines",
                queryset=WorkOrderLine.objects.prefetch_related("technicians").order_by(
                    "sort", "id"
                ),
            ),
            Prefetch("media", queryset=Media.objects.order_by("created_at", "id")),
            Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")),
        )
    try:
        return qs.get(pk=int(pk))
    except (WorkOrder.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def get_line(user: User, pk) -> WorkOrderLine:
    qs = scoping.scoped(WorkOrderLine.objects.select_related("work_order"), user)
    try:
        return qs.get(pk=int(pk))
    except (WorkOrderLine.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def appointments(user: User) -> QuerySet[Appointment]:
    return scoping.scoped(Appointment.objects.all(), user)


def get_appointment(user: User, pk) -> Appointment:
    try:
        return appointments(user).select_related("store", "customer", "vehicle").get(pk=int(pk))
    except (Appointment.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def open_recommendations(user: User, vehicle_id: int) -> QuerySet[Recommendation]:
    """Declined or deferred work still open on a vehicle, from any store of the org the user
    may see."""
    return (
        Recommendation.objects.filter(
            org_id=user.org_id, vehicle_id=vehicle_id, status=Recommendation.Status.OPEN
        )
        .select_related("store")
        .order_by("-created_at", "-id")
    )
