"""Pages for car owners, opened from a signed link without logging in."""

from __future__ import annotations

from django.http import HttpResponse

from autocrm.portal import services
from autocrm.portal.models import PortalLink


def _page(token: str, purpose: str) -> HttpResponse:
    link = services.resolve(token, purpose)
    return HttpResponse(link.work_order.number)


def estimate(request, token):
    return _page(token, PortalLink.Purpose.ESTIMATE)


def progress(request, token):
    return _page(token, PortalLink.Purpose.PROGRESS)


def survey(request, token):
    return _page(token, PortalLink.Purpose.SURVEY)
