"""Advisor pages: the visit clicked through, Chinese refusals, scoping."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.service import services
from autocrm.service.models import Appointment, WorkOrder
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_open_a_work_order_from_the_vehicle(world):
    car = cf.vehicle(cf.customer(world.a1, name="张三"), km=1000)
    client = client_for(world.advisor_a1)
    page = client.get(f"/work-orders/new/?vehicle={car.pk}")
    assert page.status_code == 200 and "开工单" in page.content.decode()
    r = client.post("/work-orders/new/", {"vehicle": car.pk, "mileage_in": "500"})
    assert r.status_code == 422 and "低于上次记录" in r.content.decode()
    r = client.post(
        "/work-orders/new/", {"vehicle": car.pk, "mileage_in": "1500", "complaint": "异响"}
    )
    wo = WorkOrder.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/work-orders/{wo.pk}/"
    body = client.get(r["Location"]).content.decode()
    assert wo.number in body and "异响" in body


def test_visit_through_the_pages(world):
    wo = services.create_work_order(
        world.advisor_a1, vehicle=cf.vehicle(cf.customer(world.a1)), mileage_in=100
    )
    client = client_for(world.advisor_a1)
    base = f"/work-orders/{wo.pk}/"
    r = client.post(
        base + "lines/",
        {
            "kind": "labour",
            "name": "检查刹车",
            "unit_price": "80",
            "quantity": "1",
            "version": wo.version,
        },
    )
    assert r.status_code == 302
    line = wo.lines.get()
    r = client.post(
        base + "lines/",
        {"kind": "labour", "name": "x", "unit_price": "-1", "quantity": "1"},
        follow=True,
    )
    assert "价格" in r.content.decode()  # refused in Chinese, nothing added
    assert wo.lines.count() == 1
    client.post(base + "approvals/", {f"decision_{line.pk}": "approved", "channel": "phone"})
    line.refresh_from_db()
    assert line.approval == "approved" and line.approval_channel == "phone"
    wo.refresh_from_db()
    client.post(base + "actions/start/", {"version": wo.version})
    client.post(base + f"lines/{line.pk}/assign/", {"technicians": [world.tech_a1.pk]})
    services.mark_line_done(world.tech_a1, line)
    wo.refresh_from_db()
    client.post(base + "actions/qc/", {"version": wo.version})
    items = services.settings_for(world.a1.pk).qc_items
    client.post(base + "qc/", {f"qc_{i}": "on" for i in range(len(items))})
    wo.refresh_from_db()
    assert wo.status == "ready"
    r = client.post(
        base + "actions/settle/",
        {"version": wo.version, "method_0": "cash", "amount_0": "90"},
        follow=True,
    )
    assert "余额" in r.content.decode() or "超过" in r.content.decode()
    wo.refresh_from_db()
    assert wo.status == "ready"
    client.post(
        base + "actions/settle/",
        {
            "version": wo.version,
            "method_0": "wechat",
            "amount_0": "50",
            "method_1": "cash",
            "amount_1": "30",
        },
    )
    wo.refresh_from_db()
    assert wo.status == "settled" and wo.paid == 80
    page = client.get(f"/customers/{wo.customer_id}/").content.decode()
    assert wo.number in page


def test_stale_form_is_refused_with_who_changed_it(world):
    wo = sf.work_order(world.a1)
    old = wo.version
    services.update_work_order(world.manager_a1, wo, complaint="先改")
    r = client_for(world.advisor_a1).post(
        f"/work-orders/{wo.pk}/edit/", {"version": old, "complaint": "后改"}, follow=True
    )
    assert world.manager_a1.display_name in r.content.decode()
    wo.refresh_from_db()
    assert wo.complaint == "先改"


def test_pages_are_scoped(world):
    wo = sf.work_order(world.a1)
    other = client_for(world.manager_a2)
    assert other.get(f"/work-orders/{wo.pk}/").status_code == 404
    assert other.post(f"/work-orders/{wo.pk}/actions/estimate/").status_code == 404
    assert (
        client_for(world.tech_a1)
        .post(f"/work-orders/{wo.pk}/lines/", {"kind": "labour"})
        .status_code
        == 403
    )
    assert wo.number not in other.get("/work-orders/").content.decode()


def test_appointment_calendar_booking_and_arrival(world):
    client = client_for(world.advisor_a1)
    day = timezone.localdate() + datetime.timedelta(days=1)
    page = client.get(f"/appointments/?date={day}")
    assert page.status_code == 200 and "新建预约" in page.content.decode()
    when = f"{day}T09:30"
    r = client.post(
        "/appointments/new/",
        {
            "store": world.a1.pk,
            "starts_at": when,
            "name": "赵六",
            "mobile": "13900002222",
            "plate": "京B12345",
        },
    )
    assert r.status_code == 302
    appt = Appointment.objects.get()
    assert appt.channel == "staff"
    r = client.post(
        "/appointments/new/",
        {"store": world.a1.pk, "starts_at": when, "name": "x", "mobile": "12"},
        follow=True,
    )
    assert "手机" in r.content.decode()
    r = client.post(f"/appointments/{appt.pk}/arrive/")
    wo = WorkOrder.objects.get()
    assert r["Location"] == f"/work-orders/{wo.pk}/"
    appt.refresh_from_db()
    assert appt.status == "arrived" and wo.vehicle.plate == "京B12345"
    assert client_for(world.manager_a2).post(f"/appointments/{appt.pk}/cancel/").status_code == 404


def test_work_order_custom_fields_on_the_pages_and_hidden_in_the_api(world):
    from autocrm.core.models import CustomField
    from tests.conftest import api_client_for

    CustomField.objects.create(
        org=world.org, target="work_order", key="insurer_claim", label_zh="保险报案号"
    )
    CustomField.objects.create(
        org=world.org,
        target="work_order",
        key="margin_note",
        label_zh="毛利备注",
        visible_roles=["store_manager"],
        editable_roles=["store_manager"],
    )
    car = cf.vehicle(cf.customer(world.a1), km=1000)
    client = client_for(world.advisor_a1)
    page = client.get(f"/work-orders/new/?vehicle={car.pk}").content.decode()
    assert "保险报案号" in page and "毛利备注" not in page
    client.post(
        "/work-orders/new/",
        {"vehicle": car.pk, "mileage_in": "1200", "custom_insurer_claim": "BA-2026-001"},
    )
    wo = WorkOrder.objects.get()
    assert wo.custom == {"insurer_claim": "BA-2026-001"}
    assert "BA-2026-001" in client.get(f"/work-orders/{wo.pk}/").content.decode()
    manager = client_for(world.manager_a1)
    manager.post(
        f"/work-orders/{wo.pk}/edit/",
        {
            "version": wo.version,
            "complaint": "",
            "custom_insurer_claim": "BA-2026-001",  # shown filled in on the page
            "custom_margin_note": "让利50",
        },
    )
    wo.refresh_from_db()
    assert wo.custom["margin_note"] == "让利50"
    seen = api_client_for(world.advisor_a1).get(f"/api/v1/work-orders/{wo.pk}").json()["custom"]
    assert seen == {"insurer_claim": "BA-2026-001"}
    listed = api_client_for(world.advisor_a1).get("/api/v1/work-orders").json()["items"][0]
    assert "margin_note" not in listed["custom"]
