"""Customers, vehicles, ownership, mileage, tags and the interaction timeline.

Search at a million customers must stay an index lookup, so the searchable forms of names,
mobiles, VINs and plates are stored in their own indexed columns (pinyin, last digits) and
``PlateKey`` rows (every suffix of the plate without its province), which turn "any part of a
plate" into a prefix search."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from autocrm.core.models import Organization, Store, TimeStampedModel, User


class SourceChannel(TimeStampedModel):
    """Where customers come from; an editable list per organisation."""

    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sources")
    name = models.CharField(_("name"), max_length=40)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("source channel")
        verbose_name_plural = _("source channels")
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="source_name_unique_in_org")
        ]

    def __str__(self) -> str:
        return self.name


class Tag(TimeStampedModel):
    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="tags")
    name = models.CharField(_("name"), max_length=30)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="tag_unique_in_org")]

    def __str__(self) -> str:
        return self.name


class Customer(TimeStampedModel):
    scope_org = "org"
    scope_store = "home_store"

    class Kind(models.TextChoices):
        PERSON = "person", pgettext_lazy("customer type", "Person")
        COMPANY = "company", _("Company / fleet")

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Not given")
        MALE = "m", _("Male")
        FEMALE = "f", _("Female")

    # Both lead a composite index in Meta (cust_mobile …, cust_store_recent).
    org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="customers", db_index=False
    )
    home_store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("home store"),
        db_index=False,
    )
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=100)
    name_pinyin = models.CharField(max_length=200, blank=True, editable=False)
    name_initials = models.CharField(max_length=60, blank=True, editable=False)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    mobile_tail = models.CharField(max_length=4, blank=True, editable=False)
    other_contacts = models.CharField(_("other contacts"), max_length=200, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    wechat_id = models.CharField(_("WeChat id"), max_length=60, blank=True)
    source = models.ForeignKey(
        SourceChannel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("source"),
    )
    referrer = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
    )
    level = models.CharField(_("membership level"), max_length=30, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    preferences = models.JSONField(_("preferences"), default=dict, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    company_tax_id = models.CharField(_("taxpayer id"), max_length=30, blank=True)
    consent_sms = models.BooleanField(_("SMS marketing consent"), default=False)
    consent_sms_at = models.DateTimeField(null=True, blank=True)
    consent_sms_how = models.CharField(max_length=60, blank=True)
    consent_wechat = models.BooleanField(_("WeChat marketing consent"), default=False)
    consent_wechat_at = models.DateTimeField(null=True, blank=True)
    consent_wechat_how = models.CharField(max_length=60, blank=True)
    # Figures kept up to date by visits (work orders); read by lists and the 360° page.
    visit_count = models.PositiveIntegerField(_("visits"), default=0)
    lifetime_spend = models.DecimalField(
        _("lifetime spend"), max_digits=12, decimal_places=2, default=0
    )
    first_visit_at = models.DateTimeField(_("first visit"), null=True, blank=True)
    last_visit_at = models.DateTimeField(_("last visit"), null=True, blank=True, db_index=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "mobile"],
                condition=~Q(mobile="") & Q(merged_into__isnull=True),
                name="customer_mobile_unique_in_org",
            )
        ]
        indexes = [
            models.Index(fields=["org", "mobile_tail"], name="cust_mobile_tail"),
            # Full-mobile lookups: the unique constraint is a partial index, which SQLite's
            # planner cannot use for ``mobile = ?`` (it measured 400 ms at a million rows).
            models.Index(fields=["org", "mobile"], name="cust_mobile"),
            # Prefix search; varchar_pattern_ops lets PostgreSQL use them for LIKE 'x%'
            # whatever the database collation (other databases ignore opclasses).
            models.Index(
                fields=["org", "name"],
                name="cust_name",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["org", "name_pinyin"],
                name="cust_pinyin",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["org", "name_initials"],
                name="cust_initials",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(fields=["home_store", "-id"], name="cust_store_recent"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.merged_into_id is None and self.erased_at is None


class DailyKmSource(models.TextChoices):
    OWN = "own", _("this vehicle's readings")
    STORE = "store", _("store median")
    DEFAULT = "default", _("default value")


class Vehicle(TimeStampedModel):
    scope_org = "org"
    scope_store = "home_store"

    class Fuel(models.TextChoices):
        PETROL = "petrol", _("Petrol")
        DIESEL = "diesel", _("Diesel")
        HYBRID = "hybrid", _("Hybrid")
        PLUGIN = "plugin", _("Plug-in hybrid")
        ELECTRIC = "electric", _("Electric")

    # Leads the composite indexes in Meta (veh_plate, veh_vin, …).
    org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="vehicles", db_index=False
    )
    home_store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="vehicles", verbose_name=_("home store")
    )
    owner = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vehicles",
        verbose_name=_("owner"),
    )
    plate = models.CharField(_("plate"), max_length=10, blank=True)
    plate_active = models.BooleanField(default=True)
    vin = models.CharField(_("VIN"), max_length=17, blank=True)
    vin_tail = models.CharField(max_length=6, blank=True, editable=False)
    vin_check_ok = models.BooleanField(default=True)
    brand = models.CharField(_("brand"), max_length=40, blank=True)
    model = models.CharField(_("model"), max_length=60, blank=True)
    model_year = models.PositiveSmallIntegerField(_("model year"), null=True, blank=True)
    fuel = models.CharField(_("fuel"), max_length=10, choices=Fuel.choices, blank=True)
    color = models.CharField(_("colour"), max_length=20, blank=True)
    engine_no = models.CharField(_("engine number"), max_length=30, blank=True)
    registered_on = models.DateField(_("registration date"), null=True, blank=True)
    purchased_on = models.DateField(_("purchase date"), null=True, blank=True)
    insurer = models.CharField(_("insurer"), max_length=40, blank=True)
    insurance_expires_on = models.DateField(
        _("insurance expires"), null=True, blank=True, db_index=True
    )
    inspection_due_on = models.DateField(_("annual inspection due"), null=True, blank=True)
    current_mileage = models.PositiveIntegerField(_("current mileage (km)"), null=True, blank=True)
    mileage_read_on = models.DateField(_("mileage read on"), null=True, blank=True)
    last_service_on = models.DateField(_("last service"), null=True, blank=True)
    last_service_km = models.PositiveIntegerField(
        _("mileage at last service"), null=True, blank=True
    )
    # Maintenance prediction, derived from the readings and the last service by
    # ``customers.maintenance`` (never edited, not audited): how far the car goes a day and
    # where that figure comes from, and when (and at about what odometer reading) it is next
    # due. The rules engine's "maintenance due" rule scans ``service_due_on``.
    daily_km = models.DecimalField(
        _("daily mileage (km)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    daily_km_source = models.CharField(
        _("daily mileage from"),
        max_length=8,
        choices=DailyKmSource.choices,
        blank=True,
        default="",
        db_default="",
    )
    service_due_on = models.DateField(_("next service due"), null=True, blank=True)
    service_due_km = models.PositiveIntegerField(
        _("mileage at next service"), null=True, blank=True
    )
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "plate"],
                condition=~Q(plate="") & Q(plate_active=True),
                name="vehicle_active_plate_unique_in_org",
            ),
            models.UniqueConstraint(
                fields=["org", "vin"], condition=~Q(vin=""), name="vehicle_vin_unique_in_org"
            ),
        ]
        indexes = [
            models.Index(fields=["org", "vin_tail"], name="veh_vin_tail"),
            # Exact plate / VIN lookups and duplicate checks: SQLite cannot use the partial
            # unique indexes for ``plate = ?`` (see cust_mobile).
            models.Index(fields=["org", "plate"], name="veh_plate"),
            models.Index(fields=["org", "vin"], name="veh_vin"),
            models.Index(fields=["org", "brand"], name="veh_brand"),
            models.Index(fields=["service_due_on"], name="veh_service_due"),
        ]

    def __str__(self) -> str:
        return self.plate or self.vin or f"#{self.pk}"


class PlateKey(models.Model):
    """Every suffix (≥ 2 characters) of a plate without its province: a fragment anywhere in
    the plate is a prefix of one of them, found through the index."""

    scope_org = "org"
    scope_store = "home_store"

    # Leads platekey_lookup (org, key).
    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="plate_keys")
    key = models.CharField(max_length=8)
    # A copy of ``vehicle.home_store``, so that a store's search reads one index range
    # (home_store, key) instead of joining every matching key to its vehicle (26 → 1.4 ms on
    # SQLite, 57 → 3.7 ms on PostgreSQL at a million vehicles). Every writer of plate keys or
    # of a vehicle's home store keeps it in step (``services.sync_plate_key_store``).
    home_store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="+", db_index=False
    )

    class Meta:
        verbose_name = _("plate search key")
        verbose_name_plural = _("plate search keys")
        indexes = [
            models.Index(
                fields=["org", "key"],
                name="platekey_lookup",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["home_store", "key"],
                name="platekey_store_lookup",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Ownership(models.Model):
    """Who owned a vehicle when: a transfer closes one period and opens the next."""

    scope_org = "vehicle__org"
    scope_store = "vehicle__home_store"

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="ownerships")
    # Leads ownership_customer (customer, started_at).
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="ownerships", db_index=False
    )
    started_at = models.DateTimeField(_("from"), default=timezone.now)
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("ownership")
        verbose_name_plural = _("ownerships")
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["customer", "started_at"], name="ownership_customer")]

    def __str__(self) -> str:
        return f"{self.vehicle} → {self.customer}"


class MileageReading(models.Model):
    scope_org = "vehicle__org"
    scope_store = "vehicle__home_store"

    class Source(models.TextChoices):
        VISIT = "visit", _("Visit")
        CUSTOMER = "customer", _("Told by customer")
        IMPORT = "import", _("Import")
        MANUAL = "manual", _("Entered by staff")
        CORRECTION = "correction", _("Correction")

    # Leads mileage_vehicle (vehicle, read_on).
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, related_name="mileage", db_index=False
    )
    km = models.PositiveIntegerField(_("mileage (km)"))
    read_on = models.DateField(_("date"))
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("mileage reading")
        verbose_name_plural = _("mileage readings")
        ordering = ["-read_on", "-id"]
        indexes = [
            models.Index(fields=["vehicle", "-read_on"], name="mileage_vehicle"),
            # A correction restarts the series the daily mileage is estimated from; the
            # nightly estimate finds the few corrections here instead of reading every row.
            models.Index(
                fields=["vehicle", "read_on"],
                condition=Q(source="correction"),
                name="mileage_corrections",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.km} km @ {self.read_on}"


class StoreMileage(models.Model):
    """A store's median daily mileage over its vehicles that have an estimate of their own:
    the figure for its vehicles that do not. Derived nightly by ``maintenance.refresh`` and
    written in bulk (so not audited); a per-vehicle refresh reads it instead of sorting the
    store's vehicles on every new reading."""

    scope_org = "store__org"
    scope_store = "store"

    store = models.OneToOneField(
        Store, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    daily_km = models.DecimalField(_("median daily mileage (km)"), max_digits=5, decimal_places=1)
    vehicles = models.PositiveIntegerField(_("vehicles with an estimate"), default=0)
    computed_on = models.DateField(_("computed on"))

    class Meta:
        verbose_name = _("store daily mileage")
        verbose_name_plural = _("store daily mileage")

    def __str__(self) -> str:
        return f"{self.store_id}: {self.daily_km} km/day"


class Interaction(models.Model):
    """One entry of the customer's timeline: a note, a call, a visit, a quote, a message."""

    scope_org = "org"
    scope_store = "store"

    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        CALL = "call", _("Call")
        VISIT = "visit", _("Visit")
        CONSULTATION = "consultation", _("Consultation")
        QUOTE = "quote", _("Quote")
        MESSAGE = "message", _("Message")
        SYSTEM = "system", _("System")

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    # Leads interaction_timeline (customer, occurred_at).
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.SET_NULL, null=True, blank=True, related_name="interactions"
    )
    kind = models.CharField(_("type"), max_length=14, choices=Kind.choices)
    summary = models.CharField(_("summary"), max_length=200)
    body = models.TextField(_("details"), blank=True)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    staff = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="interaction_timeline")]

    def __str__(self) -> str:
        return self.summary
