"""Cross-sell and upgrade lists: preset reports whose result is a list of customers.

Each list is a stable query function taking an org (and optionally the stores whose customers
are wanted, by home store) and returning a ``Customer`` queryset, so a page, an Excel export
and a rule all read the same rows:

- ``bought_not(org_id, x, y)``: customers with a settled line of catalog item X (a labour
  item, a part or a service package) and none of item Y anywhere in the org — e.g. bought
  功放安装 but never DSP调音.
- ``entry_upgrade(org_id, item, years, months)``: customers whose *last* purchase of an entry
  item X was more than N years ago and who visited in the last M months — they still come,
  their entry kit is old: offer the upgrade.
- ``preference(org_id)``: vehicle brand/model × service item, the number of distinct customers
  (a pivot, not a list).

A settled line is an approved line of a settled or closed work order; dates are the work
order's ``settled_at``. Merged and erased customers are never listed."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.reports.rollups import FINISHED

KINDS = ("labour", "part", "package")
MAX_YEARS = 20
MAX_MONTHS = 120
PIVOT_ITEMS = 15
PIVOT_ROWS = 200

PRESETS = {
    "bought_not": _("Bought X but not Y"),
    "upgrade": _("Entry item long ago, recent visit"),
    "preference": _("Service items by vehicle model"),
}


@dataclass(frozen=True)
class Item:
    kind: str  # labour, part or package
    pk: int
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.pk}"


def _models():
    from autocrm.catalog.models import LabourItem, Part, ServicePackage

    return {"labour": LabourItem, "part": Part, "package": ServicePackage}


def catalog_items(org_id: int) -> list[Item]:
    """The org's catalog items a list may be built on (active ones), packages first."""
    out = []
    models = _models()
    for kind in ("package", "labour", "part"):
        rows = models[kind].objects.filter(org_id=org_id, is_active=True).order_by("name", "pk")
        out += [Item(kind, pk, name) for pk, name in rows.values_list("pk", "name")]
    return out


def parse_item(org_id: int, key) -> Item | None:
    """``"labour:12"`` → the org's item, or None when it is not one."""
    kind, _sep, raw = str(key or "").partition(":")
    if kind not in KINDS or not raw.isdigit():
        return None
    name = (
        _models()[kind].objects.filter(org_id=org_id, pk=int(raw)).values_list("name", flat=True)
    ).first()
    return None if name is None else Item(kind, int(raw), name)


def settled_lines(org_id: int) -> QuerySet:
    from autocrm.service.models import WorkOrderLine

    return WorkOrderLine.objects.filter(
        work_order__org_id=org_id,
        work_order__status__in=FINISHED,
        approval=WorkOrderLine.Approval.APPROVED,
    )


def _of(lines: QuerySet, item: Item) -> QuerySet:
    return lines.filter(**{f"{item.kind}_id": item.pk})


def customers(org_id: int, store_ids=None) -> QuerySet:
    """The org's live customers, of the given home stores when ``store_ids`` is given."""
    from autocrm.customers.models import Customer

    qs = Customer.objects.filter(org_id=org_id, merged_into__isnull=True, erased_at__isnull=True)
    if store_ids is not None:
        qs = qs.filter(home_store_id__in=store_ids)
    return qs


def bought_not(org_id: int, x: Item, y: Item, store_ids=None) -> QuerySet:
    """Customers with a settled line of ``x`` and none of ``y``."""
    lines = settled_lines(org_id)
    return (
        customers(org_id, store_ids)
        .filter(pk__in=_of(lines, x).values("work_order__customer_id"))
        .exclude(pk__in=_of(lines, y).values("work_order__customer_id"))
        .order_by("-last_visit_at", "-pk")
    )


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _months_before(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    first_next = datetime.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last = (first_next - datetime.timedelta(days=1)).day
    return datetime.date(year, month + 1, min(day.day, last))


def _start_of(day: datetime.date) -> datetime.datetime:
    tz = timezone.get_current_timezone()
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), tz)


def entry_upgrade(
    org_id: int,
    item: Item,
    years: int,
    months: int,
    store_ids=None,
    today: datetime.date | None = None,
) -> QuerySet:
    """Customers whose last settled line of ``item`` is more than ``years`` years old (before
    the same local day ``years`` years ago) and with a visit in the last ``months`` months
    (on or after the same day ``months`` months ago)."""
    today = today or timezone.localdate()
    old = _start_of(_years_before(today, years))
    recent = _start_of(_months_before(today, months))
    lines = settled_lines(org_id)
    bought_long_ago = (
        _of(lines, item)
        .values("work_order__customer_id")
        .annotate(last=Max("work_order__settled_at"))
        .filter(last__lt=old)
        .values("work_order__customer_id")
    )
    from autocrm.service.models import WorkOrder

    visited = WorkOrder.objects.filter(
        org_id=org_id, status__in=FINISHED, settled_at__gte=recent
    ).values("customer_id")
    return (
        customers(org_id, store_ids)
        .filter(pk__in=bought_long_ago)
        .filter(pk__in=visited)
        .order_by("-last_visit_at", "-pk")
    )


def preference(org_id: int, store_ids=None, *, items: int = PIVOT_ITEMS) -> dict:
    """Vehicle brand/model (rows) × service item (columns, the ``items`` bought by the most
    customers): distinct customers with a settled line of the item on a car of the model.
    ``store_ids`` narrows to the work orders of those stores."""
    lines = settled_lines(org_id)
    if store_ids is not None:
        lines = lines.filter(work_order__store_id__in=store_ids)
    top = list(
        lines.values("name")
        .annotate(n=Count("work_order__customer_id", distinct=True))
        .order_by("-n", "name")
        .values_list("name", flat=True)[:items]
    )
    if not top:
        return {"columns": [], "rows": []}
    cells: dict = {}
    totals: dict = {}
    for brand, model, name, n in (
        lines.filter(name__in=top)
        .values("work_order__vehicle__brand", "work_order__vehicle__model", "name")
        .annotate(n=Count("work_order__customer_id", distinct=True))
        .order_by()
        .values_list("work_order__vehicle__brand", "work_order__vehicle__model", "name", "n")
    ):
        label = " ".join(p for p in (brand, model) if p) or "—"
        cells[(label, name)] = cells.get((label, name), 0) + n
        totals[label] = totals.get(label, 0) + n
    labels = sorted(totals, key=lambda k: (-totals[k], k))[:PIVOT_ROWS]
    return {
        "columns": top,
        "rows": [{"label": r, "cells": [cells.get((r, c), 0) for c in top]} for r in labels],
    }


# --- presets as data: for a rule, a saved link, the builder -------------------------------


def preset_customers(
    org_id: int, preset: str, params: dict, store_ids=None, today: datetime.date | None = None
) -> QuerySet:
    """The customers of a list preset from JSON-able ``params`` (what a rule stores):
    ``{"x": "labour:12", "y": "labour:15"}`` for ``bought_not``; ``{"x": "package:3",
    "years": 2, "months": 6}`` for ``upgrade``. Raises ``Invalid`` for anything else."""
    from django.utils.translation import gettext

    from autocrm.core.errors import Invalid

    params = params if isinstance(params, dict) else {}
    x = parse_item(org_id, params.get("x"))
    if preset not in ("bought_not", "upgrade"):
        raise Invalid(fields={"preset": gettext("Choose one of the listed presets.")})
    if x is None:
        raise Invalid(fields={"x": gettext("Choose an item from the catalog.")})
    if preset == "bought_not":
        y = parse_item(org_id, params.get("y"))
        if y is None or y == x:
            raise Invalid(fields={"y": gettext("Choose an item other than the one bought.")})
        return bought_not(org_id, x, y, store_ids)
    try:
        years, months = int(params.get("years", 2)), int(params.get("months", 6))
    except (TypeError, ValueError):
        years = months = 0
    if not (1 <= years <= MAX_YEARS and 1 <= months <= MAX_MONTHS):
        raise Invalid(fields={"years": gettext("Enter whole numbers of years and months.")})
    return entry_upgrade(org_id, x, years, months, store_ids, today)


def preference_report() -> dict:
    """The pivot as a saved report of the builder (distinct customers, vehicle model × item)."""
    from django.utils.translation import gettext

    return {
        "name": gettext("Service items by vehicle model"),
        "dataset": "work_order_lines",
        "dimensions": ["vehicle_model", "item"],
        "measures": [{"agg": "distinct", "field": "customer"}],
        "chart": "pivot",
        "period": "last_12_months",
    }


# --- for a viewer ---------------------------------------------------------------------------


def store_scope(user):
    """None for someone who sees every store of the org, else the ids of the stores they see."""
    from autocrm.core import scoping

    return None if scoping.is_org_wide(user) else scoping.store_ids(user)
