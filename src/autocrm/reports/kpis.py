"""The KPI library: plain functions over the user's scoped querysets.

A ``Basis`` carries the scoped querysets and the period; every KPI takes one and returns a
number, or ``None`` when it cannot be computed (nothing to divide by, an empty period) — the
pages show "—" for it, never an error. Each metric has a formula text for the "how is this
computed" tooltip.

A visit is a settled or closed work order, dated by ``settled_at`` (local day). Sales are
the work orders' totals (VAT included, as the owner pays them) less their VAT."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from django.db.models import (
    Avg,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.core import scoping
from autocrm.core.models import Store, User
from autocrm.feedback.models import DIMENSION_NAMES, Survey
from autocrm.reports import figures
from autocrm.reports.models import PeriodFigure
from autocrm.reports.rollups import FINISHED, MONTHS, local_window
from autocrm.service.models import (
    Appointment,
    ServiceSettings,
    TimeEntry,
    WorkOrder,
    WorkOrderLine,
)

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
DEFAULT_CHURN_DAYS = 365


def q2(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def net_of(total, tax) -> Decimal:
    """Sales excluding VAT: a total less the VAT inside it (missing sums count as 0)."""
    return q2((total or 0) - (tax or 0))


def ratio(numerator, denominator, scale: Decimal = Decimal(1)) -> Decimal | None:
    """``numerator ÷ denominator`` (× scale), or None when the denominator is zero."""
    if not denominator:
        return None
    return q2(Decimal(str(numerator or 0)) * scale / Decimal(str(denominator)))


# A basis's scoped rollup querysets (``basis_for(..., rollups=True)``), by name: each
# rollup's day and month tables (``store_days``, ``store_months``, …).
ROLLUPS = {
    f"{name}_{span}": model
    for name, (day_model, month_model, _keys, _figures) in MONTHS.items()
    for span, model in (("days", day_model), ("months", month_model))
}


@dataclass(frozen=True)
class Basis:
    """What a KPI is computed over: scoped querysets (optionally narrowed to a store, a
    region, an advisor or a technician) and a period of local days."""

    start: datetime.date
    end: datetime.date
    work_orders: QuerySet
    appointments: QuerySet
    surveys: QuerySet
    time_entries: QuerySet
    lines: QuerySet
    technician_id: int | None = None
    options: dict = field(default_factory=dict)
    store_ids: frozenset | None = None  # the stores whose bays count (None: unknown)
    # The scoped daily rollups (``basis_for(..., rollups=True)``): the figures additive per
    # store-day are summed from them instead of the raw rows. None once the basis is narrowed
    # to something the rollups do not split by (an advisor, a technician, a source channel).
    store_days: QuerySet | None = None
    item_days: QuerySet | None = None
    item_months: QuerySet | None = None
    staff_days: QuerySet | None = None
    reason_days: QuerySet | None = None
    # The same summed per store-month: a long period reads whole months from these.
    store_months: QuerySet | None = None
    staff_months: QuerySet | None = None
    reason_months: QuerySet | None = None
    # The scoped stored period figures (``figures``), found by the basis's stores and period.
    figures: QuerySet | None = None
    # Aggregates already read for this basis (``replace`` starts a narrowed copy afresh).
    memo: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def window(self) -> tuple[datetime.datetime, datetime.datetime]:
        return local_window(self.start, self.end)

    def period(self, start: datetime.date, end: datetime.date) -> Basis:
        return replace(self, start=start, end=end)

    @property
    def rolled_up(self) -> bool:
        return self.store_days is not None and self.store_ids is not None

    def _rollups(self, **lookup) -> dict:
        """The rollup querysets narrowed by ``lookup`` (or dropped, with no lookup)."""
        names = tuple(ROLLUPS)
        if not lookup or self.store_days is None:
            return dict.fromkeys((*names, "figures"))
        # The stored figures are found by the narrowed set of stores itself.
        return {name: getattr(self, name).filter(**lookup) for name in names} | {
            "figures": self.figures
        }

    def narrow(self, by: str, value) -> Basis:
        """The same basis for one store, region, advisor, technician or source channel."""
        if by in ("advisor", "source", "technician"):
            return replace(self._narrow(by, value), **self._rollups())
        narrowed = self._narrow(by, value)
        key = "store_id" if by == "store" else "store__region_id"
        return replace(narrowed, **self._rollups(**{key: value}))

    def _narrow(self, by: str, value) -> Basis:
        stores = self.store_ids
        if by == "store":
            wo, direct = Q(store_id=value), Q(store_id=value)
            stores = frozenset(s for s in (stores or {value}) if s == value)
        elif by == "region":
            wo, direct = Q(store__region_id=value), Q(store__region_id=value)
            if stores is not None:
                stores = frozenset(
                    Store.objects.filter(pk__in=stores, region_id=value).values_list(
                        "pk", flat=True
                    )
                )
        elif by == "advisor":
            return replace(
                self,
                work_orders=self.work_orders.filter(advisor_id=value),
                appointments=self.appointments.filter(created_by_id=value),
                surveys=self.surveys.filter(work_order__advisor_id=value),
                time_entries=self.time_entries.filter(work_order__advisor_id=value),
                lines=self.lines.filter(work_order__advisor_id=value),
            )
        elif by == "source":  # the channel that brought the car (None: none recorded)
            return replace(
                self,
                work_orders=self.work_orders.filter(source_id=value),
                appointments=self.appointments.filter(source_id=value),
                surveys=self.surveys.filter(work_order__source_id=value),
                time_entries=self.time_entries.filter(work_order__source_id=value),
                lines=self.lines.filter(work_order__source_id=value),
            )
        elif by == "technician":
            worked = WorkOrderLine.objects.filter(technicians=value).values("work_order_id")
            return replace(
                self,
                work_orders=self.work_orders.filter(pk__in=worked),
                appointments=self.appointments.none(),
                surveys=self.surveys.filter(work_order_id__in=worked),
                time_entries=self.time_entries.filter(technician_id=value),
                lines=self.lines.filter(technicians=value),
                technician_id=value,
            )
        else:
            raise ValueError(by)
        nested = Q(**{f"work_order__{k}": v for k, v in wo.children})
        return replace(
            self,
            store_ids=stores,
            work_orders=self.work_orders.filter(wo),
            appointments=self.appointments.filter(direct),
            surveys=self.surveys.filter(direct),
            time_entries=self.time_entries.filter(nested),
            lines=self.lines.filter(nested),
        )


def basis_for(
    user: User, start: datetime.date, end: datetime.date, *, rollups: bool = False, **options
) -> Basis:
    """The user's basis: their org and stores; someone who may only see their own figures
    (an advisor) gets their own work orders only. With ``rollups`` the figures additive per
    store-day are read from the daily rollups (kept by the worker; the dashboard's choice)."""
    days = {}
    if rollups:
        days = {name: scoping.scoped(model.objects.all(), user) for name, model in ROLLUPS.items()}
        days["figures"] = scoping.scoped(PeriodFigure.objects.all(), user)
    b = Basis(
        start=start,
        end=end,
        work_orders=scoping.scoped(WorkOrder.objects.all(), user),
        appointments=scoping.scoped(Appointment.objects.all(), user),
        surveys=scoping.scoped(Survey.objects.all(), user),
        time_entries=scoping.scoped(TimeEntry.objects.all(), user),
        lines=scoping.scoped(WorkOrderLine.objects.all(), user),
        options=options,
        store_ids=scoping.store_ids(user),
        **days,
    )
    if not user.can("reports.store"):
        b = b.narrow("advisor", user.pk)
    return b


def _once(b: Basis, key: str, compute: Callable[[Basis], object]):
    """``compute(b)``, read once per basis: several metrics of a page share it."""
    if key not in b.memo:
        b.memo[key] = compute(b)
    return b.memo[key]


# --- visits and customers -----------------------------------------------------------------


def visits(b: Basis) -> QuerySet[WorkOrder]:
    lo, hi = b.window
    qs = b.work_orders.filter(status__in=FINISHED, settled_at__gte=lo, settled_at__lt=hi)
    if b.store_ids is not None:
        # Naming the stores (all of them for HQ) lets the (store, settled_at) index serve a
        # date range; filtered on the org alone, the databases scan every finished order.
        qs = qs.filter(store_id__in=sorted(b.store_ids))
    return qs


def _visit_dates(qs: QuerySet[WorkOrder]) -> dict[int, list[datetime.datetime]]:
    found: dict[int, list] = defaultdict(list)
    for customer_id, settled in qs.order_by("settled_at").values_list("customer_id", "settled_at"):
        found[customer_id].append(settled)
    return found


def _figures(b: Basis) -> dict[str, tuple]:
    """The fresh stored figures of the basis's stores and period (``figures``)."""
    if b.figures is None:
        return {}
    return _once(b, "figures", lambda b: figures.stored(b.figures, b.store_ids, b.start, b.end))


def stored_at(b: Basis, code: str) -> datetime.datetime | None:
    """When the worker computed the figure shown for ``code``, if it was stored."""
    found = _figures(b).get(code)
    return found[1] if found else None


def return_rate(b: Basis) -> Decimal | None:
    """Not additive per store-day (a customer counts once however many days and stores they
    visited): the worker's stored figure for the dashboard's usual periods, otherwise an
    indexed query over the period's visits, counted by the database."""
    found = _figures(b).get("return_rate")
    if found:
        return found[0]
    row = (
        visits(b)
        .values("customer_id")
        .annotate(n=Count("id"))
        .order_by()
        .aggregate(seen=Count("customer_id"), returning=Count("customer_id", filter=Q(n__gte=2)))
    )
    return ratio(row["returning"], row["seen"], HUNDRED)


def avg_days_between_visits(b: Basis) -> Decimal | None:
    span = gaps = 0.0
    for dates in _visit_dates(visits(b)).values():
        if len(dates) >= 2:
            span += (dates[-1] - dates[0]).total_seconds() / 86400
            gaps += len(dates) - 1
    return ratio(Decimal(str(span)), Decimal(str(gaps))) if gaps else None


def lifetime_value(b: Basis) -> Decimal | None:
    """Average yearly spend × average active years, over the customers seen in the period;
    their spend and active years count every visit up to the period's end."""
    _lo, hi = b.window
    seen = visits(b).values("customer_id")
    spend: dict[int, Decimal] = defaultdict(Decimal)
    dates: dict[int, list] = defaultdict(list)
    for customer_id, settled, total in (
        b.work_orders.filter(
            customer_id__in=seen, status__in=FINISHED, settled_at__isnull=False, settled_at__lt=hi
        )
        .order_by("settled_at")
        .values_list("customer_id", "settled_at", "total")
    ):
        spend[customer_id] += total
        dates[customer_id].append(settled)
    if not spend:
        return None
    years = {
        c: max(Decimal(1), Decimal((d[-1] - d[0]).days) / Decimal(365)) for c, d in dates.items()
    }
    n = Decimal(len(spend))
    yearly = sum(spend[c] / years[c] for c in spend) / n
    active = sum(years.values()) / n
    return q2(yearly * active)


def _as_of_window(b: Basis, days: int) -> tuple[datetime.datetime, datetime.datetime]:
    return local_window(b.end - datetime.timedelta(days=days - 1), b.end)


def active_customers(b: Basis, days: int = 30) -> int:
    """Customers with a visit in the ``days`` days up to the period's end."""
    lo, hi = _as_of_window(b, days)
    return (
        b.work_orders.filter(status__in=FINISHED, settled_at__gte=lo, settled_at__lt=hi)
        .values("customer_id")
        .distinct()
        .count()
    )


def new_customers(b: Basis, days: int = 30) -> int:
    """Customers whose first visit (in the stores seen) falls in the ``days`` days up to the
    period's end."""
    lo, hi = _as_of_window(b, days)
    firsts = _first_last(b, hi)
    return sum(1 for first, _last in firsts.values() if lo <= first < hi)


def churned_customers(b: Basis, days: int | None = None) -> int:
    """Customers with a visit before, and none in the last ``days`` days (default 365) up
    to the period's end."""
    days = days or b.options.get("churn_days") or DEFAULT_CHURN_DAYS
    lo, hi = _as_of_window(b, days)
    return sum(1 for _first, last in _first_last(b, hi).values() if last < lo)


def _first_last(b: Basis, before: datetime.datetime) -> dict[int, tuple]:
    found: dict[int, tuple] = {}
    for customer_id, first, last in (
        b.work_orders.filter(status__in=FINISHED, settled_at__lt=before)
        .values("customer_id")
        .annotate(first=Min("settled_at"), last=Max("settled_at"))
        .values_list("customer_id", "first", "last")
    ):
        found[customer_id] = (first, last)
    return found


# --- feedback and appointments ------------------------------------------------------------


def _surveys(b: Basis) -> QuerySet[Survey]:
    lo, hi = b.window
    return b.surveys.filter(submitted_at__gte=lo, submitted_at__lt=hi)


def nps(b: Basis) -> Decimal | None:
    if b.rolled_up:
        r = _rolled(b)
        return ratio(r["promoters"] - r["detractors"], r["surveys"], HUNDRED)
    row = _surveys(b).aggregate(
        n=Count("id"),
        promoters=Count("id", filter=Q(nps__gte=9)),
        detractors=Count("id", filter=Q(nps__lte=6)),
    )
    return ratio(row["promoters"] - row["detractors"], row["n"], HUNDRED)


def dimension_average(b: Basis, name: str) -> Decimal | None:
    if name not in DIMENSION_NAMES:
        raise ValueError(name)
    return q2(_surveys(b).aggregate(v=Avg(name))["v"])


def _appointments(b: Basis) -> QuerySet[Appointment]:
    lo, hi = b.window
    return b.appointments.filter(starts_at__gte=lo, starts_at__lt=hi).exclude(
        status=Appointment.Status.CANCELLED
    )


def appointment_conversion(b: Basis) -> Decimal | None:
    found = _figures(b).get("appointment_conversion")
    if found:
        return found[0]
    row = _appointments(b).aggregate(
        n=Count("id"), arrived=Count("id", filter=Q(status=Appointment.Status.ARRIVED))
    )
    return ratio(row["arrived"], row["n"], HUNDRED)


def no_show_rate(b: Basis) -> Decimal | None:
    row = _appointments(b).aggregate(
        n=Count("id"), missed=Count("id", filter=Q(status=Appointment.Status.NO_SHOW))
    )
    return ratio(row["missed"], row["n"], HUNDRED)


# --- money --------------------------------------------------------------------------------


def _money(b: Basis) -> dict:
    """The visits' count and money totals (car count, sales, ARO, gross profit, the mixes
    and the comeback rate all use them)."""
    return _once(b, "money", _read_money)


def split_months(
    start: datetime.date, end: datetime.date
) -> tuple[list[datetime.date], list[tuple[datetime.date, datetime.date]]]:
    """The whole calendar months inside start…end (their first days) and the day ranges
    left over at either edge."""
    months: list[datetime.date] = []
    first = start if start.day == 1 else (start.replace(day=1) + datetime.timedelta(days=32))
    first = first.replace(day=1)
    while True:
        following = (first + datetime.timedelta(days=32)).replace(day=1)
        if following - datetime.timedelta(days=1) > end:
            break
        months.append(first)
        first = following
    if not months:
        return [], [(start, end)]
    edges = []
    if start < months[0]:
        edges.append((start, months[0] - datetime.timedelta(days=1)))
    if first <= end:
        edges.append((first, end))
    return months, edges


def split_rolled_months(
    day_rows: QuerySet, start: datetime.date, end: datetime.date
) -> tuple[list[datetime.date], list[tuple[datetime.date, datetime.date]]]:
    """``split_months`` for the rollups: the current month so far counts as a whole month
    when nothing is rolled up after ``end`` in it (``day_rows``, the reader's scoped day
    rows), so this month and the last 12 months read its month row, not its days."""
    months, edges = split_months(start, end)
    if edges:
        lo, hi = edges[-1]
        if lo.day == 1 and hi >= timezone.localdate():
            following = (lo + datetime.timedelta(days=32)).replace(day=1)
            later = day_rows.filter(day__gt=hi, day__lt=following)
            if not later.exists():
                months, edges = [*months, lo], edges[:-1]
    return months, edges


def month_parts(
    day_rows: QuerySet, month_rows: QuerySet, months: list, edges: list
) -> list[tuple[QuerySet, str]]:
    """The rollup rows that cover a period once (``split_rolled_months``): the month rows
    of its whole ``months`` and the day rows of its ``edges``, each with the name of its
    date column."""
    parts = []
    if months:
        parts.append((month_rows.filter(month__in=months), "month"))
    if edges:
        in_edges = Q()
        for lo, hi in edges:
            in_edges |= Q(day__gte=lo, day__lte=hi)
        parts.append((day_rows.filter(in_edges), "day"))
    return parts


def rolled(b: Basis, day_rows: QuerySet, month_rows: QuerySet) -> list[QuerySet]:
    """Scoped rollup querysets whose rows together cover the basis's stores and period
    once (``month_parts``); the split of the period is read once per basis."""
    stores = sorted(b.store_ids)
    months, edges = _once(
        b,
        "months",
        lambda b: split_rolled_months(b.store_days.filter(store_id__in=stores), b.start, b.end),
    )
    return [
        qs
        for qs, _when in month_parts(
            day_rows.filter(store_id__in=stores),
            month_rows.filter(store_id__in=stores),
            months,
            edges,
        )
    ]


def summed(parts: list[QuerySet], by: tuple[str, ...], sums: dict[str, str]) -> list[dict]:
    """``values(*by).annotate(name=Sum(field) for name, field in sums)`` over each queryset
    of ``parts`` (see ``rolled``), added up by ``by``; with no ``by``, one row (zeros when
    nothing matched)."""
    merged: dict[tuple, dict] = {}
    if not by:
        merged[()] = {name: 0 for name in sums}
    for qs in parts:
        rows = (
            [qs.aggregate(**{n: Sum(f) for n, f in sums.items()})]
            if not by
            else qs.values(*by).annotate(**{n: Sum(f) for n, f in sums.items()}).order_by()
        )
        for row in rows:
            key = tuple(row[k] for k in by)
            into = merged.setdefault(key, {**{k: row[k] for k in by}, **dict.fromkeys(sums, 0)})
            for name in sums:
                into[name] += row[name] or 0
    return list(merged.values())


def _rolled(b: Basis) -> dict:
    """The period's sums of the store-day rollups, read once for every metric of a page."""
    return _once(b, "days", _read_rolled)


# The period's sums the metrics read (name → the rollup's field).
ROLLED_SUMS = {
    "n": "car_count",
    "total": "sales",
    "tax": "tax",
    "labour": "labour",
    "parts": "parts",
    "other": "other",
    "comebacks": "comebacks",
    "parts_cost": "parts_cost",
    "billed": "billed_hours",
    "clocked_us": "clocked_us",
    "presented": "presented",
    "presented_approved": "presented_approved",
    "surveys": "surveys",
    "promoters": "promoters",
    "detractors": "detractors",
}


def _read_rolled(b: Basis) -> dict:
    (row,) = summed(rolled(b, b.store_days, b.store_months), (), ROLLED_SUMS)
    counts = ("n", "comebacks", "clocked_us", "surveys", "promoters", "detractors")
    return {k: v if k in counts else (v or ZERO) for k, v in row.items()}


def _read_money(b: Basis) -> dict:
    if b.rolled_up:
        r = _rolled(b)
        return {k: r[k] for k in ("n", "total", "tax", "labour", "parts", "other", "comebacks")}
    row = visits(b).aggregate(
        n=Count("id"),
        total=Sum("total"),
        tax=Sum("tax"),
        labour=Sum("labour_total"),
        parts=Sum("parts_total"),
        other=Sum("other_total"),
        comebacks=Count("id", filter=Q(comeback_of__isnull=False)),
    )
    return {k: (v if v is not None else ZERO) for k, v in row.items()}


def car_count(b: Basis) -> int:
    return _money(b)["n"]


def sales(b: Basis) -> Decimal | None:
    m = _money(b)
    return q2(m["total"] - m["tax"]) if m["n"] else None


def average_repair_order(b: Basis) -> Decimal | None:
    m = _money(b)
    return ratio(m["total"] - m["tax"], m["n"])


def parts_cost(b: Basis) -> Decimal:
    if b.rolled_up:
        return q2(_rolled(b)["parts_cost"])
    cost = ExpressionWrapper(
        F("quantity") * F("part__cost"), output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    value = WorkOrderLine.objects.filter(
        work_order__in=visits(b),
        approval=WorkOrderLine.Approval.APPROVED,
        kind=WorkOrderLine.Kind.PART,
        customer_supplied=False,
        part__isnull=False,
    ).aggregate(v=Sum(cost))["v"]
    return q2(value or 0)


def gross_profit(b: Basis) -> Decimal | None:
    net = sales(b)
    return None if net is None else q2(net - parts_cost(b))


def gross_margin(b: Basis) -> Decimal | None:
    net = sales(b)
    if not net:
        return None
    return ratio(net - parts_cost(b), net, HUNDRED)


def labour_mix(b: Basis) -> Decimal | None:
    m = _money(b)
    return ratio(m["labour"], m["labour"] + m["parts"] + m["other"], HUNDRED)


def parts_mix(b: Basis) -> Decimal | None:
    m = _money(b)
    return ratio(m["parts"], m["labour"] + m["parts"] + m["other"], HUNDRED)


DEFAULT_BAYS = 4


def open_days(b: Basis) -> int:
    """Days of the period up to today: the stores open every day (no closures are
    recorded), and a day still to come has no sales yet."""
    last = min(b.end, timezone.localdate())
    return max(0, (last - b.start).days + 1)


def bay_days(b: Basis) -> int:
    """Σ over the basis's stores of bays (store settings, 4 by default) × open days."""
    ids = b.store_ids
    if ids is None:
        ids = frozenset(b.work_orders.values_list("store_id", flat=True).distinct())
    if not ids:
        return 0
    bays = dict(ServiceSettings.objects.filter(store_id__in=ids).values_list("store_id", "bays"))
    return sum(bays.get(i, DEFAULT_BAYS) for i in ids) * open_days(b)


def revenue_per_bay_day(b: Basis) -> Decimal | None:
    net = sales(b)
    return ratio(net or 0, bay_days(b)) if net is not None else None


def comeback_rate(b: Basis) -> Decimal | None:
    m = _money(b)
    return ratio(m["comebacks"], m["n"], HUNDRED)


# --- estimates ----------------------------------------------------------------------------

DECIDED = [
    WorkOrderLine.Approval.APPROVED,
    WorkOrderLine.Approval.DECLINED,
    WorkOrderLine.Approval.DEFERRED,
]


def _presented(b: Basis) -> QuerySet[WorkOrderLine]:
    lo, hi = b.window
    return b.lines.filter(
        approval__in=DECIDED,
        work_order__in=b.work_orders.filter(opened_at__gte=lo, opened_at__lt=hi),
    )


def close_ratio(b: Basis) -> Decimal | None:
    if b.rolled_up:
        r = _rolled(b)
        return ratio(r["presented_approved"], r["presented"], HUNDRED)
    row = _presented(b).aggregate(
        all=Sum("amount"),
        approved=Sum("amount", filter=Q(approval=WorkOrderLine.Approval.APPROVED)),
    )
    return ratio(row["approved"] or 0, row["all"], HUNDRED)


def declined_value(b: Basis) -> Decimal:
    if b.rolled_up:
        r = _rolled(b)
        return q2(r["presented"] - r["presented_approved"])
    value = (
        _presented(b)
        .exclude(approval=WorkOrderLine.Approval.APPROVED)
        .aggregate(v=Sum("amount"))["v"]
    )
    return q2(value or 0)


# --- technicians --------------------------------------------------------------------------


def billed_hours(b: Basis) -> Decimal:
    """Approved labour lines' hours on the visits; a line shared by several technicians
    counts a share for each when the basis is one technician."""
    return _once(b, "billed", _read_billed_hours)


def _read_billed_hours(b: Basis) -> Decimal:
    if b.rolled_up and b.technician_id is None:
        return _rolled(b)["billed"]
    lines = b.lines.filter(
        work_order__in=visits(b),
        approval=WorkOrderLine.Approval.APPROVED,
        kind=WorkOrderLine.Kind.LABOUR,
    )
    if b.technician_id is None:
        return lines.aggregate(v=Sum("quantity"))["v"] or ZERO
    total = ZERO
    for qty, n in lines.annotate(n=Count("technicians", distinct=True)).values_list(
        "quantity", "n"
    ):
        total += qty / (n or 1)
    return total


def _clocked(b: Basis) -> list[tuple]:
    return list(
        b.time_entries.filter(work_order__in=visits(b), ended_at__isnull=False).values_list(
            "technician_id", "started_at", "ended_at"
        )
    )


def clocked_hours(b: Basis) -> Decimal:
    """Σ (end − start) of the finished time entries on the visits (one that ends before it
    starts counts nothing), summed by the database: an HQ month has tens of thousands."""
    return _once(b, "clocked", _read_clocked_hours)


class _Seconds(Func):
    """``ended_at − started_at`` in seconds, computed by the database itself (Django's
    generic datetime difference runs a Python function per row on SQLite)."""

    arity = 2
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::float",
            arg_joiner=" - ",
            **extra,
        )


def _read_clocked_hours(b: Basis) -> Decimal:
    if b.rolled_up:
        us = _rolled(b)["clocked_us"]
        if not us:
            return ZERO
        # Rounded to tenths of a second like the raw sum below.
        seconds = (Decimal(us) / Decimal(1_000_000)).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
        return seconds / Decimal(3600)
    value = (
        b.time_entries.filter(
            work_order__in=visits(b), ended_at__isnull=False, ended_at__gt=F("started_at")
        )
        .order_by()
        .aggregate(v=Sum(_Seconds("ended_at", "started_at")))["v"]
    )
    if not value:
        return ZERO
    # Tenths of a second: julianday() is a double of days, exact to about a millisecond.
    return Decimal(str(round(value, 1))) / Decimal(3600)


def technician_efficiency(b: Basis) -> Decimal | None:
    return ratio(billed_hours(b), clocked_hours(b), HUNDRED)


def technician_productivity(b: Basis) -> Decimal | None:
    days = {(t, timezone.localdate(start)) for t, start, _end in _clocked(b)}
    return ratio(billed_hours(b), len(days))


# --- registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    code: str
    label: str
    formula: str
    fn: Callable[[Basis], object]
    unit: str = ""  # "%", "¥", "d" (days), "h" (hours) or "" (a count or score)
    drill: str = ""  # "visits" (work orders), "customers" or ""


def _m(code, label, formula, fn, unit="", drill=""):
    return code, Metric(code, label, formula, fn, unit, drill)


METRICS: dict[str, Metric] = dict(
    [
        _m(
            "return_rate",
            _("Return rate"),
            _(
                "Customers with 2 or more visits in the period ÷ customers with at least one "
                "visit × 100%. A visit is a settled or closed work order, dated by settlement."
            ),
            return_rate,
            "%",
            "customers",
        ),
        _m(
            "avg_days_between_visits",
            _("Average days between visits"),
            _(
                "For customers with 2 or more visits in the period: sum of (last visit − first "
                "visit) in days ÷ sum of (visits − 1)."
            ),
            avg_days_between_visits,
            "d",
            "customers",
        ),
        _m(
            "lifetime_value",
            _("Customer lifetime value"),
            _(
                "Average yearly spend × average active years, over the customers who visited "
                "in the period. Active years = (last visit − first visit) ÷ 365, at least 1; "
                "spend is the VAT-inclusive total of all their visits up to the period's end."
            ),
            lifetime_value,
            "¥",
            "customers",
        ),
        _m(
            "active_customers_30",
            _("Active customers (30 days)"),
            _("Customers with a visit in the 30 days up to the end of the period."),
            lambda b: active_customers(b, 30),
            "",
            "customers",
        ),
        _m(
            "active_customers_90",
            _("Active customers (90 days)"),
            _("Customers with a visit in the 90 days up to the end of the period."),
            lambda b: active_customers(b, 90),
            "",
            "customers",
        ),
        _m(
            "active_customers_365",
            _("Active customers (365 days)"),
            _("Customers with a visit in the 365 days up to the end of the period."),
            lambda b: active_customers(b, 365),
            "",
            "customers",
        ),
        _m(
            "new_customers_30",
            _("New customers (30 days)"),
            _("Customers whose first visit falls in the 30 days up to the end of the period."),
            lambda b: new_customers(b, 30),
            "",
            "customers",
        ),
        _m(
            "new_customers_90",
            _("New customers (90 days)"),
            _("Customers whose first visit falls in the 90 days up to the end of the period."),
            lambda b: new_customers(b, 90),
            "",
            "customers",
        ),
        _m(
            "new_customers_365",
            _("New customers (365 days)"),
            _("Customers whose first visit falls in the 365 days up to the end of the period."),
            lambda b: new_customers(b, 365),
            "",
            "customers",
        ),
        _m(
            "churned_customers",
            _("Churned customers"),
            _(
                "Customers who visited before but not in the last 365 days (configurable) up "
                "to the end of the period."
            ),
            churned_customers,
            "",
            "customers",
        ),
        _m(
            "nps",
            _("NPS"),
            _(
                "Share of surveys scoring 9–10 minus share scoring 0–6, × 100, over surveys "
                "submitted in the period."
            ),
            nps,
        ),
        *[
            _m(
                f"survey_{name}",
                label,
                _("Average star rating (1–5) of this dimension over surveys in the period."),
                (lambda n: lambda b: dimension_average(b, n))(name),
            )
            for name, label in [
                ("timeliness", _("Rating: on time")),
                ("professionalism", _("Rating: professional work")),
                ("attitude", _("Rating: friendly service")),
                ("result", _("Rating: result of the repair")),
            ]
        ],
        _m(
            "appointment_conversion",
            _("Appointment conversion"),
            _(
                "Appointments that arrived ÷ appointments booked for the period (cancelled "
                "ones left out) × 100%."
            ),
            appointment_conversion,
            "%",
        ),
        _m(
            "no_show_rate",
            _("No-show rate"),
            _(
                "Appointments marked no-show ÷ appointments booked for the period (cancelled "
                "ones left out) × 100%."
            ),
            no_show_rate,
            "%",
        ),
        _m(
            "car_count",
            _("Car count"),
            _("Work orders settled (or since closed) in the period."),
            car_count,
            "",
            "visits",
        ),
        _m(
            "sales",
            _("Sales excl. VAT"),
            _("Sum of the totals of the work orders settled in the period less their VAT."),
            sales,
            "¥",
            "visits",
        ),
        _m(
            "average_repair_order",
            _("Average repair order"),
            _("Sales excluding VAT ÷ car count."),
            average_repair_order,
            "¥",
            "visits",
        ),
        _m(
            "revenue_per_bay_day",
            _("Revenue per bay-day"),
            _(
                "Sales excluding VAT ÷ (service bays × open days in the period). Bays come "
                "from each store's settings (4 unless set); every day of the period up to "
                "today counts as open."
            ),
            revenue_per_bay_day,
            "¥",
            "visits",
        ),
        _m(
            "gross_profit",
            _("Gross profit"),
            _(
                "Sales excluding VAT − parts cost (approved part lines: quantity × the "
                "catalogue cost of the part; parts the owner supplied cost nothing). Labour "
                "and sublet carry no cost data: their cost is counted as 0."
            ),
            gross_profit,
            "¥",
            "visits",
        ),
        _m(
            "gross_margin",
            _("Gross margin"),
            _("Gross profit ÷ sales excluding VAT × 100%. Labour and sublet cost count as 0."),
            gross_margin,
            "%",
            "visits",
        ),
        _m(
            "labour_mix",
            _("Labour share"),
            _("Labour amount ÷ (labour + materials + other) of the settled work orders × 100%."),
            labour_mix,
            "%",
            "visits",
        ),
        _m(
            "parts_mix",
            _("Parts share"),
            _("Materials amount ÷ (labour + materials + other) of the settled work orders × 100%."),
            parts_mix,
            "%",
            "visits",
        ),
        _m(
            "close_ratio",
            _("Close ratio"),
            _(
                "Amount of approved lines ÷ amount of lines presented to the owner (approved, "
                "declined or deferred) on work orders opened in the period × 100%."
            ),
            close_ratio,
            "%",
        ),
        _m(
            "declined_value",
            _("Declined work"),
            _(
                "Amount of lines declined or deferred by the owner on work orders opened in "
                "the period."
            ),
            declined_value,
            "¥",
        ),
        _m(
            "technician_efficiency",
            _("Technician efficiency"),
            _(
                "Billed hours (quantity of approved labour lines) ÷ clocked hours (time "
                "entries) on the work orders settled in the period × 100%."
            ),
            technician_efficiency,
            "%",
        ),
        _m(
            "technician_productivity",
            _("Technician productivity"),
            _(
                "Billed hours ÷ technician-days with clocked time, on the work orders settled "
                "in the period (hours per technician per working day; attendance is not "
                "recorded)."
            ),
            technician_productivity,
            "h",
        ),
        _m(
            "comeback_rate",
            _("Comeback rate"),
            _(
                "Settled work orders recorded as a comeback (the same car back within the "
                "warranty of an earlier order) ÷ car count × 100%."
            ),
            comeback_rate,
            "%",
            "visits",
        ),
    ]
)


def value(code: str, b: Basis):
    """The metric's value for the basis, or None when it has none."""
    return METRICS[code].fn(b)


def display(value, unit: str = "") -> str:
    """How a page shows a value: "—" for none."""
    if value is None:
        return "—"
    if unit == "¥":
        return f"¥{value:,.2f}"
    if unit == "%":
        return f"{value}%"
    return str(value)
