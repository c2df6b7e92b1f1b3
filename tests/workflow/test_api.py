"""Job board API: the board, stages and moves, with JSON errors and the right status codes."""

from __future__ import annotations

import pytest

from autocrm.workflow.models import Stage
from tests.core.test_api import as_user, assert_error, post_json
from tests.workflow.helpers import order_in, stages_of

pytestmark = pytest.mark.django_db


def test_board(world):
    stages = stages_of(world.a1)
    wo = order_in(world.a1, stage=stages[2], advisor=world.advisor_a1)
    body = as_user(world.tech_a1).get("/api/v1/board").json()  # the user's own store
    assert body["store_id"] == world.a1.pk
    assert [c["stage"]["name"] for c in body["columns"]] == [s.name for s in stages]
    column = body["columns"][2]
    assert column["count"] == 1 and column["overdue_count"] == 0
    card = column["cards"][0]
    assert (card["id"], card["plate"], card["version"]) == (wo.pk, wo.vehicle.plate, wo.version)
    assert card["advisor"] == world.advisor_a1.display_name
    hq = as_user(world.hq)
    assert hq.get(f"/api/v1/board?store={world.a1.pk}").json()["columns"][2]["count"] == 1
    assert_error(as_user(world.manager_a2).get(f"/api/v1/board?store={world.a1.pk}"), 404)
    assert_error(as_user(world.other_admin).get(f"/api/v1/board?store={world.a1.pk}"), 404)


def test_a_store_gets_its_default_stages_when_first_read(world):
    body = as_user(world.manager_a2).get("/api/v1/stages").json()
    assert len(body) == 7 and body[0]["store_id"] == world.a2.pk


def test_stages_create_update_reorder(world):
    stages = stages_of(world.a1)
    client = as_user(world.manager_a1)
    created = post_json(
        client,
        "/api/v1/stages",
        {"store": world.a1.pk, "name": "洗车", "color": "#00aa00", "target_minutes": 20},
    )
    assert created.status_code == 201
    new = created.json()
    assert new["name"] == "洗车" and new["is_active"]
    patched = post_json(
        client, f"/api/v1/stages/{new['id']}", {"target_minutes": 30, "color": None}, "patch"
    )
    assert patched.status_code == 200
    assert patched.json()["target_minutes"] == 30 and patched.json()["color"] == "#00aa00"
    reordered = post_json(
        client, "/api/v1/stages/reorder", {"store": world.a1.pk, "stages": [new["id"]]}
    )
    assert [s["id"] for s in reordered.json()][:2] == [new["id"], stages[0].pk]
    listed = client.get(f"/api/v1/stages?store={world.a1.pk}").json()
    assert listed[0]["id"] == new["id"]


def test_stage_refusals(world):
    stage = stages_of(world.a1)[0]
    body = {"store": world.a1.pk, "name": "洗车"}
    assert_error(post_json(as_user(world.tech_a1), "/api/v1/stages", body), 403)
    assert_error(post_json(as_user(world.manager_a2), "/api/v1/stages", body), 404)
    assert_error(post_json(as_user(world.other_admin), "/api/v1/stages", body), 404)
    tech_patch = post_json(
        as_user(world.tech_a1), f"/api/v1/stages/{stage.pk}", {"name": "x"}, "patch"
    )
    assert_error(tech_patch, 403)
    manager = as_user(world.manager_a1)
    bad = assert_error(
        post_json(
            manager,
            "/api/v1/stages",
            {"store": world.a1.pk, "name": stage.name, "color": "blue", "target_minutes": 20000},
        ),
        422,
        "invalid",
    )
    assert set(bad["fields"]) == {"name", "color", "target_minutes"}
    order_in(world.a1, stage=stage)
    switched_off = post_json(manager, f"/api/v1/stages/{stage.pk}", {"is_active": False}, "patch")
    assert_error(switched_off, 409)
    assert Stage.objects.filter(store=world.a1, name="洗车").count() == 0


def test_move_and_its_refusals(world):
    stages = stages_of(world.a1)
    wo = order_in(world.a1)
    client = as_user(world.tech_a1)
    path = f"/api/v1/work-orders/{wo.pk}/move"
    moved = post_json(client, path, {"stage": stages[1].pk, "version": wo.version})
    assert moved.status_code == 200
    assert moved.json()["stage_id"] == stages[1].pk and moved.json()["version"] == wo.version + 1
    assert wo.events.filter(kind="stage").last().text == f"{stages[0].name} → {stages[1].name}"
    stale = assert_error(
        post_json(as_user(world.advisor_a1), path, {"stage": stages[2].pk, "version": wo.version}),
        409,
        "stale",
    )
    assert world.tech_a1.display_name in stale["message"]
    other = stages_of(world.a2)[0]
    assert_error(post_json(client, path, {"stage": other.pk}), 409, "illegal_stage")
    assert_error(post_json(as_user(world.manager_a2), path, {"stage": stages[2].pk}), 404)
    assert_error(post_json(as_user(world.other_admin), path, {"stage": stages[2].pk}), 404)
    assert_error(post_json(client, path, {"version": 1}), 422)
    wo.status = "cancelled"
    wo.save(update_fields=["status"])
    assert_error(post_json(client, path, {"stage": stages[2].pk}), 409, "closed")


def test_board_reads_store_and_stages_once(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stages_of(world.a1)
    client = as_user(world.manager_a1)
    client.get(f"/api/v1/board?store={world.a1.pk}")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/board?store={world.a1.pk}")
    assert response.status_code == 200
    assert sum('"core_store"."name"' in q["sql"] for q in captured) == 1
    assert sum('FROM "workflow_stage"' in q["sql"] for q in captured) == 1
