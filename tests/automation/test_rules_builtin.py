"""Built-in rule templates: created off per org (with their message templates), once; valid
against the whitelist; and the main ones doing their job end to end."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.automation import builtin, scan
from autocrm.automation.models import Rule, RuleFiring, Task
from autocrm.core import demo
from autocrm.messaging.models import MessageTemplate, OutboxMessage
from autocrm.service import services
from autocrm.service.models import ServiceSettings
from tests import customer_factories as cf
from tests.automation.rule_helpers import at

pytestmark = pytest.mark.django_db

CODES = {
    "maintenance_due",
    "maintenance_6_months",
    "insurance_renewal",
    "inspection_due",
    "birthday",
    "install_anniversary",
    "vip_upgrade",
    "first_service_follow_up",
    "delivery_follow_up",
    "win_back",
    "low_score_callback",
}


def switch_on(world, *codes):
    builtin.ensure_builtin(world.org)
    Rule.objects.filter(org=world.org, builtin__in=codes).update(
        state="active", activated_at=at("2026-11-30", 0)
    )
    from autocrm.automation import capture

    capture.invalidate()


def test_created_off_once_per_org_with_their_templates(world):
    made = builtin.ensure_builtin(world.org)
    assert {r.builtin for r in made} == CODES
    assert {r.state for r in made} == {"off"}
    assert builtin.ensure_builtin(world.org) == made  # nothing new the second time
    assert MessageTemplate.objects.filter(org=world.org, name__endswith="（规则）").count() == 5
    maintenance = Rule.objects.get(org=world.org, builtin="maintenance_due")
    assert maintenance.trigger["field"] == "vehicle.service_due_on"
    assert not Rule.objects.filter(org=world.other_org).exists()
    vip = Rule.objects.get(org=world.org, builtin="vip_upgrade")
    assert vip.kind == "event" and vip.event_key == "customer.updated"


def test_the_demo_switches_them_on(world):
    assert builtin.demo_loader in demo.EXTENSIONS
    builtin.demo_loader(world.org, [world.a1], None, "small")
    assert set(Rule.objects.filter(org=world.org).values_list("state", flat=True)) == {"active"}


def test_insurance_renewal_task_30_days_before(world):
    switch_on(world, "insurance_renewal")
    car = cf.vehicle(
        cf.customer(world.a1, "张三"), "京A12345", insurance_expires_on=datetime.date(2026, 12, 31)
    )
    stats = scan.run_time_rules(at("2026-12-01", 9, 15))
    assert stats.tasks == 1
    task = Task.objects.get(vehicle=car)
    assert task.title == "续保跟进：京A12345（2026-12-31到期）"
    assert (task.kind, task.role) == ("renewal", "service_advisor")


def test_maintenance_due_and_birthday_messages(world):
    switch_on(world, "maintenance_due", "birthday")
    owner = cf.customer(world.a1, "张三", birthday=datetime.date(1988, 12, 1), consent_sms=True)
    cf.vehicle(owner, "京A54321", service_due_on=datetime.date(2026, 12, 8))
    stats = scan.run_time_rules(at("2026-12-01", 9, 15))
    assert stats.messages == 2
    bodies = sorted(OutboxMessage.objects.filter(customer=owner).values_list("body", flat=True))
    assert any("京A54321预计2026-12-08前后需要保养" in b for b in bodies)
    assert any("生日快乐" in b for b in bodies)


def test_vip_upgrade_on_settlement(world, django_capture_on_commit_callbacks):
    """A settlement that lifts 12-month spend past ¥20 000 makes the customer VIP and gives
    the salespeople a task — through the real settle service and the worker."""
    switch_on(world, "vip_upgrade")
    customer = cf.customer(world.a1, "大客户")
    car = cf.vehicle(customer)
    with django_capture_on_commit_callbacks(execute=True):
        wo = services.create_work_order(world.advisor_a1, vehicle=car, mileage_in=10000)
        line = services.add_line(
            world.advisor_a1, wo, kind="labour", name="全车改装", unit_price="21000.00"
        )
        services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="in_person")
        wo.refresh_from_db()
        services.perform(world.advisor_a1, wo, "start")
        services.assign_line(world.advisor_a1, line, [world.tech_a1.pk])
        services.clock_on(world.tech_a1, line)
        services.mark_line_done(world.tech_a1, line)
        services.perform(world.tech_a1, wo, "qc")
        items = ServiceSettings.objects.get(store=wo.store).qc_items
        services.record_qc(world.tech_a1, wo, checks={name: True for name in items})
        wo.refresh_from_db()
        services.perform(
            world.advisor_a1, wo, "settle", payments=[{"method": "cash", "amount": str(wo.total)}]
        )
    customer.refresh_from_db()
    assert customer.level == "VIP"
    task = Task.objects.get(title="VIP升级通知：大客户")
    assert task.role == "sales" and task.customer_id == customer.pk
    # The rule set the level itself: that change does not fire it again.
    assert RuleFiring.objects.filter(rule__builtin="vip_upgrade").count() == 1


def test_low_score_survey_gives_the_manager_a_task_within_two_hours(
    world, django_capture_on_commit_callbacks
):
    from autocrm.feedback import services as feedback
    from tests import service_factories as sf

    switch_on(world, "low_score_callback")
    wo = sf.work_order(world.a1, status="settled", settled_at=timezone.now())
    scores = {"nps": 2, "timeliness": 2, "professionalism": 2, "attitude": 1, "result": 2}
    with django_capture_on_commit_callbacks(execute=True):
        feedback.submit_survey(wo, **scores)
    task = Task.objects.get(kind="callback")
    assert task.role == "store_manager" and "NPS 2" in task.title
    assert task.due_at <= timezone.now() + datetime.timedelta(hours=2)


def test_win_back_after_180_days(world):
    switch_on(world, "win_back")
    gone = cf.customer(world.a1, "老客户", consent_sms=True)
    from autocrm.customers.models import Customer

    Customer.objects.filter(pk=gone.pk).update(last_visit_at=at("2026-06-04", 15))
    scan.run_time_rules(at("2026-12-01", 9, 15))
    assert "好久不见" in OutboxMessage.objects.get(customer=gone).body
