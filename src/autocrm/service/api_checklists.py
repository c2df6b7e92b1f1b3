"""Checklist API: the check-in checklists (inspection templates) with their items. HQ
(``inspection.manage``) lists and edits all of its org's; staff who start inspections read the
active ones, which are what they may choose. Errors in the API's JSON shape."""

from __future__ import annotations

import datetime

from django.db.models import Prefetch
from ninja import Query, Router, Schema, Status

from autocrm.core.api import page_of
from autocrm.core.errors import Forbidden
from autocrm.core.models import User
from autocrm.core.pagination import paginate
from autocrm.core.selectors import get_or_404
from autocrm.service import checklists as services
from autocrm.service import selectors_checklists as selectors
from autocrm.service.models import InspectionTemplate, InspectionTemplateItem

router = Router(tags=["inspection checklists"])
READERS = ("workorder.work", "workorder.edit")


class ChecklistItemOut(Schema):
    id: int
    section: str
    name: str
    sort: int


class ChecklistOut(Schema):
    id: int
    name: str
    is_active: bool
    used: bool
    item_count: int
    items: list[ChecklistItemOut]
    created_at: datetime.datetime
    updated_at: datetime.datetime


ChecklistPage = page_of(ChecklistOut)


class ChecklistItemIn(Schema):
    section: str = ""
    name: str


class ChecklistIn(Schema):
    name: str
    is_active: bool | None = None  # default: active when it has items
    items: list[ChecklistItemIn] = []


class ChecklistPatch(Schema):
    name: str | None = None
    is_active: bool | None = None


class ChecklistItemPatch(Schema):
    section: str | None = None
    name: str | None = None


class OrderIn(Schema):
    item_ids: list[int]


class RetiredOut(Schema):
    deleted: bool
    is_active: bool


class ListQuery(Schema):
    active: bool | None = None
    cursor: str | None = None
    limit: int = 50


def _managing(user: User) -> bool:
    """Managers see every checklist; who starts inspections sees the active ones; others none."""
    if user.can(services.CAPABILITY):
        return True
    if any(user.can(c) for c in READERS):
        return False
    raise Forbidden()


def _with_items(qs):
    return qs.prefetch_related(
        Prefetch("items", queryset=InspectionTemplateItem.objects.order_by("sort", "id"))
    )


def _get(user: User, template_id: int, *, managing: bool = True) -> InspectionTemplate:
    qs = selectors.checklists(user, active=None if managing else True)
    return get_or_404(_with_items(qs), template_id)


def checklist_out(template: InspectionTemplate) -> dict:
    items = list(template.items.all())
    data = {f: getattr(template, f) for f in ("id", "name", "is_active", "created_at")}
    data["updated_at"] = template.updated_at
    data["used"] = bool(getattr(template, "used", False))
    data["item_count"] = len(items)
    data["items"] = items
    return data


def _fresh(user: User, template_id: int) -> dict:
    return checklist_out(_get(user, template_id))


@router.get("/inspection-templates", response=ChecklistPage)
def list_checklists(request, query: Query[ListQuery]):
    """All checklists for HQ (``active`` filters); the active ones for technicians and
    advisors, who choose one when they start an inspection."""
    managing = _managing(request.user)
    active = query.active if managing else True
    qs = _with_items(selectors.checklists(request.user, active=active))
    page = paginate(qs, query.cursor, query.limit)
    page["items"] = [checklist_out(t) for t in page["items"]]
    return page


@router.post("/inspection-templates", response={201: ChecklistOut})
def create_checklist(request, payload: ChecklistIn):
    template = services.create_template(
        request.user,
        name=payload.name,
        is_active=payload.is_active,
        items=[i.model_dump() for i in payload.items],
    )
    return Status(201, _fresh(request.user, template.pk))


@router.get("/inspection-templates/{template_id}", response=ChecklistOut)
def get_checklist(request, template_id: int):
    managing = _managing(request.user)
    return checklist_out(_get(request.user, template_id, managing=managing))


@router.patch("/inspection-templates/{template_id}", response=ChecklistOut)
def update_checklist(request, template_id: int, payload: ChecklistPatch):
    """Rename and/or (de)activate; only a checklist with items may be active."""
    template = _get(request.user, template_id)
    services.update_template(request.user, template, **payload.model_dump(exclude_unset=True))
    return _fresh(request.user, template.pk)


@router.delete("/inspection-templates/{template_id}", response=RetiredOut)
def retire_checklist(request, template_id: int):
    """Deletes the checklist, or deactivates it when an inspection was started with it."""
    template = _get(request.user, template_id)
    return {"deleted": services.retire_template(request.user, template), "is_active": False}


@router.post("/inspection-templates/{template_id}/items", response={201: ChecklistOut})
def add_checklist_item(request, template_id: int, payload: ChecklistItemIn):
    """Add an item at the end of its section (or of the list, for a new section)."""
    template = _get(request.user, template_id)
    services.add_item(request.user, template, section=payload.section, name=payload.name)
    return Status(201, _fresh(request.user, template.pk))


@router.put("/inspection-templates/{template_id}/items/order", response=ChecklistOut)
def reorder_checklist_items(request, template_id: int, payload: OrderIn):
    """The checklist's item ids in their new order (every item exactly once). Declared before
    the per-item routes so ``order`` is not taken for an item id."""
    template = _get(request.user, template_id)
    services.reorder_items(request.user, template, payload.item_ids)
    return _fresh(request.user, template.pk)


@router.patch("/inspection-templates/{template_id}/items/{item_id}", response=ChecklistOut)
def update_checklist_item(request, template_id: int, item_id: int, payload: ChecklistItemPatch):
    """Rename an item or move it to another section (at that section's end)."""
    template = _get(request.user, template_id)
    item = selectors.get_checklist_item(template, item_id)
    services.update_item(request.user, template, item, **payload.model_dump(exclude_unset=True))
    return _fresh(request.user, template.pk)


@router.delete("/inspection-templates/{template_id}/items/{item_id}", response=ChecklistOut)
def remove_checklist_item(request, template_id: int, item_id: int):
    """Past inspections keep the item: their results are copies."""
    template = _get(request.user, template_id)
    item = selectors.get_checklist_item(template, item_id)
    services.remove_item(request.user, template, item)
    return _fresh(request.user, template.pk)
