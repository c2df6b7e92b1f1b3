"""Shop-floor API: appointments, work orders, lines, approvals, named state actions, QC,
payments and recommendations. Scoped and audited like every write."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from autocrm.core import customfields
from autocrm.core.api import page_of
from autocrm.core.errors import Invalid, NotFound
from autocrm.core.pagination import paginate
from autocrm.core.selectors import get_store
from autocrm.core.services import require
from autocrm.core.validators import mask_mobile
from autocrm.customers import selectors as customer_selectors
from autocrm.service import appointments, selectors, services
from autocrm.service.models import Appointment, WorkOrder

router = Router(tags=["shop floor"])


# --- schemas ------------------------------------------------------------------------------


class LineOut(Schema):
    id: int
    kind: str
    code: str
    name: str
    brand: str
    spec: str
    unit: str
    category: str
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal
    amount: Decimal
    customer_supplied: bool
    approval: str
    approval_channel: str
    approved_by_name: str
    approved_at: datetime.datetime | None
    decline_reason: str
    urgency: str
    progress: str
    technician_ids: list[int]


class PaymentOut(Schema):
    id: int
    method: str
    kind: str
    amount: Decimal
    reverses_id: int | None
    reference: str
    created_at: datetime.datetime


class WorkOrderOut(Schema):
    id: int
    number: str
    store_id: int
    customer_id: int
    vehicle_id: int
    plate: str
    advisor_id: int | None
    status: str
    stage_id: int | None
    mileage_in: int | None
    complaint: str
    promised_at: datetime.datetime | None
    opened_at: datetime.datetime
    settled_at: datetime.datetime | None
    repair_class: str
    warranty_days: int
    warranty_km: int
    labour_total: Decimal
    parts_total: Decimal
    other_total: Decimal
    discount_total: Decimal
    total: Decimal
    tax: Decimal
    paid: Decimal
    balance: Decimal
    comeback_of_id: int | None
    source_id: int | None
    campaign: str
    version: int
    custom: dict


class WorkOrderDetail(WorkOrderOut):
    lines: list[LineOut]
    payments: list[PaymentOut]


class WorkOrderIn(Schema):
    vehicle_id: int
    store_id: int | None = None
    mileage_in: int | None = None
    complaint: str = Field("", max_length=2000)
    promised_at: datetime.datetime | None = None
    advisor_id: int | None = None
    source_id: int | None = None
    campaign: str | None = Field(None, max_length=40)
    custom: dict = {}


class WorkOrderPatch(Schema):
    version: int | None = None
    complaint: str | None = Field(None, max_length=2000)
    promised_at: datetime.datetime | None = None
    advisor_id: int | None = None
    old_parts_returned: bool | None = None
    source_id: int | None = None
    campaign: str | None = Field(None, max_length=40)
    custom: dict | None = None


class LineIn(Schema):
    kind: str
    labour_id: int | None = None
    part_id: int | None = None
    name: str = Field("", max_length=100)
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None
    discount_pct: Decimal = Decimal(0)
    category: str | None = None
    customer_supplied: bool = False
    urgency: str = ""
    version: int | None = None


class LinePatch(Schema):
    version: int | None = None
    name: str | None = Field(None, max_length=100)
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    discount_pct: Decimal | None = None


class PackageIn(Schema):
    package_id: int
    version: int | None = None


class ApprovalIn(Schema):
    decisions: dict[str, str]
    channel: str
    by_name: str = Field("", max_length=60)
    reasons: dict[str, str] = {}


class PaymentIn(Schema):
    method: str
    amount: Decimal
    reference: str = Field("", max_length=60)


class ActionIn(Schema):
    version: int | None = None
    reason: str = Field("", max_length=200)
    payments: list[PaymentIn] = []
    old_parts_returned: bool | None = None
    checks: dict[str, bool] = {}


class PaymentsIn(Schema):
    payments: list[PaymentIn]
    version: int | None = None


class RefundIn(Schema):
    amount: Decimal | None = None
    reason: str = Field(..., max_length=60)
    kind: str = "refund"


class QcIn(Schema):
    checks: dict[str, bool]
    reason: str = Field("", max_length=300)
    return_line_ids: list[int] = []


class AssignIn(Schema):
    technician_ids: list[int]


class RecommendationOut(Schema):
    id: int
    vehicle_id: int
    store_id: int
    name: str
    amount: Decimal
    reason: str
    urgency: str
    status: str
    created_at: datetime.datetime


class DismissIn(Schema):
    reason: str = Field(..., max_length=200)


class AppointmentOut(Schema):
    id: int
    store_id: int
    customer_id: int | None
    vehicle_id: int | None
    name: str
    mobile: str
    plate: str
    package_id: int | None
    note: str
    starts_at: datetime.datetime
    status: str
    channel: str
    work_order_id: int | None


class AppointmentIn(Schema):
    store_id: int
    name: str = Field(..., max_length=100)
    mobile: str = Field(..., max_length=30)
    starts_at: datetime.datetime
    plate: str = Field("", max_length=20)
    package_id: int | None = None
    note: str = Field("", max_length=200)


class AppointmentAction(Schema):
    reason: str = Field("", max_length=200)
    starts_at: datetime.datetime | None = None
    mileage_in: int | None = None


WorkOrderPage = page_of(WorkOrderOut)
AppointmentPage = page_of(AppointmentOut)


# --- helpers ------------------------------------------------------------------------------


def wo_out(wo: WorkOrder, fields: list) -> dict:
    """``fields``: the work-order custom fields the reader may see, loaded once per request."""
    data = {f: getattr(wo, f, None) for f in WorkOrderOut.model_fields}
    data["plate"] = wo.vehicle.plate
    data["balance"] = wo.balance
    data["custom"] = customfields.visible_custom(None, "work_order", wo.custom, fields=fields)
    return data


def line_out(line) -> dict:
    data = {f: getattr(line, f, None) for f in LineOut.model_fields}
    data["technician_ids"] = [t.pk for t in line.technicians.all()]
    return data


def detail_out(user, pk: int, *, saved: WorkOrder | None = None) -> dict:
    """The work order with its lines and payments, loaded in a fixed number of queries;
    ``saved``: the order a service has just saved and returned (not read again)."""
    if saved is not None:
        wo = selectors.load_details(saved)
    else:
        wo = selectors.get_work_order(user, pk, for_page=True, media=False)
    data = wo_out(wo, customfields.visible(user, "work_order"))
    data["lines"] = [line_out(ln) for ln in wo.lines.all()]
    data["payments"] = [
        {f: getattr(p, f) for f in PaymentOut.model_fields} for p in wo.payments.all()
    ]
    return data


def appt_out(user, appt: Appointment) -> dict:
    data = {f: getattr(appt, f, None) for f in AppointmentOut.model_fields}
    data["work_order_id"] = getattr(getattr(appt, "work_order", None), "pk", None)
    if not user.can("customer.phone"):
        data["mobile"] = mask_mobile(appt.mobile)
    return data


# --- work orders --------------------------------------------------------------------------


@router.get("/work-orders", response=WorkOrderPage)
def list_work_orders(
    request,
    status: str | None = None,
    store: int | None = None,
    vehicle: int | None = None,
    customer: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    """Filter with ``?status=settled`` (several: ``status=ready,settled``), store, vehicle."""
    require(request.user, "workorder.view")
    qs = selectors.work_orders(request.user).select_related("vehicle")
    if status:
        wanted = [s for s in status.split(",") if s]
        bad = [s for s in wanted if s not in WorkOrder.Status.values]
        if bad:
            raise Invalid(fields={"status": _("Unknown status: %(s)s") % {"s": ", ".join(bad)}})
        qs = qs.filter(status__in=wanted)
    for key, value in (("store_id", store), ("vehicle_id", vehicle), ("customer_id", customer)):
        if value is not None:
            qs = qs.filter(**{key: value})
    page = paginate(qs, cursor, limit, descending=True)
    fields = customfields.visible(request.user, "work_order")
    page["items"] = [wo_out(wo, fields) for wo in page["items"]]
    return page


@router.post("/work-orders", response={201: WorkOrderDetail})
def create_work_order(request, payload: WorkOrderIn):
    vehicle = customer_selectors.get_vehicle(request.user, payload.vehicle_id)
    data = payload.dict()
    data.pop("vehicle_id")
    wo = services.create_work_order(request.user, vehicle=vehicle, **data)
    return Status(201, detail_out(request.user, wo.pk))


@router.get("/work-orders/{wo_id}", response=WorkOrderDetail)
def get_work_order(request, wo_id: int):
    require(request.user, "workorder.view")
    return detail_out(request.user, wo_id)


@router.patch("/work-orders/{wo_id}", response=WorkOrderDetail)
def update_work_order(request, wo_id: int, payload: WorkOrderPatch):
    wo = selectors.get_work_order(request.user, wo_id)
    wo = services.update_work_order(request.user, wo, **payload.dict(exclude_unset=True))
    return detail_out(request.user, wo.pk)


@router.post("/work-orders/{wo_id}/actions/{action}", response=WorkOrderDetail)
def work_order_action(request, wo_id: int, action: str, payload: ActionIn | None = None):
    """``estimate``, ``start``, ``qc``, ``ready`` (with the passed quality-check ``checks``),
    ``settle``, ``close``, ``cancel``, ``reopen``; an illegal transition answers 409.
    The order is read once, locked and scoped to the user, by the service."""
    payload = payload or ActionIn()
    kwargs = {"version": payload.version, "reason": payload.reason}
    if action == "settle":
        kwargs["payments"] = [p.dict() for p in payload.payments]
        kwargs["old_parts_returned"] = payload.old_parts_returned
    elif action == "ready":
        kwargs["checks"] = payload.checks
    wo = services.perform_on(request.user, wo_id, action, **kwargs)
    return detail_out(request.user, wo.pk, saved=wo)


@router.post("/work-orders/{wo_id}/lines", response={201: LineOut})
def add_line(request, wo_id: int, payload: LineIn):
    wo = selectors.get_work_order(request.user, wo_id)
    line = services.add_line(request.user, wo, **payload.dict())
    return Status(201, line_out(line))


@router.post("/work-orders/{wo_id}/packages", response={201: list[LineOut]})
def add_package(request, wo_id: int, payload: PackageIn):
    wo = selectors.get_work_order(request.user, wo_id)
    lines = services.add_package(request.user, wo, payload.package_id, version=payload.version)
    return Status(201, [line_out(ln) for ln in lines])


@router.patch("/lines/{line_id}", response=LineOut)
def update_line(request, line_id: int, payload: LinePatch):
    line = selectors.get_line(request.user, line_id)
    line = services.update_line(request.user, line, **payload.dict(exclude_unset=True))
    return line_out(line)


@router.delete("/lines/{line_id}", response={204: None})
def delete_line(request, line_id: int, version: int | None = None):
    line = selectors.get_line(request.user, line_id)
    services.remove_line(request.user, line, version=version)
    return Status(204, None)


@router.post("/lines/{line_id}/assign", response=LineOut)
def assign_line(request, line_id: int, payload: AssignIn):
    line = selectors.get_line(request.user, line_id)
    return line_out(services.assign_line(request.user, line, payload.technician_ids))


@router.post("/work-orders/{wo_id}/approvals", response=list[LineOut])
def record_approval(request, wo_id: int, payload: ApprovalIn):
    """The owner's decision per line given in person or by phone."""
    wo = selectors.get_work_order(request.user, wo_id)
    lines = services.record_approval(
        request.user,
        wo,
        payload.decisions,
        channel=payload.channel,
        by_name=payload.by_name,
        reasons=payload.reasons,
    )
    return [line_out(ln) for ln in lines]


@router.post("/work-orders/{wo_id}/qc", response=WorkOrderDetail)
def record_qc(request, wo_id: int, payload: QcIn):
    wo = selectors.get_work_order(request.user, wo_id)
    services.record_qc(
        request.user,
        wo,
        checks=payload.checks,
        reason=payload.reason,
        return_line_ids=payload.return_line_ids,
    )
    return detail_out(request.user, wo.pk)


@router.post("/work-orders/{wo_id}/payments", response={201: list[PaymentOut]})
def take_payments(request, wo_id: int, payload: PaymentsIn):
    wo = selectors.get_work_order(request.user, wo_id)
    made = services.take_payments(
        request.user, wo, [p.dict() for p in payload.payments], version=payload.version
    )
    return Status(201, [{f: getattr(p, f) for f in PaymentOut.model_fields} for p in made])


@router.post("/payments/{payment_id}/refund", response={201: PaymentOut})
def refund(request, payment_id: int, payload: RefundIn):
    payment = selectors.get_payment(request.user, payment_id)
    row = services.refund_payment(request.user, payment, **payload.dict())
    return Status(201, {f: getattr(row, f) for f in PaymentOut.model_fields})


@router.get("/vehicles/{vehicle_id}/recommendations", response=list[RecommendationOut])
def vehicle_recommendations(request, vehicle_id: int):
    vehicle = customer_selectors.get_vehicle(request.user, vehicle_id)
    return list(selectors.open_recommendations(request.user, vehicle.pk))


@router.post("/work-orders/{wo_id}/recommendations/{reco_id}", response={201: LineOut})
def add_recommendation(request, wo_id: int, reco_id: int):
    wo = selectors.get_work_order(request.user, wo_id)
    reco = selectors.open_recommendations(request.user, wo.vehicle_id).filter(pk=reco_id).first()
    if reco is None:
        raise NotFound()
    return Status(201, line_out(services.add_recommendation(request.user, wo, reco)))


@router.post("/recommendations/{reco_id}/dismiss", response=RecommendationOut)
def dismiss_recommendation(request, reco_id: int, payload: DismissIn):
    reco = selectors.get_recommendation(request.user, reco_id)
    return services.dismiss_recommendation(request.user, reco, payload.reason)


# --- appointments -------------------------------------------------------------------------


@router.get("/appointments", response=AppointmentPage)
def list_appointments(
    request,
    store: int | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    require(request.user, "appointment.view")
    qs = selectors.appointments(request.user).select_related("work_order")
    if store is not None:
        qs = qs.filter(store_id=store)
    if date_from:
        qs = qs.filter(starts_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(starts_at__date__lte=date_to)
    if status:
        qs = qs.filter(status__in=status.split(","))
    page = paginate(qs, cursor, limit, descending=True)
    page["items"] = [appt_out(request.user, a) for a in page["items"]]
    return page


@router.post("/appointments", response={201: AppointmentOut})
def book_appointment(request, payload: AppointmentIn):
    require(request.user, "appointment.edit")
    store = get_store(request.user, payload.store_id)
    data = payload.dict()
    data.pop("store_id")
    appt = appointments.book(request.user, store=store, **data)
    return Status(201, appt_out(request.user, appt))


class ArrivalOut(Schema):
    appointment: AppointmentOut
    work_order_id: int | None


@router.post("/appointments/{appt_id}/actions/{action}", response=ArrivalOut)
def appointment_action(request, appt_id: int, action: str, payload: AppointmentAction | None):
    """``confirm``, ``reschedule`` (starts_at), ``cancel`` (reason), ``no_show``, ``arrive``
    (opens the work order)."""
    appt = selectors.get_appointment(request.user, appt_id)
    payload = payload or AppointmentAction()
    wo = None
    if action == "confirm":
        appointments.confirm(request.user, appt)
    elif action == "reschedule":
        if payload.starts_at is None:
            raise Invalid(fields={"starts_at": _("Choose a time.")})
        appointments.reschedule(request.user, appt, payload.starts_at)
    elif action == "cancel":
        appointments.cancel(request.user, appt, payload.reason)
    elif action == "no_show":
        appointments.no_show(request.user, appt)
    elif action == "arrive":
        wo = appointments.arrive(request.user, appt, mileage_in=payload.mileage_in)
    else:
        raise NotFound(_("Unknown action."))
    appt = selectors.get_appointment(request.user, appt_id)
    return {"appointment": appt_out(request.user, appt), "work_order_id": wo.pk if wo else None}


class SlotOut(Schema):
    starts_at: datetime.datetime
    left: int
    past: bool


@router.get("/appointments/slots", response=list[SlotOut])
def appointment_slots(request, store: int, date: datetime.date):
    require(request.user, "appointment.view")
    return appointments.slots(get_store(request.user, store), date)


class ConversionOut(Schema):
    bookings: int
    arrived: int
    rate: float | None


@router.get("/appointments/conversion", response=ConversionOut)
def appointment_conversion(
    request, date_from: datetime.date, date_to: datetime.date, store: int | None = None
):
    """Appointment-to-arrival conversion over a period (cancelled bookings excluded)."""
    require(request.user, "appointment.view")
    qs = selectors.appointments(request.user).filter(
        starts_at__date__gte=date_from, starts_at__date__lte=date_to
    )
    if store is not None:
        qs = qs.filter(store_id=store)
    return appointments.conversion(qs)
