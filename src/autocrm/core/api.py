"""Core API: tokens, the current user, regions, stores, staff, audit log and search."""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

from axes.exceptions import AxesBackendPermissionDenied
from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer

from autocrm.core import audit, customfields, selectors, services
from autocrm.core.errors import NotFound, ServiceError
from autocrm.core.models import CustomField, User
from autocrm.core.pagination import paginate
from autocrm.core.validators import mask_mobile

router = Router()
security_log = logging.getLogger("autocrm.security")


class BearerAuth(HttpBearer):
    def authenticate(self, request, token):
        user = selectors.token_user(services.hash_token(token))
        if user is not None:
            request.user = user
            audit.set_user(user)
        return user


class Unauthorized(ServiceError):
    status = 401
    code = "unauthenticated"


class LockedOut(ServiceError):
    status = 429
    code = "locked_out"


# --- schemas ------------------------------------------------------------------------------


class TokenIn(Schema):
    username: str = Field(..., max_length=150)
    password: str = Field(..., max_length=128)
    name: str = Field("API", max_length=60)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime.datetime
    last_used_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


class NewTokenOut(Schema):
    token: str
    token_info: TokenOut


class TokenCreateIn(Schema):
    name: str = Field("API", max_length=60)


class RegionOut(Schema):
    id: int
    name: str
    code: str


class RegionIn(Schema):
    name: str = Field(..., max_length=60)
    code: str = Field(..., max_length=40)


class StoreOut(Schema):
    id: int
    name: str
    code: str
    kind: str
    city: str
    address: str
    phone: str
    is_active: bool
    region_id: int | None


class StoreIn(Schema):
    name: str = Field(..., max_length=100)
    code: str = Field(..., max_length=40)
    kind: str = "repair"
    city: str = Field("", max_length=40)
    address: str = Field("", max_length=200)
    phone: str = Field("", max_length=30)
    region_id: int | None = None


class StorePatch(Schema):
    name: str | None = Field(None, max_length=100)
    code: str | None = Field(None, max_length=40)
    kind: str | None = None
    city: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=30)
    region_id: int | None = None
    is_active: bool | None = None


class StaffOut(Schema):
    id: int
    username: str
    full_name: str
    phone: str
    is_active: bool
    scope: str
    roles: list[str]
    store_ids: list[int]
    region_ids: list[int]


class StaffIn(Schema):
    username: str = Field(..., max_length=150)
    password: str = Field(..., max_length=128)
    full_name: str = Field(..., max_length=60)
    phone: str = Field("", max_length=20)
    roles: list[str]
    scope: str = "store"
    store_ids: list[int] = []
    region_ids: list[int] = []


class StaffPatch(Schema):
    full_name: str | None = Field(None, max_length=60)
    phone: str | None = Field(None, max_length=20)
    roles: list[str] | None = None
    scope: str | None = None
    store_ids: list[int] | None = None
    region_ids: list[int] | None = None


class MeOut(StaffOut):
    org_id: int | None
    org_name: str
    language: str
    capabilities: list[str]


class AuditOut(Schema):
    id: int
    created_at: datetime.datetime
    user_label: str
    source: str
    ip: str | None
    action: str
    object_type: str
    object_id: str
    object_repr: str
    store_id: int | None
    changes: dict


def page_of(schema):
    name = f"{schema.__name__}Page"
    return type(
        name, (Schema,), {"__annotations__": {"items": list[schema], "next_cursor": str | None}}
    )


StorePage, StaffPage, AuditPage, RegionPage = (
    page_of(StoreOut),
    page_of(StaffOut),
    page_of(AuditOut),
    page_of(RegionOut),
)


def staff_out(viewer: User, staff: User) -> dict:
    roles = sorted(r.code for r in staff.roles.all())
    if viewer.pk == staff.pk:
        phone = staff.phone
        staff._role_codes = frozenset(roles)  # the viewer's own roles: no second query
    elif viewer.can("staff.phone"):
        phone = staff.phone
    else:
        phone = mask_mobile(staff.phone)
    return {
        "id": staff.pk,
        "username": staff.username,
        "full_name": staff.full_name,
        "phone": phone,
        "is_active": staff.is_active,
        "scope": staff.scope,
        "roles": roles,
        "store_ids": sorted(s.pk for s in staff.stores.all()),
        "region_ids": sorted(r.pk for r in staff.regions.all()),
    }


# --- auth ---------------------------------------------------------------------------------


@router.post("/auth/token", auth=None, response={201: NewTokenOut}, tags=["auth"])
def issue_token(request, payload: TokenIn):
    """Exchange a username and password for a personal token (shown once)."""
    try:
        user = authenticate(
            request, username=payload.username.strip().lower(), password=payload.password
        )
    except AxesBackendPermissionDenied as exc:
        raise LockedOut(_("Too many failed sign-ins. Try again later or ask a manager.")) from exc
    if getattr(request, "axes_locked_out", False):
        raise LockedOut(_("Too many failed sign-ins. Try again later or ask a manager."))
    if user is None:
        security_log.info(
            "api sign-in failed username=%s ip=%s",
            payload.username,
            request.META.get("REMOTE_ADDR"),
        )
        raise Unauthorized(_("Wrong username or password."))
    request.user = user
    with audit.audit_context(user=user):
        token, raw = services.create_api_token(user, payload.name)
    return Status(201, {"token": raw, "token_info": token})


@router.get("/me", response=MeOut, tags=["auth"])
def me(request):
    user = request.user
    from autocrm.core.roles import CAPABILITIES

    data = staff_out(user, user)
    data.update(
        org_id=user.org_id,
        org_name=user.org.name if user.org_id else "",
        language=user.language,
        capabilities=sorted(c for c in CAPABILITIES if user.can(c)),
    )
    return data


@router.get("/tokens", response=list[TokenOut], tags=["auth"])
def list_tokens(request):
    return list(selectors.user_tokens(request.user))


@router.post("/tokens", response={201: NewTokenOut}, tags=["auth"])
def create_token(request, payload: TokenCreateIn):
    token, raw = services.create_api_token(request.user, payload.name)
    return Status(201, {"token": raw, "token_info": token})


@router.delete("/tokens/{token_id}", response=TokenOut, tags=["auth"])
def revoke_token(request, token_id: int):
    return services.revoke_api_token(request.user, token_id)


# --- regions and stores -------------------------------------------------------------------


@router.get("/regions", response=RegionPage, tags=["stores"])
def list_regions(request, cursor: str | None = None, limit: int = 50):
    return paginate(selectors.visible_regions(request.user), cursor, limit)


@router.post("/regions", response={201: RegionOut}, tags=["stores"])
def create_region(request, payload: RegionIn):
    return Status(201, services.create_region(request.user, **payload.dict()))


@router.get("/stores", response=StorePage, tags=["stores"])
def list_stores(
    request, cursor: str | None = None, limit: int = 50, q: str = "", region_id: int | None = None
):
    return paginate(selectors.visible_stores(request.user, q=q, region_id=region_id), cursor, limit)


@router.get("/stores/{store_id}", response=StoreOut, tags=["stores"])
def get_store(request, store_id: int):
    return selectors.get_store(request.user, store_id)


@router.post("/stores", response={201: StoreOut}, tags=["stores"])
def create_store(request, payload: StoreIn):
    return Status(201, services.create_store(request.user, **payload.dict()))


@router.patch("/stores/{store_id}", response=StoreOut, tags=["stores"])
def update_store(request, store_id: int, payload: StorePatch):
    store = selectors.get_store(request.user, store_id)
    return services.update_store(request.user, store, **payload.dict(exclude_unset=True))


# --- staff --------------------------------------------------------------------------------


def _require_view_staff(user: User) -> None:
    services.require(user, "staff.view")


@router.get("/staff", response=StaffPage, tags=["staff"])
def list_staff(
    request,
    cursor: str | None = None,
    limit: int = 50,
    q: str = "",
    role: str = "",
    store_id: int | None = None,
):
    _require_view_staff(request.user)
    page = paginate(
        selectors.visible_staff(request.user, q=q, role=role, store_id=store_id), cursor, limit
    )
    page["items"] = [staff_out(request.user, s) for s in page["items"]]
    return page


@router.get("/staff/{staff_id}", response=StaffOut, tags=["staff"])
def get_staff(request, staff_id: int):
    _require_view_staff(request.user)
    return staff_out(request.user, selectors.get_staff(request.user, staff_id))


@router.post("/staff", response={201: StaffOut}, tags=["staff"])
def create_staff(request, payload: StaffIn):
    staff = services.create_staff(request.user, **payload.dict())
    return Status(201, staff_out(request.user, staff))


@router.patch("/staff/{staff_id}", response=StaffOut, tags=["staff"])
def update_staff(request, staff_id: int, payload: StaffPatch):
    _require_view_staff(request.user)
    staff = selectors.get_staff(request.user, staff_id)
    staff = services.update_staff(request.user, staff, **payload.dict(exclude_unset=True))
    return staff_out(request.user, staff)


@router.post("/staff/{staff_id}/deactivate", response=StaffOut, tags=["staff"])
def deactivate_staff(request, staff_id: int):
    _require_view_staff(request.user)
    staff = services.set_staff_active(
        request.user, selectors.get_staff(request.user, staff_id), False
    )
    return staff_out(request.user, staff)


@router.post("/staff/{staff_id}/activate", response=StaffOut, tags=["staff"])
def activate_staff(request, staff_id: int):
    _require_view_staff(request.user)
    staff = services.set_staff_active(
        request.user, selectors.get_staff(request.user, staff_id), True
    )
    return staff_out(request.user, staff)


# --- audit and search ---------------------------------------------------------------------


@router.get("/audit", response=AuditPage, tags=["audit"])
def list_audit(
    request,
    cursor: str | None = None,
    limit: int = 50,
    object_type: str = "",
    object_id: str = "",
    user: str = "",
    action: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
):
    services.require(request.user, "audit.view")
    f = selectors.AuditFilter(
        object_type=object_type,
        object_id=object_id,
        user=user,
        action=action,
        date_from=date_from,
        date_to=date_to,
    )
    return paginate(selectors.audit_entries(request.user, f), cursor, limit, descending=True)


class JobRunOut(Schema):
    id: int
    task_id: str
    name: str
    status: str
    started_at: datetime.datetime
    finished_at: datetime.datetime | None
    retries_left: int
    error: str


class WorkerOut(Schema):
    ok: bool
    last_seen: str | None
    age_seconds: float | None = None


class JobsOut(Schema):
    worker: WorkerOut
    counts_24h: dict[str, int]
    runs: list[JobRunOut]


@router.get("/jobs", response=JobsOut, tags=["jobs"])
def list_jobs(request, limit: int = 100):
    """The jobs page's data: worker heartbeat, last day's counts and recent runs (HQ admins)."""
    from autocrm.core import jobs

    services.require(request.user, "jobs.view")
    return {
        "worker": jobs.worker_status(),
        "counts_24h": selectors.job_counts(24),
        "runs": list(selectors.recent_jobs(max(1, min(limit, 500)))),
    }


class SearchHitOut(Schema):
    matched: str
    customer_id: int | None
    customer_name: str
    mobile: str
    vehicle_id: int | None
    plate: str


class SearchOut(Schema):
    hits: list[SearchHitOut]
    stores: list[StoreOut]
    staff: list[StaffOut]


@router.get("/search", response=SearchOut, tags=["search"])
def search(request, q: str = ""):
    """Customers and vehicles (plate, mobile, VIN, name, pinyin), then stores and staff."""
    found = selectors.search(request.user, q)
    show_phone = request.user.can("customer.phone")
    hits = []
    for h in found["hits"]:
        mobile = h.customer.mobile if h.customer else ""
        hits.append(
            {
                "matched": h.matched,
                "customer_id": h.customer.pk if h.customer else None,
                "customer_name": h.customer.name if h.customer else "",
                "mobile": mobile if show_phone else mask_mobile(mobile),
                "vehicle_id": h.vehicle.pk if h.vehicle else None,
                "plate": h.vehicle.plate if h.vehicle else "",
            }
        )
    return {
        "hits": hits,
        "stores": found["stores"],
        "staff": [staff_out(request.user, s) for s in found["staff"]],
    }


class CustomFieldOut(Schema):
    id: int
    target: str
    key: str
    label_zh: str
    label_en: str
    type: str
    required: bool
    choices: list[str]
    min_value: Decimal | None
    max_value: Decimal | None
    regex: str
    help_text: str
    group: str
    order: int
    visible_roles: list[str]
    editable_roles: list[str]


class CustomFieldIn(Schema):
    target: str
    key: str = Field(..., max_length=40)
    label_zh: str = Field(..., max_length=60)
    label_en: str = Field("", max_length=60)
    type: str = "text"
    required: bool = False
    choices: list[str] = []
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    regex: str = Field("", max_length=200)
    help_text: str = Field("", max_length=200)
    group: str = Field("", max_length=40)
    order: int = 0
    visible_roles: list[str] = []
    editable_roles: list[str] = []


class CustomFieldPatch(Schema):
    label_zh: str | None = Field(None, max_length=60)
    label_en: str | None = Field(None, max_length=60)
    required: bool | None = None
    choices: list[str] | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    regex: str | None = Field(None, max_length=200)
    help_text: str | None = Field(None, max_length=200)
    group: str | None = Field(None, max_length=40)
    order: int | None = None
    visible_roles: list[str] | None = None
    editable_roles: list[str] | None = None


@router.get("/custom-fields", response=list[CustomFieldOut], tags=["custom fields"])
def list_custom_fields(request, target: str = "customer"):
    """The fields the user may see for a target (customer, vehicle, work_order)."""
    return customfields.visible(request.user, target)


@router.post("/custom-fields", response={201: CustomFieldOut}, tags=["custom fields"])
def create_custom_field(request, payload: CustomFieldIn):
    return Status(201, customfields.create_field(request.user, **payload.dict()))


def _own_field(user, field_id: int):
    field = CustomField.objects.filter(org_id=user.org_id, pk=field_id).first()
    if field is None:
        raise NotFound()
    return field


@router.patch("/custom-fields/{field_id}", response=CustomFieldOut, tags=["custom fields"])
def update_custom_field(request, field_id: int, payload: CustomFieldPatch):
    field = _own_field(request.user, field_id)
    return customfields.update_field(request.user, field, **payload.dict(exclude_unset=True))


@router.delete("/custom-fields/{field_id}", response={204: None}, tags=["custom fields"])
def delete_custom_field(request, field_id: int, confirm: bool = False):
    customfields.delete_field(request.user, _own_field(request.user, field_id), confirm=confirm)
    return Status(204, None)
