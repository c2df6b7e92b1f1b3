"""Reads of customers and vehicles, always scoped to the user: search, lists and the 360° view."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from autocrm.core.models import User
from autocrm.core.scoping import scoped
from autocrm.core.selectors import get_or_404
from autocrm.core.validators import normalize_mobile
from autocrm.customers import maintenance
from autocrm.customers.models import Customer, Interaction, Ownership, PlateKey, Vehicle
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


@dataclass
class Hit:
    customer: Customer | None
    vehicle: Vehicle | None
    matched: str  # plate, mobile, vin, name


def _clean_query(q: str) -> str:
    return strip_separators(q)[:40]


def _mobile_query(q: str) -> str:
    """The query as a mobile number (+86 138 1234 5678 → 13812345678), else ''."""
    mobile = normalize_mobile((q or "")[:40])
    return mobile if mobile.isdigit() else ""


def search(user: User, q: str, limit: int = SEARCH_LIMIT) -> list[Hit]:
    """Plate (any part, with or without province), mobile (full or last 4), VIN (full or last
    6), name (Chinese prefix, full pinyin or initials) or company name. Each branch is one
    indexed lookup; results are scoped to the user's stores."""
    mobile = _mobile_query(q)
    q = _clean_query(q)
    if not q or not user.can("customer.view"):
        return []
    hits: list[Hit] = []
    seen_vehicles: set[int] = set()
    seen_customers: set[int] = set()
    vehicles = visible_vehicles(user).select_related("owner")
    customers = visible_customers(user)
    upper = q.upper()

    def add_vehicles(qs, matched):
        for v in qs[: limit - len(hits)]:
            if v.pk not in seen_vehicles:
                seen_vehicles.add(v.pk)
                if v.owner_id:
                    seen_customers.add(v.owner_id)
                hits.append(Hit(v.owner, v, matched))

    def add_customers(qs, matched):
        for c in qs[: limit - len(hits)]:
            if c.pk not in seen_customers:
                seen_customers.add(c.pk)
                hits.append(Hit(c, None, matched))

    if len(mobile) == 11:
        add_customers(customers.filter(mobile=mobile), "mobile")
    if len(mobile) == 4:
        add_customers(customers.filter(org_id=user.org_id, mobile_tail=mobile), "mobile")
    if len(upper) == 17 and upper.isalnum():
        add_vehicles(vehicles.filter(vin=upper), "vin")
    if len(upper) == 6 and upper.isalnum() and any(c.isdigit() for c in upper):
        add_vehicles(vehicles.filter(org_id=user.org_id, vin_tail=upper), "vin")
    body = upper[1:] if upper[:1] in PROVINCES else upper
    if 2 <= len(body) <= 8 and body.isascii() and body.isalnum():
        # scoped before the limit, so a store's own vehicles are not crowded out by others'
        keys = scoped(PlateKey.objects.filter(prefix("key", body)), user)
        plate_vehicles = vehicles.filter(pk__in=keys.values("vehicle_id")[:200])
        if body != upper:  # the province was typed: it must match too
            plate_vehicles = plate_vehicles.filter(plate__startswith=upper[:1])
        add_vehicles(plate_vehicles.order_by("plate"), "plate")
    # No ORDER BY on prefix branches: a pattern-ops index cannot supply it on PostgreSQL, which
    # would then sort every match (19 000 rows for "zy" at a million customers); the ≤ 10 hits
    # are put in order in Python instead.
    if len(hits) < limit and not q.isascii():
        add_customers(
            customers.filter(Q(org_id=user.org_id) & prefix("name", q)).order_by(), "name"
        )
    if len(hits) < limit and q.isascii() and q.isalpha():
        low = q.lower()
        add_customers(
            customers.filter(Q(org_id=user.org_id) & prefix("name_initials", low)).order_by(),
            "name",
        )
        if len(hits) < limit and len(low) >= 2:
            add_customers(
                customers.filter(Q(org_id=user.org_id) & prefix("name_pinyin", low)).order_by(),
                "name",
            )
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
    custom: dict = field(default_factory=dict)  # custom field key -> value (exact match)


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
    if f.insurance_within_days is not None:
        today = timezone.localdate()
        qs = qs.filter(
            vehicles__insurance_expires_on__gte=today,
            vehicles__insurance_expires_on__lte=today
            + datetime.timedelta(days=f.insurance_within_days),
        )
    for key, value in (f.custom or {}).items():
        if re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key) and value not in ("", None):
            qs = qs.filter(**{f"custom__{key}": value})
    if f.q:
        ids = [h.customer.pk for h in search(user, f.q, limit=200) if h.customer]
        qs = qs.filter(pk__in=ids)
    if f.brand or f.insurance_within_days is not None or f.tag_id:
        qs = qs.distinct()
    return qs
