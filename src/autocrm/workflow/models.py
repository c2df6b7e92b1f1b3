"""Process stages: the job board's columns per store, and every stay of a work order in one.
The automation issue adds roles, conditions and escalation on top of these tables."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store, TimeStampedModel, User


class Stage(TimeStampedModel):
    scope_org = "org"
    scope_store = "store"

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=30)
    color = models.CharField(_("colour"), max_length=7, default="#206bc4")
    target_minutes = models.PositiveIntegerField(_("target time (minutes)"), default=60)
    sort = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["store", "sort", "id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "name"], name="stage_name_unique_in_store")
        ]

    def __str__(self) -> str:
        return self.name


class StageVisit(models.Model):
    """One stay of a work order in a stage; ``left_at`` is empty while it is there."""

    scope_org = "work_order__org"
    scope_store = "work_order__store"

    work_order = models.ForeignKey(
        "service.WorkOrder", on_delete=models.CASCADE, related_name="stage_visits"
    )
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="visits")
    entered_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    moved_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("stage visit")
        verbose_name_plural = _("stage visits")
        ordering = ["entered_at", "id"]
        indexes = [models.Index(fields=["work_order", "entered_at"], name="stagevisit_wo")]

    def __str__(self) -> str:
        return f"{self.work_order_id} @ {self.stage}"


DEFAULT_STAGES = [
    # name, colour, target minutes
    ("待接车", "#6c757d", 15),
    ("检查中", "#4299e1", 30),
    ("待客户确认", "#f59f00", 60),
    ("维修中", "#206bc4", 240),
    ("待配件", "#d63939", 1440),
    ("质检", "#ae3ec9", 30),
    ("待交车", "#2fb344", 120),
]
