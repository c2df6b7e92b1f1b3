"""The vehicle list: filters (store, brand, fuel, insurance and inspection due, custom fields,
plate search), order, cursor paging, masked mobiles, the Excel export of the filtered list;
scoped to the user's stores, refused to roles without the list, bad input ignored."""

from __future__ import annotations

import datetime
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from autocrm.core.models import AuditLog
from autocrm.customers import selectors
from autocrm.customers.models import Vehicle
from tests import customer_factories as cf
from tests.conftest import client_for


@pytest.fixture
def fleet(world):
    """A1: a BYD (electric, insured until in 10 days, inspection in 40) and a Toyota
    (petrol, insured until in 100 days); A2: a BYD; the other org: a BYD."""
    today = timezone.localdate()
    day = datetime.timedelta(days=1)
    owner = cf.customer(world.a1, name="甲车主", mobile="13800001111")
    return {
        "byd": cf.vehicle(
            owner,
            plate="京A12345",
            brand="比亚迪",
            fuel=Vehicle.Fuel.ELECTRIC,
            insurance_expires_on=today + 10 * day,
            inspection_due_on=today + 40 * day,
        ),
        "toyota": cf.vehicle(
            owner,
            plate="京B67890",
            brand="丰田",
            fuel=Vehicle.Fuel.PETROL,
            insurance_expires_on=today + 100 * day,
        ),
        "a2": cf.vehicle(cf.customer(world.a2, name="乙车主"), plate="津C11111", brand="比亚迪"),
        "other": cf.vehicle(cf.customer(world.b1, name="丙车主"), plate="粤D22222", brand="比亚迪"),
    }


def plates(response) -> list[str]:
    assert response.status_code == 200
    return [v.plate for v in response.context["vehicles"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"京A12345", "京B67890", "津C11111"}),
        ({"brand": "比亚迪"}, {"京A12345", "津C11111"}),
        ({"fuel": "petrol"}, {"京B67890"}),
        ({"insurance_days": "30"}, {"京A12345"}),
        ({"inspection_days": "60"}, {"京A12345"}),
        ({"q": "67890"}, {"京B67890"}),
    ],
)
def test_filters_for_hq(world, fleet, query, expected):
    assert set(plates(client_for(world.hq).get("/vehicles/", query))) == expected


def test_store_filter_and_store_scope(world, fleet):
    hq = client_for(world.hq)
    assert set(plates(hq.get("/vehicles/", {"store": world.a2.pk}))) == {"津C11111"}
    # A store manager sees their store's cars only, whatever the query string asks for.
    manager = client_for(world.manager_a1)
    assert set(plates(manager.get("/vehicles/"))) == {"京A12345", "京B67890"}
    assert set(plates(manager.get("/vehicles/", {"store": world.a2.pk}))) == {
        "京A12345",
        "京B67890",
    }
    assert plates(client_for(world.other_admin).get("/vehicles/")) == ["粤D22222"]


def test_bad_input_is_ignored_not_an_error(world, fleet):
    client = client_for(world.hq)
    for query in (
        {"insurance_days": "abc"},
        {"inspection_days": "-5"},
        {"fuel": "steam"},
        {"store": "x"},
        {"order": "sideways"},
        {"cursor": "not-a-cursor"},
        {"q": "%' OR 1=1 --"},
    ):
        response = client.get("/vehicles/", query)
        assert response.status_code == 200, query
    assert plates(client.get("/vehicles/", {"q": "%' OR 1=1 --"})) == []


def test_order_and_cursor_paging(world, fleet, monkeypatch):
    from autocrm.customers import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client = client_for(world.hq)
    first = client.get("/vehicles/")
    assert plates(first) == ["津C11111", "京B67890"]  # newest first
    rest = client.get("/vehicles/", {"cursor": first.context["next_cursor"]})
    assert plates(rest) == ["京A12345"] and rest.context["next_cursor"] is None
    assert plates(client.get("/vehicles/", {"order": "oldest"})) == ["京A12345", "京B67890"]


def test_mobiles_masked_and_roles(world, fleet):
    body = client_for(world.hq).get("/vehicles/").content.decode()
    assert "138****1111" in body and "13800001111" not in body
    assert "车辆" in body  # the page speaks Chinese by default
    assert client_for(world.tech_a1).get("/vehicles/").status_code == 403
    assert client_for(world.tech_a1).get("/vehicles/export.xlsx").status_code == 403


def test_htmx_refresh_returns_rows_and_the_export_link(world, fleet):
    body = (
        client_for(world.hq)
        .get("/vehicles/", {"brand": "丰田"}, HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert "<html" not in body and "京B67890" in body and "京A12345" not in body
    assert 'hx-swap-oob="true"' in body and "/vehicles/export.xlsx?brand=" in body


def test_export_of_the_filtered_list_is_audited(world, fleet):
    response = client_for(world.manager_a1).get("/vehicles/export.xlsx", {"brand": "比亚迪"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["车牌号", "车架号", "品牌"]
    assert [r[0] for r in rows[1:]] == ["京A12345"]  # A1's only: not A2's, not the other org's
    assert "13800001111" in rows[1]  # a store manager may call customers: the whole number
    assert AuditLog.objects.filter(
        action="reveal", object_type="customers.Vehicle", object_repr__contains="vehicle list"
    ).exists()


def test_selector_ignores_an_unknown_custom_key(world, fleet):
    f = selectors.VehicleFilter(custom={"no_such_key": "x"})
    assert selectors.vehicle_list(world.hq, f).count() == 3
