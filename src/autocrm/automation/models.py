"""Follow-up tasks (待办/回访任务): what a person or a role must do, by when, about whom.

Rules, the escalation scan and people create them; ``key`` makes a system-made task exactly
once (the same rule firing or escalation never makes two).

Rules (规则) and their firings, the rules engine's tables, follow the tasks; the engine itself
lives in ``conditions``, ``triggers``, ``actions``, ``scan``, ``capture`` and ``rules``."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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
        OTHER = "other", pgettext_lazy("task kind", "Other")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("task", "Open")
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


# --- rules engine -------------------------------------------------------------------------


class Rule(TimeStampedModel):
    """A rule (规则): when ``trigger`` happens to a record of ``entity`` and ``condition``
    holds, run ``actions``. Triggers, conditions and actions are JSON checked against the
    whitelist in ``automation.conditions``; ``automation.rules`` is the only writer."""

    scope_org = "org"
    scope_store = None

    class State(models.TextChoices):
        ACTIVE = "active", _("On")
        OFF = "off", _("Off")
        # Switched off by the system (a field it uses is gone, …): ``disabled_reason`` says why.
        DISABLED = "disabled", _("Disabled")

    class Scope(models.TextChoices):
        ORG = "org", _("Whole organization")
        REGION = "region", _("One region")
        STORES = "stores", _("Chosen stores")

    class Kind(models.TextChoices):
        EVENT = "event", _("Event")
        TIME = "time", _("Time")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    entity = models.CharField(_("record type"), max_length=20)
    kind = models.CharField(_("trigger kind"), max_length=5, choices=Kind.choices)
    # The event a rule waits for ("work_order.status.settled"); empty for time rules.
    event_key = models.CharField(max_length=60, blank=True)
    trigger = models.JSONField(_("trigger"), default=dict)
    condition = models.JSONField(_("condition"), default=dict, blank=True)
    actions = models.JSONField(_("actions"), default=list)
    scope = models.CharField(
        _("applies to"), max_length=6, choices=Scope.choices, default=Scope.ORG
    )
    region = models.ForeignKey(
        "core.Region", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stores = models.ManyToManyField(Store, blank=True, related_name="+", verbose_name=_("stores"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.OFF)
    disabled_reason = models.CharField(_("why it is disabled"), max_length=300, blank=True)
    # Time rules: the time of day date moments are due, and how far back a scan catches up
    # moments it missed while the worker was down.
    at = models.TimeField(_("time of day"), default=datetime.time(9, 0))
    catch_up_days = models.PositiveSmallIntegerField(_("catch-up window (days)"), default=3)
    builtin = models.CharField(_("built-in template"), max_length=40, blank=True)
    activated_at = models.DateTimeField(_("switched on"), null=True, blank=True)
    # The end of the last scan window that completed (time rules); not audited, moved with
    # ``update()`` by the scan.
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "builtin"],
                condition=~models.Q(builtin=""),
                name="rule_builtin_once_per_org",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "kind", "event_key"], name="rule_active_lookup"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE


class RuleFiring(models.Model):
    """One firing of a rule for one record and occurrence: the exactly-once key and the log.

    The row is inserted (insert-or-ignore on the unique key) *before* any action runs; only
    the run whose insert created it, or that later re-claims it after a crash, runs its
    actions. ``results`` holds one entry per action as it completes, so a retry runs only
    what is not done yet."""

    scope_org = "org"
    scope_store = "store"

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, related_name="+")
    record_id = models.BigIntegerField()
    occurrence = models.CharField(max_length=40)
    label = models.CharField(max_length=100, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    claim = models.CharField(max_length=32)
    claimed_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=1)
    event = models.JSONField(default=dict, blank=True)  # previous / changed of an event
    results = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rule firing")
        verbose_name_plural = _("rule firings")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "record_id", "occurrence"], name="rulefiring_once"
            ),
        ]
        indexes = [
            models.Index(fields=["rule", "-id"], name="rulefiring_log"),
            models.Index(fields=["status", "claimed_at"], name="rulefiring_retry"),
            models.Index(fields=["rule", "due_at"], name="rulefiring_due"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.record_id}@{self.occurrence}"
