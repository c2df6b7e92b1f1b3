"""Issuing and resolving customer links. The URL token is ``<random>:<signature>`` made by
Django's signer with a salt per purpose, so a changed character fails the signature before
any database lookup; the random part's SHA-256 finds the row, which holds the expiry and can be
revoked."""

from __future__ import annotations

import datetime
import hashlib
import secrets

from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core.errors import NotFound, ServiceError
from autocrm.portal.models import PortalLink

VALID_DAYS = {
    PortalLink.Purpose.ESTIMATE: 3,
    PortalLink.Purpose.PROGRESS: 14,
    PortalLink.Purpose.SURVEY: 14,
}
URL_NAMES = {
    PortalLink.Purpose.ESTIMATE: "portal_estimate",
    PortalLink.Purpose.PROGRESS: "portal_progress",
    PortalLink.Purpose.SURVEY: "portal_survey",
}


class LinkExpired(ServiceError):
    status = 410
    code = "link_expired"


def _signer(purpose: str) -> signing.Signer:
    return signing.Signer(salt=f"autocrm.portal.{purpose}")


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_link(work_order, purpose: str, *, days: int | None = None) -> tuple[PortalLink, str]:
    """A new link for the work order; returns the row and the token for the URL."""
    raw = secrets.token_urlsafe(24)
    days = days or VALID_DAYS[purpose]
    link = PortalLink.objects.create(
        org_id=work_order.org_id,
        store_id=work_order.store_id,
        work_order=work_order,
        purpose=purpose,
        token_hash=_hash(raw),
        expires_at=timezone.now() + datetime.timedelta(days=days),
    )
    return link, _signer(purpose).sign(raw)


def link_path(purpose: str, token: str) -> str:
    return reverse(URL_NAMES[purpose], args=[token])


def resolve(token: str, purpose: str) -> PortalLink:
    """The link behind a token, or a refusal: tampered or unknown → NotFound; expired or
    revoked → LinkExpired."""
    try:
        raw = _signer(purpose).unsign(token)
    except signing.BadSignature:
        raise NotFound(_("This link is not valid. Ask the shop to send it again.")) from None
    link = (
        PortalLink.objects.select_related("work_order", "store")
        .filter(token_hash=_hash(raw), purpose=purpose)
        .first()
    )
    if link is None:
        raise NotFound(_("This link is not valid. Ask the shop to send it again."))
    if not link.is_valid:
        raise LinkExpired(_("This link has expired. Ask the shop to send a new one."))
    return link


def revoke_links(work_order, purpose: str) -> int:
    count = 0
    for link in PortalLink.objects.filter(
        work_order=work_order, purpose=purpose, revoked_at__isnull=True
    ):
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        count += 1
    return count
