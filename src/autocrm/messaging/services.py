"""Messages to customers: the outbox, templates, consent and the staff's actions.

For other apps (the rules engine, notifications) — system code, no acting user:

``render(template, context: dict) -> str``
    The template's text with its ``{placeholders}`` filled from ``context`` (values are turned
    into strings). For SMS the result is what the phone shows: 【signature】 in front and, for
    marketing, "回TD退订" at the end; for marketing email the unsubscribe link is appended.
    Raises ``Invalid`` naming the placeholders ``context`` lacks.

``send_templated(template, *, customer, store_id, context, related="", key=None)
-> OutboxMessage | None``
    Render ``template`` for ``customer`` and queue it from store ``store_id`` (same org).
    ``context`` may omit customer_name, store_name, store_phone, booking_link and
    unsubscribe_link (filled from the customer and store); plate and due_date must be given when
    the text uses them. The recipient comes from the customer by channel: SMS and webhook the
    mobile, WeChat ``preferences["wechat_openid"]``, email ``preferences["email"]``.
    ``related`` ("work_order:12") lets ``cancel_related`` withdraw it; ``key`` makes the call
    exactly-once: a second call with the same key returns the first message. The message may
    come back ``suppressed`` (no consent, frequency cap, no address, template switched off) with
    the reason in ``suppressed_reason``, or ``queued`` with ``send_after`` moved past the quiet
    hours. Returns None only when ``customer`` is None.

``queue(*, org_id, store_id, to, purpose, body, customer=None, channel="sms", send_after=None,
related="", kind=None, ...) -> OutboxMessage | None``
    Queue a ready text (None when ``to`` is empty). ``kind`` defaults to "reminder" for purposes
    ending in "reminder", else "transactional".

``cancel_related(related, purpose=None) -> int``
    Withdraw queued messages of an object (a cancelled appointment's reminder).
"""

from __future__ import annotations

import datetime
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from autocrm.core import audit, scoping
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import Store, User
from autocrm.core.services import check_errors, require
from autocrm.core.validators import normalize_mobile, normalize_text
from autocrm.customers.models import Customer
from autocrm.messaging import conf, policy, templating
from autocrm.messaging.models import Channel, Kind, MessageAttempt, MessageTemplate, OutboxMessage

S = OutboxMessage.Status


# --- queueing -----------------------------------------------------------------------------


def default_kind(purpose: str) -> str:
    return Kind.REMINDER if purpose.endswith("reminder") else Kind.TRANSACTIONAL


def _policy_at_queue(message: OutboxMessage, now: datetime.datetime) -> None:
    """Suppress or defer a new message by the rules (checked again when it is sent)."""
    customer = message.customer
    if customer is not None and not customer.is_active:
        message.status, message.suppressed_reason = (
            S.SUPPRESSED,
            _("The customer record was erased or merged."),
        )
        return
    if message.kind == Kind.MARKETING:
        reason = policy.consent_refusal(customer, message.channel) or policy.cap_refusal(
            message.customer_id,
            now,
            already=OutboxMessage.objects.filter(
                customer_id=message.customer_id, kind=Kind.MARKETING, status=S.QUEUED
            ).count()
            if message.customer_id
            else 0,
        )
        if reason:
            message.status, message.suppressed_reason = S.SUPPRESSED, reason
            return
    if policy.waits_for_quiet_hours(message.kind):
        message.send_after = policy.next_allowed(message.send_after)


def _create(message: OutboxMessage) -> OutboxMessage:
    """Save a new message; with a key already used, the earlier message instead."""
    if message.key:
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            existing = OutboxMessage.objects.filter(org_id=message.org_id, key=message.key).first()
            if existing is None:
                raise
            return existing
        return message
    message.save()
    return message


def queue(
    *,
    org_id: int,
    store_id: int,
    to: str,
    purpose: str,
    body: str,
    customer=None,
    channel: str = "sms",
    send_after: datetime.datetime | None = None,
    related: str = "",
    kind: str | None = None,
    subject: str = "",
    template: MessageTemplate | None = None,
    params: list | None = None,
    provider_template: str = "",
    key: str | None = None,
) -> OutboxMessage | None:
    if not to:
        return None
    now = timezone.now()
    message = OutboxMessage(
        org_id=org_id,
        store_id=store_id,
        customer=customer,
        template=template,
        channel=channel,
        kind=kind or default_kind(purpose),
        to=to,
        purpose=purpose[:30],
        subject=subject[:120],
        body=body,
        params=params or [],
        provider_template=provider_template,
        send_after=send_after or now,
        related=related,
        key=key or None,
    )
    _policy_at_queue(message, now)
    return _create(message)


def cancel_related(related: str, purpose: str | None = None) -> int:
    """Withdraw messages still waiting for an object (a cancelled appointment's reminder)."""
    qs = OutboxMessage.objects.filter(related=related, status=S.QUEUED)
    if purpose:
        qs = qs.filter(purpose=purpose)
    count = 0
    for message in qs:
        message.status = S.CANCELLED
        message.save(update_fields=["status"])
        count += 1
    return count


# --- rendering ----------------------------------------------------------------------------


def sms_sign(store: Store | None) -> str:
    return conf.sms_sign() or (store.name if store is not None else "")


def compose(
    *, channel: str, kind: str, body: str, values: dict, sign: str = ""
) -> tuple[str, list[list[str]], list[str]]:
    """(text as the customer gets it, placeholder values used, missing placeholders)."""
    text, used, missing = templating.fill(body, values)
    marketing = kind == Kind.MARKETING
    if channel == Channel.SMS:
        text = templating.sms_text(text, sign, marketing)
    elif channel == Channel.EMAIL:
        text = templating.email_text(text, values.get("unsubscribe_link", ""), marketing)
    return text, used, missing


def _braced(names) -> str:
    """Placeholder names as written in a template: {a}、{b}."""
    return "、".join(f"{{{name}}}" for name in names)


def _missing_error(missing: list[str]) -> Invalid:
    names = _braced(missing)
    return Invalid(
        _("Values missing for %(names)s.") % {"names": names},
        fields={"context": _("Give a value for %(names)s.") % {"names": names}},
    )


def render(template: MessageTemplate, context: dict, *, store: Store | None = None) -> str:
    text, _used, missing = compose(
        channel=template.channel,
        kind=template.kind,
        body=template.body,
        values={k: v for k, v in (context or {}).items() if v not in (None, "")},
        sign=sms_sign(store),
    )
    if missing:
        raise _missing_error(missing)
    return text


def public_url(path: str) -> str:
    return f"{settings.AUTOCRM_PUBLIC_URL}{path}"


def booking_link(store: Store, customer: Customer | None = None) -> str:
    """The store's booking page; for a customer, with a signed, expiring invitation that
    fills in their name and car and books on their mobile without showing it."""
    try:
        url = public_url(reverse("portal_book", args=[store.org.code, store.code]))
    except NoReverseMatch:
        return ""
    if customer is None:
        return url
    from autocrm.portal.services import invite_token

    return f"{url}?k={invite_token(customer)}"


def recipient_for(customer: Customer, channel: str) -> str:
    prefs = customer.preferences or {}
    if channel in (Channel.SMS, Channel.WEBHOOK):
        return customer.mobile
    if channel == Channel.WECHAT:
        return str(prefs.get("wechat_openid", "") or "")
    if channel == Channel.EMAIL:
        return str(prefs.get("email", "") or "")
    return ""


def context_for(customer: Customer, store: Store, channel: str, context: dict | None) -> dict:
    values = {
        "customer_name": customer.name,
        "store_name": store.name,
        "store_phone": store.phone,
        "unsubscribe_link": unsubscribe_link(customer, channel),
    }
    values.update({k: v for k, v in (context or {}).items() if v not in (None, "")})
    if "booking_link" not in values:
        values["booking_link"] = booking_link(store, customer)
    return values


def send_templated(
    template: MessageTemplate,
    *,
    customer: Customer | None,
    store_id: int,
    context: dict,
    related: str = "",
    key: str | None = None,
) -> OutboxMessage | None:
    if customer is None:
        return None
    if key:
        existing = OutboxMessage.objects.filter(org_id=template.org_id, key=key).first()
        if existing is not None:
            return existing
    store = Store.objects.select_related("org").filter(pk=store_id, org_id=template.org_id).first()
    if store is None or customer.org_id != template.org_id:
        raise Invalid(fields={"store_id": _("Choose a store of the template's organization.")})
    values = context_for(customer, store, template.channel, context)
    text, used, missing = compose(
        channel=template.channel,
        kind=template.kind,
        body=template.body,
        values=values,
        sign=sms_sign(store),
    )
    if missing and template.is_active:
        raise _missing_error(missing)
    to = recipient_for(customer, template.channel)
    message = OutboxMessage(
        org_id=template.org_id,
        store=store,
        customer=customer,
        template=template,
        channel=template.channel,
        kind=template.kind,
        to=to[:100],
        purpose=template.purpose[:30],
        subject=templating.fill(template.subject, values)[0][:120],
        body=text,
        params=used,
        provider_template=template.provider_template,
        send_after=timezone.now(),
        related=related,
        key=key or None,
    )
    if not template.is_active:
        message.status, message.suppressed_reason = S.SUPPRESSED, _("The template is switched off.")
    elif not to:
        message.status, message.suppressed_reason = (
            S.SUPPRESSED,
            _("The customer has no address for this channel."),
        )
    else:
        _policy_at_queue(message, timezone.now())
    return _create(message)


# --- templates ----------------------------------------------------------------------------

TEMPLATE_FIELDS = (
    "name",
    "channel",
    "purpose",
    "kind",
    "subject",
    "body",
    "provider_template",
    "is_active",
)
PURPOSE_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,39}$")


def placeholder_list() -> str:
    return _braced(templating.PLACEHOLDERS)


def preview(
    *, channel: str, kind: str, body: str, subject: str = "", store: Store | None = None
) -> dict:
    """The template rendered on sample data, with the SMS length figures."""
    values = dict(templating.SAMPLE)
    if store is not None:
        values.update(store_name=store.name, store_phone=store.phone or values["store_phone"])
    sign = conf.sms_sign() or values["store_name"]
    text, _used, _missing = compose(
        channel=channel, kind=kind, body=body or "", values=values, sign=sign
    )
    chars = len(text)
    return {
        "text": text,
        "subject": templating.fill(subject or "", values)[0],
        "chars": chars,
        "segments": templating.sms_segments(text) if channel == Channel.SMS else None,
        "too_long": channel == Channel.SMS and chars > templating.SMS_MAX,
        "unknown": templating.unknown_placeholders(body or "")
        + templating.unknown_placeholders(subject or ""),
        "is_sms": channel == Channel.SMS,
    }


def _unknown_message(unknown: list[str]) -> str:
    return _("Unknown placeholder %(names)s. Use only: %(allowed)s.") % {
        "names": _braced(unknown),
        "allowed": placeholder_list(),
    }


def _clean_template(actor: User, data: dict, template: MessageTemplate | None) -> dict:
    clean = {k: data[k] for k in TEMPLATE_FIELDS if k in data and data[k] is not None}
    for key in ("name", "purpose", "subject", "provider_template"):
        if key in clean:
            clean[key] = normalize_text(str(clean[key]))
    if "purpose" in clean:
        clean["purpose"] = clean["purpose"].lower()
    if "body" in clean:
        clean["body"] = str(clean["body"]).replace("\r\n", "\n").strip()
    merged = {
        k: clean.get(k, getattr(template, k, None) if template else None) for k in TEMPLATE_FIELDS
    }
    channel = merged["channel"] or Channel.SMS
    kind = merged["kind"] or Kind.MARKETING
    body = merged["body"] or ""
    errors: dict = {}
    if template is None or "name" in clean:
        errors["name"] = None if clean.get("name") else _("Enter a name.")
    if channel not in Channel.values:
        errors["channel"] = _("Choose SMS, WeChat, email or webhook.")
    if kind not in Kind.values:
        errors["kind"] = _("Choose marketing, reminder or transactional.")
    purpose = merged["purpose"] or ""
    if not PURPOSE_RE.match(purpose):
        errors["purpose"] = _(
            "Enter a purpose code: lower-case letters, digits, dot, dash or underscore "
            "(e.g. maintenance_due)."
        )
    unknown = templating.unknown_placeholders(body)
    if not body:
        errors["body"] = _("Enter the text.")
    elif unknown:
        errors["body"] = _unknown_message(unknown)
    elif channel == Channel.SMS and body.startswith("【"):
        errors["body"] = _(
            "Leave out the 【signature】: it is added to every SMS from the store's or brand's "
            "approved signature."
        )
    elif channel == Channel.SMS:
        figures = preview(channel=channel, kind=kind, body=body)
        if figures["too_long"]:
            errors["body"] = _(
                "Too long for an SMS: %(chars)s characters with signature and opt-out; at most "
                "%(max)s."
            ) % {"chars": figures["chars"], "max": templating.SMS_MAX}
    subject_unknown = templating.unknown_placeholders(merged["subject"] or "")
    if subject_unknown:
        errors["subject"] = _unknown_message(subject_unknown)
    for key, limit in (("name", 60), ("purpose", 40), ("subject", 120), ("provider_template", 60)):
        if len(str(clean.get(key, "") or "")) > limit and not errors.get(key):
            errors[key] = _("At most %(count)s characters.") % {"count": limit}
    check_errors(errors)
    if "name" in clean:
        dupes = MessageTemplate.objects.filter(org_id=actor.org_id, name=clean["name"])
        if template is not None:
            dupes = dupes.exclude(pk=template.pk)
        if dupes.exists():
            raise Conflict(
                _("A template with this name already exists."),
                fields={"name": _("Already used.")},
            )
    clean["channel"], clean["kind"], clean["purpose"] = channel, kind, purpose
    return clean


@audit.by_actor
@transaction.atomic
def create_template(actor: User, **data) -> MessageTemplate:
    require(actor, "templates.manage")
    clean = _clean_template(actor, data, None)
    return MessageTemplate.objects.create(org_id=actor.org_id, **clean)


@audit.by_actor
@transaction.atomic
def update_template(actor: User, template: MessageTemplate, **data) -> MessageTemplate:
    require(actor, "templates.manage")
    if template.org_id != actor.org_id:
        raise NotFound()
    clean = _clean_template(actor, data, template)
    for key, value in clean.items():
        setattr(template, key, value)
    template.save()
    return template


# --- staff actions on messages ------------------------------------------------------------


def _locked(actor: User, message: OutboxMessage) -> OutboxMessage:
    scoping.require_visible(actor, message)
    locked = (
        OutboxMessage.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=message.pk)
    )
    audit.locked(locked)
    if locked.claimed_until and locked.claimed_until > timezone.now():
        raise Conflict(_("This message is being sent right now. Look again in a minute."))
    return locked


@audit.by_actor
@transaction.atomic
def send_by_hand(actor: User, message: OutboxMessage, note: str = "") -> OutboxMessage:
    """Staff sent the text themselves (from the shop's phone): record who and when."""
    require(actor, "messages.send")
    message = _locked(actor, message)
    if message.channel in (Channel.SMS, Channel.WEBHOOK) and not actor.can("customer.phone"):
        raise Forbidden(_("Sending by hand needs the full number; ask a colleague who may see it."))
    if not message.can_send_by_hand:
        raise Conflict(
            _("Only queued or failed messages can be sent by hand (this one is %(status)s).")
            % {"status": message.get_status_display()}
        )
    if message.kind == Kind.MARKETING:
        reason = policy.consent_refusal(message.customer, message.channel)
        if reason:
            raise Conflict(reason)
    now = timezone.now()
    message.status = S.SENT
    message.sent_at = now
    message.sent_by = actor
    message.provider = "manual"
    message.provider_message_id = ""
    message.last_error = ""
    message.save()
    MessageAttempt.objects.create(
        message=message,
        at=now,
        provider="manual",
        ok=True,
        error=normalize_text(note)[:500],
    )
    return message


@audit.by_actor
@transaction.atomic
def resend(actor: User, message: OutboxMessage) -> OutboxMessage:
    """Queue a failed message again, with a fresh set of attempts."""
    require(actor, "messages.send")
    message = _locked(actor, message)
    if not message.can_resend:
        raise Conflict(
            _("Only failed messages can be sent again (this one is %(status)s).")
            % {"status": message.get_status_display()}
        )
    message.status = S.QUEUED
    message.attempts = 0
    message.send_after = timezone.now()
    message.save()
    return message


@audit.by_actor
@transaction.atomic
def cancel(actor: User, message: OutboxMessage) -> OutboxMessage:
    require(actor, "messages.send")
    message = _locked(actor, message)
    if not message.can_cancel:
        raise Conflict(_("Only queued messages can be withdrawn."))
    message.status = S.CANCELLED
    message.save()
    return message


# --- consent: opt-outs --------------------------------------------------------------------

UNSUBSCRIBE_SALT = "autocrm.messaging.unsubscribe"
CHANNEL_CODES = {"s": Channel.SMS, "w": Channel.WECHAT, "e": Channel.EMAIL, "h": Channel.WEBHOOK}
OPT_OUT_WORDS = {"TD", "T", "N", "退订", "退", "取消", "QX", "0000", "TD退订", "退订TD"}


def _mac(payload: str) -> str:
    import base64

    digest = salted_hmac(UNSUBSCRIBE_SALT, payload, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:16]


def unsubscribe_token(customer: Customer, channel: str) -> str:
    """A short signed token for the customer and channel (no expiry: a refusal must always
    work). Short because it may go into an SMS."""
    code = next((c for c, ch in CHANNEL_CODES.items() if ch == channel), "s")
    payload = f"{customer.pk}{code}"
    return f"{payload}.{_mac(payload)}"


def unsubscribe_link(customer: Customer, channel: str) -> str:
    return public_url(reverse("message_unsubscribe", args=[unsubscribe_token(customer, channel)]))


def resolve_unsubscribe(token: str) -> tuple[Customer, str]:
    payload, _sep, mac = (token or "").partition(".")
    if not payload or not constant_time_compare(mac, _mac(payload)):
        raise NotFound(_("This link is not valid."))
    customer_id, code = payload[:-1], payload[-1:]
    customer = Customer.objects.select_related("home_store").filter(pk=customer_id).first()
    if customer is None or code not in CHANNEL_CODES or not customer_id.isdigit():
        raise NotFound(_("This link is not valid."))
    return customer, CHANNEL_CODES[code]


def is_opt_out(text: str) -> bool:
    cleaned = re.sub(r"[\s。.!！,，]", "", text or "").upper()
    return cleaned in OPT_OUT_WORDS


def withdraw_consent(customer: Customer, channel: str, how: str) -> list[str]:
    """The customer refused marketing on ``channel`` (all channels when the channel holds no
    consent of its own): consent cleared with time and how, waiting marketing suppressed at once.
    Returns the channels cleared."""
    field = policy.CONSENT_FIELDS.get(channel)
    channels = [channel] if field else list(policy.CONSENT_FIELDS)
    now = timezone.now()
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        audit.locked(customer)
        for ch in channels:
            name = policy.CONSENT_FIELDS[ch]
            setattr(customer, name, False)
            setattr(customer, f"{name}_at", now)
            setattr(customer, f"{name}_how", how[:60])
        customer.save()
        waiting = OutboxMessage.objects.filter(
            customer=customer, kind=Kind.MARKETING, status=S.QUEUED
        )
        if field:
            waiting = waiting.filter(channel=channel)
        for message in waiting:
            message.status = S.SUPPRESSED
            message.suppressed_reason = policy.consent_refusal(customer, message.channel)[:200]
            message.save(update_fields=["status", "suppressed_reason"])
    return channels


def normalize_inbound_mobile(value: str) -> str:
    """The vendor's sender number as stored on customers (country code and separators off)."""
    return re.sub(r"\D", "", normalize_mobile(value))


def opt_out_by_reply(mobile: str, text: str, provider: str) -> int:
    """An SMS reply: "TD" (and the usual variants) withdraws SMS marketing consent of every
    customer with this number. Returns how many customers it touched."""
    if not is_opt_out(text):
        return 0
    mobile = normalize_inbound_mobile(mobile)
    if not mobile:
        return 0
    how = _("SMS reply %(text)s (%(provider)s)") % {"text": text.strip()[:10], "provider": provider}
    count = 0
    with audit.audit_context(source="portal"):
        for customer in Customer.objects.filter(mobile=mobile):
            withdraw_consent(customer, Channel.SMS, how)
            count += 1
    return count
