"""Process definitions: the default process, its stages on every store's board, versioning
with orders in flight, deleting a stage that holds orders, and the editor's refusals."""

from __future__ import annotations

import pytest

from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import AuditLog
from autocrm.service.models import WorkOrderEvent
from autocrm.workflow import processes, services
from autocrm.workflow.models import (
    DEFAULT_STAGE_KEYS,
    DEFAULT_STAGES,
    Process,
    ProcessStage,
    Stage,
    StageVisit,
)
from tests import factories as f
from tests.workflow.helpers import column, order_at, process_of, pstage, stages_of

pytestmark = pytest.mark.django_db


def test_first_look_makes_the_default_process_and_adopts_existing_columns(world):
    stages_of(world.a1)  # a1 already has a board, a2 has none yet
    Stage.objects.filter(store=world.a1, name=DEFAULT_STAGES[4][0]).update(name="等配件")
    process = process_of(world.hq)
    assert (process.entity, process.version, process.org_id) == ("work_order", 1, world.org.pk)
    assert [s.key for s in process.stages.order_by("sort")] == DEFAULT_STAGE_KEYS
    linked = Stage.objects.filter(store=world.a1, process_stage__isnull=False)
    assert linked.count() == len(DEFAULT_STAGES)  # six adopted, one column added
    parts = pstage(process, "parts")
    assert Stage.objects.get(store=world.a1, process_stage=parts).name == parts.name
    assert Stage.objects.get(store=world.a1, name="等配件").process_stage is None
    # A store opening its board later gets the process's stages.
    services.ensure_default_stages(world.a2)
    assert (
        list(
            Stage.objects.filter(store=world.a2)
            .order_by("sort")
            .values_list("process_stage__key", flat=True)
        )
        == DEFAULT_STAGE_KEYS
    )
    assert process_of(world.hq).pk == process.pk  # made once
    assert Process.objects.filter(org=world.org).count() == 1


def test_only_hq_edits_and_each_org_has_its_own(world):
    process = process_of(world.hq)
    for user in (world.manager_a1, world.region_mgr, world.advisor_a1):
        with pytest.raises(Forbidden):
            processes.open_process(user, "work_order")
        with pytest.raises(Forbidden):
            processes.create_stage(user, "work_order", name="洗车")
    other = process_of(world.other_admin)
    assert other.pk != process.pk and other.org_id == world.other_org.pk
    with pytest.raises(NotFound):
        processes.stage_in(world.other_admin, process.stages.first().pk)
    with pytest.raises(NotFound):  # another org's HQ cannot change ours
        processes.update_stage(world.other_admin, process.stages.first(), limit_minutes=5)
    with pytest.raises(NotFound):
        processes.delete_stage(world.other_admin, process.stages.first())
    with pytest.raises(NotFound):
        processes.open_process(world.hq, "spaceship")


def test_stage_rules_are_validated(world):
    process = process_of(world.hq)
    first = process.stages.order_by("sort").first()
    cases = [
        ({"name": ""}, "name"),
        ({"name": pstage(process, "qc").name}, "name"),
        ({"owner_role": "boss"}, "owner_role"),
        ({"escalate_role": "boss"}, "escalate_role"),
        ({"limit_minutes": 0}, "limit_minutes"),
        ({"limit_minutes": "soon"}, "limit_minutes"),
        ({"required_fields": ["promised_at", "colour"]}, "required_fields"),
        ({"escalate_to": world.other_admin.pk}, "escalate_to"),  # another org's person
        ({"escalate_to": "nobody"}, "escalate_to"),
    ]
    for data, field in cases:
        with pytest.raises(Invalid) as err:
            processes.update_stage(world.hq, first, **data)
        assert field in err.value.fields, data
    stage = processes.update_stage(
        world.hq,
        first,
        owner_role="service_advisor",
        required_fields=["promised_at", "mileage_in"],
        limit_minutes=90,
        escalate_to=world.manager_a1.username,
    )
    assert stage.escalate_to == world.manager_a1 and stage.limit_minutes == 90
    assert Process.objects.get(pk=process.pk).version == 2
    assert AuditLog.objects.filter(object_type="workflow.ProcessStage", action="update").exists()


def test_a_new_stage_appears_on_every_board(world):
    stages_of(world.a1)
    stages_of(world.a3)
    Stage.objects.create(org=world.org, store=world.a3, name="洗车", sort=5)  # a3's own column
    process_of(world.hq)
    stage = processes.create_stage(world.hq, "work_order", name="洗车", limit_minutes=30)
    assert stage.key.startswith("stage-")
    a1 = Stage.objects.get(store=world.a1, process_stage=stage)
    assert (a1.name, a1.is_active) == ("洗车", True)
    assert Stage.objects.get(store=world.a3, name="洗车").process_stage == stage  # adopted
    assert not Stage.objects.filter(store=world.a2).exists()  # no board yet: nothing to add


def test_renaming_a_stage_renames_the_columns_that_kept_its_name(world):
    stages_of(world.a1)
    stages_of(world.a2)
    process = process_of(world.hq)
    qc = pstage(process, "qc")
    Stage.objects.filter(store=world.a2, process_stage=qc).update(name="终检")
    processes.update_stage(world.hq, qc, name="质量检验")
    assert column(world.a1, qc).name == "质量检验"
    assert column(world.a2, qc).name == "终检"  # the store's own name stays


def test_definition_change_leaves_orders_in_flight_alone(world):
    process = process_of(world.hq)
    repair = pstage(process, "repair")
    processes.update_stage(world.hq, repair, limit_minutes=60, escalate_role="store_manager")
    before = order_at(world.a1, column(world.a1, repair))
    visit = StageVisit.objects.get(work_order=before, left_at__isnull=True)
    version = Process.objects.get(pk=process.pk).version
    assert (visit.limit_minutes, visit.escalate_role, visit.process_version) == (
        60,
        "store_manager",
        version,
    )
    assert visit.due_at is not None
    processes.update_stage(
        world.hq, repair, limit_minutes=600, escalate_role="region_manager", owner_role="technician"
    )
    visit.refresh_from_db()
    assert (visit.limit_minutes, visit.escalate_role, visit.owner_role) == (60, "store_manager", "")
    after = order_at(world.a1, column(world.a1, repair))
    new_visit = StageVisit.objects.get(work_order=after, left_at__isnull=True)
    assert (new_visit.limit_minutes, new_visit.escalate_role, new_visit.owner_role) == (
        600,
        "region_manager",
        "technician",
    )
    assert new_visit.process_version == version + 1


def test_deleting_a_stage_with_orders_is_refused_unless_they_are_moved(world):
    process = process_of(world.hq)
    parts, repair = pstage(process, "parts"), pstage(process, "repair")
    in_a1 = order_at(world.a1, column(world.a1, parts))
    in_a2 = order_at(world.a2, column(world.a2, parts))
    with pytest.raises(Conflict) as err:
        processes.delete_stage(world.hq, parts)
    assert err.value.code == "stage_in_use" and "2" in str(err.value.message)
    with pytest.raises(Invalid):
        processes.delete_stage(world.hq, parts, move_to="parts")  # not elsewhere
    moved = processes.delete_stage(world.hq, parts, move_to="repair")
    assert moved == 2
    assert not ProcessStage.objects.filter(pk=parts.pk).exists()
    for wo, store in ((in_a1, world.a1), (in_a2, world.a2)):
        wo.refresh_from_db()
        assert wo.stage == column(store, repair)
        assert StageVisit.objects.get(work_order=wo, left_at__isnull=True).stage == wo.stage
        assert WorkOrderEvent.objects.filter(work_order=wo, kind="stage").last().text.endswith(")")
    old = Stage.objects.filter(store=world.a1, name=parts.name).get()
    assert (old.process_stage, old.is_active) == (None, False)  # history keeps the name


def test_an_empty_stage_is_deleted_without_moves(world):
    process = process_of(world.hq)
    processes.delete_stage(world.hq, pstage(process, "parts"))
    assert process.stages.count() == len(DEFAULT_STAGES) - 1


def test_transitions_are_validated(world):
    process = process_of(world.hq)
    base = {"source": "repair", "target": "qc"}
    cases = [
        ({"source": "repair", "target": "repair"}, "target"),
        ({"source": "nowhere", "target": "qc"}, "source"),
        ({**base, "allowed_roles": ["boss"]}, "allowed_roles"),
        ({**base, "condition": {"field": "total", "op": "gt", "value": "lots"}}, "condition"),
        ({**base, "condition": {"field": "colour", "op": "eq", "value": 1}}, "condition"),
        ({**base, "condition": {"field": "promised_at", "op": "gt", "value": 1}}, "condition"),
        ({**base, "condition": "total > 2000"}, "condition"),
        ({**base, "approval": "magic"}, "approval"),
        ({**base, "approval": "role"}, "approval_role"),
        ({**base, "approval": "people", "approvers": []}, "approvers"),
        (
            {
                **base,
                "approval": "people",
                "approvers": [world.manager_a1.pk],
                "approvals_needed": 2,
            },
            "approvals_needed",
        ),
        ({**base, "approval": "tiered", "amount_field": "paid"}, "amount_field"),
        ({**base, "approval": "tiered", "amount_field": "total", "tiers": []}, "tiers"),
        (
            {
                **base,
                "approval": "tiered",
                "amount_field": "total",
                "tiers": [{"over": "500", "role": ""}],
            },
            "tiers",
        ),
    ]
    for data, field in cases:
        with pytest.raises(Invalid) as err:
            processes.save_transition(world.hq, "work_order", **data)
        assert field in err.value.fields, data
    saved = processes.save_transition(
        world.hq,
        "work_order",
        **base,
        condition={"all": [{"field": "total", "op": "gt", "value": 2000}]},
        approval="tiered",
        amount_field="discount_total",
        tiers=[
            {"over": "2000", "role": "region_manager"},
            {"over": "500", "role": "store_manager"},
        ],
    )
    assert saved.condition == {
        "all": [{"field": "work_order.total", "op": "gt", "value": "2000.00"}]
    }
    assert [t["over"] for t in saved.tiers] == ["500.00", "2000.00"]
    again = processes.save_transition(world.hq, "work_order", **base, allowed_roles=["technician"])
    assert again.pk == saved.pk and again.approval == "none"  # the same move, new rules
    assert process.transitions.count() == 1


def test_custom_fields_can_be_required_and_compared(world):
    from autocrm.core.models import CustomField

    CustomField.objects.create(
        org=world.org, target="work_order", key="fuel", label_zh="油量", type="integer"
    )
    process = process_of(world.hq)
    stage = processes.update_stage(
        world.hq, pstage(process, "reception"), required_fields=["custom.fuel"]
    )
    assert stage.required_fields == ["custom.fuel"]
    saved = processes.save_transition(
        world.hq,
        "work_order",
        source="reception",
        target="inspection",
        condition={"field": "custom.fuel", "op": "gte", "value": 2},
    )
    assert saved.condition == {"field": "work_order.custom.fuel", "op": "gte", "value": 2}
    other = f.org(code="third")
    with pytest.raises(Invalid):  # another org's field is unknown here
        processes.update_stage(
            f.staff(other, "hq_admin", scope="org"),
            process_of(f.staff(other, "hq_admin", scope="org")).stages.first(),
            required_fields=["custom.fuel"],
        )
