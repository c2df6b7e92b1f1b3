"""Event rules: captured on commit with the previous values, evaluated in the worker, once per
event; status, stage, payment, survey and deleted triggers; the chain guard."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from autocrm.automation import capture, rule_jobs, scan
from autocrm.automation.models import Rule, RuleFiring, Task
from autocrm.core import events
from autocrm.customers import services as customer_services
from autocrm.feedback.models import Survey
from autocrm.service.models import Payment, WorkOrder
from autocrm.workflow.models import Stage
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.automation.rule_helpers import make_rule, task_action

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """The batches requests hand to the worker (instead of running them at once)."""
    batches: list[list[dict]] = []
    monkeypatch.setattr(capture, "enqueue", batches.append)
    return batches


def level_rule(world, **kw):
    kw.setdefault("condition", {"field": "customer.level", "op": "changed", "to": "VIP"})
    return make_rule(
        world,
        entity="customer",
        trigger={"type": "field_changed", "field": "customer.level"},
        actions=[task_action("恭喜 {customer_name} 升级", role="sales")],
        **kw,
    )


def test_a_request_only_queues_the_event_and_the_worker_fires(
    world, queued, django_capture_on_commit_callbacks
):
    rule = level_rule(world)
    customer = cf.customer(world.a1, "张三", level="金卡")
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.update_customer(world.advisor_a1, customer, level="VIP", notes="改")
    assert not Task.objects.exists()  # the request did not evaluate anything
    [batch] = queued
    [event] = batch
    assert event["key"] == "customer.updated" and event["record_id"] == customer.pk
    assert event["previous"]["level"] == "金卡" and event["current"]["level"] == "VIP"
    assert set(event["changed"]) == {"level", "notes"}
    rule_jobs.process_rule_events(batch)  # the worker's job (huey, immediate in tests)
    task = Task.objects.get(source=f"rule:{rule.pk}")
    assert task.title == "恭喜 张三 升级" and task.role == "sales"
    firing = RuleFiring.objects.get(rule=rule)
    assert firing.occurrence == event["id"] and firing.status == "done"
    assert firing.event["previous"]["level"] == "金卡"
    rule_jobs.process_rule_events(batch)  # a retried job: same event id, nothing new
    assert Task.objects.count() == 1


def test_through_the_real_queue(world, django_capture_on_commit_callbacks):
    level_rule(world)
    customer = cf.customer(world.a1, "张三", level="")
    HUEY.immediate = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            customer_services.update_customer(world.advisor_a1, customer, level="VIP")
        assert HUEY.pending_count() == 1 and not Task.objects.exists()
        task = HUEY.dequeue()
    finally:
        HUEY.immediate = True
    HUEY.execute(task)
    assert Task.objects.filter(customer=customer).count() == 1


def test_a_rolled_back_request_queues_nothing(world, queued):
    from django.db import transaction

    level_rule(world)
    customer = cf.customer(world.a1, "张三")
    with pytest.raises(RuntimeError), transaction.atomic():
        customer.level = "VIP"
        customer.save()
        raise RuntimeError
    assert queued == []


def test_nothing_is_captured_when_no_rule_waits(world, queued, django_capture_on_commit_callbacks):
    customer = cf.customer(world.a1, "张三")
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.update_customer(world.advisor_a1, customer, level="VIP")
    assert queued == []
    rule = level_rule(world)
    Rule.objects.filter(pk=rule.pk).update(state="off")
    capture.invalidate()
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.update_customer(world.advisor_a1, customer, level="金卡")
    assert queued == []


def test_changes_in_one_transaction_become_one_event(
    world, queued, django_capture_on_commit_callbacks
):
    level_rule(world)
    customer = cf.customer(world.a1, "张三", level="银卡")
    with django_capture_on_commit_callbacks(execute=True):
        from django.db import transaction

        with transaction.atomic():
            customer.level = "金卡"
            customer.save()
            customer.level = "VIP"
            customer.notes = "大客户"
            customer.save()
    [[event]] = queued
    assert event["previous"]["level"] == "银卡" and event["current"]["level"] == "VIP"
    assert set(event["changed"]) == {"level", "notes"}


def test_previous_value_condition(world, django_capture_on_commit_callbacks):
    rule = level_rule(
        world,
        condition={
            "all": [
                {"field": "customer.level", "op": "eq", "value": "银卡", "previous": True},
                {"field": "customer.level", "op": "eq", "value": "VIP"},
            ]
        },
    )
    silver = cf.customer(world.a1, "银卡客户", level="银卡")
    gold = cf.customer(world.a1, "金卡客户", level="金卡")
    with django_capture_on_commit_callbacks(execute=True):
        for c in (silver, gold):
            customer_services.update_customer(world.advisor_a1, c, level="VIP")
    assert list(RuleFiring.objects.filter(rule=rule).values_list("record_id", flat=True)) == [
        silver.pk
    ]


def test_created_trigger_and_scope(world, django_capture_on_commit_callbacks):
    rule = make_rule(
        world,
        entity="vehicle",
        trigger={"type": "created"},
        condition={"field": "vehicle.brand", "op": "eq", "value": "宝马"},
        scope="stores",
        store_ids=[world.a1.pk],
    )
    with django_capture_on_commit_callbacks(execute=True):
        bmw = cf.vehicle(cf.customer(world.a1), brand="宝马")
        cf.vehicle(cf.customer(world.a1), brand="大众")
        cf.vehicle(cf.customer(world.a3), brand="宝马")  # another store
    assert list(RuleFiring.objects.filter(rule=rule).values_list("record_id", flat=True)) == [
        bmw.pk
    ]


def test_status_entered_from_the_domain_event(world, django_capture_on_commit_callbacks):
    rule = make_rule(
        world,
        entity="work_order",
        trigger={"type": "status_entered", "status": "settled"},
        actions=[task_action("结算回访 {work_order_number}", assign_to="advisor")],
    )
    wo = sf.work_order(world.a1, advisor=world.advisor_a1, status=WorkOrder.Status.SETTLED)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish(
            "work_order.settled", work_order_id=wo.pk, store_id=wo.store_id, previous="ready"
        )
        events.publish(
            "work_order.closed", work_order_id=wo.pk, store_id=wo.store_id, previous="settled"
        )
    task = Task.objects.get(source=f"rule:{rule.pk}")
    assert task.assignee_id == world.advisor_a1.pk and task.work_order_id == wo.pk
    firing = RuleFiring.objects.get(rule=rule)
    assert firing.event["previous"] == {"status": "ready"}


def test_stage_entered(world, django_capture_on_commit_callbacks):
    rule = make_rule(
        world,
        entity="work_order",
        trigger={"type": "stage_entered", "stage": "待配件"},
        actions=[task_action("催配件")],
    )
    wo = sf.work_order(world.a1)
    waiting = Stage.objects.create(org=world.org, store=world.a1, name="待配件")
    other = Stage.objects.create(org=world.org, store=world.a1, name="质检")
    with django_capture_on_commit_callbacks(execute=True):
        for stage in (other, waiting):
            events.publish(
                "work_order.stage_changed",
                work_order_id=wo.pk,
                store_id=wo.store_id,
                stage_id=stage.pk,
                previous_stage_id=None,
            )
    assert RuleFiring.objects.filter(rule=rule).count() == 1


def test_payment_made_and_survey_answered(world, django_capture_on_commit_callbacks):
    paid = make_rule(
        world,
        entity="payment",
        trigger={"type": "payment_made"},
        condition={"field": "payment.amount", "op": "gte", "value": 1000},
        actions=[task_action("大额收款 {work_order_number}")],
    )
    low = make_rule(
        world,
        entity="survey",
        trigger={"type": "survey_answered"},
        condition={"field": "survey.is_low", "op": "eq", "value": True},
        actions=[task_action("低分回访（NPS {nps}）", role="store_manager", due_hours=2)],
    )
    wo = sf.work_order(world.a1, status=WorkOrder.Status.SETTLED)
    with django_capture_on_commit_callbacks(execute=True):
        Payment.objects.create(
            org=world.org, store=world.a1, work_order=wo, method="cash", amount=1200
        )
        Payment.objects.create(
            org=world.org, store=world.a1, work_order=wo, method="cash", amount=10
        )
        survey = Survey.objects.create(
            org=world.org,
            store=world.a1,
            work_order=wo,
            customer=wo.customer,
            nps=3,
            timeliness=2,
            professionalism=3,
            attitude=3,
            result=2,
            is_low=True,
        )
        events.publish(
            "survey.low", survey_id=survey.pk, work_order_id=wo.pk, store_id=wo.store_id, nps=3
        )
    assert RuleFiring.objects.filter(rule=paid).count() == 1
    task = Task.objects.get(source=f"rule:{low.pk}")
    assert task.title == "低分回访（NPS 3）" and task.role == "store_manager"
    assert task.due_at - timezone.now() < datetime.timedelta(hours=2, minutes=1)


def test_deleted_record_uses_its_snapshot(world, django_capture_on_commit_callbacks):
    rule = make_rule(
        world,
        entity="vehicle",
        trigger={"type": "deleted"},
        condition={"field": "vehicle.brand", "op": "eq", "value": "宝马"},
        actions=[task_action("车辆被删除：{record}")],
    )
    owner = cf.customer(world.a1)
    bmw = cf.vehicle(owner, "京A88888", brand="宝马")
    other = cf.vehicle(owner, brand="大众")
    bmw.ownerships.all().delete()
    other.ownerships.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        bmw.delete()
        other.delete()
    task = Task.objects.get(source=f"rule:{rule.pk}")
    assert task.title == "车辆被删除：京A88888" and task.store_id == world.a1.pk


def test_a_rule_does_not_trigger_itself_and_chains_stop(world, django_capture_on_commit_callbacks):
    """Rule A upgrades customers who changed (any field) to VIP; the change it makes is an
    update too, which reaches rule B but not A again."""
    a = make_rule(
        world,
        name="A",
        entity="customer",
        trigger={"type": "updated"},
        condition={"field": "customer.level", "op": "ne", "value": "VIP"},
        actions=[{"type": "set_field", "field": "customer.level", "value": "VIP"}],
    )
    b = level_rule(world, name="B")
    customer = cf.customer(world.a1, "张三", level="金卡")
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.update_customer(world.advisor_a1, customer, notes="换了手机")
    customer.refresh_from_db()
    assert customer.level == "VIP"
    assert RuleFiring.objects.filter(rule=a).count() == 1
    assert RuleFiring.objects.filter(rule=b).count() == 1
    assert RuleFiring.objects.get(rule=b).event["depth"] == 1


def test_event_payload_stays_small_and_plain(world, queued, django_capture_on_commit_callbacks):
    level_rule(world)
    customer = cf.customer(world.a1, "张三")
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.update_customer(
            world.advisor_a1, customer, level="VIP", notes="长" * 3000
        )
    [[event]] = queued
    assert len(event["current"]["notes"]) == capture.TEXT_LIMIT
    import json

    json.dumps(event)  # JSON-plain: huey can carry it to any worker


def test_broken_event_rule_is_disabled_not_crashed(world, django_capture_on_commit_callbacks):
    from autocrm.core.models import CustomField

    field = CustomField.objects.create(
        org=world.org, target="customer", key="vip_no", label_zh="会员号"
    )
    rule = level_rule(
        world, condition={"field": "customer.custom.vip_no", "op": "is_empty", "value": False}
    )
    field.delete()
    customer = cf.customer(world.a1)
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.update_customer(world.advisor_a1, customer, level="VIP")
    rule.refresh_from_db()
    assert rule.state == "disabled" and "vip_no" in rule.disabled_reason


def test_process_events_counts(world):
    rule = level_rule(world, condition={})
    customer = cf.customer(world.a1)
    event = {
        "id": "e1",
        "key": "customer.updated",
        "entity": "customer",
        "org_id": world.org.pk,
        "store_id": world.a1.pk,
        "record_id": customer.pk,
        "previous": {"level": ""},
        "current": {"level": "VIP"},
        "changed": ["level"],
        "at": timezone.now().isoformat(),
        "depth": 0,
        "origin_rule": None,
    }
    stats = scan.process_events([event, dict(event)])
    assert (stats.fired, stats.tasks) == (1, 1)
    assert RuleFiring.objects.filter(rule=rule).count() == 1
