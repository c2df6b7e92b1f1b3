"""Moves through the process's gates: required fields, listed transitions, roles and
conditions, each refused with a message that says exactly why."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from autocrm.core.errors import Conflict, NotFound
from autocrm.core.models import CustomField
from autocrm.service.models import WorkOrder
from autocrm.workflow import conditions, processes, services
from autocrm.workflow.entities import spec
from autocrm.workflow.models import Stage, StageVisit
from tests.workflow.helpers import column, order_at, process_of, pstage

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(world):
    process = process_of(world.hq)
    cols = {s.key: column(world.a1, s) for s in process.stages.all()}
    return process, cols


def test_required_fields_must_be_filled_before_leaving(world, flow):
    process, cols = flow
    processes.update_stage(
        world.hq, pstage(process, "reception"), required_fields=["promised_at", "mileage_in"]
    )
    wo = order_at(world.a1, cols["reception"])
    with pytest.raises(Conflict) as err:
        services.move(world.advisor_a1, wo, cols["inspection"].pk)
    exc = err.value
    assert exc.code == "missing_fields" and exc.status == 409
    assert set(exc.fields) == {"promised_at", "mileage_in"}
    assert str(exc.message) == "离开「待接车」前请先填写：承诺交车时间、进厂里程（公里）。"
    WorkOrder.objects.filter(pk=wo.pk).update(mileage_in=12000)
    with pytest.raises(Conflict) as err:
        services.move(world.advisor_a1, wo, cols["inspection"].pk)
    assert set(err.value.fields) == {"promised_at"}
    WorkOrder.objects.filter(pk=wo.pk).update(promised_at=timezone.now())
    moved = services.move(world.advisor_a1, wo, cols["inspection"].pk)
    assert moved.stage == cols["inspection"]


def test_required_custom_field(world, flow):
    process, cols = flow
    CustomField.objects.create(
        org=world.org, target="work_order", key="fuel", label_zh="油量", type="integer"
    )
    processes.update_stage(world.hq, pstage(process, "reception"), required_fields=["custom.fuel"])
    wo = order_at(world.a1, cols["reception"])
    with pytest.raises(Conflict) as err:
        services.move(world.advisor_a1, wo, cols["inspection"].pk)
    assert "油量" in str(err.value.message)
    WorkOrder.objects.filter(pk=wo.pk).update(custom={"fuel": 0})  # zero is filled in
    assert services.move(world.advisor_a1, wo, cols["inspection"].pk).stage == cols["inspection"]


def test_only_listed_transitions_once_a_stage_has_any(world, flow):
    _process, cols = flow
    processes.save_transition(world.hq, "work_order", source="repair", target="qc")
    processes.save_transition(world.hq, "work_order", source="repair", target="parts")
    wo = order_at(world.a1, cols["repair"])
    with pytest.raises(Conflict) as err:
        services.move(world.manager_a1, wo, cols["delivery"].pk)
    assert err.value.code == "transition_not_allowed"
    assert str(err.value.message) == (
        "处于「维修中」的工单不能移到「待交车」；从这里只能移到：待配件、质检。"
    )
    assert services.move(world.manager_a1, wo, cols["qc"].pk).stage == cols["qc"]
    # A stage with no transitions out of it lets cards go anywhere.
    assert services.move(world.manager_a1, wo, cols["reception"].pk).stage == cols["reception"]


def test_role_restricted_transition(world, flow):
    _process, cols = flow
    processes.save_transition(
        world.hq, "work_order", source="repair", target="qc", allowed_roles=["technician"]
    )
    wo = order_at(world.a1, cols["repair"])
    with pytest.raises(Conflict) as err:
        services.move(world.advisor_a1, wo, cols["qc"].pk)
    assert err.value.code == "role_not_allowed"
    assert str(err.value.message) == "只有技师可以把工单从「维修中」移到「质检」。"
    assert StageVisit.objects.get(work_order=wo, left_at__isnull=True).stage == cols["repair"]
    assert services.move(world.tech_a1, wo, cols["qc"].pk).stage == cols["qc"]


def test_condition_on_the_total(world, flow):
    _process, cols = flow
    processes.save_transition(
        world.hq,
        "work_order",
        source="estimate",
        target="repair",
        condition={"field": "total", "op": "gt", "value": 2000},
    )
    wo = order_at(world.a1, cols["estimate"], total=Decimal("1500.00"))
    with pytest.raises(Conflict) as err:
        services.move(world.manager_a1, wo, cols["repair"].pk)
    assert err.value.code == "condition_false"
    assert "合计 > 2000.00" in str(err.value.message)
    WorkOrder.objects.filter(pk=wo.pk).update(total=Decimal("2000.01"))
    assert services.move(world.manager_a1, wo, cols["repair"].pk).stage == cols["repair"]


def test_compiled_conditions_run_as_sql(world):
    CustomField.objects.create(
        org=world.org, target="work_order", key="fuel", label_zh="油量", type="decimal"
    )
    entity = spec("work_order")
    from tests.workflow.helpers import order_in

    cheap = order_in(world.a1, total=Decimal("100"), custom={"fuel": "10.5"})
    dear = order_in(world.a1, total=Decimal("3000"), mileage_in=5, custom={"fuel": "2"})
    tree = conditions.clean(
        {
            "any": [
                {
                    "all": [
                        {"field": "total", "op": "gte", "value": "3000"},
                        {"field": "mileage_in", "op": "set"},
                    ]
                },
                {"field": "custom.fuel", "op": "gt", "value": "10"},
            ]
        },
        entity,
        world.org.pk,
    )
    annotations, q = conditions.compile(tree, entity, world.org.pk)
    found = set(
        WorkOrder.objects.filter(store=world.a1)
        .annotate(**annotations)
        .filter(q)
        .values_list("pk", flat=True)
    )
    assert found == {cheap.pk, dear.pk}
    negated = {"not": tree}
    annotations, q = conditions.compile(negated, entity, world.org.pk)
    assert (
        not WorkOrder.objects.filter(pk__in=[cheap.pk, dear.pk])
        .annotate(**annotations)
        .filter(q)
        .exists()
    )
    assert conditions.holds({"field": "status", "op": "in", "value": ["draft"]}, entity, cheap)
    assert not conditions.holds({"field": "advisor", "op": "set"}, entity, cheap)
    text = conditions.describe(tree, entity, world.org.pk)
    assert text == "(合计 ≥ 3000.00 且 进厂里程（公里） 已填写 或 油量 > 10.00)"


def test_store_columns_outside_the_process_move_freely(world, flow):
    process, cols = flow
    processes.update_stage(world.hq, pstage(process, "reception"), required_fields=["mileage_in"])
    own = Stage.objects.create(org=world.org, store=world.a1, name="洗车", sort=99)
    wo = order_at(world.a1, cols["inspection"])
    assert services.move(world.advisor_a1, wo, own.pk).stage == own  # no rules on the way out
    assert services.move(world.advisor_a1, wo, cols["reception"].pk).stage == cols["reception"]
    with pytest.raises(Conflict):  # but leaving a process stage still needs its fields
        services.move(world.advisor_a1, wo, own.pk)


def test_refusals_outside_the_process(world, flow):
    _process, cols = flow
    wo = order_at(world.a1, cols["repair"])
    with pytest.raises(NotFound):  # another store's manager
        services.move(world.manager_a2, wo, cols["qc"].pk)
    with pytest.raises(NotFound):  # another org: not even visible
        services.move(world.other_admin, wo, cols["qc"].pk)
    other_column = column(world.a2, cols["qc"].process_stage)
    with pytest.raises(Conflict) as err:  # a column of another store's board
        services.move(world.manager_a1, wo, other_column.pk)
    assert err.value.code == "illegal_stage"


def test_board_card_shows_owner_and_limit(world, flow):
    from autocrm.workflow import selectors

    process, _cols = flow
    processes.update_stage(
        world.hq, pstage(process, "repair"), owner_role="technician", limit_minutes=120
    )
    board = selectors.board(
        world.manager_a1, world.a1.pk, now=timezone.now() + datetime.timedelta(0)
    )
    repair = next(
        c for c in board.columns if c.stage.process_stage_id == pstage(process, "repair").pk
    )
    assert (repair.owner, repair.limit) == ("技师", "2 工作小时")
