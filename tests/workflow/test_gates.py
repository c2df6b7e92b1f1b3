"""Moves through the process's gates: required fields, listed transitions, roles and
conditions, each refused with a message that says exactly why."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from autocrm.automation import conditions as lang
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import CustomField
from autocrm.service.models import WorkOrder
from autocrm.workflow import conditions, processes, services
from autocrm.workflow.entities import spec
from autocrm.workflow.models import Stage, StageVisit
from tests.workflow.helpers import column, columns, order_at, process_of, pstage

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(world):
    process = process_of(world.hq)
    return process, columns(world.a1, process)


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
    # Saved in the rules engine's language, and compiled by it to one set-based query.
    assert tree["any"][1] == {"field": "work_order.custom.fuel", "op": "gt", "value": "10.00"}
    assert tree["any"][0]["all"][1] == {
        "field": "work_order.mileage_in",
        "op": "is_empty",
        "value": False,
    }
    ctx = conditions.context(entity, world.org.pk)
    rows = WorkOrder.objects.filter(store=world.a1)
    found = set(lang.apply(rows, tree, ctx).values_list("pk", flat=True))
    assert found == {cheap.pk, dear.pk}
    negated = {"not": tree}
    both = WorkOrder.objects.filter(pk__in=[cheap.pk, dear.pk])
    assert not lang.apply(both, negated, conditions.context(entity, world.org.pk)).exists()
    # Trees stored before the merge (bare fields, empty / set) still run.
    assert conditions.holds({"field": "status", "op": "in", "value": ["draft"]}, entity, cheap)
    assert not conditions.holds({"field": "advisor", "op": "set"}, entity, cheap)
    assert conditions.holds({"field": "work_order.advisor", "op": "is_empty"}, entity, cheap)
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


def test_conditions_stored_before_the_merge_are_upgraded(world, flow):
    """Transitions saved with bare fields and empty / set keep working, and the data
    migration rewrites them in the rules engine's language."""
    import importlib

    from django.apps import apps

    from autocrm.workflow.models import Transition

    process, cols = flow
    legacy = {
        "all": [
            {"field": "total", "op": "gt", "value": "2000.00"},
            {"field": "paid", "op": "empty"},
        ]
    }
    Transition.objects.create(
        process=process,
        source=pstage(process, "estimate"),
        target=pstage(process, "repair"),
        condition=legacy,
    )
    entity = spec("work_order")
    assert conditions.describe(legacy, entity, world.org.pk) == "合计 > 2000.00 且 已付 为空"
    wo = order_at(world.a1, cols["estimate"], total=Decimal("1500.00"))
    with pytest.raises(Conflict) as err:
        services.move(world.manager_a1, wo, cols["repair"].pk)
    assert "合计 > 2000.00" in str(err.value.message)
    migration = importlib.import_module("autocrm.workflow.migrations.0003_unify_conditions")
    migration.forwards(apps, None)
    assert Transition.objects.get().condition == {
        "all": [
            {"field": "work_order.total", "op": "gt", "value": "2000.00"},
            {"field": "work_order.paid", "op": "is_empty"},
        ]
    }
    assert conditions.upgrade({"field": "custom.fuel", "op": "set"}, "work_order") == {
        "field": "work_order.custom.fuel",
        "op": "is_empty",
        "value": False,
    }


def test_conditions_may_name_related_records(world, flow):
    """The whole catalog of the language is open to transitions: the customer's fields too."""
    process, cols = flow
    entity = spec("work_order")
    names = {item["field"] for item in conditions.catalog(entity, world.org.pk)["fields"]}
    assert {"work_order.total", "work_order.advisor", "customer.level"} <= names
    saved = processes.save_transition(
        world.hq,
        "work_order",
        source="estimate",
        target="repair",
        condition={"field": "customer.name", "op": "eq", "value": "nobody at all"},
    )
    assert conditions.describe(saved.condition, entity, world.org.pk).startswith("客户.")
    wo = order_at(world.a1, cols["estimate"])
    with pytest.raises(Conflict):
        services.move(world.manager_a1, wo, cols["repair"].pk)
    with pytest.raises(Invalid) as err:  # event-only leaves are refused for transitions
        processes.save_transition(
            world.hq,
            "work_order",
            source="estimate",
            target="repair",
            condition={"field": "work_order.total", "op": "changed"},
        )
    assert "condition" in err.value.fields


def test_values_typed_in_the_editor_are_stored_in_their_type(world):
    entity = spec("work_order")
    clean = conditions.clean
    assert clean(
        {"field": "work_order.old_parts_returned", "op": "eq", "value": "是"}, entity, world.org.pk
    ) == {"field": "work_order.old_parts_returned", "op": "eq", "value": True}
    assert clean(
        {"field": "work_order.mileage_in", "op": "in", "value": "5, 6、7"}, entity, world.org.pk
    ) == {"field": "work_order.mileage_in", "op": "in", "value": [5, 6, 7]}
    assert clean(
        {"field": "work_order.opened_at", "op": "days_since", "value": "3"}, entity, world.org.pk
    ) == {"field": "work_order.opened_at", "op": "days_since", "value": 3}
    for bad in ("1e40", "lots"):
        with pytest.raises(Invalid) as err:
            clean({"field": "total", "op": "gt", "value": bad}, entity, world.org.pk)
        assert "condition" in err.value.fields
