"""The technician's pages: my jobs with clock on/off and done, the inspection with photos,
photos at key steps, the hours report; every page scoped to the user's stores."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from autocrm.service import selectors_floor
from autocrm.service.models import (
    InspectionResult,
    Media,
    TimeEntry,
    WorkOrder,
    WorkOrderLine,
)
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.service.conftest import png_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]
APPROVED = WorkOrderLine.Approval.APPROVED


def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def job(world):
    """An in-progress order at A1 with an approved brake job assigned to tech_a1."""
    car = cf.vehicle(cf.customer(world.a1, name="张三"), plate="京A12345", model="卡罗拉")
    wo = sf.work_order(
        world.a1,
        vehicle=car,
        customer=car.owner,
        status=WorkOrder.Status.IN_PROGRESS,
        promised_at=timezone.now() + datetime.timedelta(hours=3),
    )
    line = sf.line(wo, "更换前刹车片", approval=APPROVED, quantity=2)
    line.technicians.set([world.tech_a1])
    return wo, line


def test_my_jobs_lists_my_approved_lines_on_orders_in_progress(world, job, login):
    wo, line = job
    not_mine = sf.line(wo, "四轮定位", approval=APPROVED)
    proposed = sf.line(wo, "更换雨刮", approval=WorkOrderLine.Approval.PROPOSED)
    proposed.technicians.set([world.tech_a1])
    draft = sf.work_order(world.a1)
    sf.line(draft, "草稿项目", approval=APPROVED).technicians.set([world.tech_a1])
    r = login(world.tech_a1).get(reverse("floor_jobs"))
    assert r.status_code == 200
    html = r.content.decode()
    assert "京A12345" in html and "卡罗拉" in html and wo.number in html
    assert "更换前刹车片" in html
    assert not_mine.name not in html and "更换雨刮" not in html and "草稿项目" not in html
    assert reverse("floor_line_action", args=[line.pk, "clock-on"]) in html
    assert 'data-nav="floor"' in html  # in the menu


def test_clock_on_off_and_done_through_the_page(world, job, login):
    _wo, line = job
    client = english(login(world.tech_a1))
    r = client.post(
        reverse("floor_line_action", args=[line.pk, "clock-on"]), HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    entry = TimeEntry.objects.get(line=line, technician=world.tech_a1)
    assert entry.ended_at is None
    html = r.content.decode()
    assert 'data-testid="clock-off"' in html and 'data-testid="running"' in html
    assert "data-timer-start" in html
    line.refresh_from_db()
    assert line.progress == WorkOrderLine.Progress.WORKING

    # clocking on twice is refused with the service's words
    r = client.post(
        reverse("floor_line_action", args=[line.pk, "clock-on"]), HTTP_HX_REQUEST="true"
    )
    assert 'data-testid="floor-error"' in r.content.decode()
    assert "already clocked on" in r.content.decode()

    r = client.post(
        reverse("floor_line_action", args=[line.pk, "clock-off"]), HTTP_HX_REQUEST="true"
    )
    entry.refresh_from_db()
    assert entry.ended_at is not None
    assert 'data-testid="clock-on"' in r.content.decode()

    r = client.post(reverse("floor_line_action", args=[line.pk, "done"]))
    assert r.status_code == 302 and r["Location"] == reverse("floor_jobs")
    line.refresh_from_db()
    assert line.progress == WorkOrderLine.Progress.DONE


def test_clock_on_refused_when_not_in_progress(world, job, login):
    wo, line = job
    WorkOrder.objects.filter(pk=wo.pk).update(status=WorkOrder.Status.QC)
    client = login(world.tech_a1)
    r = client.post(
        reverse("floor_line_action", args=[line.pk, "clock-on"]), HTTP_HX_REQUEST="true"
    )
    assert 'data-testid="floor-error"' in r.content.decode()
    assert not TimeEntry.objects.exists()
    assert client.get(reverse("floor_line_action", args=[line.pk, "clock-on"])).status_code == 405
    assert client.post(reverse("floor_line_action", args=[line.pk, "explode"])).status_code == 403


def test_another_stores_technician_gets_404_everywhere(world, job, login):
    wo, line = job
    tech_a2 = f.staff(world.org, "technician", stores=[world.a2])
    client = login(tech_a2)
    for name in ("clock-on", "clock-off", "done"):
        assert client.post(reverse("floor_line_action", args=[line.pk, name])).status_code == 404
    assert client.get(reverse("floor_inspection", args=[wo.pk])).status_code == 404
    assert client.get(reverse("floor_photos", args=[wo.pk])).status_code == 404
    insp = sf.inspection_template(world.org)
    from autocrm.service.services import start_inspection

    inspection = start_inspection(world.tech_a1, wo, insp.pk)
    result = inspection.results.first()
    assert (
        client.post(reverse("floor_result", args=[result.pk]), {"rating": "ok"}).status_code == 404
    )
    assert (
        client.post(reverse("floor_inspection_complete", args=[inspection.pk])).status_code == 404
    )
    assert (
        client.post(
            reverse("floor_inspection_propose", args=[inspection.pk]), {"results": [result.pk]}
        ).status_code
        == 404
    )
    r = client.get(reverse("floor_jobs"))
    assert r.status_code == 200 and "京A12345" not in r.content.decode()
    # roles without shop-floor work see neither page
    finance = f.staff(world.org, "finance", stores=[world.a1])
    assert login(finance).get(reverse("floor_jobs")).status_code == 403
    assert login(finance).get(reverse("floor_inspection", args=[wo.pk])).status_code == 403


def test_inspection_flow_on_the_page(world, job, login, media_root):
    wo, _line = job
    template = sf.inspection_template(world.org, items=("轮胎", "刹车片", "机油"))
    client = english(login(world.tech_a1))
    page = reverse("floor_inspection", args=[wo.pk])
    r = client.get(page)
    assert r.status_code == 200 and template.name in r.content.decode()

    r = client.post(page, {"template": template.pk})
    assert r.status_code == 302
    inspection = wo.inspections.get()
    assert r["Location"] == f"{page}?inspection={inspection.pk}"
    results = {x.name: x for x in inspection.results.all()}
    r = client.get(r["Location"])
    assert all(name in r.content.decode() for name in results)

    # one tap rates an item (htmx answers the item alone); a photo goes with it
    url = reverse("floor_result", args=[results["刹车片"].pk])
    r = client.post(
        url, {"rating": "now", "note": "剩余2毫米", "file": png_upload()}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert 'data-rating="now"' in html and "剩余2毫米" in html and 'data-testid="thumb"' in html
    photo = Media.objects.get()
    assert photo.result_id == results["刹车片"].pk and photo.step == Media.Step.CHECK_IN
    client.post(reverse("floor_result", args=[results["机油"].pk]), {"rating": "soon"})
    # a bad file is refused in place, the rating still saved
    r = client.post(
        reverse("floor_result", args=[results["轮胎"].pk]),
        {"rating": "ok", "file": SimpleUploadedFile("x.jpg", b"not a photo")},
        HTTP_HX_REQUEST="true",
    )
    assert 'data-testid="result-error"' in r.content.decode()
    assert Media.objects.count() == 1

    complete = reverse("floor_inspection_complete", args=[inspection.pk])
    client.post(complete)
    inspection.refresh_from_db()
    assert inspection.completed_at is not None
    r = client.get(f"{page}?inspection={inspection.pk}")
    html = r.content.decode()
    assert 'data-testid="propose-form"' in html
    assert f'data-testid="propose-{results["刹车片"].pk}"' in html
    assert f'data-testid="propose-{results["轮胎"].pk}"' not in html

    r = client.post(
        reverse("floor_inspection_propose", args=[inspection.pk]),
        {"results": [results["刹车片"].pk, results["机油"].pk]},
    )
    assert r.status_code == 302
    proposed = wo.lines.filter(approval=WorkOrderLine.Approval.PROPOSED)
    assert {ln.name for ln in proposed} == {"刹车片（剩余2毫米）", "机油"}
    html = client.get(r["Location"]).content.decode()
    assert 'data-testid="proposed"' in html and "刹车片（剩余2毫米）" in html


def test_inspection_cannot_complete_with_unrated_items(world, job, login):
    wo, _line = job
    template = sf.inspection_template(world.org, items=("轮胎", "刹车片"))
    client = login(world.tech_a1)
    client.post(reverse("floor_inspection", args=[wo.pk]), {"template": template.pk})
    inspection = wo.inspections.get()
    r = client.post(reverse("floor_inspection_complete", args=[inspection.pk]), follow=True)
    inspection.refresh_from_db()
    assert inspection.completed_at is None
    assert "alert-danger" in r.content.decode()
    assert not InspectionResult.objects.exclude(rating="").exists()


def test_photos_at_key_steps(world, job, login):
    wo, line = job
    client = login(world.tech_a1)
    page = reverse("floor_photos", args=[wo.pk])
    assert client.get(page).status_code == 200
    r = client.post(
        page,
        {
            "line": line.pk,
            "step": "teardown",
            "caption": "拆下旧片",
            "shared": "1",
            "file": png_upload(),
        },
    )
    assert r.status_code == 302
    photo = Media.objects.get()
    assert (photo.line, photo.step, photo.caption, photo.shared) == (
        line,
        "teardown",
        "拆下旧片",
        True,
    )
    client.post(page, {"line": line.pk, "step": "replace", "file": png_upload()})
    assert Media.objects.filter(step="replace", shared=False).count() == 1
    html = client.get(page).content.decode()
    assert html.count('data-testid="gallery-item"') == 2 and "拆下旧片" in html
    r = client.post(page, {"step": "teardown", "file": SimpleUploadedFile("a.jpg", b"hello")})
    assert r.status_code == 422 and 'data-testid="photo-error"' in r.content.decode()
    r = client.post(page, {"step": "teardown"})
    assert r.status_code == 422
    # remove one
    r = client.post(reverse("floor_media_remove", args=[photo.token]), {"next": page})
    assert r.status_code == 302 and Media.objects.count() == 1


# --- hours --------------------------------------------------------------------------------


def _settled_line(store, techs, hours, when, **kw):
    wo = sf.work_order(store, status=WorkOrder.Status.SETTLED, settled_at=when)
    line = sf.line(wo, approval=APPROVED, quantity=hours, **kw)
    line.technicians.set(techs)
    return line


def _entry(line, tech, start, minutes):
    return TimeEntry.objects.create(
        work_order=line.work_order,
        line=line,
        technician=tech,
        started_at=start,
        ended_at=start + datetime.timedelta(minutes=minutes),
    )


def test_hours_report_numbers(world, login):
    tz = timezone.get_current_timezone()
    day = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=tz)
    tech_b = f.staff(world.org, "technician", stores=[world.a1], full_name="李四")
    tech_a2 = f.staff(world.org, "technician", stores=[world.a2], full_name="王五")
    # 3 h alone for tech_a1, 2 h shared by both, 1 h of a part (not labour), 4 h declined
    solo = _settled_line(world.a1, [world.tech_a1], 3, day)
    shared = _settled_line(world.a1, [world.tech_a1, tech_b], 2, day)
    _settled_line(world.a1, [world.tech_a1], 1, day, kind=WorkOrderLine.Kind.PART)
    declined = _settled_line(world.a1, [world.tech_a1], 4, day)
    WorkOrderLine.objects.filter(pk=declined.pk).update(approval=WorkOrderLine.Approval.DECLINED)
    # outside the period, and another store
    _settled_line(world.a1, [world.tech_a1], 5, day - datetime.timedelta(days=40))
    other = _settled_line(world.a2, [tech_a2], 6, day)
    _entry(solo, world.tech_a1, day, 150)  # 2.5 h
    _entry(shared, world.tech_a1, day + datetime.timedelta(hours=3), 90)  # 1.5 h
    _entry(shared, tech_b, day, 120)
    _entry(other, tech_a2, day, 60)

    rows = {
        r.technician.pk: r
        for r in selectors_floor.hours_report(
            world.manager_a1, datetime.date(2026, 3, 1), datetime.date(2026, 3, 31)
        )
    }
    assert set(rows) == {world.tech_a1.pk, tech_b.pk}
    mine = rows[world.tech_a1.pk]
    assert (mine.billed, mine.clocked, mine.entries) == (Decimal("4.00"), Decimal("4.00"), 2)
    assert mine.efficiency == Decimal("100")
    assert (rows[tech_b.pk].billed, rows[tech_b.pk].clocked) == (Decimal("1.00"), Decimal("2.00"))
    assert rows[tech_b.pk].efficiency == Decimal("50")

    client = login(world.manager_a1)
    r = client.get(reverse("floor_hours"), {"from": "2026-03-01", "to": "2026-03-31"})
    assert r.status_code == 200
    html = r.content.decode()
    assert "李四" in html and "王五" not in html and "100%" in html and "50%" in html
    # the region manager sees both stores; one store can be picked
    r = login(world.region_mgr).get(
        reverse("floor_hours"), {"from": "2026-03-01", "to": "2026-03-31", "store": world.a2.pk}
    )
    html = r.content.decode()
    assert "王五" in html and "李四" not in html and "6.00" in html
    # technicians do not see the report
    assert login(world.tech_a1).get(reverse("floor_hours")).status_code == 403


def test_hours_report_counts_a_running_clock_up_to_now(world):
    start = timezone.now() - datetime.timedelta(minutes=30)
    wo = sf.work_order(world.a1, status=WorkOrder.Status.IN_PROGRESS)
    line = sf.line(wo, approval=APPROVED)
    TimeEntry.objects.create(
        work_order=wo,
        line=line,
        technician=world.tech_a1,
        started_at=start,
    )
    rows = selectors_floor.hours_report(
        world.manager_a1, timezone.localdate(start), timezone.localdate()
    )
    row = next(r for r in rows if r.technician == world.tech_a1)
    assert row.clocked == Decimal("0.50") and row.billed == Decimal("0.00")
    assert row.efficiency == Decimal("0")
