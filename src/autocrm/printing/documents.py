"""The printable documents of a work order: the repair authorisation (维修委托书), the settlement
list (结算清单, JT/T 1133-2017 layout, A4 or an 80 mm receipt) and the completion certificate
(竣工出厂合格证).

Building a document's context is plain Python over an already scoped work order, so the figures
can be tested without making a PDF; ``printing.pdf`` makes the PDF. The lines are listed from
the work order's approved lines; the money figures (totals, discount, VAT) are the ones the
work order keeps, so the paper agrees with every list and report."""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from autocrm.catalog.models import Category, RepairClass
from autocrm.core import scoping
from autocrm.core.errors import Conflict
from autocrm.core.models import Store, User
from autocrm.core.validators import mask_mobile
from autocrm.customers.models import Customer
from autocrm.service.models import (
    Payment,
    QualityCheck,
    ServiceSettings,
    WorkOrder,
    WorkOrderLine,
)
from autocrm.service.services import CERTIFICATE_CLASSES

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Labels of the printed forms: the regulatory terms, kept here so a printout never depends on
# another app's catalogue being translated.
CATEGORY_LABELS = {
    Category.DIAGNOSIS: pgettext_lazy("print", "Diagnosis fee"),
    Category.TESTING: pgettext_lazy("print", "Testing fee"),
    Category.MATERIAL: pgettext_lazy("print", "Materials fee"),
    Category.LABOUR: pgettext_lazy("print", "Labour fee"),
    Category.PROCESSING: pgettext_lazy("print", "Processing fee"),
    Category.OTHER: pgettext_lazy("print", "Other fees"),
}
METHOD_LABELS = {
    Payment.Method.CASH: pgettext_lazy("print", "Cash"),
    Payment.Method.WECHAT: pgettext_lazy("print", "WeChat Pay"),
    Payment.Method.ALIPAY: pgettext_lazy("print", "Alipay"),
    Payment.Method.CARD: pgettext_lazy("print", "Bank card"),
    Payment.Method.ACCOUNT: pgettext_lazy("print", "On account"),
}
REPAIR_CLASS_LABELS = {
    RepairClass.VEHICLE: pgettext_lazy("print", "Whole-vehicle repair"),
    RepairClass.ASSEMBLY: pgettext_lazy("print", "Assembly repair"),
    RepairClass.SECOND: pgettext_lazy("print", "Second-level maintenance"),
    RepairClass.FIRST: pgettext_lazy("print", "First-level maintenance"),
    RepairClass.MINOR: pgettext_lazy("print", "Minor repair"),
    RepairClass.SPECIAL: pgettext_lazy("print", "Special repair"),
}
APPROVAL_LABELS = {
    WorkOrderLine.Approval.PROPOSED: pgettext_lazy("print", "To confirm"),
    WorkOrderLine.Approval.APPROVED: pgettext_lazy("print", "Confirmed"),
}


def round_fen(value) -> Decimal:
    """``value`` rounded to the fen (half up); nothing and 0 are 0.00."""
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def _local_date(value: datetime.datetime | None) -> datetime.date | None:
    return timezone.localdate(value) if value else None


def _local_time(value: datetime.datetime | None) -> datetime.datetime | None:
    return timezone.localtime(value) if value else None


# --- parties --------------------------------------------------------------------------------


def store_party(store: Store) -> dict:
    """承修方."""
    return {"name": store.name, "address": store.address, "phone": store.phone}


def customer_party(user: User, customer: Customer) -> dict:
    """托修方: the full mobile only for staff who may call customers."""
    mobile = customer.mobile or ""
    return {
        "name": customer.name,
        "mobile": mobile if user.can("customer.phone") else mask_mobile(mobile),
        "is_company": customer.kind == Customer.Kind.COMPANY,
        "tax_id": customer.company_tax_id,
        "level": customer.level,
    }


def vehicle_info(wo: WorkOrder) -> dict:
    v = wo.vehicle
    return {
        "plate": v.plate,
        "vin": v.vin,
        "brand_model": " ".join(part for part in (v.brand, v.model) if part),
        "mileage_in": wo.mileage_in,
    }


def store_settings(wo: WorkOrder) -> ServiceSettings:
    """The store's shop-floor settings, or the defaults when the store has saved none.
    Not ``service.services.settings_for``: that one saves a default row, and printing only
    reads."""
    found = ServiceSettings.objects.filter(store_id=wo.store_id).first()
    return found or ServiceSettings(store=wo.store)


# --- lines and money ------------------------------------------------------------------------


def quantity_text(value: Decimal) -> Decimal:
    """2.00 → 2, 1.50 → 1.50: whole quantities without decimals."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def line_row(line: WorkOrderLine) -> dict:
    """One printed line. ``amount`` is what is billed after the line's discount; the gap to
    quantity × unit price is shown as the discount (member prices are already the unit price)."""
    gross = round_fen(line.quantity * line.unit_price)
    amount = round_fen(line.amount)
    return {
        "name": line.name,
        "code": line.code,
        "brand": line.brand,
        "spec": line.spec,
        "unit": line.unit,
        "quantity": quantity_text(line.quantity),
        "unit_price": round_fen(line.unit_price),
        "gross": gross,
        "discount": max(gross - amount, ZERO),
        "discount_pct": line.discount_pct,
        "amount": amount,
        "category": line.category,
        "category_label": CATEGORY_LABELS.get(line.category, line.category),
        "approval": line.approval,
        "approval_label": APPROVAL_LABELS.get(line.approval, line.approval),
        "customer_supplied": line.customer_supplied,
    }


def approved_lines(wo: WorkOrder) -> list[WorkOrderLine]:
    return [line for line in wo.lines.all() if line.approval == WorkOrderLine.Approval.APPROVED]


def billed_lines(wo: WorkOrder) -> list[WorkOrderLine]:
    """Approved lines the shop charges for; parts the owner brought are listed, not billed."""
    return [line for line in approved_lines(wo) if not line.customer_supplied]


def category_totals(lines) -> list[dict]:
    """The six cost categories of the settlement list, in the form's order, zero when unused."""
    sums = {code: ZERO for code in Category.values}
    for line in lines:
        key = line.category if line.category in sums else Category.OTHER
        sums[key] += round_fen(line.amount)
    return [
        {"code": code, "label": CATEGORY_LABELS[code], "amount": sums[code]}
        for code in Category.values
    ]


def payments_by_method(payments) -> list[dict]:
    """Money received per method, net of refunds and reversals (stored as negative rows)."""
    sums: dict[str, Decimal] = {}
    for p in payments:
        sums[p.method] = sums.get(p.method, ZERO) + round_fen(p.amount)
    return [
        {"method": code, "label": METHOD_LABELS[code], "amount": sums[code]}
        for code in Payment.Method.values
        if sums.get(code)
    ]


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ((1000, "仟"), (100, "佰"), (10, "拾"), (1, ""))
_BIG_UNITS = ("", "万", "亿", "万亿")


def _group_upper(group: int) -> str:
    text, zero = "", False
    for size, unit in _SMALL_UNITS:
        digit = group // size % 10
        if digit == 0:
            zero = zero or bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        text += _DIGITS[digit] + unit
    return text


def _integer_upper(number: int) -> str:
    groups = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    text, gap = "", False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            gap = bool(text)
            continue
        if text and (gap or group < 1000):
            text += "零"
        text += _group_upper(group) + _BIG_UNITS[index]
        gap = False
    return text


def rmb_upper(amount: Decimal) -> str:
    """An amount in the capital numerals of Chinese financial documents (人民币大写):
    1234.56 → 壹仟贰佰叁拾肆元伍角陆分."""
    amount = round_fen(amount)
    sign = "负" if amount < 0 else ""
    cents = int(abs(amount) * 100)
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    text = _integer_upper(yuan) + "元" if yuan else ""
    if not jiao and not fen:
        return sign + (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    text += _DIGITS[fen] + "分" if fen else "整"
    return sign + text


def warranty(wo: WorkOrder, start: datetime.date) -> dict:
    """质量保证期: days or km, whichever comes first, from the settlement (hand-over) date."""
    until = start + datetime.timedelta(days=wo.warranty_days)
    until_km = wo.mileage_in + wo.warranty_km if wo.mileage_in is not None else None
    values = {
        "days": wo.warranty_days,
        "km": wo.warranty_km,
        "start": start.isoformat(),
        "until": until.isoformat(),
        "until_km": until_km,
    }
    if until_km is None:
        text = (
            _("%(days)s days or %(km)s km from %(start)s, whichever comes first (until %(until)s).")
            % values
        )
    else:
        text = (
            _(
                "%(days)s days or %(km)s km from %(start)s, whichever comes first "
                "(until %(until)s or %(until_km)s km on the odometer)."
            )
            % values
        )
    return {**values, "start": start, "until": until, "text": text}


def _common(user: User, wo: WorkOrder, title: str) -> dict:
    settings = store_settings(wo)
    now = timezone.localtime()
    return {
        "title": title,
        "number": wo.number,
        "store": store_party(wo.store),
        "customer": customer_party(user, wo.customer),
        "vehicle": vehicle_info(wo),
        "repair_class": REPAIR_CLASS_LABELS.get(wo.repair_class, wo.repair_class),
        "advisor": wo.advisor.display_name if wo.advisor else "",
        "opened_at": _local_time(wo.opened_at),
        "warranty_terms": settings.warranty_terms,
        "settings": settings,
        "printed_at": now,
    }


# --- 1. repair authorisation (维修委托书) ----------------------------------------------------


def authorisation_terms() -> list[str]:
    return [
        _(
            "The owner states the vehicle's faults truthfully and removes valuables from the "
            "vehicle; the repairer is not liable for items left in it."
        ),
        _(
            "Work and parts beyond the confirmed items are done only after the owner agrees; "
            "prices listed as to confirm are estimates."
        ),
        _(
            "Replaced parts are returned to the owner on request at hand-over; otherwise the "
            "repairer disposes of them."
        ),
        _(
            "Charges are settled at hand-over according to the settlement list; the repair "
            "carries the quality warranty stated on it."
        ),
        _(
            "A vehicle not collected within 3 days of the owner being told it is ready may be "
            "charged for parking."
        ),
    ]


def authorisation_context(user: User, wo: WorkOrder) -> dict:
    """维修委托书: what the owner asks for and agrees to, with the proposed and confirmed work."""
    lines = [
        line
        for line in wo.lines.all()
        if line.approval in (WorkOrderLine.Approval.PROPOSED, WorkOrderLine.Approval.APPROVED)
    ]
    rows = [line_row(line) for line in lines]
    proposed = sum(
        (
            r["amount"]
            for r in rows
            if r["approval"] == WorkOrderLine.Approval.PROPOSED and not r["customer_supplied"]
        ),
        ZERO,
    )
    return {
        **_common(user, wo, _("Motor vehicle repair authorisation")),
        "complaint": wo.complaint,
        "promised_at": _local_time(wo.promised_at),
        "lines": rows,
        "approved_total": wo.total,
        "estimate_total": wo.total + proposed,
        "terms": authorisation_terms(),
    }


# --- 2. settlement list (结算清单) ----------------------------------------------------------


def settlement_context(user: User, wo: WorkOrder, *, size: str = "a4") -> dict:
    """结算清单 after JT/T 1133-2017: materials and labour itemised, category totals, discount,
    VAT included, payments and balance, the owner's own parts, old parts, warranty. Totals,
    discount and VAT are the work order's kept columns; sublets and other fees are listed and
    subtotalled with the labour, as on the form."""
    billed = billed_lines(wo)
    materials = [line_row(line) for line in billed if line.category == Category.MATERIAL]
    labour = [line_row(line) for line in billed if line.category != Category.MATERIAL]
    total = wo.total
    payments = list(wo.payments.all())
    paid = sum((round_fen(p.amount) for p in payments), ZERO)
    common = _common(user, wo, _("Motor vehicle repair settlement list"))
    settled_on = _local_date(wo.settled_at)
    return {
        **common,
        "size": size,
        "fit_height": size == "receipt",
        "provisional": wo.settled_at is None,
        "received_on": _local_date(wo.opened_at),
        "settled_on": settled_on,
        "materials": materials,
        "materials_total": wo.parts_total,
        "labour": labour,
        "labour_hours": sum(
            (line.quantity for line in billed if line.kind == WorkOrderLine.Kind.LABOUR), ZERO
        ),
        "labour_total": wo.labour_total + wo.other_total,
        "category_totals": category_totals(billed),
        "gross_total": total + wo.discount_total,
        "discount": wo.discount_total,
        "total": total,
        "total_upper": rmb_upper(total),
        "tax_rate_pct": (Decimal(common["settings"].tax_rate) * 100).normalize(),
        "vat": wo.tax,
        "payments": payments_by_method(payments),
        "paid": paid,
        "balance": total - paid,
        "customer_supplied": [
            line_row(line) for line in approved_lines(wo) if line.customer_supplied
        ],
        "old_parts_returned": wo.old_parts_returned,
        "warranty": warranty(wo, settled_on or timezone.localdate()),
    }


# --- 3. completion certificate (竣工出厂合格证) -----------------------------------------------


def certificate_applies(wo: WorkOrder) -> bool:
    return wo.repair_class in CERTIFICATE_CLASSES


def passed_quality_check(user: User, wo: WorkOrder) -> QualityCheck | None:
    """The latest quality check, when it passed (a failed re-check cancels an earlier pass)."""
    latest = (
        scoping.scoped(QualityCheck.objects.filter(work_order=wo), user)
        .select_related("inspector")
        .order_by("-created_at", "-id")
        .first()
    )
    return latest if latest is not None and latest.passed else None


def certificate_context(user: User, wo: WorkOrder) -> dict:
    """竣工出厂合格证, only for second-level maintenance, assembly and whole-vehicle repair and
    only after a passed completion quality check."""
    if not certificate_applies(wo):
        raise Conflict(
            _(
                "A completion certificate is issued only for second-level maintenance, assembly "
                "repair and whole-vehicle repair; this work order is %(class)s."
            )
            % {"class": REPAIR_CLASS_LABELS.get(wo.repair_class, wo.repair_class)},
            code="certificate_not_applicable",
        )
    qc = passed_quality_check(user, wo)
    if qc is None:
        raise Conflict(
            _("A completion certificate needs a passed completion quality check first."),
            code="certificate_needs_qc",
        )
    approved = approved_lines(wo)
    completed_on = _local_date(wo.settled_at) or timezone.localdate()
    return {
        **_common(user, wo, _("Motor vehicle repair completion certificate")),
        "work": [line_row(line) for line in approved if line.category != Category.MATERIAL],
        "parts": [line_row(line) for line in approved if line.category == Category.MATERIAL],
        "inspector": qc.inspector.display_name,
        "inspected_at": _local_time(qc.created_at),
        "qc_items": [item for item in (qc.items or []) if isinstance(item, dict)],
        "completed_on": completed_on,
        "warranty": warranty(wo, completed_on),
    }
