"""The /reports/ dashboard page."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from autocrm.reports import rollups
from autocrm.service.models import Payment
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.conftest import client_for
from tests.reports.conftest import visit


def test_manager_sees_today_trend_and_tiles(world, january):
    today = timezone.localdate()
    wo = visit(world.a1, cf.customer(world.a1), today, "226")
    Payment.objects.create(
        org=world.org, store=world.a1, work_order=wo, method="cash", amount=Decimal("226.00")
    )
    sf.work_order(world.a1, status="in_progress")  # with the one of January: 2 open
    sf.work_order(world.a2, status="in_progress")  # another store: not counted
    rollups.rebuild()
    r = client_for(world.manager_a1).get("/reports/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "报表" in html and "今日进店台次" in html
    assert 'data-testid="today-cars">1<' in html
    assert "¥226.00" in html
    assert 'data-testid="open-total"><a href="/work-orders/?status=open">2<' in html
    assert "近 12 个月台次与营业额" in html
    assert "/static/vendor/echarts/echarts.min.js" in html
    assert 'id="trend-data"' in html
    assert html.count('data-testid="tile"') == 10
    assert "退税" not in html and "不含税" in html  # formula tooltips
    assert 'href="/work-orders/?status=settled"' in html
    # The nav has the reports item.
    assert 'href="/reports/"' in html


def test_period_from_query_and_bad_period_warns(world, january):
    client = client_for(world.manager_a1)
    r = client.get("/reports/", {"from": "2026-01-01", "to": "2026-01-31"})
    assert r.status_code == 200
    assert "¥500.00" in r.content.decode()  # average repair order of January
    r = client.get("/reports/", {"from": "not-a-date"})
    assert r.status_code == 200 and "请按 YYYY-MM-DD 输入日期" in r.content.decode()


def test_empty_store_shows_dashes(world):
    r = client_for(world.manager_a2).get("/reports/")
    assert r.status_code == 200 and "—" in r.content.decode()


def test_technician_is_refused(world):
    assert client_for(world.tech_a1).get("/reports/").status_code == 403


def test_advisor_may_open_it(world):
    assert client_for(world.advisor_a1).get("/reports/").status_code == 200
