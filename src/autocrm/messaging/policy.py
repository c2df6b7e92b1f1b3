"""The rules a message must pass before it goes out, checked when it is queued and again just
before it is sent (an opt-out in between wins):

- marketing needs the customer's recorded consent for the channel (广告法 Art. 43, PIPL 24);
- at most N marketing messages per customer in D days (``AUTOCRM_MARKETING_CAP``);
- marketing and reminders wait out the quiet hours (default 21:00–08:00 Beijing time) and go at
  the next allowed time; transactional messages (estimate and progress links, car ready) go at
  once, also at night, because the owner is waiting for them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.messaging import conf
from autocrm.messaging.models import Channel, Kind, OutboxMessage

# Channels whose marketing consent the customer record holds (customers.Customer.consent_*).
CONSENT_FIELDS = {Channel.SMS: "consent_sms", Channel.WECHAT: "consent_wechat"}


@dataclass(frozen=True)
class Decision:
    action: str  # "send" | "suppress" | "defer"
    reason: str = ""
    until: datetime.datetime | None = None


SEND = Decision("send")


def consent_refusal(customer, channel: str) -> str:
    """Why a marketing message may not go to ``customer`` on ``channel`` ("" when it may)."""
    if customer is None:
        return _("No customer: marketing needs a customer's consent.")
    field = CONSENT_FIELDS.get(channel)
    if field is None:
        return _("No marketing consent can be recorded for this channel.")
    if not getattr(customer, field, False):
        how = getattr(customer, f"{field}_how", "")
        at = getattr(customer, f"{field}_at", None)
        if at is not None:
            return _("Marketing consent withdrawn on %(date)s (%(how)s).") % {
                "date": timezone.localtime(at).strftime("%Y-%m-%d %H:%M"),
                "how": how or "—",
            }
        return _("No marketing consent recorded for this channel.")
    return ""


def _sent_recently(now: datetime.datetime):
    _count, days = conf.marketing_cap()
    return OutboxMessage.objects.filter(
        kind=Kind.MARKETING,
        status=OutboxMessage.Status.SENT,
        sent_at__gte=now - datetime.timedelta(days=days),
    )


def marketing_sent_recently(customer_id: int, now: datetime.datetime) -> int:
    return _sent_recently(now).filter(customer_id=customer_id).count()


def marketing_sent_by_customer(customer_ids, now: datetime.datetime) -> dict[int, int]:
    """``marketing_sent_recently`` for many customers in one query (a delivery batch)."""
    if not customer_ids:
        return {}
    rows = (
        _sent_recently(now)
        .filter(customer_id__in=set(customer_ids))
        .values("customer_id")
        .annotate(n=Count("id"))
    )
    return {row["customer_id"]: row["n"] for row in rows}


def cap_refusal(
    customer_id: int | None, now: datetime.datetime, *, already: int = 0, sent: int | None = None
) -> str:
    """``sent``: the customer's recent marketing when the caller counted it already."""
    if customer_id is None:
        return ""
    count, days = conf.marketing_cap()
    if sent is None:
        sent = marketing_sent_recently(customer_id, now)
    if sent + already >= count:
        return _("Frequency cap: %(count)s marketing messages in %(days)s days already.") % {
            "count": count,
            "days": days,
        }
    return ""


def in_quiet_hours(moment: datetime.datetime) -> bool:
    hours = conf.quiet_hours()
    if hours is None:
        return False
    start, end = hours
    local = timezone.localtime(moment).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(moment: datetime.datetime) -> datetime.datetime:
    """The first moment at or after ``moment`` outside the quiet hours."""
    if not in_quiet_hours(moment):
        return moment
    _start, end = conf.quiet_hours()
    local = timezone.localtime(moment)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += datetime.timedelta(days=1)
    return candidate


def waits_for_quiet_hours(kind: str) -> bool:
    return kind in (Kind.MARKETING, Kind.REMINDER)


def decide(
    message: OutboxMessage, now: datetime.datetime, *, planned: int = 0, sent: int | None = None
) -> Decision:
    """What to do with a due message now. ``planned``: marketing messages to the same customer
    already accepted in this delivery run (counted against the cap); ``sent``: the customer's
    recent marketing, when the run counted it for the whole batch."""
    customer = message.customer
    if customer is not None and not customer.is_active:
        return Decision("suppress", _("The customer record was erased or merged."))
    if message.kind == Kind.MARKETING:
        reason = consent_refusal(customer, message.channel)
        if reason:
            return Decision("suppress", reason)
        reason = cap_refusal(message.customer_id, now, already=planned, sent=sent)
        if reason:
            return Decision("suppress", reason)
    if waits_for_quiet_hours(message.kind) and in_quiet_hours(now):
        return Decision("defer", until=next_allowed(now))
    return SEND
