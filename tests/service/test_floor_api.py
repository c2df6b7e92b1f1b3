"""Floor API: media upload and list, inspections, clock on/off, done, time entries, my jobs;
scoped like the pages, errors in the JSON shape."""

from __future__ import annotations

import datetime
import io

import pytest
from django.utils import timezone

from autocrm.service.models import Media, TimeEntry, WorkOrder, WorkOrderLine
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.conftest import api_client_for, send_json
from tests.service.conftest import png_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def job(world):
    car = cf.vehicle(cf.customer(world.a1), plate="京B54321", brand="丰田", model="凯美瑞")
    wo = sf.work_order(
        world.a1, vehicle=car, customer=car.owner, status=WorkOrder.Status.IN_PROGRESS
    )
    line = sf.line(wo, "更换机油", approval=WorkOrderLine.Approval.APPROVED, quantity="1.5")
    line.technicians.set([world.tech_a1])
    return wo, line


def test_media_upload_and_list(world, job):
    wo, line = job
    client = api_client_for(world.tech_a1)
    r = client.post(
        f"/api/v1/work-orders/{wo.pk}/media",
        {
            "file": png_upload("x.mp4", size=(800, 600)),
            "step": "teardown",
            "line_id": line.pk,
            "caption": "旧机滤",
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "image" and body["content_type"] == "image/png"
    assert body["line_id"] == line.pk and body["caption"] == "旧机滤" and body["shared"] is True
    assert body["url"] == f"/media/wo/{body['token']}/"
    assert body["thumbnail_url"] == f"/media/wo/{body['token']}/thumb/"
    r = client.get(f"/api/v1/work-orders/{wo.pk}/media")
    assert r.status_code == 200 and [m["id"] for m in r.json()] == [body["id"]]

    bad = io.BytesIO(b"hello world, not a picture")
    bad.name = "x.jpg"
    r = client.post(f"/api/v1/work-orders/{wo.pk}/media", {"file": bad, "step": "other"})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid" and "file" in r.json()["fields"]
    r = client.post(f"/api/v1/work-orders/{wo.pk}/media", {"step": "other"})
    assert r.status_code == 422 and "file" in r.json()["fields"]

    tech_a2 = f.staff(world.org, "technician", stores=[world.a2])
    other = api_client_for(tech_a2)
    r = other.post(
        f"/api/v1/work-orders/{wo.pk}/media", {"file": png_upload(size=(800, 600)), "step": "other"}
    )
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert other.get(f"/api/v1/work-orders/{wo.pk}/media").status_code == 404
    assert Media.objects.count() == 1


def test_inspection_through_the_api(world, job):
    wo, _line = job
    template = sf.inspection_template(world.org, items=("轮胎", "刹车片"))
    client = api_client_for(world.tech_a1)
    r = send_json(
        client, "post", f"/api/v1/work-orders/{wo.pk}/inspections", {"template_id": template.pk}
    )
    assert r.status_code == 201, r.content
    inspection = r.json()
    tyres, brakes = inspection["results"]
    assert (tyres["name"], brakes["name"]) == ("轮胎", "刹车片")

    r = send_json(client, "post", f"/api/v1/inspections/{inspection['id']}/complete")
    assert r.status_code == 422 and r.json()["fields"]["results"]
    r = send_json(
        client, "patch", f"/api/v1/inspection-results/{tyres['id']}", {"rating": "purple"}
    )
    assert r.status_code == 422 and "rating" in r.json()["fields"]
    r = send_json(client, "patch", f"/api/v1/inspection-results/{tyres['id']}", {"rating": "ok"})
    assert r.status_code == 200 and r.json()["rating"] == "ok"
    r = send_json(
        client,
        "patch",
        f"/api/v1/inspection-results/{brakes['id']}",
        {"rating": "now", "note": "2mm"},
    )
    assert r.json()["note"] == "2mm"
    r = send_json(client, "post", f"/api/v1/inspections/{inspection['id']}/complete")
    assert r.status_code == 200 and r.json()["completed_at"]
    r = send_json(
        client,
        "post",
        f"/api/v1/inspections/{inspection['id']}/propose",
        {"result_ids": [tyres["id"], brakes["id"]]},
    )
    assert r.status_code == 201
    assert [ln["name"] for ln in r.json()] == ["刹车片（2mm）"]
    assert r.json()[0]["approval"] == "proposed"
    proposed_id = r.json()[0]["id"]
    r = client.get(f"/api/v1/inspections/{inspection['id']}")
    assert r.json()["results"][1]["line_id"] == proposed_id

    other = api_client_for(f.staff(world.org, "technician", stores=[world.a2]))
    assert (
        send_json(
            other, "patch", f"/api/v1/inspection-results/{tyres['id']}", {"rating": "na"}
        ).status_code
        == 404
    )
    assert (
        send_json(other, "post", f"/api/v1/inspections/{inspection['id']}/complete").status_code
        == 404
    )
    assert (
        send_json(
            other, "post", f"/api/v1/work-orders/{wo.pk}/inspections", {"template_id": template.pk}
        ).status_code
        == 404
    )


def test_clock_on_off_done_and_my_jobs(world, job):
    wo, line = job
    client = api_client_for(world.tech_a1)
    r = client.get("/api/v1/my-jobs")
    assert r.status_code == 200
    jobs = r.json()
    assert jobs["running"] is None
    assert jobs["jobs"][0]["plate"] == "京B54321" and jobs["jobs"][0]["vehicle"] == "丰田 凯美瑞"
    assert jobs["jobs"][0]["lines"][0]["hours"] == "1.50"

    r = send_json(client, "post", f"/api/v1/lines/{line.pk}/clock-on")
    assert r.status_code == 201 and r.json()["ended_at"] is None
    r = send_json(client, "post", f"/api/v1/lines/{line.pk}/clock-on")
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    jobs = client.get("/api/v1/my-jobs").json()
    assert jobs["running"]["line_id"] == line.pk and jobs["jobs"][0]["lines"][0]["running"]
    r = send_json(client, "post", f"/api/v1/lines/{line.pk}/clock-off", {"note": "等配件"})
    assert r.status_code == 200 and r.json()["ended_at"] and r.json()["note"] == "等配件"
    r = send_json(client, "post", f"/api/v1/lines/{line.pk}/clock-off")
    assert r.status_code == 409
    r = send_json(client, "post", f"/api/v1/lines/{line.pk}/done")
    assert r.status_code == 200 and r.json()["progress"] == "done"

    other = api_client_for(f.staff(world.org, "technician", stores=[world.a2]))
    for action in ("clock-on", "clock-off", "done"):
        r = send_json(other, "post", f"/api/v1/lines/{line.pk}/{action}")
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert other.get("/api/v1/my-jobs").json()["jobs"] == []
    # a technician of the store who is not assigned may not clock the item
    colleague = api_client_for(f.staff(world.org, "technician", stores=[world.a1]))
    assert send_json(colleague, "post", f"/api/v1/lines/{line.pk}/clock-on").status_code == 403
    assert api_client_for(world.advisor_a1).get("/api/v1/my-jobs").status_code == 403


def test_time_entries(world, job):
    wo, line = job
    tz = timezone.get_current_timezone()
    colleague = f.staff(world.org, "technician", stores=[world.a1])
    for tech, day in ((world.tech_a1, 1), (world.tech_a1, 5), (colleague, 5)):
        start = datetime.datetime(2026, 4, day, 9, tzinfo=tz)
        TimeEntry.objects.create(
            work_order=wo,
            line=line,
            technician=tech,
            started_at=start,
            ended_at=start + datetime.timedelta(minutes=45),
        )
    other_wo = sf.work_order(world.a2, status=WorkOrder.Status.IN_PROGRESS)
    tech_a2 = f.staff(world.org, "technician", stores=[world.a2])
    TimeEntry.objects.create(
        work_order=other_wo,
        line=sf.line(other_wo),
        technician=tech_a2,
        started_at=datetime.datetime(2026, 4, 5, 9, tzinfo=tz),
    )
    mine = api_client_for(world.tech_a1).get("/api/v1/time-entries").json()
    assert len(mine) == 2 and {e["technician_id"] for e in mine} == {world.tech_a1.pk}
    assert mine[0]["minutes"] == 45
    r = api_client_for(world.tech_a1).get(f"/api/v1/time-entries?technician={colleague.pk}")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"

    manager = api_client_for(world.manager_a1)
    r = manager.get("/api/v1/time-entries?from=2026-04-04&to=2026-04-30")
    assert r.status_code == 200
    assert sorted(e["technician_id"] for e in r.json()) == sorted([world.tech_a1.pk, colleague.pk])
    r = manager.get(
        f"/api/v1/time-entries?technician={world.tech_a1.pk}&from=2026-04-01&to=2026-04-01"
    )
    assert len(r.json()) == 1
    r = manager.get("/api/v1/time-entries?from=2026-04-30&to=2026-04-01")
    assert r.status_code == 422 and "to" in r.json()["fields"]
    r = manager.get("/api/v1/time-entries?from=yesterday")
    assert r.status_code == 422
    # another store's manager sees only their own
    r = api_client_for(world.manager_a2).get("/api/v1/time-entries")
    assert [e["technician_id"] for e in r.json()] == [tech_a2.pk]
