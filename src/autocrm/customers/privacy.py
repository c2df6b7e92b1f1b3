"""Personal-data rights (PIPL) and record hygiene: export one customer's data, erase it on
request, merge duplicates, and export a filtered list to Excel."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit, customfields, xlsx
from autocrm.core.errors import Invalid
from autocrm.core.models import User
from autocrm.core.services import require
from autocrm.core.validators import mask_mobile
from autocrm.customers.models import Customer, Interaction, Ownership, Vehicle
from autocrm.customers.services import _require_visible, search_fields

PERSONAL_FIELDS = (
    "name",
    "mobile",
    "other_contacts",
    "gender",
    "birthday",
    "wechat_id",
    "notes",
    "company_tax_id",
    "preferences",
    "custom",
)


def _plain(value):
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def customer_data(actor: User, customer: Customer) -> dict:
    """Everything held about one customer, for an access request (PIPL art. 45)."""
    _require_visible(actor, customer)
    require(actor, "customer.export")
    fields = [f.name for f in Customer._meta.concrete_fields if f.name not in ("org",)]
    data = {
        name: _plain(
            getattr(
                customer,
                f"{name}_id"
                if name in ("home_store", "source", "referrer", "merged_into")
                else name,
            )
        )
        for name in fields
    }
    data["tags"] = [t.name for t in customer.tags.all()]
    data["vehicles"] = [
        {f.name: _plain(getattr(v, f.attname)) for f in Vehicle._meta.concrete_fields}
        for v in Vehicle.objects.filter(ownerships__customer=customer).distinct()
    ]
    data["timeline"] = [
        {
            "kind": i.kind,
            "summary": i.summary,
            "body": i.body,
            "amount": _plain(i.amount),
            "occurred_at": _plain(i.occurred_at),
        }
        for i in customer.interactions.order_by("occurred_at")
    ]
    audit.write("reveal", customer, {"export": [None, "personal data"]})
    return data


def customer_data_json(actor: User, customer: Customer) -> bytes:
    return json.dumps(customer_data(actor, customer), ensure_ascii=False, indent=2).encode()


def customer_data_xlsx(actor: User, customer: Customer) -> bytes:
    data = customer_data(actor, customer)
    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(_("Customer"))
    for key, value in data.items():
        if key not in ("vehicles", "timeline", "tags"):
            xlsx.append(
                sheet,
                [key, json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value],
            )
    xlsx.append(sheet, ["tags", ", ".join(data["tags"])])
    for title, rows in ((_("Vehicles"), data["vehicles"]), (_("Timeline"), data["timeline"])):
        sheet = wb.create_sheet(title)
        if rows:
            xlsx.append(sheet, list(rows[0]))
            for row in rows:
                xlsx.append(
                    sheet,
                    [
                        json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v
                        for v in row.values()
                    ],
                )
    return xlsx.workbook_bytes(wb)


@audit.by_actor
@transaction.atomic
def erase_customer(actor: User, customer: Customer, reason: str) -> Customer:
    """Erase on request (PIPL art. 47): personal data anonymised; visits and amounts stay,
    attached to the anonymised record, because accounting must keep them."""
    require(actor, "customer.erase")
    _require_visible(actor, customer)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(fields={"reason": _("Say why the data is erased (e.g. the request).")})
    if customer.erased_at:
        raise Invalid(fields={"reason": _("This customer was already erased.")})
    customer.name = _("Erased customer #%(id)s") % {"id": customer.pk}
    customer.mobile = ""
    customer.other_contacts = customer.wechat_id = customer.notes = customer.company_tax_id = ""
    customer.gender = ""
    customer.birthday = None
    customer.preferences = {}
    customer.custom = {}
    customer.consent_sms = customer.consent_wechat = False
    customer.erased_at = timezone.now()
    search_fields(customer)
    customer.save()
    customer.tags.clear()
    for item in customer.interactions.exclude(kind=Interaction.Kind.VISIT):
        item.summary = _("(erased)")
        item.body = ""
        item.save()
    audit.write("update", customer, {"erased": [None, reason[:200]]})
    return customer


def merge_preview(actor: User, keep: Customer, drop: Customer) -> dict:
    """What a merge would do, shown before it is confirmed."""
    _check_merge(actor, keep, drop)
    filled = {
        f: getattr(drop, f)
        for f in (
            "mobile",
            "other_contacts",
            "gender",
            "birthday",
            "wechat_id",
            "level",
            "company_tax_id",
        )
        if not getattr(keep, f) and getattr(drop, f)
    }
    return {
        "keep": keep,
        "drop": drop,
        "vehicles": list(drop.vehicles.all()),
        "interactions": drop.interactions.count(),
        "tags": sorted({t.name for t in drop.tags.all()} - {t.name for t in keep.tags.all()}),
        "filled": filled,
        "visit_count": keep.visit_count + drop.visit_count,
        "lifetime_spend": keep.lifetime_spend + drop.lifetime_spend,
    }


def _check_merge(actor: User, keep: Customer, drop: Customer) -> None:
    require(actor, "customer.edit")
    _require_visible(actor, keep)
    _require_visible(actor, drop)
    if keep.pk == drop.pk:
        raise Invalid(fields={"drop": _("Choose two different customers.")})
    if not keep.is_active or not drop.is_active:
        raise Invalid(fields={"drop": _("Merged or erased customers cannot be merged.")})


@audit.by_actor
@transaction.atomic
def merge_customers(actor: User, keep: Customer, drop: Customer) -> Customer:
    """Move vehicles, ownership periods, timeline, tags and referrals from ``drop`` to
    ``keep``; fill ``keep``'s empty fields; ``drop`` remains as a pointer to ``keep``."""
    preview = merge_preview(actor, keep, drop)
    moved_mobile = preview["filled"].pop("mobile", None)
    for field, value in preview["filled"].items():
        setattr(keep, field, value)
    keep.visit_count = preview["visit_count"]
    keep.lifetime_spend = preview["lifetime_spend"]
    firsts = [d for d in (keep.first_visit_at, drop.first_visit_at) if d]
    lasts = [d for d in (keep.last_visit_at, drop.last_visit_at) if d]
    keep.first_visit_at = min(firsts) if firsts else None
    keep.last_visit_at = max(lasts) if lasts else None
    for vehicle in preview["vehicles"]:
        vehicle.owner = keep
        vehicle.save()
    for period in Ownership.objects.filter(customer=drop):
        period.customer = keep
        period.save()
    moved = Interaction.objects.filter(customer=drop).update(customer=keep)
    keep.tags.add(*drop.tags.all())
    for referral in Customer.objects.filter(referrer=drop):
        referral.referrer = keep
        referral.save()
    drop.merged_into = keep
    drop.save()
    if moved_mobile:
        keep.mobile = moved_mobile
    search_fields(keep)
    keep.save()
    audit.write("update", keep, {"merged_from": [None, drop.pk], "timeline_moved": [None, moved]})
    return keep


def vehicle_list_xlsx(actor: User, vehicles: QuerySet[Vehicle], limit: int = 100_000) -> bytes:
    """The filtered vehicle list as Excel (streamed rows; owners' mobiles masked unless the
    role calls customers); the export is audited like the customer list's."""
    require(actor, "customer.export")
    show_phone = actor.can("customer.phone")
    fields = customfields.visible(actor, "vehicle")
    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(_("Vehicles"))
    xlsx.append(
        sheet,
        [
            _("Plate"),
            _("VIN"),
            _("Brand"),
            _("Model"),
            _("Fuel"),
            _("Owner"),
            _("Mobile"),
            _("Home store"),
            _("Current mileage (km)"),
            _("Insurance expires"),
            _("Annual inspection due"),
            *[f.label() for f in fields],
        ],
    )
    rows = 0
    for v in vehicles.select_related("home_store", "owner")[:limit].iterator(chunk_size=2000):
        rows += 1
        mobile = v.owner.mobile if v.owner else ""
        xlsx.append(
            sheet,
            [
                v.plate,
                v.vin,
                v.brand,
                v.model,
                v.get_fuel_display() if v.fuel else "",
                v.owner.name if v.owner else "",
                mobile if show_phone else mask_mobile(mobile),
                v.home_store.name,
                v.current_mileage,
                v.insurance_expires_on.isoformat() if v.insurance_expires_on else "",
                v.inspection_due_on.isoformat() if v.inspection_due_on else "",
                *[value for _group, _label, value in customfields.display_with(fields, v.custom)],
            ],
        )
    return _audited_export(actor, wb, Vehicle, f"{rows} × vehicle list export", rows)


def list_xlsx(actor: User, customers: QuerySet[Customer], limit: int = 100_000) -> bytes:
    """The filtered customer list as Excel (streamed rows; mobiles masked unless the role
    calls customers)."""
    require(actor, "customer.export")
    show_phone = actor.can("customer.phone")
    fields = customfields.visible(actor, "customer")
    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(_("Customers"))
    xlsx.append(
        sheet,
        [
            _("Name"),
            _("Mobile"),
            _("Home store"),
            _("Source"),
            _("Membership level"),
            _("Tags"),
            _("Visits"),
            _("Lifetime spend"),
            _("Last visit"),
            _("SMS consent"),
            *[f.label() for f in fields],
        ],
    )
    qs = customers.select_related("home_store", "source").prefetch_related("tags")
    rows = 0
    for c in qs[:limit].iterator(chunk_size=2000):
        rows += 1
        xlsx.append(
            sheet,
            [
                c.name,
                c.mobile if show_phone else mask_mobile(c.mobile),
                c.home_store.name,
                c.source.name if c.source else "",
                c.level,
                ", ".join(t.name for t in c.tags.all()),
                c.visit_count,
                float(c.lifetime_spend),
                timezone.localtime(c.last_visit_at).strftime("%Y-%m-%d") if c.last_visit_at else "",
                _("yes") if c.consent_sms else _("no"),
                *[value for _group, _label, value in customfields.display_with(fields, c.custom)],
            ],
        )
    return _audited_export(actor, wb, Customer, f"{rows} × customer list export", rows)


def _audited_export(actor: User, wb, model, label: str, rows: int) -> bytes:
    """The workbook's bytes; the export recorded as a reveal of ``rows`` records."""
    content = xlsx.workbook_bytes(wb)
    audit.record_event(
        "reveal", model, label, {"rows": [None, rows]}, org_id=actor.org_id, user=actor
    )
    return content
