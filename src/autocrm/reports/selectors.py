"""Reads of the reports: a KPI over a period, optionally grouped, and the dashboard's figures;
always within the user's org and stores."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import scoping
from autocrm.core.errors import Invalid
from autocrm.core.models import Region, User
from autocrm.core.selectors import visible_stores
from autocrm.reports import kpis
from autocrm.reports.models import MonthlyStoreStat
from autocrm.reports.rollups import local_window
from autocrm.service.models import Payment, WorkOrder

GROUPS = ("store", "region", "advisor", "technician", "source", "month", "day")
MAX_DAYS = 3660
MAX_DAY_GROUPS = 366
ZERO = Decimal("0")


def parse_period(start: str | None, end: str | None) -> tuple[datetime.date, datetime.date]:
    """``YYYY-MM-DD`` dates (this month so far by default); 422 with a message otherwise."""
    today = timezone.localdate()
    errors = {}
    values = []
    for name, raw, default in (("from", start, today.replace(day=1)), ("to", end, today)):
        if raw in (None, ""):
            values.append(default)
            continue
        try:
            values.append(datetime.date.fromisoformat(str(raw)))
        except ValueError:
            errors[name] = _("Enter a date as YYYY-MM-DD.")
            values.append(None)
    if errors:
        raise Invalid(_("The period is not valid."), fields=errors)
    lo, hi = values
    if lo > hi:
        raise Invalid(
            _("The period is not valid."), fields={"to": _("The end is before the start.")}
        )
    if (hi - lo).days > MAX_DAYS:
        raise Invalid(
            _("The period is not valid."), fields={"to": _("The period is at most ten years.")}
        )
    return lo, hi


def period_or_default(
    start: str | None, end: str | None
) -> tuple[datetime.date, datetime.date, str]:
    """For a page: the period asked for, or this month so far with the reason it was
    refused (empty when it was not)."""
    try:
        return (*parse_period(start, end), "")
    except Invalid as exc:
        message = " ".join(str(v) for v in exc.fields.values()) or str(exc.message)
        return (*parse_period(None, None), message)


def _months(start: datetime.date, end: datetime.date):
    first = start.replace(day=1)
    while first <= end:
        following = (first + datetime.timedelta(days=32)).replace(day=1)
        yield (
            first.strftime("%Y-%m"),
            max(first, start),
            min(following - datetime.timedelta(1), end),
        )
        first = following


def _groups(user: User, b: kpis.Basis, by: str) -> list[tuple[str, str, kpis.Basis]]:
    if by == "store":
        return [(str(s.pk), s.name, b.narrow("store", s.pk)) for s in visible_stores(user)]
    if by == "region":
        ids = visible_stores(user).exclude(region=None).values("region_id")
        return [
            (str(r.pk), r.name, b.narrow("region", r.pk))
            for r in Region.objects.filter(pk__in=ids).order_by("code")
        ]
    if by == "advisor":
        ids = kpis.visits(b).exclude(advisor=None).values("advisor_id")
        people = User.objects.filter(pk__in=ids, org_id=user.org_id).order_by("full_name", "pk")
        return [(str(u.pk), u.display_name, b.narrow("advisor", u.pk)) for u in people]
    if by == "technician":
        visits = kpis.visits(b)
        ids = set(
            b.time_entries.filter(work_order__in=visits).values_list("technician_id", flat=True)
        )
        ids |= set(
            b.lines.filter(work_order__in=visits)
            .exclude(technicians=None)
            .values_list("technicians", flat=True)
        )
        people = User.objects.filter(pk__in=ids, org_id=user.org_id).order_by("full_name", "pk")
        return [(str(u.pk), u.display_name, b.narrow("technician", u.pk)) for u in people]
    if by == "source":
        from autocrm.customers.models import SourceChannel

        visits = kpis.visits(b)
        used = visits.exclude(source=None).values("source_id")
        channels = SourceChannel.objects.filter(org_id=user.org_id).filter(
            Q(is_active=True) | Q(pk__in=used)
        )
        out = [(str(c.pk), c.name, b.narrow("source", c.pk)) for c in channels]
        if visits.filter(source=None).exists():
            out.append(("none", _("No source recorded"), b.narrow("source", None)))
        return out
    if by == "month":
        return [(key, key, b.period(lo, hi)) for key, lo, hi in _months(b.start, b.end)]
    if by == "day":
        if (b.end - b.start).days >= MAX_DAY_GROUPS:
            raise Invalid(
                _("The period is not valid."),
                fields={"group_by": _("Group by day covers at most 366 days.")},
            )
        days = [b.start + datetime.timedelta(days=i) for i in range((b.end - b.start).days + 1)]
        return [(d.isoformat(), d.isoformat(), b.period(d, d)) for d in days]
    raise Invalid(
        _("Unknown grouping."),
        fields={"group_by": _("Choose one of: %(choices)s.") % {"choices": ", ".join(GROUPS)}},
    )


def _number(value):
    if isinstance(value, Decimal):
        return str(value)
    return value


def kpi(
    user: User,
    code: str,
    start: datetime.date,
    end: datetime.date,
    group_by: str | None = None,
    churn_days: int | None = None,
) -> dict:
    """One metric for the user's scope over the period, with one row per group."""
    metric = kpis.METRICS.get(code or "")
    if metric is None:
        raise Invalid(
            _("Unknown metric."),
            fields={
                "metric": _("Choose one of: %(choices)s.") % {"choices": ", ".join(kpis.METRICS)}
            },
        )
    options = {"churn_days": churn_days} if churn_days else {}
    b = kpis.basis_for(user, start, end, **options)
    groups = []
    if group_by:
        for key, label, part in _groups(user, b, group_by):
            v = metric.fn(part)
            groups.append(
                {
                    "key": key,
                    "label": label,
                    "value": _number(v),
                    "display": kpis.display(v, metric.unit),
                }
            )
    v = metric.fn(b)
    return {
        "metric": metric.code,
        "label": str(metric.label),
        "formula": str(metric.formula),
        "unit": metric.unit,
        "from": start,
        "to": end,
        "group_by": group_by or None,
        "value": _number(v),
        "display": kpis.display(v, metric.unit),
        "groups": groups,
    }


# --- dashboard ----------------------------------------------------------------------------

TILES = (
    "car_count",
    "sales",
    "average_repair_order",
    "gross_profit",
    "return_rate",
    "nps",
    "appointment_conversion",
    "close_ratio",
    "technician_efficiency",
    "comeback_rate",
)


def today_figures(user: User) -> dict:
    today = timezone.localdate()
    lo, hi = local_window(today, today)
    b = kpis.basis_for(user, today, today)
    cars = kpis.car_count(b)
    payments = scoping.scoped(Payment.objects.all(), user).filter(
        created_at__gte=lo, created_at__lt=hi
    )
    if not user.can("reports.store"):  # an advisor: the payments of their own orders
        payments = payments.filter(work_order__in=b.work_orders)
    takings = payments.aggregate(v=Sum("amount"))["v"]
    open_statuses = [c for c in WorkOrder.Status.values if c not in WorkOrder.CLOSED_STATUSES]
    open_rows = (
        # Named (not "all but the closed ones") so a (store|org, status) index serves it.
        b.work_orders.filter(status__in=open_statuses)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["status"]: row["n"] for row in open_rows}
    open_by_status = [
        {"status": code, "label": str(label), "count": counts.get(code, 0)}
        for code, label in WorkOrder.Status.choices
        if code not in WorkOrder.CLOSED_STATUSES
    ]
    return {
        "cars": cars,
        "takings": kpis.q2(takings or 0),
        "open_by_status": open_by_status,
        "open_total": sum(counts.values()),
    }


def monthly_trend(user: User, months: int = 12) -> list[dict]:
    """Car count and sales (excl. VAT) per month from the month rollups, oldest first (this
    month so far: its row is kept with its days)."""
    today = timezone.localdate()
    first = today.replace(day=1)
    for _i in range(months - 1):
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    # The stores named (all of them for HQ) so the (store, month) key serves the range.
    rows = (
        scoping.scoped(MonthlyStoreStat.objects.all(), user)
        .filter(store_id__in=sorted(scoping.store_ids(user)), month__gte=first, month__lte=today)
        .values("month")
        .annotate(cars=Sum("car_count"), sales=Sum("sales"), tax=Sum("tax"))
        .order_by()
    )
    found = {
        row["month"].strftime("%Y-%m"): {
            "cars": row["cars"] or 0,
            "sales": row["sales"] or ZERO,
            "tax": row["tax"] or ZERO,
        }
        for row in rows
    }
    out = []
    for key, _lo, _hi in _months(first, today):
        row = found.get(key)
        out.append(
            {
                "month": key,
                "cars": row["cars"] if row else 0,
                "sales": str(kpis.q2((row["sales"] - row["tax"]) if row else 0)),
            }
        )
    return out


def tiles(
    user: User, start: datetime.date, end: datetime.date, b: kpis.Basis | None = None
) -> list[dict]:
    """The dashboard's KPI tiles; the figures additive per store-day (car count, sales, gross
    profit, hours, comebacks) from the daily rollups, the others (distinct customers,
    surveys, appointments, estimates) from indexed queries over the period."""
    b = b if b is not None else kpis.basis_for(user, start, end, rollups=True)
    out = []
    for code in TILES:
        metric = kpis.METRICS[code]
        v = metric.fn(b)
        out.append(
            {
                "code": code,
                "label": metric.label,
                "formula": metric.formula,
                "display": kpis.display(v, metric.unit),
                "drill": metric.drill,
                # Figures the worker keeps for the usual periods: when it computed them.
                "as_of": kpis.stored_at(b, code),
            }
        )
    return out


def low_score_alerts(user: User) -> int:
    if not user.can("survey.view"):
        return 0
    from autocrm.feedback.selectors import alert_count

    return alert_count(user)
