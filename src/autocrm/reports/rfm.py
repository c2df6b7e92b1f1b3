"""RFM segmentation of customers, computed set-based in one INSERT … SELECT.

Over the customers of an org with at least one visit (not merged, not erased):

- R (recency) = days since the last visit; F (frequency) = ``visit_count``;
  M (monetary) = ``lifetime_spend`` (the customer's counters, kept by the settlement service).
- Each is scored 1–5 by quintile within the org (``NTILE(5)``, 5 = most recent / most
  frequent / biggest spender). Equal values get the same score: the lowest quintile any of
  them falls in (so the thousands of one-visit customers all get F = 1, not 1, 2 or 3 by id).

Named segments, the first that matches wins:

=========  =============  =============================================================
code       中文            rule
=========  =============  =============================================================
new        新客户          one visit, within the last 90 days
high       高价值          R ≥ 4 and F ≥ 4 and M ≥ 4
at_risk    流失风险        R ≤ 2 and (F ≥ 4 or M ≥ 4): was valuable, has not come back
wake_up    需唤醒          R ≤ 2: has not come for a while
potential  潜力            R ≥ 3 and (F ≥ 3 or M ≥ 3)
regular    一般            everyone else
=========  =============  =============================================================

The window functions run on SQLite ≥ 3.25 and PostgreSQL alike."""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

NEW_DAYS = 90

SEGMENTS = {
    "high": _("High value"),
    "potential": _("Potential"),
    "wake_up": _("Needs waking up"),
    "at_risk": _("At risk of churn"),
    "new": _("New customer"),
    "regular": _("Regular"),
}

_CASE = f"""
    CASE
      WHEN freq = 1 AND recency <= {NEW_DAYS} THEN 'new'
      WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'high'
      WHEN r <= 2 AND (f >= 4 OR m >= 4) THEN 'at_risk'
      WHEN r <= 2 THEN 'wake_up'
      WHEN r >= 3 AND (f >= 3 OR m >= 3) THEN 'potential'
      ELSE 'regular'
    END"""


def _recency_sql() -> str:
    if connection.vendor == "postgresql":
        return "CAST(FLOOR(EXTRACT(EPOCH FROM (%s - c.last_visit_at)) / 86400) AS integer)"
    return "CAST(julianday(%s) - julianday(c.last_visit_at) AS INTEGER)"


def _quintile(rank: str) -> str:
    """``NTILE(5)`` of the row at ``rank`` (1-based) among ``n`` rows, in arithmetic: the
    first ``extra`` (= n mod 5) quintiles hold ``q + 1`` rows (q = n div 5), the others
    ``q``, as NTILE deals them. Fed the ``RANK()``, equal values share the lowest quintile
    any of them would fall in, with one sort per measure instead of two."""
    big = "extra * (q + 1)"
    return (
        f"(CASE WHEN {rank} <= {big} THEN ({rank} - 1) / (q + 1) + 1"
        f" ELSE extra + ({rank} - 1 - {big}) / NULLIF(q, 0) + 1 END)"
    )


def _now_param(now: datetime.datetime):
    """``now`` as the backend stores datetimes (SQLite: UTC text, as Django writes it)."""
    if connection.vendor == "postgresql":
        return now
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def compute(org_id: int | None = None, now: datetime.datetime | None = None) -> int:
    """Replace the scores of one org (all orgs by default); returns the rows written."""
    from autocrm.customers.models import Customer
    from autocrm.reports.models import CustomerRFM

    now = now or timezone.now()
    cust = Customer._meta.db_table
    rfm = CustomerRFM._meta.db_table
    where = "c.visit_count > 0 AND c.last_visit_at IS NOT NULL"
    where += " AND c.merged_into_id IS NULL AND c.erased_at IS NULL"
    params: list = [_now_param(now), _now_param(now)]
    if org_id is not None:
        where += " AND c.org_id = %s"
        params += [org_id, org_id]
    # Table names from the models, fixed SQL fragments; every value is a parameter.
    sql = f"""
    INSERT INTO {rfm}
      (customer_id, org_id, store_id, recency_days, frequency, monetary, r, f, m, segment,
       computed_at)
    SELECT id, org_id, home_store_id, recency, freq, money, r, f, m, {_CASE}, %s
    FROM (
      SELECT id, org_id, home_store_id, recency, freq, money,
        {_quintile("rr")} AS r, {_quintile("fr")} AS f, {_quintile("mr")} AS m
      FROM (
        SELECT c.id, c.org_id, c.home_store_id,
          {_recency_sql()} AS recency,
          c.visit_count AS freq,
          c.lifetime_spend AS money,
          n.n / 5 AS q, n.n - 5 * (n.n / 5) AS extra,
          RANK() OVER (PARTITION BY c.org_id ORDER BY c.last_visit_at) AS rr,
          RANK() OVER (PARTITION BY c.org_id ORDER BY c.visit_count) AS fr,
          RANK() OVER (PARTITION BY c.org_id ORDER BY c.lifetime_spend) AS mr
        FROM {cust} c
        JOIN (
          SELECT c.org_id, COUNT(*) AS n FROM {cust} c WHERE {where} GROUP BY c.org_id
        ) n ON n.org_id = c.org_id
        WHERE {where}
      ) ranked
    ) scored
    """  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        if org_id is None:
            cursor.execute(f"DELETE FROM {rfm}")  # noqa: S608 (a model table name)
        else:
            cursor.execute(f"DELETE FROM {rfm} WHERE org_id = %s", [org_id])  # noqa: S608
        cursor.execute(sql, params)
        return cursor.rowcount


# --- reads --------------------------------------------------------------------------------


def scores(user):
    """The RFM rows of the customers the user may see (by their home store)."""
    from autocrm.core import scoping
    from autocrm.reports.models import CustomerRFM

    return scoping.scoped(CustomerRFM.objects.all(), user)


def segment_sizes(user) -> list[dict]:
    """Every segment with its number of customers (0 included), in the documented order."""
    from django.db.models import Count

    counts = dict(
        scores(user)
        .values("segment")
        .annotate(n=Count("pk"))
        .values_list("segment", "n")
        .order_by()
    )
    return [{"code": c, "label": label, "count": counts.get(c, 0)} for c, label in SEGMENTS.items()]


def segment_customers(user, segment: str):
    return scores(user).filter(segment=segment).select_related("customer", "store").order_by("-pk")
