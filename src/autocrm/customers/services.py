"""Every write to customers and vehicles: permission- and scope-checked, transactional, audited.

Duplicates are refused with a ``Conflict`` whose ``extra["existing_id"]`` lets the page offer
to open the existing record instead."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit, customfields, events, scoping
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import Store, User
from autocrm.core.selectors import store_for
from autocrm.core.services import require
from autocrm.core.validators import (
    normalize_mobile,
    normalize_text,
    tidy_prose,
    validate_mobile,
)
from autocrm.customers import maintenance, preferences
from autocrm.customers.models import (
    Customer,
    Interaction,
    MileageReading,
    Ownership,
    PlateKey,
    SourceChannel,
    Tag,
    Vehicle,
)
from autocrm.customers.pinyin import pinyin_full, pinyin_initials
from autocrm.customers.validators import (
    normalize_plate,
    normalize_vin,
    validate_birthday,
    validate_customer_name,
    validate_plate,
    validate_vin,
)

CUSTOMER_TEXT = ("name", "other_contacts", "wechat_id", "level", "notes", "company_tax_id")
VEHICLE_TEXT = ("brand", "model", "color", "engine_no", "insurer")
VEHICLE_DATES = ("registered_on", "purchased_on", "insurance_expires_on", "inspection_due_on")
PLATE_KEY_MIN = 2


def _message(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)


def _check(errors: dict, code: str | None = None) -> None:
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise Invalid(fields=errors, code=code)


#: ``Invalid.code`` when a well-formed VIN's check digit fails and was not confirmed: the form
#: then offers the confirmation box (``confirm_vin``).
VIN_UNCONFIRMED = "vin_unconfirmed"


def _store_for(actor: User, store_id) -> Store:
    """The customer's or vehicle's home store: inactive stores of the actor's area are allowed
    (records of a closed store stay editable)."""
    return store_for(actor, store_id, field="home_store", active_only=False)


def _require_visible(actor: User, obj) -> None:
    if obj.org_id != actor.org_id or not scoping.can_see_store(actor, obj.home_store_id):
        raise NotFound()


def search_fields(customer: Customer) -> None:
    """Derived, indexed forms of the name and mobile used by search."""
    customer.name_pinyin = pinyin_full(customer.name)[:200]
    customer.name_initials = pinyin_initials(customer.name)[:60]
    customer.mobile_tail = customer.mobile[-4:] if customer.mobile else ""


def vehicle_search_fields(vehicle: Vehicle) -> None:
    """Derived, indexed form of the VIN used by search (its last six characters); the plate's
    search keys are rows of their own (``plate_keys``)."""
    vehicle.vin_tail = vehicle.vin[-6:] if vehicle.vin else ""


def plate_keys(plate: str) -> list[str]:
    """Suffixes of the plate without its province character (e.g. A12345, 12345 … 45)."""
    if not plate:
        return []
    body = plate[1:] if not plate[0].isascii() else plate
    return [body[i:] for i in range(len(body) - PLATE_KEY_MIN + 1)]


def _rebuild_plate_keys(vehicle: Vehicle) -> None:
    PlateKey.objects.filter(vehicle=vehicle).delete()
    if vehicle.plate and vehicle.plate_active:
        PlateKey.objects.bulk_create(
            [
                PlateKey(
                    org_id=vehicle.org_id,
                    vehicle=vehicle,
                    home_store_id=vehicle.home_store_id,
                    key=k,
                )
                for k in plate_keys(vehicle.plate)
            ]
        )


def sync_plate_key_store(vehicle_ids, store_id: int | None = None) -> int:
    """Bring the plate keys' copy of the home store in line with their vehicles (after a
    vehicle moved store): ``store_id`` when all the vehicles moved there, else each key takes
    its own vehicle's store. One set-based UPDATE; returns the keys changed."""
    ids = list(vehicle_ids)
    if not ids:
        return 0
    keys = PlateKey.objects.filter(vehicle_id__in=ids)
    if store_id is not None:
        return keys.exclude(home_store_id=store_id).update(home_store_id=store_id)
    store = Vehicle.objects.filter(pk=OuterRef("vehicle_id")).values("home_store_id")[:1]
    return keys.exclude(home_store_id=Subquery(store)).update(home_store_id=Subquery(store))


# --- customers ----------------------------------------------------------------------------


def _clean_customer(actor: User, data: dict, customer: Customer | None) -> dict:
    clean: dict = {}
    errors: dict = {}
    for key in CUSTOMER_TEXT:
        if key in data:
            clean[key] = normalize_text(data[key]) if key != "notes" else (data[key] or "").strip()
    if customer is None or "name" in clean:
        try:
            validate_customer_name(clean.get("name", ""))
        except ValidationError as exc:
            errors["name"] = _message(exc)
    if "mobile" in data:
        clean["mobile"] = normalize_mobile(data["mobile"])
        try:
            validate_mobile(clean["mobile"])
        except ValidationError as exc:
            errors["mobile"] = _message(exc)
    if "kind" in data:
        clean["kind"] = data["kind"] or Customer.Kind.PERSON
        if clean["kind"] not in Customer.Kind.values:
            errors["kind"] = _("Choose person or company.")
    if "gender" in data:
        clean["gender"] = data["gender"] or ""
        if clean["gender"] not in Customer.Gender.values:
            errors["gender"] = _("Choose a gender or leave it empty.")
    if "birthday" in data:
        clean["birthday"] = data["birthday"] or None
        try:
            validate_birthday(clean["birthday"])
        except ValidationError as exc:
            errors["birthday"] = _message(exc)
    if data.get("source_id") not in (None, ""):
        source = SourceChannel.objects.filter(org_id=actor.org_id, pk=data["source_id"]).first()
        if source is None:
            errors["source"] = _("Choose a source from the list.")
        clean["source"] = source
    elif "source_id" in data:
        clean["source"] = None
    if data.get("referrer_id") not in (None, ""):
        referrer = Customer.objects.filter(org_id=actor.org_id, pk=data["referrer_id"]).first()
        if referrer is None or (customer is not None and referrer.pk == customer.pk):
            errors["referrer"] = _("Choose another customer as the referrer.")
        clean["referrer"] = referrer
    elif "referrer_id" in data:
        clean["referrer"] = None
    if "preferences" in data:
        current = customer.preferences if customer is not None else None
        clean["preferences"], preference_errors = preferences.clean(data["preferences"], current)
        errors.update(preference_errors)
    _check(errors)
    if clean.get("mobile"):
        dupe = Customer.objects.filter(
            org_id=actor.org_id, mobile=clean["mobile"], merged_into__isnull=True
        )
        if customer is not None:
            dupe = dupe.exclude(pk=customer.pk)
        existing = dupe.values_list("pk", flat=True).first()
        if existing:
            raise Conflict(
                _("A customer with this mobile number already exists."),
                fields={"mobile": _("Already used by another customer.")},
                extra={"existing_id": existing},
            )
    return clean


@audit.by_actor
@transaction.atomic
def create_customer(
    actor: User, *, home_store_id=None, tag_ids=(), custom=None, **data
) -> Customer:
    require(actor, "customer.edit")
    store = _store_for(actor, home_store_id)
    clean = _clean_customer(actor, data, None)
    clean["custom"] = customfields.clean_values(actor, "customer", custom or {})
    customer = Customer(org_id=actor.org_id, home_store=store, **clean)
    search_fields(customer)
    customer.save()
    if tag_ids:
        customer.tags.set(Tag.objects.filter(org_id=actor.org_id, pk__in=tag_ids))
    return customer


@audit.by_actor
@transaction.atomic
def update_customer(
    actor: User, customer: Customer, *, tag_ids=None, custom=None, **data
) -> Customer:
    require(actor, "customer.edit")
    _require_visible(actor, customer)
    if custom is not None:
        customer.custom = customfields.clean_values(actor, "customer", custom, customer.custom)
    if data.get("home_store_id") not in (None, ""):
        customer.home_store = _store_for(actor, data.pop("home_store_id"))
    data.pop("home_store_id", None)
    clean = _clean_customer(actor, data, customer)
    for key, value in clean.items():
        setattr(customer, key, value)
    search_fields(customer)
    customer.save()
    if tag_ids is not None:
        customer.tags.set(Tag.objects.filter(org_id=actor.org_id, pk__in=tag_ids))
    return customer


@audit.by_actor
@transaction.atomic
def set_consent(actor: User, customer: Customer, channel: str, given: bool, how: str) -> Customer:
    """Marketing consent per channel, with when and how it was given or withdrawn."""
    require(actor, "customer.edit")
    _require_visible(actor, customer)
    if channel not in ("sms", "wechat"):
        raise Invalid(fields={"channel": _("Choose SMS or WeChat.")})
    how = normalize_text(how)[:60]
    if not how:
        raise Invalid(fields={"how": _("Say how the customer agreed or refused.")})
    setattr(customer, f"consent_{channel}", given)
    setattr(customer, f"consent_{channel}_at", timezone.now())
    setattr(customer, f"consent_{channel}_how", how)
    customer.save()
    return customer


@audit.by_actor
def reveal_mobile(actor: User, customer: Customer) -> str:
    """The full number for someone allowed to call; every reveal is in the audit log."""
    _require_visible(actor, customer)
    if not actor.can("customer.phone"):
        raise Forbidden(_("Your role does not need customers' full mobile numbers."))
    audit.write("reveal", customer, {"mobile": ["******", "shown"]})
    return customer.mobile


@audit.by_actor
@transaction.atomic
def add_interaction(
    actor: User,
    customer: Customer,
    *,
    kind: str,
    summary: str,
    body: str = "",
    vehicle_id=None,
    occurred_at: datetime.datetime | None = None,
) -> Interaction:
    """A note or logged call on the timeline (visits, quotes and messages come from their
    own modules through the same function)."""
    require(actor, "customer.view")
    _require_visible(actor, customer)
    summary = tidy_prose(summary)[:200]
    errors = {"summary": None if summary else _("Write a few words.")}
    if kind not in Interaction.Kind.values:
        errors["kind"] = _("Choose the type of entry.")
    _check(errors)
    vehicle = None
    if vehicle_id:
        vehicle = customer.vehicles.filter(pk=vehicle_id).first()
        if vehicle is None:
            raise Invalid(fields={"vehicle": _("Choose one of this customer's vehicles.")})
    return Interaction.objects.create(
        org_id=customer.org_id,
        store=customer.home_store,
        customer=customer,
        vehicle=vehicle,
        kind=kind,
        summary=summary,
        body=(body or "").strip(),
        occurred_at=occurred_at or timezone.now(),
        staff=actor,
    )


# --- vehicles -----------------------------------------------------------------------------


def _clean_vehicle(actor: User, data: dict, vehicle: Vehicle | None) -> dict:
    clean: dict = {}
    errors: dict = {}
    code = None
    for key in VEHICLE_TEXT:
        if key in data:
            clean[key] = normalize_text(data[key])
    if "plate" in data:
        raw = normalize_plate(data["plate"] or "")
        if raw and not data.get("plate_override"):
            try:
                raw = validate_plate(raw)
            except ValidationError as exc:
                errors["plate"] = _message(exc)
        clean["plate"] = raw
    if "vin" in data:
        vin = normalize_vin(data["vin"] or "")
        clean["vin"], clean["vin_check_ok"] = "", True
        if vin:
            try:
                vin, ok = validate_vin(vin)
            except ValidationError as exc:
                errors["vin"] = _message(exc)
            else:
                if not ok and not data.get("confirm_vin"):
                    errors["vin"] = _(
                        "The check digit (9th character) does not match. Check the VIN, or "
                        "confirm that it is exactly as on the vehicle."
                    )
                    code = VIN_UNCONFIRMED
                clean["vin"], clean["vin_check_ok"] = vin, ok
    if "fuel" in data:
        clean["fuel"] = data["fuel"] or ""
        if clean["fuel"] not in Vehicle.Fuel.values and clean["fuel"]:
            errors["fuel"] = _("Choose a fuel type.")
    if "model_year" in data:
        year = data["model_year"]
        if year and not 1950 <= int(year) <= timezone.localdate().year + 1:
            errors["model_year"] = _("Check the model year.")
        clean["model_year"] = year or None
    today = timezone.localdate()
    for key in VEHICLE_DATES:
        if key in data:
            clean[key] = data[key] or None
    for key in ("registered_on", "purchased_on"):
        if clean.get(key) and clean[key] > today:
            errors[key] = _("This date cannot be in the future.")
    _check(errors, code)
    if vehicle is None and not clean.get("plate") and not clean.get("vin"):
        raise Invalid(fields={"plate": _("Enter the plate or the VIN.")})
    for field, value, label in (
        ("plate", clean.get("plate"), _("A vehicle with this plate already exists.")),
        ("vin", clean.get("vin"), _("A vehicle with this VIN already exists.")),
    ):
        if not value:
            continue
        dupe = Vehicle.objects.filter(org_id=actor.org_id, **{field: value})
        if field == "plate":
            dupe = dupe.filter(plate_active=True)
        if vehicle is not None:
            dupe = dupe.exclude(pk=vehicle.pk)
        existing = dupe.values_list("pk", flat=True).first()
        if existing:
            raise Conflict(
                label, fields={field: _("Already registered.")}, extra={"existing_id": existing}
            )
    return clean


@audit.by_actor
@transaction.atomic
def create_vehicle(
    actor: User,
    *,
    owner_id=None,
    home_store_id=None,
    mileage_km: int | None = None,
    **data,
) -> Vehicle:
    require(actor, "customer.edit")
    owner = None
    if owner_id not in (None, ""):
        owner = Customer.objects.filter(org_id=actor.org_id, pk=owner_id).first()
        if owner is None or not scoping.can_see_store(actor, owner.home_store_id):
            raise Invalid(fields={"owner": _("Choose a customer of your stores.")})
    store = (
        owner.home_store
        if owner and home_store_id in (None, "")
        else _store_for(actor, home_store_id)
    )
    clean = _clean_vehicle(actor, data, None)
    clean["custom"] = customfields.clean_values(actor, "vehicle", data.get("custom") or {})
    vehicle = Vehicle(org_id=actor.org_id, home_store=store, owner=owner, **clean)
    vehicle_search_fields(vehicle)
    vehicle.save()
    _rebuild_plate_keys(vehicle)
    if owner is not None:
        Ownership.objects.create(vehicle=vehicle, customer=owner)
    if mileage_km:
        record_mileage(actor, vehicle, km=mileage_km, source=MileageReading.Source.MANUAL)
    return vehicle


@audit.by_actor
@transaction.atomic
def update_vehicle(actor: User, vehicle: Vehicle, **data) -> Vehicle:
    require(actor, "customer.edit")
    _require_visible(actor, vehicle)
    clean = _clean_vehicle(actor, data, vehicle)
    if data.get("custom") is not None:
        clean["custom"] = customfields.clean_values(
            actor, "vehicle", data["custom"], vehicle.custom
        )
    plate_changed = "plate" in clean and clean["plate"] != vehicle.plate
    store_changed = False
    if data.get("home_store_id") not in (None, ""):
        store = _store_for(actor, data["home_store_id"])
        store_changed = store.pk != vehicle.home_store_id
        vehicle.home_store = store
    for key, value in clean.items():
        setattr(vehicle, key, value)
    vehicle_search_fields(vehicle)
    vehicle.save()
    if plate_changed:
        _rebuild_plate_keys(vehicle)
    elif store_changed:
        sync_plate_key_store([vehicle.pk], vehicle.home_store_id)
    return vehicle


@audit.by_actor
@transaction.atomic
def record_mileage(
    actor: User,
    vehicle: Vehicle,
    *,
    km: int,
    read_on: datetime.date | None = None,
    source: str = MileageReading.Source.MANUAL,
    note: str = "",
) -> MileageReading:
    """A reading never lowers the mileage unless it is an explicit correction with a reason."""
    require(actor, "customer.edit")
    _require_visible(actor, vehicle)
    read_on = read_on or timezone.localdate()
    errors = {}
    if km is None or int(km) < 0 or int(km) > 2_000_000:
        errors["km"] = _("Enter the odometer reading in km (0 – 2 000 000).")
    if read_on > timezone.localdate():
        errors["read_on"] = _("A reading cannot be dated in the future.")
    if source not in MileageReading.Source.values:
        errors["source"] = _("Choose where the reading comes from.")
    _check(errors)
    km = int(km)
    correcting = source == MileageReading.Source.CORRECTION
    if correcting and not normalize_text(note):
        raise Invalid(fields={"note": _("Say why the mileage is being corrected.")})
    last = vehicle.mileage.order_by("-read_on", "-id").first()
    if last is not None and not correcting and km < last.km:
        raise Invalid(
            fields={
                "km": _(
                    "Lower than the last reading (%(km)s km on %(date)s). If the earlier "
                    "reading was wrong, record a correction."
                )
                % {"km": last.km, "date": last.read_on}
            }
        )
    reading = MileageReading.objects.create(
        vehicle=vehicle,
        km=km,
        read_on=read_on,
        source=source,
        note=normalize_text(note),
        recorded_by=actor if actor.is_authenticated else None,
    )
    if correcting or vehicle.mileage_read_on is None or read_on >= vehicle.mileage_read_on:
        vehicle.current_mileage = km
        vehicle.mileage_read_on = read_on
        vehicle.save(update_fields=["current_mileage", "mileage_read_on", "updated_at"])
    # In the same transaction, so the card, the API answer and the rules engine reacting to
    # the event below already see the new prediction.
    maintenance.refresh_vehicle(vehicle)
    events.publish(
        "vehicle.mileage_recorded",
        vehicle_id=vehicle.pk,
        store_id=vehicle.home_store_id,
        reading_id=reading.pk,
        km=km,
        read_on=read_on.isoformat(),
        source=source,
    )
    return reading


@audit.by_actor
@transaction.atomic
def transfer_vehicle(actor: User, vehicle: Vehicle, new_owner: Customer) -> Vehicle:
    """Change owner: the vehicle keeps its whole history; each owner's timeline shows their
    own period."""
    require(actor, "customer.edit")
    _require_visible(actor, vehicle)
    _require_visible(actor, new_owner)
    if vehicle.owner_id == new_owner.pk:
        raise Invalid(fields={"owner": _("This customer already owns the vehicle.")})
    now = timezone.now()
    for period in Ownership.objects.filter(vehicle=vehicle, ended_at__isnull=True):
        period.ended_at = now
        period.save()
    Ownership.objects.create(vehicle=vehicle, customer=new_owner, started_at=now)
    previous = vehicle.owner
    vehicle.owner = new_owner
    vehicle.save()
    for customer, summary in (
        (previous, _("Vehicle %(plate)s transferred to another owner")),
        (new_owner, _("Vehicle %(plate)s transferred to this customer")),
    ):
        if customer is not None:
            Interaction.objects.create(
                org_id=customer.org_id,
                store=customer.home_store,
                customer=customer,
                vehicle=vehicle,
                kind=Interaction.Kind.SYSTEM,
                summary=summary % {"plate": vehicle},
                occurred_at=now,
                staff=actor,
            )
    return vehicle


@audit.by_actor
@transaction.atomic
def create_tag(actor: User, name: str) -> Tag:
    require(actor, "customer.edit")
    name = normalize_text(name)[:30]
    if not name:
        raise Invalid(fields={"name": _("Enter the tag.")})
    return Tag.objects.get_or_create(org_id=actor.org_id, name=name)[0]
