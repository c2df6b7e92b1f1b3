"""Reads of customers and vehicles, always scoped to the user: search, lists and the 360° view."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Q, QuerySet
from django.utils import timezone

from autocrm.core.models import User
from autocrm.core.scoping import is_org_wide, scoped, store_ids
from autocrm.core.selectors import get_or_404
from autocrm.core.validators import normalize_mobile
from autocrm.customers import customfilters, maintenance
from autocrm.customers.models import Customer, Interaction, Ownership, Vehicle
from autocrm.customers.validators import PROVINCES, normalize_plate, strip_separators

TIMELINE_LIMIT = 50
SEARCH_LIMIT = 10
_HIGHEST = "\U0010ffff"


def prefix(field_name: str, value: str) -> Q:
    """``field`` starts with ``value``, in a form the database answers from a B-tree index:
    a byte range on SQLite (whose LIKE is case-insensitive and skips plain indexes), LIKE on
    PostgreSQL (indexes built with varchar_pattern_ops)."""
    if connection.vendor == "sqlite":
        return Q(**{f"{field_name}__gte": value, f"{field_name}__lt": value + _HIGHEST})
    return Q(**{f"{field_name}__startswith": value})


def visible_customers(user: User) -> QuerySet[Customer]:
    return scoped(Customer.objects.filter(merged_into__isnull=True), user)


def visible_vehicles(user: User) -> QuerySet[Vehicle]:
    return scoped(Vehicle.objects.all(), user)


def get_customer(user: User, pk) -> Customer:
    """A visible customer, merged ones included (their page says where they went)."""
    return get_or_404(
        scoped(Customer.objects.all(), user).select_related(
            "home_store", "source", "referrer", "merged_into"
        ),
        pk,
    )


def get_vehicle(user: User, pk) -> Vehicle:
    return get_or_404(visible_vehicles(user).select_related("owner", "home_store"), pk)


# --- search -------------------------------------------------------------------------------


class HitCustomer:
    """The customer columns a hit list shows (search runs on every keystroke: no model
    instances). Compares equal to the ``Customer`` with the same id."""

    __slots__ = ("pk", "name", "mobile", "name_pinyin")

    def __init__(self, pk: int, name: str, mobile: str, name_pinyin: str) -> None:
        self.pk, self.name, self.mobile, self.name_pinyin = pk, name, mobile, name_pinyin

    @property
    def id(self) -> int:
        return self.pk

    def __eq__(self, other) -> bool:
        if isinstance(other, HitCustomer | Customer):
            return self.pk == other.pk
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Customer, self.pk))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<HitCustomer {self.pk} {self.name}>"


class HitVehicle:
    """The vehicle columns a hit list shows. Compares equal to the ``Vehicle`` with the same
    id."""

    __slots__ = ("pk", "plate", "vin", "owner_id")

    def __init__(self, pk: int, plate: str, vin: str, owner_id: int | None) -> None:
        self.pk, self.plate, self.vin, self.owner_id = pk, plate, vin, owner_id

    @property
    def id(self) -> int:
        return self.pk

    def __eq__(self, other) -> bool:
        if isinstance(other, HitVehicle | Vehicle):
            return self.pk == other.pk
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Vehicle, self.pk))

    def __str__(self) -> str:
        return self.plate or self.vin or f"#{self.pk}"

    def __repr__(self) -> str:
        return f"<HitVehicle {self.pk} {self}>"


@dataclass
class Hit:
    customer: HitCustomer | None
    vehicle: HitVehicle | None
    matched: str  # plate, mobile, vin, name


def _clean_query(q: str) -> str:
    return strip_separators(q)[:40]


def _mobile_query(q: str) -> str:
    """The query as a mobile number (+86 138 1234 5678 → 13812345678), else ''."""
    q = (q or "")[:40]
    if q.isascii() and q.isdigit() and not q.startswith(("0086", "86")):
        return q  # plain digits, as typed in the search box: nothing to normalise
    mobile = normalize_mobile(q)
    return mobile if mobile.isdigit() else ""


# The search runs on every keystroke, and its lookups take 0.02–0.1 ms in the database: the
# ORM's fixed cost (building, compiling and materialising querysets, ~2 ms) would be most of
# the time. So each branch is one prepared statement on the DB-API cursor, with every user
# input passed as a parameter, reading only the columns the hit list shows. The WHERE clauses
# are the ones the ORM wrote (``scoped`` + the branch filter), so the plans stay the same.
_CUSTOMER_COLS = "c.id, c.name, c.mobile, c.name_pinyin"
_VEHICLE_COLS = f"v.id, v.plate, v.vin, v.owner_id, {_CUSTOMER_COLS}"
_CUSTOMERS = (
    f"SELECT {_CUSTOMER_COLS} FROM customers_customer c "  # noqa: S608 (no user input)
    "WHERE c.merged_into_id IS NULL AND c.org_id = %s{stores} AND {cond}{order} LIMIT %s"
)
_VEHICLES = (
    f"SELECT {_VEHICLE_COLS} FROM customers_vehicle v "  # noqa: S608 (no user input)
    "LEFT OUTER JOIN customers_customer c ON c.id = v.owner_id "
    "WHERE v.org_id = %s{stores} AND {cond} ORDER BY {order} LIMIT %s"
)
# A store's plate keys are read from the (home_store, key) index: no join to the vehicles
# before the LIMIT (the planner would otherwise walk the store's vehicles).
_PLATE_KEYS_ORG = "SELECT k.vehicle_id FROM customers_platekey k WHERE k.org_id = %s AND {cond}"
_PLATE_KEYS_STORES = (
    "SELECT k.vehicle_id FROM customers_platekey k WHERE k.home_store_id IN ({marks}) AND {cond}"
)
# Plate keys read per search: twice the hits wanted (a plate rarely matches a fragment at
# two places), or many more when the province was typed, which is checked after the keys.
_PLATE_KEYS_PER_HIT = 2
_PLATE_KEY_LIMIT_PROVINCE = 200
_sql_cache: dict[tuple, str] = {}


class _Statements:
    """The search's statements for one database connection and one call: built once per
    shape (cached), run on the bare DB-API cursor unless something watches the queries."""

    def __init__(self, db) -> None:
        self.db = db
        self.sqlite = db.vendor == "sqlite"
        # DEBUG, a test's query capture or an execute wrapper get Django's cursor (logged,
        # wrapped); otherwise the driver's own, which saves ~20 µs a statement (and, on
        # SQLite, a regex rewrite of the SQL) on lookups of 10–30 µs.
        self.watched = bool(db.queries_logged or db.execute_wrappers)
        self.qmark = self.sqlite and not self.watched
        if self.watched:
            self.cursor = db.cursor()
        else:
            db.ensure_connection()
            db.validate_no_broken_transaction()
            self.cursor = db.connection.cursor()

    def close(self) -> None:
        self.cursor.close()

    def fetch(self, sql: str, params: list) -> list[tuple]:
        if self.watched:
            self.cursor.execute(sql, params)
            return self.cursor.fetchall()
        with self.db.wrap_database_errors:
            self.cursor.execute(sql, params)
            return self.cursor.fetchall()

    def prefix(self, column: str, value: str) -> tuple[str, list[str]]:
        """Raw-SQL twin of ``prefix()``: ``value`` stays a parameter, ``%``/``_`` ordinary
        text."""
        if self.sqlite:
            return f"{column} >= %s AND {column} < %s", [value, value + _HIGHEST]
        return f"{column} LIKE %s", [self.db.ops.prep_for_like_query(value) + "%"]

    def sql(self, kind: str, n_stores: int, cond: str, order: str = "") -> str:
        key = (self.sqlite, self.qmark, kind, n_stores, cond, order)
        sql = _sql_cache.get(key)
        if sql is None:
            sql = _build(kind, n_stores, cond, order)
            if self.qmark and kind != "keys":  # the driver's placeholders; no literal % in ours
                sql = sql.replace("%s", "?")
            _sql_cache[key] = sql
        return sql


def _build(kind: str, n_stores: int, cond: str, order: str) -> str:
    marks = ", ".join(["%s"] * n_stores)
    if kind == "customers":
        stores = f" AND c.home_store_id IN ({marks})" if n_stores else ""
        return _CUSTOMERS.format(stores=stores, cond=cond, order=order)
    if kind == "vehicles":
        stores = f" AND v.home_store_id IN ({marks})" if n_stores else ""
        return _VEHICLES.format(stores=stores, cond=cond, order=order)
    if kind == "plate vehicles":
        # Unary + keeps the scope terms off the indexes (SQLite and PostgreSQL alike): the
        # few vehicle ids (≤ 200) from the plate keys drive the query, never a walk of the org's
        # vehicles in plate order (127 ms at chain scale without ANALYZE) or of the store's
        # (27–66 ms after it).
        stores = f" AND +v.home_store_id IN ({marks})" if n_stores else ""
        sql = _VEHICLES.format(stores=stores, cond=cond, order=order)
        return sql.replace("WHERE v.org_id = %s", "WHERE +v.org_id = %s", 1)
    template = _PLATE_KEYS_STORES if n_stores else _PLATE_KEYS_ORG  # plate keys
    return template.format(marks=marks, cond=cond)


def search(user: User, q: str, limit: int = SEARCH_LIMIT) -> list[Hit]:
    """Plate (any part, with or without province), mobile (full or last 4), VIN (full or last
    6), name (Chinese prefix, full pinyin or initials) or company name. Each branch is one
    indexed lookup; results are scoped to the user's stores."""
    mobile = _mobile_query(q)
    q = _clean_query(q)
    if not q or not user.can("customer.view"):
        return []
    if is_org_wide(user):
        stores: list[int] = []
    else:
        stores = sorted(store_ids(user))
        if not stores:
            return []
    n_stores = len(stores)
    org = user.org_id
    hits: list[Hit] = []
    seen_vehicles: set[int] = set()
    seen_customers: set[int] = set()
    upper = q.upper()

    run = _Statements(connections[DEFAULT_DB_ALIAS])
    try:

        def add_vehicles(
            cond: str, params: list, matched: str, order: str = "v.id DESC", kind="vehicles"
        ):
            room = limit - len(hits)
            if room <= 0:
                return
            rows = run.fetch(run.sql(kind, n_stores, cond, order), [org, *stores, *params, room])
            for vid, plate, vin, owner_id, cid, name, mob, pinyin in rows:
                if vid not in seen_vehicles:
                    seen_vehicles.add(vid)
                    owner = None
                    if owner_id is not None:
                        seen_customers.add(owner_id)
                        owner = HitCustomer(cid, name, mob, pinyin)
                    hits.append(Hit(owner, HitVehicle(vid, plate, vin, owner_id), matched))

        def add_customers(cond: str, params: list, matched: str, order: str = ""):
            room = limit - len(hits)
            if room <= 0:
                return
            sql = run.sql("customers", n_stores, cond, order)
            for cid, name, mob, pinyin in run.fetch(sql, [org, *stores, *params, room]):
                if cid not in seen_customers:
                    seen_customers.add(cid)
                    hits.append(Hit(HitCustomer(cid, name, mob, pinyin), None, matched))

        if len(mobile) == 11:
            add_customers("c.mobile = %s", [mobile], "mobile", " ORDER BY c.id DESC")
        if len(mobile) == 4:
            add_customers("c.mobile_tail = %s", [mobile], "mobile", " ORDER BY c.id DESC")
        if len(upper) == 17 and upper.isalnum():
            add_vehicles("v.vin = %s", [upper], "vin")
        if len(upper) == 6 and upper.isalnum() and any(c.isdigit() for c in upper):
            add_vehicles("v.vin_tail = %s", [upper], "vin")
        body = upper[1:] if upper[:1] in PROVINCES else upper
        if 2 <= len(body) <= 8 and body.isascii() and body.isalnum():
            # scoped before the limit, so a store's own vehicles are not crowded out by others'
            key_cond, key_params = run.prefix("k.key", body)
            keys = run.sql("keys", n_stores, key_cond)
            params = [*(stores or [org]), *key_params]
            key_limit = (limit - len(hits)) * _PLATE_KEYS_PER_HIT
            if body != upper:  # the province was typed: it must match too
                key_limit = _PLATE_KEY_LIMIT_PROVINCE
            cond = f"v.id IN ({keys} LIMIT {key_limit})"
            if body != upper:
                cond += " AND substr(v.plate, 1, 1) = %s"
                params.append(upper[:1])
            add_vehicles(cond, params, "plate", "v.plate", "plate vehicles")
            if body != upper and any(h.vehicle.plate == upper for h in hits):
                return hits[:limit]  # the whole plate: nothing else can match better
        # No ORDER BY on prefix branches: a pattern-ops index cannot supply it on PostgreSQL,
        # which would then sort every match (19 000 rows for "zy" at a million customers);
        # the ≤ 10 hits are put in order in Python instead.
        if len(hits) < limit and not q.isascii():
            cond, params = run.prefix("c.name", q)
            add_customers(cond, params, "name")
        if len(hits) < limit and q.isascii() and q.isalpha():
            low = q.lower()
            cond, params = run.prefix("c.name_initials", low)
            add_customers(cond, params, "name")
            if len(hits) < limit and len(low) >= 2:
                cond, params = run.prefix("c.name_pinyin", low)
                add_customers(cond, params, "name")
    finally:
        run.close()
    name_hits = sorted(
        (h for h in hits if h.matched == "name"),
        key=lambda h: (h.customer.name_pinyin, h.customer.pk),
    )
    others = [h for h in hits if h.matched != "name"]
    return (others + name_hits)[:limit]


def exact_match(user: User, q: str) -> Customer | None:
    """An exact plate or mobile opens the 360° page directly (Enter in the search box)."""
    mobile = _mobile_query(q)
    if len(mobile) == 11:
        return visible_customers(user).filter(mobile=mobile).first()
    plate = normalize_plate((q or "")[:40])
    if not plate:
        return None
    vehicle = visible_vehicles(user).filter(plate=plate, plate_active=True).first()
    if vehicle is None or vehicle.owner_id is None:
        return None
    # after a transfer the owner may belong to another store: only open what the user may see
    return visible_customers(user).filter(pk=vehicle.owner_id).first()


def find_customer(user: User, query: str) -> Customer | None:
    """A customer named by exact mobile, exact plate or customer number (merge, transfer)."""
    query = (query or "").strip()
    if not query:
        return None
    found = exact_match(user, query)
    if found is None and query.isdigit():
        found = visible_customers(user).filter(pk=int(query)).first()
    return found


# --- 360° view ----------------------------------------------------------------------------


def timeline(customer: Customer, limit: int = TIMELINE_LIMIT) -> list[Interaction]:
    """The customer's latest interactions, newest first (the customer is already visible)."""
    return list(
        Interaction.objects.filter(customer=customer)
        .select_related("staff", "vehicle")
        .order_by("-occurred_at", "-id")[: max(1, min(limit, 200))]
    )


@dataclass
class Profile:
    customer: Customer
    vehicles: list[Vehicle]
    past_vehicles: list[Ownership]
    timeline: list[Interaction]
    tags: list
    average_days_between_visits: int | None
    extras: dict = field(default_factory=dict)


# Other apps add sections to the 360° page (work orders, recommendations, surveys): each
# callable gets (user, customer, vehicles) and returns a dict merged into ``Profile.extras``.
PROFILE_SECTIONS: list = []


def profile(user: User, pk) -> Profile:
    """Everything on the 360° page in a fixed number of queries, whatever the history length
    (the timeline shows the latest ``TIMELINE_LIMIT`` entries)."""
    customer = get_customer(user, pk)
    vehicles = list(
        Vehicle.objects.filter(owner=customer)
        .annotate(service_remind_days=maintenance.remind_days())
        .order_by("-id")
    )
    maintenance.with_due_state(vehicles)
    past = list(
        Ownership.objects.filter(customer=customer, ended_at__isnull=False)
        .exclude(vehicle__owner=customer)
        .select_related("vehicle")
    )
    tags = list(customer.tags.all())
    average = None
    if customer.visit_count > 1 and customer.first_visit_at and customer.last_visit_at:
        span = (customer.last_visit_at - customer.first_visit_at).days
        average = round(span / (customer.visit_count - 1))
    extras: dict = {}
    for section in PROFILE_SECTIONS:
        extras.update(section(user, customer, vehicles))
    return Profile(customer, vehicles, past, timeline(customer), tags, average, extras)


# --- lists --------------------------------------------------------------------------------


@dataclass
class CustomerFilter:
    q: str = ""
    store_id: int | None = None
    tag_id: int | None = None
    source_id: int | None = None
    level: str = ""
    consent: str = ""  # sms | wechat | none
    brand: str = ""
    insurance_within_days: int | None = None
    custom: dict = field(default_factory=dict)  # key -> value (exact), see customfilters


@dataclass
class VehicleFilter:
    q: str = ""
    store_id: int | None = None
    brand: str = ""
    fuel: str = ""
    insurance_within_days: int | None = None
    inspection_within_days: int | None = None
    custom: dict = field(default_factory=dict)  # key -> value, see customfilters


def _due_within(qs, name: str, days: int | None):
    """``name`` (a date) falls from today to ``days`` days ahead."""
    if days is None:
        return qs
    today = timezone.localdate()
    return qs.filter(
        **{f"{name}__gte": today, f"{name}__lte": today + datetime.timedelta(days=days)}
    )


def vehicle_list(user: User, f: VehicleFilter | None = None) -> QuerySet[Vehicle]:
    """The vehicles the user may see, filtered; only custom fields the user sees filter."""
    f = f or VehicleFilter()
    qs = visible_vehicles(user).select_related("home_store", "owner")
    if f.store_id:
        qs = qs.filter(home_store_id=f.store_id)
    if f.brand:
        qs = qs.filter(brand=f.brand)
    if f.fuel:
        qs = qs.filter(fuel=f.fuel)
    qs = _due_within(qs, "insurance_expires_on", f.insurance_within_days)
    qs = _due_within(qs, "inspection_due_on", f.inspection_within_days)
    qs = customfilters.apply(qs, user, "vehicle", f.custom)
    if f.q:
        ids = [h.vehicle.pk for h in search(user, f.q, limit=200) if h.vehicle]
        qs = qs.filter(pk__in=ids)
    return qs


def customer_list(user: User, f: CustomerFilter | None = None) -> QuerySet[Customer]:
    f = f or CustomerFilter()
    qs = visible_customers(user).select_related("home_store", "source")
    if f.store_id:
        qs = qs.filter(home_store_id=f.store_id)
    if f.tag_id:
        qs = qs.filter(tags__id=f.tag_id)
    if f.source_id:
        qs = qs.filter(source_id=f.source_id)
    if f.level:
        qs = qs.filter(level=f.level)
    if f.consent == "sms":
        qs = qs.filter(consent_sms=True)
    elif f.consent == "wechat":
        qs = qs.filter(consent_wechat=True)
    elif f.consent == "none":
        qs = qs.filter(consent_sms=False, consent_wechat=False)
    if f.brand:
        qs = qs.filter(vehicles__brand=f.brand)
    qs = _due_within(qs, "vehicles__insurance_expires_on", f.insurance_within_days)
    qs = customfilters.apply(qs, user, "customer", f.custom)  # only fields the user sees
    if f.q:
        ids = [h.customer.pk for h in search(user, f.q, limit=200) if h.customer]
        qs = qs.filter(pk__in=ids)
    if f.brand or f.insurance_within_days is not None or f.tag_id:
        qs = qs.distinct()
    return qs
