"""Job board services: default stages, the stage editor's rules and moving work orders."""

from __future__ import annotations

import pytest

from autocrm.core import events
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.service import services as service_services
from autocrm.service.models import WorkOrder, WorkOrderEvent
from autocrm.workflow import services
from autocrm.workflow.models import DEFAULT_STAGES, Stage, StageVisit
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.workflow.helpers import order_in, stages_of

pytestmark = pytest.mark.django_db


# --- default stages -----------------------------------------------------------------------


def test_default_stages_are_made_once_per_store(world):
    services.ensure_default_stages(world.a1)
    services.ensure_default_stages(world.a1)
    names = list(Stage.objects.filter(store=world.a1).values_list("name", flat=True))
    assert names == [name for name, _c, _m in DEFAULT_STAGES]
    assert not Stage.objects.filter(store=world.a2).exists()
    first = Stage.objects.filter(store=world.a1).first()
    assert (first.org_id, first.color, first.target_minutes) == (world.org.pk, "#6c757d", 15)


def test_a_store_whose_stages_are_all_switched_off_keeps_them(world):
    Stage.objects.create(org=world.org, store=world.a1, name="自定义", is_active=False)
    services.ensure_default_stages(world.a1)
    assert Stage.objects.filter(store=world.a1).count() == 1


def test_new_work_order_goes_into_the_first_stage(world, django_capture_on_commit_callbacks):
    car = cf.vehicle(cf.customer(world.a1))
    with django_capture_on_commit_callbacks(execute=True):
        wo = service_services.create_work_order(world.advisor_a1, vehicle=car)
    wo.refresh_from_db()
    first = Stage.objects.filter(store=world.a1).order_by("sort").first()
    assert first.name == DEFAULT_STAGES[0][0]  # made on the store's first order
    assert wo.stage == first and wo.stage_entered_at is not None
    assert wo.version == 1  # the advisor can still save what they just opened
    visit = StageVisit.objects.get(work_order=wo)
    assert (visit.stage, visit.left_at) == (first, None)
    assert wo.events.filter(kind="stage", public=True).count() == 1
    services.place_new_order(wo.pk)  # delivered twice: still one visit
    assert StageVisit.objects.filter(work_order=wo).count() == 1


# --- moves --------------------------------------------------------------------------------


def test_move_closes_the_visit_opens_the_next_and_writes_history(world):
    first, second, *_rest = stages_of(world.a1)
    wo = order_in(world.a1)
    seen = []
    events.subscribe("work_order.stage_changed", seen.append)
    try:
        moved = services.move(world.tech_a1, wo, second.pk, version=wo.version)
    finally:
        events.unsubscribe("work_order.stage_changed", seen.append)
    assert moved.stage == second and moved.version == wo.version + 1
    assert moved.updated_by == world.tech_a1
    visits = list(StageVisit.objects.filter(work_order=wo).order_by("entered_at", "id"))
    assert [v.stage for v in visits] == [first, second]
    assert visits[0].left_at == visits[1].entered_at == moved.stage_entered_at
    assert visits[1].left_at is None and visits[1].moved_by == world.tech_a1
    event = WorkOrderEvent.objects.filter(work_order=wo, kind="stage").last()
    assert event.text == f"{first.name} → {second.name}"
    assert event.public and event.actor == world.tech_a1
    assert seen == []  # published after commit: the test's transaction never commits


def test_move_publishes_after_commit(world, django_capture_on_commit_callbacks):
    _first, second, *_rest = stages_of(world.a1)
    wo = order_in(world.a1)
    seen = []
    events.subscribe("work_order.stage_changed", seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.move(world.manager_a1, wo, second.pk)
    finally:
        events.unsubscribe("work_order.stage_changed", seen.append)
    assert seen[0]["stage_id"] == second.pk and seen[0]["previous_stage_id"] == wo.stage_id


def test_moving_to_the_same_stage_records_nothing(world):
    first = stages_of(world.a1)[0]
    wo = order_in(world.a1)
    before = StageVisit.objects.filter(work_order=wo).count()
    again = services.move(world.manager_a1, wo, first.pk, version=wo.version)
    assert again.version == wo.version
    assert StageVisit.objects.filter(work_order=wo).count() == before == 1
    assert not WorkOrderEvent.objects.filter(work_order=wo, actor=world.manager_a1).exists()


def test_an_order_without_a_stage_gets_its_first_one(world):
    second = stages_of(world.a1)[1]
    wo = sf.work_order(world.a1)
    moved = services.move(world.advisor_a1, wo, second.pk)
    assert moved.stage == second
    assert StageVisit.objects.filter(work_order=wo).count() == 1
    assert wo.events.get(kind="stage").text.endswith(second.name)


def test_move_refusals(world):
    stages = stages_of(world.a1)
    wo = order_in(world.a1)
    other_store_stage = stages_of(world.a2)[1]
    with pytest.raises(Conflict) as exc:
        services.move(world.manager_a1, wo, other_store_stage.pk)
    assert exc.value.code == "illegal_stage"
    stages[2].is_active = False
    stages[2].save()
    with pytest.raises(Conflict):  # switched off
        services.move(world.manager_a1, wo, stages[2].pk)
    with pytest.raises(Invalid):
        services.move(world.manager_a1, wo, "abc")
    with pytest.raises(NotFound):  # another org
        services.move(world.other_admin, wo, stages[1].pk)
    with pytest.raises(NotFound):  # another store of the same org
        services.move(world.manager_a2, wo, stages[1].pk)
    marketing = sf_staff(world, "marketing")
    with pytest.raises(Forbidden):
        services.move(marketing, wo, stages[1].pk)
    wo.refresh_from_db()
    assert wo.stage == stages[0] and StageVisit.objects.filter(work_order=wo).count() == 1


def sf_staff(world, role):
    from tests import factories as f

    return f.staff(world.org, role, stores=[world.a1])


@pytest.mark.parametrize("status", ["settled", "closed", "cancelled"])
def test_closed_and_cancelled_orders_stay_put(world, status):
    stages = stages_of(world.a1)
    wo = order_in(world.a1)
    WorkOrder.objects.filter(pk=wo.pk).update(status=status)
    with pytest.raises(Conflict) as exc:
        services.move(world.manager_a1, wo, stages[1].pk)
    assert exc.value.code == "closed"


def test_stale_version_is_refused_with_who_changed_it(world):
    stages = stages_of(world.a1)
    wo = order_in(world.a1)
    loaded = wo.version
    services.move(world.manager_a1, wo, stages[1].pk, version=loaded)
    with pytest.raises(Conflict) as exc:
        services.move(world.tech_a1, wo, stages[2].pk, version=loaded)
    assert exc.value.code == "stale"
    assert world.manager_a1.display_name in str(exc.value.message)
    wo.refresh_from_db()
    assert wo.stage == stages[1]


# --- stages -------------------------------------------------------------------------------


def test_manager_creates_updates_and_reorders_stages(world):
    stages_of(world.a1)
    stage = services.create_stage(
        world.manager_a1, store_id=world.a1.pk, name=" 洗车 ", color="#00AA11", target_minutes=20
    )
    assert (stage.name, stage.color, stage.store, stage.org) == (
        "洗车",
        "#00aa11",
        world.a1,
        world.org,
    )
    assert (
        stage.sort > Stage.objects.exclude(pk=stage.pk).filter(store=world.a1).latest("sort").sort
    )
    services.update_stage(world.manager_a1, stage, name="精洗", target_minutes=45)
    stage.refresh_from_db()
    assert (stage.name, stage.target_minutes) == ("精洗", 45)
    ordered = services.reorder_stages(world.manager_a1, world.a1.pk, [stage.pk])
    assert ordered[0] == stage
    assert list(Stage.objects.filter(store=world.a1).order_by("sort")) == ordered
    services.shift_stage(world.manager_a1, stage, +1)
    assert list(Stage.objects.filter(store=world.a1).order_by("sort"))[1] == stage
    # Region and HQ managers edit the stores of their area.
    services.create_stage(world.region_mgr, store_id=world.a2.pk, name="钣喷")
    services.create_stage(world.hq, store_id=world.a3.pk, name="钣喷")


def test_stage_editor_refusals(world):
    stage = stages_of(world.a1)[0]
    with pytest.raises(Forbidden):
        services.create_stage(world.tech_a1, store_id=world.a1.pk, name="洗车")
    with pytest.raises(Forbidden):
        services.update_stage(world.advisor_a1, stage, name="洗车")
    with pytest.raises(NotFound):  # another store
        services.create_stage(world.manager_a2, store_id=world.a1.pk, name="洗车")
    with pytest.raises(NotFound):
        services.update_stage(world.manager_a2, stage, name="洗车")
    with pytest.raises(NotFound):  # another org
        services.create_stage(world.other_admin, store_id=world.a1.pk, name="洗车")
    with pytest.raises(NotFound):
        services.update_stage(world.other_admin, stage, name="洗车")
    with pytest.raises(NotFound):
        services.create_stage(world.region_mgr, store_id=world.a3.pk, name="洗车")
    with pytest.raises(Invalid) as exc:
        services.create_stage(world.manager_a1, store_id=world.a1.pk, name=stage.name)
    assert "name" in exc.value.fields
    with pytest.raises(Invalid) as exc:
        services.create_stage(
            world.manager_a1, store_id=world.a1.pk, name="", color="red", target_minutes=0
        )
    assert set(exc.value.fields) == {"name", "color", "target_minutes"}
    with pytest.raises(Invalid) as exc:
        services.update_stage(world.manager_a1, stage, target_minutes=10081, sort=-1)
    assert set(exc.value.fields) == {"target_minutes", "sort"}
    with pytest.raises(Invalid):
        services.create_stage(world.manager_a1, store_id=world.a1.pk, name="长" * 31)
    with pytest.raises(Invalid):
        services.reorder_stages(world.manager_a1, world.a1.pk, [stages_of(world.a2)[0].pk])
    services.update_stage(world.manager_a1, stage, target_minutes=10080)  # one week is fine
    assert Stage.objects.filter(store=world.a1, name="洗车").count() == 0


def test_stage_with_cars_or_the_last_active_one_cannot_be_switched_off(world):
    stages = stages_of(world.a1)
    wo = order_in(world.a1, stage=stages[1])
    with pytest.raises(Conflict):
        services.deactivate_stage(world.manager_a1, stages[1])
    WorkOrder.objects.filter(pk=wo.pk).update(status="settled")
    services.deactivate_stage(world.manager_a1, stages[1])
    for stage in stages[2:]:
        services.deactivate_stage(world.manager_a1, stage)
    with pytest.raises(Conflict):
        services.update_stage(world.manager_a1, stages[0], is_active=False)
    assert Stage.objects.filter(store=world.a1, is_active=True).get() == stages[0]
