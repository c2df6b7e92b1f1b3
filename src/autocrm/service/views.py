"""The advisor's pages: work orders (list, open, lines, approvals, actions, dispatch, QC,
settlement, payments) and appointments (calendar, booking, arrival). Thin: every POST calls
one service and comes back to the page with a message; refusals show the service's words."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.catalog.models import LabourItem, Part, ServicePackage
from autocrm.core import customfields
from autocrm.core.errors import Invalid, NotFound, ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.models import Store, User
from autocrm.core.pagination import page_for_request
from autocrm.core.selectors import visible_stores
from autocrm.core.views import capability_required
from autocrm.customers import selectors as customer_selectors
from autocrm.service import appointments, selectors, services
from autocrm.service.forms import WorkOrderCustomForm
from autocrm.service.models import (
    Payment,
    WorkOrder,
    WorkOrderLine,
)

PAGE_SIZE = 50
PAYMENT_ROWS = 3  # payment lines on the settle form: a split payment of up to three methods


def _refused(request, exc: ServiceError) -> None:
    messages.error(request, exc.display_text)


def _back(wo_or_pk):
    pk = getattr(wo_or_pk, "pk", wo_or_pk)
    return redirect("workorder_detail", pk=pk)


def _local_datetime(value: str | None):
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        return "invalid"
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


# --- list and create ----------------------------------------------------------------------


@capability_required("workorder.view")
def workorder_list(request):
    user = request.user
    qs = selectors.work_orders(user).select_related("vehicle", "customer", "store", "advisor")
    status = request.GET.get("status", "open")
    if status == "open":
        qs = qs.exclude(
            status__in=[
                WorkOrder.Status.SETTLED,
                WorkOrder.Status.CLOSED,
                WorkOrder.Status.CANCELLED,
            ]
        )
    elif status in WorkOrder.Status.values:
        qs = qs.filter(status=status)
    store = request.GET.get("store")
    if store and store.isdigit():
        qs = qs.filter(store_id=int(store))
    page = page_for_request(request, qs, PAGE_SIZE)
    context = {
        **page,
        "orders": page["items"],
        "status": status,
        "statuses": [("open", _("Open")), *WorkOrder.Status.choices],
        "stores": list(visible_stores(user)),
        "store": store or "",
    }
    return render(request, "service/workorder_list.html", context)


@capability_required("workorder.edit")
def workorder_create(request):
    user = request.user
    vehicle = customer_selectors.get_vehicle(
        user, request.GET.get("vehicle") or request.POST.get("vehicle")
    )
    stores = list(visible_stores(user, active=True))
    advisors = User.objects.filter(
        org_id=user.org_id, is_active=True, stores__in=stores, roles__code="service_advisor"
    ).distinct()
    errors: dict = {}
    values = {
        "mileage_in": request.POST.get("mileage_in", ""),
        "complaint": request.POST.get("complaint", ""),
        "promised_at": request.POST.get("promised_at", ""),
        "store": request.POST.get("store", ""),
        "advisor": request.POST.get("advisor", ""),
        "source": request.POST.get("source", ""),
        "campaign": request.POST.get("campaign", ""),
    }
    custom = WorkOrderCustomForm(request.POST or None, user=user)
    if request.method == "POST":
        promised = _local_datetime(values["promised_at"])
        if promised == "invalid":
            errors["promised_at"] = _("Enter the promised date and time.")
        elif not custom.is_valid():
            errors["form"] = _("Some fields are not valid.")
        else:
            try:
                wo = services.create_work_order(
                    user,
                    vehicle=vehicle,
                    store_id=values["store"] or None,
                    mileage_in=values["mileage_in"] or None,
                    complaint=values["complaint"],
                    promised_at=promised,
                    advisor_id=values["advisor"] or None,
                    custom=custom.custom_data(),
                    source_id=values["source"] or None,
                    campaign=values["campaign"],
                )
                messages.success(request, _("Work order %(number)s opened.") % {"number": wo})
                return _back(wo)
            except ServiceError as exc:
                apply_service_error(custom, exc)
                errors = dict(exc.fields) or {"form": exc.message}
                existing = exc.extra.get("existing_id")
                if existing:
                    errors["existing_id"] = existing
    context = {
        "vehicle": vehicle,
        "stores": stores,
        "advisors": advisors,
        "sources": _sources(user.org_id),
        "values": values,
        "errors": errors,
        "form": custom,
        "recommendations": selectors.open_recommendations(user, vehicle.pk),
    }
    return render(request, "service/workorder_form.html", context, status=422 if errors else 200)


# --- the work order page ------------------------------------------------------------------


@capability_required("workorder.view")
def workorder_detail(request, pk):
    user = request.user
    wo = selectors.get_work_order(user, pk, for_page=True)
    lines = list(wo.lines.all())
    conf = services.settings_for(wo.store_id)
    technicians = User.objects.filter(
        org_id=wo.org_id, is_active=True, stores__id=wo.store_id, roles__code="technician"
    ).distinct()
    estimate_total = sum(
        (ln.amount for ln in lines if ln.approval != WorkOrderLine.Approval.DECLINED),
        start=services.ZERO,
    )
    context = {
        "wo": wo,
        "lines": lines,
        "proposed": [ln for ln in lines if ln.approval == WorkOrderLine.Approval.PROPOSED],
        "media": list(wo.media.all()),
        "payment_rows": range(PAYMENT_ROWS),
        "payments": list(wo.payments.all()),
        "events": list(wo.events.select_related("actor").order_by("-at", "-id")[:50]),
        "recommendations": selectors.open_recommendations(user, wo.vehicle_id).exclude(
            pk__in=[ln.recommendation_id for ln in lines if ln.recommendation_id]
        ),
        "technicians": technicians,
        "labour_items": LabourItem.objects.filter(org_id=wo.org_id, is_active=True),
        "parts": Part.objects.filter(org_id=wo.org_id, is_active=True),
        "packages": ServicePackage.objects.filter(org_id=wo.org_id, is_active=True),
        "kinds": WorkOrderLine.Kind.choices,
        "channels": [c for c in WorkOrderLine.Channel.choices if c[0] != "link"],
        "methods": Payment.Method.choices,
        "qc_items": conf.qc_items,
        "discount_limit": conf.discount_limit,
        "estimate_total": estimate_total,
        "actions": [
            (action, services.ACTION_LABELS[action])
            for action, (sources, _target, _caps) in services.ACTIONS.items()
            if wo.status in sources
        ],
        "certificate": wo.repair_class in services.CERTIFICATE_CLASSES,
        "can_cancel": wo.status in services.ACTIONS["cancel"][0],
        "custom_rows": customfields.display(user, "work_order", wo.custom),
        "form": WorkOrderCustomForm(user=user, values=wo.custom),
        "sources": _sources(wo.org_id, wo.source_id),
    }
    return render(request, "service/workorder_detail.html", context)


def _sources(org_id, current=None):
    """The org's active source channels (and the order's own, even if since retired)."""
    from django.db.models import Q

    from autocrm.customers.models import SourceChannel

    return SourceChannel.objects.filter(Q(is_active=True) | Q(pk=current or 0), org_id=org_id)


def _origin(post) -> dict:
    """Source channel and campaign of the header form, when the form carries them."""
    data = {}
    if "source" in post:
        data["source_id"] = post.get("source") or None
    if "campaign" in post:
        data["campaign"] = post.get("campaign", "")
    return data


def _post_action(request, pk, call, success: str):
    wo = selectors.get_work_order(request.user, pk)
    try:
        call(wo)
        messages.success(request, success)
    except ServiceError as exc:
        _refused(request, exc)
    return _back(wo)


@require_POST
@capability_required("workorder.edit")
def workorder_update(request, pk):
    def call(wo):
        promised = _local_datetime(request.POST.get("promised_at"))
        if promised == "invalid":
            raise Invalid(fields={"promised_at": _("Enter the promised date and time.")})
        custom = WorkOrderCustomForm(request.POST, user=request.user, values=wo.custom)
        if not custom.is_valid():
            raise Invalid(fields={k: " ".join(v) for k, v in custom.errors.items()})
        data = {"custom": custom.custom_data()} if custom.custom_names else {}
        services.update_work_order(
            request.user,
            wo,
            version=request.POST.get("version"),
            complaint=request.POST.get("complaint", wo.complaint),
            promised_at=promised,
            old_parts_returned=request.POST.get("old_parts_returned") == "on",
            **_origin(request.POST),
            **data,
        )

    return _post_action(request, pk, call, _("Saved."))


@require_POST
@capability_required("workorder.edit")
def line_add(request, pk):
    post = request.POST

    def call(wo):
        if post.get("package"):
            services.add_package(request.user, wo, post["package"], version=post.get("version"))
            return
        kind = post.get("kind", "labour")
        services.add_line(
            request.user,
            wo,
            kind=kind,
            labour_id=post.get("labour") if kind == "labour" else None,
            part_id=post.get("part") if kind == "part" else None,
            name=post.get("name", ""),
            quantity=post.get("quantity") or 1,
            unit_price=post.get("unit_price") or None,
            discount_pct=post.get("discount_pct") or 0,
            customer_supplied=post.get("customer_supplied") == "on",
            version=post.get("version"),
        )

    return _post_action(request, pk, call, _("Item added."))


@require_POST
@capability_required("workorder.edit")
def line_update(request, pk, line_id):
    post = request.POST

    def call(wo):
        line = wo.lines.filter(pk=line_id).first()
        if line is None:
            raise NotFound()
        if post.get("remove"):
            services.remove_line(request.user, line, version=post.get("version"))
            return
        data = {k: post[k] for k in ("quantity", "unit_price", "discount_pct") if post.get(k)}
        services.update_line(request.user, line, version=post.get("version"), **data)

    return _post_action(request, pk, call, _("Saved."))


@require_POST
@capability_required("workorder.edit")
def line_assign(request, pk, line_id):
    def call(wo):
        line = wo.lines.filter(pk=line_id).first()
        if line is None:
            raise NotFound()
        services.assign_line(request.user, line, request.POST.getlist("technicians"))

    return _post_action(request, pk, call, _("Assigned."))


@require_POST
@capability_required("workorder.edit")
def approvals(request, pk):
    post = request.POST

    def call(wo):
        decisions = {}
        reasons = {}
        for key, value in post.items():
            if key.startswith("decision_") and value:
                line_id = key.removeprefix("decision_")
                decisions[line_id] = value
                reasons[line_id] = post.get(f"reason_{line_id}", "")
        services.record_approval(
            request.user,
            wo,
            decisions,
            channel=post.get("channel", ""),
            by_name=post.get("by_name", ""),
            reasons=reasons,
        )

    return _post_action(request, pk, call, _("The owner's decision is recorded."))


@require_POST
@capability_required("workorder.view")
def action(request, pk, name):
    post = request.POST

    def call(wo):
        kwargs = {"version": post.get("version"), "reason": post.get("reason", "")}
        if name == "settle":
            kwargs["payments"] = _payments_from(post)
            kwargs["old_parts_returned"] = post.get("old_parts_returned") == "on"
        services.perform(request.user, wo, name, **kwargs)

    return _post_action(request, pk, call, _("Done."))


def _payments_from(post) -> list[dict]:
    rows = []
    for i in range(PAYMENT_ROWS):
        amount = (post.get(f"amount_{i}") or "").strip()
        if amount:
            rows.append(
                {
                    "method": post.get(f"method_{i}"),
                    "amount": amount,
                    "reference": post.get(f"reference_{i}", ""),
                }
            )
    return rows


@require_POST
@capability_required("workorder.settle")
def payments(request, pk):
    def call(wo):
        services.take_payments(
            request.user, wo, _payments_from(request.POST), version=request.POST.get("version")
        )

    return _post_action(request, pk, call, _("Payment recorded."))


@require_POST
@capability_required("payment.refund")
def refund(request, pk, payment_id):
    def call(wo):
        payment = wo.payments.filter(pk=payment_id).first()
        if payment is None:
            raise NotFound()
        services.refund_payment(
            request.user,
            payment,
            amount=request.POST.get("amount") or None,
            reason=request.POST.get("reason", ""),
            kind=request.POST.get("kind", "refund"),
        )

    return _post_action(request, pk, call, _("Refund recorded as a new entry."))


@require_POST
@capability_required("workorder.qc")
def qc(request, pk):
    post = request.POST

    def call(wo):
        items = services.settings_for(wo.store_id).qc_items or []
        checks = {name: post.get(f"qc_{i}") == "on" for i, name in enumerate(items)}
        services.record_qc(
            request.user,
            wo,
            checks=checks,
            reason=post.get("reason", ""),
            return_line_ids=post.getlist("return_lines"),
        )

    return _post_action(request, pk, call, _("Quality check recorded."))


@require_POST
@capability_required("workorder.edit")
def recommendation_add(request, pk, reco_id):
    def call(wo):
        reco = (
            selectors.open_recommendations(request.user, wo.vehicle_id).filter(pk=reco_id).first()
        )
        if reco is None:
            raise NotFound()
        services.add_recommendation(request.user, wo, reco)

    return _post_action(request, pk, call, _("Recommendation added as a proposed item."))


@require_POST
@capability_required("workorder.edit")
def recommendation_dismiss(request, reco_id):
    reco = selectors.get_recommendation(request.user, reco_id)
    try:
        services.dismiss_recommendation(request.user, reco, request.POST.get("reason", ""))
        messages.success(request, _("Recommendation dismissed."))
    except ServiceError as exc:
        _refused(request, exc)
    nxt = request.POST.get("next", "")
    if nxt.startswith("/") and not nxt.startswith("//"):
        return redirect(nxt)
    return redirect("vehicle_detail", pk=reco.vehicle_id)


# --- appointments -------------------------------------------------------------------------


def _store_choice(request) -> tuple[Store, list[Store]]:
    """The store asked for (or the first one the user may see), and all of them."""
    stores = list(visible_stores(request.user, active=True))
    if not stores:
        raise NotFound()
    wanted = str(request.GET.get("store") or request.POST.get("store"))
    return next((s for s in stores if str(s.pk) == wanted), stores[0]), stores


@capability_required("appointment.view")
def appointment_calendar(request):
    store, stores = _store_choice(request)
    day = parse_date(request.GET.get("date") or "") or timezone.localdate()
    view = "week" if request.GET.get("view") == "week" else "day"
    start = day - datetime.timedelta(days=day.weekday()) if view == "week" else day
    days = [start + datetime.timedelta(days=i) for i in range(7 if view == "week" else 1)]
    tz = timezone.get_current_timezone()
    begin = datetime.datetime.combine(days[0], datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(days[-1], datetime.time.max, tzinfo=tz)
    booked = list(
        selectors.appointments(request.user)
        .filter(store=store, starts_at__range=(begin, end))
        .select_related("package", "work_order")
        .order_by("starts_at", "id")
    )
    by_day = {d: [] for d in days}
    for appt in booked:
        by_day.setdefault(timezone.localtime(appt.starts_at).date(), []).append(appt)
    rate = appointments.conversion(
        selectors.appointments(request.user).filter(
            store=store, starts_at__gte=begin - datetime.timedelta(days=30)
        )
    )["rate"]
    context = {
        "store": store,
        "stores": stores,
        "day": day,
        "view": view,
        "days": [(d, by_day.get(d, [])) for d in days],
        "prev": days[0] - datetime.timedelta(days=len(days)),
        "next": days[0] + datetime.timedelta(days=len(days)),
        "slots": appointments.slots(store, day) if view == "day" else [],
        "packages": ServicePackage.objects.filter(org_id=store.org_id, is_active=True),
        "conversion": rate,
        "show_phone": request.user.can("customer.phone"),
    }
    return render(request, "service/appointments.html", context)


@require_POST
@capability_required("appointment.edit")
def appointment_create(request):
    store, _stores = _store_choice(request)
    post = request.POST
    starts = _local_datetime(post.get("starts_at"))
    try:
        if starts in (None, "invalid"):
            raise Invalid(fields={"starts_at": _("Choose a time.")})
        appt = appointments.book(
            request.user,
            store=store,
            name=post.get("name", ""),
            mobile=post.get("mobile", ""),
            plate=post.get("plate", ""),
            package_id=post.get("package") or None,
            note=post.get("note", ""),
            starts_at=starts,
        )
        messages.success(request, _("Booked: %(appt)s") % {"appt": appt})
        day = timezone.localtime(appt.starts_at).date()
    except ServiceError as exc:
        _refused(request, exc)
        day = timezone.localdate()
    return redirect(f"{_calendar_url()}?store={store.pk}&date={day}")


def _calendar_url() -> str:
    return reverse("appointment_calendar")


@require_POST
@capability_required("appointment.edit")
def appointment_action(request, pk, name):
    appt = selectors.get_appointment(request.user, pk)
    try:
        if name == "confirm":
            appointments.confirm(request.user, appt)
        elif name == "cancel":
            appointments.cancel(request.user, appt, request.POST.get("reason", ""))
        elif name == "no_show":
            appointments.no_show(request.user, appt)
        elif name == "arrive":
            wo = appointments.arrive(
                request.user, appt, mileage_in=request.POST.get("mileage_in") or None
            )
            messages.success(request, _("Work order %(number)s opened.") % {"number": wo})
            return _back(wo)
        else:
            raise NotFound()
        messages.success(request, _("Done."))
    except ServiceError as exc:
        _refused(request, exc)
    day = timezone.localtime(appt.starts_at).date()
    return redirect(f"{_calendar_url()}?store={appt.store_id}&date={day}")


@capability_required("workorder.view")
def vehicle_history(request, pk):
    """The car's full service history with mileage, newest first."""
    vehicle = customer_selectors.get_vehicle(request.user, pk)
    orders = (
        selectors.work_orders(request.user)
        .filter(vehicle=vehicle)
        .select_related("store", "customer")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=WorkOrderLine.objects.filter(
                    approval=WorkOrderLine.Approval.APPROVED
                ).order_by("sort", "id"),
            )
        )
        .order_by("-opened_at", "-id")
    )
    context = {
        "vehicle": vehicle,
        "orders": orders,
        "readings": vehicle.mileage.order_by("-read_on", "-id")[:50],
        "recommendations": selectors.open_recommendations(request.user, vehicle.pk),
    }
    return render(request, "service/vehicle_history.html", context)
