"""Shop-floor API: the visit through named actions, filters, refusals with the right codes."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.service import services
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.conftest import api_client_for, send_json

pytestmark = pytest.mark.django_db


def test_visit_through_the_api(world):
    car = cf.vehicle(cf.customer(world.a1, name="张三"), km=9000)
    sa = api_client_for(world.advisor_a1)
    r = send_json(sa, "post", "/api/v1/work-orders", {"vehicle_id": car.pk, "mileage_in": 9500})
    assert r.status_code == 201, r.content
    wo = r.json()
    assert wo["status"] == "draft" and wo["number"].startswith("BJ-CY-")
    r = send_json(
        sa,
        "post",
        f"/api/v1/work-orders/{wo['id']}/lines",
        {"kind": "labour", "name": "检查刹车", "unit_price": "120.00"},
    )
    assert r.status_code == 201
    line = r.json()
    r = send_json(sa, "post", f"/api/v1/work-orders/{wo['id']}/actions/settle")
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition"
    r = send_json(sa, "post", f"/api/v1/work-orders/{wo['id']}/actions/estimate")
    assert r.status_code == 200 and r.json()["status"] == "estimate"
    r = send_json(
        sa,
        "post",
        f"/api/v1/work-orders/{wo['id']}/approvals",
        {"decisions": {str(line["id"]): "approved"}, "channel": "phone"},
    )
    assert r.status_code == 200 and r.json()[0]["approval"] == "approved"
    r = send_json(
        sa,
        "post",
        f"/api/v1/work-orders/{wo['id']}/approvals",
        {"decisions": {str(line["id"]): "approved"}, "channel": "phone"},
    )
    assert r.status_code == 409 and r.json()["code"] == "already_decided"
    assert send_json(sa, "post", f"/api/v1/work-orders/{wo['id']}/actions/start").status_code == 200
    r = send_json(
        sa, "post", f"/api/v1/lines/{line['id']}/assign", {"technician_ids": [world.tech_a1.pk]}
    )
    assert r.status_code == 200 and r.json()["technician_ids"] == [world.tech_a1.pk]
    services.mark_line_done(world.tech_a1, services.WorkOrderLine.objects.get(pk=line["id"]))
    tech = api_client_for(world.tech_a1)
    assert send_json(tech, "post", f"/api/v1/work-orders/{wo['id']}/actions/qc").status_code == 200
    items = services.settings_for(world.a1.pk).qc_items
    r = send_json(
        tech, "post", f"/api/v1/work-orders/{wo['id']}/qc", {"checks": {n: True for n in items}}
    )
    assert r.status_code == 200 and r.json()["status"] == "ready"
    r = send_json(
        sa,
        "post",
        f"/api/v1/work-orders/{wo['id']}/actions/settle",
        {"payments": [{"method": "wechat", "amount": "200"}]},
    )
    assert r.status_code == 422  # more than the balance
    r = send_json(
        sa,
        "post",
        f"/api/v1/work-orders/{wo['id']}/actions/settle",
        {"payments": [{"method": "wechat", "amount": "100"}, {"method": "cash", "amount": "20"}]},
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "settled" and body["balance"] == "0.00"
    assert len(body["payments"]) == 2
    r = sa.get("/api/v1/work-orders?status=settled")
    assert [w["id"] for w in r.json()["items"]] == [wo["id"]]
    assert sa.get("/api/v1/work-orders?status=draft").json()["items"] == []
    assert sa.get("/api/v1/work-orders?status=flying").status_code == 422


def test_api_refusals(world):
    wo = sf.work_order(world.a1)
    line = sf.line(wo)
    other = api_client_for(world.manager_a2)
    assert other.get(f"/api/v1/work-orders/{wo.pk}").status_code == 404
    assert (
        send_json(other, "post", f"/api/v1/work-orders/{wo.pk}/actions/estimate").status_code == 404
    )
    assert send_json(other, "patch", f"/api/v1/lines/{line.pk}", {"quantity": 2}).status_code == 404
    assert api_client_for(world.other_admin).get("/api/v1/work-orders").json()["items"] == []
    tech = api_client_for(world.tech_a1)
    r = send_json(
        tech,
        "post",
        f"/api/v1/work-orders/{wo.pk}/lines",
        {"kind": "labour", "name": "x", "unit_price": "1"},
    )
    assert r.status_code == 403
    sa = api_client_for(world.advisor_a1)
    r = send_json(
        sa,
        "post",
        f"/api/v1/work-orders/{wo.pk}/lines",
        {"kind": "labour", "name": "x", "unit_price": "1", "quantity": "-1"},
    )
    assert r.status_code == 422 and "quantity" in r.json()["fields"]
    r = send_json(sa, "post", f"/api/v1/work-orders/{wo.pk}/actions/teleport")
    assert r.status_code == 404
    r = send_json(sa, "patch", f"/api/v1/work-orders/{wo.pk}", {"version": 99, "complaint": "x"})
    assert r.status_code == 409 and r.json()["code"] == "stale"


def test_appointments_api(world):
    sa = api_client_for(world.advisor_a1)
    day = timezone.localdate() + datetime.timedelta(days=2)
    slots = sa.get(f"/api/v1/appointments/slots?store={world.a1.pk}&date={day}").json()
    assert slots and slots[0]["left"] == 3
    when = slots[0]["starts_at"]
    body = {
        "store_id": world.a1.pk,
        "name": "赵六",
        "mobile": "13900001111",
        "starts_at": when,
        "plate": "京A12345",
    }
    r = send_json(sa, "post", "/api/v1/appointments", body)
    assert r.status_code == 201, r.content
    appt = r.json()
    assert appt["status"] == "booked" and appt["plate"] == "京A12345"
    r = send_json(sa, "post", "/api/v1/appointments", {**body, "mobile": "123"})
    assert r.status_code == 422 and "mobile" in r.json()["fields"]
    r = send_json(sa, "post", f"/api/v1/appointments/{appt['id']}/actions/confirm")
    assert r.json()["appointment"]["status"] == "confirmed"
    r = send_json(
        sa, "post", f"/api/v1/appointments/{appt['id']}/actions/arrive", {"mileage_in": 30000}
    )
    assert r.status_code == 200, r.content
    assert r.json()["work_order_id"] and r.json()["appointment"]["status"] == "arrived"
    r = send_json(sa, "post", f"/api/v1/appointments/{appt['id']}/actions/arrive")
    assert r.status_code == 409
    other = api_client_for(world.manager_a2)
    assert (
        send_json(other, "post", f"/api/v1/appointments/{appt['id']}/actions/cancel").status_code
        == 404
    )
    r = sa.get(f"/api/v1/appointments/conversion?date_from={day}&date_to={day}")
    assert r.json()["bookings"] == 1
