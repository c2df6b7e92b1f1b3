"""The price of a catalog item for a store and a membership level: the store's member price,
else the store's price, else the catalog price."""

from __future__ import annotations

from decimal import Decimal

from autocrm.catalog.models import LabourItem, Part, StorePrice


def unit_price(
    store_id: int, level: str = "", *, labour: LabourItem | None = None, part: Part | None = None
) -> Decimal:
    item = labour or part
    if item is None:
        raise ValueError("a labour item or a part is needed")
    lookup = {"labour": labour} if labour is not None else {"part": part}
    row = StorePrice.objects.filter(store_id=store_id, **lookup).first()
    if row is None:
        return item.price
    if level and level in (row.member_prices or {}):
        try:
            return Decimal(str(row.member_prices[level])).quantize(Decimal("0.01"))
        except ArithmeticError:
            pass
    return row.price
