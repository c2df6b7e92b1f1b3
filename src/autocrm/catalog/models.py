"""What a shop sells: labour items, parts and service packages (canned jobs), with per-store
prices and member prices by membership level."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from autocrm.core.models import Organization, Store, TimeStampedModel


class Category(models.TextChoices):
    """The cost categories of the national settlement list (JT/T 1133-2017)."""

    DIAGNOSIS = "diagnosis", _("Diagnosis")
    TESTING = "testing", _("Testing")
    MATERIAL = "material", _("Materials")
    LABOUR = "labour", _("Labour")
    PROCESSING = "processing", _("Processing")
    OTHER = "other", _("Other")


class RepairClass(models.TextChoices):
    """The repair classes the national warranty minimums are defined for."""

    VEHICLE = "vehicle", _("Whole-vehicle repair")
    ASSEMBLY = "assembly", _("Assembly repair")
    SECOND = "second", _("Second-level maintenance")
    FIRST = "first", _("First-level maintenance")
    MINOR = "minor", _("Minor repair")
    SPECIAL = "special", _("Special repair")


class LabourItem(TimeStampedModel):
    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    hours = models.DecimalField(_("standard hours"), max_digits=6, decimal_places=2, default=1)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    category = models.CharField(
        _("category"), max_length=12, choices=Category.choices, default=Category.LABOUR
    )
    repair_class = models.CharField(
        _("repair class"), max_length=10, choices=RepairClass.choices, default=RepairClass.MINOR
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("labour item")
        verbose_name_plural = _("labour items")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="labour_code_unique_in_org")
        ]

    def __str__(self) -> str:
        return self.name


class Part(TimeStampedModel):
    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    brand = models.CharField(_("brand"), max_length=40, blank=True)
    spec = models.CharField(_("specification"), max_length=60, blank=True)
    unit = models.CharField(_("unit"), max_length=10, default="个")
    price = models.DecimalField(_("sale price"), max_digits=12, decimal_places=2)
    cost = models.DecimalField(_("cost"), max_digits=12, decimal_places=2, default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("part")
        verbose_name_plural = _("parts")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="part_code_unique_in_org")
        ]

    def __str__(self) -> str:
        return self.name


class ServicePackage(TimeStampedModel):
    """A canned job (小保养, 四轮定位, 功放安装): labour and parts added to a work order at once."""

    scope_org = "org"
    scope_store = None

    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    repair_class = models.CharField(
        _("repair class"), max_length=10, choices=RepairClass.choices, default=RepairClass.MINOR
    )
    bookable = models.BooleanField(_("bookable online"), default=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service package")
        verbose_name_plural = _("service packages")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="package_code_unique_in_org")
        ]

    def __str__(self) -> str:
        return self.name


class PackageItem(models.Model):
    scope_org = "package__org"
    scope_store = None

    package = models.ForeignKey(ServicePackage, on_delete=models.CASCADE, related_name="items")
    labour = models.ForeignKey(LabourItem, on_delete=models.PROTECT, null=True, blank=True)
    part = models.ForeignKey(Part, on_delete=models.PROTECT, null=True, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=2, default=1)
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("package item")
        verbose_name_plural = _("package items")
        ordering = ["sort", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(labour__isnull=False, part__isnull=True)
                | models.Q(labour__isnull=True, part__isnull=False),
                name="package_item_labour_or_part",
            )
        ]

    def __str__(self) -> str:
        return str(self.labour or self.part)


class StorePrice(models.Model):
    """A store's own price for a catalog item, and member prices by membership level
    (``{"金卡": "88.00"}``); without a row the catalog price applies."""

    scope_org = "store__org"
    scope_store = "store"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    labour = models.ForeignKey(LabourItem, on_delete=models.CASCADE, null=True, blank=True)
    part = models.ForeignKey(Part, on_delete=models.CASCADE, null=True, blank=True)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    member_prices = models.JSONField(_("member prices"), default=dict, blank=True)

    class Meta:
        verbose_name = _("store price")
        verbose_name_plural = _("store prices")
        constraints = [
            models.UniqueConstraint(fields=["store", "labour"], name="store_price_labour"),
            models.UniqueConstraint(fields=["store", "part"], name="store_price_part"),
            models.CheckConstraint(
                condition=models.Q(labour__isnull=False, part__isnull=True)
                | models.Q(labour__isnull=True, part__isnull=False),
                name="store_price_labour_or_part",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store}: {self.labour or self.part} {self.price}"
