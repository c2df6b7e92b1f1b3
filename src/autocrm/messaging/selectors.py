"""Reads of the outbox and the templates, scoped to the user's org and stores."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from autocrm.core.models import User
from autocrm.core.scoping import scoped
from autocrm.core.selectors import get_or_404
from autocrm.core.validators import mask_mobile
from autocrm.messaging.models import Channel, MessageAttempt, MessageTemplate, OutboxMessage


@dataclass
class MessageFilter:
    status: str = ""
    channel: str = ""
    purpose: str = ""
    kind: str = ""
    store_id: int | None = None


def messages(user: User, f: MessageFilter | None = None) -> QuerySet[OutboxMessage]:
    f = f or MessageFilter()
    qs = scoped(OutboxMessage.objects.select_related("store", "customer", "sent_by"), user)
    if f.status in OutboxMessage.Status.values:
        qs = qs.filter(status=f.status)
    if f.channel in Channel.values:
        qs = qs.filter(channel=f.channel)
    if f.purpose:
        qs = qs.filter(purpose=f.purpose)
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.store_id:
        qs = qs.filter(store_id=f.store_id)
    return qs


def get_message(user: User, pk) -> OutboxMessage:
    return get_or_404(messages(user), pk)


def attempts(message: OutboxMessage) -> QuerySet[MessageAttempt]:
    return MessageAttempt.objects.filter(message=message).order_by("at", "id")


def purposes(user: User) -> list[str]:
    """Purposes seen in the user's org, for the filter (templates' and the recent outbox's)."""
    recent = (
        scoped(OutboxMessage.objects.all(), user).order_by("-id").values_list("purpose", flat=True)
    )
    names = set(recent[:500])
    names.update(templates(user).values_list("purpose", flat=True))
    return sorted(names)


def templates(user: User, *, channel: str = "", active: bool | None = None):
    qs = scoped(MessageTemplate.objects.all(), user)
    if channel:
        qs = qs.filter(channel=channel)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs


def get_template(user: User, pk) -> MessageTemplate:
    return get_or_404(templates(user), pk)


def shown_recipient(user: User, message: OutboxMessage) -> str:
    """The address as this user may see it: numbers masked without ``customer.phone``."""
    to = message.to or ""
    if user.can("customer.phone"):
        return to
    if message.channel == Channel.EMAIL and "@" in to:
        name, _at, domain = to.partition("@")
        return f"{name[:1]}***@{domain}"
    if message.channel == Channel.WECHAT:
        return f"{to[:4]}…" if to else ""
    return mask_mobile(to)
