"""Cross-sell and upgrade pages: pick the items and periods, see the customers (phones
masked without ``customer.phone``), export them to Excel (``customer.export``, audited)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.core import scoping, xlsx
from autocrm.core.pagination import page_for_request
from autocrm.core.services import require
from autocrm.core.validators import mask_mobile
from autocrm.core.views import capability_required
from autocrm.reports import builder, crosssell
from autocrm.reports.exports import customer_download

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
DEFAULT_YEARS = 2
DEFAULT_MONTHS = 6


def _int(raw, default: int, low: int, high: int) -> tuple[int, bool]:
    """The number entered, and whether it was acceptable."""
    if raw in (None, ""):
        return default, True
    try:
        value = int(str(raw).strip())
    except ValueError:
        return default, False
    return (value, True) if low <= value <= high else (default, False)


def _params(request, preset: str) -> tuple[dict, dict]:
    """The form's values and errors; ``values["ready"]`` when a list can be run."""
    user, get = request.user, request.GET
    errors: dict = {}
    values: dict = {"x": get.get("x", ""), "y": get.get("y", "")}
    if preset == "preference":
        values["ready"] = True
        return values, errors
    x = crosssell.parse_item(user.org_id, values["x"]) if values["x"] else None
    if values["x"] and x is None:
        errors["x"] = _("Choose an item from the catalog.")
    values["x_item"] = x
    if preset == "bought_not":
        y = crosssell.parse_item(user.org_id, values["y"]) if values["y"] else None
        if values["y"] and y is None:
            errors["y"] = _("Choose an item from the catalog.")
        elif x is not None and y is not None and x == y:
            errors["y"] = _("Choose an item other than the one bought.")
        values["y_item"] = y
        values["ready"] = x is not None and y is not None and not errors
    else:
        values["years"], ok = _int(get.get("years"), DEFAULT_YEARS, 1, crosssell.MAX_YEARS)
        if not ok:
            errors["years"] = _("Enter a whole number of years from 1 to %(n)d.") % {
                "n": crosssell.MAX_YEARS
            }
        values["months"], ok = _int(get.get("months"), DEFAULT_MONTHS, 1, crosssell.MAX_MONTHS)
        if not ok:
            errors["months"] = _("Enter a whole number of months from 1 to %(n)d.") % {
                "n": crosssell.MAX_MONTHS
            }
        values["ready"] = x is not None and not errors
    return values, errors


def list_for(user, preset: str, values: dict):
    """The preset's customers for the user: their home stores only."""
    if preset == "bought_not":
        qs = crosssell.bought_not(user.org_id, values["x_item"], values["y_item"])
    else:
        qs = crosssell.entry_upgrade(
            user.org_id, values["x_item"], values["years"], values["months"]
        )
    return scoping.scoped(qs, user).select_related("home_store")


def _title(preset: str, values: dict) -> str:
    if preset == "bought_not" and values.get("ready"):
        return _("Bought %(x)s but not %(y)s") % {
            "x": values["x_item"].name,
            "y": values["y_item"].name,
        }
    if preset == "upgrade" and values.get("ready"):
        return _("%(x)s more than %(years)d years ago, a visit in the last %(months)d months") % {
            "x": values["x_item"].name,
            "years": values["years"],
            "months": values["months"],
        }
    return str(crosssell.PRESETS[preset])


@capability_required("reports.store", "customer.list")
def crosssell_page(request, preset: str = "bought_not"):
    user = request.user
    if preset not in crosssell.PRESETS:
        raise Http404
    values, errors = _params(request, preset)
    url = reverse("reports_crosssell_preset", args=[preset])
    want_xlsx = request.GET.get("format") == "xlsx"
    context = {
        "preset": preset,
        "presets": [
            (code, label, reverse("reports_crosssell_preset", args=[code]))
            for code, label in crosssell.PRESETS.items()
        ],
        "items": crosssell.catalog_items(user.org_id),
        "values": values,
        "errors": errors,
        "title": _title(preset, values),
        "url": url,
    }
    can_export = user.can("customer.export")
    query = request.GET.copy()
    query.pop("cursor", None)
    query["format"] = "xlsx"
    export_url = f"{url}?{query.urlencode()}" if can_export else ""
    if preset == "preference":
        pivot = crosssell.preference(user.org_id, crosssell.store_scope(user))
        if want_xlsx:
            require(user, "customer.export")
            return _export_pivot(user, pivot)
        context.update(
            {"pivot": pivot, "export_url": export_url, "can_save": user.can("reports.store")}
        )
        return render(request, "reports/crosssell.html", context)
    if values["ready"]:
        qs = list_for(user, preset, values)
        show_phone = user.can("customer.phone")
        if want_xlsx:
            require(user, "customer.export")
            return _export(user, preset, context["title"], qs, show_phone)
        page = page_for_request(request, qs, PAGE_SIZE)
        for c in page["items"]:
            c.phone = c.mobile if show_phone else mask_mobile(c.mobile)
        context.update({**page, "rows": page["items"], "export_url": export_url})
    status = 422 if errors else 200
    return render(request, "reports/crosssell.html", context, status=status)


def _headers() -> list:
    return [
        _("Customer"),
        _("Mobile"),
        _("Home store"),
        _("Last visit"),
        _("Visits"),
        _("Lifetime spend"),
    ]


def _export(user, preset, title, qs, show_phone):
    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(str(crosssell.PRESETS[preset])[:31])
    xlsx.append(sheet, _headers())
    n = 0
    for c in qs[:EXPORT_LIMIT].iterator(chunk_size=2000):
        n += 1
        last = timezone.localtime(c.last_visit_at).date() if c.last_visit_at else None
        xlsx.append(
            sheet,
            [
                c.name,
                c.mobile if show_phone else mask_mobile(c.mobile),
                c.home_store.name if c.home_store_id else "",
                last,
                c.visit_count,
                c.lifetime_spend,
            ],
        )
    note = f"{n} × cross-sell list {preset} export: {title}"
    return customer_download(user, wb, n, note, f"cross-sell-{preset}")


def _export_pivot(user, pivot):
    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(str(crosssell.PRESETS["preference"])[:31])
    xlsx.append(sheet, [_("Vehicle model"), *pivot["columns"]])
    for row in pivot["rows"]:
        xlsx.append(sheet, [row["label"], *row["cells"]])
    n = len(pivot["rows"])
    note = f"{n} × cross-sell preference pivot export"
    return customer_download(user, wb, n, note, "cross-sell-preference")


@require_POST
@capability_required("reports.store")
def save_preference(request):
    """Keep the pivot as a saved report of the builder (to schedule, share or pin)."""
    report = builder.create_report(request.user, **crosssell.preference_report())
    return redirect("reports_builder_result", report.pk)
