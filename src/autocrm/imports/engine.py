"""The import engine: rows in, a plan per row out, and (unless it is a dry run) the plan written
in chunks with bulk inserts and updates.

Per chunk of rows: parse every cell, look up the existing customers and vehicles of the whole
chunk with one query each, decide per row, then write the chunk in one transaction
(``bulk_create`` / ``bulk_update``, one audit entry per object with source 'import'). If the
database refuses the chunk (a record created meanwhile by someone else), the chunk is written
again row by row, each in its own savepoint, so one bad row never costs the good ones.

A dry run takes exactly the same decisions: records the file creates are remembered (by mobile,
plate and VIN, with temporary negative ids) across chunks, so a customer on row 5 and their
second car on row 4 000 are planned as they will be imported. What the file has touched so far
is kept in TEMP tables of the database (``seen.Seen``), read back per chunk for the chunk's keys
only: memory holds one chunk, never the keys or rows of past chunks, so it stays flat whatever
the size of the file.

Policy: a customer found by mobile (or through a vehicle found by plate or VIN) gets only its
empty fields filled; a customer or vehicle that appears on several rows takes its details from
the first; a row whose customer and vehicle both appeared on an earlier row is a duplicate and
skipped; a row with no name and no mobile but a vehicle belongs to the customer of the row
above it (what merged cells in Excel look like once saved)."""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit
from autocrm.core.models import AuditLog, Organization, Store, User
from autocrm.core.validators import mask_mobile, normalize_text, tidy_prose
from autocrm.customers.models import (
    Customer,
    MileageReading,
    Ownership,
    PlateKey,
    SourceChannel,
    Vehicle,
)
from autocrm.customers.services import plate_keys, search_fields, vehicle_search_fields
from autocrm.customers.validators import (
    normalize_plate,
    validate_birthday,
    validate_customer_name,
    validate_plate,
    validate_vin,
)
from autocrm.imports import bulk, parsing
from autocrm.imports.mapping import FIELD_LABELS
from autocrm.imports.parsing import CellError, is_blank, is_formula
from autocrm.imports.seen import CUSTOMER, MOBILE, PLATE, VEHICLE, VIN, Seen, any_of

CHUNK_SIZE = 2_000
_PLAIN = {str, int, bool, float, dict, list}


@functools.lru_cache(maxsize=4096)
def _plain_cached(value):
    return audit._plain(value)


def plain(value):
    """How the audit log writes a value (dates as ISO text); rows of a chunk share many."""
    if type(value) in _PLAIN:
        return value
    try:
        return _plain_cached(value)
    except TypeError:  # not hashable
        return audit._plain(value)


PREVIEW_ROWS = 200

CREATE, UPDATE, SKIP, REJECT = "create", "update", "skip", "reject"

#: Customer fields an import may fill when they are empty (never overwrites).
CUSTOMER_FILL = ("gender", "birthday", "wechat_id", "level", "notes", "source_id", "other_contacts")
VEHICLE_FILL = ("brand", "model", "insurance_expires_on", "inspection_due_on")
TEXT_LIMITS = {"wechat_id": 60, "level": 30, "brand": 40, "model": 60}
DATE_FIELDS = ("birthday", "insurance_expires_on", "inspection_due_on")
VEHICLE_ONLY = ("brand", "model", "mileage_km", "insurance_expires_on", "inspection_due_on")


# --- results ----------------------------------------------------------------------------------


@dataclass
class Totals:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    warned: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    vehicles_created: int = 0
    vehicles_updated: int = 0

    def count(self, plan: RowPlan) -> None:
        self.rows += 1
        setattr(self, _TOTAL_OF[plan.action], getattr(self, _TOTAL_OF[plan.action]) + 1)
        if plan.action == REJECT:
            return
        if plan.warnings:
            self.warned += 1
        for item, created, updated in (
            (plan.customer, "customers_created", "customers_updated"),
            (plan.vehicle, "vehicles_created", "vehicles_updated"),
        ):
            if item is not None:
                name = created if item.created else updated
                setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        return (
            f"rows: {self.rows}, created: {self.created}, updated: {self.updated}, "
            f"rejected: {self.rejected}"
        )


_TOTAL_OF = {CREATE: "created", UPDATE: "updated", SKIP: "skipped", REJECT: "rejected"}


@dataclass(eq=False)
class CustomerItem:
    """A customer this chunk creates or updates (``ref`` < 0 until it is saved)."""

    obj: Customer
    ref: int
    created: bool
    changes: dict = field(default_factory=dict)


@dataclass(eq=False)
class VehicleItem:
    obj: Vehicle
    ref: int
    created: bool
    changes: dict = field(default_factory=dict)
    owner: CustomerItem | None = None  # the owner, when it is written in the same chunk
    new_owner: bool = False  # an ownership period starts
    mileage: int | None = None  # a reading to record


@dataclass(eq=False)
class RowPlan:
    number: int
    raw: tuple
    action: str = SKIP
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    what: list[str] = field(default_factory=list)
    name: str = ""
    mobile: str = ""
    plate: str = ""
    vin: str = ""
    customer: CustomerItem | None = None  # written by this row
    vehicle: VehicleItem | None = None
    owner_item: CustomerItem | None = None  # a customer of an earlier row in this chunk

    def skip(self, reason: str) -> RowPlan:
        self.action = SKIP
        self.reasons.append(reason)
        return self

    def reject(self, reason: str) -> RowPlan:
        self.action = REJECT
        self.reasons.append(reason)
        self.customer = self.vehicle = None
        return self

    def preview(self) -> dict:
        return {
            "row": self.number,
            "action": self.action,
            "name": self.name,
            "mobile": mask_mobile(self.mobile),
            "plate": self.plate or self.vin,
            "what": self.what,
            "reasons": self.reasons,
            "warnings": self.warnings,
        }


@dataclass
class Parsed:
    values: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    vin_ok: bool = True
    store: Store | None = None


@dataclass
class Handle:
    """An existing record a row refers to: in the database, or planned by an earlier row."""

    ref: int
    row: int | None  # first row of this file that touched it; None: untouched so far
    obj: object | None = None  # the loaded row, for records in the database
    owner_ref: int | None = None
    store_id: int | None = None


# --- the engine ---------------------------------------------------------------------------------


class Importer:
    """One pass over the data rows of a file: plan, and write unless ``dry_run``."""

    def __init__(
        self,
        *,
        org: Organization,
        store: Store,
        headers: list[str],
        mapping: list[str | None],
        actor: User | None = None,
        user_label: str = "",
        allowed_store_ids: Iterable[int] | None = None,
        dry_run: bool = False,
        report=None,
        on_progress: Callable[[Totals], None] | None = None,
        preview_rows: int = PREVIEW_ROWS,
        chunk_size: int = CHUNK_SIZE,
        note: str = "",
    ):
        self.org = org
        self.store = store
        self.headers = headers
        self.columns = [(i, key) for i, key in enumerate(mapping) if key]
        self.actor = actor
        self.user_id = actor.pk if actor is not None else None
        self.user_label = user_label or (actor.get_username() if actor is not None else "")
        self.allowed = None if allowed_store_ids is None else frozenset(allowed_store_ids)
        self.dry_run = dry_run
        self.report = report
        self.on_progress = on_progress
        self.preview_limit = preview_rows
        self.chunk_size = chunk_size
        self.note = note
        self.request_id = uuid.uuid4().hex
        self.today = timezone.localdate()
        self.totals = Totals()
        self.preview: list[dict] = []
        # What this file has touched so far is kept in the database (``seen.Seen``, open while
        # ``run`` runs); the dicts below hold what the chunk being planned needs of it, and
        # what that chunk adds. Refs are ids, or negative temporary ids for records a dry run
        # (or the chunk being planned) has not written.
        self.seen: Seen | None = None
        self._start_chunk_state()
        self._temp = itertools.count(-1, -1)
        self.last_customer: int | None = None  # ref of the customer of the row above
        self.last_customer_row: int | None = None
        self.last_rejected = False
        stores = list(Store.objects.filter(org=org, is_active=True))
        self.stores_by_key = {s.code.lower(): s for s in stores} | {
            normalize_text(s.name): s for s in stores
        }
        self.sources = {normalize_text(s.name): s.pk for s in SourceChannel.objects.filter(org=org)}

    # --- driving ----------------------------------------------------------------------------

    def run(self, rows: Iterable[tuple[int, tuple]]) -> Totals:
        with _fewer_collections(), Seen() as self.seen:
            for chunk in _chunks(self._data_rows(rows), self.chunk_size):
                self._chunk(chunk)
        self.seen = None
        return self.totals

    def _data_rows(self, rows: Iterable[tuple[int, tuple]]) -> Iterator[tuple[int, tuple]]:
        """Rows with something in a mapped column (footers and spacer rows are passed over)."""
        columns = [i for i, _key in self.columns]
        for number, values in rows:
            if any(i < len(values) and not is_blank(values[i]) for i in columns):
                yield number, values

    def _chunk(self, chunk: list[tuple[int, tuple]]) -> None:
        self._start_chunk_state()
        self._chunk_customers: list[int] = []  # temporary refs of customers planned here
        self._chunk_vehicles: list[int] = []  # refs of vehicles this chunk touched
        parsed = [(number, values, self._parse(values)) for number, values in chunk]
        self._recall_keys(parsed)
        found = self._lookup(parsed)
        self._recall_customers(found)
        chunk_customers: dict[int, CustomerItem] = {}
        chunk_vehicles: dict[int, VehicleItem] = {}
        plans = [
            self._decide(number, values, p, found, chunk_customers, chunk_vehicles)
            for number, values, p in parsed
        ]
        if not self.dry_run:
            self._pending = {
                item.ref: item
                for item in itertools.chain(chunk_customers.values(), chunk_vehicles.values())
                if item.created
            }
            self._write_chunk(plans)
        self._remember_chunk()
        for plan in plans:
            self.totals.count(plan)
            if self.report is not None and (plan.action == REJECT or plan.warnings):
                self.report.add(plan)
            if len(self.preview) < self.preview_limit:
                self.preview.append(plan.preview())
        if self.on_progress is not None:
            self.on_progress(self.totals)

    # --- what the file has touched so far ------------------------------------------------------

    def _start_chunk_state(self) -> None:
        self.mobiles: dict[str, int] = {}  # mobile -> ref
        self.plates: dict[str, int] = {}  # plate -> ref
        self.vins: dict[str, int] = {}  # VIN -> ref
        self.customer_rows: dict[int, tuple] = {}  # ref -> (first row, store id)
        self.vehicle_rows: dict[int, tuple] = {}  # ref -> (first row, owner ref or None)
        self._index = {MOBILE: self.mobiles, PLATE: self.plates, VIN: self.vins}
        self._key_changes: dict[tuple[str, str], bool] = {}  # (kind, key) -> replace
        self._recalled_customers: set[int] = set()
        self._recalled_vehicles: set[int] = set()

    def _recall_keys(self, parsed: list) -> None:
        """The chunk's mobiles, plates and VINs that earlier chunks brought in, and the
        vehicles and customers they point to."""
        wanted: dict[str, set[str]] = {MOBILE: set(), PLATE: set(), VIN: set()}
        for _number, _values, p in parsed:
            v = p.values
            for kind, name in ((MOBILE, "mobile"), (PLATE, "plate"), (VIN, "vin")):
                if v.get(name):
                    wanted[kind].add(v[name])
        for kind, keys in wanted.items():
            self._index[kind].update(self.seen.keys(kind, keys))
        self.vehicle_rows.update(
            self.seen.records(VEHICLE, {*self.plates.values(), *self.vins.values()})
        )
        self.customer_rows.update(self.seen.records(CUSTOMER, set(self.mobiles.values())))
        # A key whose record could not be saved means nothing: looked up in the database
        # again, and replaced if this chunk brings the record in.
        for kind, rows in (
            (MOBILE, self.customer_rows),
            (PLATE, self.vehicle_rows),
            (VIN, self.vehicle_rows),
        ):
            index = self._index[kind]
            for key in [k for k, ref in index.items() if ref not in rows]:
                del index[key]
                self._key_changes[(kind, key)] = True

    def _recall_customers(self, found: dict) -> None:
        """Earlier rows' entries for the other customers this chunk may refer to: owners of
        the vehicles found, customers in the database, the customer of the row above."""
        refs = {owner for _row, owner in self.vehicle_rows.values() if owner is not None}
        refs |= set(found["customers"])
        if self.last_customer is not None:
            refs.add(self.last_customer)
        refs -= set(self.customer_rows)
        self.customer_rows.update(self.seen.records(CUSTOMER, refs))
        self._recalled_customers = set(self.customer_rows)
        self._recalled_vehicles = set(self.vehicle_rows)

    def _set_key(self, kind: str, key: str, ref: int, *, replace: bool) -> None:
        """``index[key] = ref`` (``replace``) or ``index.setdefault(key, ref)``, noted for
        ``_remember_chunk``."""
        index = self._index[kind]
        if not replace and key in index:
            return
        index[key] = ref
        self._key_changes[(kind, key)] = replace or self._key_changes.get((kind, key), False)

    def _remember_chunk(self) -> None:
        """Write what this chunk brought in (with the ids it was saved under) to the
        database, for the chunks after it."""
        replaced, added = [], []
        for (kind, key), replace in self._key_changes.items():
            ref = self._index[kind].get(key)
            if ref is not None:
                (replaced if replace else added).append((kind, key, ref))
        self.seen.add_keys(replaced, replace=True)
        self.seen.add_keys(added, replace=False)
        self.seen.add_records(
            [
                (CUSTOMER, ref, row, store_id)
                for ref, (row, store_id) in self.customer_rows.items()
                if ref not in self._recalled_customers
            ]
            + [
                (VEHICLE, ref, row, owner)
                for ref, (row, owner) in self.vehicle_rows.items()
                if ref not in self._recalled_vehicles
            ]
        )

    # --- parsing ----------------------------------------------------------------------------

    def _parse(self, values: tuple) -> Parsed:
        p = Parsed()
        for index, value in enumerate(values):
            if value is not None and is_formula(value):
                column = self.headers[index] if index < len(self.headers) else ""
                p.errors.append(
                    _(
                        "Column “%(column)s” holds a formula; formulas are not calculated. "
                        "Paste the values instead."
                    )
                    % {"column": column or index + 1}
                )
                return p
        for index, key in self.columns:
            value = values[index] if index < len(values) else None
            if is_blank(value):
                continue
            try:
                self._parse_field(p, key, value)
            except CellError as exc:
                label = FIELD_LABELS[key]
                p.warnings.append(
                    _("%(field)s “%(value)s” ignored: %(reason)s")
                    % {"field": label, "value": parsing.text(value)[:40], "reason": exc}
                )
        return p

    def _parse_field(self, p: Parsed, key: str, value) -> None:
        v = p.values
        if key == "name":
            name = normalize_text(parsing.text(value))
            try:
                validate_customer_name(name, required=False)
            except ValidationError:
                p.errors.append(_("The name is longer than 100 characters."))
            v["name"] = name
        elif key == "mobile":
            try:
                v["mobile"], v["other_contacts"] = parsing.parse_mobile(value)
            except CellError:
                p.errors.append(_("Mobile number format is wrong."))
        elif key == "plate":
            raw = normalize_plate(parsing.text(value))
            try:
                v["plate"] = validate_plate(raw)
            except ValidationError:
                p.errors.append(_("Plate format is wrong: %(plate)s") % {"plate": raw[:20]})
        elif key == "vin":
            try:
                v["vin"], p.vin_ok = validate_vin(parsing.text(value))
            except ValidationError as exc:
                p.errors.append(_("VIN is not valid: %(detail)s") % {"detail": exc.messages[0]})
            else:
                if not p.vin_ok:
                    p.warnings.append(
                        _("The VIN's check digit does not match; imported as written.")
                    )
        elif key in DATE_FIELDS:
            day = parsing.parse_date(value)
            if key == "birthday":
                try:
                    validate_birthday(day, self.today)
                except ValidationError as exc:
                    raise CellError(exc.messages[0]) from None
            v[key] = day
        elif key == "mileage_km":
            v["mileage_km"] = parsing.parse_mileage(value)
        elif key == "gender":
            v["gender"] = parsing.parse_gender(value)
        elif key == "notes":
            v["notes"] = tidy_prose(parsing.text(value) if not isinstance(value, str) else value)
        elif key == "source":
            name = normalize_text(parsing.text(value))
            source_id = self.sources.get(name)
            if source_id is None:
                p.warnings.append(_("Unknown source “%(name)s”; left empty.") % {"name": name[:40]})
            v["source_id"] = source_id
        elif key == "store":
            wanted = normalize_text(parsing.text(value))
            store = self.stores_by_key.get(wanted.lower()) or self.stores_by_key.get(wanted)
            if store is None:
                p.errors.append(_("Unknown store “%(store)s”.") % {"store": wanted[:40]})
            elif self.allowed is not None and store.pk not in self.allowed:
                p.errors.append(
                    _("Store “%(store)s” is not one of your stores.") % {"store": wanted[:40]}
                )
            else:
                p.store = store
        else:  # plain text: wechat_id, level, brand, model
            value = normalize_text(parsing.text(value))
            limit = TEXT_LIMITS[key]
            if len(value) > limit:
                p.warnings.append(
                    _("%(field)s shortened to %(n)d characters.")
                    % {"field": FIELD_LABELS[key], "n": limit}
                )
                value = value[:limit]
            v[key] = value

    # --- looking up what exists ---------------------------------------------------------------

    def _lookup(self, parsed: list) -> dict:
        """Existing customers and vehicles for the whole chunk: one query for customers by
        mobile, one for vehicles by plate or VIN, one for the owners of those vehicles."""
        mobiles, plates, vins = set(), set(), set()
        for _number, _values, p in parsed:
            v = p.values
            if v.get("mobile") and v["mobile"] not in self.mobiles:
                mobiles.add(v["mobile"])
            if v.get("plate") and v["plate"] not in self.plates:
                plates.add(v["plate"])
            if v.get("vin") and v["vin"] not in self.vins:
                vins.add(v["vin"])
        customers: dict[int, Customer] = {}
        if mobiles:
            for c in Customer.objects.filter(
                org=self.org, mobile__in=any_of(mobiles), merged_into__isnull=True
            ):
                customers[c.pk] = c
        vehicles: dict[int, Vehicle] = {}
        if plates or vins:
            condition = Q(pk__in=[])
            if plates:
                condition |= Q(plate__in=any_of(plates), plate_active=True)
            if vins:
                condition |= Q(vin__in=any_of(vins))
            for vehicle in Vehicle.objects.filter(condition, org=self.org):
                vehicles[vehicle.pk] = vehicle
        owner_ids = {v.owner_id for v in vehicles.values() if v.owner_id} - set(customers)
        if owner_ids:
            for c in Customer.objects.filter(pk__in=any_of(owner_ids, numbers=True)):
                customers[c.pk] = c
        return {
            "customers": customers,
            "by_mobile": {c.mobile: c for c in customers.values() if c.mobile in mobiles},
            "vehicles": vehicles,
            "by_plate": {
                v.plate: v for v in vehicles.values() if v.plate in plates and v.plate_active
            },
            "by_vin": {v.vin: v for v in vehicles.values() if v.vin in vins},
        }

    def _visible(self, store_id: int | None) -> bool:
        return self.allowed is None or store_id in self.allowed

    def _customer_handle(self, ref: int, found: dict) -> Handle:
        if ref in self.customer_rows:
            row, store_id = self.customer_rows[ref]
            return Handle(ref=ref, row=row, store_id=store_id)
        obj = found["customers"].get(ref)
        return Handle(ref=ref, row=None, obj=obj, store_id=obj.home_store_id if obj else None)

    def _vehicle_handle(self, key: str, value: str | None, found: dict) -> Handle | None:
        if not value:
            return None
        index = self.plates if key == "plate" else self.vins
        ref = index.get(value)
        if ref is not None and ref in self.vehicle_rows:
            row, owner = self.vehicle_rows[ref]
            return Handle(ref=ref, row=row, owner_ref=owner)
        obj = found["by_plate" if key == "plate" else "by_vin"].get(value)
        if obj is None:
            return None
        return Handle(
            ref=obj.pk, row=None, obj=obj, owner_ref=obj.owner_id, store_id=obj.home_store_id
        )

    # --- deciding ---------------------------------------------------------------------------

    def _decide(
        self,
        number: int,
        values: tuple,
        p: Parsed,
        found: dict,
        chunk_customers: dict[int, CustomerItem],
        chunk_vehicles: dict[int, VehicleItem],
    ) -> RowPlan:
        v = p.values
        plan = RowPlan(
            number=number,
            raw=values,
            name=v.get("name", ""),
            mobile=v.get("mobile", ""),
            plate=v.get("plate", ""),
            vin=v.get("vin", ""),
        )
        plan.warnings.extend(p.warnings)
        has_person = bool(v.get("name") or v.get("mobile"))
        mentions_person = has_person or any(
            key in ("name", "mobile") and not is_blank(values[i] if i < len(values) else None)
            for i, key in self.columns
        )
        has_vehicle = bool(v.get("plate") or v.get("vin"))
        merged = not mentions_person and has_vehicle

        def refuse(reason: str) -> RowPlan:
            if mentions_person:  # rows of merged cells below it go down with it
                self._remember_row(None, number, rejected=True)
            return plan.reject(reason)

        if not has_vehicle and any(v.get(k) not in (None, "") for k in VEHICLE_ONLY):
            plan.warnings.append(_("Vehicle details ignored: the row has no plate or VIN."))
        if p.errors:
            for reason in p.errors[:-1]:
                plan.reasons.append(reason)
            return refuse(p.errors[-1])
        if not v.get("mobile") and not has_vehicle:
            return refuse(_("Needs a mobile number, plate or VIN."))

        # Which vehicle: by plate and by VIN, which must not point at two different ones.
        by_plate = self._vehicle_handle("plate", v.get("plate"), found)
        by_vin = self._vehicle_handle("vin", v.get("vin"), found)
        if by_plate and by_vin and by_plate.ref != by_vin.ref:
            return refuse(_("The plate and the VIN belong to two different vehicles."))
        vehicle = by_plate or by_vin
        if vehicle is not None and vehicle.row is None and not self._visible(vehicle.store_id):
            return refuse(_("This vehicle is registered at a store outside your area."))

        # Which customer.
        customer: Handle | None = None
        if merged:
            if self.last_rejected:
                return plan.reject(
                    _("The customer row above (row %(row)s) was rejected.")
                    % {"row": self.last_customer_row}
                )
            if self.last_customer is None:
                return plan.reject(
                    _("No customer name or mobile on this row or the rows above it.")
                )
            customer = self._customer_handle(self.last_customer, found)
        elif v.get("mobile"):
            ref = self.mobiles.get(v["mobile"])
            if ref is None and v["mobile"] in found["by_mobile"]:
                ref = found["by_mobile"][v["mobile"]].pk
            if ref is not None:
                customer = self._customer_handle(ref, found)
        elif vehicle is not None and vehicle.owner_ref is not None:
            customer = self._customer_handle(vehicle.owner_ref, found)
            owner_name = getattr(customer.obj, "name", None)
            if owner_name and v.get("name") and owner_name != v["name"]:
                plan.warnings.append(
                    _("The vehicle's owner is %(owner)s; the owner is kept.")
                    % {"owner": owner_name}
                )
        if customer is not None and customer.row is None and not self._visible(customer.store_id):
            return refuse(
                _("This mobile number belongs to a customer of a store outside your area.")
            )
        if customer is None and not v.get("name"):
            return refuse(_("The customer's name is missing."))

        # Already brought in by an earlier row of this file: a duplicate, or a conflict.
        if vehicle is not None and vehicle.row is not None:
            if customer is not None and vehicle.owner_ref == customer.ref:
                self._remember_row(customer.ref, number)
                return plan.skip(_("Same as row %(row)s.") % {"row": vehicle.row})
            return refuse(
                _("This vehicle is already on row %(row)s for another customer.")
                % {"row": vehicle.row}
            )
        if customer is not None and customer.row is not None and not has_vehicle:
            self._remember_row(customer.ref, number)
            return plan.skip(_("Same as row %(row)s.") % {"row": customer.row})

        # Customer: create, fill its empty fields, or leave it as an earlier row left it.
        if customer is None:
            item = self._new_customer(p)
            chunk_customers[item.ref] = item
            plan.customer = item
            plan.what.append(_("New customer"))
            customer = Handle(ref=item.ref, row=number, store_id=item.obj.home_store_id)
            self.customer_rows[item.ref] = (number, item.obj.home_store_id)
            self._chunk_customers.append(item.ref)
            if item.obj.mobile:
                self._set_key(MOBILE, item.obj.mobile, item.ref, replace=True)
        elif customer.row is None:  # in the database, untouched by this file so far
            item = self._fill_customer(customer.obj, v)
            self.customer_rows[customer.ref] = (number, customer.store_id)
            if customer.obj.mobile:
                self._set_key(MOBILE, customer.obj.mobile, customer.ref, replace=True)
            if item.changes:
                chunk_customers[item.ref] = item
                plan.customer = item
                plan.what.append(
                    _("Fill in customer: %(fields)s") % {"fields": _labels(item.changes)}
                )
            else:
                plan.what.append(_("Existing customer"))
            customer = Handle(ref=customer.ref, row=number, store_id=customer.store_id)
        plan.owner_item = chunk_customers.get(customer.ref)
        self._remember_row(customer.ref, number)

        # Vehicle: create, or fill the empty fields of the one found.
        if vehicle is None and has_vehicle:
            vitem = self._new_vehicle(p, customer, plan.owner_item)
            chunk_vehicles[vitem.ref] = vitem
            plan.vehicle = vitem
            plan.what.append(
                _("New vehicle %(plate)s") % {"plate": vitem.obj.plate or vitem.obj.vin}
            )
            self._remember_vehicle(vitem.ref, vitem.obj, number, customer.ref, v)
        elif vehicle is not None:
            vitem = self._fill_vehicle(vehicle.obj, p, plan, customer, plan.owner_item)
            self._remember_vehicle(vehicle.ref, vehicle.obj, number, customer.ref, v)
            if vitem.changes or vitem.new_owner or vitem.mileage is not None:
                chunk_vehicles[vitem.ref] = vitem
                plan.vehicle = vitem
                plan.what.append(
                    _("Update vehicle: %(fields)s") % {"fields": _labels(vitem.changes)}
                )
            else:
                plan.what.append(_("Existing vehicle"))

        if (plan.customer and plan.customer.created) or (plan.vehicle and plan.vehicle.created):
            plan.action = CREATE
        elif plan.customer or plan.vehicle:
            plan.action = UPDATE
        else:
            plan.skip(_("Already up to date."))
        return plan

    def _remember_row(self, ref: int | None, number: int, *, rejected: bool = False) -> None:
        """The customer that following rows without a name or mobile (merged cells) join."""
        self.last_customer = None if rejected else ref
        self.last_customer_row = number
        self.last_rejected = rejected

    def _remember_vehicle(
        self, ref: int, vehicle: Vehicle, number: int, owner: int, values: dict
    ) -> None:
        """The vehicle's keys, and the row's own (a plate that differs from the one on file
        still means this vehicle for later rows of the file)."""
        self.vehicle_rows[ref] = (number, owner)
        self._chunk_vehicles.append(ref)
        for kind, key in (
            (PLATE, vehicle.plate if vehicle.plate_active else ""),
            (VIN, vehicle.vin),
            (PLATE, values.get("plate")),
            (VIN, values.get("vin")),
        ):
            if key:
                self._set_key(kind, key, ref, replace=False)

    def _new_customer(self, p: Parsed) -> CustomerItem:
        v = p.values
        store = p.store or self.store
        obj = self._tables()[Customer].draft(
            org_id=self.org.pk,
            home_store_id=store.pk,
            name=v["name"],
            mobile=v.get("mobile", ""),
            other_contacts=v.get("other_contacts", "")[:200],
            gender=v.get("gender", ""),
            birthday=v.get("birthday"),
            wechat_id=v.get("wechat_id", ""),
            level=v.get("level", ""),
            notes=v.get("notes", ""),
            source_id=v.get("source_id"),
        )
        search_fields(obj)
        return CustomerItem(obj=obj, ref=next(self._temp), created=True)

    def _fill_customer(self, obj: Customer, v: dict) -> CustomerItem:
        changes = {}
        for key in CUSTOMER_FILL:
            new = v.get(key)
            if key == "other_contacts" and new:
                new = new[:200]
            if new not in (None, "") and getattr(obj, key) in (None, ""):
                changes[key] = [audit._plain(getattr(obj, key)), audit._plain(new)]
                setattr(obj, key, new)
        return CustomerItem(obj=obj, ref=obj.pk, created=False, changes=changes)

    def _new_vehicle(
        self, p: Parsed, customer: Handle, owner_item: CustomerItem | None
    ) -> VehicleItem:
        v = p.values
        km = v.get("mileage_km")
        obj = self._tables()[Vehicle].draft(
            org_id=self.org.pk,
            home_store_id=customer.store_id or self.store.pk,
            owner_id=customer.ref if customer.ref > 0 else None,
            plate=v.get("plate", ""),
            vin=v.get("vin", ""),
            vin_check_ok=p.vin_ok,
            brand=v.get("brand", ""),
            model=v.get("model", ""),
            insurance_expires_on=v.get("insurance_expires_on"),
            inspection_due_on=v.get("inspection_due_on"),
            current_mileage=km,
            mileage_read_on=self.today if km is not None else None,
        )
        vehicle_search_fields(obj)
        return VehicleItem(
            obj=obj,
            ref=next(self._temp),
            created=True,
            owner=owner_item,
            new_owner=True,
            mileage=km,
        )

    def _fill_vehicle(
        self,
        obj: Vehicle,
        p: Parsed,
        plan: RowPlan,
        customer: Handle,
        owner_item: CustomerItem | None,
    ) -> VehicleItem:
        v = p.values
        item = VehicleItem(obj=obj, ref=obj.pk, created=False)

        def change(key, new):
            item.changes[key] = [audit._plain(getattr(obj, key)), audit._plain(new)]
            setattr(obj, key, new)

        for key in VEHICLE_FILL:
            new = v.get(key)
            if new not in (None, "") and getattr(obj, key) in (None, ""):
                change(key, new)
        if v.get("vin") and not obj.vin:
            change("vin", v["vin"])
            vin_tail = obj.vin_tail
            vehicle_search_fields(obj)
            item.changes["vin_tail"] = [vin_tail, obj.vin_tail]
            change("vin_check_ok", p.vin_ok)
        elif v.get("vin") and obj.vin != v["vin"]:
            plan.warnings.append(
                _("The VIN differs from the one on file (%(vin)s); not changed.") % {"vin": obj.vin}
            )
        if v.get("plate") and not obj.plate:
            change("plate", v["plate"])
            change("plate_active", True)
        elif v.get("plate") and obj.plate != v["plate"]:
            plan.warnings.append(
                _("The plate differs from the one on file (%(plate)s); not changed.")
                % {"plate": obj.plate}
            )
        km = v.get("mileage_km")
        if km is not None:
            if obj.current_mileage is None or km > obj.current_mileage:
                change("current_mileage", km)
                change("mileage_read_on", self.today)
                item.mileage = km
            elif km < obj.current_mileage:
                plan.warnings.append(
                    _("Mileage is lower than the %(km)s km on file; not changed.")
                    % {"km": obj.current_mileage}
                )
        if obj.owner_id is None:
            item.new_owner = True
            item.owner = owner_item
            if customer.ref > 0:
                change("owner_id", customer.ref)
            else:
                item.changes["owner_id"] = [None, None]  # filled in once the owner is saved
        elif obj.owner_id != customer.ref:
            plan.warnings.append(_("The vehicle belongs to another customer; owner not changed."))
        return item

    # --- writing ----------------------------------------------------------------------------

    def _write_chunk(self, plans: list[RowPlan]) -> None:
        try:
            with transaction.atomic():
                self._write(plans)
        except IntegrityError:
            # Someone else saved a conflicting record meanwhile: write row by row, so only
            # the rows that really conflict are rejected.
            self._unsave(plans)
            for plan in plans:
                if plan.action not in (CREATE, UPDATE):
                    continue
                owner = plan.owner_item
                if (
                    owner is not None
                    and owner is not plan.customer
                    and owner.created
                    and owner.obj.pk is None
                ):
                    self._unsave([plan])
                    plan.reject(_("The customer's row above could not be saved."))
                    continue
                try:
                    with transaction.atomic():
                        self._write([plan])
                except IntegrityError:
                    self._unsave([plan])
                    plan.reject(
                        _("Conflicts with a record saved meanwhile; import this row again.")
                    )
        self._settle()

    @staticmethod
    def _unsave(plans: list[RowPlan]) -> None:
        for plan in plans:
            for item in (plan.customer, plan.vehicle):
                if item is not None and item.created:
                    item.obj.pk = None

    def _settle(self) -> None:
        """After a chunk is written: temporary ids of what was saved become real ids, and
        what could not be saved is forgotten."""
        customers: dict[int, int | None] = {}
        for ref in self._chunk_customers:
            item = self._pending[ref]
            customers[ref] = item.obj.pk
            entry = self.customer_rows.pop(ref, None)
            if item.obj.mobile and self.mobiles.get(item.obj.mobile) == ref:
                del self.mobiles[item.obj.mobile]
            if item.obj.pk is None or entry is None:
                continue
            self.customer_rows[item.obj.pk] = entry
            if item.obj.mobile:
                self.mobiles[item.obj.mobile] = item.obj.pk
        if self.last_customer in customers:
            self.last_customer = customers[self.last_customer]
            if self.last_customer is None:
                self.last_rejected = True
        for ref in self._chunk_vehicles:
            entry = self.vehicle_rows.pop(ref, None)
            if entry is None:
                continue
            row, owner = entry
            owner = customers.get(owner, owner)
            item = self._pending.get(ref)
            real = item.obj.pk if item is not None else ref
            vehicle = item.obj if item is not None else None
            if vehicle is not None:
                for index, key in ((self.plates, vehicle.plate), (self.vins, vehicle.vin)):
                    if key and index.get(key) == ref:
                        del index[key]
            if real is None or owner is None:
                continue
            self.vehicle_rows[real] = (row, owner)
            if vehicle is not None:
                if vehicle.plate:
                    self.plates[vehicle.plate] = real
                if vehicle.vin:
                    self.vins[vehicle.vin] = real

    def _write(self, plans: list[RowPlan]) -> None:
        now = timezone.now()
        tables = self._tables()
        entries: list[dict] = []
        new_customers = [p.customer for p in plans if p.customer and p.customer.created]
        old_customers = [p.customer for p in plans if p.customer and not p.customer.created]
        self._insert_new(Customer, new_customers, now, entries)
        if old_customers:
            fields = sorted({k for i in old_customers for k in i.changes} | {"updated_at"})
            for item in old_customers:
                item.obj.updated_at = now
            Customer.objects.bulk_update([i.obj for i in old_customers], fields)

        new_vehicles, old_vehicles = [], []
        for plan in plans:
            item = plan.vehicle
            if item is None:
                continue
            if item.owner is not None:  # an owner written in this chunk: now it has an id
                item.obj.owner_id = item.owner.obj.pk
                if not item.created and item.new_owner:
                    item.changes["owner_id"] = [None, item.owner.obj.pk]
            (new_vehicles if item.created else old_vehicles).append(item)
        self._insert_new(Vehicle, new_vehicles, now, entries)
        if old_vehicles:
            fields = sorted({k for i in old_vehicles for k in i.changes} | {"updated_at"})
            for item in old_vehicles:
                item.obj.updated_at = now
            Vehicle.objects.bulk_update([i.obj for i in old_vehicles], fields)

        vehicles = new_vehicles + old_vehicles
        ownerships = [
            {"vehicle_id": i.obj.pk, "customer_id": i.obj.owner_id, "started_at": now}
            for i in vehicles
            if i.new_owner and i.obj.owner_id
        ]
        for row, pk in zip(ownerships, bulk.allocate_ids(Ownership, len(ownerships)), strict=True):
            row["id"] = pk
        tables[Ownership].insert(tables[Ownership].from_dict(o) for o in ownerships)
        readings = [
            {
                "vehicle_id": i.obj.pk,
                "km": i.mileage,
                "read_on": self.today,
                "source": MileageReading.Source.IMPORT,
                "note": self.note[:200],
                "recorded_by_id": self.user_id,
                "created_at": now,
            }
            for i in vehicles
            if i.mileage is not None
        ]
        for row, pk in zip(readings, bulk.allocate_ids(MileageReading, len(readings)), strict=True):
            row["id"] = pk
        tables[MileageReading].insert(tables[MileageReading].from_dict(r) for r in readings)
        tables[PlateKey].insert(
            (self.org.pk, i.obj.pk, k, i.obj.home_store_id)
            for i in vehicles
            if (i.created or "plate" in i.changes) and i.obj.plate
            for k in plate_keys(i.obj.plate)
        )

        store_of = {i.obj.pk: i.obj.home_store_id for i in vehicles}
        entry = self._entry
        entries += [entry(Customer, i.obj, i.changes, now) for i in old_customers]
        entries += [entry(Vehicle, i.obj, i.changes, now) for i in old_vehicles if i.changes]
        entries += [entry(Ownership, o, None, now, store_of[o["vehicle_id"]]) for o in ownerships]
        entries += [
            entry(MileageReading, r, None, now, store_of[r["vehicle_id"]]) for r in readings
        ]
        tables[AuditLog].insert(tables[AuditLog].from_dict(e) for e in entries)

    def _insert_new(self, model, items: list, now, entries: list) -> None:
        """Give new customers or vehicles their ids, insert them, and note their audit
        entries (the values are read once for both)."""
        if not items:
            return
        table = self._tables()[model]
        names, textual = table.attnames, table.textual
        rows = []
        for item, pk in zip(items, bulk.allocate_ids(model, len(items)), strict=True):
            obj = item.obj
            obj.pk = pk
            obj.created_at = obj.updated_at = now
            values = table.values(obj)
            changes = {
                name: [None, value]
                for name, value in zip(names, values)  # noqa: B905  (same length)
                if value is not None and value != ""
            }
            del changes["id"]
            for name in textual:
                if name in changes:
                    changes[name][1] = plain(changes[name][1])
            entries.append(self._entry(model, obj, changes, now, action="create"))
            rows.append(table.adapt(values))
        table.insert(rows)

    def _tables(self) -> dict:
        if not hasattr(self, "_table_cache"):
            self._table_cache = {
                Customer: bulk.Table(Customer, with_id=True),
                Vehicle: bulk.Table(Vehicle, with_id=True),
                Ownership: bulk.Table(Ownership, with_id=True),
                MileageReading: bulk.Table(MileageReading, with_id=True),
                PlateKey: bulk.Table(PlateKey),
                AuditLog: bulk.Table(AuditLog),
            }
            assert self._table_cache[PlateKey].attnames == [
                "org_id",
                "vehicle_id",
                "key",
                "home_store_id",
            ]
            self._attnames = {
                model: [f.attname for f in model._meta.concrete_fields if not f.primary_key]
                for model in (Customer, Vehicle, Ownership, MileageReading)
            }
        return self._table_cache

    def _entry(
        self, model, obj, changes: dict | None, now, store_id=None, action: str = ""
    ) -> dict:
        """An audit entry like the model signals write: a create lists every non-empty field,
        an update the fields changed with their old and new values."""
        if isinstance(obj, dict):  # ownership or mileage reading, written from a dict
            pk = obj["id"]
            label = (
                f"{obj['km']} km @ {obj['read_on']}"
                if model is MileageReading
                else f"#{obj['vehicle_id']} → #{obj['customer_id']}"
            )
            if changes is None:
                changes = {
                    name: [None, plain(value)]
                    for name in self._attnames[model]
                    if (value := obj.get(name)) is not None and value != ""
                }
                action = "create"
        else:
            pk = obj.pk
            label = str(obj)[:200]
            store_id = obj.home_store_id
        return {
            "created_at": now,
            "org_id": self.org.pk,
            "store_id": store_id,
            "user_id": self.user_id,
            "user_label": self.user_label,
            "source": AuditLog.Source.IMPORT,
            "ip": None,
            "request_id": self.request_id,
            "action": action or "update",
            "object_type": audit.model_label(model),
            "object_id": str(pk),
            "object_repr": label,
            "changes": changes,
        }


def _labels(changes: dict) -> str:
    names = []
    for key in changes:
        key = {"source_id": "source", "owner_id": "owner", "current_mileage": "mileage_km"}.get(
            key, key
        )
        label = FIELD_LABELS.get(key)
        if key == "owner":
            label = _("owner")
        if label and str(label) not in names:
            names.append(str(label))
    return ", ".join(names)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """An import allocates millions of short-lived objects (a chunk's cells, plans and
    drafts); at the default thresholds Python's cycle collector would run every few hundred
    of them. Nothing here makes reference cycles that need it sooner."""
    previous = gc.get_threshold()
    gc.set_threshold(20_000, 20, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
