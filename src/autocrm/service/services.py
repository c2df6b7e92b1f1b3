"""Every write of the shop floor: work orders, lines, approvals, state actions, dispatch,
time, quality checks, settlement and payments. Transactional, permission- and scope-checked,
audited; events are published after commit.

Concurrency: a save carries the ``version`` the person loaded; a different current version is
refused with who changed it and when. Line approvals are conditional updates, so two phones
approving the same line cannot both succeed."""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, Sum, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.catalog.models import Category, LabourItem, Part, RepairClass, ServicePackage
from autocrm.catalog.pricing import line_amount
from autocrm.catalog.selectors import line_for, package_lines
from autocrm.catalog.services import MAX_QUANTITY
from autocrm.core import audit, customfields, events, scoping
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import Store, User
from autocrm.core.scoping import require_visible
from autocrm.core.services import require
from autocrm.core.validators import normalize_text, parse_money, parse_positive, tidy_prose
from autocrm.customers import maintenance
from autocrm.customers import services as customer_services
from autocrm.customers.models import Customer, Interaction, MileageReading, Vehicle
from autocrm.service.models import (
    ZERO,
    Inspection,
    InspectionResult,
    InspectionTemplate,
    Payment,
    QualityCheck,
    Recommendation,
    ServiceSettings,
    TimeEntry,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderEvent,
    WorkOrderLine,
)

S = WorkOrder.Status
CENT = Decimal("0.01")
MAX_PRICE = Decimal("999999")

# National minimum warranty (《机动车维修管理规定》): days, km — whichever comes first.
WARRANTY_MINIMUM = {
    RepairClass.VEHICLE: (100, 20000),
    RepairClass.ASSEMBLY: (100, 20000),
    RepairClass.SECOND: (30, 5000),
    RepairClass.FIRST: (10, 2000),
    RepairClass.MINOR: (10, 2000),
    RepairClass.SPECIAL: (10, 2000),
}
# The heavier class decides the work order's warranty and whether a certificate is printed.
CLASS_WEIGHT = {
    RepairClass.MINOR: 0,
    RepairClass.SPECIAL: 1,
    RepairClass.FIRST: 2,
    RepairClass.SECOND: 3,
    RepairClass.ASSEMBLY: 4,
    RepairClass.VEHICLE: 5,
}
CERTIFICATE_CLASSES = {RepairClass.SECOND, RepairClass.ASSEMBLY, RepairClass.VEHICLE}
LABOUR_CATEGORIES = {
    Category.LABOUR,
    Category.DIAGNOSIS,
    Category.TESTING,
    Category.PROCESSING,
}

# Named actions: action → (statuses it may start from, status it leads to, capabilities any
# of which allows it).
EDIT = ("workorder.edit",)
ACTIONS: dict[str, tuple[set[str], str, tuple[str, ...]]] = {
    "estimate": ({S.DRAFT}, S.ESTIMATE, EDIT),
    "start": ({S.DRAFT, S.ESTIMATE}, S.IN_PROGRESS, EDIT),
    "qc": ({S.IN_PROGRESS}, S.QC, ("workorder.work", "workorder.edit")),
    "ready": ({S.QC}, S.READY, ("workorder.qc",)),
    "settle": ({S.READY}, S.SETTLED, ("workorder.settle",)),
    "close": ({S.SETTLED}, S.CLOSED, ("workorder.settle",)),
    "cancel": ({S.DRAFT, S.ESTIMATE, S.IN_PROGRESS, S.QC, S.READY}, S.CANCELLED, EDIT),
    "reopen": ({S.CANCELLED, S.QC, S.READY}, S.IN_PROGRESS, EDIT),
}
PUBLIC_STATUS_EVENTS = {S.IN_PROGRESS, S.QC, S.READY, S.SETTLED}


# --- helpers ------------------------------------------------------------------------------


def money(value, field: str = "unit_price") -> Decimal:
    """An amount typed by staff; the range rules are the caller's (prices, payments)."""
    amount, error = parse_money(value, allow_negative=True)
    if error:
        raise Invalid(fields={field: error})
    return amount


def _quantity(value) -> Decimal:
    qty, error = parse_positive(
        value,
        limit=MAX_QUANTITY,
        empty=_("Enter a quantity."),
        bad=_("The quantity must be more than zero."),
    )
    if error:
        raise Invalid(fields={"quantity": error})
    return qty


def settings_for(store_id: int) -> ServiceSettings:
    """The store's shop-floor settings (made with the defaults on first use)."""
    return ServiceSettings.objects.get_or_create(store_id=store_id)[0]


def conf(wo: WorkOrder) -> ServiceSettings:
    """The settings of the work order's store, read once per work order object."""
    if getattr(wo, "_conf", None) is None:
        wo._conf = settings_for(wo.store_id)
    return wo._conf


def _locked(wo: WorkOrder) -> WorkOrder:
    """The current row, locked for the rest of the transaction where the database can."""
    return audit.locked(WorkOrder.objects.select_for_update().get(pk=wo.pk))


def _locked_for(actor: User, pk, action: str) -> WorkOrder:
    """The work order ``pk`` if the actor may see it (NotFound otherwise), read and locked in
    one statement. A settlement also locks the owner's row (visits and spend are added to it)
    and loads the store and vehicle its follow-ups read, in the same statement."""
    qs = scoping.scoped(WorkOrder.objects.all(), actor)
    if action == "settle":
        qs = qs.select_related("customer", "store", "vehicle").select_for_update(
            of=("self", "customer")
        )
    else:
        qs = qs.select_for_update()
    try:
        wo = qs.get(pk=pk)
    except (WorkOrder.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    if action == "settle":
        audit.locked(wo.customer)
    return audit.locked(wo)


def check_version(wo: WorkOrder, version) -> None:
    if version in (None, ""):
        return
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise Invalid(fields={"version": _("Reload the page and try again.")}) from None
    if version != wo.version:
        who = wo.updated_by.display_name if wo.updated_by_id else _("someone else")
        when = timezone.localtime(wo.updated_at).strftime("%H:%M")
        raise Conflict(
            _("Changed by %(who)s at %(time)s. Reload to see their changes, then save again.")
            % {"who": who, "time": when},
            code="stale",
        )


def touch(wo: WorkOrder, actor: User | None, *fields: str) -> None:
    wo.version += 1  # the row is locked (select_for_update) by the calling service
    wo.updated_by = actor if actor is not None and actor.is_authenticated else None
    wo.save(update_fields=[*fields, "version", "updated_by", "updated_at"])


def log_event(wo: WorkOrder, kind: str, text: str, actor=None, *, public=False, label="") -> None:
    is_staff = actor is not None and getattr(actor, "is_authenticated", False)
    WorkOrderEvent.objects.create(
        work_order=wo,
        kind=kind,
        text=text[:300],
        actor=actor if is_staff else None,
        actor_label=label or (actor.display_name if is_staff else ""),
        public=public,
    )


def require_open(wo: WorkOrder) -> None:
    if not wo.is_open:
        raise Conflict(
            _("This work order is %(status)s and can no longer be changed.")
            % {"status": wo.get_status_display()},
            code="closed",
        )


TOTAL_FIELDS = ["labour_total", "parts_total", "other_total", "total", "discount_total", "tax"]


def _set_totals(wo: WorkOrder, lines) -> None:
    """Set the money columns from ``lines`` (the approved ones count), without saving. The
    gross (list price × quantity) is rounded to the cent per category."""
    amounts: dict[str, Decimal] = {}
    grosses: dict[str, Decimal] = {}
    for line in lines:
        if line.approval != WorkOrderLine.Approval.APPROVED:
            continue
        amounts[line.category] = amounts.get(line.category, ZERO) + (line.amount or ZERO)
        grosses[line.category] = grosses.get(line.category, ZERO) + (
            Decimal(line.quantity) * Decimal(line.unit_price)
        )
    labour = parts = other = gross = ZERO
    for category, amount in amounts.items():
        gross += grosses[category].quantize(CENT, ROUND_HALF_UP)
        if category == Category.MATERIAL:
            parts += amount
        elif category in LABOUR_CATEGORIES:
            labour += amount
        else:
            other += amount
    total = labour + parts + other
    rate = conf(wo).tax_rate
    wo.labour_total, wo.parts_total, wo.other_total = labour, parts, other
    wo.total = total
    wo.discount_total = max(ZERO, gross - total)
    wo.tax = (total - total / (Decimal(1) + rate)).quantize(CENT, ROUND_HALF_UP)


def recompute(wo: WorkOrder) -> None:
    """Totals from the approved lines (the money columns lists and reports read)."""
    lines = wo.lines.filter(approval=WorkOrderLine.Approval.APPROVED).only(
        "approval", "category", "amount", "quantity", "unit_price"
    )
    _set_totals(wo, lines)
    wo.save(update_fields=[*TOTAL_FIELDS, "updated_at"])


def next_number(store: Store, day: datetime.date) -> str:
    """``CODE-YYYYMMDD-NNN``, gapless per store and day; the counter row serialises writers."""
    for _attempt in range(3):
        updated = WorkOrderCounter.objects.filter(store=store, day=day).update(last=F("last") + 1)
        if not updated:
            try:
                with transaction.atomic():
                    WorkOrderCounter.objects.create(store=store, day=day, last=1)
            except IntegrityError:
                continue
        last = WorkOrderCounter.objects.get(store=store, day=day).last
        return f"{store.code.upper()}-{day:%Y%m%d}-{last:03d}"
    raise Conflict(_("Could not number the work order; please try again."))


def warranty_for(settings: ServiceSettings, repair_class: str) -> tuple[int, int]:
    """The store's warranty for a class, never below the national minimum."""
    min_days, min_km = WARRANTY_MINIMUM[repair_class]
    configured = (settings.warranty or {}).get(repair_class) or (0, 0)
    try:
        days, km = int(configured[0]), int(configured[1])
    except (TypeError, ValueError, IndexError):
        days, km = 0, 0
    return max(days, min_days), max(km, min_km)


def _comeback_of(vehicle: Vehicle, mileage: int | None) -> WorkOrder | None:
    """The last settled visit whose warranty still covers the car (by date and km)."""
    last = (
        WorkOrder.objects.filter(vehicle=vehicle, status__in=[S.SETTLED, S.CLOSED])
        .order_by("-settled_at")
        .first()
    )
    if last is None or last.warranty_until is None:
        return None
    if timezone.localdate() > last.warranty_until:
        return None
    km_limit = last.warranty_until_km
    if mileage is not None and km_limit is not None and mileage > km_limit:
        return None
    return last


# --- work orders --------------------------------------------------------------------------


def _clean_header(data: dict) -> dict:
    clean: dict = {}
    errors: dict = {}
    if "complaint" in data:
        clean["complaint"] = (data["complaint"] or "").strip()[:2000]
    if "promised_at" in data:
        value = data["promised_at"]
        if value and not isinstance(value, datetime.datetime):
            errors["promised_at"] = _("Enter the promised date and time.")
        elif value and value < timezone.now() - datetime.timedelta(minutes=5):
            errors["promised_at"] = _("The promised time cannot be in the past.")
        else:
            clean["promised_at"] = value or None
    if "old_parts_returned" in data:
        clean["old_parts_returned"] = bool(data["old_parts_returned"])
    if errors:
        raise Invalid(fields=errors)
    return clean


def _clean_source(org_id: int, data: dict) -> dict:
    """``source_id`` (one of the org's source channels, or empty) and ``campaign`` (a free
    code of at most 40 characters), for the keys present."""
    clean: dict = {}
    if "source_id" in data:
        value = data["source_id"]
        if value in (None, ""):
            clean["source_id"] = None
        else:
            from autocrm.customers.models import SourceChannel

            try:
                found = SourceChannel.objects.filter(org_id=org_id, pk=int(value)).exists()
            except (TypeError, ValueError):
                found = False
            if not found:
                raise Invalid(fields={"source": _("Choose one of the listed source channels.")})
            clean["source_id"] = int(value)
    if "campaign" in data:
        campaign = (data["campaign"] or "").strip()
        if len(campaign) > 40:
            raise Invalid(fields={"campaign": _("The campaign code is at most 40 characters.")})
        clean["campaign"] = campaign
    return clean


def _advisor(actor: User, store_id: int, advisor_id) -> User | None:
    if advisor_id in (None, ""):
        return actor if actor.has_role("service_advisor", "store_manager") else None
    advisor = User.objects.filter(
        pk=advisor_id, org_id=actor.org_id, is_active=True, stores__id=store_id
    ).first()
    if advisor is None:
        raise Invalid(fields={"advisor": _("Choose a member of staff of this store.")})
    return advisor


@audit.by_actor
@transaction.atomic
def create_work_order(
    actor: User,
    *,
    vehicle: Vehicle,
    store_id=None,
    mileage_in=None,
    complaint: str = "",
    promised_at=None,
    advisor_id=None,
    custom: dict | None = None,
    appointment=None,
    source_id=None,
    campaign: str | None = None,
) -> WorkOrder:
    """Open a work order for a car (its current owner is the customer). The mileage in is
    recorded as a reading of the vehicle."""
    require(actor, "workorder.edit")
    if vehicle.org_id != actor.org_id:
        raise NotFound()
    if store_id in (None, ""):
        ids = scoping.store_ids(actor)
        store_id = next(iter(ids)) if len(ids) == 1 else vehicle.home_store_id
    try:
        store_id = int(store_id)
    except (TypeError, ValueError):
        raise Invalid(fields={"store": _("Choose the store.")}) from None
    if not scoping.can_see_store(actor, store_id):
        raise Invalid(fields={"store": _("Choose a store within your own area.")})
    if vehicle.owner_id is None:
        raise Invalid(fields={"vehicle": _("Record the vehicle's owner first.")})
    open_order = (
        WorkOrder.objects.filter(vehicle=vehicle)
        .exclude(status__in=[S.SETTLED, S.CLOSED, S.CANCELLED])
        .first()
    )
    if open_order is not None:
        raise Conflict(
            _("This car already has an open work order (%(number)s).")
            % {"number": open_order.number},
            extra={"existing_id": open_order.pk},
        )
    store = Store.objects.get(pk=store_id)
    header = _clean_header({"complaint": complaint, "promised_at": promised_at})
    km = None
    if mileage_in not in (None, ""):
        try:
            km = int(mileage_in)
        except (TypeError, ValueError):
            raise Invalid(fields={"mileage_in": _("Enter the odometer reading in km.")}) from None
    values = customfields.clean_values(actor, "work_order", custom or {}, {}) if custom else {}
    # Who brought the car: as chosen, else the booking's, else the customer's source channel.
    if source_id in (None, ""):
        source_id = (appointment.source_id if appointment is not None else None) or (
            Customer.objects.filter(pk=vehicle.owner_id).values_list("source_id", flat=True).first()
        )
    if campaign is None:
        campaign = appointment.campaign if appointment is not None else ""
    origin = _clean_source(actor.org_id, {"source_id": source_id, "campaign": campaign})
    now = timezone.now()
    wo = WorkOrder.objects.create(
        org_id=actor.org_id,
        store=store,
        number=next_number(store, timezone.localdate(now)),
        customer_id=vehicle.owner_id,
        vehicle=vehicle,
        appointment=appointment,
        advisor=_advisor(actor, store.pk, advisor_id),
        mileage_in=km,
        opened_at=now,
        custom=values,
        comeback_of=_comeback_of(vehicle, km),
        updated_by=actor,
        **header,
        **origin,
    )
    if km is not None:
        try:
            customer_services.record_mileage(
                actor, vehicle, km=km, source=MileageReading.Source.VISIT, note=wo.number
            )
        except Invalid as exc:
            raise Invalid(fields={"mileage_in": exc.fields.get("km", exc.message)}) from None
    log_event(wo, "status", _("Work order opened"), actor, public=True)
    events.publish("work_order.created", work_order_id=wo.pk, store_id=store.pk)
    return wo


@audit.by_actor
@transaction.atomic
def update_work_order(actor: User, wo: WorkOrder, *, version=None, **data) -> WorkOrder:
    require(actor, "workorder.edit")
    require_visible(actor, wo)
    wo = _locked(wo)
    check_version(wo, version)
    require_open(wo)
    clean = {**_clean_header(data), **_clean_source(wo.org_id, data)}
    if "advisor_id" in data:
        clean["advisor"] = _advisor(actor, wo.store_id, data["advisor_id"])
    if "custom" in data:
        clean["custom"] = customfields.clean_values(actor, "work_order", data["custom"], wo.custom)
    for key, value in clean.items():
        setattr(wo, key, value)
    touch(wo, actor, *clean.keys())
    return wo


# --- lines --------------------------------------------------------------------------------


def _discount(actor: User, wo: WorkOrder, value) -> tuple[Decimal, User | None]:
    try:
        pct = Decimal(str(value or 0))
    except (InvalidOperation, ValueError):
        raise Invalid(fields={"discount_pct": _("Enter the discount in percent.")}) from None
    if not pct.is_finite() or pct < 0 or pct > 100:
        raise Invalid(fields={"discount_pct": _("The discount must be between 0 and 100%.")})
    pct = pct.quantize(CENT)
    limit = conf(wo).discount_limit
    if pct > limit:
        if not actor.can("workorder.discount"):
            raise Forbidden(
                _(
                    "A discount above %(limit)s%% needs a store manager's approval: "
                    "ask the manager to enter it."
                )
                % {"limit": limit},
                fields={
                    "discount_pct": _("Above this store's limit of %(limit)s%%.") % {"limit": limit}
                },
                code="discount_needs_manager",
            )
        return pct, actor
    return pct, None


def _level(wo: WorkOrder) -> str:
    return Customer.objects.filter(pk=wo.customer_id).values_list("level", flat=True).first() or ""


def _next_sort(wo: WorkOrder) -> int:
    return (wo.lines.order_by("-sort").values_list("sort", flat=True).first() or 0) + 1


def _create_line(
    wo: WorkOrder,
    *,
    quantity: Decimal,
    unit_price: Decimal,
    discount_pct: Decimal = ZERO,
    approver: User | None = None,
    **fields,
) -> WorkOrderLine:
    """The one place a line row is made: the amount always follows the same rule."""
    return WorkOrderLine.objects.create(
        work_order=wo,
        quantity=quantity,
        unit_price=unit_price,
        discount_pct=discount_pct,
        discount_approved_by=approver,
        amount=line_amount(quantity, unit_price, discount_pct),
        **fields,
    )


def _catalog_line(wo: WorkOrder, level: str, kind: str, labour_id, part_id) -> dict | None:
    """Code, name, brand, category and store/member price of a catalog item, or None for a
    free-text line."""
    if kind == WorkOrderLine.Kind.LABOUR and labour_id:
        item = LabourItem.objects.filter(org_id=wo.org_id, pk=labour_id, is_active=True).first()
        if item is None:
            raise Invalid(fields={"labour": _("Choose a labour item from the catalog.")})
        return line_for(wo.store_id, level, labour=item)
    if kind == WorkOrderLine.Kind.PART and part_id:
        item = Part.objects.filter(org_id=wo.org_id, pk=part_id, is_active=True).first()
        if item is None:
            raise Invalid(fields={"part": _("Choose a part from the catalog.")})
        return line_for(wo.store_id, level, part=item)
    return None


@audit.by_actor
@transaction.atomic
def add_line(
    actor: User,
    wo: WorkOrder,
    *,
    kind: str,
    labour_id=None,
    part_id=None,
    name: str = "",
    quantity=1,
    unit_price=None,
    discount_pct=0,
    category: str | None = None,
    customer_supplied: bool = False,
    urgency: str = "",
    version=None,
    recommendation: Recommendation | None = None,
) -> WorkOrderLine:
    """A proposed line. Catalog items bring their code, name and the store/member price."""
    require(actor, "workorder.edit")
    require_visible(actor, wo)
    wo = _locked(wo)
    check_version(wo, version)
    require_open(wo)
    if kind not in WorkOrderLine.Kind.values:
        raise Invalid(fields={"kind": _("Choose labour, part or sublet.")})
    fields = _catalog_line(wo, _level(wo), kind, labour_id, part_id)
    if fields is None:
        name = normalize_text(name)[:100]
        if not name:
            raise Invalid(fields={"name": _("Describe the item.")})
        default_price = None
        fields = {
            "kind": kind,
            "name": name,
            "category": {
                WorkOrderLine.Kind.PART: Category.MATERIAL,
                WorkOrderLine.Kind.SUBLET: Category.OTHER,
            }.get(kind, Category.LABOUR),
        }
    else:
        default_price = fields.pop("unit_price")
        fields.pop("quantity")
    if category:
        if category not in Category.values:
            raise Invalid(fields={"category": _("Choose a category.")})
        fields["category"] = category
    if unit_price in (None, ""):
        if default_price is None:
            raise Invalid(fields={"unit_price": _("Enter the price.")})
        price = default_price
    else:
        price = money(unit_price)
    if price < 0 or price > MAX_PRICE:
        raise Invalid(fields={"unit_price": _("The price must be between 0 and 999 999 yuan.")})
    if customer_supplied:
        price = ZERO
    qty = _quantity(quantity)
    pct, approver = _discount(actor, wo, discount_pct)
    line = _create_line(
        wo,
        quantity=qty,
        unit_price=price,
        discount_pct=pct,
        approver=approver,
        customer_supplied=bool(customer_supplied),
        urgency=urgency if urgency in Recommendation.Urgency.values else "",
        recommendation=recommendation,
        sort=_next_sort(wo),
        **fields,
    )
    touch(wo, actor)
    return line


@audit.by_actor
@transaction.atomic
def add_package(actor: User, wo: WorkOrder, package_id, *, version=None) -> list[WorkOrderLine]:
    """A canned job: its labour and parts as proposed lines at this store's prices, added
    under one lock and one version step."""
    require(actor, "workorder.edit")
    require_visible(actor, wo)
    package = (
        ServicePackage.objects.filter(org_id=wo.org_id, pk=package_id, is_active=True)
        .prefetch_related("items__labour", "items__part")
        .first()
    )
    if package is None:
        raise Invalid(fields={"package": _("Choose a service package.")})
    wo = _locked(wo)
    check_version(wo, version)
    require_open(wo)
    sort = _next_sort(wo)
    lines = [
        _create_line(wo, package=package, sort=sort + i, **fields)
        for i, fields in enumerate(package_lines(wo.store_id, _level(wo), package))
    ]
    changed = []
    if CLASS_WEIGHT[package.repair_class] > CLASS_WEIGHT[wo.repair_class]:
        wo.repair_class = package.repair_class
        changed.append("repair_class")
    touch(wo, actor, *changed)
    return lines


@audit.by_actor
@transaction.atomic
def update_line(actor: User, line: WorkOrderLine, *, version=None, **data) -> WorkOrderLine:
    """Change quantity, price or discount. Re-pricing an approved line sends it back to
    proposed: the owner approved a price, not a blank cheque."""
    require(actor, "workorder.edit")
    wo = line.work_order
    require_visible(actor, wo)
    wo = _locked(wo)
    check_version(wo, version)
    require_open(wo)
    line = WorkOrderLine.objects.select_for_update().get(pk=line.pk)
    changed = []
    if "name" in data and line.labour_id is None and line.part_id is None:
        name = normalize_text(data["name"])[:100]
        if not name:
            raise Invalid(fields={"name": _("Describe the item.")})
        line.name = name
        changed.append("name")
    qty = _quantity(data["quantity"]) if "quantity" in data else line.quantity
    price = money(data["unit_price"]) if "unit_price" in data else line.unit_price
    if price < 0 or price > MAX_PRICE:
        raise Invalid(fields={"unit_price": _("The price must be between 0 and 999 999 yuan.")})
    if "discount_pct" in data:
        pct, approver = _discount(actor, wo, data["discount_pct"])
        if pct != line.discount_pct:
            line.discount_approved_by = approver
            changed.append("discount_approved_by")
    else:
        pct = line.discount_pct
    amount = line_amount(qty, price, pct)
    repriced = amount != line.amount or qty != line.quantity
    line.quantity, line.unit_price, line.discount_pct, line.amount = qty, price, pct, amount
    changed += ["quantity", "unit_price", "discount_pct", "amount"]
    if repriced and line.approval == WorkOrderLine.Approval.APPROVED:
        line.approval = WorkOrderLine.Approval.PROPOSED
        line.approval_channel, line.approved_by_name, line.approved_at = "", "", None
        changed += ["approval", "approval_channel", "approved_by_name", "approved_at"]
        log_event(wo, "approval", _("%(item)s re-priced: needs approval again") % {"item": line})
    line.save(update_fields=changed)
    recompute(wo)
    touch(wo, actor)
    return line


@audit.by_actor
@transaction.atomic
def remove_line(actor: User, line: WorkOrderLine, *, version=None) -> None:
    require(actor, "workorder.edit")
    wo = line.work_order
    require_visible(actor, wo)
    wo = _locked(wo)
    check_version(wo, version)
    require_open(wo)
    if line.approval == WorkOrderLine.Approval.APPROVED and line.time.exists():
        raise Conflict(_("Work has been clocked on this line; decline it instead of deleting."))
    line.delete()
    recompute(wo)
    touch(wo, actor)


# --- approvals ----------------------------------------------------------------------------


def _reco_from(line: WorkOrderLine, wo: WorkOrder, reason: str) -> None:
    if line.recommendation_id:  # it already was a recommendation: keep that one open
        Recommendation.objects.filter(pk=line.recommendation_id).update(reason=reason[:200])
        return
    Recommendation.objects.create(
        org_id=wo.org_id,
        store_id=wo.store_id,
        vehicle_id=wo.vehicle_id,
        customer_id=wo.customer_id,
        source_line=line,
        name=line.name,
        amount=line.amount,
        reason=reason[:200],
        urgency=line.urgency or Recommendation.Urgency.SOON,
    )


@transaction.atomic
def decide_lines(
    wo: WorkOrder,
    decisions: dict,
    *,
    channel: str,
    by_name: str,
    actor: User | None = None,
    reasons: dict | None = None,
) -> list[WorkOrderLine]:
    """Approve, decline or defer proposed lines. Staff record in-person or phone approval;
    the owner's link calls this with ``channel="link"`` and no actor. A line that is no longer
    proposed (decided from another phone a moment ago) is refused, never decided twice."""
    if actor is not None:
        require(actor, "workorder.edit")
        require_visible(actor, wo)
    wo = _locked(wo)
    require_open(wo)
    if channel not in WorkOrderLine.Channel.values:
        raise Invalid(fields={"channel": _("Say how the owner approved.")})
    by_name = normalize_text(by_name)[:60] or _("Owner")
    reasons = reasons or {}
    valid = {
        WorkOrderLine.Approval.APPROVED,
        WorkOrderLine.Approval.DECLINED,
        WorkOrderLine.Approval.DEFERRED,
    }
    if not decisions:
        raise Invalid(fields={"lines": _("Choose at least one item.")})
    lines = {ln.pk: ln for ln in wo.lines.filter(pk__in=[int(k) for k in decisions])}
    now = timezone.now()
    done = []
    for key, decision in decisions.items():
        line = lines.get(int(key))
        if line is None:
            raise NotFound(_("That item is not on this work order."))
        if decision not in valid:
            raise Invalid(fields={f"line_{key}": _("Approve, decline or defer.")})
        updated = WorkOrderLine.objects.filter(
            pk=line.pk, approval=WorkOrderLine.Approval.PROPOSED
        ).update(
            approval=decision,
            approval_channel=channel,
            approved_by_name=by_name,
            approved_at=now,
            decline_reason=(reasons.get(str(key)) or reasons.get(key) or "")[:200],
        )
        if not updated:
            line.refresh_from_db()
            raise Conflict(
                _("%(item)s was already %(decision)s at %(time)s.")
                % {
                    "item": line.name,
                    "decision": line.get_approval_display(),
                    "time": timezone.localtime(line.approved_at).strftime("%H:%M")
                    if line.approved_at
                    else "",
                },
                code="already_decided",
            )
        line.refresh_from_db()
        audit.write(
            "update",
            line,
            {"approval": ["proposed", decision], "approval_channel": [None, channel]},
        )
        if decision != WorkOrderLine.Approval.APPROVED:
            _reco_from(line, wo, line.decline_reason)
        label = {
            WorkOrderLine.Approval.APPROVED: _("%(who)s approved %(item)s"),
            WorkOrderLine.Approval.DECLINED: _("%(who)s declined %(item)s"),
            WorkOrderLine.Approval.DEFERRED: _("%(who)s deferred %(item)s"),
        }[decision] % {"who": by_name, "item": line.name}
        log_event(wo, "approval", label, actor, public=True, label=by_name)
        done.append(line)
    recompute(wo)
    touch(wo, actor)
    events.publish("work_order.lines_decided", work_order_id=wo.pk, lines=[ln.pk for ln in done])
    return done


@audit.by_actor
def record_approval(
    actor: User, wo: WorkOrder, decisions: dict, *, channel: str, by_name: str = "", reasons=None
) -> list[WorkOrderLine]:
    """Staff recording the owner's decision given in person or by phone."""
    if channel == WorkOrderLine.Channel.LINK:
        raise Invalid(fields={"channel": _("Approvals through the link come from the owner.")})
    return decide_lines(
        wo,
        decisions,
        channel=channel,
        by_name=by_name or wo.customer.name,
        actor=actor,
        reasons=reasons,
    )


# --- recommendations ----------------------------------------------------------------------


@audit.by_actor
@transaction.atomic
def add_recommendation(actor: User, wo: WorkOrder, reco: Recommendation) -> WorkOrderLine:
    """Bring earlier declined work onto this visit as a proposed line."""
    if reco.vehicle_id != wo.vehicle_id or reco.status != Recommendation.Status.OPEN:
        raise Invalid(fields={"recommendation": _("Choose an open recommendation of this car.")})
    if wo.lines.filter(recommendation=reco).exists():
        raise Conflict(_("This recommendation is already on the work order."))
    source = reco.source_line
    if source is not None and (source.labour_id or source.part_id):
        return add_line(
            actor,
            wo,
            kind=source.kind,
            labour_id=source.labour_id,
            part_id=source.part_id,
            quantity=source.quantity,
            urgency=reco.urgency,
            recommendation=reco,
        )
    return add_line(
        actor,
        wo,
        kind=source.kind if source is not None else WorkOrderLine.Kind.LABOUR,
        name=reco.name,
        quantity=source.quantity if source is not None else 1,
        unit_price=source.unit_price if source is not None else reco.amount,
        urgency=reco.urgency,
        recommendation=reco,
    )


@audit.by_actor
@transaction.atomic
def dismiss_recommendation(actor: User, reco: Recommendation, reason: str) -> Recommendation:
    require(actor, "workorder.edit")
    require_visible(actor, reco)
    if reco.status != Recommendation.Status.OPEN:
        raise Conflict(_("This recommendation is already closed."))
    reason = tidy_prose(reason)[:200]
    if not reason:
        raise Invalid(fields={"reason": _("Say why it is dismissed.")})
    reco.status = Recommendation.Status.DISMISSED
    reco.reason = reason
    reco.resolved_at = timezone.now()
    reco.save(update_fields=["status", "reason", "resolved_at", "updated_at"])
    return reco


# --- state actions ------------------------------------------------------------------------


def _check_action(wo: WorkOrder, action: str) -> str:
    if action not in ACTIONS:
        raise NotFound(_("Unknown action."))
    sources, target, _capabilities = ACTIONS[action]
    if wo.status not in sources:
        raise Conflict(
            _("Cannot %(action)s a work order that is %(status)s.")
            % {"action": ACTION_LABELS.get(action, action), "status": wo.get_status_display()},
            code="illegal_transition",
        )
    return target


ACTION_LABELS = {
    "estimate": _("send for estimate"),
    "start": _("start"),
    "qc": _("send to quality check"),
    "ready": _("mark ready"),
    "settle": _("settle"),
    "close": _("close"),
    "cancel": _("cancel"),
    "reopen": _("reopen"),
}


@audit.by_actor
@transaction.atomic
def perform(actor: User, wo: WorkOrder, action: str, *, version=None, **kwargs) -> WorkOrder:
    """Run a named state action; illegal transitions are refused (409). The order is read
    again, locked and scoped to the actor (NotFound for one they may not see)."""
    return _perform(actor, wo.pk, action, version=version, **kwargs)


@audit.by_actor
@transaction.atomic
def perform_on(actor: User, pk, action: str, *, version=None, **kwargs) -> WorkOrder:
    """``perform`` on the work order ``pk`` (the API's path): not read before the locking
    read, which applies the actor's scope itself (NotFound for an order they may not see)."""
    return _perform(actor, pk, action, version=version, **kwargs)


def _perform(actor: User, pk, action: str, *, version=None, **kwargs) -> WorkOrder:
    with audit.batched():  # the audit entries of the action in one INSERT, before the commit
        return _perform_locked(actor, pk, action, version=version, **kwargs)


def _perform_locked(actor: User, pk, action: str, *, version=None, **kwargs) -> WorkOrder:
    wo = _locked_for(actor, pk, action)
    if action not in ACTIONS:
        raise NotFound(_("Unknown action."))
    require(actor, *ACTIONS[action][2])
    check_version(wo, version)
    target = _check_action(wo, action)
    handler = _HANDLERS.get(action)
    changed = (handler(actor, wo, **kwargs) if handler is not None else None) or []
    previous = wo.status
    wo.status = target
    fields = ["status", *changed]
    now = timezone.now()
    if target == S.SETTLED:
        wo.settled_at = now
        fields.append("settled_at")
    elif target == S.CLOSED:
        wo.closed_at = now
        fields.append("closed_at")
    elif target == S.CANCELLED:
        wo.cancel_reason = tidy_prose(kwargs.get("reason", ""))[:200]
        fields.append("cancel_reason")
    touch(wo, actor, *fields)
    log_event(
        wo,
        "status",
        _("%(from)s → %(to)s") % {"from": S(previous).label, "to": wo.get_status_display()},
        actor,
        public=target in PUBLIC_STATUS_EVENTS,
    )
    if target == S.SETTLED:
        _after_settle(actor, wo)
    events.publish(
        f"work_order.{target}", work_order_id=wo.pk, store_id=wo.store_id, previous=previous
    )
    return wo


def _on_estimate(actor, wo, **kwargs):
    if not wo.lines.exists():
        raise Invalid(fields={"lines": _("Add at least one item before sending the estimate.")})


def _on_start(actor, wo, **kwargs):
    if not wo.lines.filter(approval=WorkOrderLine.Approval.APPROVED).exists():
        raise Conflict(
            _("No item is approved yet: record the owner's approval first."), code="unapproved"
        )


def _on_qc(actor, wo, **kwargs):
    pending = wo.lines.filter(approval=WorkOrderLine.Approval.APPROVED).exclude(
        progress=WorkOrderLine.Progress.DONE
    )
    names = [ln.name for ln in pending[:5]]
    if names:
        raise Conflict(
            _("Not every approved item is done: %(items)s.") % {"items": "、".join(names)},
            code="work_open",
        )


def _on_ready(actor, wo, qc=None, checks=None, **kwargs):
    """Ready needs the quality check of this round: the one just recorded, or the checks
    sent with the action (an earlier round's pass does not count)."""
    if qc is None and checks:
        qc = _new_qc(actor, wo, checks, "")
    if qc is None or not qc.passed:
        raise Conflict(
            _("Record a passed quality check first (every item checked)."), code="qc_missing"
        )


def _settle_lines(wo: WorkOrder) -> list[WorkOrderLine]:
    """Every line of the order (with its labour item, recommendation and technicians), read
    once under the order's lock: the checks, the totals, the repair class and the
    recommendations done come from it, and the answer that shows the order reuses it."""
    prefetch_related_objects(
        [wo],
        Prefetch(
            "lines",
            queryset=WorkOrderLine.objects.select_related("labour", "recommendation")
            .prefetch_related("technicians")
            .order_by("sort", "id"),
        ),
    )
    return list(wo.lines.all())


def _on_settle(actor, wo, payments=(), old_parts_returned=None, **kwargs):
    lines = _settle_lines(wo)
    proposed = sum(1 for ln in lines if ln.approval == WorkOrderLine.Approval.PROPOSED)
    if proposed:
        raise Conflict(
            _("%(count)s item(s) still wait for the owner's decision: approve or decline them.")
            % {"count": proposed},
            code="unapproved",
        )
    _set_totals(wo, lines)  # saved with the status, in one UPDATE
    classes = {
        ln.labour.repair_class
        for ln in lines
        if ln.approval == WorkOrderLine.Approval.APPROVED and ln.labour_id is not None
    }
    heaviest = max([wo.repair_class, *classes], key=lambda c: CLASS_WEIGHT[c])
    wo.repair_class = heaviest
    wo.warranty_days, wo.warranty_km = warranty_for(conf(wo), heaviest)
    if old_parts_returned is not None:
        wo.old_parts_returned = bool(old_parts_returned)
    if payments:
        _take_payments(actor, wo, payments)
    return [
        *TOTAL_FIELDS,
        "repair_class",
        "warranty_days",
        "warranty_km",
        "old_parts_returned",
        "paid",
    ]


def _on_close(actor, wo, **kwargs):
    if wo.balance > 0:
        raise Conflict(
            _("¥%(amount)s is still owed: take the payment or record it on account first.")
            % {"amount": wo.balance},
            code="balance_due",
        )


def _on_cancel(actor, wo, reason="", **kwargs):
    if not tidy_prose(reason):
        raise Invalid(fields={"reason": _("Say why the work order is cancelled.")})
    if wo.paid > 0:
        raise Conflict(_("Money has been taken: refund it before cancelling."), code="paid")
    TimeEntry.objects.filter(work_order=wo, ended_at__isnull=True).update(ended_at=timezone.now())


def _on_reopen(actor, wo, **kwargs):
    if wo.status == S.CANCELLED:
        other = (
            WorkOrder.objects.filter(vehicle_id=wo.vehicle_id)
            .exclude(pk=wo.pk)
            .exclude(status__in=[S.SETTLED, S.CLOSED, S.CANCELLED])
        )
        if other.exists():
            raise Conflict(_("This car has another open work order."))


_HANDLERS = {
    "estimate": _on_estimate,
    "start": _on_start,
    "qc": _on_qc,
    "ready": _on_ready,
    "settle": _on_settle,
    "close": _on_close,
    "cancel": _on_cancel,
    "reopen": _on_reopen,
}


def _after_settle(actor: User, wo: WorkOrder) -> None:
    """The visit enriches the archive: vehicle's last service, customer's spend and visits,
    recommendations done, a visit on the timeline, and the survey link."""
    today = timezone.localdate(wo.settled_at)
    # The next service counts from this one: written with the new prediction, in one UPDATE.
    maintenance.refresh_vehicle(
        wo.vehicle, today=today, last_service_on=today, last_service_km=wo.mileage_in
    )
    customer = wo.customer  # read and locked with the order (_locked_for)
    customer.visit_count += 1
    customer.lifetime_spend += wo.total
    customer.last_visit_at = wo.settled_at
    customer.first_visit_at = customer.first_visit_at or wo.settled_at
    customer.save(
        update_fields=[
            "visit_count",
            "lifetime_spend",
            "last_visit_at",
            "first_visit_at",
            "updated_at",
        ]
    )
    for line in wo.lines.all():  # read by _on_settle, with their recommendations
        if line.approval != WorkOrderLine.Approval.APPROVED or line.recommendation_id is None:
            continue
        reco = line.recommendation
        if reco.status == Recommendation.Status.OPEN:
            reco.status = Recommendation.Status.DONE
            reco.resolved_work_order = wo
            reco.resolved_at = wo.settled_at
            reco.save(update_fields=["status", "resolved_work_order", "resolved_at", "updated_at"])
    Interaction.objects.create(
        org_id=wo.org_id,
        store_id=wo.store_id,
        customer_id=wo.customer_id,
        vehicle_id=wo.vehicle_id,
        kind=Interaction.Kind.VISIT,
        summary=_("Visit %(number)s settled") % {"number": wo.number},
        amount=wo.total,
        occurred_at=wo.settled_at,
        staff=actor,
    )
    from autocrm.service import notify

    notify.survey_invitation(wo)


# --- payments -----------------------------------------------------------------------------


def _take_payments(actor: User, wo: WorkOrder, payments) -> list[Payment]:
    rows = []
    total = ZERO
    errors = {}
    for i, item in enumerate(payments):
        method = (item or {}).get("method")
        if method not in Payment.Method.values:
            errors[f"payments.{i}.method"] = _("Choose how the owner pays.")
            continue
        amount = money(item.get("amount"), f"payments.{i}.amount")
        if amount <= 0:
            errors[f"payments.{i}.amount"] = _("The amount must be more than zero.")
            continue
        if method == Payment.Method.ACCOUNT and wo.customer.kind != Customer.Kind.COMPANY:
            errors[f"payments.{i}.method"] = _("Only company customers can settle on account.")
            continue
        rows.append((method, amount, normalize_text(item.get("reference", ""))[:60]))
        total += amount
    if errors:
        raise Invalid(fields=errors)
    if not rows:
        raise Invalid(fields={"payments": _("Enter at least one payment.")})
    if total > wo.balance:
        raise Invalid(
            _("The payments (¥%(paid)s) are more than the balance (¥%(balance)s).")
            % {"paid": total, "balance": wo.balance},
            fields={
                "payments": _("More than the balance of ¥%(balance)s.") % {"balance": wo.balance}
            },
        )
    made = [
        Payment.objects.create(
            org_id=wo.org_id,
            store_id=wo.store_id,
            work_order=wo,
            method=method,
            amount=amount,
            reference=reference,
            received_by=actor,
        )
        for method, amount, reference in rows
    ]
    wo.paid += total  # saved by the caller's touch()
    return made


@audit.by_actor
@transaction.atomic
def take_payments(actor: User, wo: WorkOrder, payments, *, version=None) -> list[Payment]:
    """One or more payments (a split payment) against the balance of a ready or settled
    order; never more than what is owed."""
    require(actor, "workorder.settle")
    require_visible(actor, wo)
    wo = _locked(wo)
    check_version(wo, version)
    if wo.status not in {S.READY, S.SETTLED}:
        raise Conflict(_("Payments are taken when the car is ready or after settlement."))
    made = _take_payments(actor, wo, payments)
    touch(wo, actor, "paid")
    events.publish("work_order.paid", work_order_id=wo.pk, amount=str(sum(p.amount for p in made)))
    return made


@audit.by_actor
@transaction.atomic
def refund_payment(
    actor: User, payment: Payment, *, amount=None, reason: str, kind: str = "refund"
) -> Payment:
    """A refund (part or all) or a reversal (all) is a new negative entry, never an edit."""
    require(actor, "payment.refund")
    wo = payment.work_order
    require_visible(actor, wo)
    wo = _locked(wo)
    if payment.kind != Payment.Kind.PAYMENT:
        raise Invalid(_("Only a payment can be refunded."))
    if kind not in (Payment.Kind.REFUND, Payment.Kind.REVERSAL):
        raise Invalid(fields={"kind": _("Choose refund or reversal.")})
    reason = tidy_prose(reason)[:60]
    if not reason:
        raise Invalid(fields={"reason": _("Say why the money is returned.")})
    already = -(payment.reversals.aggregate(s=Sum("amount"))["s"] or ZERO)
    left = payment.amount - already
    value = (
        left if kind == Payment.Kind.REVERSAL or amount in (None, "") else money(amount, "amount")
    )
    if value <= 0 or value > left:
        raise Invalid(
            fields={
                "amount": _("Between ¥0.01 and ¥%(left)s (what is left of this payment).")
                % {"left": left}
            }
        )
    row = Payment.objects.create(
        org_id=wo.org_id,
        store_id=wo.store_id,
        work_order=wo,
        method=payment.method,
        kind=kind,
        amount=-value,
        reverses=payment,
        reference=reason,
        received_by=actor,
    )
    wo.paid -= value
    touch(wo, actor, "paid")
    events.publish("payment.refunded", work_order_id=wo.pk, store_id=wo.store_id, payment_id=row.pk)
    return row


# --- dispatch and time --------------------------------------------------------------------


@audit.by_actor
@transaction.atomic
def assign_line(actor: User, line: WorkOrderLine, technician_ids) -> WorkOrderLine:
    require(actor, "workorder.edit")
    wo = WorkOrder.objects.get(pk=line.work_order_id)
    require_visible(actor, wo)
    require_open(wo)
    ids = {int(i) for i in technician_ids or []}
    techs = list(
        User.objects.filter(
            pk__in=ids,
            org_id=wo.org_id,
            is_active=True,
            stores__id=wo.store_id,
            roles__code="technician",
        ).distinct()
    )
    if len(techs) != len(ids):
        raise Invalid(fields={"technicians": _("Choose technicians of this store.")})
    line.technicians.set(techs)
    names = "、".join(t.display_name for t in techs) or _("nobody")
    log_event(
        wo, "dispatch", _("%(item)s assigned to %(names)s") % {"item": line, "names": names}, actor
    )
    return line


def _work_check(actor: User, line: WorkOrderLine) -> WorkOrder:
    require(actor, "workorder.work")
    wo = WorkOrder.objects.get(pk=line.work_order_id)
    line.refresh_from_db(fields=["approval", "progress"])
    require_visible(actor, wo)
    if wo.status != S.IN_PROGRESS:
        raise Conflict(_("Work can only be clocked while the order is in progress."))
    if line.approval != WorkOrderLine.Approval.APPROVED:
        raise Conflict(_("This item is not approved by the owner."))
    if not actor.can("workorder.discount") and not line.technicians.filter(pk=actor.pk).exists():
        raise Forbidden(_("This item is not assigned to you."))
    return wo


@audit.by_actor
@transaction.atomic
def clock_on(actor: User, line: WorkOrderLine) -> TimeEntry:
    wo = _work_check(actor, line)
    running = TimeEntry.objects.filter(technician=actor, ended_at__isnull=True).first()
    if running is not None:
        if running.line_id == line.pk:
            raise Conflict(_("You are already clocked on this item."))
        raise Conflict(
            _("You are clocked on %(item)s; clock off there first.") % {"item": running.line}
        )
    entry = TimeEntry.objects.create(work_order=wo, line=line, technician=actor)
    if line.progress == WorkOrderLine.Progress.PENDING:
        line.progress = WorkOrderLine.Progress.WORKING
        line.save(update_fields=["progress"])
    return entry


@audit.by_actor
@transaction.atomic
def clock_off(actor: User, line: WorkOrderLine, *, note: str = "") -> TimeEntry:
    require(actor, "workorder.work")
    require_visible(actor, line.work_order)
    entry = TimeEntry.objects.filter(technician=actor, line=line, ended_at__isnull=True).first()
    if entry is None:
        raise Conflict(_("You are not clocked on this item."))
    entry.ended_at = timezone.now()
    entry.note = tidy_prose(note)[:200]
    entry.save(update_fields=["ended_at", "note"])
    return entry


@audit.by_actor
@transaction.atomic
def mark_line_done(actor: User, line: WorkOrderLine, *, note: str = "") -> WorkOrderLine:
    wo = _work_check(actor, line)
    TimeEntry.objects.filter(technician=actor, line=line, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
    line.progress = WorkOrderLine.Progress.DONE
    line.save(update_fields=["progress"])
    text = _("%(item)s done") % {"item": line.name}
    if note:
        text += f": {tidy_prose(note)[:150]}"
    log_event(wo, "work", text, actor, public=True)
    return line


# --- inspection ---------------------------------------------------------------------------


@audit.by_actor
@transaction.atomic
def start_inspection(actor: User, wo: WorkOrder, template_id) -> Inspection:
    require(actor, "workorder.work", "workorder.edit")
    require_visible(actor, wo)
    require_open(wo)
    template = InspectionTemplate.objects.filter(
        org_id=wo.org_id, pk=template_id, is_active=True
    ).first()
    if template is None:
        raise Invalid(fields={"template": _("Choose an inspection checklist.")})
    inspection = Inspection.objects.create(work_order=wo, template=template, inspector=actor)
    results = InspectionResult.objects.bulk_create(
        [
            InspectionResult(inspection=inspection, section=i.section, name=i.name, sort=i.sort)
            for i in template.items.all()
        ]
    )
    audit.record_bulk(InspectionResult, len(results), org_id=wo.org_id)
    log_event(wo, "inspection", _("Check-in inspection started"), actor, public=True)
    return inspection


@audit.by_actor
@transaction.atomic
def rate_result(actor: User, result: InspectionResult, *, rating: str, note: str = ""):
    require(actor, "workorder.work", "workorder.edit")
    wo = result.inspection.work_order
    require_visible(actor, wo)
    require_open(wo)
    if rating not in InspectionResult.Rating.values:
        raise Invalid(fields={"rating": _("Choose green, yellow, red or N/A.")})
    result.rating = rating
    result.note = tidy_prose(note)[:200]
    result.save(update_fields=["rating", "note"])
    return result


@audit.by_actor
@transaction.atomic
def complete_inspection(actor: User, inspection: Inspection) -> Inspection:
    require(actor, "workorder.work", "workorder.edit")
    require_visible(actor, inspection.work_order)
    require_open(inspection.work_order)
    unrated = inspection.results.filter(rating="").count()
    if unrated:
        raise Invalid(
            _("%(count)s item(s) are not rated yet.") % {"count": unrated},
            fields={"results": _("Rate every item (N/A if it does not apply).")},
        )
    inspection.completed_at = timezone.now()
    inspection.save(update_fields=["completed_at"])
    log_event(inspection.work_order, "inspection", _("Inspection completed"), actor, public=True)
    return inspection


@audit.by_actor
@transaction.atomic
def propose_from_results(actor: User, inspection: Inspection, result_ids) -> list[WorkOrderLine]:
    """Red and yellow items become proposed lines in one tap (priced by the advisor)."""
    require(actor, "workorder.work", "workorder.edit")
    require_visible(actor, inspection.work_order)
    wo = _locked(inspection.work_order)
    require_open(wo)
    results = inspection.results.filter(
        pk__in=[int(i) for i in result_ids],
        rating__in=[InspectionResult.Rating.NOW, InspectionResult.Rating.SOON],
        line__isnull=True,
    )
    sort = _next_sort(wo)
    made = []
    for i, result in enumerate(results):
        name = result.name if not result.note else f"{result.name}（{result.note}）"
        line = _create_line(
            wo,
            kind=WorkOrderLine.Kind.LABOUR,
            name=name[:100],
            category=Category.LABOUR,
            quantity=Decimal(1),
            unit_price=ZERO,
            urgency=result.rating,
            sort=sort + i,
        )
        result.line = line
        result.save(update_fields=["line"])
        made.append(line)
    if not made:
        raise Invalid(fields={"results": _("Choose red or yellow items not yet proposed.")})
    touch(wo, actor)
    return made


# --- quality check ------------------------------------------------------------------------


def _new_qc(actor: User, wo: WorkOrder, checks: dict, reason: str) -> QualityCheck:
    items = [{"name": name, "ok": bool(checks.get(name))} for name in conf(wo).qc_items or []]
    passed = all(item["ok"] for item in items)
    reason = tidy_prose(reason)[:300]
    if not passed and not reason:
        raise Invalid(fields={"reason": _("Say what must be redone.")})
    return QualityCheck.objects.create(
        work_order=wo, inspector=actor, passed=passed, items=items, reason=reason
    )


@audit.by_actor
@transaction.atomic
def record_qc(
    actor: User, wo: WorkOrder, *, checks: dict, reason: str = "", return_line_ids=()
) -> QualityCheck:
    """The completion check. Passing makes the car ready; failing sends the named lines (or
    every approved line) back to the technicians with the reason."""
    require(actor, "workorder.qc")
    require_visible(actor, wo)
    wo = _locked(wo)
    if wo.status != S.QC:
        raise Conflict(_("The work order is not waiting for a quality check."))
    qc = _new_qc(actor, wo, checks, reason)
    if qc.passed:
        log_event(wo, "qc", _("Quality check passed: the car is ready"), actor, public=True)
        perform(actor, wo, "ready", qc=qc)
    else:
        lines = wo.lines.filter(approval=WorkOrderLine.Approval.APPROVED)
        if return_line_ids:
            lines = lines.filter(pk__in=[int(i) for i in return_line_ids])
        for line in lines:
            line.progress = WorkOrderLine.Progress.WORKING
            line.save(update_fields=["progress"])
        wo.status = S.IN_PROGRESS
        touch(wo, actor, "status")
        log_event(wo, "qc", _("Quality check failed: %(reason)s") % {"reason": reason}, actor)
    return qc
