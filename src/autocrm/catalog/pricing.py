"""The price of a catalog item for a store and a membership level: the store's member price,
else the store's price, else the catalog price; and the amount of a priced line."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from autocrm.catalog.models import LabourItem, Part, StorePrice

CENT = Decimal("0.01")
HUNDRED = Decimal(100)

# A store's own price rows, keyed by ("labour", id) or ("part", id).
PriceRows = dict[tuple[str, int], StorePrice]


def line_amount(quantity: Decimal, unit_price: Decimal, discount_pct: Decimal = 0) -> Decimal:
    """quantity × unit price less the line's discount (%), in fen, rounded half up: the one
    rule for a line's amount (catalog quotes and work-order lines alike)."""
    gross = Decimal(quantity) * Decimal(unit_price)
    return (gross * (HUNDRED - Decimal(discount_pct)) / HUNDRED).quantize(CENT, ROUND_HALF_UP)


def _key(labour: LabourItem | None, part: Part | None) -> tuple[str, int]:
    if labour is not None:
        return ("labour", labour.pk)
    if part is not None:
        return ("part", part.pk)
    raise ValueError("a labour item or a part is needed")


def price_of(item: LabourItem | Part, row: StorePrice | None, level: str = "") -> Decimal:
    """``item``'s price given the store's row for it (``None``: the store has none)."""
    if row is None:
        return item.price
    if level and level in (row.member_prices or {}):
        try:
            return Decimal(str(row.member_prices[level])).quantize(CENT)
        except ArithmeticError:
            pass
    return row.price


def store_price_rows(
    store_id: int, *, labour_ids: Iterable[int] = (), part_ids: Iterable[int] = ()
) -> PriceRows:
    """The store's price rows for these labour items and parts, in one query."""
    labour_ids, part_ids = set(labour_ids), set(part_ids)
    if not labour_ids and not part_ids:
        return {}
    rows = StorePrice.objects.filter(store_id=store_id).filter(
        Q(labour_id__in=labour_ids) | Q(part_id__in=part_ids)
    )
    return {("labour", r.labour_id) if r.labour_id else ("part", r.part_id): r for r in rows}


def unit_price(
    store_id: int,
    level: str = "",
    *,
    labour: LabourItem | None = None,
    part: Part | None = None,
    rows: PriceRows | None = None,
) -> Decimal:
    """One item's price; with ``rows`` (from ``store_price_rows``) no query is made."""
    key = _key(labour, part)
    if rows is None:
        field = "labour" if labour is not None else "part"
        rows = {key: StorePrice.objects.filter(store_id=store_id, **{field: key[1]}).first()}
    return price_of(labour or part, rows.get(key), level)
