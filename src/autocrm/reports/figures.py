"""Period figures: the dashboard's figures that do not add up per store-day, kept by the
worker so that a dashboard never scans the raw history.

The return rate counts a customer once in a period, whatever the days and stores of their
visits: no sum of daily rows gives it. Appointment conversion is additive, but bookings are
not noted by the rollup events (they change without a work order). Both are computed here,
every few minutes, for the periods the dashboard offers (``PRESETS``) over every store, every
region and each whole org; a dashboard asking for one of those periods over one of those sets
of stores reads the stored figure, anything else is computed live from indexed queries."""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from autocrm.core.models import Organization, Store
from autocrm.reports.models import PeriodFigure
from autocrm.reports.rollups import FINISHED, local_window, raw_delete
from autocrm.service.models import Appointment, WorkOrder

PRESETS = ("this_month", "last_month", "last_12_months")
CODES = ("return_rate", "appointment_conversion")
# A stored figure older than this is not used (the worker refreshes every 10 minutes; a
# stopped worker must not leave the dashboard showing old figures as current).
FRESH = datetime.timedelta(minutes=20)


def stores_key(store_ids) -> str:
    """A fixed-length name of a set of stores."""
    joined = ",".join(str(i) for i in sorted(store_ids))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def windows(today: datetime.date | None = None) -> list[tuple[datetime.date, datetime.date]]:
    from autocrm.reports.builder import period_window

    return sorted({period_window(p, today) for p in PRESETS})


def _ratio(part: int, whole: int):
    from autocrm.reports.kpis import HUNDRED as SCALE
    from autocrm.reports.kpis import ratio

    return ratio(part, whole, SCALE)


def _returning(group, ids: list[int], lo, hi) -> dict:
    """{group value: (customers seen, customers with two visits or more)} over the visits
    settled in [lo, hi) at the stores ``ids``: the visits grouped by (group, customer) in
    the database, then counted per group."""
    inner = (
        WorkOrder.objects.filter(
            status__in=FINISHED, settled_at__gte=lo, settled_at__lt=hi, store_id__in=ids
        )
        .values(g=group, c=F("customer_id"))
        .annotate(n=Count("id"))
        .order_by()
    )
    sql, params = inner.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.g, COUNT(*), SUM(CASE WHEN t.n >= 2 THEN 1 ELSE 0 END) "  # noqa: S608
            f"FROM ({sql}) t GROUP BY t.g",
            params,
        )
        return {g: (seen, returning or 0) for g, seen, returning in cursor.fetchall()}


def _bookings(ids: list[int], lo, hi) -> dict[int, tuple[int, int]]:
    """{store: (bookings not cancelled, arrived)} starting in [lo, hi)."""
    rows = (
        Appointment.objects.filter(starts_at__gte=lo, starts_at__lt=hi, store_id__in=ids)
        .exclude(status=Appointment.Status.CANCELLED)
        .values("store_id")
        .annotate(n=Count("id"), arrived=Count("id", filter=Q(status=Appointment.Status.ARRIVED)))
        .order_by()
    )
    return {r["store_id"]: (r["n"], r["arrived"]) for r in rows}


def compute(org: Organization, start: datetime.date, end: datetime.date) -> list[dict]:
    """The figures of one period for each store, each region and the whole org."""
    lo, hi = local_window(start, end)
    stores = list(Store.objects.filter(org=org).values_list("pk", "region_id"))
    ids = sorted(pk for pk, _region in stores)
    if not ids:
        return []
    regions: dict[int, list[int]] = defaultdict(list)
    for pk, region in stores:
        if region is not None:
            regions[region].append(pk)
    sets: dict[tuple, list[int]] = {("org", org.pk): ids}
    sets.update({("region", r): members for r, members in regions.items()})
    sets.update({("store", pk): [pk] for pk in ids})

    seen = {("store", g): v for g, v in _returning(F("store_id"), ids, lo, hi).items()}
    if regions:
        by_region = _returning(F("store__region_id"), ids, lo, hi)
        seen.update({("region", g): v for g, v in by_region.items() if g is not None})
    seen.update({("org", g): v for g, v in _returning(F("org_id"), ids, lo, hi).items()})

    booked = _bookings(ids, lo, hi)
    now = timezone.now()
    rows = []
    done: set[str] = set()
    for scope, members in sets.items():
        key = stores_key(members)
        if key in done:  # a region of one store is that store: one row
            continue
        done.add(key)
        customers, returning = seen.get(scope, (0, 0))
        n = sum(booked.get(pk, (0, 0))[0] for pk in members)
        arrived = sum(booked.get(pk, (0, 0))[1] for pk in members)
        values = {
            "return_rate": _ratio(returning, customers),
            "appointment_conversion": _ratio(arrived, n),
        }
        for code, value in values.items():
            rows.append(
                {
                    "org_id": org.pk,
                    "stores_key": key,
                    "start": start,
                    "end": end,
                    "code": code,
                    "value": value,
                    "computed_at": now,
                }
            )
    return rows


def refresh(orgs=None, spans=None) -> int:
    """Recompute the stored figures of the preset periods (or of ``spans``, (start, end)
    pairs) for all orgs (or ``orgs``); the figures of periods no longer offered are dropped.
    Returns the number of rows kept."""
    orgs = list(Organization.objects.all() if orgs is None else orgs)
    spans = windows() if spans is None else spans
    kept = 0
    for org in orgs:
        rows = [row for start, end in spans for row in compute(org, start, end)]
        with transaction.atomic():
            raw_delete(PeriodFigure.objects.filter(org=org))
            PeriodFigure.objects.bulk_create(PeriodFigure(**row) for row in rows)
        kept += len(rows)
    return kept


def stored(queryset, store_ids, start, end) -> dict[str, tuple]:
    """{code: (value, computed_at)} of the fresh stored figures of a basis (the user's
    scoped ``PeriodFigure`` queryset, their set of stores and period)."""
    if not store_ids:
        return {}
    after = timezone.now() - FRESH
    return {
        code: (value, at)
        for code, value, at in queryset.filter(
            stores_key=stores_key(store_ids), start=start, end=end, computed_at__gte=after
        ).values_list("code", "value", "computed_at")
    }
