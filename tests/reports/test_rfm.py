"""RFM scores on a hand-made sample: quintiles, ties, segments, scoping, masking, export."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from autocrm.customers.models import Customer
from autocrm.reports import rfm
from autocrm.reports.models import CustomerRFM
from tests import customer_factories as cf
from tests import factories as f
from tests.conftest import client_for

NOW = timezone.make_aware(datetime.datetime(2026, 6, 1, 12, 0))

# name: (days since last visit, visits, spend, home store)
SAMPLE = {
    "c0": (1, 10, 9000, "a1"),
    "c1": (5, 1, 100, "a1"),
    "c2": (10, 8, 7000, "a1"),
    "c3": (20, 6, 5000, "a1"),
    "c4": (40, 3, 800, "a1"),
    "c5": (100, 3, 1200, "a1"),
    "c6": (200, 9, 8000, "a1"),
    "c7": (300, 1, 300, "a1"),
    "c8": (400, 1, 200, "a1"),
    "c9": (500, 2, 600, "a2"),
}
# Hand-computed: R by recency, F by visits (the three one-visit customers all F=1: ties
# take the lowest quintile), M by spend; then the segment rules in reports/rfm.py.
EXPECTED = {
    "c0": (5, 5, 5, "high"),
    "c1": (5, 1, 1, "new"),
    "c2": (4, 4, 4, "high"),
    "c3": (4, 4, 4, "high"),
    "c4": (3, 3, 3, "potential"),
    "c5": (3, 3, 3, "potential"),
    "c6": (2, 5, 5, "at_risk"),
    "c7": (2, 1, 2, "wake_up"),
    "c8": (1, 1, 1, "wake_up"),
    "c9": (1, 2, 2, "wake_up"),
}


@pytest.fixture
def sample(world):
    found = {}
    for i, (name, (days, visits, spend, store)) in enumerate(SAMPLE.items()):
        c = cf.customer(getattr(world, store), name=f"客户{name}", mobile=f"1380000{i:04d}")
        Customer.objects.filter(pk=c.pk).update(
            visit_count=visits,
            lifetime_spend=Decimal(spend),
            last_visit_at=NOW - datetime.timedelta(days=days, hours=1),
            first_visit_at=NOW - datetime.timedelta(days=days + 1),
        )
        found[name] = c
    # Never visited: not scored. Another org: scored among its own customers only.
    cf.customer(world.a1, name="没来过")
    other = cf.customer(world.b1, name="别家客户")
    Customer.objects.filter(pk=other.pk).update(
        visit_count=50, lifetime_spend=Decimal("99999"), last_visit_at=NOW
    )
    assert rfm.compute(now=NOW) == 11
    return found


def test_quintiles_and_segments(sample):
    got = {
        name: (row.r, row.f, row.m, row.segment)
        for name, c in sample.items()
        for row in [CustomerRFM.objects.get(pk=c.pk)]
    }
    assert got == EXPECTED
    assert CustomerRFM.objects.get(pk=sample["c4"].pk).recency_days == 40
    # Recomputing replaces, never duplicates; one org alone leaves the other's rows.
    assert rfm.compute(now=NOW) == 11
    assert rfm.compute(org_id=sample["c0"].org_id, now=NOW) == 10
    assert CustomerRFM.objects.count() == 11


def test_page_scoped_and_masked(world, sample):
    html = client_for(world.hq).get("/reports/rfm/").content.decode()
    assert "客户分群（RFM）" in html and "高价值" in html and "流失风险" in html
    sizes = {s["code"]: s["count"] for s in rfm.segment_sizes(world.hq)}
    assert sizes == {"high": 3, "potential": 2, "wake_up": 3, "at_risk": 1, "new": 1, "regular": 0}
    assert {s["code"]: s["count"] for s in rfm.segment_sizes(world.manager_a1)}["wake_up"] == 2
    c = client_for(world.manager_a1)
    html = c.get("/reports/rfm/?segment=wake_up").content.decode()
    assert html.count('data-testid="rfm-row"') == 2
    assert "客户c9" not in html and "别家客户" not in html
    assert "13800000007" in html  # a manager calls customers: full number
    marketing = f.staff(world.org, "marketing", stores=[world.a1], username="mkt-a1")
    html = client_for(marketing).get("/reports/rfm/?segment=wake_up").content.decode()
    assert "138****0007" in html and "13800000007" not in html
    assert 'data-testid="export"' not in html  # no customer.export
    r = client_for(marketing).get("/reports/rfm/?segment=wake_up&format=xlsx")
    assert r.status_code == 403
    assert client_for(world.hq).get("/reports/rfm/?segment=nope").status_code == 404


def test_export_rows(world, sample):
    r = client_for(world.manager_a1).get("/reports/rfm/?segment=high&format=xlsx")
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "客户" and "R" in rows[0]
    assert sorted(row[0] for row in rows[1:]) == ["客户c0", "客户c2", "客户c3"]
    assert {row[-1] for row in rows[1:]} == {"高价值"}


def test_empty(world):
    html = client_for(world.manager_a1).get("/reports/rfm/").content.decode()
    assert 'data-testid="empty"' in html
    html = client_for(world.manager_a1).get("/reports/rfm/?segment=high").content.decode()
    assert "该分群暂无客户。" in html


def _ntile_min(values: list[int], buckets: int = 5) -> dict[int, int]:
    """NTILE(buckets) of each row in sorted order (the first n mod buckets tiles one row
    bigger), then, for each value, the lowest tile any row with it fell in."""
    ordered = sorted(values)
    n = len(ordered)
    sizes = [n // buckets + (1 if t < n % buckets else 0) for t in range(buckets)]
    tiles = [t + 1 for t, size in enumerate(sizes) for _ in range(size)]
    lowest: dict[int, int] = {}
    for value, tile in zip(ordered, tiles, strict=True):
        lowest.setdefault(value, tile)
    return lowest


@pytest.mark.parametrize("visits", [[4, 1, 1, 2, 9, 3, 3], [1] * 4 + [2, 2, 3, 5, 5, 5, 8, 9, 12]])
def test_quintiles_of_uneven_counts_match_ntile(world, visits):
    """7 and 13 customers (not a multiple of five), with ties: scores as NTILE deals them."""
    made = []
    for i, n in enumerate(visits):
        c = cf.customer(world.a1, name=f"频次{i}", mobile=f"1390000{i:04d}")
        Customer.objects.filter(pk=c.pk).update(
            visit_count=n,
            lifetime_spend=Decimal(100 * n),
            last_visit_at=NOW - datetime.timedelta(days=i + 1),
        )
        made.append((c.pk, n))
    assert rfm.compute(now=NOW) == len(visits)
    expected = _ntile_min(visits)
    got = dict(CustomerRFM.objects.values_list("customer_id", "f"))
    assert {pk: got[pk] for pk, _n in made} == {pk: expected[n] for pk, n in made}
    assert dict(CustomerRFM.objects.values_list("customer_id", "m")) == got


def test_scores_go_with_a_deleted_customer(sample):
    """The scores keep no foreign key in the database (bulk recomputes), yet deleting a
    customer through the application deletes their row."""
    gone = sample["c3"]
    Customer.objects.filter(pk=gone.pk).delete()
    assert not CustomerRFM.objects.filter(pk=gone.pk).exists()
    assert CustomerRFM.objects.filter(pk=sample["c4"].pk).exists()
