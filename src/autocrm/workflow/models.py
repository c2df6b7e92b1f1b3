"""Process stages: the job board's columns per store, every stay of a work order in one, and
the process engine on top of them.

The process engine is data: one ``Process`` per org and kind of record (``entity``: work orders
now; leads, complaints and approvals later), with its ``ProcessStage`` rows (owner role, fields
that must be filled before leaving, a time limit in business hours, whom to escalate to) and
``Transition`` rows (roles, a JSON condition, approvals). A store's board ``Stage`` follows the
rules of the process stage it is linked to; a store's own extra columns have none.

Definitions change while records are in flight: every change bumps ``Process.version``, and a
``StageVisit`` keeps a copy of the rules it entered with (limit, owner, escalation target, due
time), so an order is escalated by the rules it was admitted under. Approval requests keep the
approvers and amount they were asked with."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store, TimeStampedModel, User
from autocrm.core.roles import ROLE_CHOICES

MONEY = {"max_digits": 12, "decimal_places": 2}


class Process(TimeStampedModel):
    """The process definition of one kind of record in an org."""

    scope_org = "org"
    scope_store = None

    class Entity(models.TextChoices):
        WORK_ORDER = "work_order", _("Work orders")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    entity = models.CharField(_("applies to"), max_length=30, choices=Entity.choices)
    version = models.PositiveIntegerField(_("version"), default=1)
    updated_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("process")
        verbose_name_plural = _("processes")
        constraints = [
            models.UniqueConstraint(fields=["org", "entity"], name="process_entity_unique_in_org")
        ]

    def __str__(self) -> str:
        return str(self.get_entity_display())


class ProcessStage(TimeStampedModel):
    """A stage of a process and its rules. ``required_fields`` names fields of the record
    (``promised_at``) or custom fields (``custom.<key>``); ``limit_minutes`` counts the store's
    open hours only."""

    scope_org = "process__org"
    scope_store = None

    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="stages")
    key = models.SlugField(_("key"), max_length=40)
    name = models.CharField(_("name"), max_length=30)
    sort = models.PositiveSmallIntegerField(_("order"), default=0)
    owner_role = models.CharField(_("owner role"), max_length=30, choices=ROLE_CHOICES, blank=True)
    required_fields = models.JSONField(_("required before leaving"), default=list, blank=True)
    limit_minutes = models.PositiveIntegerField(
        _("time limit (business minutes)"), null=True, blank=True
    )
    escalate_role = models.CharField(
        _("escalate to role"), max_length=30, choices=ROLE_CHOICES, blank=True
    )
    escalate_to = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("escalate to person"),
    )

    class Meta:
        verbose_name = _("process stage")
        verbose_name_plural = _("process stages")
        ordering = ["process", "sort", "id"]
        constraints = [
            models.UniqueConstraint(fields=["process", "key"], name="process_stage_key_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Transition(TimeStampedModel):
    """A permitted move between two stages of a process. Once a stage has any transition out
    of it, only the listed ones are allowed from it."""

    scope_org = "process__org"
    scope_store = None

    class Approval(models.TextChoices):
        NONE = "none", _("No approval")
        ROLE = "role", _("By role")
        PEOPLE = "people", _("N of M named approvers")
        TIERED = "tiered", _("Tiered by amount")

    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="transitions")
    source = models.ForeignKey(ProcessStage, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(ProcessStage, on_delete=models.CASCADE, related_name="+")
    allowed_roles = models.JSONField(_("roles allowed"), default=list, blank=True)
    # {"field": "total", "op": "gt", "value": "2000"}, {"all": [...]}, {"any": [...]}, {"not": …}
    condition = models.JSONField(_("condition"), default=dict, blank=True)
    approval = models.CharField(
        _("approval"), max_length=10, choices=Approval.choices, default=Approval.NONE
    )
    approval_role = models.CharField(
        _("approver role"), max_length=30, choices=ROLE_CHOICES, blank=True
    )
    approvers = models.JSONField(_("approvers"), default=list, blank=True)  # user ids
    approvals_needed = models.PositiveSmallIntegerField(_("approvals needed"), default=1)
    amount_field = models.CharField(_("amount"), max_length=40, blank=True)
    # [{"over": "500.00", "role": "store_manager"}, {"over": "2000.00", "role": "region_manager"}]
    tiers = models.JSONField(_("tiers"), default=list, blank=True)

    class Meta:
        verbose_name = _("transition")
        verbose_name_plural = _("transitions")
        ordering = ["process", "source__sort", "target__sort", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="transition_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}"


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
    process_stage = models.ForeignKey(
        ProcessStage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="board_stages",
        verbose_name=_("process stage"),
    )

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
    """One stay of a work order in a stage; ``left_at`` is empty while it is there.

    The rules of the stage when the order entered are copied here (the definition may change
    while it waits): the escalation scan reads only these columns. The columns added by the
    process engine are nullable or have database defaults, so bulk loaders that name the
    original columns keep working."""

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
    process_version = models.PositiveIntegerField(null=True, blank=True)
    owner_role = models.CharField(max_length=30, blank=True, default="", db_default="")
    limit_minutes = models.PositiveIntegerField(null=True, blank=True)
    escalate_role = models.CharField(max_length=30, blank=True, default="", db_default="")
    escalate_to = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)  # entered + limit in open hours
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_task = models.ForeignKey(
        "automation.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("stage visit")
        verbose_name_plural = _("stage visits")
        ordering = ["entered_at", "id"]
        indexes = [
            models.Index(fields=["work_order", "entered_at"], name="stagevisit_wo"),
            # The escalation scan: open, not yet escalated visits by due time.
            models.Index(
                fields=["due_at"],
                name="stagevisit_due",
                condition=Q(left_at__isnull=True, escalated_at__isnull=True, due_at__isnull=False),
            ),
        ]

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

# Keys of the default process stages, in the order of DEFAULT_STAGES.
DEFAULT_STAGE_KEYS = [
    "reception",
    "inspection",
    "estimate",
    "repair",
    "parts",
    "qc",
    "delivery",
]


class ApprovalRequest(models.Model):
    """A move that waits for approval: who asked, for which move, and the approvers and amount
    as they were when it was asked. Generic over records (``entity`` + ``object_id``); work
    orders also fill ``work_order`` for joins."""

    scope_org = "org"
    scope_store = "store"

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")
        USED = "used", _("Approved and moved")
        CANCELLED = "cancelled", _("Withdrawn")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    entity = models.CharField(max_length=30)
    object_id = models.PositiveBigIntegerField()
    work_order = models.ForeignKey(
        "service.WorkOrder",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="approval_requests",
    )
    transition = models.ForeignKey(
        Transition, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    target_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    process_version = models.PositiveIntegerField(default=1)
    approver_role = models.CharField(max_length=30, blank=True)
    approver_ids = models.JSONField(default=list, blank=True)
    needed = models.PositiveSmallIntegerField(default=1)
    amount = models.DecimalField(null=True, blank=True, **MONEY)
    amount_label = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["store", "status", "-requested_at"], name="approval_store"),
            models.Index(fields=["entity", "object_id", "status"], name="approval_object"),
        ]
        constraints = [
            # One waiting request per record and target: a second attempt finds the first.
            models.UniqueConstraint(
                fields=["entity", "object_id", "target_stage"],
                condition=Q(status="pending"),
                name="approval_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity}:{self.object_id} → {self.target_stage_id}"


class ApprovalDecision(models.Model):
    """One approver's yes or no, with a note: who, when, what."""

    scope_org = "request__org"
    scope_store = "request__store"

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approver_name = models.CharField(max_length=60)
    approve = models.BooleanField()
    note = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("approval decision")
        verbose_name_plural = _("approval decisions")
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="approval_one_vote")
        ]

    def __str__(self) -> str:
        return f"{self.approver_name}: {'yes' if self.approve else 'no'}"
