"""The drill-down pages: HQ → region → store → person → work orders, the period in the URL;
each list exports to Excel with Chinese headers (``?format=xlsx``)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import xlsx
from autocrm.core.http import XLSX, download
from autocrm.core.pagination import page_for_request
from autocrm.core.views import capability_required
from autocrm.reports import drill, selectors

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


def _period(request):
    return selectors.period_or_default(request.GET.get("from"), request.GET.get("to"))


def _url(name: str, start, end, **params) -> str:
    query = {"from": start.isoformat(), "to": end.isoformat()}
    query.update({k: v for k, v in params.items() if v not in (None, "")})
    return f"{reverse(name)}?{urlencode(query)}"


def _xlsx(title: str, header: list, rows, filename: str):
    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(title[:31])
    xlsx.append(sheet, header)
    for row in rows:
        xlsx.append(sheet, row)
    return download(xlsx.workbook_bytes(wb), filename, XLSX)


@capability_required("reports.view")
def drill_page(request):
    user = request.user
    start, end, period_error = _period(request)
    where = drill.locate(user, request.GET.get("region"), request.GET.get("store"))
    b = drill.basis(user, where, start, end)
    rows = drill.children(user, where, b)
    for row in rows:
        row["url"] = _url("reports_drill", start, end, **{row["kind"]: row["key"]})
    team = {"advisors": [], "technicians": []}
    if where.level == "store":
        team = drill.people(user, b)
        for row in team["advisors"]:
            row["url"] = _url(
                "reports_drill_orders", start, end, store=where.store.pk, advisor=row["key"]
            )
        for row in team["technicians"]:
            row["url"] = _url(
                "reports_drill_orders", start, end, store=where.store.pk, technician=row["key"]
            )
    if request.GET.get("format") == "xlsx":
        return _export_level(where, rows, team, start, end)
    crumbs = [{"label": _("All stores"), "url": _url("reports_drill", start, end)}]
    if where.region is not None:
        crumbs.append(
            {
                "label": where.region.name,
                "url": _url("reports_drill", start, end, region=where.region.pk),
            }
        )
    if where.store is not None:
        crumbs.append(
            {
                "label": where.store.name,
                "url": _url("reports_drill", start, end, store=where.store.pk),
            }
        )
    chart = {
        "compare": [
            {"label": r["label"], "cars": r["cars"], "sales": str(r["sales"] or 0), "url": r["url"]}
            for r in rows
        ],
        "advisors": [
            {"label": r["label"], "value": str(r["sales"] or 0), "url": r["url"]}
            for r in team["advisors"]
        ],
        "technicians": [
            {
                "label": r["label"],
                "value": str(r["efficiency"] or 0),
                "nps": str(r["nps"] if r["nps"] is not None else ""),
                "url": r["url"],
            }
            for r in team["technicians"]
        ],
        "trend": drill.trends(user, where),
    }
    query = {"from": start.isoformat(), "to": end.isoformat()}
    if where.region is not None and where.store is None:
        query["region"] = where.region.pk
    if where.store is not None:
        query["store"] = where.store.pk
    context = {
        "where": where,
        "rows": rows,
        "team": team,
        "start": start,
        "end": end,
        "period_error": period_error,
        "crumbs": crumbs,
        "chart": chart,
        "export_url": f"{reverse('reports_drill')}?{urlencode({**query, 'format': 'xlsx'})}",
        "orders_url": _url(
            "reports_drill_orders",
            start,
            end,
            store=where.store.pk if where.store else None,
            region=where.region.pk if where.region and not where.store else None,
        ),
    }
    return render(request, "reports/drill.html", context)


def _export_level(where, rows, team, start, end):
    stamp = f"{start:%Y%m%d}-{end:%Y%m%d}"
    if where.level == "store":
        header = [
            _("Role"),
            _("Name"),
            _("Car count"),
            _("Sales excl. VAT"),
            _("ARO"),
            _("Technician efficiency"),
            _("NPS"),
        ]
        out = [
            [_("Service advisor"), r["label"], r["cars"], r["sales"], r["aro"], None, r["nps"]]
            for r in team["advisors"]
        ] + [
            [_("Technician"), r["label"], r["cars"], None, None, r["efficiency"], r["nps"]]
            for r in team["technicians"]
        ]
        return _xlsx(_("People"), header, out, f"people-{stamp}.xlsx")
    header = [_("Region / store"), _("Car count"), _("Sales excl. VAT"), _("ARO"), _("NPS")]
    out = [[r["label"], r["cars"], r["sales"], r["aro"], r["nps"]] for r in rows]
    return _xlsx(_("Stores"), header, out, f"stores-{stamp}.xlsx")


@capability_required("reports.view")
def drill_orders(request):
    user = request.user
    start, end, period_error = _period(request)
    params = {k: request.GET.get(k) for k in ("store", "region", "advisor", "technician")}
    if params["store"]:
        drill.locate(user, store=params["store"])  # 404 for a store out of scope
    elif params["region"]:
        drill.locate(user, region=params["region"])
    qs = drill.orders(user, start, end, **params)
    if request.GET.get("format") == "xlsx":
        header = [
            _("Number"),
            _("Store"),
            _("Settled"),
            _("Plate"),
            _("Customer"),
            _("Advisor"),
            _("Total"),
            _("VAT"),
            _("Sales excl. VAT"),
        ]
        rows = (
            [
                wo.number,
                wo.store.name,
                timezone.localtime(wo.settled_at).strftime("%Y-%m-%d %H:%M"),
                wo.vehicle.plate if wo.vehicle_id else "",
                wo.customer.name,
                wo.advisor.display_name if wo.advisor_id else "",
                wo.total,
                wo.tax,
                wo.total - wo.tax,
            ]
            for wo in qs.order_by("settled_at", "pk")[:EXPORT_LIMIT].iterator(chunk_size=2000)
        )
        return _xlsx(
            _("Work orders"), header, rows, f"work-orders-{start:%Y%m%d}-{end:%Y%m%d}.xlsx"
        )
    page = page_for_request(request, qs, PAGE_SIZE)
    query = {k: v for k, v in params.items() if v}
    context = {
        **page,
        "orders": page["items"],
        "start": start,
        "end": end,
        "period_error": period_error,
        "params": query,
        "person": drill.person_name(user, params["technician"] or params["advisor"]),
        "role": "technician" if params["technician"] else ("advisor" if params["advisor"] else ""),
        "back_url": _url("reports_drill", start, end, store=params["store"])
        if params["store"]
        else _url("reports_drill", start, end, region=params["region"]),
        "export_url": _url("reports_drill_orders", start, end, format="xlsx", **query),
        "url": reverse("reports_drill_orders"),
    }
    return render(request, "reports/drill_orders.html", context)
