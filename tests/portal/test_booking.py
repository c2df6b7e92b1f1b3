"""The public booking page: a chain's store list, the store's days and times (full ones
disabled), the owner's details checked, a light limit per mobile, a confirmation page and the
messages queued."""

from __future__ import annotations

import datetime
import time
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from autocrm.core.models import AuditLog
from autocrm.messaging.models import OutboxMessage
from autocrm.service import services as shop
from autocrm.service.models import Appointment
from tests import service_factories as sf
from tests.portal.conftest import csrf_from

pytestmark = pytest.mark.django_db

TOMORROW = timezone.localdate() + datetime.timedelta(days=2)


def at(day: datetime.date, hhmm: str) -> datetime.datetime:
    h, m = (int(p) for p in hhmm.split(":"))
    return datetime.datetime.combine(
        day, datetime.time(h, m), tzinfo=timezone.get_current_timezone()
    )


def form(**kw) -> dict:
    data = {
        "day": TOMORROW.isoformat(),
        "slot": "09:30",
        "name": "张伟",
        "mobile": "13912345678",
        "plate": "京B54321",
        "package": "",
        "note": "右前轮有异响",
    }
    data.update(kw)
    return data


def book_path(world, store=None) -> str:
    return f"/book/{world.org.code}/{(store or world.a1).code}/"


def test_chain_page_lists_bookable_stores(world):
    conf = shop.settings_for(world.a3.pk)
    conf.online_booking = False
    conf.save()
    r = Client().get(f"/book/{world.org.code}/")
    body = r.content.decode()
    assert r.status_code == 200 and "预约服务" in body
    assert "北京朝阳店" in body and "天津滨江店" in body
    assert "广州天河店" not in body and "别家一店" not in body
    assert Client().get(f"/book/{world.org.code}/{world.a3.code}/").status_code == 404


def test_chain_page_reads_settings_in_one_query_and_writes_none(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from autocrm.service.models import ServiceSettings

    conf = shop.settings_for(world.a3.pk)
    conf.online_booking = False
    conf.save()
    with CaptureQueriesContext(connection) as captured:
        r = Client().get(f"/book/{world.org.code}/")
    assert r.status_code == 200
    assert list(ServiceSettings.objects.values_list("store_id", flat=True)) == [world.a3.pk]
    assert len(captured) <= 3  # the org, the stores with their settings; never one per store


def test_store_page_reads_the_settings_once_and_writes_none(world):
    """The store is read with its settings and they are passed down (to the slots too); a
    store without a settings row shows the defaults and the visit saves nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from autocrm.service.models import ServiceSettings

    ServiceSettings.objects.filter(store=world.a1).delete()
    with CaptureQueriesContext(connection) as captured:
        r = Client().get(book_path(world), {"day": TOMORROW.isoformat()})
    assert r.status_code == 200 and "09:30" in r.content.decode()
    assert not ServiceSettings.objects.filter(store=world.a1).exists()
    assert not [q for q in captured if 'FROM "service_servicesettings"' in q["sql"]]


def test_unknown_org_or_store_is_a_friendly_404(world):
    r = Client().get("/book/nobody/")
    assert r.status_code == 404 and "预约页面不存在" in r.content.decode()
    assert Client().get(f"/book/{world.org.code}/{world.b1.code}/").status_code == 404


def test_store_page_offers_services_and_disables_full_slots(world):
    pkg = sf.package(world.org, name="小保养套餐")
    sf.package(world.org, name="不在线预约的套餐", bookable=False)
    for _ in range(3):  # default capacity: 3 per slot
        sf.appointment(world.a1, at(TOMORROW, "10:30"))
    r = Client().get(book_path(world), {"day": TOMORROW.isoformat()})
    body = r.content.decode()
    assert r.status_code == 200
    assert "小保养套餐" in body and f'value="{pkg.pk}"' in body and "不在线预约的套餐" not in body
    assert 'value="10:30" disabled' in body
    assert 'value="09:30" data-testid' in body  # free and enabled
    fragment = Client().get(f"{book_path(world)}slots/", {"day": TOMORROW.isoformat()})
    assert fragment.status_code == 200 and 'value="10:30" disabled' in fragment.content.decode()


def test_owner_books_and_gets_a_confirmation(world):
    pkg = sf.package(world.org, name="小保养套餐")
    client = Client(enforce_csrf_checks=True)
    page = client.get(book_path(world))
    r = client.post(
        book_path(world), {"csrfmiddlewaretoken": csrf_from(page), **form(package=pkg.pk)}
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    appt = Appointment.objects.get(mobile="13912345678")
    assert appt.channel == "online" and appt.store == world.a1 and appt.package == pkg
    assert appt.starts_at == at(TOMORROW, "09:30") and appt.plate == "京B54321"
    assert appt.created_by is None
    done = client.get(r["Location"]).content.decode()
    assert "预约已提交" in done and "139****5678" in done and "小保养套餐" in done
    assert "京B54321" in done
    pending = OutboxMessage.objects.filter(related=f"appointment:{appt.pk}", status="queued")
    assert set(pending.values_list("purpose", flat=True)) == {
        "appointment.confirmation",
        "appointment.reminder",
    }
    entry = AuditLog.objects.get(object_type="service.Appointment", object_id=str(appt.pk))
    assert entry.source == "portal"


def test_full_slot_is_refused(world):
    for _ in range(3):
        sf.appointment(world.a1, at(TOMORROW, "09:30"))
    r = Client().post(book_path(world), form())
    assert r.status_code == 409
    assert 'data-testid="error-starts_at"' in r.content.decode()
    assert not Appointment.objects.filter(mobile="13912345678").exists()


def test_past_time_is_refused(world):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    r = Client().post(book_path(world), form(day=yesterday.isoformat()))
    assert r.status_code == 422
    assert "该时间已过" in r.content.decode()
    assert not Appointment.objects.exists()


def test_missing_time_is_refused(world):
    r = Client().post(book_path(world), form(slot=""))
    assert r.status_code == 422 and "请选择日期和时间" in r.content.decode()


@pytest.mark.parametrize(
    "field, value, testid",
    [
        ("mobile", "12345", "error-mobile"),
        ("mobile", "", "error-mobile"),
        ("plate", "ABC", "error-plate"),
        ("plate", "", "error-plate"),
        ("name", "", "error-name"),
    ],
)
def test_bad_details_are_refused_with_messages(world, field, value, testid):
    r = Client().post(book_path(world), form(**{field: value}))
    body = r.content.decode()
    assert r.status_code == 422
    assert f'data-testid="{testid}"' in body
    assert 'value="张伟"' in body or field == "name"  # what was typed is kept
    assert not Appointment.objects.exists()


def test_plate_message_is_chinese(world):
    r = Client().post(book_path(world), form(plate=""))
    assert "请填写车牌号" in r.content.decode()


def test_one_mobile_holds_at_most_three_upcoming_bookings(world):
    for day in range(1, 4):
        sf.appointment(
            world.a2,
            at(timezone.localdate() + datetime.timedelta(days=day), "14:30"),
            mobile="13912345678",
        )
    sf.appointment(
        world.a1,
        at(timezone.localdate() + datetime.timedelta(days=4), "14:30"),
        mobile="13912345678",
        status="cancelled",
    )
    r = Client().post(book_path(world), form())
    assert r.status_code == 409
    assert "已有 3 个未到店的预约" in r.content.decode()
    assert Appointment.objects.filter(mobile="13912345678").count() == 4


def test_honeypot_filled_by_robots_books_nothing(world):
    r = Client().post(book_path(world), form(website="http://spam.example"))
    assert r.status_code == 400
    assert not Appointment.objects.exists()


def test_reminder_link_fills_in_the_customer_and_books_on_their_mobile(world):
    from autocrm.messaging.services import booking_link
    from tests import customer_factories as cf

    owner = cf.customer(world.a1, name="钱七", mobile="13655556666")
    cf.vehicle(owner, plate="京C77889")
    link = booking_link(world.a1, owner)
    assert link.startswith("http") and "?k=" in link
    path = link.split("://", 1)[1].split("/", 1)[1]
    client = Client(enforce_csrf_checks=True)
    page = client.get("/" + path)
    html = page.content.decode()
    # Name and car filled in; the mobile is never shown in full (the link may be forwarded).
    assert 'value="钱七"' in html and 'value="京C77889"' in html
    assert "136****6666" in html and "13655556666" not in html
    token = path.split("?k=", 1)[1]
    r = client.post(
        book_path(world),
        {
            "csrfmiddlewaretoken": csrf_from(page),
            **form(name="钱七", plate="京C77889", mobile="", k=token),
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert Appointment.objects.get(plate="京C77889").mobile == "13655556666"


def test_tampered_or_expired_reminder_link_asks_for_details(world, settings):
    from autocrm.portal import services as portal
    from tests import customer_factories as cf

    owner = cf.customer(world.a1, name="孙八", mobile="13655557777")
    token = portal.invite_token(owner)
    client = Client(enforce_csrf_checks=True)
    for bad in (token[:-2] + "xx", "nonsense"):
        html = client.get(book_path(world) + f"?k={bad}").content.decode()
        assert "链接已过期" in html and "孙八" not in html
    # Another org's store does not accept this org's customer.
    assert portal.read_invite(token, world.b1) is None
    # Signed longer ago than INVITE_DAYS: expired, though the signature is good.
    assert portal.read_invite(token, world.a1) is not None
    with mock.patch(
        "django.core.signing.time.time", return_value=time.time() - (portal.INVITE_DAYS + 1) * 86400
    ):
        old = portal.invite_token(owner)
    assert portal.read_invite(old, world.a1) is None
    assert "链接已过期" in client.get(book_path(world) + f"?k={old}").content.decode()
    # Without a valid link the mobile stays required.
    page = client.get(book_path(world) + "?k=nonsense")
    r = client.post(
        book_path(world),
        {"csrfmiddlewaretoken": csrf_from(page), **form(mobile="", k="nonsense")},
    )
    assert r.status_code == 422 and not Appointment.objects.exists()
