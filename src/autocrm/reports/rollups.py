"""Daily rollups: one computation, GROUP BY store and local day, used both for the worker's
incremental refresh of a store-day and for ``rebuild`` over a range.

A store-day is always recomputed whole from the raw rows, never incremented, so a replayed
event, a refund days later or a back-dated settlement leave the same figures as a rebuild."""

from __future__ import annotations

import datetime
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from autocrm.core.models import Store
from autocrm.feedback.models import Survey
from autocrm.reports.models import (
    DailyItemStat,
    DailyReasonStat,
    DailyStaffStat,
    DailyStoreStat,
    MonthlyItemStat,
    MonthlyReasonStat,
    MonthlyStaffStat,
    MonthlyStoreStat,
)
from autocrm.service.models import Payment, TimeEntry, WorkOrder, WorkOrderLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
COST_PLACES = Decimal("0.0001")
MICROSECOND = datetime.timedelta(microseconds=1)
FINISHED = [WorkOrder.Status.SETTLED, WorkOrder.Status.CLOSED]
# Events after which a store-day's figures may have changed.
EVENTS = (
    "work_order.settled",
    "work_order.closed",
    "work_order.paid",
    "payment.refunded",
    # A correction of the settlement date; the payload names the ``previous_days``.
    "work_order.backdated",
    # The owner approved or declined lines: the estimate figures of the opening day.
    "work_order.lines_decided",
    # A rating: the technicians' survey counts of the day it was submitted.
    "survey.submitted",
    "survey.low",
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
    "presented",
    "presented_approved",
    "surveys",
    "promoters",
    "detractors",
)
# Kept beside the figures above so a period's sum equals the raw computation exactly.
EXACT_FIELDS = ("clocked_us",)
ITEM_FIELDS = ("lines", "revenue", "cost")
STAFF_FIELDS = (
    "car_count",
    "sales",
    "tax",
    "billed_hours",
    "clocked_hours",
    "surveys",
    "promoters",
    "detractors",
)


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


def _q4(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(COST_PLACES, ROUND_HALF_UP)


def _hours(start: datetime.datetime, end: datetime.datetime) -> Decimal:
    return Decimal(max(0, (end - start).total_seconds())) / Decimal(3600)


def _microseconds(start: datetime.datetime, end: datetime.datetime) -> int:
    return max(0, (end - start) // MICROSECOND)


# SQLite has no time zones: ``TruncDate`` there calls Python once per row (most of a full
# rebuild's time). For a short range the local day is instead a CASE over the day's ends,
# compared in SQL; a rebuild goes a month at a time.
CASE_DAYS = 62


def _day(path: str, start: datetime.date, end: datetime.date):
    """The local day of the datetime ``path``, for rows already within start…end."""
    tz = timezone.get_current_timezone()
    days = (end - start).days + 1
    if connection.vendor != "sqlite" or days > CASE_DAYS:
        return TruncDate(path, tzinfo=tz)
    whens = []
    for n in range(days - 1):
        day = start + datetime.timedelta(days=n)
        _lo, following = local_window(day, day)
        whens.append(When(**{f"{path}__lt": following}, then=Value(day)))
    return Case(*whens, default=Value(end), output_field=DateField())


def compute(
    store_ids: Iterable[int] | None, start: datetime.date, end: datetime.date
) -> tuple[dict, dict]:
    """Figures per (store, day) and per (store, day, user) for the local days start…end."""
    lo, hi = local_window(start, end)
    ids = None if store_ids is None else list(store_ids)

    def stores(qs, path="store_id"):
        return qs if ids is None else qs.filter(**{f"{path}__in": ids})

    finished = stores(
        WorkOrder.objects.filter(status__in=FINISHED, settled_at__gte=lo, settled_at__lt=hi)
    )
    store_rows: dict = defaultdict(lambda: {**dict.fromkeys(STORE_FIELDS, ZERO), "clocked_us": 0})
    staff_rows: dict = defaultdict(lambda: dict.fromkeys(STAFF_FIELDS, ZERO))
    orgs: dict[int, int] = {}

    day = _day("settled_at", start, end)
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
    line_day = _day("work_order__settled_at", start, end)
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
        store_rows[(row["work_order__store_id"], row["day"])]["parts_cost"] = _q4(row["cost"])

    # Billed hours: labour lines' quantity, shared equally by the technicians on the line.
    # In SQL: the quantity per store-day, and per (store-day, technician, number of technicians
    # of the line); the shares are divided here, so a technician's sum stays exact.
    labour_lines = approved.filter(kind=WorkOrderLine.Kind.LABOUR)
    for row in (
        labour_lines.annotate(day=line_day)
        .values("work_order__store_id", "day")
        .annotate(hours=Sum("quantity"))
        .order_by()
    ):
        store_rows[(row["work_order__store_id"], row["day"])]["billed_hours"] = _q(row["hours"])
    through = WorkOrderLine.technicians.through
    crew = (
        through.objects.filter(workorderline_id=OuterRef("workorderline_id"))
        .order_by()
        .values("workorderline_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    staff_billed: dict = defaultdict(Decimal)
    for row in (
        through.objects.filter(workorderline__in=labour_lines.values("pk"))
        .annotate(
            day=_day("workorderline__work_order__settled_at", start, end),
            n=Subquery(crew, output_field=IntegerField()),
        )
        .values("workorderline__work_order__store_id", "day", "user_id", "n")
        .annotate(hours=Sum("workorderline__quantity"))
        .order_by()
    ):
        key = (row["workorderline__work_order__store_id"], row["day"], row["user_id"])
        staff_billed[key] += Decimal(row["hours"]) / row["n"]
    for key, value in staff_billed.items():
        staff_rows[key]["billed_hours"] = _q(value)

    # Clocked hours: finished time entries on the orders settled that day.
    clocked: dict = defaultdict(Decimal)
    staff_clocked: dict = defaultdict(Decimal)
    for store_id, d, user_id, began, ended in (
        TimeEntry.objects.filter(work_order__in=finished, ended_at__isnull=False)
        .annotate(day=_day("work_order__settled_at", start, end))
        .values_list("work_order__store_id", "day", "technician_id", "started_at", "ended_at")
    ):
        hours = _hours(began, ended)
        clocked[(store_id, d)] += hours
        store_rows[(store_id, d)]["clocked_us"] += _microseconds(began, ended)
        staff_clocked[(store_id, d, user_id)] += hours
    for key, value in clocked.items():
        store_rows[key]["clocked_hours"] = _q(value)
    for key, value in staff_clocked.items():
        staff_rows[key]["clocked_hours"] = _q(value)

    # Money taken (net of refunds) and refunds, dated by the payment.
    for row in (
        stores(Payment.objects.filter(created_at__gte=lo, created_at__lt=hi))
        .annotate(day=_day("created_at", start, end))
        .values("org_id", "store_id", "day")
        .annotate(takings=Sum("amount"), refunds=Sum("amount", filter=Q(amount__lt=0)))
        .order_by()
    ):
        orgs[row["store_id"]] = row["org_id"]
        target = store_rows[(row["store_id"], row["day"])]
        target["takings"] = _q(row["takings"])
        target["refunds"] = -_q(row["refunds"])

    # Estimates: the decided lines of the work orders opened that day (whatever their state).
    decided = [
        WorkOrderLine.Approval.APPROVED,
        WorkOrderLine.Approval.DECLINED,
        WorkOrderLine.Approval.DEFERRED,
    ]
    for row in (
        WorkOrderLine.objects.filter(
            approval__in=decided, work_order__opened_at__gte=lo, work_order__opened_at__lt=hi
        )
        .filter(
            **(
                {}
                if ids is None
                # The stores' orgs too (the same rows): the index on (org, opened_at) serves.
                else {
                    "work_order__store_id__in": ids,
                    "work_order__org_id__in": Store.objects.filter(pk__in=ids).values("org_id"),
                }
            )
        )
        .annotate(day=_day("work_order__opened_at", start, end))
        .values("work_order__org_id", "work_order__store_id", "day")
        .annotate(
            presented=Sum("amount"),
            approved=Sum("amount", filter=Q(approval=WorkOrderLine.Approval.APPROVED)),
        )
        .order_by()
    ):
        orgs[row["work_order__store_id"]] = row["work_order__org_id"]
        target = store_rows[(row["work_order__store_id"], row["day"])]
        target["presented"] = _q(row["presented"])
        target["presented_approved"] = _q(row["approved"])

    # Ratings submitted that day, and the technicians' of them (on orders with a line of
    # theirs).
    rated = stores(Survey.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi))
    for row in (
        rated.annotate(day=_day("submitted_at", start, end))
        .values("org_id", "store_id", "day")
        .annotate(
            n=Count("id"),
            p=Count("id", filter=Q(nps__gte=9)),
            d=Count("id", filter=Q(nps__lte=6)),
        )
        .order_by()
    ):
        orgs[row["store_id"]] = row["org_id"]
        target = store_rows[(row["store_id"], row["day"])]
        target["surveys"], target["promoters"], target["detractors"] = row["n"], row["p"], row["d"]
    for row in (
        rated.annotate(day=_day("submitted_at", start, end))
        .values("org_id", "store_id", "day", tech=F("work_order__lines__technicians"))
        .annotate(
            n=Count("id", distinct=True),
            p=Count("id", distinct=True, filter=Q(nps__gte=9)),
            d=Count("id", distinct=True, filter=Q(nps__lte=6)),
        )
        .order_by()
    ):
        if row["tech"] is None:
            continue
        orgs[row["store_id"]] = row["org_id"]
        target = staff_rows[(row["store_id"], row["day"], row["tech"])]
        target["surveys"], target["promoters"], target["detractors"] = row["n"], row["p"], row["d"]

    # New customers: the customer's first finished visit in the org (the earliest settlement,
    # the lowest id on a tie) falls on this store-day: no earlier finished visit, any store.
    earlier = WorkOrder.objects.filter(
        customer_id=OuterRef("customer_id"), status__in=FINISHED
    ).filter(
        Q(settled_at__lt=OuterRef("settled_at"))
        | Q(settled_at=OuterRef("settled_at"), pk__lt=OuterRef("pk"))
    )
    for row in (
        finished.filter(~Exists(earlier))
        .annotate(day=day)
        .values("store_id", "day")
        .annotate(n=Count("id"))
        .order_by()
    ):
        store_rows[(row["store_id"], row["day"])]["new_customers"] = row["n"]

    wanted = {k[0] for k in store_rows} | {k[0] for k in staff_rows}
    missing = wanted - orgs.keys()
    if missing:
        orgs.update(Store.objects.filter(pk__in=missing).values_list("pk", "org_id"))
    stamped = {k: {**v, "org_id": orgs[k[0]]} for k, v in store_rows.items()}
    staff_stamped = {k: {**v, "org_id": orgs[k[0]]} for k, v in staff_rows.items()}
    return stamped, staff_stamped


def item_rows(store_ids: Iterable[int] | None, start: datetime.date, end: datetime.date):
    """Per (store, day, item name): the approved lines of the visits, their amount and their
    parts cost (quantity × the part's cost; owner-supplied parts cost nothing), as a
    ``values()`` queryset named for ``DailyItemStat`` (with ``ITEM_RENAMED``)."""
    lo, hi = local_window(start, end)
    lines = WorkOrderLine.objects.filter(
        approval=WorkOrderLine.Approval.APPROVED,
        work_order__status__in=FINISHED,
        work_order__settled_at__gte=lo,
        work_order__settled_at__lt=hi,
    )
    if store_ids is not None:
        lines = lines.filter(work_order__store_id__in=list(store_ids))
    cost = ExpressionWrapper(
        F("quantity") * F("part__cost"), output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    costed = Q(kind=WorkOrderLine.Kind.PART, customer_supplied=False, part__isnull=False)
    return (
        lines.annotate(day=_day("work_order__settled_at", start, end))
        .values("work_order__org_id", "work_order__store_id", "day", "name")
        .annotate(
            lines=Count("id"),
            revenue=Sum("amount"),
            cost=Coalesce(Sum(cost, filter=costed), Value(ZERO), output_field=cost.output_field),
        )
        .order_by()
    )


ITEM_RENAMED = {"work_order__org_id": "org_id", "work_order__store_id": "store_id"}


def compute_reasons(
    store_ids: Iterable[int] | None, start: datetime.date, end: datetime.date
) -> dict:
    """Per (store, day, reason): how often it was given on the low scores submitted that
    day (the reasons are a list per survey: counted here, not in SQL)."""
    lo, hi = local_window(start, end)
    low = Survey.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi, is_low=True)
    if store_ids is not None:
        low = low.filter(store_id__in=list(store_ids))
    out: dict = {}
    for org_id, store_id, submitted, reasons in low.values_list(
        "org_id", "store_id", "submitted_at", "reasons"
    ).order_by():
        day = timezone.localdate(submitted)
        for code in reasons or ():
            row = out.setdefault((store_id, day, str(code)[:40]), {"org_id": org_id, "n": 0})
            row["n"] += 1
    return out


def raw_delete(qs) -> None:
    """DELETE the rows in one statement. ``QuerySet.delete`` would load every row and send
    its ``post_delete`` (the audit log and the rules listen to all models, and ignore these
    derived rows): a full rebuild deletes hundreds of thousands."""
    qs._raw_delete(qs.db)


def _insert(model, rows: Iterable[dict], batch: int = 1000) -> None:
    """INSERT the rows (dicts of field name → value; the values already rounded to the
    field's places) in batches of parameterised statements, without building model
    instances: ``bulk_create`` spends most of a full rebuild preparing values."""
    names: list[str] | None = None
    sql = ""
    pending: list[tuple] = []
    with connection.cursor() as cursor:
        for row in rows:
            if names is None:
                names = list(row)
                columns = ", ".join(
                    connection.ops.quote_name(model._meta.get_field(n).column) for n in names
                )
                table = connection.ops.quote_name(model._meta.db_table)
                marks = ", ".join(["%s"] * len(names))
                sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 - names
            pending.append(tuple(row[n] for n in names))
            if len(pending) >= batch:
                cursor.executemany(sql, pending)
                pending = []
        if pending:
            cursor.executemany(sql, pending)


def _store(
    store_ids: Iterable[int] | None,
    start,
    end,
    rows: dict,
    staff: dict,
    items,
    reasons: dict,
) -> None:
    """Replace the rows of the stores (all: None) and days with those computed; ``items`` is
    ``item_rows(...)``, inserted by the database itself."""
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    store_qs = DailyStoreStat.objects.filter(day__gte=start, day__lte=end)
    staff_qs = DailyStaffStat.objects.filter(day__gte=start, day__lte=end)
    item_qs = DailyItemStat.objects.filter(day__gte=start, day__lte=end)
    reason_qs = DailyReasonStat.objects.filter(day__gte=start, day__lte=end)
    if store_ids is not None:
        store_qs = store_qs.filter(store_id__in=list(store_ids))
        staff_qs = staff_qs.filter(store_id__in=list(store_ids))
        item_qs = item_qs.filter(store_id__in=list(store_ids))
        reason_qs = reason_qs.filter(store_id__in=list(store_ids))
    for qs in (store_qs, staff_qs, item_qs, reason_qs):
        raw_delete(qs)
    _insert(
        DailyStoreStat,
        ({"store": s, "day": d, "computed_at": stamp, **v} for (s, d), v in rows.items()),
    )
    _insert(
        DailyStaffStat,
        (
            {"store": s, "day": d, "user": u, "computed_at": stamp, **v}
            for (s, d, u), v in staff.items()
        ),
    )
    insert_select(DailyItemStat, items, {"computed_at": now}, ITEM_RENAMED)
    _insert(
        DailyReasonStat,
        (
            {"store": s, "day": d, "reason": r, "computed_at": stamp, **v}
            for (s, d, r), v in reasons.items()
        ),
    )
    _store_months(store_ids, start, end, now)


def month_span(start: datetime.date, end: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first day of ``start``'s month and the last day of ``end``'s."""
    following = (end.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    return start.replace(day=1), following - datetime.timedelta(days=1)


# Each rollup by name: its day table and month table, the columns a month row is keyed by
# besides the store, and the figures summed.
MONTHS = {
    "store": (DailyStoreStat, MonthlyStoreStat, (), (*STORE_FIELDS, *EXACT_FIELDS)),
    "staff": (DailyStaffStat, MonthlyStaffStat, ("user_id",), STAFF_FIELDS),
    "item": (DailyItemStat, MonthlyItemStat, ("name",), ITEM_FIELDS),
    "reason": (DailyReasonStat, MonthlyReasonStat, ("reason",), ("n",)),
}


def insert_select(model, qs, constants: dict, renamed: dict | None = None) -> None:
    """INSERT INTO the model's table the rows of ``qs`` (a ``values()`` queryset whose names
    are the model's fields, by field or column name, or are renamed to one by ``renamed``)
    plus the same ``constants`` (field name → value) on every row, in one statement run by
    the database."""
    sql, params = qs.query.sql_with_params()
    names = [*qs.query.values_select, *qs.query.annotation_select]
    renamed = renamed or {}
    qn = connection.ops.quote_name
    fields = [model._meta.get_field(renamed.get(n, n)) for n in names]
    fixed = [model._meta.get_field(n) for n in constants]
    columns = ", ".join(qn(f.column) for f in (*fields, *fixed))
    picks = ", ".join([f"sub.{qn(n)}" for n in names] + ["%s"] * len(fixed))
    values = [f.get_db_prep_value(constants[f.name], connection) for f in fixed]
    table = qn(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {picks} FROM ({sql}) sub",  # noqa: S608
            [*values, *params],
        )


def _store_months(store_ids: Iterable[int] | None, start, end, now) -> None:
    """Re-derive the month rows of the months touched from their day rows (the days outside
    ``start``…``end`` included), each month in one statement per table."""
    first, last = month_span(start, end)
    ids = None if store_ids is None else list(store_ids)
    for month, month_end in month_chunks(first, last):
        for day_model, month_model, keys, figures in MONTHS.values():
            days = day_model.objects.filter(day__gte=month, day__lte=month_end)
            months = month_model.objects.filter(month=month)
            if ids is not None:
                days = days.filter(store_id__in=ids)
                months = months.filter(store_id__in=ids)
            raw_delete(months)
            # Summed under other names: an annotation may not take a field's name.
            summed = (
                days.values("store_id", "org_id", *keys)
                .annotate(**{f"sum_{name}": Sum(name) for name in figures})
                .order_by()
            )
            insert_select(
                month_model,
                summed,
                {"month": month, "computed_at": now},
                {f"sum_{name}": name for name in figures},
            )


@transaction.atomic
def recompute_store_day(store_id: int, day: datetime.date) -> None:
    """Replace one store-day's rows with figures recomputed from the raw rows."""
    rows, staff = compute([store_id], day, day)
    items = item_rows([store_id], day, day)
    _store([store_id], day, day, rows, staff, items, compute_reasons([store_id], day, day))


def rebuild(
    store_ids: Iterable[int] | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    *,
    workers: int = 1,
) -> int:
    """Recompute every store-day in the range (all history by default), a month at a time;
    returns the number of store-day rows written.

    With one worker (and always inside a transaction) the whole range is replaced in one
    transaction. With more, that many threads, each with its own connection, take the months
    in turn and commit each month on its own: a month's figures are read outside any
    transaction (SQLite in WAL mode and PostgreSQL let the others write meanwhile) and its
    rows replaced in one short write. The database does most of the work with the GIL
    released, so on a machine with spare cores a full rebuild takes a fraction of the time.
    Should one month fail, the months already done stay rebuilt; running it again redoes
    them all."""
    store_ids = None if store_ids is None else list(store_ids)
    if start is None or end is None:
        bounds = _history_bounds(store_ids)
        if bounds is None:
            return 0
        start, end = start or bounds[0], end or bounds[1]
    # Every store named, so each month's rows are found by the (store, time) indexes rather
    # than by scanning the whole history once a month.
    scan = list(Store.objects.values_list("pk", flat=True)) if store_ids is None else store_ids
    chunks = month_chunks(start, end)
    if workers > 1 and len(chunks) > 1 and not connection.in_atomic_block:
        return _rebuild_parallel(store_ids, scan, chunks, workers)
    with transaction.atomic():
        return sum(_rebuild_month(store_ids, scan, first, last) for first, last in chunks)


def _history_bounds(store_ids: list[int] | None) -> tuple[datetime.date, datetime.date] | None:
    """The first and last local day with a settlement, payment, opening or rating."""
    dated = (
        (WorkOrder.objects.filter(settled_at__isnull=False), "settled_at"),
        (WorkOrder.objects.all(), "opened_at"),
        (Payment.objects.all(), "created_at"),
        (Survey.objects.all(), "submitted_at"),
    )
    dates = []
    for qs, column in dated:
        if store_ids is not None:
            qs = qs.filter(store_id__in=store_ids)
        for order in (column, f"-{column}"):  # each end read from the index on the column
            value = qs.order_by(order).values_list(column, flat=True).first()
            if value is not None:
                dates.append(timezone.localdate(value))
    return (min(dates), max(dates)) if dates else None


def _rebuild_month(store_ids, scan, first: datetime.date, last: datetime.date) -> int:
    """Compute the days first…last, then replace their rows (in one transaction of its own
    when not already inside one). Returns the number of store-day rows."""
    rows, staff = compute(scan, first, last)
    reasons = compute_reasons(scan, first, last)
    items = item_rows(scan, first, last)  # read by the INSERT … SELECT, in the write
    with transaction.atomic():
        _store(store_ids, first, last, rows, staff, items, reasons)
    return len(rows)


def _rebuild_parallel(store_ids, scan, chunks, workers: int) -> int:
    """``_rebuild_month`` for each chunk, by this thread and ``workers - 1`` helpers."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for chunk in chunks:
        todo.put(chunk)
    written: list[int] = []
    failed: list[BaseException] = []

    def work(helper: bool) -> None:
        try:
            while not failed:
                try:
                    first, last = todo.get_nowait()
                except queue.Empty:
                    return
                written.append(_rebuild_month(store_ids, scan, first, last))
        except BaseException as exc:  # re-raised by the calling thread
            failed.append(exc)
        finally:
            if helper:
                connection.close()  # this thread's own connection

    helpers = [
        threading.Thread(target=work, args=(True,), name=f"rollups-{n}", daemon=True)
        for n in range(1, min(workers, len(chunks)))
    ]
    for thread in helpers:
        thread.start()
    work(False)
    for thread in helpers:
        thread.join()
    if failed:
        raise failed[0]
    return sum(written)


def month_chunks(
    start: datetime.date, end: datetime.date
) -> list[tuple[datetime.date, datetime.date]]:
    """``start``…``end`` cut at month ends: a rebuild holds one month's rows at a time."""
    chunks = []
    while start <= end:
        _first, last = month_span(start, start)
        chunks.append((start, min(last, end)))
        start = last + datetime.timedelta(days=1)
    return chunks


def days_touched(previous_days: dict[int, Iterable[str]]) -> set[tuple[int, datetime.date]]:
    """The store-days events on these work orders (``previous_days``: work order id → the
    ISO days it was dated on before a back-dating, which lose it) may have changed: each
    one's opening day (its estimate), its settlement day, its earlier days, the days of its
    payments and surveys, and the later visits of its customer (who may no longer be new).
    A fixed number of queries for any number of orders: the worker's flush reads a burst of
    settlements at once."""
    ids = list(previous_days)
    if not ids:
        return set()
    local = timezone.localdate
    found = set()
    settled_from: dict[int, datetime.datetime] = {}  # customer -> earliest settlement here
    for pk, store_id, customer_id, opened, settled in WorkOrder.objects.filter(
        pk__in=ids
    ).values_list("pk", "store_id", "customer_id", "opened_at", "settled_at"):
        found |= {(store_id, datetime.date.fromisoformat(d)) for d in previous_days[pk]}
        if opened:
            found.add((store_id, local(opened)))
        if settled:
            found.add((store_id, local(settled)))
            earliest = settled_from.get(customer_id)
            settled_from[customer_id] = settled if earliest is None else min(earliest, settled)
    for store_id, created in Payment.objects.filter(work_order_id__in=ids).values_list(
        "store_id", "created_at"
    ):
        found.add((store_id, local(created)))
    for store_id, submitted in Survey.objects.filter(work_order_id__in=ids).values_list(
        "store_id", "submitted_at"
    ):
        found.add((store_id, local(submitted)))
    if settled_from:
        later = WorkOrder.objects.filter(
            customer_id__in=list(settled_from), status__in=FINISHED, settled_at__isnull=False
        ).values_list("customer_id", "store_id", "settled_at")
        for customer_id, store_id, settled in later:
            if settled >= settled_from[customer_id]:
                found.add((store_id, local(settled)))
    return found


def refresh_work_order(work_order_id: int, previous_days: Iterable[str] = ()) -> None:
    """Recompute the store-days of the work order; ``previous_days`` (ISO dates) are days
    it was dated on before a back-dating, which lose it."""
    for store, day in sorted(days_touched({work_order_id: previous_days})):
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
    touched = days_touched(previous)
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


# Threads of a full rebuild (the demo's, the command's): one per core, up to four.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))


def demo_loader(org, stores, rng, scale) -> dict:
    """Registered in ``autocrm.core.demo.AFTER_COMMIT``: the demo's dashboards read the
    rollups, so they are built from its committed history."""
    started = time.perf_counter()
    ids = list(Store.objects.filter(org=org).values_list("pk", flat=True))
    written = rebuild(ids, workers=DEFAULT_WORKERS)
    seconds = time.perf_counter() - started
    print(f"  报表日汇总 / report rollups: {written:,} store-days {seconds:.1f} s", flush=True)
    from autocrm.reports import figures

    started = time.perf_counter()
    kept = figures.refresh([org])  # commits each org's figures itself
    seconds = time.perf_counter() - started
    print(f"  报表期间指标 / period figures: {kept:,} {seconds:.1f} s", flush=True)
    return {"report store-days": written}
