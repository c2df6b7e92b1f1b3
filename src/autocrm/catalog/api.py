"""Catalog API: labour items, parts, service packages with their items, store prices with
member prices, and quotes (what an item or package costs at a store for a membership level)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from autocrm.catalog import selectors, services
from autocrm.catalog.models import StorePrice
from autocrm.core.api import page_of
from autocrm.core.errors import Invalid
from autocrm.core.pagination import paginate
from autocrm.core.selectors import get_store
from autocrm.core.services import require

router = Router(tags=["catalog"])

Money = Decimal | str  # accepted as "88.00" or 88; checked by the services


# --- schemas ------------------------------------------------------------------------------


class LabourOut(Schema):
    id: int
    code: str
    name: str
    hours: Decimal
    price: Decimal
    category: str
    repair_class: str
    is_active: bool
    updated_at: datetime.datetime


class LabourIn(Schema):
    code: str = Field(..., max_length=30)
    name: str = Field(..., max_length=100)
    hours: Money = "1"
    price: Money
    category: str = "labour"
    repair_class: str = "minor"


class LabourPatch(Schema):
    code: str | None = Field(None, max_length=30)
    name: str | None = Field(None, max_length=100)
    hours: Money | None = None
    price: Money | None = None
    category: str | None = None
    repair_class: str | None = None
    is_active: bool | None = None


class PartOut(Schema):
    id: int
    code: str
    name: str
    brand: str
    spec: str
    unit: str
    price: Decimal
    cost: Decimal | None
    is_active: bool
    updated_at: datetime.datetime


class PartIn(Schema):
    code: str = Field(..., max_length=40)
    name: str = Field(..., max_length=100)
    brand: str = Field("", max_length=40)
    spec: str = Field("", max_length=60)
    unit: str = Field("个", max_length=10)
    price: Money
    cost: Money = "0"


class PartPatch(Schema):
    code: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=100)
    brand: str | None = Field(None, max_length=40)
    spec: str | None = Field(None, max_length=60)
    unit: str | None = Field(None, max_length=10)
    price: Money | None = None
    cost: Money | None = None
    is_active: bool | None = None


class PackageItemIn(Schema):
    labour_id: int | None = None
    part_id: int | None = None
    quantity: Money = "1"


class PackageItemOut(Schema):
    id: int
    kind: str
    labour_id: int | None
    part_id: int | None
    code: str
    name: str
    quantity: Decimal
    sort: int


class PackageOut(Schema):
    id: int
    code: str
    name: str
    repair_class: str
    bookable: bool
    is_active: bool
    items: list[PackageItemOut]
    updated_at: datetime.datetime


class PackageIn(Schema):
    code: str = Field(..., max_length=30)
    name: str = Field(..., max_length=100)
    repair_class: str = "minor"
    bookable: bool = True
    items: list[PackageItemIn]


class PackagePatch(Schema):
    code: str | None = Field(None, max_length=30)
    name: str | None = Field(None, max_length=100)
    repair_class: str | None = None
    bookable: bool | None = None
    is_active: bool | None = None
    items: list[PackageItemIn] | None = None


class OrderIn(Schema):
    item_ids: list[int]


class QuantityIn(Schema):
    quantity: Money


class StorePriceOut(Schema):
    id: int
    store_id: int
    labour_id: int | None
    part_id: int | None
    code: str
    name: str
    catalog_price: Decimal
    price: Decimal
    member_prices: dict[str, str]


class StorePriceIn(Schema):
    store_id: int
    labour_id: int | None = None
    part_id: int | None = None
    price: Money
    member_prices: dict[str, Money] = {}


class RetiredOut(Schema):
    deleted: bool
    is_active: bool


class QuoteLineOut(Schema):
    kind: str
    labour_id: int | None
    part_id: int | None
    code: str
    name: str
    brand: str
    spec: str
    unit: str
    category: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class QuoteOut(Schema):
    store_id: int
    level: str
    lines: list[QuoteLineOut]
    total: Decimal


LabourPage, PartPage, PackagePage, StorePricePage = (
    page_of(LabourOut),
    page_of(PartOut),
    page_of(PackageOut),
    page_of(StorePriceOut),
)


def part_out(user, part) -> dict:
    data = {f: getattr(part, f) for f in PartOut.model_fields}
    if not user.can("catalog.manage"):  # the buying price is HQ's business
        data["cost"] = None
    return data


def item_out(item) -> dict:
    target = item.labour or item.part
    return {
        "id": item.pk,
        "kind": "labour" if item.labour_id else "part",
        "labour_id": item.labour_id,
        "part_id": item.part_id,
        "code": target.code,
        "name": target.name,
        "quantity": item.quantity,
        "sort": item.sort,
    }


def package_out(package) -> dict:
    data = {f: getattr(package, f) for f in PackageOut.model_fields if f != "items"}
    data["items"] = [item_out(i) for i in package.items.all()]
    return data


def store_price_out(row: StorePrice) -> dict:
    item = row.labour or row.part
    return {
        "id": row.pk,
        "store_id": row.store_id,
        "labour_id": row.labour_id,
        "part_id": row.part_id,
        "code": item.code,
        "name": item.name,
        "catalog_price": item.price,
        "price": row.price,
        "member_prices": row.member_prices or {},
    }


class ListQuery(Schema):
    q: str = ""
    active: bool | None = None
    cursor: str | None = None
    limit: int = 50


def _page(qs, query: ListQuery) -> dict:
    return paginate(qs, query.cursor, query.limit)


def _dump(payload) -> dict:
    data = payload.dict(exclude_unset=True)
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in data.items()}


# --- labour items -------------------------------------------------------------------------


@router.get("/catalog/labour", response=LabourPage)
def list_labour(request, query: Query[ListQuery]):
    require(request.user, "catalog.view")
    return _page(selectors.labour_items(request.user, q=query.q, active=query.active), query)


@router.post("/catalog/labour", response={201: LabourOut})
def create_labour(request, payload: LabourIn):
    return Status(201, services.create_labour(request.user, **_dump(payload)))


@router.get("/catalog/labour/{item_id}", response=LabourOut)
def get_labour(request, item_id: int):
    require(request.user, "catalog.view")
    return selectors.get_labour(request.user, item_id)


@router.patch("/catalog/labour/{item_id}", response=LabourOut)
def update_labour(request, item_id: int, payload: LabourPatch):
    item = selectors.get_labour(request.user, item_id)
    return services.update_labour(request.user, item, **_dump(payload))


@router.delete("/catalog/labour/{item_id}", response=RetiredOut)
def retire_labour(request, item_id: int):
    """Deletes the item, or deactivates it when work orders or packages already use it."""
    item = selectors.get_labour(request.user, item_id)
    deleted = services.retire_labour(request.user, item)
    return {"deleted": deleted, "is_active": False}


# --- parts --------------------------------------------------------------------------------


@router.get("/catalog/parts", response=PartPage)
def list_parts(request, query: Query[ListQuery]):
    require(request.user, "catalog.view")
    page = _page(selectors.parts(request.user, q=query.q, active=query.active), query)
    page["items"] = [part_out(request.user, p) for p in page["items"]]
    return page


@router.post("/catalog/parts", response={201: PartOut})
def create_part(request, payload: PartIn):
    return Status(201, part_out(request.user, services.create_part(request.user, **_dump(payload))))


@router.get("/catalog/parts/{part_id}", response=PartOut)
def get_part(request, part_id: int):
    require(request.user, "catalog.view")
    return part_out(request.user, selectors.get_part(request.user, part_id))


@router.patch("/catalog/parts/{part_id}", response=PartOut)
def update_part(request, part_id: int, payload: PartPatch):
    part = selectors.get_part(request.user, part_id)
    return part_out(request.user, services.update_part(request.user, part, **_dump(payload)))


@router.delete("/catalog/parts/{part_id}", response=RetiredOut)
def retire_part(request, part_id: int):
    """Deletes the part, or deactivates it when work orders or packages already use it."""
    part = selectors.get_part(request.user, part_id)
    return {"deleted": services.retire_part(request.user, part), "is_active": False}


# --- packages -----------------------------------------------------------------------------


def _items(items) -> list[dict] | None:
    if items is None:
        return None
    return [{**i, "quantity": str(i.get("quantity", "1"))} for i in items]


@router.get("/catalog/packages", response=PackagePage)
def list_packages(request, query: Query[ListQuery], bookable: bool | None = None):
    require(request.user, "catalog.view")
    qs = selectors.packages(request.user, q=query.q, active=query.active, bookable=bookable)
    page = _page(qs, query)
    page["items"] = [package_out(p) for p in page["items"]]
    return page


@router.post("/catalog/packages", response={201: PackageOut})
def create_package(request, payload: PackageIn):
    data = _dump(payload)
    data["items"] = _items(data.get("items"))
    package = services.create_package(request.user, **data)
    return Status(201, package_out(selectors.get_package(request.user, package.pk)))


@router.get("/catalog/packages/{package_id}", response=PackageOut)
def get_package(request, package_id: int):
    require(request.user, "catalog.view")
    return package_out(selectors.get_package(request.user, package_id))


@router.patch("/catalog/packages/{package_id}", response=PackageOut)
def update_package(request, package_id: int, payload: PackagePatch):
    """Change the package; ``items``, when given, replaces every line."""
    package = selectors.get_package(request.user, package_id)
    data = _dump(payload)
    if "items" in data:
        data["items"] = _items(data["items"])
        if data["items"] is None:
            raise Invalid(fields={"items": _("A package needs at least one labour item or part.")})
    services.update_package(request.user, package, **data)
    return package_out(selectors.get_package(request.user, package.pk))


@router.delete("/catalog/packages/{package_id}", response=RetiredOut)
def retire_package(request, package_id: int):
    """Deletes the package, or deactivates it when appointments or work orders used it."""
    package = selectors.get_package(request.user, package_id)
    return {"deleted": services.retire_package(request.user, package), "is_active": False}


@router.post("/catalog/packages/{package_id}/items", response={201: PackageOut})
def add_package_item(request, package_id: int, payload: PackageItemIn):
    """Add a labour item or part; the same item again raises its quantity."""
    package = selectors.get_package(request.user, package_id)
    services.add_package_item(request.user, package, **_dump(payload))
    return Status(201, package_out(selectors.get_package(request.user, package.pk)))


@router.put("/catalog/packages/{package_id}/items/order", response=PackageOut)
def reorder_package_items(request, package_id: int, payload: OrderIn):
    """The package's line ids in their new order (every line exactly once). Declared before
    the per-line routes so ``order`` is not taken for a line id."""
    package = selectors.get_package(request.user, package_id)
    services.reorder_package_items(request.user, package, payload.item_ids)
    return package_out(selectors.get_package(request.user, package.pk))


@router.patch("/catalog/packages/{package_id}/items/{item_id}", response=PackageOut)
def set_package_item_quantity(request, package_id: int, item_id: int, payload: QuantityIn):
    package = selectors.get_package(request.user, package_id)
    item = selectors.get_package_item(package, item_id)
    services.set_package_item_quantity(request.user, package, item, str(payload.quantity))
    return package_out(selectors.get_package(request.user, package.pk))


@router.delete("/catalog/packages/{package_id}/items/{item_id}", response=PackageOut)
def remove_package_item(request, package_id: int, item_id: int):
    package = selectors.get_package(request.user, package_id)
    item = selectors.get_package_item(package, item_id)
    services.remove_package_item(request.user, package, item)
    return package_out(selectors.get_package(request.user, package.pk))


# --- store prices -------------------------------------------------------------------------


@router.get("/catalog/prices", response=StorePricePage)
def list_store_prices(request, store: int, q: str = "", cursor: str | None = None, limit: int = 50):
    """A store's own prices (items without a row sell at the catalog price)."""
    require(request.user, "catalog.view")
    the_store = get_store(request.user, store)
    page = paginate(selectors.store_prices(request.user, the_store, q=q), cursor, limit)
    page["items"] = [store_price_out(r) for r in page["items"]]
    return page


@router.put("/catalog/prices", response=StorePriceOut)
def set_store_price(request, payload: StorePriceIn):
    """Create or replace the store's price and member prices for one labour item or part."""
    store = get_store(request.user, payload.store_id)
    row = services.set_store_price(
        request.user,
        store,
        labour_id=payload.labour_id,
        part_id=payload.part_id,
        price=str(payload.price),
        member_prices={k: str(v) for k, v in payload.member_prices.items()},
    )
    return store_price_out(row)


@router.delete("/catalog/prices/{price_id}")
def remove_store_price(request, price_id: int):
    """Back to the catalog price at this store."""
    row = selectors.get_store_price(request.user, price_id)
    services.remove_store_price(request.user, row)
    return {"deleted": True}


# --- quotes -------------------------------------------------------------------------------


@router.get("/catalog/quote", response=QuoteOut)
def quote(
    request,
    store: int,
    level: str = "",
    labour: int | None = None,
    part: int | None = None,
    package: int | None = None,
):
    """Unit prices at a store for a membership level (member price, else store price, else
    catalog price) of one labour item, part or package; a package lists its lines."""
    require(request.user, "catalog.view")
    if sum(x is not None for x in (labour, part, package)) != 1:
        raise Invalid(fields={"item": _("Give exactly one of labour, part or package.")})
    result = selectors.quote(
        request.user, store, level.strip()[:30], labour_id=labour, part_id=part, package_id=package
    )
    return {
        "store_id": result["store"].pk,
        "level": result["level"],
        "total": result["total"],
        "lines": [
            {
                **{k: v for k, v in line.items() if k not in ("labour", "part")},
                "labour_id": line["labour"].pk if line["labour"] else None,
                "part_id": line["part"].pk if line["part"] else None,
                "amount": selectors.line_amount(line),
            }
            for line in result["lines"]
        ],
    }
