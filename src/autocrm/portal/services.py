"""Issuing and resolving customer links. The URL token is ``<random>:<signature>`` made by
Django's signer with a salt per purpose, so a changed character fails the signature before
any database lookup; the random part's SHA-256 finds the row, which holds the expiry and can be
revoked."""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import hashlib
import secrets
import struct

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit
from autocrm.core.errors import Conflict, Invalid, NotFound, ServiceError
from autocrm.core.validators import normalize_mobile, tidy_prose
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
        PortalLink.objects.select_related(
            "work_order__store", "work_order__customer", "work_order__vehicle", "work_order__stage"
        )
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


# --- what the owner does through a link ---------------------------------------------------
# Writes made from these pages are attributed to the "portal" source in the audit log (there
# is no signed-in user; the owner is named in the work order's history instead).

PNG_DATA_URL = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_CHARS = 150_000  # a finger signature on a phone canvas is 5–30 KB
MAX_SIGNATURE_SIDE = 2000
OWNER_DECISIONS = {"approved", "declined"}
MAX_FUTURE_BOOKINGS = 3


def _portal(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with audit.audit_context(source="portal"):
            return fn(*args, **kwargs)

    return wrapper


def mark_opened(link: PortalLink) -> None:
    """When the owner last opened the link (a plain update: not worth an audit entry)."""
    PortalLink.objects.filter(pk=link.pk).update(last_opened_at=timezone.now())


@_portal
def decide(link: PortalLink, decisions: dict, reasons: dict | None = None) -> list:
    """The owner approves or declines proposed lines from the estimate link. A line already
    decided (another phone, a moment ago) is refused with ``Conflict(code="already_decided")``
    and nothing of the request is saved."""
    from autocrm.service import services as shop

    if link.purpose != PortalLink.Purpose.ESTIMATE:
        raise NotFound()
    clean: dict = {}
    for key, decision in (decisions or {}).items():
        try:
            pk = int(key)
        except (TypeError, ValueError):
            raise NotFound(_("That item is not on this work order.")) from None
        if decision not in OWNER_DECISIONS:
            raise Invalid(fields={f"line_{pk}": _("Approve or decline.")})
        clean[str(pk)] = decision
    why = {str(k): tidy_prose(v)[:200] for k, v in (reasons or {}).items() if v}
    wo = link.work_order
    return shop.decide_lines(
        wo, clean, channel="link", by_name=wo.customer.name, actor=None, reasons=why
    )


def _png_size(raw: bytes) -> tuple[int, int] | None:
    """Width and height of a well-formed PNG (signature, IHDR first, IEND last), else None.
    Checked by hand: the file is shown back as an image, never decoded on the server."""
    if len(raw) < 57 or not raw.startswith(PNG_MAGIC):
        return None
    length, kind = struct.unpack(">I4s", raw[8:16])
    if kind != b"IHDR" or length != 13:
        return None
    if raw[-12:] != b"\x00\x00\x00\x00IEND\xaeB`\x82":
        return None
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def clean_signature(data_url: str) -> str:
    """A PNG data URL of sensible size and dimensions, or Invalid."""
    value = (data_url or "").strip()
    if not value:
        raise Invalid(fields={"signature": _("Sign in the box first.")})
    if len(value) > MAX_SIGNATURE_CHARS:
        raise Invalid(
            fields={"signature": _("The signature is too large. Clear it and sign again.")}
        )
    if not value.startswith(PNG_DATA_URL):
        raise Invalid(
            fields={"signature": _("The signature could not be read. Please sign again.")}
        )
    try:
        raw = base64.b64decode(value[len(PNG_DATA_URL) :], validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(
            fields={"signature": _("The signature could not be read. Please sign again.")}
        ) from None
    size = _png_size(raw)
    if size is None:
        raise Invalid(
            fields={"signature": _("The signature could not be read. Please sign again.")}
        )
    width, height = size
    if not (0 < width <= MAX_SIGNATURE_SIDE and 0 < height <= MAX_SIGNATURE_SIDE):
        raise Invalid(
            fields={"signature": _("The signature is too large. Clear it and sign again.")}
        )
    return value


@_portal
@transaction.atomic
def save_signature(link: PortalLink, data_url: str) -> PortalLink:
    """The owner's finger signature on the estimate, kept once per link."""
    if link.purpose != PortalLink.Purpose.ESTIMATE:
        raise NotFound()
    from autocrm.service.services import log_event

    value = clean_signature(data_url)
    wo = link.work_order
    link = PortalLink.objects.select_for_update().get(pk=link.pk)
    if link.signature:
        raise Conflict(_("You have already signed this estimate."), code="already_signed")
    link.signature = value
    link.save(update_fields=["signature"])
    owner = wo.customer.name
    text = _("%(who)s signed the estimate") % {"who": owner}
    log_event(wo, "approval", text, public=True, label=owner[:60])
    return link


@_portal
@transaction.atomic
def book_online(store, **data):
    """A booking from the public page. Light abuse control: one mobile number holds at most
    ``MAX_FUTURE_BOOKINGS`` upcoming bookings in the organisation."""
    from autocrm.service import appointments
    from autocrm.service.models import Appointment

    mobile = normalize_mobile(data.get("mobile"))
    if mobile:
        upcoming = Appointment.objects.filter(
            org_id=store.org_id,
            mobile=mobile,
            status__in=[Appointment.Status.BOOKED, Appointment.Status.CONFIRMED],
            starts_at__gt=timezone.now(),
        ).count()
        if upcoming >= MAX_FUTURE_BOOKINGS:
            raise Conflict(
                _(
                    "This mobile number already has %(count)s upcoming bookings. "
                    "Please call the store to change them."
                )
                % {"count": upcoming},
                code="too_many_bookings",
            )
    return appointments.book(None, store=store, **data)


# --- personal booking invitations ---------------------------------------------------------

INVITE_SALT = "autocrm.portal.booking-invite"
INVITE_DAYS = 30


def invite_token(customer) -> str:
    """A signed, expiring token for a reminder's booking link (short: it goes into SMS): the
    booking page opens with the customer's name and car filled in and books on their mobile
    without showing it."""
    return signing.dumps(customer.pk, salt=INVITE_SALT)


def read_invite(token: str, store) -> dict | None:
    """The invited customer's name, plate and mobile, or None when the token is expired,
    tampered with or of another organisation's customer."""
    from autocrm.customers.models import Customer, Vehicle

    try:
        pk = int(signing.loads(token, salt=INVITE_SALT, max_age=INVITE_DAYS * 24 * 3600))
    except (signing.BadSignature, TypeError, ValueError):
        return None
    customer = Customer.objects.filter(pk=pk, org_id=store.org_id, erased_at__isnull=True).first()
    if customer is None or not customer.mobile:
        return None
    plates = list(
        Vehicle.objects.filter(owner=customer)
        .order_by("-updated_at")
        .values_list("plate", flat=True)[:2]
    )
    plate = plates[0] if len(plates) == 1 else ""  # several cars: the owner says which
    return {"name": customer.name, "plate": plate, "mobile": customer.mobile}
