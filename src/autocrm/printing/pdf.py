"""Templates to PDF with WeasyPrint: the one module that imports it.

Importing WeasyPrint switches Pillow, for the whole process, to accept truncated images
(``weasyprint.images`` sets ``ImageFile.LOAD_TRUNCATED_IMAGES = True``). Photo uploads decoded
anywhere later must stay strict, and the printed documents fetch nothing but ``data:`` URLs of
their own, so the switch is put back right after the import."""

from __future__ import annotations

import weasyprint
from django.template.loader import render_to_string
from PIL import ImageFile
from weasyprint.urls import URLFetcher

ImageFile.LOAD_TRUNCATED_IMAGES = False

# A receipt is laid out on a long strip, measured down to the ``receipt-end`` anchor at the
# end of its content, then laid out again cut to that height plus what lies below the anchor:
# the body's margin (8 px) and the receipt's @page bottom margin (4 mm), in CSS px.
_RECEIPT_PROBE_HEIGHT = "2000mm"
RECEIPT_END = "receipt-end"
_RECEIPT_TAIL_PX = 8 + 4 * 96 / 25.4


def _fetcher() -> URLFetcher:
    return URLFetcher(allowed_protocols={"data"})


def render_pdf(template: str, context: dict) -> bytes:
    """A template as PDF bytes. Nothing is fetched (no network fonts or images: the CSS is in
    the template and fonts come from the system's Noto CJK). A context with ``fit_height``
    (the 80 mm receipt) is rendered twice: once on a long strip to measure, once cut to fit."""

    def _render(ctx):
        html = render_to_string(template, ctx)
        return weasyprint.HTML(string=html, url_fetcher=_fetcher()).render()

    if not context.get("fit_height"):
        return _render(context).write_pdf()
    document = _render({**context, "page_height": _RECEIPT_PROBE_HEIGHT})
    height = content_height(document)
    if height is None:
        return document.write_pdf()
    return _render({**context, "page_height": f"{height:.0f}px"}).write_pdf()


def content_height(document) -> float | None:
    """The height a one-page strip needs: down to its ``receipt-end`` anchor, plus the margins
    below it. ``None`` (print the long strip as is) when the content spilled onto a second
    page or the anchor is missing."""
    if len(document.pages) != 1:
        return None
    anchor = document.pages[0].anchors.get(RECEIPT_END)
    if anchor is None:
        return None
    return anchor[1] + _RECEIPT_TAIL_PX + 1
