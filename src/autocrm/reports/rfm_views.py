"""The RFM page: segment sizes, the customers of a segment, and its Excel export."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from autocrm.core import xlsx
from autocrm.core.pagination import page_for_request
from autocrm.core.services import require
from autocrm.core.validators import mask_mobile
from autocrm.core.views import capability_required
from autocrm.reports import rfm
from autocrm.reports.exports import customer_download

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


@capability_required("reports.store", "customer.list")
def rfm_page(request):
    user = request.user
    segment = request.GET.get("segment") or ""
    if segment and segment not in rfm.SEGMENTS:
        raise Http404
    show_phone = user.can("customer.phone")
    sizes = rfm.segment_sizes(user)
    for s in sizes:
        s["url"] = f"{reverse('reports_rfm')}?segment={s['code']}"
    context = {"sizes": sizes, "segment": segment, "total": sum(s["count"] for s in sizes)}
    if segment:
        qs = rfm.segment_customers(user, segment)
        if request.GET.get("format") == "xlsx":
            require(user, "customer.export")
            return _export(user, segment, qs, show_phone)
        page = page_for_request(request, qs, PAGE_SIZE)
        for row in page["items"]:
            mobile = row.customer.mobile
            row.phone = mobile if show_phone else mask_mobile(mobile)
        context.update(
            {
                **page,
                "rows": page["items"],
                "segment_label": rfm.SEGMENTS[segment],
                "url": reverse("reports_rfm"),
                "export_url": f"{reverse('reports_rfm')}?segment={segment}&format=xlsx"
                if user.can("customer.export")
                else "",
            }
        )
    return render(request, "reports/rfm.html", context)


def _export(user, segment, qs, show_phone):
    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(str(rfm.SEGMENTS[segment]))
    xlsx.append(
        sheet,
        [
            _("Customer"),
            _("Mobile"),
            _("Home store"),
            _("Days since last visit"),
            _("Visits"),
            _("Lifetime spend"),
            "R",
            "F",
            "M",
            _("Segment"),
        ],
    )
    n = 0
    for row in qs[:EXPORT_LIMIT].iterator(chunk_size=2000):
        n += 1
        mobile = row.customer.mobile
        xlsx.append(
            sheet,
            [
                row.customer.name,
                mobile if show_phone else mask_mobile(mobile),
                row.store.name,
                row.recency_days,
                row.frequency,
                row.monetary,
                row.r,
                row.f,
                row.m,
                str(rfm.SEGMENTS[segment]),
            ],
        )
    return customer_download(user, wb, n, f"{n} × RFM segment {segment} export", f"rfm-{segment}")
