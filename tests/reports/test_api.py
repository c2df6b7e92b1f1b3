"""GET /api/v1/kpis: values, grouping, scope and refusals."""

from __future__ import annotations

import pytest

from tests.conftest import api_client_for

URL = "/api/v1/kpis"
JAN = {"from": "2026-01-01", "to": "2026-01-31"}


def get(user, **params):
    return api_client_for(user).get(URL, params)


def test_value_with_formula(world, january):
    r = get(world.manager_a1, metric="average_repair_order", **JAN)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["value"] == "500.00" and body["display"] == "¥500.00"
    assert body["from"] == "2026-01-01" and body["to"] == "2026-01-31"
    assert body["label"] == "平均单车产值"
    assert "不含税" in body["formula"]


@pytest.mark.parametrize(
    "metric",
    [
        "return_rate",
        "avg_days_between_visits",
        "lifetime_value",
        "nps",
        "appointment_conversion",
        "car_count",
        "average_repair_order",
        "gross_profit",
        "close_ratio",
        "technician_efficiency",
        "comeback_rate",
    ],
)
def test_required_metric_codes(world, january, metric):
    assert get(world.hq, metric=metric, **JAN).status_code == 200


def test_group_by_store_respects_scope(world, january):
    body = get(world.manager_a1, metric="car_count", group_by="store", **JAN).json()
    assert [(g["label"], g["value"]) for g in body["groups"]] == [("北京朝阳店", 4)]
    body = get(world.hq, metric="car_count", group_by="store", **JAN).json()
    assert {g["label"]: g["value"] for g in body["groups"]} == {
        "北京朝阳店": 4,
        "天津滨江店": 1,
        "广州天河店": 0,
    }
    assert body["value"] == 5


def test_other_org_sees_nothing_of_ours(world, january):
    body = get(world.other_admin, metric="car_count", group_by="store", **JAN).json()
    assert [g["label"] for g in body["groups"]] == ["别家一店"]
    assert body["value"] == 1


def test_group_by_region_month_day_advisor_technician(world, january):
    regions = get(world.hq, metric="car_count", group_by="region", **JAN).json()["groups"]
    assert {g["label"]: g["value"] for g in regions} == {"华北区": 5, "华南区": 0}
    months = get(
        world.manager_a1,
        metric="car_count",
        group_by="month",
        **{"from": "2025-12-15", "to": "2026-01-31"},
    ).json()["groups"]
    assert [(g["key"], g["value"]) for g in months] == [("2025-12", 0), ("2026-01", 4)]
    days = get(world.manager_a1, metric="car_count", group_by="day", **JAN).json()["groups"]
    assert len(days) == 31 and {g["key"]: g["value"] for g in days}["2026-01-05"] == 1
    advisors = get(world.manager_a1, metric="sales", group_by="advisor", **JAN).json()["groups"]
    assert [(g["key"], g["value"]) for g in advisors] == [(str(world.advisor_a1.pk), "1000.00")]
    techs = get(
        world.manager_a1, metric="technician_efficiency", group_by="technician", **JAN
    ).json()["groups"]
    assert [(g["key"], g["value"]) for g in techs] == [(str(world.tech_a1.pk), "80.00")]


def test_empty_period_value_is_null(world, january):
    body = get(
        world.manager_a1, metric="return_rate", **{"from": "2025-03-01", "to": "2025-03-31"}
    ).json()
    assert body["value"] is None and body["display"] == "—"


def test_advisor_gets_own_figures(world, january):
    body = get(world.advisor_a1, metric="car_count", **JAN).json()
    assert body["value"] == 1


def test_technician_is_refused(world, january):
    r = get(world.tech_a1, metric="car_count", **JAN)
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"metric": "nonsense", **JAN}, "metric", "未知的指标。"),
        ({"metric": "", **JAN}, "metric", "未知的指标。"),
        ({"metric": "car_count", "from": "2026-13-01", "to": "2026-01-31"}, "from", "期间无效。"),
        ({"metric": "car_count", "from": "2026-02-01", "to": "2026-01-31"}, "to", "期间无效。"),
        ({"metric": "car_count", "group_by": "planet", **JAN}, "group_by", "未知的分组方式。"),
    ],
)
def test_bad_input_is_422_in_chinese(world, params, field, message):
    r = api_client_for(world.manager_a1).get(URL, params)
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["message"] == message and field in body["fields"]


def test_group_by_source(world, january):
    from autocrm.customers.models import SourceChannel
    from autocrm.service.models import WorkOrder

    web = SourceChannel.objects.create(org=world.org, name="抖音")
    friend = SourceChannel.objects.create(org=world.org, name="老客户介绍")
    SourceChannel.objects.create(org=world.org, name="停用渠道", is_active=False)
    WorkOrder.objects.filter(pk__in=[january.c1v1.pk, january.c1v2.pk]).update(source=web)
    WorkOrder.objects.filter(pk=january.c2v.pk).update(source=friend)
    body = get(world.manager_a1, metric="car_count", group_by="source", **JAN).json()
    assert [(g["label"], g["value"]) for g in body["groups"]] == [
        ("抖音", 2),
        ("老客户介绍", 1),
        ("未记录来源", 1),  # c3's visit
    ]
    assert body["groups"][0]["key"] == str(web.pk) and body["groups"][2]["key"] == "none"
    body = get(world.manager_a1, metric="sales", group_by="source", **JAN).json()
    assert {g["label"]: g["value"] for g in body["groups"]} == {
        "抖音": "1500.00",
        "老客户介绍": "200.00",
        "未记录来源": "300.00",
    }
    assert body["value"] == "2000.00"
    # HQ: A2's visit has no source either; the other org's channels never show.
    body = get(world.hq, metric="car_count", group_by="source", **JAN).json()
    assert {g["label"]: g["value"] for g in body["groups"]}["未记录来源"] == 2


def test_revenue_per_bay_day_in_the_api(world, january):
    body = get(world.manager_a1, metric="revenue_per_bay_day", **JAN).json()
    assert body["value"] == "16.13" and body["display"] == "¥16.13"
    assert body["unit"] == "¥" and body["formula"]
