"""What owners say after a visit: NPS, four star ratings, reasons and a comment. Low scores
raise an alert for the store manager at once."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store, User
from autocrm.customers.models import Customer

LOW_REASONS = [
    ("slow", _("Took too long")),
    ("price", _("Too expensive")),
    ("attitude", _("Unfriendly staff")),
    ("quality", _("Problem not fixed")),
    ("communication", _("Not kept informed")),
    ("clean", _("Car returned dirty")),
    ("other", _("Other")),
]
# The four star ratings, in the order the owner sees them.
DIMENSIONS = [
    ("timeliness", _("On time")),
    ("professionalism", _("Professional work")),
    ("attitude", _("Friendly service")),
    ("result", _("Result of the repair")),
]
DIMENSION_NAMES = tuple(name for name, _label in DIMENSIONS)
# A score at or below these is low: an alert for the manager, and the owner is asked why.
LOW_NPS = 6  # detractors: 0–6
LOW_STARS = 3


class Survey(models.Model):
    scope_org = "org"
    scope_store = "store"

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    work_order = models.OneToOneField(
        "service.WorkOrder", on_delete=models.CASCADE, related_name="survey"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="surveys"
    )
    nps = models.PositiveSmallIntegerField(_("would recommend (0–10)"))
    timeliness = models.PositiveSmallIntegerField(_("timeliness"))
    professionalism = models.PositiveSmallIntegerField(_("professionalism"))
    attitude = models.PositiveSmallIntegerField(_("attitude"))
    result = models.PositiveSmallIntegerField(_("result"))
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    is_low = models.BooleanField(_("low score"), default=False)
    submitted_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    handled_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    handling_note = models.CharField(_("what was done"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["store", "is_low", "handled_at"], name="survey_alerts"),
            # The open alerts of a whole org (HQ's count): only the unhandled low scores.
            models.Index(
                fields=["org"],
                name="survey_open_alerts",
                condition=models.Q(is_low=True, handled_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.work_order_id}: NPS {self.nps}"
