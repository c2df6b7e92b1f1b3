"""Appointments (预约): booked by staff or by the owner online, with a capacity per slot and
store; confirmation and reminder messages go to the outbox; arrival opens the work order."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.catalog.models import ServicePackage
from autocrm.core import audit, scoping
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import Store, User
from autocrm.core.services import require
from autocrm.core.validators import normalize_mobile, normalize_text, tidy_prose, validate_mobile
from autocrm.customers import services as customer_services
from autocrm.customers.models import Customer, Vehicle
from autocrm.customers.validators import normalize_plate, validate_plate
from autocrm.messaging import services as outbox
from autocrm.service import services
from autocrm.service.models import Appointment, ServiceSettings, WorkOrder

A = Appointment.Status
TAKEN = [A.BOOKED, A.CONFIRMED, A.ARRIVED]


def slots(
    store: Store, day: datetime.date, *, conf: ServiceSettings | None = None, exclude_pk=None
) -> list[dict]:
    """The day's booking slots with how many places are left (not counting the booking
    ``exclude_pk``, which is being moved)."""
    conf = conf or services.settings_for(store.pk)
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(day, conf.opens_at, tzinfo=tz)
    end = datetime.datetime.combine(day, conf.closes_at, tzinfo=tz)
    step = datetime.timedelta(minutes=conf.slot_minutes or 60)
    booked: dict[datetime.datetime, int] = {}
    taken = Appointment.objects.filter(
        store=store, status__in=TAKEN, starts_at__gte=start, starts_at__lt=end
    )
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    for when in taken.values_list("starts_at", flat=True):
        key = timezone.localtime(when, tz)
        booked[key] = booked.get(key, 0) + 1
    result = []
    now = timezone.now()
    when = start
    while when + step <= end:
        left = max(0, conf.slot_capacity - booked.get(when, 0))
        result.append({"starts_at": when, "left": left, "past": when <= now})
        when += step
    return result


def _check_slot(store: Store, starts_at: datetime.datetime, *, exclude_pk=None) -> None:
    conf = services.settings_for(store.pk)
    local = timezone.localtime(starts_at)
    day = local.date()
    if starts_at <= timezone.now():
        raise Invalid(fields={"starts_at": _("Choose a time in the future.")})
    if day > timezone.localdate() + datetime.timedelta(days=conf.booking_days):
        raise Invalid(
            fields={
                "starts_at": _("Bookings open %(days)s days ahead.") % {"days": conf.booking_days}
            }
        )
    slot = next(
        (s for s in slots(store, day, conf=conf, exclude_pk=exclude_pk) if s["starts_at"] == local),
        None,
    )
    if slot is None:
        raise Invalid(fields={"starts_at": _("Choose one of the store's booking times.")})
    if slot["left"] <= 0:
        raise Conflict(_("This time is fully booked. Please choose another."), code="slot_full")


def _known(org_id: int, mobile: str, plate: str) -> tuple[Customer | None, Vehicle | None]:
    """The customer with this mobile and the car with this active plate, if on record."""
    customer = Customer.objects.filter(
        org_id=org_id, mobile=mobile, merged_into__isnull=True, erased_at__isnull=True
    ).first()
    vehicle = None
    if plate:
        vehicle = Vehicle.objects.filter(org_id=org_id, plate=plate, plate_active=True).first()
    return customer, vehicle


def _messages(appt: Appointment) -> None:
    when = timezone.localtime(appt.starts_at)
    text = _("[%(store)s] Your booking for %(when)s is received. Address: %(address)s") % {
        "store": appt.store.name,
        "when": when.strftime("%m-%d %H:%M"),
        "address": appt.store.address,
    }
    related = f"appointment:{appt.pk}"
    outbox.queue(
        org_id=appt.org_id,
        store_id=appt.store_id,
        customer=appt.customer,
        to=appt.mobile,
        purpose="appointment.confirmation",
        body=text,
        related=related,
    )
    remind_at = when - datetime.timedelta(days=1)
    remind_at = remind_at.replace(hour=18, minute=0, second=0, microsecond=0)
    if remind_at > timezone.now():
        outbox.queue(
            org_id=appt.org_id,
            store_id=appt.store_id,
            customer=appt.customer,
            to=appt.mobile,
            purpose="appointment.reminder",
            body=_("[%(store)s] Reminder: your booking is tomorrow at %(time)s.")
            % {"store": appt.store.name, "time": when.strftime("%H:%M")},
            send_after=remind_at,
            related=related,
        )


@transaction.atomic
def book(
    actor: User | None,
    *,
    store: Store,
    name: str,
    mobile: str,
    starts_at: datetime.datetime,
    plate: str = "",
    package_id=None,
    note: str = "",
    source_id=None,
    campaign: str = "",
) -> Appointment:
    """A booking by staff (``actor``) or by the owner online (``actor`` None, the public
    page). Known customers and cars are linked by mobile and plate. ``source_id`` and
    ``campaign`` record what brought the booking (carried onto the work order at arrival)."""
    if actor is not None:
        require(actor, "appointment.edit")
        if store.org_id != actor.org_id or not scoping.can_see_store(actor, store.pk):
            raise NotFound()
    elif not services.settings_for(store.pk).online_booking or not store.is_active:
        raise NotFound(_("This store does not take online bookings."))
    errors: dict = {}
    name = normalize_text(name)[:100]
    if not name:
        errors["name"] = _("Enter your name.")
    mobile = normalize_mobile(mobile)
    try:
        if not mobile:
            raise ValidationError(_("Enter a mobile number so we can confirm."))
        validate_mobile(mobile)
    except ValidationError as exc:
        errors["mobile"] = " ".join(exc.messages)
    plate = normalize_plate(plate)
    if plate:
        try:
            plate = validate_plate(plate)
        except ValidationError as exc:
            errors["plate"] = " ".join(exc.messages)
    package = None
    if package_id not in (None, ""):
        package = ServicePackage.objects.filter(
            org_id=store.org_id, pk=package_id, is_active=True
        ).first()
        if package is None or (actor is None and not package.bookable):
            errors["package"] = _("Choose a service.")
    if not isinstance(starts_at, datetime.datetime):
        errors["starts_at"] = _("Choose a time.")
    try:
        origin = services._clean_source(
            store.org_id, {"source_id": source_id, "campaign": campaign}
        )
    except Invalid as exc:
        errors.update(exc.fields)
    if errors:
        raise Invalid(fields=errors)
    _check_slot(store, starts_at)
    customer, vehicle = _known(store.org_id, mobile, plate)
    appt = Appointment.objects.create(
        org_id=store.org_id,
        store=store,
        customer=customer,
        vehicle=vehicle,
        name=name,
        mobile=mobile,
        plate=plate,
        package=package,
        note=tidy_prose(note)[:200],
        starts_at=starts_at,
        channel=Appointment.Channel.STAFF if actor else Appointment.Channel.ONLINE,
        created_by=actor,
        **origin,
    )
    _messages(appt)
    return appt


def _editable(actor: User, appt: Appointment) -> None:
    require(actor, "appointment.edit")
    if appt.org_id != actor.org_id or not scoping.can_see_store(actor, appt.store_id):
        raise NotFound()


def _status(appt: Appointment, allowed: set, verb: str) -> None:
    if appt.status not in allowed:
        raise Conflict(
            _("Cannot %(verb)s a booking that is %(status)s.")
            % {"verb": verb, "status": appt.get_status_display()},
            code="illegal_transition",
        )


@audit.by_actor
@transaction.atomic
def confirm(actor: User, appt: Appointment) -> Appointment:
    _editable(actor, appt)
    _status(appt, {A.BOOKED}, _("confirm"))
    appt.status = A.CONFIRMED
    appt.confirmed_at = timezone.now()
    appt.save(update_fields=["status", "confirmed_at", "updated_at"])
    return appt


@audit.by_actor
@transaction.atomic
def reschedule(actor: User, appt: Appointment, starts_at: datetime.datetime) -> Appointment:
    _editable(actor, appt)
    _status(appt, {A.BOOKED, A.CONFIRMED}, _("move"))
    _check_slot(appt.store, starts_at, exclude_pk=appt.pk)
    appt.starts_at = starts_at
    appt.save(update_fields=["starts_at", "updated_at"])
    outbox.cancel_related(f"appointment:{appt.pk}", "appointment.reminder")
    _messages(appt)
    return appt


@audit.by_actor
@transaction.atomic
def cancel(actor: User, appt: Appointment, reason: str = "") -> Appointment:
    _editable(actor, appt)
    _status(appt, {A.BOOKED, A.CONFIRMED}, _("cancel"))
    appt.status = A.CANCELLED
    appt.cancel_reason = tidy_prose(reason)[:200]
    appt.save(update_fields=["status", "cancel_reason", "updated_at"])
    outbox.cancel_related(f"appointment:{appt.pk}")
    return appt


@audit.by_actor
@transaction.atomic
def no_show(actor: User, appt: Appointment) -> Appointment:
    _editable(actor, appt)
    _status(appt, {A.BOOKED, A.CONFIRMED}, _("mark as no-show"))
    if appt.starts_at > timezone.now():
        raise Conflict(_("The booked time has not come yet."))
    appt.status = A.NO_SHOW
    appt.save(update_fields=["status", "updated_at"])
    return appt


@audit.by_actor
@transaction.atomic
def arrive(actor: User, appt: Appointment, *, mileage_in=None) -> WorkOrder:
    """The car is here: one click opens its work order (creating the customer and the car
    from the booking when they are new) with the booked service as proposed lines."""
    _editable(actor, appt)
    require(actor, "workorder.edit")
    _status(appt, {A.BOOKED, A.CONFIRMED}, _("check in"))
    known_customer, known_vehicle = _known(appt.org_id, appt.mobile, appt.plate)
    customer = appt.customer or known_customer
    if customer is None:
        customer = customer_services.create_customer(
            actor, home_store_id=appt.store_id, name=appt.name, mobile=appt.mobile
        )
    vehicle = appt.vehicle or known_vehicle
    if vehicle is None:
        if not appt.plate:
            raise Invalid(fields={"plate": _("Enter the car's plate to check it in.")})
        vehicle = customer_services.create_vehicle(
            actor, owner_id=customer.pk, home_store_id=appt.store_id, plate=appt.plate
        )
    wo = services.create_work_order(
        actor,
        vehicle=vehicle,
        store_id=appt.store_id,
        mileage_in=mileage_in,
        complaint=appt.note,
        appointment=appt,
    )
    if appt.package_id:
        services.add_package(actor, wo, appt.package_id)
    appt.status = A.ARRIVED
    appt.arrived_at = timezone.now()
    appt.customer, appt.vehicle = customer, vehicle
    appt.save(update_fields=["status", "arrived_at", "customer", "vehicle", "updated_at"])
    return wo


def conversion(qs) -> dict:
    """Bookings (cancelled ones excluded), arrivals, and the rate arrived ÷ bookings whose
    time has passed — one query."""
    past = Q(starts_at__lte=timezone.now())
    figures = qs.exclude(status=A.CANCELLED).aggregate(
        bookings=Count("id"),
        arrived=Count("id", filter=Q(status=A.ARRIVED)),
        due=Count("id", filter=past),
        arrived_due=Count("id", filter=past & Q(status=A.ARRIVED)),
    )
    due, arrived_due = figures.pop("due"), figures.pop("arrived_due")
    figures["rate"] = arrived_due / due if due else None
    return figures
