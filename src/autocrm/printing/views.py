"""The printable documents of a work order as PDFs. Thin: load the scoped work order (404 when
it is not in the user's stores), build the context, render, send."""

from __future__ import annotations

from urllib.parse import quote

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from autocrm.core.errors import ServiceError
from autocrm.core.http import download
from autocrm.core.views import capability_required
from autocrm.printing import documents
from autocrm.service.selectors import get_work_order

PDF = "application/pdf"
SIZES = {"a4": "printing/settlement.html", "receipt": "printing/settlement_receipt.html"}


def _pdf(content: bytes, label: str, number: str):
    """Opened in the browser's PDF viewer (to print) rather than saved; the Chinese name goes in
    ``filename*`` (RFC 6266) with a plain ASCII fallback for old clients."""
    ascii_number = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in number
    )
    fallback = f"work-order-{ascii_number}.pdf"
    response = download(content, fallback, PDF)
    name = quote(f"{label}-{number}.pdf")
    response["Content-Disposition"] = f"inline; filename=\"{fallback}\"; filename*=UTF-8''{name}"
    return response


def _refused(request, exc: ServiceError):
    return render(
        request, "error.html", {"title": str(exc.message), "status": exc.status}, status=exc.status
    )


@capability_required("workorder.view")
def authorisation(request, pk: int):
    wo = get_work_order(request.user, pk, for_page=True)
    context = documents.authorisation_context(request.user, wo)
    content = documents.render_pdf("printing/authorisation.html", context)
    return _pdf(content, pgettext("print", "Repair authorisation"), wo.number)


@capability_required("workorder.view")
def settlement(request, pk: int):
    size = request.GET.get("size") or "a4"
    if size not in SIZES:
        return render(
            request,
            "error.html",
            {"title": _("Unknown paper size; use a4 or receipt."), "status": 400},
            status=400,
        )
    wo = get_work_order(request.user, pk, for_page=True)
    context = documents.settlement_context(request.user, wo, size=size)
    content = documents.render_pdf(SIZES[size], context)
    return _pdf(content, pgettext("print", "Settlement list"), wo.number)


@capability_required("workorder.view")
def certificate(request, pk: int):
    wo = get_work_order(request.user, pk, for_page=True)
    try:
        context = documents.certificate_context(request.user, wo)
    except ServiceError as exc:
        return _refused(request, exc)
    content = documents.render_pdf("printing/certificate.html", context)
    return _pdf(content, pgettext("print", "Completion certificate"), wo.number)
