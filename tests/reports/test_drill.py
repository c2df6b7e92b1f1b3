"""The drill-down: HQ → region → store → person → work orders, scoped, with Excel exports."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from autocrm.reports import rollups
from tests.conftest import client_for

JAN = "from=2026-01-01&to=2026-01-31"


def _sheet(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(response.content), read_only=True)
    return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]


def test_hq_sees_regions_then_stores(world, january):
    rollups.rebuild()
    c = client_for(world.hq)
    html = c.get(f"/reports/drill/?{JAN}").content.decode()
    assert "区域对比" in html and "华北区" in html and "华南区" in html
    assert "别家一店" not in html
    assert f"region={world.north.pk}" in html
    html = c.get(f"/reports/drill/?{JAN}&region={world.north.pk}").content.decode()
    assert "门店对比" in html and "北京朝阳店" in html and "天津滨江店" in html
    assert "广州天河店" not in html
    assert "¥2,000.00" in html and "¥500.00" in html  # a1's sales and ARO
    assert f"store={world.a1.pk}" in html and "from=2026-01-01" in html
    rows = _sheet(c.get(f"/reports/drill/?{JAN}&region={world.north.pk}&format=xlsx"))
    assert rows[0] == ["区域/门店", "进店台次", "营业额（不含税）", "客单价", "推荐值"]
    assert rows[1][0] == "北京朝阳店" and rows[1][1] == 4 and rows[1][2] == 2000
    assert rows[2][0] == "天津滨江店" and rows[2][1] == 1
    assert len(rows) == 3


def test_store_shows_people_and_their_orders(world, january):
    c = client_for(world.manager_a1)
    r = c.get(f"/reports/drill/?{JAN}")  # one store: lands on it
    html = r.content.decode()
    assert "服务顾问营业额排名" in html and "技师效率排名" in html
    assert world.advisor_a1.display_name in html and world.tech_a1.display_name in html
    assert "80.00%" in html  # billed 4 h of clocked 5 h
    url = f"technician={world.tech_a1.pk}"
    assert url in html
    r = c.get(f"/reports/drill/orders/?{JAN}&store={world.a1.pk}&{url}")
    html = r.content.decode()
    assert f"技师 {world.tech_a1.display_name} 的工单" in html
    assert html.count('data-testid="drill-order"') == 3
    for wo in (january.c1v1, january.c1v2, january.c3v):
        assert wo.number in html
    assert january.c2v.number not in html
    rows = _sheet(c.get(f"/reports/drill/orders/?{JAN}&{url}&format=xlsx"))
    assert rows[0][:3] == ["编号", "门店", "已结算"]
    assert sorted(r[0] for r in rows[1:]) == sorted(
        wo.number for wo in (january.c1v1, january.c1v2, january.c3v)
    )
    people = _sheet(c.get(f"/reports/drill/?{JAN}&format=xlsx"))
    assert people[0][0] == "角色"
    assert ["服务顾问", world.advisor_a1.display_name] == people[1][:2]
    assert any(row[0] == "技师" and row[5] == 80 for row in people[1:])


def test_store_manager_never_sees_another_store(world, january):
    c = client_for(world.manager_a1)
    assert c.get(f"/reports/drill/?{JAN}&store={world.a2.pk}").status_code == 404
    assert c.get(f"/reports/drill/?{JAN}&region={world.south.pk}").status_code == 404
    assert c.get(f"/reports/drill/orders/?{JAN}&store={world.a2.pk}").status_code == 404
    html = c.get(f"/reports/drill/orders/?{JAN}").content.decode()
    assert html.count('data-testid="drill-order"') == 4
    assert january.a2v.number not in html and january.b1v.number not in html
    rows = _sheet(c.get(f"/reports/drill/orders/?{JAN}&format=xlsx"))
    assert len(rows) == 5 and {r[1] for r in rows[1:]} == {"北京朝阳店"}
    # The region page of their region shows their store only.
    html = c.get(f"/reports/drill/?{JAN}&region={world.north.pk}").content.decode()
    assert "北京朝阳店" in html and "天津滨江店" not in html
    # Another org's admin sees none of it.
    other = client_for(world.other_admin)
    assert other.get(f"/reports/drill/?{JAN}&store={world.a1.pk}").status_code == 404
    assert (
        other.get(f"/reports/drill/orders/?{JAN}&technician={world.tech_a1.pk}")
        .content.decode()
        .count('data-testid="drill-order"')
        == 0
    )


def test_empty_period(world):
    c = client_for(world.manager_a1)
    html = c.get("/reports/drill/?from=2020-01-01&to=2020-01-31").content.decode()
    assert "本期间没有已结算工单。" in html
    html = c.get("/reports/drill/orders/?from=2020-01-01&to=2020-01-31").content.decode()
    assert 'data-testid="empty"' in html
    rows = _sheet(c.get("/reports/drill/orders/?from=2020-01-01&to=2020-01-31&format=xlsx"))
    assert len(rows) == 1
    assert client_for(world.tech_a1).get("/reports/drill/").status_code in (302, 403)


def test_region_and_store_rows_from_rollups_equal_the_raw_ones(world, january):
    """At the org and region levels the rows are summed from the daily rollups; they equal
    the same rows grouped from the raw visits and surveys, NPS included."""
    import datetime

    from autocrm.reports import drill, kpis

    rollups.rebuild()
    start, end = datetime.date(2026, 1, 1), datetime.date(2026, 1, 31)
    for user in (world.hq, world.region_mgr, world.manager_a1):
        for region in (None, world.north.pk):
            where = drill.locate(user, region=region)
            rolled = drill.basis(user, where, start, end)
            raw = kpis.basis_for(user, start, end)
            if where.region is not None:
                raw = raw.narrow("region", where.region.pk)
            assert rolled.rolled_up and not raw.rolled_up
            got = drill.children(user, where, rolled)
            assert got == drill.children(user, where, raw), (user, region)
    where = drill.locate(world.hq, region=world.north.pk)
    north = drill.children(world.hq, where, drill.basis(world.hq, where, start, end))
    assert any(r["nps"] is not None for r in north)  # a1's January surveys
