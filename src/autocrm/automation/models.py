"""Follow-up tasks (待办/回访任务): what a person or a role must do, by when, about whom.

Rules, the escalation scan and people create them; ``key`` makes a system-made task exactly
once (the same rule firing or escalation never makes two)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store, TimeStampedModel
from autocrm.core.roles import ROLE_CHOICES


class Task(TimeStampedModel):
    scope_org = "org"
    scope_store = "store"

    class Kind(models.TextChoices):
        FOLLOW_UP = "follow_up", _("Follow-up call")
        RENEWAL = "renewal", _("Renewal")
        ESCALATION = "escalation", _("Escalation")
        CALLBACK = "callback", _("Low-score callback")
        REMINDER = "reminder", _("Reminder")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Result(models.TextChoices):
        REACHED = "reached", _("Reached")
        NO_ANSWER = "no_answer", _("No answer")
        BOOKED = "booked", _("Booked")
        DECLINED = "declined", _("Declined")
        DONE = "done", _("Done")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.OTHER)
    title = models.CharField(_("title"), max_length=200)
    details = models.TextField(_("details"), blank=True)
    # Whoever holds the role in the store may take it; a person when assigned.
    role = models.CharField(_("role"), max_length=30, choices=ROLE_CHOICES, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        verbose_name=_("assignee"),
    )
    due_at = models.DateTimeField(_("due"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    result = models.CharField(_("result"), max_length=20, choices=Result.choices, blank=True)
    result_note = models.TextField(_("result note"), blank=True)
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    vehicle = models.ForeignKey(
        "customers.Vehicle", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    work_order = models.ForeignKey(
        "service.WorkOrder", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    follows = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="next_tasks"
    )
    source = models.CharField(_("source"), max_length=60, blank=True)  # "rule:3", "escalation"
    key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["assignee", "status", "due_at"], name="task_assignee_open"),
            models.Index(fields=["store", "role", "status", "due_at"], name="task_role_open"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_at < timezone.now()
