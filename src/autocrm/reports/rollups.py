"""Daily rollups: one computation, GROUP BY store and local day, used both for the worker's
incremental refresh of a store-day and for ``rebuild`` over a range.

A store-day is always recomputed whole from the raw rows, never incremented, so a replayed
event, a refund days later or a back-dated settlement leave the same figures as a rebuild."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from autocrm.core.models import Store
from autocrm.reports.models import DailyStaffStat, DailyStoreStat
from autocrm.service.models import Payment, TimeEntry, WorkOrder, WorkOrderLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
FINISHED = [WorkOrder.Status.SETTLED, WorkOrder.Status.CLOSED]
# Events after which a store-day's figures may have changed.
EVENTS = (
    "work_order.settled",
    "work_order.closed",
    "work_order.paid",
    "payment.refunded",
    # A correction of the settlement date; the payload names the ``previous_days``.
    "work_order.backdated",
)

STORE_FIELDS = (
    "car_count",
    "sales",
    "tax",
    "labour",
    "parts",
    "other",
    "discount",
    "parts_cost",
    "takings",
    "refunds",
    "new_customers",
    "comebacks",
    "billed_hours",
    "clocked_hours",
)
STAFF_FIELDS = ("car_count", "sales", "tax", "billed_hours", "clocked_hours")


def local_window(start: datetime.date, end: datetime.date) -> tuple[datetime.datetime, ...]:
    """Aware datetimes [start 00:00, end+1 00:00) in the shop's time zone."""
    tz = timezone.get_current_timezone()
    lo = timezone.make_aware(datetime.datetime.combine(start, datetime.time.min), tz)
    hi = timezone.make_aware(
        datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min), tz
    )
    return lo, hi


def _q(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, ROUND_HALF_UP)


def _hours(start: datetime.datetime, end: datetime.datetime) -> Decimal:
    return Decimal(max(0, (end - start).total_seconds())) / Decimal(3600)


def compute(
    store_ids: Iterable[int] | None, start: datetime.date, end: datetime.date
) -> tuple[dict, dict]:
    """Figures per (store, day) and per (store, day, user) for the local days start…end."""
    lo, hi = local_window(start, end)
    tz = timezone.get_current_timezone()
    ids = None if store_ids is None else list(store_ids)

    def stores(qs, path="store_id"):
        return qs if ids is None else qs.filter(**{f"{path}__in": ids})

    finished = stores(
        WorkOrder.objects.filter(status__in=FINISHED, settled_at__gte=lo, settled_at__lt=hi)
    )
    store_rows: dict = defaultdict(lambda: dict.fromkeys(STORE_FIELDS, ZERO))
    staff_rows: dict = defaultdict(lambda: dict.fromkeys(STAFF_FIELDS, ZERO))
    orgs: dict[int, int] = {}

    day = TruncDate("settled_at", tzinfo=tz)
    for row in (
        finished.annotate(day=day)
        .values("org_id", "store_id", "day")
        .annotate(
            car_count=Count("id"),
            sales=Sum("total"),
            tax=Sum("tax"),
            labour=Sum("labour_total"),
            parts=Sum("parts_total"),
            other=Sum("other_total"),
            discount=Sum("discount_total"),
            comebacks=Count("id", filter=Q(comeback_of__isnull=False)),
        )
        .order_by()
    ):
        key = (row["store_id"], row["day"])
        orgs[row["store_id"]] = row["org_id"]
        target = store_rows[key]
        for name in ("car_count", "comebacks"):
            target[name] = row[name]
        for name in ("sales", "tax", "labour", "parts", "other", "discount"):
            target[name] = _q(row[name])

    for row in (
        finished.exclude(advisor=None)
        .annotate(day=day)
        .values("store_id", "day", "advisor_id")
        .annotate(car_count=Count("id"), sales=Sum("total"), tax=Sum("tax"))
        .order_by()
    ):
        target = staff_rows[(row["store_id"], row["day"], row["advisor_id"])]
        target["car_count"] = row["car_count"]
        target["sales"] = _q(row["sales"])
        target["tax"] = _q(row["tax"])

    approved = WorkOrderLine.objects.filter(
        work_order__in=finished, approval=WorkOrderLine.Approval.APPROVED
    )
    line_day = TruncDate("work_order__settled_at", tzinfo=tz)
    cost = ExpressionWrapper(
        F("quantity") * F("part__cost"), output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    for row in (
        approved.filter(kind=WorkOrderLine.Kind.PART, customer_supplied=False, part__isnull=False)
        .annotate(day=line_day)
        .values("work_order__store_id", "day")
        .annotate(cost=Sum(cost))
        .order_by()
    ):
        store_rows[(row["work_order__store_id"], row["day"])]["parts_cost"] = _q(row["cost"])

    # Billed hours: labour lines' quantity, shared equally by the technicians on the line.
    labour_lines = approved.filter(kind=WorkOrderLine.Kind.LABOUR).annotate(day=line_day)
    tech_map: dict[int, list[int]] = defaultdict(list)
    for line_id, user_id in WorkOrderLine.technicians.through.objects.filter(
        workorderline__in=labour_lines.values("pk")
    ).values_list("workorderline_id", "user_id"):
        tech_map[line_id].append(user_id)
    billed: dict = defaultdict(Decimal)
    staff_billed: dict = defaultdict(Decimal)
    for line_id, store_id, d, qty in labour_lines.values_list(
        "pk", "work_order__store_id", "day", "quantity"
    ):
        billed[(store_id, d)] += qty
        techs = tech_map.get(line_id, [])
        for user_id in techs:
            staff_billed[(store_id, d, user_id)] += qty / len(techs)
    for key, value in billed.items():
        store_rows[key]["billed_hours"] = _q(value)
    for key, value in staff_billed.items():
        staff_rows[key]["billed_hours"] = _q(value)

    # Clocked hours: finished time entries on the orders settled that day.
    clocked: dict = defaultdict(Decimal)
    staff_clocked: dict = defaultdict(Decimal)
    for store_id, d, user_id, began, ended in (
        TimeEntry.objects.filter(work_order__in=finished, ended_at__isnull=False)
        .annotate(day=TruncDate("work_order__settled_at", tzinfo=tz))
        .values_list("work_order__store_id", "day", "technician_id", "started_at", "ended_at")
    ):
        hours = _hours(began, ended)
        clocked[(store_id, d)] += hours
        staff_clocked[(store_id, d, user_id)] += hours
    for key, value in clocked.items():
        store_rows[key]["clocked_hours"] = _q(value)
    for key, value in staff_clocked.items():
        staff_rows[key]["clocked_hours"] = _q(value)

    # Money taken (net of refunds) and refunds, dated by the payment.
    for row in (
        stores(Payment.objects.filter(created_at__gte=lo, created_at__lt=hi))
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("org_id", "store_id", "day")
        .annotate(takings=Sum("amount"), refunds=Sum("amount", filter=Q(amount__lt=0)))
        .order_by()
    ):
        orgs[row["store_id"]] = row["org_id"]
        target = store_rows[(row["store_id"], row["day"])]
        target["takings"] = _q(row["takings"])
        target["refunds"] = -_q(row["refunds"])

    # New customers: the customer's first finished visit in the org falls on this store-day.
    customers = finished.values("customer_id")
    first: dict[int, tuple] = {}
    for customer_id, settled_at, _pk, store_id in (
        WorkOrder.objects.filter(
            customer_id__in=customers, status__in=FINISHED, settled_at__isnull=False
        )
        .order_by("settled_at", "id")
        .values_list("customer_id", "settled_at", "id", "store_id")
    ):
        first.setdefault(customer_id, (settled_at, store_id))
    for settled_at, store_id in first.values():
        if lo <= settled_at < hi and (ids is None or store_id in ids):
            store_rows[(store_id, timezone.localdate(settled_at, tz))]["new_customers"] += 1

    wanted = {k[0] for k in store_rows} | {k[0] for k in staff_rows}
    missing = wanted - orgs.keys()
    if missing:
        orgs.update(Store.objects.filter(pk__in=missing).values_list("pk", "org_id"))
    stamped = {k: {**v, "org_id": orgs[k[0]]} for k, v in store_rows.items()}
    staff_stamped = {k: {**v, "org_id": orgs[k[0]]} for k, v in staff_rows.items()}
    return stamped, staff_stamped


def _store(store_ids: Iterable[int] | None, start, end, rows: dict, staff: dict) -> None:
    now = timezone.now()
    store_qs = DailyStoreStat.objects.filter(day__gte=start, day__lte=end)
    staff_qs = DailyStaffStat.objects.filter(day__gte=start, day__lte=end)
    if store_ids is not None:
        store_qs = store_qs.filter(store_id__in=list(store_ids))
        staff_qs = staff_qs.filter(store_id__in=list(store_ids))
    store_qs.delete()
    staff_qs.delete()
    DailyStoreStat.objects.bulk_create(
        [
            DailyStoreStat(store_id=s, day=d, computed_at=now, **values)
            for (s, d), values in rows.items()
        ],
        batch_size=500,
    )
    DailyStaffStat.objects.bulk_create(
        [
            DailyStaffStat(store_id=s, day=d, user_id=u, computed_at=now, **values)
            for (s, d, u), values in staff.items()
        ],
        batch_size=500,
    )


@transaction.atomic
def recompute_store_day(store_id: int, day: datetime.date) -> None:
    """Replace one store-day's rows with figures recomputed from the raw rows."""
    rows, staff = compute([store_id], day, day)
    _store([store_id], day, day, rows, staff)


@transaction.atomic
def rebuild(
    store_ids: Iterable[int] | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
) -> int:
    """Recompute every store-day in the range (all history by default); returns the number
    of store-day rows written."""
    if start is None or end is None:
        bounds = WorkOrder.objects.filter(settled_at__isnull=False)
        pays = Payment.objects.all()
        if store_ids is not None:
            bounds = bounds.filter(store_id__in=list(store_ids))
            pays = pays.filter(store_id__in=list(store_ids))
        dates = [
            timezone.localdate(v)
            for v in (
                bounds.order_by("settled_at").values_list("settled_at", flat=True).first(),
                bounds.order_by("-settled_at").values_list("settled_at", flat=True).first(),
                pays.order_by("created_at").values_list("created_at", flat=True).first(),
                pays.order_by("-created_at").values_list("created_at", flat=True).first(),
            )
            if v is not None
        ]
        if not dates:
            return 0
        start = start or min(dates)
        end = end or max(dates)
    rows, staff = compute(store_ids, start, end)
    _store(store_ids, start, end, rows, staff)
    return len(rows)


def days_touched(work_order_id: int) -> set[tuple[int, datetime.date]]:
    """The store-days an event on this work order may have changed: its settlement day, the
    days of its payments and the later visits of its customer (who may no longer be new)."""
    wo = WorkOrder.objects.filter(pk=work_order_id).first()
    if wo is None:
        return set()
    found = set()
    if wo.settled_at:
        found.add((wo.store_id, timezone.localdate(wo.settled_at)))
    for store_id, created in Payment.objects.filter(work_order=wo).values_list(
        "store_id", "created_at"
    ):
        found.add((store_id, timezone.localdate(created)))
    if wo.settled_at:
        for store_id, settled in WorkOrder.objects.filter(
            customer_id=wo.customer_id, status__in=FINISHED, settled_at__gte=wo.settled_at
        ).values_list("store_id", "settled_at"):
            found.add((store_id, timezone.localdate(settled)))
    return found


def refresh_work_order(work_order_id: int, previous_days: Iterable[str] = ()) -> None:
    """Recompute the store-days of the work order; ``previous_days`` (ISO dates) are days
    it was dated on before a back-dating, which lose it."""
    touched = days_touched(work_order_id)
    store_id = WorkOrder.objects.filter(pk=work_order_id).values_list("store_id", flat=True)
    store_id = store_id.first()
    if store_id is not None:
        touched |= {(store_id, datetime.date.fromisoformat(d)) for d in previous_days}
    for store, day in sorted(touched):
        recompute_store_day(store, day)


def flush_pending(limit: int = 5000) -> int:
    """Recompute the store-days of the work orders waiting in ``RollupPending``, each
    store-day once, then drop those rows; returns the number of store-days recomputed.

    Rows added while this runs are kept for the next run (their own task follows). Two
    workers flushing at once at worst recompute a day twice: a recompute is idempotent."""
    from autocrm.reports.models import RollupPending

    rows = list(
        RollupPending.objects.order_by("pk").values_list("pk", "work_order_id", "previous_days")[
            :limit
        ]
    )
    if not rows:
        return 0
    previous: dict[int, set[str]] = {}
    for _pk, work_order_id, days in rows:
        previous.setdefault(work_order_id, set()).update(days or ())
    touched: set[tuple[int, datetime.date]] = set()
    stores = dict(WorkOrder.objects.filter(pk__in=list(previous)).values_list("pk", "store_id"))
    for work_order_id, days in previous.items():
        touched |= days_touched(work_order_id)
        if work_order_id in stores:
            touched |= {(stores[work_order_id], datetime.date.fromisoformat(d)) for d in days}
    for store, day in sorted(touched):
        recompute_store_day(store, day)
    RollupPending.objects.filter(pk__in=[pk for pk, _wo, _days in rows]).delete()
    return len(touched)


def flush_all() -> None:
    """Flush until nothing is noted (rows noted meanwhile included)."""
    from autocrm.reports.models import RollupPending

    while RollupPending.objects.exists():
        flush_pending()


# Seconds the worker waits after the first noted work order before recomputing, so a burst
# of settlements in a store costs one recompute of its day, not one each.
BATCH_DELAY = 5


def on_event(payload: dict) -> None:
    """Event subscriber (after the commit): note the work order; wake the worker unless a
    wake-up is already waiting (rows noted before this one). The periodic sweep catches a row
    noted just as a run finished."""
    work_order_id = payload.get("work_order_id")
    if work_order_id is None:
        return
    from huey.contrib.djhuey import HUEY

    from autocrm.reports.models import RollupPending
    from autocrm.reports.tasks import refresh_rollups

    waiting = RollupPending.objects.exists()
    RollupPending.objects.create(
        work_order_id=int(work_order_id), previous_days=list(payload.get("previous_days") or ())
    )
    if HUEY.immediate:  # tests and scripts run the task at once
        refresh_rollups()
    elif not waiting:
        refresh_rollups.schedule(delay=BATCH_DELAY)
