"""Reads of the drill-down: HQ → region → store → person → the work orders behind a number.

Stores and regions are compared with grouped queries (two per level, whatever the number of
stores) that compute the same figures as the KPI library: car count = visits, sales = totals
less VAT, ARO = sales ÷ visits, NPS = % promoters − % detractors of the surveys submitted in
the period. People are few per store, so their figures come from the KPI functions themselves."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from autocrm.core import scoping
from autocrm.core.models import Region, Store, User
from autocrm.core.selectors import visible_stores
from autocrm.reports import kpis
from autocrm.reports.models import DailyStoreStat
from autocrm.service.models import WorkOrder

LEVELS = ("org", "region", "store")


@dataclass
class Where:
    """Where the user stands in the drill-down: the whole org, a region or a store."""

    level: str
    region: Region | None = None
    store: Store | None = None


def _int(raw) -> int | None:
    return int(raw) if raw and str(raw).isdigit() else None


def locate(user: User, region=None, store=None) -> Where:
    """The place asked for (404 when the user may not see it); by default the widest one the
    user sees that has more than one child: a store manager of one store lands on it."""
    stores = visible_stores(user)
    store_id, region_id = _int(store), _int(region)
    if store_id is not None:
        found = stores.select_related("region").filter(pk=store_id).first()
        if found is None:
            raise Http404
        return Where("store", region=found.region, store=found)
    if region_id is not None:
        found = Region.objects.filter(
            pk=region_id, org_id=user.org_id, pk__in=stores.values("region_id")
        ).first()
        if found is None:
            raise Http404
        return Where("region", region=found)
    if not scoping.is_org_wide(user):
        ids = list(stores.values_list("pk", flat=True)[:2])
        if len(ids) == 1:
            return locate(user, store=ids[0])
        regions = set(stores.values_list("region_id", flat=True).distinct())
        if len(regions) == 1 and None not in regions:
            return locate(user, region=regions.pop())
    return Where("org")


def basis(user: User, where: Where, start: datetime.date, end: datetime.date) -> kpis.Basis:
    b = kpis.basis_for(user, start, end, rollups=True)
    if where.store is not None:
        return b.narrow("store", where.store.pk)
    if where.region is not None:
        return b.narrow("region", where.region.pk)
    return b


def _figures(b: kpis.Basis, key: str) -> dict:
    """Car count, sales, ARO and NPS per value of ``key`` (a work-order field path): per
    store or region from the daily rollups, per person from the visits and surveys."""
    if b.rolled_up and key in ROLLED_KEYS:
        return _rolled_figures(b, key)
    lo, hi = b.window
    money = {
        row["k"]: row
        for row in kpis.visits(b)
        .values(k=F(key))
        .annotate(n=Count("id"), total=Sum("total"), tax=Sum("tax"))
        .order_by()
    }
    surveys = {
        row["k"]: row
        for row in b.surveys.filter(submitted_at__gte=lo, submitted_at__lt=hi)
        .values(k=F(f"work_order__{key}"))
        .annotate(
            n=Count("id"),
            p=Count("id", filter=Q(nps__gte=9)),
            d=Count("id", filter=Q(nps__lte=6)),
        )
        .order_by()
    }
    out = {}
    for k in set(money) | set(surveys):
        m = money.get(k) or {"n": 0, "total": 0, "tax": 0}
        s = surveys.get(k) or {"n": 0, "p": 0, "d": 0}
        out[k] = _figure(m["n"], m["total"], m["tax"], s["n"], s["p"], s["d"])
    return out


# Keys the daily store rollups split by.
ROLLED_KEYS = ("store_id", "store__region_id")


def _rolled_figures(b: kpis.Basis, key: str) -> dict:
    rows = kpis.summed(
        [qs.annotate(k=F(key)) for qs in kpis.rolled(b, b.store_days, b.store_months)],
        ("k",),
        {"n": "car_count", "total": "sales", "tax": "tax"}
        | {"sn": "surveys", "p": "promoters", "d": "detractors"},
    )
    return {
        row["k"]: _figure(row["n"], row["total"], row["tax"], row["sn"], row["p"], row["d"])
        for row in rows
        if row["n"] or row["sn"]
    }


def _figure(cars, total, tax, surveys, promoters, detractors) -> dict:
    net = kpis.net_of(total, tax) if cars else None
    return {
        "cars": cars,
        "sales": net,
        "aro": kpis.ratio(net, cars) if cars else None,
        "nps": kpis.ratio(promoters - detractors, surveys, kpis.HUNDRED),
    }


EMPTY = {"cars": 0, "sales": None, "aro": None, "nps": None}


def _row(key, label, figures: dict, **extra) -> dict:
    f = figures.get(key, EMPTY)
    return {
        "key": key,
        "label": label,
        **f,
        "sales_display": kpis.display(f["sales"], "¥"),
        "aro_display": kpis.display(f["aro"], "¥"),
        "nps_display": kpis.display(f["nps"]),
        **extra,
    }


def children(user: User, where: Where, b: kpis.Basis) -> list[dict]:
    """At the org level the regions (and the stores without one), at a region its stores:
    one row each, best sales first."""
    stores = visible_stores(user)
    if where.level == "org":
        figures = _figures(b, "store__region_id")
        regions = Region.objects.filter(
            org_id=user.org_id, pk__in=stores.values("region_id")
        ).order_by("code")
        rows = [_row(r.pk, r.name, figures, kind="region") for r in regions]
        loose = stores.filter(region=None)
        if loose.exists():
            sfig = _figures(b, "store_id")
            rows += [_row(s.pk, s.name, sfig, kind="store") for s in loose]
    elif where.level == "region":
        figures = _figures(b, "store_id")
        rows = [
            _row(s.pk, s.name, figures, kind="store")
            for s in stores.filter(region_id=where.region.pk)
        ]
    else:
        return []
    rows.sort(key=lambda r: (r["sales"] is None, -(r["sales"] or 0), str(r["label"])))
    return rows


def people(user: User, b: kpis.Basis) -> dict:
    """The advisors of the basis ranked by sales, the technicians by efficiency (then NPS)."""
    from autocrm.reports.selectors import _groups

    advisors = []
    figures = _figures(b, "advisor_id")
    for key, label, _part in _groups(user, b, "advisor"):
        advisors.append(_row(int(key), label, figures, kind="advisor"))
    advisors.sort(key=lambda r: (r["sales"] is None, -(r["sales"] or 0), r["label"]))
    technicians = []
    for key, label, part in _groups(user, b, "technician"):
        eff = kpis.technician_efficiency(part)
        score = kpis.nps(part)
        technicians.append(
            {
                "key": int(key),
                "label": label,
                "kind": "technician",
                "cars": kpis.car_count(part),
                "efficiency": eff,
                "efficiency_display": kpis.display(eff, "%"),
                "nps": score,
                "nps_display": kpis.display(score),
                "billed": kpis.q2(kpis.billed_hours(part)),  # memoised: no second read
            }
        )
    technicians.sort(key=lambda r: (r["efficiency"] is None, -(r["efficiency"] or 0), r["label"]))
    return {"advisors": advisors, "technicians": technicians}


def _first_month(months: int) -> datetime.date:
    first = timezone.localdate().replace(day=1)
    for _i in range(months - 1):
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return first


def trends(user: User, where: Where, months: int = 12) -> dict:
    """Car count and sales (excl. VAT) per month of each child (region or store) from the
    daily rollups, oldest first: ``{"months": [...], "series": [{name, cars, sales}]}``."""
    first = _first_month(months)
    # The stores named (all of them at the org level) so the (store, day) key serves the range.
    rows = scoping.scoped(DailyStoreStat.objects.all(), user).filter(
        store_id__in=sorted(scoping.store_ids(user)), day__gte=first
    )
    if where.level == "store":
        rows, key, names = (
            rows.filter(store_id=where.store.pk),
            "store_id",
            {where.store.pk: where.store.name},
        )
    elif where.level == "region":
        rows = rows.filter(store__region_id=where.region.pk)
        key = "store_id"
        names = dict(
            visible_stores(user).filter(region_id=where.region.pk).values_list("pk", "name")
        )
    else:
        key = "store__region_id"
        names = dict(Region.objects.filter(org_id=user.org_id).values_list("pk", "name"))
    # Grouped by day in SQL and into months here (a month truncation is a Python call per
    # row on SQLite).
    data = (
        rows.values("day", k=F(key))
        .annotate(cars=Sum("car_count"), sales=Sum("sales"), tax=Sum("tax"))
        .order_by()
    )
    labels = []
    d = first
    today = timezone.localdate()
    while d <= today:
        labels.append(d.strftime("%Y-%m"))
        d = (d + datetime.timedelta(days=32)).replace(day=1)
    found: dict = {}
    for row in data:
        month = found.setdefault(
            (row["k"], row["day"].strftime("%Y-%m")), {"cars": 0, "sales": 0, "tax": 0}
        )
        for name in ("cars", "sales", "tax"):
            month[name] += row[name] or 0
    series = []
    for k, name in names.items():
        cars, sales = [], []
        for label in labels:
            row = found.get((k, label))
            cars.append(row["cars"] if row else 0)
            sales.append(str(kpis.q2(row["sales"] - row["tax"])) if row else "0.00")
        if any(cars):
            series.append({"name": name, "cars": cars, "sales": sales})
    return {"months": labels, "series": series}


def orders(
    user: User,
    start: datetime.date,
    end: datetime.date,
    *,
    store=None,
    region=None,
    advisor=None,
    technician=None,
) -> QuerySet[WorkOrder]:
    """The visits behind a number: the user's scoped settled/closed work orders of the
    period, narrowed like the figure was (store, region, advisor, technician)."""
    b = kpis.basis_for(user, start, end)
    for by, value in (
        ("store", store),
        ("region", region),
        ("advisor", advisor),
        ("technician", technician),
    ):
        value = _int(value)
        if value is not None:
            b = b.narrow(by, value)
    return kpis.visits(b).select_related("store", "customer", "vehicle", "advisor")


def person_name(user: User, pk) -> str:
    pk = _int(pk)
    if pk is None:
        return ""
    found = User.objects.filter(pk=pk, org_id=user.org_id).first()
    return found.display_name if found else ""
