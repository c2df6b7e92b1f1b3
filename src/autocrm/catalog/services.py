"""Every write to the catalog: labour items, parts, service packages and store prices.

The org catalog belongs to headquarters (``catalog.manage``); a store's own prices and member
prices belong to the managers of that store (``prices.manage`` within their scope). Items that
work orders, appointments or packages already refer to are deactivated, never deleted, so old
documents keep their meaning."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from autocrm.catalog.models import (
    Category,
    LabourItem,
    PackageItem,
    Part,
    RepairClass,
    ServicePackage,
    StorePrice,
)
from autocrm.core import audit, scoping
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import Store, User
from autocrm.core.services import check_errors as _check
from autocrm.core.services import require
from autocrm.core.validators import normalize_text, parse_money, parse_positive

MAX_HOURS = Decimal("9999.99")
MAX_QUANTITY = Decimal("99999999.99")
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._/-]*$")
LEVEL_MAX = 30  # Customer.level

LABOUR_FIELDS = ("code", "name", "hours", "price", "category", "repair_class", "is_active")
PART_FIELDS = ("code", "name", "brand", "spec", "unit", "price", "cost", "is_active")
PACKAGE_FIELDS = ("code", "name", "repair_class", "bookable", "is_active")


# --- input checks -------------------------------------------------------------------------


def _hours(value):
    return parse_positive(
        value,
        limit=MAX_HOURS,
        empty=_("Enter the standard hours."),
        bad=_("Standard hours must be more than 0, e.g. 1.5."),
    )


def _quantity(value):
    return parse_positive(
        value,
        limit=MAX_QUANTITY,
        empty=_("Enter the quantity."),
        bad=_("The quantity must be more than 0."),
    )


def _text(data: dict, key: str, limit: int, *, required: str | None = None) -> str | None:
    """Normalise ``data[key]`` in place; returns an error message or None."""
    value = normalize_text(data.get(key))
    data[key] = value
    if required and not value:
        return required
    if len(value) > limit:
        return _("At most %(n)d characters.") % {"n": limit}
    return None


def _code_error(code: str, limit: int) -> str | None:
    if not code:
        return _("Enter a code.")
    if len(code) > limit:
        return _("At most %(n)d characters.") % {"n": limit}
    if not CODE_RE.match(code):
        return _("Use letters, digits and - _ . / only, e.g. BY-001.")
    return None


def _unique_code(model, actor: User, code: str, current=None) -> None:
    dupes = model.objects.filter(org_id=actor.org_id, code=code)
    if current is not None:
        dupes = dupes.exclude(pk=current.pk)
    if dupes.exists():
        raise Conflict(
            _("Another item of the catalog already uses this code."),
            fields={"code": _("Already used in your organization.")},
        )


def _common(
    data: dict, errors: dict, *, creating: bool, code_limit: int, classed: bool = True
) -> None:
    if creating or "code" in data:
        data["code"] = normalize_text(data.get("code")).upper()
        errors["code"] = _code_error(data["code"], code_limit)
    if creating or "name" in data:
        errors["name"] = _text(data, "name", 100, required=_("Enter a name."))
    if classed and ("repair_class" in data or creating):
        data["repair_class"] = data.get("repair_class") or RepairClass.MINOR
        if data["repair_class"] not in RepairClass.values:
            errors["repair_class"] = _("Choose a repair class from the list.")
    if "is_active" in data:
        data["is_active"] = bool(data["is_active"])


def _in_org(actor: User, obj) -> None:
    if obj.org_id != actor.org_id:
        raise NotFound()


def _in_use(obj) -> bool:
    """Whether anything outside the object's own catalog rows refers to it (work order lines,
    appointments, packages, cards…). Its store prices and a package's own items do not count."""
    for rel in obj._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and rel.is_relation):
            continue
        model = rel.related_model
        if model is StorePrice or (model is PackageItem and isinstance(obj, ServicePackage)):
            continue
        if model._base_manager.filter(**{rel.field.name: obj}).exists():
            return True
    return False


def _check_not_in_active_package(obj) -> None:
    """An active package must stay usable: work orders only take active items."""
    if isinstance(obj, ServicePackage):
        return
    field = "labour" if isinstance(obj, LabourItem) else "part"
    names = list(
        ServicePackage.objects.filter(is_active=True, **{f"items__{field}": obj})
        .distinct()
        .order_by("code")
        .values_list("name", flat=True)[:5]
    )
    if names:
        raise Conflict(
            _("%(name)s is in active packages (%(packages)s): remove it from them first.")
            % {"name": obj.name, "packages": "、".join(names)},
            fields={"is_active": _("Still in an active package.")},
        )


def _retire(obj) -> bool:
    """Delete ``obj`` when nothing refers to it, else deactivate it. True when deleted."""
    _check_not_in_active_package(obj)
    if _in_use(obj):
        if obj.is_active:
            obj.is_active = False
            obj.save()
        return False
    # The item's own rows first, one by one, so each deletion is audited with a readable name.
    if isinstance(obj, ServicePackage):
        own = PackageItem.objects.filter(package=obj).select_related("labour", "part")
    else:
        field = "labour" if isinstance(obj, LabourItem) else "part"
        own = StorePrice.objects.filter(**{field: obj}).select_related("store", field)
    for row in own:
        row.delete()
    obj.delete()
    return True


# --- labour items and parts --------------------------------------------------------------


def _clean_labour(actor: User, data: dict, item: LabourItem | None) -> dict:
    data = {k: data[k] for k in LABOUR_FIELDS if k in data}
    creating = item is None
    errors: dict = {}
    _common(data, errors, creating=creating, code_limit=30)
    if creating or "hours" in data:
        data["hours"], errors["hours"] = _hours(data.get("hours", "1"))
    if creating or "price" in data:
        data["price"], errors["price"] = parse_money(data.get("price"))
    if creating or "category" in data:
        data["category"] = data.get("category") or Category.LABOUR
        if data["category"] not in Category.values:
            errors["category"] = _("Choose a settlement category from the list.")
    _check(errors)
    if "code" in data:
        _unique_code(LabourItem, actor, data["code"], item)
    return data


def _clean_part(actor: User, data: dict, part: Part | None) -> dict:
    data = {k: data[k] for k in PART_FIELDS if k in data}
    creating = part is None
    errors: dict = {}
    _common(data, errors, creating=creating, code_limit=40, classed=False)
    if creating or "brand" in data:
        errors["brand"] = _text(data, "brand", 40)
    if creating or "spec" in data:
        errors["spec"] = _text(data, "spec", 60)
    if creating or "unit" in data:
        data.setdefault("unit", "个")
        errors["unit"] = _text(data, "unit", 10, required=_("Enter the unit, e.g. 个, 升, 套."))
    if creating or "price" in data:
        data["price"], errors["price"] = parse_money(data.get("price"))
    if creating or "cost" in data:
        cost = data.get("cost")
        data["cost"], errors["cost"] = parse_money(0 if cost in (None, "") else cost)
    _check(errors)
    price = data.get("price", part.price if part else None)
    cost = data.get("cost", part.cost if part else None)
    if price is not None and cost is not None and cost > price:
        raise Invalid(
            fields={"cost": _("The cost is higher than the sale price; check both amounts.")}
        )
    if "code" in data:
        _unique_code(Part, actor, data["code"], part)
    return data


# The two kinds of catalog item: their model and how their input is checked.
ITEM_KINDS = {"labour": (LabourItem, _clean_labour), "part": (Part, _clean_part)}


def _kind_of(item: LabourItem | Part) -> str:
    return "labour" if isinstance(item, LabourItem) else "part"


@audit.by_actor
@transaction.atomic
def create_item(actor: User, kind: str, **data) -> LabourItem | Part:
    """A labour item (``kind`` "labour") or a part ("part") of the org's catalog."""
    require(actor, "catalog.manage")
    model, clean = ITEM_KINDS[kind]
    return model.objects.create(org_id=actor.org_id, **clean(actor, data, None))


@audit.by_actor
@transaction.atomic
def update_item(actor: User, item: LabourItem | Part, **data) -> LabourItem | Part:
    require(actor, "catalog.manage")
    _in_org(actor, item)
    clean = ITEM_KINDS[_kind_of(item)][1](actor, data, item)
    if item.is_active and clean.get("is_active") is False:
        _check_not_in_active_package(item)
    for key, value in clean.items():
        setattr(item, key, value)
    item.save()
    return item


@audit.by_actor
@transaction.atomic
def retire_item(actor: User, item: LabourItem | Part) -> bool:
    """Delete an item nobody used yet, else deactivate it. True when deleted."""
    require(actor, "catalog.manage")
    _in_org(actor, item)
    return _retire(item)


def create_labour(actor: User, **data) -> LabourItem:
    return create_item(actor, "labour", **data)


def update_labour(actor: User, item: LabourItem, **data) -> LabourItem:
    return update_item(actor, item, **data)


def retire_labour(actor: User, item: LabourItem) -> bool:
    return retire_item(actor, item)


def create_part(actor: User, **data) -> Part:
    return create_item(actor, "part", **data)


def update_part(actor: User, part: Part, **data) -> Part:
    return update_item(actor, part, **data)


def retire_part(actor: User, part: Part) -> bool:
    return retire_item(actor, part)


# --- service packages ---------------------------------------------------------------------


def _named_item(actor: User, labour_id, part_id) -> tuple[LabourItem | Part | None, str | None]:
    """The org's labour item or part named by exactly one of ``labour_id`` and ``part_id``
    (``None`` when there is no such item), or the reason why no single item is named."""
    if bool(labour_id) == bool(part_id):
        return None, _("Choose either a labour item or a part.")
    model = LabourItem if labour_id else Part
    try:
        pk = int(labour_id or part_id)
    except (TypeError, ValueError):
        return None, None
    return model.objects.filter(org_id=actor.org_id, pk=pk).first(), None


def _split(item: LabourItem | Part) -> tuple[LabourItem | None, Part | None]:
    return (item, None) if isinstance(item, LabourItem) else (None, item)


def _item_target(actor: User, spec: dict, errors: dict, key: str) -> tuple:
    """The active labour item or part a package line names (``labour_id`` or ``part_id``);
    ``(None, None)`` with ``errors[key]`` set when it names none."""
    target, error = _named_item(actor, spec.get("labour_id"), spec.get("part_id"))
    if error is None and target is None:
        error = _("Choose an item of your catalog.")
    elif target is not None and not target.is_active:
        error = _("%(name)s is deactivated; choose an active item.") % {"name": target}
    if error:
        errors[key] = error
        return None, None
    return _split(target)


def _clean_items(actor: User, items: Iterable[dict]) -> list[PackageItem]:
    items = list(items or [])
    if not items:
        raise Invalid(fields={"items": _("A package needs at least one labour item or part.")})
    rows: list[PackageItem] = []
    errors: dict = {}
    for i, spec in enumerate(items):
        labour, part = _item_target(actor, spec, errors, f"items.{i}")
        quantity, errors[f"items.{i}.quantity"] = _quantity(spec.get("quantity", "1"))
        rows.append(PackageItem(labour=labour, part=part, quantity=quantity, sort=i + 1))
    _check(errors)
    return rows


def _clean_package(actor: User, data: dict, package: ServicePackage | None) -> dict:
    data = {k: data[k] for k in PACKAGE_FIELDS if k in data}
    errors: dict = {}
    _common(data, errors, creating=package is None, code_limit=30)
    if "bookable" in data:
        data["bookable"] = bool(data["bookable"])
    _check(errors)
    if "code" in data:
        _unique_code(ServicePackage, actor, data["code"], package)
    return data


@audit.by_actor
@transaction.atomic
def create_package(actor: User, *, items: Iterable[dict] = (), **data) -> ServicePackage:
    """A canned job with its lines; ``items`` are ``{"labour_id"|"part_id", "quantity"}``."""
    require(actor, "catalog.manage")
    clean = _clean_package(actor, data, None)
    rows = _clean_items(actor, items)
    package = ServicePackage.objects.create(org_id=actor.org_id, **clean)
    for row in rows:
        row.package = package
        row.save()
    return package


@audit.by_actor
@transaction.atomic
def update_package(
    actor: User, package: ServicePackage, *, items: Iterable[dict] | None = None, **data
) -> ServicePackage:
    """Change the package's fields; when ``items`` is given it replaces all lines."""
    require(actor, "catalog.manage")
    _in_org(actor, package)
    clean = _clean_package(actor, data, package)
    rows = _clean_items(actor, items) if items is not None else None
    for key, value in clean.items():
        setattr(package, key, value)
    package.save()
    if rows is not None:
        for old in package.items.all():
            old.delete()
        for row in rows:
            row.package = package
            row.save()
    return package


@audit.by_actor
@transaction.atomic
def add_package_item(
    actor: User, package: ServicePackage, *, labour_id=None, part_id=None, quantity="1"
) -> PackageItem:
    require(actor, "catalog.manage")
    _in_org(actor, package)
    errors: dict = {}
    labour, part = _item_target(actor, {"labour_id": labour_id, "part_id": part_id}, errors, "item")
    qty, errors["quantity"] = _quantity(quantity)
    _check(errors)
    same = package.items.filter(labour=labour, part=part).first()
    if same is not None:  # the same item again: more of it, not a second line
        same.quantity += qty
        if same.quantity > MAX_QUANTITY:
            raise Invalid(fields={"quantity": _("This number is too large.")})
        same.save()
        return same
    last = max((i.sort for i in package.items.all()), default=0)
    return PackageItem.objects.create(
        package=package, labour=labour, part=part, quantity=qty, sort=last + 1
    )


def _item_of(actor: User, package: ServicePackage, item: PackageItem) -> None:
    _in_org(actor, package)
    if item.package_id != package.pk:
        raise NotFound()


@audit.by_actor
@transaction.atomic
def set_package_item_quantity(
    actor: User, package: ServicePackage, item: PackageItem, quantity
) -> PackageItem:
    require(actor, "catalog.manage")
    _item_of(actor, package, item)
    qty, error = _quantity(quantity)
    _check({"quantity": error})
    item.quantity = qty
    item.save()
    return item


@audit.by_actor
@transaction.atomic
def remove_package_item(actor: User, package: ServicePackage, item: PackageItem) -> None:
    require(actor, "catalog.manage")
    _item_of(actor, package, item)
    if package.items.count() <= 1:
        raise Invalid(
            _("A package needs at least one item: add another before removing this one."),
            fields={"items": _("A package needs at least one labour item or part.")},
        )
    item.delete()
    _renumber(list(package.items.all()))


def _renumber(items: list[PackageItem]) -> None:
    for n, item in enumerate(items, start=1):
        if item.sort != n:
            item.sort = n
            item.save(update_fields=["sort"])


@audit.by_actor
@transaction.atomic
def reorder_package_items(actor: User, package: ServicePackage, item_ids: list[int]) -> None:
    """Put the package's lines in the order given (every line exactly once)."""
    require(actor, "catalog.manage")
    _in_org(actor, package)
    items = {i.pk: i for i in package.items.all()}
    try:
        ids = [int(i) for i in item_ids]
    except (TypeError, ValueError):
        ids = []
    if sorted(ids) != sorted(items):
        raise Invalid(fields={"items": _("List every line of the package exactly once.")})
    _renumber([items[i] for i in ids])


@audit.by_actor
@transaction.atomic
def move_package_item(actor: User, package: ServicePackage, item: PackageItem, step: int) -> None:
    """Move a line one place up (``-1``) or down (``+1``)."""
    require(actor, "catalog.manage")
    _item_of(actor, package, item)
    items = list(package.items.all())
    at = next(n for n, i in enumerate(items) if i.pk == item.pk)
    to = at + (1 if step > 0 else -1)
    if 0 <= to < len(items):
        items[at], items[to] = items[to], items[at]
    _renumber(items)


@audit.by_actor
@transaction.atomic
def retire_package(actor: User, package: ServicePackage) -> bool:
    """Delete a package nobody used yet, else deactivate it. True when deleted."""
    require(actor, "catalog.manage")
    _in_org(actor, package)
    return _retire(package)


# --- store prices -------------------------------------------------------------------------


def _price_store(actor: User, store: Store) -> None:
    require(actor, "prices.manage")
    if store.org_id != actor.org_id or not scoping.can_see_store(actor, store.pk):
        raise NotFound()


def clean_member_prices(value, store_price: Decimal | None) -> dict[str, str]:
    """``{level name: "88.00"}``: names trimmed and non-empty, prices valid and not above the
    store's price (a member never pays more than a walk-in customer)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise Invalid(fields={"member_prices": _("Give member prices as level name and price.")})
    clean: dict[str, str] = {}
    errors: dict = {}
    for raw_level, raw_price in value.items():
        level = normalize_text(str(raw_level or ""))
        key = f"member_prices.{level or raw_level}"
        if not level:
            errors["member_prices"] = _("Each member price needs a membership level name.")
            continue
        if len(level) > LEVEL_MAX:
            errors[key] = _("A level name has at most %(n)d characters.") % {"n": LEVEL_MAX}
            continue
        if level in clean:
            errors[key] = _("The level %(level)s is listed twice.") % {"level": level}
            continue
        amount, error = parse_money(raw_price)
        if error:
            errors[key] = error
            continue
        if store_price is not None and amount > store_price:
            errors[key] = _("A member price cannot be higher than the store price.")
            continue
        clean[level] = str(amount)
    _check(errors)
    return clean


def _catalog_item(actor: User, labour_id, part_id) -> tuple:
    target, error = _named_item(actor, labour_id, part_id)
    if error:
        raise Invalid(fields={"item": error})
    if target is None:
        raise NotFound(_("This catalog item does not exist."))
    return _split(target)


@audit.by_actor
@transaction.atomic
def set_store_price(
    actor: User,
    store: Store,
    *,
    labour_id=None,
    part_id=None,
    price=None,
    member_prices: dict | None = None,
) -> StorePrice:
    """Create or change a store's price for a labour item or part (one row per item)."""
    _price_store(actor, store)
    labour, part = _catalog_item(actor, labour_id, part_id)
    amount, error = parse_money(price)
    _check({"price": error})
    members = clean_member_prices(member_prices, amount)
    row = StorePrice.objects.filter(store=store, labour=labour, part=part).first()
    if row is None:
        return StorePrice.objects.create(
            store=store, labour=labour, part=part, price=amount, member_prices=members
        )
    row.price, row.member_prices = amount, members
    row.save()
    return row


@audit.by_actor
@transaction.atomic
def remove_store_price(actor: User, row: StorePrice) -> None:
    """Back to the catalog price for this store."""
    _price_store(actor, row.store)
    row.delete()
