"""Cross-sell and upgrade lists on a hand-made sample: who bought 功放安装 but never DSP调音,
whose 入门音响套餐 is old while they still come, and the vehicle-model × item pivot; scope,
masking, empty states and the Excel export.

Sample (all settled on the day given unless said):

customer      home  car       lines
客户甲        A1    宝马 3系   功放安装 (2026-01-05)
客户乙        A1    宝马 3系   功放安装 (2026-01-05), DSP调音 (2026-02-01, at A2)
客户丙        A1    奥迪 A4    功放安装 declined, DSP调音 (2026-01-10)
客户丁        A1    奥迪 A4    功放安装 on an order still in progress
客户戊        A2    宝马 3系   功放安装 (2026-01-07)
别家客户      B1    —         the other org: never ours

bought 功放安装 not DSP调音: HQ 甲, 戊; A1's manager 甲 only.
pivot (HQ): 宝马 3系 功放安装 3 (甲 乙 戊), DSP调音 1 (乙); 奥迪 A4 DSP调音 1 (丙)."""

from __future__ import annotations

import datetime
import io

import pytest
from openpyxl import load_workbook

from autocrm.core.models import AuditLog
from autocrm.reports import crosssell
from autocrm.service.models import WorkOrderLine
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.conftest import client_for
from tests.reports.conftest import at, visit

pytestmark = pytest.mark.django_db
APPROVED = WorkOrderLine.Approval.APPROVED
URL = "/reports/cross-sell/bought_not/"


def _buy(store, customer, day, *items, status="settled", approval=APPROVED):
    wo = visit(store, customer, day, "1130", status=status)
    for item in items:
        kw = {"package": item} if item._meta.model_name == "servicepackage" else {"labour": item}
        sf.line(wo, item.name, price="500.00", approval=approval, **kw)
    return wo


@pytest.fixture
def sample(world):
    amp = sf.labour(world.org, "功放安装")
    dsp = sf.labour(world.org, "DSP调音")
    d = datetime.date
    people = {}
    for name, store, brand, model, mobile in (
        ("客户甲", world.a1, "宝马", "3系", "13900000001"),
        ("客户乙", world.a1, "宝马", "3系", "13900000002"),
        ("客户丙", world.a1, "奥迪", "A4", "13900000003"),
        ("客户丁", world.a1, "奥迪", "A4", "13900000004"),
        ("客户戊", world.a2, "宝马", "3系", "13900000005"),
    ):
        c = cf.customer(store, name=name, mobile=mobile)
        cf.vehicle(c, brand=brand, model=model)
        people[name] = c
    _buy(world.a1, people["客户甲"], d(2026, 1, 5), amp)
    _buy(world.a1, people["客户乙"], d(2026, 1, 5), amp)
    _buy(world.a2, people["客户乙"], d(2026, 2, 1), dsp)
    _buy(world.a1, people["客户丙"], d(2026, 1, 9), amp, approval="declined")
    _buy(world.a1, people["客户丙"], d(2026, 1, 10), dsp)
    _buy(world.a1, people["客户丁"], d(2026, 1, 11), amp, status="in_progress")
    _buy(world.a2, people["客户戊"], d(2026, 1, 7), amp)
    theirs = cf.customer(world.b1, name="别家客户")
    their_amp = sf.labour(world.other_org, "功放安装")
    _buy(world.b1, theirs, d(2026, 1, 5), their_amp)
    return {"amp": amp, "dsp": dsp, **people}


def _names(qs) -> set:
    return {c.name for c in qs}


def test_bought_x_not_y(world, sample):
    amp = crosssell.parse_item(world.org.pk, f"labour:{sample['amp'].pk}")
    dsp = crosssell.parse_item(world.org.pk, f"labour:{sample['dsp'].pk}")
    assert _names(crosssell.bought_not(world.org.pk, amp, dsp)) == {"客户甲", "客户戊"}
    assert _names(crosssell.bought_not(world.org.pk, amp, dsp, [world.a1.pk])) == {"客户甲"}
    # The other way round: bought DSP调音, never 功放安装 (丙's was declined).
    assert _names(crosssell.bought_not(world.org.pk, dsp, amp)) == {"客户丙"}
    # Another org's item is not ours; a merged customer is never listed.
    assert crosssell.parse_item(world.other_org.pk, f"labour:{sample['amp'].pk}") is None
    assert crosssell.parse_item(world.org.pk, "planet:1") is None
    sample["客户甲"].merged_into = sample["客户乙"]
    sample["客户甲"].save()
    assert _names(crosssell.bought_not(world.org.pk, amp, dsp)) == {"客户戊"}


def test_entry_package_long_ago_and_a_recent_visit(world):
    entry = sf.package(world.org, "入门音响套餐")
    item = crosssell.Item("package", entry.pk, entry.name)
    d = datetime.date
    today = d(2026, 6, 1)  # 2 years → bought before 2024-06-01; 6 months → visit since 2025-12-01
    u = {n: cf.customer(world.a1, name=n) for n in ("老甲", "老乙", "老丙", "老丁", "老戊")}
    u["老己"] = cf.customer(world.a2, name="老己")
    for name in ("老甲", "老乙", "老丙", "老丁", "老戊", "老己"):
        cf.vehicle(u[name])
    _buy(world.a1, u["老甲"], d(2024, 1, 10), entry)
    visit(world.a1, u["老甲"], d(2026, 3, 1), "339")  # in
    _buy(world.a1, u["老乙"], d(2024, 1, 10), entry)
    visit(world.a1, u["老乙"], d(2025, 11, 30), "339")  # last visit too long ago
    _buy(world.a1, u["老丙"], d(2024, 1, 10), entry)
    _buy(world.a1, u["老丙"], d(2025, 1, 10), entry)  # bought again: last only 1.4 years ago
    visit(world.a1, u["老丙"], d(2026, 5, 1), "339")
    _buy(world.a1, u["老丁"], d(2024, 6, 1), entry)  # exactly 2 years: not more than
    visit(world.a1, u["老丁"], d(2026, 5, 1), "339")
    _buy(world.a1, u["老戊"], d(2024, 5, 31), entry)  # the day before: in
    visit(world.a1, u["老戊"], d(2025, 12, 1), "339")  # the first day of the window: in
    _buy(world.a2, u["老己"], d(2023, 1, 1), entry)
    visit(world.a2, u["老己"], d(2026, 5, 20), "339")  # in, but A2's
    got = crosssell.entry_upgrade(world.org.pk, item, 2, 6, today=today)
    assert _names(got) == {"老己", "老戊", "老甲"}
    got = crosssell.entry_upgrade(world.org.pk, item, 2, 6, [world.a1.pk], today=today)
    assert _names(got) == {"老戊", "老甲"}
    assert _names(crosssell.entry_upgrade(world.org.pk, item, 3, 6, today=today)) == {"老己"}


def test_preference_pivot(world, sample):
    pivot = crosssell.preference(world.org.pk)
    assert pivot["columns"] == ["功放安装", "DSP调音"]
    assert pivot["rows"] == [
        {"label": "宝马 3系", "cells": [3, 1]},
        {"label": "奥迪 A4", "cells": [0, 1]},
    ]
    # A1's work orders only: 乙's DSP调音 was at A2, 戊 is A2's.
    mine = crosssell.preference(world.org.pk, crosssell.store_scope(world.manager_a1))
    assert mine["rows"] == [
        {"label": "宝马 3系", "cells": [2, 0]},
        {"label": "奥迪 A4", "cells": [0, 1]},
    ]
    assert crosssell.store_scope(world.hq) is None


def test_page_scoped_and_masked(world, sample):
    q = {"x": f"labour:{sample['amp'].pk}", "y": f"labour:{sample['dsp'].pk}"}
    html = client_for(world.hq).get(URL, q).content.decode()
    assert html.count('data-testid="crosssell-row"') == 2
    assert "买了功放安装，未买DSP调音" in html
    r = client_for(world.manager_a1).get(URL, q)
    html = r.content.decode()
    assert r.status_code == 200
    assert html.count('data-testid="crosssell-row"') == 1
    assert "客户甲" in html and "客户戊" not in html and "别家客户" not in html
    assert "13900000001" in html  # a manager calls customers
    assert 'data-testid="export"' in html
    marketing = f.staff(world.org, "marketing", stores=[world.a1], username="mkt-a1")
    html = client_for(marketing).get(URL, q).content.decode()
    assert "139****0001" in html and "13900000001" not in html
    assert 'data-testid="export"' not in html
    assert client_for(marketing).get(URL, {**q, "format": "xlsx"}).status_code == 403
    assert client_for(world.tech_a1).get(URL, q).status_code == 403
    assert client_for(world.hq).get("/reports/cross-sell/nope/").status_code == 404


def test_export_rows_are_audited(world, sample):
    q = {"x": f"labour:{sample['amp'].pk}", "y": f"labour:{sample['dsp'].pk}", "format": "xlsx"}
    before = AuditLog.objects.filter(action="reveal").count()
    r = client_for(world.hq).get(URL, q)
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("客户", "手机号", "所属门店")
    assert sorted(row[:3] for row in rows[1:]) == [
        ("客户戊", "13900000005", "天津滨江店"),
        ("客户甲", "13900000001", "北京朝阳店"),
    ]
    log = AuditLog.objects.filter(action="reveal").order_by("-pk").first()
    assert AuditLog.objects.filter(action="reveal").count() == before + 1
    assert (
        log.user_id == world.hq.pk
        and log.changes == {"rows": [None, 2]}
        and "2 × cross-sell" in log.object_repr
    )
    r = client_for(world.manager_a1).get("/reports/cross-sell/preference/", {"format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert rows == [("车型", "功放安装", "DSP调音"), ("宝马 3系", 2, 0), ("奥迪 A4", 0, 1)]


def test_upgrade_page(world):
    entry = sf.package(world.org, "入门音响套餐")
    c = cf.customer(world.a1, name="老客户", mobile="13900000009")
    cf.vehicle(c)
    today = datetime.date.today()
    _buy(world.a1, c, today.replace(year=today.year - 3), entry)
    visit(world.a1, c, today - datetime.timedelta(days=10), "339")
    url = "/reports/cross-sell/upgrade/"
    html = client_for(world.manager_a1).get(url, {"x": f"package:{entry.pk}"}).content.decode()
    assert html.count('data-testid="crosssell-row"') == 1  # defaults: 2 years, 6 months
    assert "入门音响套餐" in html
    html = client_for(world.manager_a2).get(url, {"x": f"package:{entry.pk}"}).content.decode()
    assert 'data-testid="empty"' in html and "没有符合条件的客户。" in html
    r = client_for(world.manager_a1).get(url, {"x": f"package:{entry.pk}", "years": "0"})
    assert r.status_code == 422 and "请输入 1 到 20 之间的整数年数。" in r.content.decode()


def test_empty_states_and_bad_input(world):
    c = client_for(world.manager_a1)
    html = c.get("/reports/cross-sell/").content.decode()
    assert 'data-testid="pick"' in html and "交叉销售名单" in html
    html = c.get("/reports/cross-sell/preference/").content.decode()
    assert 'data-testid="empty"' in html
    r = c.get(URL, {"x": "labour:999999", "y": "labour:1"})
    assert r.status_code == 422 and "请从目录中选择项目。" in r.content.decode()
    amp = sf.labour(world.org, "功放安装")
    r = c.get(URL, {"x": f"labour:{amp.pk}", "y": f"labour:{amp.pk}"})
    assert r.status_code == 422
    dsp = sf.labour(world.org, "DSP调音")
    html = c.get(URL, {"x": f"labour:{amp.pk}", "y": f"labour:{dsp.pk}"}).content.decode()
    assert 'data-testid="empty"' in html
    assert 'data-testid="crosssell-link"' in c.get("/reports/").content.decode()


def test_at_helper_is_local():  # the sample's dates are shop-local days
    assert at(datetime.date(2026, 1, 5)).date() == datetime.date(2026, 1, 5)


def test_preset_customers_for_a_rule(world, sample):
    from autocrm.core.errors import Invalid

    params = {"x": f"labour:{sample['amp'].pk}", "y": f"labour:{sample['dsp'].pk}"}
    got = crosssell.preset_customers(world.org.pk, "bought_not", params)
    assert _names(got) == {"客户甲", "客户戊"}
    assert got.model._meta.label == "customers.Customer"
    assert _names(
        crosssell.preset_customers(world.org.pk, "bought_not", params, [world.a2.pk])
    ) == {"客户戊"}
    for preset, bad in (
        ("bought_not", {"x": params["x"]}),
        ("bought_not", {"x": params["x"], "y": params["x"]}),
        ("upgrade", {"x": params["x"], "years": "x"}),
        ("upgrade", {"x": "labour:0"}),
        ("planet", params),
    ):
        with pytest.raises(Invalid):
            crosssell.preset_customers(world.org.pk, preset, bad)
    got = crosssell.preset_customers(
        world.org.pk,
        "upgrade",
        {"x": params["x"], "years": 1, "months": 12},
        today=datetime.date(2027, 2, 1),
    )
    # Bought 功放安装 before 2026-02-01 and a visit since: only 乙 (DSP调音 on Feb 1).
    assert _names(got) == {"客户乙"}


def test_preference_saved_as_a_builder_report(world, sample):
    from autocrm.reports import builder

    c = client_for(world.manager_a1)
    assert 'data-testid="save-report"' in c.get("/reports/cross-sell/preference/").content.decode()
    r = c.post("/reports/cross-sell/preference/save/")
    report = builder.visible_reports(world.manager_a1)[0]
    assert r.status_code == 302 and r["Location"] == f"/reports/builder/{report.pk}/"
    result = builder.run(
        report, world.manager_a1, datetime.date(2026, 1, 1), datetime.date(2026, 2, 28)
    )
    assert sorted(result.rows) == [["3系", "功放安装", 2], ["A4", "DSP调音", 1]]
    assert result.pivot()["columns"]
    marketing = f.staff(world.org, "marketing", stores=[world.a1], username="mkt-a1")
    assert client_for(marketing).post("/reports/cross-sell/preference/save/").status_code == 403
