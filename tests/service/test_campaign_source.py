"""What brought the car: a work order's source channel and campaign code — copied at opening
from the booking or the customer, editable on the page and in the API."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.core.errors import Invalid
from autocrm.customers.models import SourceChannel
from autocrm.service import appointments, services
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.conftest import api_client_for, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(world):
    return (
        SourceChannel.objects.create(org=world.org, name="抖音"),
        SourceChannel.objects.create(org=world.org, name="美团"),
        SourceChannel.objects.create(org=world.other_org, name="别家渠道"),
    )


def test_opened_order_copies_the_customers_source(world, channels):
    douyin, meituan, _theirs = channels
    car = cf.vehicle(cf.customer(world.a1, source=douyin))
    wo = services.create_work_order(world.advisor_a1, vehicle=car)
    assert wo.source == douyin and wo.campaign == ""
    wo.refresh_from_db()
    assert wo.source_id == douyin.pk and wo.campaign == ""
    # Chosen explicitly: wins over the customer's.
    car2 = cf.vehicle(cf.customer(world.a1, source=douyin))
    wo2 = services.create_work_order(
        world.advisor_a1, vehicle=car2, source_id=meituan.pk, campaign=" MT-11 "
    )
    assert (wo2.source_id, wo2.campaign) == (meituan.pk, "MT-11")
    # A customer with no channel: none.
    wo3 = services.create_work_order(world.advisor_a1, vehicle=cf.vehicle(cf.customer(world.a1)))
    assert wo3.source_id is None


def test_refusals(world, channels):
    _douyin, _meituan, theirs = channels
    car = cf.vehicle(cf.customer(world.a1))
    with pytest.raises(Invalid) as exc:
        services.create_work_order(world.advisor_a1, vehicle=car, source_id=theirs.pk)
    assert "source" in exc.value.fields
    with pytest.raises(Invalid) as exc:
        services.create_work_order(world.advisor_a1, vehicle=car, campaign="x" * 41)
    assert "campaign" in exc.value.fields


def test_arrival_carries_the_bookings_source_and_campaign(world, channels):
    douyin, meituan, _theirs = channels
    when = timezone.now() - datetime.timedelta(minutes=10)
    known = cf.customer(world.a1, source=douyin, mobile="13912345678")
    appt = sf.appointment(
        world.a1,
        when,
        name="王",
        mobile="13912345678",
        plate="京A12345",
        source=meituan,
        campaign="MT-夏季",
    )
    cf.vehicle(known, plate="京A12345")
    wo = appointments.arrive(world.advisor_a1, appt)
    assert (wo.source_id, wo.campaign) == (meituan.pk, "MT-夏季")
    # A booking with no channel: the customer's.
    appt2 = sf.appointment(world.a1, when, name="王", mobile="13912345678", plate="京A12346")
    cf.vehicle(known, plate="京A12346")
    wo2 = appointments.arrive(world.advisor_a1, appt2)
    assert (wo2.source_id, wo2.campaign) == (douyin.pk, "")


def test_booking_takes_a_source_and_campaign(world, channels):
    douyin, _meituan, theirs = channels
    when = (timezone.now() + datetime.timedelta(days=2)).replace(
        hour=2, minute=30, second=0, microsecond=0
    )  # 10:30 in the shop, a booking time
    appt = appointments.book(
        world.advisor_a1,
        store=world.a1,
        name="李",
        mobile="13900001111",
        starts_at=when,
        source_id=douyin.pk,
        campaign="DY-01",
    )
    assert (appt.source_id, appt.campaign) == (douyin.pk, "DY-01")
    with pytest.raises(Invalid) as exc:
        appointments.book(
            world.advisor_a1,
            store=world.a1,
            name="李",
            mobile="13900001112",
            starts_at=when,
            source_id=theirs.pk,
        )
    assert "source" in exc.value.fields


def test_page_shows_and_edits_it(world, channels):
    douyin, meituan, _theirs = channels
    wo = services.create_work_order(
        world.advisor_a1,
        vehicle=cf.vehicle(cf.customer(world.a1)),
        source_id=douyin.pk,
        campaign="DY-01",
    )
    c = client_for(world.advisor_a1)
    html = c.get(f"/work-orders/{wo.pk}/").content.decode()
    assert "来源渠道" in html and "抖音" in html and "DY-01" in html
    assert "别家渠道" not in html
    r = c.post(
        f"/work-orders/{wo.pk}/edit/",
        {"version": wo.version, "complaint": "", "source": meituan.pk, "campaign": "MT-02"},
    )
    assert r.status_code == 302
    wo.refresh_from_db()
    assert (wo.source_id, wo.campaign) == (meituan.pk, "MT-02")


def test_new_order_form_offers_the_channels(world, channels):
    douyin, _meituan, _theirs = channels
    car = cf.vehicle(cf.customer(world.a1))
    c = client_for(world.advisor_a1)
    html = c.get(f"/work-orders/new/?vehicle={car.pk}").content.decode()
    assert "抖音" in html and "别家渠道" not in html
    r = c.post(f"/work-orders/new/?vehicle={car.pk}", {"source": douyin.pk, "campaign": "DY-09"})
    assert r.status_code == 302
    wo = car.work_orders.get()
    assert (wo.source_id, wo.campaign) == (douyin.pk, "DY-09")


def test_api(world, channels):
    douyin, meituan, theirs = channels
    car = cf.vehicle(cf.customer(world.a1, source=douyin))
    api = api_client_for(world.advisor_a1)
    r = api.post("/api/v1/work-orders", {"vehicle_id": car.pk}, content_type="application/json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["source_id"] == douyin.pk and body["campaign"] == ""
    r = api.patch(
        f"/api/v1/work-orders/{body['id']}",
        {"source_id": meituan.pk, "campaign": "MT-1"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert (r.json()["source_id"], r.json()["campaign"]) == (meituan.pk, "MT-1")
    r = api.patch(
        f"/api/v1/work-orders/{body['id']}",
        {"source_id": theirs.pk},
        content_type="application/json",
    )
    assert r.status_code == 422
    r = api.patch(
        f"/api/v1/work-orders/{body['id']}", {"source_id": None}, content_type="application/json"
    )
    assert r.json()["source_id"] is None
