"""Reads of the check-in checklists (inspection templates) for the settings pages and the API,
scoped to the user's org. Technicians pick from ``selectors_floor.templates`` instead."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, QuerySet

from autocrm.core.models import User
from autocrm.core.scoping import scoped
from autocrm.core.selectors import get_or_404
from autocrm.service.models import Inspection, InspectionTemplate, InspectionTemplateItem


def checklists(user: User, *, active: bool | None = None) -> QuerySet[InspectionTemplate]:
    """The org's checklists with ``item_count`` and ``used`` (an inspection was started with
    it, so it can only be deactivated, never deleted)."""
    qs = scoped(InspectionTemplate.objects.all(), user).annotate(
        item_count=Count("items"),
        used=Exists(Inspection.objects.filter(template_id=OuterRef("pk"))),
    )
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("-is_active", "name", "id")


def get_checklist(user: User, pk) -> InspectionTemplate:
    return get_or_404(checklists(user), pk)


def checklist_items(template: InspectionTemplate) -> list[InspectionTemplateItem]:
    return list(template.items.order_by("sort", "id"))


def get_checklist_item(template: InspectionTemplate, pk) -> InspectionTemplateItem:
    return get_or_404(template.items.all(), pk)


def sections(items: list[InspectionTemplateItem]) -> list[tuple[str, list]]:
    """Runs of items with the same section, in order (what the technician's phone shows)."""
    found: list[tuple[str, list]] = []
    for item in items:
        if not found or found[-1][0] != item.section:
            found.append((item.section, []))
        found[-1][1].append(item)
    return found
