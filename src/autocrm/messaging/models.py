"""The outbox: every message to a customer is a row first. Sending through SMS/WeChat
providers arrives with the automation issue; until then messages wait as ``pending``."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store
from autocrm.customers.models import Customer


class OutboxMessage(models.Model):
    scope_org = "org"
    scope_store = "store"

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10, default="sms")
    to = models.CharField(_("to"), max_length=100)
    purpose = models.CharField(_("purpose"), max_length=30)
    body = models.TextField(_("text"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    send_after = models.DateTimeField(_("send after"), default=timezone.now)
    related = models.CharField(max_length=40, blank=True)  # e.g. "appointment:12"
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "send_after"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.purpose} → {self.to}"
