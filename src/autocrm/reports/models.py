"""Daily rollups per store and per staff member: derived from work orders, payments and time
entries, recomputed whole per store-day (so a replay or a back-dated order is harmless), and
read by the dashboard's trends instead of summing raw rows."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store, User

MONEY = {"max_digits": 12, "decimal_places": 2, "default": Decimal("0.00")}
HOURS = {"max_digits": 10, "decimal_places": 2, "default": Decimal("0.00")}
# Parts cost is quantity (2 places) × cost (2 places): kept to 4 places so a period's sum of
# store-days rounds to the same cent as the sum of the lines themselves.
COST = {"max_digits": 16, "decimal_places": 4, "default": Decimal("0.0000")}
# The keys of derived rows (rollups, scores), recomputed whole in bulk: no foreign key in the
# database, whose check per row (on PostgreSQL, deferred to the commit) cost a full RFM run
# more than the computation itself. Deleting a store or a customer through the application
# still deletes them (Django's cascade); a recompute never writes a key that does not exist.
DERIVED = {"on_delete": models.CASCADE, "related_name": "+", "db_constraint": False}


class StoreRollup(models.Model):
    """What every rollup row has: its org and store (its scope) and when it was computed."""

    scope_org = "org"
    scope_store = "store"

    org = models.ForeignKey(Organization, **DERIVED)
    store = models.ForeignKey(Store, **DERIVED)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class StoreFigures(StoreRollup):
    """A store's figures over a day or a month (the month's rows are its days summed)."""

    car_count = models.PositiveIntegerField(_("car count"), default=0)
    sales = models.DecimalField(_("sales (incl. VAT)"), **MONEY)
    tax = models.DecimalField(_("VAT"), **MONEY)
    labour = models.DecimalField(_("labour"), **MONEY)
    parts = models.DecimalField(_("materials"), **MONEY)
    other = models.DecimalField(_("other"), **MONEY)
    discount = models.DecimalField(_("discount"), **MONEY)
    parts_cost = models.DecimalField(_("parts cost"), **COST)
    takings = models.DecimalField(_("takings"), **MONEY)
    refunds = models.DecimalField(_("refunds"), **MONEY)
    new_customers = models.PositiveIntegerField(_("new customers"), default=0)
    comebacks = models.PositiveIntegerField(_("comebacks"), default=0)
    billed_hours = models.DecimalField(_("billed hours"), **HOURS)
    clocked_hours = models.DecimalField(_("clocked hours"), **HOURS)
    # The same time exactly (microseconds): a period's total rounds like the raw entries'.
    clocked_us = models.BigIntegerField(_("clocked time (microseconds)"), default=0)
    # Estimates, dated by the day the work order was opened (as the close ratio counts them):
    # the amount of the lines the owner decided on, and of those approved.
    presented = models.DecimalField(_("amount presented"), **MONEY)
    presented_approved = models.DecimalField(_("amount approved"), **MONEY)
    # Ratings submitted that day (NPS = promoters minus detractors over surveys).
    surveys = models.PositiveIntegerField(_("surveys"), default=0)
    promoters = models.PositiveIntegerField(_("promoters"), default=0)
    detractors = models.PositiveIntegerField(_("detractors"), default=0)

    class Meta:
        abstract = True


class DailyStoreStat(StoreFigures):
    """A store-day's figures, recomputed whole from the raw rows."""

    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("daily store figures")
        verbose_name_plural = _("daily store figures")
        ordering = ["store", "day"]
        constraints = [
            models.UniqueConstraint(fields=["store", "day"], name="daily_store_stat_unique")
        ]
        # A period of a whole org (HQ): a range of days, not every row of the org.
        indexes = [models.Index(fields=["org", "day"], name="daily_store_stat_org_day")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day}"


class StaffFigures(StoreRollup):
    """One person's figures in a store over a day or a month: as advisor (orders written)
    and as technician (billed and clocked hours on the orders settled then)."""

    user = models.ForeignKey(User, **DERIVED)
    car_count = models.PositiveIntegerField(_("car count (as advisor)"), default=0)
    sales = models.DecimalField(_("sales (as advisor)"), **MONEY)
    tax = models.DecimalField(_("VAT (as advisor)"), **MONEY)
    billed_hours = models.DecimalField(_("billed hours"), **HOURS)
    clocked_hours = models.DecimalField(_("clocked hours"), **HOURS)
    # As technician: the surveys submitted then on work orders with a line of theirs
    # (each once however many of its lines they did), and of those the promoters (9–10) and
    # the detractors (0–6).
    surveys = models.PositiveIntegerField(_("surveys (as technician)"), default=0)
    promoters = models.PositiveIntegerField(_("promoters (as technician)"), default=0)
    detractors = models.PositiveIntegerField(_("detractors (as technician)"), default=0)

    class Meta:
        abstract = True


class DailyStaffStat(StaffFigures):
    """A person's figures of a store-day, recomputed with the store's."""

    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("daily staff figures")
        verbose_name_plural = _("daily staff figures")
        ordering = ["store", "day", "user"]
        constraints = [
            models.UniqueConstraint(fields=["store", "day", "user"], name="daily_staff_stat_unique")
        ]
        indexes = [models.Index(fields=["org", "day"], name="daily_staff_stat_org_day")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day} {self.user_id}"


class ItemFigures(StoreRollup):
    """An item's approved lines (grouped by the line's name) in a store over a day or a
    month: how many, their amount and their parts cost."""

    name = models.CharField(_("item"), max_length=100)
    lines = models.PositiveIntegerField(_("lines"), default=0)
    revenue = models.DecimalField(_("amount"), **MONEY)
    cost = models.DecimalField(_("parts cost"), **COST)

    class Meta:
        abstract = True


class DailyItemStat(ItemFigures):
    """One item's approved lines on a store-day's visits (grouped as the dashboard's popular
    services are). Derived like ``DailyStoreStat`` and recomputed with it."""

    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("daily item figures")
        verbose_name_plural = _("daily item figures")
        ordering = ["store", "day", "name"]
        constraints = [
            models.UniqueConstraint(fields=["store", "day", "name"], name="daily_item_stat_unique")
        ]
        indexes = [models.Index(fields=["org", "day"], name="daily_item_stat_org_day")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day} {self.name}"


class ReasonFigures(StoreRollup):
    """How often a reason was given on the low scores submitted in a store over a day or a
    month (a survey may give several)."""

    reason = models.CharField(_("reason"), max_length=40)
    n = models.PositiveIntegerField(_("times given"), default=0)

    class Meta:
        abstract = True


class DailyReasonStat(ReasonFigures):
    """How often a reason was given on the low scores submitted on a store-day (a survey may
    give several). Derived like ``DailyStoreStat`` and recomputed with it."""

    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("daily low-score reasons")
        verbose_name_plural = _("daily low-score reasons")
        ordering = ["store", "day", "reason"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "day", "reason"], name="daily_reason_stat_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day} {self.reason}"


class MonthlyItemStat(ItemFigures):
    """The ``DailyItemStat`` rows of a store-month summed (``month`` is its first day), so a
    long period reads a row per item and month instead of one per item and day."""

    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("monthly item figures")
        verbose_name_plural = _("monthly item figures")
        ordering = ["store", "month", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "month", "name"], name="monthly_item_stat_unique"
            )
        ]
        indexes = [models.Index(fields=["org", "month"], name="monthly_item_stat_org_month")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.month:%Y-%m} {self.name}"


class MonthlyStoreStat(StoreFigures):
    """The ``DailyStoreStat`` rows of a store-month summed (``month`` is its first day): a
    year of an HQ's stores is a row per store and month instead of one per day."""

    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("monthly store figures")
        verbose_name_plural = _("monthly store figures")
        ordering = ["store", "month"]
        constraints = [
            models.UniqueConstraint(fields=["store", "month"], name="monthly_store_stat_unique")
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.month:%Y-%m}"


class MonthlyStaffStat(StaffFigures):
    """The ``DailyStaffStat`` rows of a store-month summed, per person."""

    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("monthly staff figures")
        verbose_name_plural = _("monthly staff figures")
        ordering = ["store", "month", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "month", "user"], name="monthly_staff_stat_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.month:%Y-%m} {self.user_id}"


class MonthlyReasonStat(ReasonFigures):
    """The ``DailyReasonStat`` rows of a store-month summed, per reason."""

    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("monthly low-score reasons")
        verbose_name_plural = _("monthly low-score reasons")
        ordering = ["store", "month", "reason"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "month", "reason"], name="monthly_reason_stat_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.month:%Y-%m} {self.reason}"


class PeriodFigure(models.Model):
    """A figure that does not add up per store-day (a customer counts once in a period,
    whatever the days and stores of their visits; a booking is counted by its own day), kept
    by the worker for the dashboard's usual periods over each store, each region and the
    whole org. ``stores_key`` names the set of stores (``figures.stores_key``), so a
    basis finds its figure whatever the role that reads it."""

    scope_org = "org"
    # Not one store's row: a reader finds only the key of the set of stores it sees itself.
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    stores_key = models.CharField(max_length=40)
    start = models.DateField(_("from"))
    end = models.DateField(_("to"))
    code = models.CharField(_("metric"), max_length=40)
    value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("period figure")
        verbose_name_plural = _("period figures")
        constraints = [
            models.UniqueConstraint(
                fields=["org", "stores_key", "start", "end", "code"], name="period_figure_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.start}–{self.end}"


class CustomerRFM(models.Model):
    """A customer's RFM scores (1–5 quintiles within their org, 5 best), recomputed whole by
    the worker (``reports.rfm.compute``); derived data, so not audited."""

    scope_org = "org"
    scope_store = "store"

    customer = models.OneToOneField("customers.Customer", primary_key=True, **DERIVED)
    org = models.ForeignKey(Organization, **DERIVED)
    store = models.ForeignKey(Store, **DERIVED)
    recency_days = models.IntegerField(_("days since last visit"))
    frequency = models.PositiveIntegerField(_("visits"))
    monetary = models.DecimalField(_("lifetime spend"), **MONEY)
    r = models.PositiveSmallIntegerField("R")
    f = models.PositiveSmallIntegerField("F")
    m = models.PositiveSmallIntegerField("M")
    segment = models.CharField(_("segment"), max_length=20)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("RFM score")
        verbose_name_plural = _("RFM scores")
        indexes = [
            models.Index(fields=["org", "segment", "store"], name="rfm_org_segment_store"),
            models.Index(fields=["store", "segment"], name="rfm_store_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.r}{self.f}{self.m} {self.segment}"


class SavedReport(models.Model):
    """A report someone built with the report builder: a dataset, up to three dimensions,
    measures and a condition tree; run on the viewer's scope (``reports.builder.run``)."""

    scope_org = "org"
    scope_store = None

    class Chart(models.TextChoices):
        BAR = "bar", _("Bar chart")
        LINE = "line", _("Line chart")
        PIE = "pie", _("Pie chart")
        TABLE = "table", _("Table")
        PIVOT = "pivot", _("Pivot table")

    class Schedule(models.TextChoices):
        NONE = "", _("Not scheduled")
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")
        MONTHLY = "monthly", _("Monthly")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=80)
    dataset = models.CharField(_("dataset"), max_length=20)
    dimensions = models.JSONField(_("dimensions"), default=list, blank=True)
    measures = models.JSONField(_("measures"), default=list, blank=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    period = models.CharField(_("period"), max_length=20, default="last_12_months")
    chart = models.CharField(_("chart"), max_length=10, choices=Chart.choices, default="bar")
    shared_roles = models.JSONField(_("shared with roles"), default=list, blank=True)
    pinned = models.BooleanField(_("pinned to the dashboard"), default=False)
    schedule = models.CharField(
        _("schedule"), max_length=10, choices=Schedule.choices, default="", blank=True
    )
    recipients = models.JSONField(_("email recipients"), default=list, blank=True)
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("saved report")
        verbose_name_plural = _("saved reports")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["org", "owner"], name="savedreport_org_owner")]

    def __str__(self) -> str:
        return self.name


class RollupPending(models.Model):
    """Work orders whose store-days wait to be recomputed. Events only add a row; the worker
    takes whatever has piled up and recomputes each store-day once, so a busy store settling
    many orders at once costs one recompute per batch rather than one per order."""

    scope_org = None  # the worker's own bookkeeping, never read by people
    scope_store = None

    work_order_id = models.BigIntegerField()
    previous_days = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pending rollup")
        verbose_name_plural = _("pending rollups")

    def __str__(self) -> str:
        return f"work order {self.work_order_id}"
