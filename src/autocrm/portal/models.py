"""Links sent to car owners: no login, unguessable, signed and expiring. The URL carries a
signed random token; only its hash is stored, so a leaked database holds no working link."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store


class PortalLink(models.Model):
    scope_org = "org"
    scope_store = "store"

    class Purpose(models.TextChoices):
        ESTIMATE = "estimate", _("Estimate approval")
        PROGRESS = "progress", _("Progress")
        SURVEY = "survey", _("Survey")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    work_order = models.ForeignKey(
        "service.WorkOrder", on_delete=models.CASCADE, related_name="links"
    )
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    signature = models.TextField(_("signature"), blank=True)  # data URL of the owner's signature
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("customer link")
        verbose_name_plural = _("customer links")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.purpose} {self.work_order_id}"

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
