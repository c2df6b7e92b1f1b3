"""The dashboard's charts and per-role sections, each a fixed, small number of grouped queries
over the user's ``kpis.Basis`` (scoped querysets) or the scoped daily rollups, whatever the
number of stores or people: rankings of stores, advisors and technicians, the reasons of low
scores, popular services, and the advisor's own figures, follow-ups and low scores."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from autocrm.core import scoping
from autocrm.core.models import Store, User
from autocrm.feedback.models import LOW_REASONS
from autocrm.reports import kpis
from autocrm.reports.models import DailyStoreStat
from autocrm.reports.rollups import FINISHED
from autocrm.service.models import WorkOrderLine

RANK_LIMIT = 10
LIST_LIMIT = 5
# The figures an advisor sees of their own work (the basis is narrowed to them).
ADVISOR_TILES = (
    "car_count",
    "sales",
    "average_repair_order",
    "appointment_conversion",
    "close_ratio",
    "nps",
)


def store_ranking(user: User, b: kpis.Basis, limit: int = RANK_LIMIT) -> list[dict]:
    """The user's stores by sales excl. VAT over the period, from the daily rollups (one
    query, plus one for the names of the stores shown); only for someone with several stores."""
    if len(b.store_ids or ()) < 2:
        return []
    if b.rolled_up:
        parts = kpis.rolled(b, b.store_days, b.store_months)
    else:
        days = scoping.scoped(DailyStoreStat.objects.all(), user)
        parts = [days.filter(store_id__in=sorted(b.store_ids), day__gte=b.start, day__lte=b.end)]
    rows = kpis.summed(parts, ("store_id",), {"cars": "car_count", "total": "sales", "tax": "tax"})
    for row in rows:
        row["net"] = kpis.net_of(row["total"], row["tax"])
    rows = [r for r in rows if r["cars"]]
    rows.sort(key=lambda r: (-r["net"], r["store_id"]))
    rows = rows[:limit]
    names = dict(
        Store.objects.filter(pk__in=[r["store_id"] for r in rows]).values_list("pk", "name")
    )
    return [
        {
            "key": r["store_id"],
            "label": names.get(r["store_id"], ""),
            "cars": r["cars"],
            "value": str(r["net"]),
            "display": kpis.display(r["net"], "¥"),
        }
        for r in rows
    ]


def advisor_ranking(user: User, b: kpis.Basis, limit: int = RANK_LIMIT) -> list[dict]:
    """Service advisors by sales excl. VAT of the work orders they wrote that were settled
    in the period: one grouped query over the daily staff rollups (or the visits, for a basis
    without rollups), plus one for the names."""
    if b.rolled_up:
        rows = kpis.summed(
            # Not the technicians' rows: no orders written.
            [qs.filter(car_count__gt=0) for qs in kpis.rolled(b, b.staff_days, b.staff_months)],
            ("user_id",),
            {"cars": "car_count", "total": "sales", "tax": "tax"},
        )
    else:
        rows = list(
            kpis.visits(b)
            .exclude(advisor_id=None)
            .values(user_id=F("advisor_id"))
            .annotate(cars=Count("id"), total=Sum("total"), tax=Sum("tax"))
            .order_by()
        )
    for row in rows:
        row["net"] = kpis.net_of(row["total"], row["tax"])
    rows.sort(key=lambda r: (-r["net"], r["user_id"]))
    return _people(user, rows[:limit], "net", "¥")


def technician_satisfaction(user: User, b: kpis.Basis, limit: int = RANK_LIMIT) -> list[dict]:
    """Technicians by NPS of the surveys submitted in the period on work orders they worked
    on (a line assigned to them): one grouped query, plus one for the names. A survey counts
    once per technician however many of the order's lines they did. From the daily staff
    rollups when the basis has them."""
    lo, hi = b.window
    if b.rolled_up:
        rows = kpis.summed(
            [qs.filter(surveys__gt=0) for qs in kpis.rolled(b, b.staff_days, b.staff_months)],
            ("user_id",),
            {"n": "surveys", "p": "promoters", "d": "detractors"},
        )
        for row in rows:
            row["tech"] = row["user_id"]
    else:
        rows = list(
            b.surveys.filter(submitted_at__gte=lo, submitted_at__lt=hi)
            .values(tech=F("work_order__lines__technicians"))
            .annotate(
                n=Count("id", distinct=True),
                p=Count("id", distinct=True, filter=Q(nps__gte=9)),
                d=Count("id", distinct=True, filter=Q(nps__lte=6)),
            )
            .order_by()
        )
    rows = [r for r in rows if r["tech"] is not None]
    for row in rows:
        row["user_id"] = row["tech"]
        row["score"] = kpis.ratio(row["p"] - row["d"], row["n"], kpis.HUNDRED)
    rows.sort(key=lambda r: (-(r["score"] or 0), -r["n"], r["user_id"]))
    return _people(user, rows[:limit], "score", "")


def _people(user: User, rows: list[dict], key: str, unit: str) -> list[dict]:
    names = {
        u.pk: u.display_name
        for u in User.objects.filter(pk__in=[r["user_id"] for r in rows], org_id=user.org_id)
    }
    out = []
    for r in rows:
        if r["user_id"] not in names:  # not of the user's org: never shown
            continue
        out.append(
            {
                "key": r["user_id"],
                "label": names[r["user_id"]],
                "value": str(r[key] if r[key] is not None else 0),
                "display": kpis.display(r[key], unit),
                "count": r.get("n", r.get("cars", 0)),
            }
        )
    return out


def low_score_reasons(b: kpis.Basis) -> list[dict]:
    """How often each reason was given on the low scores submitted in the period, most
    frequent first (a survey may give several); one query, over the daily reason rollups
    when the basis has them."""
    counts: Counter = Counter()
    if b.rolled_up:
        for row in kpis.summed(
            kpis.rolled(b, b.reason_days, b.reason_months), ("reason",), {"n": "n"}
        ):
            counts[row["reason"]] += row["n"]
    else:
        lo, hi = b.window
        for reasons in b.surveys.filter(
            submitted_at__gte=lo, submitted_at__lt=hi, is_low=True
        ).values_list("reasons", flat=True):
            for code in reasons or ():
                counts[code] += 1
    labels = dict(LOW_REASONS)
    rows = [
        {"key": code, "label": str(labels.get(code, labels["other"])), "value": n}
        for code, n in counts.items()
    ]
    # Unknown codes are shown as "other": merge them.
    merged: dict[str, dict] = {}
    for row in rows:
        code = row["key"] if row["key"] in labels else "other"
        if code in merged:
            merged[code]["value"] += row["value"]
        else:
            merged[code] = {**row, "key": code}
    return sorted(merged.values(), key=lambda r: (-r["value"], r["key"]))


def popular_services(b: kpis.Basis, limit: int = RANK_LIMIT) -> dict:
    """The approved lines of the period's visits grouped by item: revenue (the lines'
    amounts) and margin (revenue less the cost of the parts, as the KPI library's gross
    profit counts it: quantity × the part's cost, owner-supplied parts cost nothing); the top
    items by each. One grouped query, over the daily item rollups when the basis has them."""
    return _popular(_service_rows(b), limit)


def _service_rows(b: kpis.Basis) -> list[dict]:
    """Per item name: lines ``n``, ``revenue`` and parts ``cost``."""
    if b.rolled_up:
        return _service_rows_rolled(b)
    lo, hi = b.window
    cost = ExpressionWrapper(
        F("quantity") * F("part__cost"), output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    costed = Q(kind=WorkOrderLine.Kind.PART, customer_supplied=False, part__isnull=False)
    lines = b.lines.filter(
        approval=WorkOrderLine.Approval.APPROVED,
        work_order__status__in=FINISHED,
        work_order__settled_at__gte=lo,
        work_order__settled_at__lt=hi,
    )
    if b.store_ids is not None:
        lines = lines.filter(work_order__store_id__in=sorted(b.store_ids))
    return list(
        lines.values("name")
        .annotate(n=Count("id"), revenue=Sum("amount"), cost=Sum(cost, filter=costed))
        .order_by()
    )


def _service_rows_rolled(b: kpis.Basis) -> list[dict]:
    """From the month rows for the whole months of the period and the day rows for its
    edges: two grouped queries at most, merged by name."""
    return kpis.summed(
        kpis.rolled(b, b.item_days, b.item_months),
        ("name",),
        {"n": "lines", "revenue": "revenue", "cost": "cost"},
    )


def _popular(rows: list[dict], limit: int) -> dict:
    items = []
    for row in rows:
        revenue = kpis.q2(row["revenue"] or 0)
        margin = kpis.q2(revenue - (row["cost"] or 0))
        items.append(
            {
                "label": row["name"],
                "count": row["n"],
                "revenue": str(revenue),
                "margin": str(margin),
                "revenue_display": kpis.display(revenue, "¥"),
                "margin_display": kpis.display(margin, "¥"),
                "margin_pct": kpis.display(kpis.ratio(margin, revenue, kpis.HUNDRED), "%"),
            }
        )
    by_revenue = sorted(items, key=lambda r: (-Decimal(r["revenue"]), r["label"]))[:limit]
    by_margin = sorted(items, key=lambda r: (-Decimal(r["margin"]), r["label"]))[:limit]
    return {"revenue": by_revenue, "margin": by_margin}


# --- the advisor's own -------------------------------------------------------------------


def advisor_tiles(b: kpis.Basis) -> list[dict]:
    out = []
    for code in ADVISOR_TILES:
        metric = kpis.METRICS[code]
        v = metric.fn(b)
        out.append(
            {
                "code": code,
                "label": metric.label,
                "formula": metric.formula,
                "display": kpis.display(v, metric.unit),
            }
        )
    return out


def my_follow_ups(user: User) -> dict:
    """The user's open follow-up tasks (assigned to them, or to a role of theirs unassigned):
    how many, how many overdue, and the first few by due time; two queries."""
    if not user.can("task.view"):
        return {"open": 0, "overdue": 0, "items": []}
    from autocrm.automation import selectors as tasks
    from autocrm.automation.models import Task

    qs = tasks.inbox(user, "mine", Task.Status.OPEN)
    summary = tasks.open_counts(qs)
    now = timezone.now()
    items = [
        {
            "pk": t.pk,
            "title": t.title,
            "customer": t.customer.name if t.customer_id else "",
            "due_at": t.due_at,
            "overdue": t.due_at < now,
        }
        for t in qs[:LIST_LIMIT]
    ]
    return {**summary, "items": items}


def my_low_scores(b: kpis.Basis) -> dict:
    """The low scores of the period on the advisor's work orders (the basis is theirs)."""
    lo, hi = b.window
    qs = b.surveys.filter(submitted_at__gte=lo, submitted_at__lt=hi, is_low=True)
    labels = dict(LOW_REASONS)
    items = [
        {
            "number": s.work_order.number,
            "customer": s.customer.name if s.customer_id else "",
            "nps": s.nps,
            "reasons": "、".join(str(labels.get(r, r)) for r in s.reasons or ()),
            "handled": s.handled_at is not None,
            "submitted_at": s.submitted_at,
        }
        for s in qs.select_related("work_order", "customer").order_by("-submitted_at", "-id")[
            :LIST_LIMIT
        ]
    ]
    return {"count": qs.count(), "items": items}
