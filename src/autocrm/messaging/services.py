"""Queueing messages to customers. Every message is an outbox row; the automation issue adds
the providers that send them."""

from __future__ import annotations

import datetime

from django.utils import timezone

from autocrm.messaging.models import OutboxMessage


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
) -> OutboxMessage | None:
    if not to:
        return None
    return OutboxMessage.objects.create(
        org_id=org_id,
        store_id=store_id,
        customer=customer,
        channel=channel,
        to=to,
        purpose=purpose,
        body=body,
        send_after=send_after or timezone.now(),
        related=related,
    )


def cancel_related(related: str, purpose: str | None = None) -> int:
    """Withdraw messages still waiting for an object (a cancelled appointment's reminder)."""
    qs = OutboxMessage.objects.filter(related=related, status=OutboxMessage.Status.PENDING)
    if purpose:
        qs = qs.filter(purpose=purpose)
    count = 0
    for message in qs:
        message.status = OutboxMessage.Status.CANCELLED
        message.save(update_fields=["status"])
        count += 1
    return count
