"""Import jobs and saved column mappings ("import profiles").

A job is one uploaded file on its way in: mapped, checked (dry run), then imported in the
background. Progress counters are written with ``QuerySet.update`` while the job runs, so they
do not flood the audit log; the rows it creates are audited one by one with source 'import'."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store, TimeStampedModel, User


class ImportProfile(TimeStampedModel):
    """A named column mapping, reused when a file with the same headers comes again."""

    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    headers_key = models.CharField(max_length=40, editable=False)
    headers = models.JSONField(_("headers"), default=list)
    mapping = models.JSONField(_("mapping"), default=list)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("import profile")
        verbose_name_plural = _("import profiles")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="import_profile_name_unique")
        ]
        indexes = [models.Index(fields=["org", "headers_key"], name="import_profile_headers")]

    def __str__(self) -> str:
        return self.name


class ImportJob(TimeStampedModel):
    scope_org = "org"
    scope_store = "store"

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Map columns")
        PLANNING = "planning", _("Checking")
        PLANNED = "planned", _("Checked")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    ACTIVE = (Status.PLANNING, Status.QUEUED, Status.RUNNING)

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user_label = models.CharField(_("by"), max_length=150, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.MAPPING
    )
    file_name = models.CharField(_("file"), max_length=200)
    file_path = models.CharField(max_length=300, blank=True)
    file_size = models.BigIntegerField(_("size"), default=0)
    file_type = models.CharField(max_length=10)
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, default=",")
    sheet_name = models.CharField(max_length=100, blank=True)
    header_row = models.PositiveIntegerField(default=1)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=list)
    samples = models.JSONField(default=list)
    profile = models.ForeignKey(
        ImportProfile, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    total = models.PositiveIntegerField(_("rows"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    warned = models.PositiveIntegerField(_("with warnings"), default=0)
    stats = models.JSONField(default=dict)
    preview = models.JSONField(default=list)
    planned_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    report_path = models.CharField(max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["org", "-id"], name="import_job_org"),
            models.Index(fields=["store", "-id"], name="import_job_store"),
        ]

    def __str__(self) -> str:
        return self.file_name

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, int(self.processed * 100 / self.total))
