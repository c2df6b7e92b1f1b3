"""The printable documents of a work order as PDFs. Thin: load the scoped work order (404 when
it is not in the user's stores), build the context, render, send. A refusal (unknown paper
size, no certificate for this order) is raised and shown by ``ServiceErrorMiddleware``."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from autocrm.core.errors import ServiceError
from autocrm.core.http import ascii_filename, download
from autocrm.core.views import capability_required
from autocrm.printing import documents
from autocrm.printing.pdf import render_pdf
from autocrm.service.selectors import get_work_order

PDF = "application/pdf"
SIZES = {"a4": "printing/settlement.html", "receipt": "printing/settlement_receipt.html"}


def _pdf(content: bytes, label: str, number: str):
    """Opened in the browser's PDF viewer (to print) rather than saved; named in Chinese, with
    ``work-order-<number>.pdf`` for clients that cannot read that."""
    fallback = f"work-order-{ascii_filename(number)}.pdf"
    return download(content, f"{label}-{number}.pdf", PDF, inline=True, fallback=fallback)


@capability_required("workorder.view")
def authorisation(request, pk: int):
    wo = get_work_order(request.user, pk, for_page=True)
    context = documents.authorisation_context(request.user, wo)
    content = render_pdf("printing/authorisation.html", context)
    return _pdf(content, pgettext("print", "Repair authorisation"), wo.number)


@capability_required("workorder.view")
def settlement(request, pk: int):
    size = request.GET.get("size") or "a4"
    if size not in SIZES:
        raise ServiceError(_("Unknown paper size; use a4 or receipt."))  # 400
    wo = get_work_order(request.user, pk, for_page=True)
    context = documents.settlement_context(request.user, wo, size=size)
    content = render_pdf(SIZES[size], context)
    return _pdf(content, pgettext("print", "Settlement list"), wo.number)


@capability_required("workorder.view")
def certificate(request, pk: int):
    wo = get_work_order(request.user, pk, for_page=True)
    context = documents.certificate_context(request.user, wo)
    content = render_pdf("printing/certificate.html", context)
    return _pdf(content, pgettext("print", "Completion certificate"), wo.number)
