"""Customers API: customers, vehicles, mileage, tags, notes and the 360° profile."""

from __future__ import annotations

import datetime
from decimal import Decimal

from ninja import Field, Query, Router, Schema, Status

from autocrm.core import customfields
from autocrm.core.api import page_of
from autocrm.core.http import XLSX, download
from autocrm.core.pagination import paginate
from autocrm.core.services import require
from autocrm.core.validators import mask_mobile
from autocrm.customers import customfilters, preferences, privacy, selectors, services
from autocrm.customers.models import Customer, Tag

router = Router(tags=["customers"])


class TagOut(Schema):
    id: int
    name: str


class TagIn(Schema):
    name: str = Field(..., max_length=30)


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    mobile: str
    home_store_id: int
    gender: str
    birthday: datetime.date | None
    wechat_id: str
    other_contacts: str
    source_id: int | None
    referrer_id: int | None
    level: str
    tags: list[str]
    notes: str
    consent_sms: bool
    consent_wechat: bool
    visit_count: int
    lifetime_spend: Decimal
    last_visit_at: datetime.datetime | None
    created_at: datetime.datetime
    custom: dict
    preferences: dict = Field(
        {}, description="services, music_style, budget_min, budget_max (yuan), brands"
    )


class CustomerIn(Schema):
    name: str = Field(..., max_length=100)
    kind: str = "person"
    mobile: str = Field("", max_length=30)
    home_store_id: int | None = None
    gender: str = ""
    birthday: datetime.date | None = None
    wechat_id: str = Field("", max_length=60)
    other_contacts: str = Field("", max_length=200)
    source_id: int | None = None
    referrer_id: int | None = None
    level: str = Field("", max_length=30)
    notes: str = ""
    tag_ids: list[int] = []
    custom: dict = {}
    preferences: dict = {}


class CustomerPatch(Schema):
    name: str | None = Field(None, max_length=100)
    kind: str | None = None
    mobile: str | None = Field(None, max_length=30)
    home_store_id: int | None = None
    gender: str | None = None
    birthday: datetime.date | None = None
    wechat_id: str | None = Field(None, max_length=60)
    other_contacts: str | None = Field(None, max_length=200)
    source_id: int | None = None
    referrer_id: int | None = None
    level: str | None = Field(None, max_length=30)
    notes: str | None = None
    tag_ids: list[int] | None = None
    custom: dict | None = None
    preferences: dict | None = Field(
        None, description="merged into the stored preferences; an empty value removes a key"
    )


class VehicleOut(Schema):
    id: int
    plate: str
    vin: str
    vin_check_ok: bool
    owner_id: int | None
    home_store_id: int
    brand: str
    model: str
    model_year: int | None
    fuel: str
    color: str
    engine_no: str
    registered_on: datetime.date | None
    purchased_on: datetime.date | None
    insurer: str
    insurance_expires_on: datetime.date | None
    inspection_due_on: datetime.date | None
    current_mileage: int | None
    mileage_read_on: datetime.date | None
    last_service_on: datetime.date | None
    last_service_km: int | None
    daily_km: Decimal | None = Field(None, description="estimated km a day")
    daily_km_source: str = Field("", description="own | store | default")
    service_due_on: datetime.date | None = Field(
        None, description="predicted next service: km or months since the last, first reached"
    )
    service_due_km: int | None = Field(None, description="expected odometer reading then")
    custom: dict


class VehicleIn(Schema):
    owner_id: int | None = None
    home_store_id: int | None = None
    plate: str = Field("", max_length=20)
    plate_override: bool = False
    vin: str = Field("", max_length=30)
    confirm_vin: bool = False
    brand: str = Field("", max_length=40)
    model: str = Field("", max_length=60)
    model_year: int | None = None
    fuel: str = ""
    color: str = Field("", max_length=20)
    engine_no: str = Field("", max_length=30)
    registered_on: datetime.date | None = None
    purchased_on: datetime.date | None = None
    insurer: str = Field("", max_length=40)
    insurance_expires_on: datetime.date | None = None
    inspection_due_on: datetime.date | None = None
    mileage_km: int | None = None
    custom: dict = {}


class VehiclePatch(Schema):
    plate: str | None = Field(None, max_length=20)
    plate_override: bool = False
    vin: str | None = Field(None, max_length=30)
    confirm_vin: bool = False
    brand: str | None = Field(None, max_length=40)
    model: str | None = Field(None, max_length=60)
    model_year: int | None = None
    fuel: str | None = None
    color: str | None = Field(None, max_length=20)
    engine_no: str | None = Field(None, max_length=30)
    registered_on: datetime.date | None = None
    purchased_on: datetime.date | None = None
    insurer: str | None = Field(None, max_length=40)
    insurance_expires_on: datetime.date | None = None
    inspection_due_on: datetime.date | None = None
    custom: dict | None = None


class MileageIn(Schema):
    km: int
    read_on: datetime.date | None = None
    source: str = "manual"
    note: str = Field("", max_length=200)


class MileageOut(Schema):
    id: int
    km: int
    read_on: datetime.date
    source: str
    note: str


class InteractionIn(Schema):
    kind: str = "note"
    summary: str = Field(..., max_length=200)
    body: str = ""
    vehicle_id: int | None = None


class InteractionOut(Schema):
    id: int
    kind: str
    summary: str
    body: str
    vehicle_id: int | None
    occurred_at: datetime.datetime
    staff_id: int | None


class ProfileOut(Schema):
    customer: CustomerOut
    vehicles: list[VehicleOut]
    past_vehicles: list[dict]
    timeline: list[InteractionOut]
    average_days_between_visits: int | None


CustomerPage, VehiclePage = page_of(CustomerOut), page_of(VehicleOut)


class CustomerQuery(Schema):
    """The list's filters, shared by the list and its Excel export. Custom fields the caller
    may see filter as ``cf_<key>`` (choice, yes/no 1|0: exact; text: contains) and
    ``cf_<key>.min`` / ``cf_<key>.max`` (whole number, date), see ``customfilters``."""

    q: str = ""
    store_id: int | None = None
    tag_id: int | None = None
    source_id: int | None = None
    level: str = ""
    consent: str = ""
    brand: str = ""
    insurance_within_days: int | None = None

    def to_filter(self) -> selectors.CustomerFilter:
        return selectors.CustomerFilter(**{**self.dict(), "q": self.q[:40]})


def customer_out(viewer, customer: Customer, custom_fields=None) -> dict:
    """``custom_fields``: the viewer's visible customer fields, when already loaded (lists)."""
    data = {f: getattr(customer, f) for f in CustomerOut.model_fields if hasattr(customer, f)}
    data["tags"] = sorted(t.name for t in customer.tags.all())
    data["custom"] = customfields.visible_custom(
        viewer, "customer", customer.custom, fields=custom_fields
    )
    data["preferences"] = preferences.shown(customer.preferences)
    if not viewer.can("customer.phone"):
        data["mobile"] = mask_mobile(customer.mobile)
    return data


def vehicle_out(viewer, vehicle, custom_fields=None) -> dict:
    """A vehicle with only the custom fields the viewer may see (like ``customer_out``)."""
    data = {f: getattr(vehicle, f) for f in VehicleOut.model_fields if hasattr(vehicle, f)}
    data["custom"] = customfields.visible_custom(
        viewer, "vehicle", vehicle.custom, fields=custom_fields
    )
    return data


@router.get("/customers", response=CustomerPage)
def list_customers(
    request, filters: Query[CustomerQuery], cursor: str | None = None, limit: int = 50
):
    f = filters.to_filter()
    f.custom = customfilters.from_query(request.user, "customer", request.GET)
    qs = selectors.customer_list(request.user, f).prefetch_related("tags")
    page = paginate(qs, cursor, limit, descending=True)
    fields = customfields.visible(request.user, "customer")
    page["items"] = [customer_out(request.user, c, fields) for c in page["items"]]
    return page


@router.post("/customers", response={201: CustomerOut})
def create_customer(request, payload: CustomerIn):
    customer = services.create_customer(request.user, **payload.dict())
    return Status(201, customer_out(request.user, customer))


@router.get("/customers/export.xlsx")
def export_customers(request, filters: Query[CustomerQuery]):
    """The filtered list as Excel (same filters as GET /customers)."""
    f = filters.to_filter()
    f.custom = customfilters.from_query(request.user, "customer", request.GET)
    content = privacy.list_xlsx(request.user, selectors.customer_list(request.user, f))
    return download(content, "customers.xlsx", XLSX)


class MergeIn(Schema):
    keep_id: int
    drop_id: int


class EraseIn(Schema):
    reason: str = Field(..., max_length=200)


@router.get("/customers/merge-preview")
def merge_preview(request, keep_id: int, drop_id: int):
    keep = selectors.get_customer(request.user, keep_id)
    drop = selectors.get_customer(request.user, drop_id)
    p = privacy.merge_preview(request.user, keep, drop)
    return {
        "keep_id": keep.pk,
        "drop_id": drop.pk,
        "vehicles": [v.plate or v.vin for v in p["vehicles"]],
        "interactions": p["interactions"],
        "tags": p["tags"],
        "filled": {k: str(v) for k, v in p["filled"].items()},
        "visit_count": p["visit_count"],
        "lifetime_spend": str(p["lifetime_spend"]),
    }


@router.post("/customers/merge", response=CustomerOut)
def merge(request, payload: MergeIn):
    keep = selectors.get_customer(request.user, payload.keep_id)
    drop = selectors.get_customer(request.user, payload.drop_id)
    return customer_out(request.user, privacy.merge_customers(request.user, keep, drop))


@router.get("/customers/{customer_id}/export")
def export_customer(request, customer_id: int, format: str = "json"):  # noqa: A002
    """One customer's data, for an access request (JSON or Excel); audited."""
    customer = selectors.get_customer(request.user, customer_id)
    if format == "xlsx":
        return download(
            privacy.customer_data_xlsx(request.user, customer), f"customer-{customer.pk}.xlsx", XLSX
        )
    return download(
        privacy.customer_data_json(request.user, customer),
        f"customer-{customer.pk}.json",
        "application/json",
    )


@router.post("/customers/{customer_id}/erase", response=CustomerOut)
def erase_customer(request, customer_id: int, payload: EraseIn):
    customer = selectors.get_customer(request.user, customer_id)
    return customer_out(
        request.user, privacy.erase_customer(request.user, customer, payload.reason)
    )


@router.get("/customers/{customer_id}", response=CustomerOut)
def get_customer(request, customer_id: int):
    return customer_out(request.user, selectors.get_customer(request.user, customer_id))


@router.patch("/customers/{customer_id}", response=CustomerOut)
def update_customer(request, customer_id: int, payload: CustomerPatch):
    customer = selectors.get_customer(request.user, customer_id)
    customer = services.update_customer(request.user, customer, **payload.dict(exclude_unset=True))
    return customer_out(request.user, customer)


@router.get("/customers/{customer_id}/profile", response=ProfileOut)
def customer_profile(request, customer_id: int):
    """The 360° view as JSON: customer, vehicles, previous vehicles and the latest timeline."""
    p = selectors.profile(request.user, customer_id)
    vehicle_fields = customfields.visible(request.user, "vehicle")
    return {
        "customer": customer_out(request.user, p.customer),
        "vehicles": [vehicle_out(request.user, v, vehicle_fields) for v in p.vehicles],
        "past_vehicles": [
            {
                "vehicle_id": o.vehicle_id,
                "plate": o.vehicle.plate,
                "from": o.started_at.isoformat(),
                "until": o.ended_at.isoformat() if o.ended_at else None,
            }
            for o in p.past_vehicles
        ],
        "timeline": p.timeline,
        "average_days_between_visits": p.average_days_between_visits,
    }


@router.post("/customers/{customer_id}/reveal-mobile")
def reveal_mobile(request, customer_id: int):
    """The full number (audited); refused for roles that do not call customers."""
    customer = selectors.get_customer(request.user, customer_id)
    return {"mobile": services.reveal_mobile(request.user, customer)}


@router.get("/customers/{customer_id}/interactions", response=list[InteractionOut])
def list_interactions(request, customer_id: int, limit: int = 50):
    customer = selectors.get_customer(request.user, customer_id)
    return selectors.timeline(customer, limit)


@router.post("/customers/{customer_id}/interactions", response={201: InteractionOut})
def add_interaction(request, customer_id: int, payload: InteractionIn):
    customer = selectors.get_customer(request.user, customer_id)
    return Status(201, services.add_interaction(request.user, customer, **payload.dict()))


@router.get("/vehicles", response=VehiclePage)
def list_vehicles(
    request,
    cursor: str | None = None,
    limit: int = 50,
    brand: str = "",
    owner_id: int | None = None,
):
    qs = selectors.visible_vehicles(request.user)
    if brand:
        qs = qs.filter(brand=brand)
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    custom = customfilters.from_query(request.user, "vehicle", request.GET)
    qs = customfilters.apply(qs, request.user, "vehicle", custom)
    page = paginate(qs, cursor, limit, descending=True)
    fields = customfields.visible(request.user, "vehicle")
    page["items"] = [vehicle_out(request.user, v, fields) for v in page["items"]]
    return page


@router.post("/vehicles", response={201: VehicleOut})
def create_vehicle(request, payload: VehicleIn):
    return Status(
        201, vehicle_out(request.user, services.create_vehicle(request.user, **payload.dict()))
    )


@router.get("/vehicles/{vehicle_id}", response=VehicleOut)
def get_vehicle(request, vehicle_id: int):
    return vehicle_out(request.user, selectors.get_vehicle(request.user, vehicle_id))


@router.patch("/vehicles/{vehicle_id}", response=VehicleOut)
def update_vehicle(request, vehicle_id: int, payload: VehiclePatch):
    vehicle = selectors.get_vehicle(request.user, vehicle_id)
    vehicle = services.update_vehicle(request.user, vehicle, **payload.dict(exclude_unset=True))
    return vehicle_out(request.user, vehicle)


@router.post("/vehicles/{vehicle_id}/transfer", response=VehicleOut)
def transfer_vehicle(request, vehicle_id: int, new_owner_id: int):
    vehicle = selectors.get_vehicle(request.user, vehicle_id)
    owner = selectors.get_customer(request.user, new_owner_id)
    return vehicle_out(request.user, services.transfer_vehicle(request.user, vehicle, owner))


@router.get("/vehicles/{vehicle_id}/mileage", response=list[MileageOut])
def list_mileage(request, vehicle_id: int):
    vehicle = selectors.get_vehicle(request.user, vehicle_id)
    return list(vehicle.mileage.order_by("-read_on", "-id")[:200])


@router.post("/vehicles/{vehicle_id}/mileage", response={201: MileageOut})
def add_mileage(request, vehicle_id: int, payload: MileageIn):
    vehicle = selectors.get_vehicle(request.user, vehicle_id)
    return Status(201, services.record_mileage(request.user, vehicle, **payload.dict()))


@router.get("/tags", response=list[TagOut])
def list_tags(request):
    require(request.user, "customer.view")
    return list(Tag.objects.filter(org_id=request.user.org_id).order_by("name"))


@router.post("/tags", response={201: TagOut})
def create_tag(request, payload: TagIn):
    return Status(201, services.create_tag(request.user, payload.name))
