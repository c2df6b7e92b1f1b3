"""Every read of the shop floor, scoped to the user's org and stores."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from autocrm.core import scoping
from autocrm.core.models import User
from autocrm.core.selectors import get_or_404
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


def _details(media: bool) -> list[Prefetch]:
    """Lines (with their technicians), payments and, with ``media``, photos, in order."""
    found = [
        Prefetch(
            "lines",
            queryset=WorkOrderLine.objects.prefetch_related("technicians").order_by("sort", "id"),
        ),
        Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")),
    ]
    if media:
        found.append(Prefetch("media", queryset=Media.objects.order_by("created_at", "id")))
    return found


def get_work_order(
    user: User, pk, *, for_page: bool = False, media: bool = True, related: bool = True
) -> WorkOrder:
    """One work order the user may see (404 otherwise). ``for_page`` loads what the work
    order page shows in a fixed number of queries, whatever the number of lines or photos;
    ``related=False`` loads the row alone (for a service that locks and reloads it anyway)."""
    qs = work_orders(user)
    if related:
        qs = qs.select_related("store", "customer", "vehicle", "advisor", "stage", "source")
    if for_page:
        qs = qs.prefetch_related(*_details(media))
    return get_or_404(qs, pk)


def load_details(wo: WorkOrder, *, media: bool = False) -> WorkOrder:
    """Load the lines and payments (and photos) of a work order a service just saved."""
    prefetch_related_objects([wo], *_details(media))
    return wo


def get_line(user: User, pk) -> WorkOrderLine:
    return get_or_404(scoping.scoped(WorkOrderLine.objects.select_related("work_order"), user), pk)


def appointments(user: User) -> QuerySet[Appointment]:
    return scoping.scoped(Appointment.objects.all(), user)


def get_appointment(user: User, pk) -> Appointment:
    return get_or_404(appointments(user).select_related("store", "customer", "vehicle"), pk)


def get_payment(user: User, pk) -> Payment:
    return get_or_404(scoping.scoped(Payment.objects.select_related("work_order"), user), pk)


def get_recommendation(user: User, pk) -> Recommendation:
    return get_or_404(scoping.scoped(Recommendation.objects.all(), user), pk)


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


PROFILE_ORDERS = 10


def profile_section(user: User, customer, vehicles) -> dict:
    """The shop-floor part of the 360° page: latest work orders, open recommendations on the
    customer's cars and survey scores — three queries whatever the history length."""
    from django.db.models import Avg, Count

    from autocrm.feedback.models import Survey

    orders = list(
        work_orders(user)
        .filter(customer=customer)
        .select_related("vehicle", "store")
        .order_by("-opened_at", "-id")[:PROFILE_ORDERS]
    )
    recos = list(
        Recommendation.objects.filter(
            org_id=customer.org_id,
            vehicle_id__in=[v.pk for v in vehicles],
            status=Recommendation.Status.OPEN,
        )
        .select_related("vehicle")
        .order_by("-created_at", "-id")[:20]
    )
    scores = Survey.objects.filter(customer=customer).aggregate(
        count=Count("id"),
        nps=Avg("nps"),
        timeliness=Avg("timeliness"),
        professionalism=Avg("professionalism"),
        attitude=Avg("attitude"),
        result=Avg("result"),
    )
    return {"work_orders": orders, "recommendations": recos, "survey": scores}
