"""Board pages: the board with its store picker, moving a card (htmx and plain POST), the
stage editor, and who may open what."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.service.models import WorkOrder
from autocrm.workflow.models import Stage
from tests import factories as f
from tests.workflow.helpers import order_in, stages_of

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_board_page_shows_columns_cards_and_overdue(world, login):
    stages = stages_of(world.a1)
    wo = order_in(world.a1, advisor=world.advisor_a1)
    WorkOrder.objects.filter(pk=wo.pk).update(
        stage_entered_at=timezone.now() - datetime.timedelta(minutes=40)
    )
    response = login(world.manager_a1).get("/board/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "看板" in html and world.a1.name in html
    for stage in stages:
        assert stage.name in html and stage.color in html
    assert wo.vehicle.plate in html and f"/work-orders/{wo.pk}/" in html
    assert "board-card-overdue" in html and "超时" in html
    assert 'hx-trigger="every 30s"' in html
    assert "js/board.js" in html and "<script>" not in html
    assert 'data-nav="board"' in html  # in the menu
    assert "编辑阶段" in html  # managers edit stages


def test_technician_sees_the_board_but_not_the_stage_editor(world, login):
    order_in(world.a1)
    client = login(world.tech_a1)
    html = client.get("/board/").content.decode()
    assert "移至" in html and "编辑阶段" not in html
    assert client.get("/board/stages/").status_code == 403


def test_store_picker_for_several_stores_and_scope(world, login):
    stages_of(world.a2)
    client = login(world.region_mgr)
    html = client.get("/board/").content.decode()
    assert 'data-testid="store-picker"' in html and world.a2.name in html
    assert world.a3.name not in html  # another region
    assert client.get(f"/board/?store={world.a2.pk}").status_code == 200
    assert client.get(f"/board/?store={world.a3.pk}").status_code == 404
    assert login(world.other_admin).get(f"/board/?store={world.a1.pk}").status_code == 404
    assert (
        'data-testid="store-picker"' not in login(world.manager_a1).get("/board/").content.decode()
    )
    marketing = f.staff(world.org, "marketing", stores=[world.a1])
    assert login(marketing).get("/board/").status_code == 403


def test_polling_returns_only_the_board(world, login):
    stages_of(world.a1)
    response = login(world.manager_a1).get(f"/board/?store={world.a1.pk}", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="board"') and "<html" not in html


def test_move_with_htmx_returns_the_new_board(world, login):
    stages = stages_of(world.a1)
    wo = order_in(world.a1)
    response = login(world.tech_a1).post(
        f"/board/move/{wo.pk}/", {"stage": stages[1].pk, "version": wo.version}, **HTMX
    )
    assert response.status_code == 200
    assert f'data-moved="{wo.pk}"' in response.content.decode()
    wo.refresh_from_db()
    assert wo.stage == stages[1]
    assert wo.events.filter(kind="stage", text=f"{stages[0].name} → {stages[1].name}").exists()


def test_refused_move_shows_the_reason_on_the_current_board(world, login):
    stages = stages_of(world.a1)
    wo = order_in(world.a1)
    client = login(world.advisor_a1)
    client.post(f"/board/move/{wo.pk}/", {"stage": stages[1].pk, "version": wo.version}, **HTMX)
    stale = client.post(
        f"/board/move/{wo.pk}/", {"stage": stages[2].pk, "version": wo.version}, **HTMX
    )
    assert stale.status_code == 409
    html = stale.content.decode()
    assert 'data-testid="board-error"' in html and world.advisor_a1.display_name in html
    other = stages_of(world.a2)[0]
    illegal = client.post(f"/board/move/{wo.pk}/", {"stage": other.pk}, **HTMX)
    assert illegal.status_code == 409
    wo.refresh_from_db()
    assert wo.stage == stages[1]


def test_move_without_javascript_redirects_back(world, login):
    stages = stages_of(world.a1)
    wo = order_in(world.a1)
    client = login(world.manager_a1)
    response = client.post(f"/board/move/{wo.pk}/", {"stage": stages[3].pk})
    assert response.status_code == 302 and response["Location"] == f"/board/?store={world.a1.pk}"
    wo.refresh_from_db()
    assert wo.stage == stages[3]
    assert client.put(f"/board/move/{wo.pk}/").status_code == 405
    assert login(world.manager_a2).post(f"/board/move/{wo.pk}/", {"stage": 1}).status_code == 404


def test_move_page_offers_the_other_stages(world, login):
    stages = stages_of(world.a1)
    wo = order_in(world.a1, stage=stages[2])
    page = login(world.tech_a1).get(f"/board/move/{wo.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert wo.vehicle.plate in html and f'action="/board/move/{wo.pk}/"' in html
    offered = [s for s in stages if f'name="stage" value="{s.pk}"' in html]
    assert offered == [s for s in stages if s != stages[2]]
    assert login(world.manager_a2).get(f"/board/move/{wo.pk}/").status_code == 404
    WorkOrder.objects.filter(pk=wo.pk).update(status="closed")
    assert login(world.tech_a1).get(f"/board/move/{wo.pk}/").status_code == 404


def test_stage_editor_edits_adds_and_reorders(world, login):
    stages = stages_of(world.a1)
    client = login(world.manager_a1)
    page = client.get("/board/stages/")
    assert page.status_code == 200 and "看板阶段" in page.content.decode()
    prefix = f"s{stages[0].pk}"
    response = client.post(
        f"/board/stages/{stages[0].pk}/",
        {
            f"{prefix}-name": "接车",
            f"{prefix}-color": "#112233",
            f"{prefix}-target_minutes": "25",
            f"{prefix}-sort": "5",
            f"{prefix}-is_active": "on",
        },
    )
    assert response.status_code == 302
    stages[0].refresh_from_db()
    assert (stages[0].name, stages[0].color, stages[0].target_minutes) == ("接车", "#112233", 25)
    response = client.post(
        "/board/stages/",
        {
            "store": world.a1.pk,
            "new-name": "洗车",
            "new-color": "#00ff00",
            "new-target_minutes": "20",
            "new-is_active": "on",
        },
    )
    assert response.status_code == 302
    washed = Stage.objects.get(store=world.a1, name="洗车")
    assert client.post(f"/board/stages/{washed.pk}/shift/", {"direction": "up"}).status_code == 302
    order = list(
        Stage.objects.filter(store=world.a1).order_by("sort").values_list("name", flat=True)
    )
    assert order[-2] == "洗车"


def test_stage_editor_shows_refusals_in_place(world, login):
    stages = stages_of(world.a1)
    order_in(world.a1, stage=stages[1])
    client = login(world.manager_a1)
    prefix = f"s{stages[1].pk}"
    response = client.post(
        f"/board/stages/{stages[1].pk}/",
        {
            f"{prefix}-name": stages[1].name,
            f"{prefix}-color": "#206bc4",
            f"{prefix}-target_minutes": "30",
        },
    )
    assert response.status_code == 422
    assert "先把其中的工单移走" in response.content.decode()
    stages[1].refresh_from_db()
    assert stages[1].is_active
    duplicate = client.post(
        "/board/stages/",
        {
            "store": world.a1.pk,
            "new-name": stages[0].name,
            "new-color": "#206bc4",
            "new-target_minutes": "5",
        },
    )
    assert duplicate.status_code == 422 and "已有同名阶段" in duplicate.content.decode()
    assert login(world.manager_a2).post(f"/board/stages/{stages[1].pk}/", {}).status_code == 404
    assert login(world.advisor_a1).post(f"/board/stages/{stages[1].pk}/", {}).status_code == 403


def test_polling_reads_the_store_once_and_not_the_picker(world, login):
    """The 30 s refresh is the hot path: one read of the store (rows, not the ids of the
    user's stores), none of the picker's list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stages_of(world.a1)
    order_in(world.a1)
    client = login(world.region_mgr)  # sees two stores: the full page has a picker
    client.get(f"/board/?store={world.a1.pk}", **HTMX)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/board/?store={world.a1.pk}", **HTMX)
    assert response.status_code == 200
    store_reads = [q["sql"] for q in captured if '"core_store"."name"' in q["sql"]]
    stage_reads = [q["sql"] for q in captured if 'FROM "workflow_stage"' in q["sql"]]
    assert len(store_reads) == 1 and len(stage_reads) == 1
