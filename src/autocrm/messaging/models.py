"""The outbox and the message templates.

Every message to a customer is an ``OutboxMessage`` row first. The delivery task
(``messaging.delivery``) sends the due ``queued`` rows through the channel's provider; a channel
without a configured provider keeps its messages in the outbox for staff to send by hand. Each
try is a ``MessageAttempt`` row, so the detail page can show what happened and when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from autocrm.core.models import Organization, Store
from autocrm.customers.models import Customer


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    EMAIL = "email", _("Email")
    WEBHOOK = "webhook", _("Webhook")


class Kind(models.TextChoices):
    """Marketing needs consent and obeys the cap and quiet hours; reminders obey quiet hours;
    transactional messages (car ready, estimate link, survey) go at once without consent."""

    MARKETING = "marketing", _("Marketing")
    REMINDER = "reminder", _("Reminder")
    TRANSACTIONAL = "transactional", _("Transactional")


class MessageTemplate(models.Model):
    """A message text an admin edits: placeholders such as {customer_name} are filled per
    customer by ``services.render``. ``provider_template`` is the template code approved at the
    SMS vendor (Aliyun TemplateCode / Tencent TemplateId) or the WeChat template_id."""

    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.SMS
    )
    purpose = models.CharField(_("purpose"), max_length=40)
    kind = models.CharField(_("type"), max_length=15, choices=Kind.choices, default=Kind.MARKETING)
    subject = models.CharField(_("subject"), max_length=120, blank=True)
    body = models.TextField(_("text"))
    provider_template = models.CharField(_("provider template code"), max_length=60, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="msgtemplate_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class OutboxMessage(models.Model):
    scope_org = "org"
    scope_store = "store"

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("message status", "Queued")
        SENT = "sent", pgettext_lazy("message status", "Sent")
        FAILED = "failed", pgettext_lazy("message status", "Failed")
        SUPPRESSED = "suppressed", pgettext_lazy("message status", "Suppressed")
        CANCELLED = "cancelled", pgettext_lazy("message status", "Cancelled")

    # Status.PENDING was the name before delivery existed; callers may still use it.
    Status.PENDING = Status.QUEUED

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10, default="sms")
    kind = models.CharField(
        _("type"),
        max_length=15,
        choices=Kind.choices,
        default=Kind.TRANSACTIONAL,
        db_default=Kind.TRANSACTIONAL,
    )
    to = models.CharField(_("to"), max_length=100)
    purpose = models.CharField(_("purpose"), max_length=30)
    subject = models.CharField(_("subject"), max_length=120, blank=True, db_default="")
    body = models.TextField(_("text"))
    # Placeholder values, for vendors that fill their own approved template (SMS, WeChat).
    params = models.JSONField(default=dict, blank=True, null=True)
    provider_template = models.CharField(max_length=60, blank=True, db_default="")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    send_after = models.DateTimeField(_("send after"), default=timezone.now)
    related = models.CharField(max_length=40, blank=True)  # e.g. "appointment:12"
    # Exactly-once key of the caller (a rule firing): a second message with it is refused.
    key = models.CharField(max_length=100, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0, db_default=0)
    provider = models.CharField(_("provider"), max_length=20, blank=True, db_default="")
    provider_message_id = models.CharField(
        _("provider message id"), max_length=100, blank=True, db_default=""
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True, db_default="")
    suppressed_reason = models.CharField(
        _("why suppressed"), max_length=200, blank=True, db_default=""
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by hand by"),
    )
    # A delivery run's claim: rows with an unexpired claim belong to that run only.
    claim_token = models.CharField(max_length=32, blank=True, db_default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "send_after"], name="outbox_due"),
            models.Index(fields=["customer", "kind", "sent_at"], name="outbox_customer_kind"),
            models.Index(fields=["store", "-id"], name="outbox_store_recent"),
            models.Index(fields=["related"], name="outbox_related"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "key"], condition=Q(key__isnull=False), name="outbox_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose} → {self.to}"

    @property
    def can_resend(self) -> bool:
        return self.status == self.Status.FAILED

    @property
    def can_send_by_hand(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.FAILED)

    @property
    def can_cancel(self) -> bool:
        return self.status == self.Status.QUEUED


class MessageAttempt(models.Model):
    """One try to hand a message to its provider (written by the delivery run in bulk)."""

    scope_org = "message__org"
    scope_store = "message__store"

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(_("time"), default=timezone.now)
    provider = models.CharField(_("provider"), max_length=20)
    ok = models.BooleanField(_("succeeded"), default=False)
    retry = models.BooleanField(_("will retry"), default=False)
    error = models.CharField(_("error"), max_length=500, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} @ {self.at:%Y-%m-%d %H:%M:%S}"
