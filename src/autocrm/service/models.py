"""The shop floor: appointments, work orders and their lines, inspections, photos, time,
quality checks, payments and the recommendations that carry declined work forward.

Money is Decimal with two places; a work order keeps its totals in columns so lists, the job
board and reports never sum lines on the fly. ``version`` guards against two people saving the
same work order over each other."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.catalog.models import Category, LabourItem, Part, RepairClass, ServicePackage
from autocrm.core.models import Organization, Store, TimeStampedModel, User
from autocrm.customers.models import Customer, SourceChannel, Vehicle

MONEY = {"max_digits": 12, "decimal_places": 2}
ZERO = Decimal("0.00")


def default_qc_items() -> list[str]:
    return ["项目全部完成", "油液液位正常", "无漏油漏液", "故障灯已熄灭", "车辆清洁", "旧件已处理"]


class ServiceSettings(models.Model):
    """A store's shop-floor defaults: rates, limits, booking slots, warranty and QC list."""

    scope_org = "store__org"
    scope_store = "store"

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="service_settings")
    hourly_rate = models.DecimalField(_("hourly labour rate"), default=Decimal("120.00"), **MONEY)
    tax_rate = models.DecimalField(
        _("VAT rate"), max_digits=5, decimal_places=4, default=Decimal("0.1300")
    )
    discount_limit = models.DecimalField(
        _("discount limit without manager (%)"), max_digits=5, decimal_places=2, default=10
    )
    opens_at = models.TimeField(_("opens at"), default=datetime.time(8, 30))
    closes_at = models.TimeField(_("closes at"), default=datetime.time(18, 0))
    slot_minutes = models.PositiveSmallIntegerField(_("booking slot (minutes)"), default=60)
    slot_capacity = models.PositiveSmallIntegerField(_("bookings per slot"), default=3)
    bays = models.PositiveSmallIntegerField(_("service bays"), default=4)
    booking_days = models.PositiveSmallIntegerField(_("bookable days ahead"), default=14)
    online_booking = models.BooleanField(_("online booking"), default=True)
    # {"second": [60, 8000]}: days and km per repair class, never below the national minimums.
    warranty = models.JSONField(_("warranty periods"), default=dict, blank=True)
    qc_items = models.JSONField(_("quality check items"), default=default_qc_items, blank=True)
    warranty_terms = models.TextField(_("warranty terms"), blank=True)
    # Maintenance prediction (customers.maintenance): due at last service + km or + months,
    # whichever comes first; reminders start ``service_remind_days`` before.
    service_interval_km = models.PositiveIntegerField(
        _("service interval (km)"), default=5000, db_default=5000
    )
    service_interval_months = models.PositiveSmallIntegerField(
        _("service interval (months)"), default=6, db_default=6
    )
    service_remind_days = models.PositiveSmallIntegerField(
        _("remind days before service"), default=14, db_default=14
    )

    class Meta:
        verbose_name = _("shop-floor settings")
        verbose_name_plural = _("shop-floor settings")

    def __str__(self) -> str:
        return str(self.store)


class Appointment(TimeStampedModel):
    scope_org = "org"
    scope_store = "store"

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CONFIRMED = "confirmed", _("Confirmed")
        ARRIVED = "arrived", _("Arrived")
        NO_SHOW = "no_show", _("No-show")
        CANCELLED = "cancelled", _("Cancelled")

    class Channel(models.TextChoices):
        STAFF = "staff", _("By staff")
        ONLINE = "online", _("Online by the owner")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    # Leads appt_store_time (store, starts_at).
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="appointments", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="appointments"
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.SET_NULL, null=True, blank=True, related_name="appointments"
    )
    name = models.CharField(_("name"), max_length=100)
    mobile = models.CharField(_("mobile"), max_length=20)
    plate = models.CharField(_("plate"), max_length=10, blank=True)
    package = models.ForeignKey(
        ServicePackage, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("service")
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    starts_at = models.DateTimeField(_("time"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.BOOKED
    )
    channel = models.CharField(
        _("booked"), max_length=10, choices=Channel.choices, default=Channel.STAFF
    )
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(_("reason"), max_length=200, blank=True)
    source = models.ForeignKey(
        SourceChannel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("source"),
    )
    campaign = models.CharField(_("campaign"), max_length=40, blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["store", "starts_at"], name="appt_store_time")]

    def __str__(self) -> str:
        return f"{self.name} {self.starts_at:%Y-%m-%d %H:%M}"


class WorkOrder(TimeStampedModel):
    scope_org = "org"
    scope_store = "store"

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ESTIMATE = "estimate", _("Estimate")
        IN_PROGRESS = "in_progress", _("In progress")
        QC = "qc", _("Quality check")
        READY = "ready", _("Ready")
        SETTLED = "settled", _("Settled")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    # org, store, customer and vehicle are the first column of a composite index in Meta
    # (wo_org_status, wo_store_status, wo_customer, wo_vehicle): no single-column index.
    org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="work_orders", db_index=False
    )
    number = models.CharField(_("number"), max_length=30)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="work_orders",
        verbose_name=_("customer"),
        db_index=False,
    )
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.PROTECT,
        related_name="work_orders",
        verbose_name=_("vehicle"),
        db_index=False,
    )
    appointment = models.OneToOneField(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_order"
    )
    advisor = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("advisor"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    mileage_in = models.PositiveIntegerField(_("mileage in (km)"), null=True, blank=True)
    complaint = models.TextField(_("customer's complaint"), blank=True)
    promised_at = models.DateTimeField(_("promised for"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    repair_class = models.CharField(
        _("repair class"), max_length=10, choices=RepairClass.choices, default=RepairClass.MINOR
    )
    warranty_days = models.PositiveIntegerField(_("warranty (days)"), default=10)
    warranty_km = models.PositiveIntegerField(_("warranty (km)"), default=2000)
    old_parts_returned = models.BooleanField(_("old parts returned to the owner"), default=False)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Totals kept by the services whenever lines change (approved lines only count).
    labour_total = models.DecimalField(_("labour"), default=ZERO, **MONEY)
    parts_total = models.DecimalField(_("materials"), default=ZERO, **MONEY)
    other_total = models.DecimalField(_("other"), default=ZERO, **MONEY)
    discount_total = models.DecimalField(_("discount"), default=ZERO, **MONEY)
    total = models.DecimalField(_("total"), default=ZERO, **MONEY)
    tax = models.DecimalField(_("of which VAT"), default=ZERO, **MONEY)
    paid = models.DecimalField(_("paid"), default=ZERO, **MONEY)
    stage = models.ForeignKey(
        "workflow.Stage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("stage"),
    )
    stage_entered_at = models.DateTimeField(null=True, blank=True)
    # Indexed where set (wo_comeback_of): most orders are not comebacks.
    comeback_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("comeback within warranty of"),
        db_index=False,
    )
    source = models.ForeignKey(
        SourceChannel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_orders",
        verbose_name=_("source"),
    )
    campaign = models.CharField(_("campaign"), max_length=40, blank=True, default="", db_default="")
    cancel_reason = models.CharField(_("reason"), max_length=200, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "number"], name="wo_number_unique_in_store")
        ]
        indexes = [
            models.Index(fields=["store", "status", "-id"], name="wo_store_status"),
            models.Index(fields=["org", "status", "-id"], name="wo_org_status"),
            # The org too, and opened_at ascending: a customer's or car's latest orders
            # (-opened_at, -id) are these read backwards on two equalities, which SQLite
            # prefers to wo_org_opened even without statistics (no sqlite_stat1 yet); before,
            # it walked the org's every order in time order (0.5 s at 5 M orders).
            models.Index(fields=["customer", "org", "opened_at"], name="wo_customer"),
            models.Index(fields=["vehicle", "org", "opened_at"], name="wo_vehicle"),
            models.Index(fields=["store", "-settled_at"], name="wo_store_settled"),
            # The reports' visits and estimates of a period across a whole org (HQ): a range
            # of settled_at / opened_at, rather than every finished order of the org.
            models.Index(fields=["org", "status", "settled_at"], name="wo_org_status_settled"),
            models.Index(fields=["org", "opened_at"], name="wo_org_opened"),
            models.Index(
                fields=["comeback_of"],
                name="wo_comeback_of",
                condition=Q(comeback_of__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    # Statuses after which the order is no longer worked on; FINISHED ones were carried out.
    FINISHED_STATUSES = frozenset({Status.SETTLED, Status.CLOSED})
    CLOSED_STATUSES = frozenset({Status.SETTLED, Status.CLOSED, Status.CANCELLED})

    @property
    def balance(self) -> Decimal:
        return self.total - self.paid

    @property
    def is_open(self) -> bool:
        return self.status not in self.CLOSED_STATUSES

    @property
    def warranty_until(self) -> datetime.date | None:
        if self.settled_at is None:
            return None
        return timezone.localdate(self.settled_at) + datetime.timedelta(days=self.warranty_days)

    @property
    def warranty_until_km(self) -> int | None:
        if self.mileage_in is None:
            return None
        return self.mileage_in + self.warranty_km


class WorkOrderCounter(models.Model):
    """The last number given per store and day (numbers read ``A1-20261124-003``)."""

    scope_org = "store__org"
    scope_store = "store"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("work order counter")
        verbose_name_plural = _("work order counters")
        constraints = [
            models.UniqueConstraint(fields=["store", "day"], name="wo_counter_store_day")
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day} {self.last}"


class WorkOrderLine(models.Model):
    scope_org = "work_order__org"
    scope_store = "work_order__store"

    class Kind(models.TextChoices):
        LABOUR = "labour", _("Labour")
        PART = "part", _("Part")
        SUBLET = "sublet", _("Sublet")

    class Approval(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        DEFERRED = "deferred", _("Deferred")

    class Channel(models.TextChoices):
        IN_PERSON = "in_person", _("In person")
        PHONE = "phone", _("By phone")
        LINK = "link", _("Through the link")

    class Progress(models.TextChoices):
        PENDING = "pending", _("Not started")
        WORKING = "working", _("In progress")
        DONE = "done", _("Done")

    # Leads woline_wo (work_order, sort).
    work_order = models.ForeignKey(
        WorkOrder, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    kind = models.CharField(_("type"), max_length=8, choices=Kind.choices)
    labour = models.ForeignKey(LabourItem, on_delete=models.PROTECT, null=True, blank=True)
    part = models.ForeignKey(Part, on_delete=models.PROTECT, null=True, blank=True)
    # The three keys below are rarely set: indexed where set (Meta), not on every line.
    package = models.ForeignKey(
        ServicePackage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    code = models.CharField(_("code"), max_length=40, blank=True)
    name = models.CharField(_("item"), max_length=100)
    brand = models.CharField(_("brand"), max_length=40, blank=True)
    spec = models.CharField(_("specification"), max_length=60, blank=True)
    unit = models.CharField(_("unit"), max_length=10, blank=True)
    category = models.CharField(
        _("category"), max_length=12, choices=Category.choices, default=Category.LABOUR
    )
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=2, default=1)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    discount_pct = models.DecimalField(
        _("discount (%)"), max_digits=5, decimal_places=2, default=ZERO
    )
    amount = models.DecimalField(_("amount"), default=ZERO, **MONEY)
    discount_approved_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    customer_supplied = models.BooleanField(_("supplied by the owner"), default=False)
    approval = models.CharField(
        _("approval"), max_length=9, choices=Approval.choices, default=Approval.PROPOSED
    )
    approval_channel = models.CharField(
        _("approved how"), max_length=10, choices=Channel.choices, blank=True
    )
    approved_by_name = models.CharField(_("approved by"), max_length=60, blank=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    decline_reason = models.CharField(_("reason"), max_length=200, blank=True)
    urgency = models.CharField(_("urgency"), max_length=6, blank=True)
    progress = models.CharField(
        _("progress"), max_length=8, choices=Progress.choices, default=Progress.PENDING
    )
    technicians = models.ManyToManyField(
        User, blank=True, related_name="assigned_lines", verbose_name=_("technicians")
    )
    recommendation = models.ForeignKey(
        "Recommendation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    sort = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("work order line")
        verbose_name_plural = _("work order lines")
        ordering = ["sort", "id"]
        indexes = [
            models.Index(fields=["work_order", "sort"], name="woline_wo"),
            models.Index(
                fields=["package"], name="woline_package", condition=Q(package__isnull=False)
            ),
            models.Index(
                fields=["discount_approved_by"],
                name="woline_discount_by",
                condition=Q(discount_approved_by__isnull=False),
            ),
            models.Index(
                fields=["recommendation"],
                name="woline_reco",
                condition=Q(recommendation__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="woline_quantity_positive")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def hours(self) -> Decimal | None:
        return self.quantity if self.kind == self.Kind.LABOUR else None


class InspectionTemplate(TimeStampedModel):
    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("inspection template")
        verbose_name_plural = _("inspection templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class InspectionTemplateItem(models.Model):
    scope_org = "template__org"
    scope_store = None

    template = models.ForeignKey(InspectionTemplate, on_delete=models.CASCADE, related_name="items")
    section = models.CharField(_("section"), max_length=30, blank=True)
    name = models.CharField(_("item"), max_length=60)
    sort = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("inspection item")
        verbose_name_plural = _("inspection items")
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class Inspection(models.Model):
    scope_org = "work_order__org"
    scope_store = "work_order__store"

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="inspections")
    template = models.ForeignKey(InspectionTemplate, on_delete=models.PROTECT, related_name="+")
    inspector = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.work_order} {self.template}"


class InspectionResult(models.Model):
    scope_org = "inspection__work_order__org"
    scope_store = "inspection__work_order__store"

    class Rating(models.TextChoices):
        OK = "ok", _("OK (green)")
        SOON = "soon", _("Soon (yellow)")
        NOW = "now", _("Now (red)")
        NA = "na", _("N/A")

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="results")
    section = models.CharField(_("section"), max_length=30, blank=True)
    name = models.CharField(_("item"), max_length=60)
    rating = models.CharField(_("rating"), max_length=4, choices=Rating.choices, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    line = models.ForeignKey(
        WorkOrderLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("inspection result")
        verbose_name_plural = _("inspection results")
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.rating}"


def media_path(instance, filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"wo/{instance.store_id}/{timezone.now():%Y/%m}/{instance.token}.{ext}"


def thumb_path(instance, filename: str) -> str:
    return f"wo/{instance.store_id}/{timezone.now():%Y/%m}/{instance.token}_t.jpg"


class Media(models.Model):
    """A photo or short video taken on the shop floor; images get a small thumbnail that
    pages show instead of the original."""

    scope_org = "org"
    scope_store = "store"

    class Kind(models.TextChoices):
        IMAGE = "image", _("Photo")
        VIDEO = "video", _("Video")

    class Step(models.TextChoices):
        CHECK_IN = "check_in", _("Check-in")
        TEARDOWN = "teardown", _("Teardown inspection")
        REPLACE = "replace", _("Part replacement")
        QC = "qc", _("Quality check")
        OTHER = "other", _("Other")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="media")
    result = models.ForeignKey(
        InspectionResult, on_delete=models.SET_NULL, null=True, blank=True, related_name="media"
    )
    line = models.ForeignKey(
        WorkOrderLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="media"
    )
    token = models.CharField(max_length=32, unique=True)
    kind = models.CharField(_("type"), max_length=5, choices=Kind.choices)
    step = models.CharField(_("step"), max_length=10, choices=Step.choices, default=Step.OTHER)
    file = models.FileField(upload_to=media_path, max_length=200)
    thumbnail = models.FileField(upload_to=thumb_path, max_length=200, blank=True)
    content_type = models.CharField(max_length=40)
    size = models.PositiveBigIntegerField(default=0)
    caption = models.CharField(_("caption"), max_length=200, blank=True)
    shared = models.BooleanField(_("shown to the owner"), default=True)
    uploaded_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("photo or video")
        verbose_name_plural = _("photos and videos")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["work_order", "created_at"], name="media_wo")]

    def __str__(self) -> str:
        return self.caption or self.token


class TimeEntry(models.Model):
    """A technician's clock-on/clock-off on one line."""

    scope_org = "work_order__org"
    scope_store = "work_order__store"

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="time")
    line = models.ForeignKey(WorkOrderLine, on_delete=models.CASCADE, related_name="time")
    technician = models.ForeignKey(User, on_delete=models.PROTECT, related_name="time_entries")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("time entry")
        verbose_name_plural = _("time entries")
        ordering = ["started_at", "id"]
        indexes = [
            models.Index(fields=["technician", "started_at"], name="time_tech"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["technician"],
                condition=Q(ended_at__isnull=True),
                name="time_one_running_per_tech",
            )
        ]

    def __str__(self) -> str:
        return f"{self.technician} {self.line}"

    @property
    def minutes(self) -> int:
        end = self.ended_at or timezone.now()
        return max(0, int((end - self.started_at).total_seconds() // 60))


class QualityCheck(models.Model):
    scope_org = "work_order__org"
    scope_store = "work_order__store"

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="qc_checks")
    inspector = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    passed = models.BooleanField(_("passed"))
    items = models.JSONField(_("checklist"), default=list)  # [{"name": ..., "ok": bool}]
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("quality check")
        verbose_name_plural = _("quality checks")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.work_order} QC {'ok' if self.passed else 'failed'}"


class Payment(models.Model):
    """Money in (or, negative, out). Never edited: a refund or reversal is a new row."""

    scope_org = "org"
    scope_store = "store"

    class Method(models.TextChoices):
        CASH = "cash", _("Cash")
        WECHAT = "wechat", _("WeChat Pay")
        ALIPAY = "alipay", _("Alipay")
        CARD = "card", _("Bank card")
        ACCOUNT = "account", _("On account")

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")
        REVERSAL = "reversal", _("Reversal")

    # org and store lead payment_org_time and payment_store_time.
    org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", db_index=False)
    work_order = models.ForeignKey(WorkOrder, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(_("method"), max_length=8, choices=Method.choices)
    kind = models.CharField(_("type"), max_length=8, choices=Kind.choices, default=Kind.PAYMENT)
    amount = models.DecimalField(_("amount"), **MONEY)
    # Indexed where set (payment_reverses): few payments reverse another.
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        db_index=False,
    )
    reference = models.CharField(_("reference"), max_length=60, blank=True)
    received_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["store", "created_at"], name="payment_store_time"),
            models.Index(fields=["org", "created_at"], name="payment_org_time"),  # HQ takings
            models.Index(
                fields=["reverses"], name="payment_reverses", condition=Q(reverses__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount}"


class Recommendation(TimeStampedModel):
    """Work the owner declined or put off, kept on the vehicle until done or dismissed."""

    scope_org = "org"
    scope_store = "store"

    class Urgency(models.TextChoices):
        NOW = "now", _("Urgent")
        SOON = "soon", _("Soon")
        LATER = "later", _("Can wait")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        DISMISSED = "dismissed", _("Dismissed")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    # Leads reco_vehicle (vehicle, status).
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, related_name="recommendations", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_line = models.ForeignKey(
        WorkOrderLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(_("item"), max_length=100)
    amount = models.DecimalField(_("quoted"), default=ZERO, **MONEY)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    urgency = models.CharField(
        _("urgency"), max_length=5, choices=Urgency.choices, default=Urgency.SOON
    )
    status = models.CharField(
        _("status"), max_length=9, choices=Status.choices, default=Status.OPEN
    )
    # Indexed where set (reco_resolved): open recommendations have none.
    resolved_work_order = models.ForeignKey(
        WorkOrder,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["vehicle", "status"], name="reco_vehicle"),
            models.Index(
                fields=["resolved_work_order"],
                name="reco_resolved",
                condition=Q(resolved_work_order__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkOrderEvent(models.Model):
    """The work order's history as people read it: status and stage moves, approvals, QC."""

    scope_org = "work_order__org"
    scope_store = "work_order__store"

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20)
    text = models.CharField(max_length=300)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=60, blank=True)
    public = models.BooleanField(default=False)  # shown on the owner's progress page
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("work order event")
        verbose_name_plural = _("work order events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["work_order", "at"], name="woevent_wo")]

    def __str__(self) -> str:
        return self.text
