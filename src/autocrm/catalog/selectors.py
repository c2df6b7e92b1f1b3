"""Reads of the catalog, scoped to the user: lists with search, packages with their lines,
a store's price list, and the priced lines a package or item adds to a work order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from autocrm.catalog import pricing
from autocrm.catalog.models import (
    Category,
    LabourItem,
    PackageItem,
    Part,
    ServicePackage,
    StorePrice,
)
from autocrm.core.models import Store, User
from autocrm.core.scoping import scoped
from autocrm.core.selectors import get_or_404, get_store


def _search(qs: QuerySet, q: str, active: bool | None, extra: tuple = ()) -> QuerySet:
    q = (q or "").strip()[:40]
    if q:
        match = Q(code__icontains=q) | Q(name__icontains=q)
        for name in extra:
            match |= Q(**{f"{name}__icontains": q})
        qs = qs.filter(match)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs


def labour_items(user: User, *, q: str = "", active: bool | None = None) -> QuerySet[LabourItem]:
    return _search(scoped(LabourItem.objects.all(), user), q, active).order_by("code")


def parts(user: User, *, q: str = "", active: bool | None = None) -> QuerySet[Part]:
    """Parts by code, name, brand or specification (美孚, 5W-30)."""
    qs = scoped(Part.objects.all(), user)
    return _search(qs, q, active, extra=("brand", "spec")).order_by("code")


def _items_prefetch() -> Prefetch:
    return Prefetch(
        "items", queryset=PackageItem.objects.select_related("labour", "part").order_by("sort")
    )


def packages(
    user: User, *, q: str = "", active: bool | None = None, bookable: bool | None = None
) -> QuerySet[ServicePackage]:
    qs = _search(scoped(ServicePackage.objects.all(), user), q, active)
    if bookable is not None:
        qs = qs.filter(bookable=bookable)
    return qs.prefetch_related(_items_prefetch()).order_by("code")


def get_labour(user: User, pk) -> LabourItem:
    return get_or_404(scoped(LabourItem.objects.all(), user), pk)


def get_part(user: User, pk) -> Part:
    return get_or_404(scoped(Part.objects.all(), user), pk)


def get_package(user: User, pk) -> ServicePackage:
    """A package with its lines (``package.items.all()`` in order, labour and part loaded)."""
    return get_or_404(scoped(ServicePackage.objects.prefetch_related(_items_prefetch()), user), pk)


def get_item(user: User, kind: str, pk) -> LabourItem | Part:
    """A labour item (``kind`` "labour") or a part (any other kind)."""
    return get_labour(user, pk) if kind == "labour" else get_part(user, pk)


def get_package_item(package: ServicePackage, pk) -> PackageItem:
    return get_or_404(PackageItem.objects.filter(package=package), pk)


def active_choices(user: User) -> tuple[list[LabourItem], list[Part]]:
    """What a package line can be made of: the active labour items and parts."""
    return list(labour_items(user, active=True)), list(parts(user, active=True))


# --- store prices -------------------------------------------------------------------------


def store_prices(user: User, store: Store, *, q: str = "") -> QuerySet[StorePrice]:
    """The store's own prices (rows that override the catalog)."""
    qs = scoped(StorePrice.objects.filter(store=store), user).select_related("labour", "part")
    q = (q or "").strip()[:40]
    if q:
        qs = qs.filter(
            Q(labour__code__icontains=q)
            | Q(labour__name__icontains=q)
            | Q(part__code__icontains=q)
            | Q(part__name__icontains=q)
        )
    return qs.order_by("pk")


def get_store_price(user: User, pk) -> StorePrice:
    return get_or_404(
        scoped(StorePrice.objects.select_related("store", "labour", "part"), user), pk
    )


@dataclass
class PriceRow:
    """One catalog item as the store sells it."""

    item: LabourItem | Part
    kind: str  # labour / part
    catalog_price: Decimal
    store_price: StorePrice | None

    @property
    def price(self) -> Decimal:
        return self.store_price.price if self.store_price else self.catalog_price

    @property
    def member_prices(self) -> dict:
        return dict(self.store_price.member_prices) if self.store_price else {}


def price_list(user: User, store: Store, kind: str, items: list) -> list[PriceRow]:
    """The given catalog items (one page of a list) with the store's prices, in two queries."""
    field = "labour" if kind == "labour" else "part"
    rows = scoped(StorePrice.objects.filter(store=store), user).filter(
        **{f"{field}__in": [i.pk for i in items]}
    )
    by_item = {getattr(r, f"{field}_id"): r for r in rows}
    return [PriceRow(i, field, i.price, by_item.get(i.pk)) for i in items]


def store_price_for(user: User, store: Store, item: LabourItem | Part) -> StorePrice | None:
    field = "labour" if isinstance(item, LabourItem) else "part"
    return scoped(StorePrice.objects.filter(store=store, **{field: item}), user).first()


def level_names(user: User) -> list[str]:
    """Membership level names in use: on customers and in member prices (for suggestions)."""
    from autocrm.customers.models import Customer

    names = set(
        scoped(Customer.objects.exclude(level=""), user)
        .values_list("level", flat=True)
        .distinct()[:50]
    )
    for prices in scoped(StorePrice.objects.exclude(member_prices={}), user).values_list(
        "member_prices", flat=True
    )[:500]:
        names.update(prices or {})
    return sorted(names)


# --- priced lines -------------------------------------------------------------------------


def line_for(
    store_id: int,
    level: str,
    *,
    labour: LabourItem | None = None,
    part: Part | None = None,
    quantity: Decimal = Decimal("1"),
    rows: pricing.PriceRows | None = None,
) -> dict:
    """One work-order line for a labour item or a part; keys are ``WorkOrderLine`` fields.
    ``rows``: the store's prices already loaded (``pricing.store_price_rows``)."""
    item = labour or part
    price = pricing.unit_price(store_id, level, labour=labour, part=part, rows=rows)
    return {
        "kind": "labour" if labour is not None else "part",
        "labour": labour,
        "part": part,
        "code": item.code,
        "name": item.name,
        "brand": "" if labour is not None else part.brand,
        "spec": "" if labour is not None else part.spec,
        "unit": "" if labour is not None else part.unit,
        "category": labour.category if labour is not None else Category.MATERIAL,
        "quantity": quantity,
        "unit_price": price,
    }


def package_lines(store_id: int, level: str, package: ServicePackage) -> list[dict]:
    """The priced lines a package adds to a work order, in the package's order: dicts with
    ``kind`` (labour/part), ``labour``, ``part``, ``code``, ``name``, ``brand``, ``spec``,
    ``unit``, ``category``, ``quantity`` and ``unit_price`` (the store's member price for
    ``level``, else its price, else the catalog price). The caller has scoped the package.
    The store's prices of all the lines come in one query."""
    items = list(package.items.all())
    rows = pricing.store_price_rows(
        store_id,
        labour_ids=[i.labour_id for i in items if i.labour_id],
        part_ids=[i.part_id for i in items if i.part_id],
    )
    return [
        line_for(store_id, level, labour=i.labour, part=i.part, quantity=i.quantity, rows=rows)
        for i in items
    ]


def line_amount(line: dict) -> Decimal:
    return pricing.line_amount(line["quantity"], line["unit_price"], line.get("discount_pct", 0))


def quote(
    user: User,
    store: Store | int | str,
    level: str = "",
    *,
    labour_id=None,
    part_id=None,
    package_id=None,
    package: ServicePackage | None = None,
) -> dict:
    """What one labour item, part or package costs at a store for a membership level.
    ``store`` and ``package`` may be given loaded (the caller scoped them) or by id."""
    if not isinstance(store, Store):
        store = get_store(user, store)
    if package is None and package_id:
        package = get_package(user, package_id)
    if package is not None:
        lines = package_lines(store.pk, level, package)
    elif labour_id:
        lines = [line_for(store.pk, level, labour=get_labour(user, labour_id))]
    elif part_id:
        lines = [line_for(store.pk, level, part=get_part(user, part_id))]
    else:
        lines = []
    return {
        "store": store,
        "level": level,
        "lines": lines,
        "total": sum((line_amount(line) for line in lines), Decimal("0.00")),
    }
