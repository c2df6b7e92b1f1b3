"""Organisation structure, staff and roles, API tokens, the audit log and job bookkeeping.

Scoping is declared on each model with two lookup paths, ``scope_org`` and ``scope_store``
(``None`` when a model belongs to the whole org); ``autocrm.core.scoping`` reads them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.roles import ROLE_CHOICES


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Organization(TimeStampedModel):
    scope_org = "pk"
    scope_store = None

    name = models.CharField(_("name"), max_length=100)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name


class Region(TimeStampedModel):
    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="regions")
    name = models.CharField(_("name"), max_length=60)
    code = models.SlugField(_("code"), max_length=40)

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="region_code_unique_in_org"),
            models.UniqueConstraint(fields=["org", "name"], name="region_name_unique_in_org"),
        ]

    def __str__(self) -> str:
        return self.name


class Store(TimeStampedModel):
    scope_org = "org"
    scope_store = "pk"

    class Kind(models.TextChoices):
        REPAIR = "repair", _("Repair shop")
        AUDIO = "audio", _("Car audio / install shop")
        DEALER = "dealer", _("4S dealership")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="stores")
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="stores",
        null=True,
        blank=True,
        verbose_name=_("region"),
    )
    name = models.CharField(_("name"), max_length=100)
    code = models.SlugField(_("code"), max_length=40)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.REPAIR)
    city = models.CharField(_("city"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="store_code_unique_in_org"),
        ]

    def __str__(self) -> str:
        return self.name


class RoleManager(models.Manager):
    def ensure(self, codes) -> list[Role]:
        """Rows for these role codes, created if missing (the set is fixed; rows are a lookup)."""
        codes = set(codes)
        found = {r.code: r for r in self.filter(code__in=codes)}
        for code in sorted(codes - set(found)):
            found[code] = self.get_or_create(code=code)[0]
        return [found[c] for c in sorted(codes)]


class Role(models.Model):
    """The fixed set of roles; rows exist so staff can be queried by role in SQL."""

    scope_org = None
    scope_store = None

    code = models.CharField(_("code"), max_length=30, unique=True, choices=ROLE_CHOICES)

    objects = RoleManager()

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.get_code_display())


class StaffManager(UserManager):
    def get_by_natural_key(self, username):
        return self.get(**{self.model.USERNAME_FIELD: username})


class User(AbstractUser):
    """A staff member. Belongs to one org; works in explicit stores, in whole regions, or for
    all of HQ (scope level ``org``)."""

    scope_org = "org"
    scope_store = "stores"

    class Scope(models.TextChoices):
        ORG = "org", _("Whole organization (HQ)")
        REGION = "region", _("Regions")
        STORE = "store", _("Stores")

    org = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="staff",
        null=True,
        blank=True,
        verbose_name=_("organization"),
    )
    full_name = models.CharField(_("full name"), max_length=60, blank=True)
    phone = models.CharField(_("mobile"), max_length=20, blank=True)
    scope = models.CharField(
        _("works in"), max_length=10, choices=Scope.choices, default=Scope.STORE
    )
    regions = models.ManyToManyField(
        Region, blank=True, related_name="staff", verbose_name=_("regions")
    )
    stores = models.ManyToManyField(
        Store, blank=True, related_name="staff", verbose_name=_("stores")
    )
    roles = models.ManyToManyField(Role, blank=True, related_name="staff", verbose_name=_("roles"))
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans"
    )
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)

    objects = StaffManager()

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["username"]

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    def role_codes(self) -> frozenset[str]:
        """Role codes, cached on the instance for the request."""
        cached = getattr(self, "_role_codes", None)
        if cached is None:
            cached = frozenset(self.roles.values_list("code", flat=True))
            self._role_codes = cached
        return cached

    def has_role(self, *codes: str) -> bool:
        return bool(self.role_codes().intersection(codes))

    def can(self, capability: str) -> bool:
        from autocrm.core.roles import has_capability

        return has_capability(self.role_codes(), capability)


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 of the secret is stored; the secret is shown once."""

    scope_org = "user__org"
    scope_store = None

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=60)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("audit log entries are append-only")

    def delete(self):
        raise PermissionError("audit log entries are append-only")


class AuditLog(models.Model):
    """Append-only record of every create, update and delete. No foreign keys, so history
    outlives the rows it describes and a delete elsewhere never rewrites it."""

    scope_org = "org_id"
    scope_store = "store_id"

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        DELETE = "delete", _("Deleted")
        REVEAL = "reveal", _("Viewed personal data")

    class Source(models.TextChoices):
        WEB = "web", _("Web page")
        API = "api", _("API")
        IMPORT = "import", _("Import")
        RULE = "rule", _("Rule")
        TASK = "task", _("Background task")
        SHELL = "shell", _("Command line")
        PORTAL = "portal", _("Customer link")

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    org_id = models.BigIntegerField(null=True, db_index=True)
    store_id = models.BigIntegerField(null=True, db_index=True)
    user_id = models.BigIntegerField(null=True, db_index=True)
    user_label = models.CharField(_("who"), max_length=150, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    request_id = models.CharField(max_length=40, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=60, db_index=True)
    object_id = models.CharField(_("object id"), max_length=40, db_index=True)
    object_repr = models.CharField(_("object"), max_length=200)
    changes = models.JSONField(_("changes"), default=dict)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["org_id", "-created_at"], name="audit_org_time")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit log entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit log entries are append-only")


class JobRun(models.Model):
    """One execution of a background task, written by the worker's signal handlers."""

    scope_org = None
    scope_store = None

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETE = "complete", _("Done")
        RETRYING = "retrying", _("Retrying")
        ERROR = "error", _("Failed")

    task_id = models.CharField(max_length=64, db_index=True)
    name = models.CharField(_("task"), max_length=120)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    retries_left = models.IntegerField(_("retries left"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} {self.status}"

    @property
    def duration_ms(self) -> int | None:
        if not self.finished_at:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class WorkerHeartbeat(models.Model):
    scope_org = None
    scope_store = None

    worker = models.CharField(max_length=120, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return self.worker


class CustomField(TimeStampedModel):
    """A field an admin adds to customers, vehicles or work orders without code. Values live
    in the record's ``custom`` JSON under ``key``; renaming the label or adding choices never
    touches stored values."""

    scope_org = "org"
    scope_store = None

    class Target(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        VEHICLE = "vehicle", _("Vehicle")
        WORK_ORDER = "work_order", _("Work order")

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        LONG_TEXT = "long_text", _("Long text")
        INTEGER = "integer", _("Whole number")
        DECIMAL = "decimal", _("Decimal number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")
        BOOLEAN = "boolean", _("Yes / no")
        URL = "url", _("Web address")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="custom_fields")
    target = models.CharField(_("applies to"), max_length=12, choices=Target.choices)
    key = models.SlugField(_("key"), max_length=40)
    label_zh = models.CharField(_("Chinese label"), max_length=60)
    label_en = models.CharField(_("English label"), max_length=60, blank=True)
    type = models.CharField(_("type"), max_length=14, choices=Type.choices, default=Type.TEXT)
    required = models.BooleanField(_("required"), default=False)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    min_value = models.DecimalField(
        _("minimum"), max_digits=14, decimal_places=4, null=True, blank=True
    )
    max_value = models.DecimalField(
        _("maximum"), max_digits=14, decimal_places=4, null=True, blank=True
    )
    regex = models.CharField(_("pattern (regular expression)"), max_length=200, blank=True)
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    group = models.CharField(_("group"), max_length=40, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    visible_roles = models.JSONField(_("roles that see it"), default=list, blank=True)
    editable_roles = models.JSONField(_("roles that edit it"), default=list, blank=True)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["target", "group", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "target", "key"], name="custom_field_key_unique")
        ]

    def __str__(self) -> str:
        return self.label_zh

    def label(self, language: str | None = None) -> str:
        from django.utils import translation

        language = language or translation.get_language() or "zh-hans"
        if language.startswith("en") and self.label_en:
            return self.label_en
        return self.label_zh
