"""The HQ administrator builds a rule without code — insurance expiring within 30 days for
VIP customers → a follow-up task for the service advisor and an SMS — previews it, switches it
on; the time scan (``autocrm rules run --now``) fires it; the advisor completes the task."""

from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login, logout, nav, path_of

pytestmark = pytest.mark.e2e

PLATE = "京A20260"


@pytest.fixture
def vip_car(demo):
    from django.utils import timezone

    from autocrm.core.models import Organization, Store
    from autocrm.messaging.models import MessageTemplate
    from tests import customer_factories as cf

    store = Store.objects.get(code="s001")
    owner = cf.customer(store, name="赵敏", mobile="13911112222", level="VIP", consent_sms=True)
    car = cf.vehicle(
        owner,
        plate=PLATE,
        insurance_expires_on=timezone.localdate() + datetime.timedelta(days=20),
    )
    cf.vehicle(
        cf.customer(store, name="钱多多", mobile="13933334444", level="普通"),
        plate="京A30000",
        insurance_expires_on=timezone.localdate() + datetime.timedelta(days=20),
    )  # not VIP
    MessageTemplate.objects.create(
        org=Organization.objects.get(pk=store.org_id),
        name="续保提醒短信",
        purpose="rule.renewal",
        kind="reminder",
        body="{customer_name}您好，您的爱车{plate}保险将于{due_date}到期，请及时续保。",
    )
    return car


def test_hq_builds_previews_and_switches_on_a_rule(page, vip_car, capsys):
    from django.utils import timezone

    from autocrm import cli
    from autocrm.automation.models import Rule, Task
    from autocrm.messaging.models import OutboxMessage

    login(page, "hq")
    nav(page, "rule")
    assert path_of(page) == "/rules/"
    with page.expect_navigation():
        page.click("[data-testid=rule-new]")
    assert path_of(page) == "/rules/new/"

    page.fill("#id_name", "VIP续保跟进")
    page.select_option("#id_entity", "vehicle")
    page.select_option("#id_trigger_kind", "time")
    page.select_option("#id_trigger_type", "date")
    page.select_option("#id_trigger_field", label="保险到期")
    page.fill("#id_offset_days", "20")
    page.select_option("#id_direction", "before")
    page.fill("#id_at", "00:00")

    # Condition rows: field — operator — value, all of them.
    rows = page.locator("[data-testid=cond-row]")
    rows.nth(0).locator("select[name=cond_field]").select_option("vehicle.insurance_expires_on")
    rows.nth(0).locator("select[name=cond_op]").select_option("days_until")
    rows.nth(0).locator("select[name=cond_cmp]").select_option("lte")
    rows.nth(0).locator("input[name=cond_value]").fill("30")
    with page.expect_navigation():
        page.click("[data-testid=cond-add]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("input[name=cond_value]")).to_have_value("30")  # kept
    rows.nth(1).locator("select[name=cond_field]").select_option("customer.level")
    rows.nth(1).locator("select[name=cond_op]").select_option("eq")
    rows.nth(1).locator("input[name=cond_value]").fill("VIP")

    with page.expect_navigation():
        page.click("[data-testid=add-action-task]")
    block = page.locator("[data-testid=action-block][data-action-type=task]")
    block.locator("[data-testid=act-title]").fill("续保跟进：{plate}")
    block.locator("[data-testid=act-who]").select_option("role")
    block.locator("[data-testid=act-role]").select_option("service_advisor")
    block.locator("[data-testid=act-due]").fill("48")
    with page.expect_navigation():
        page.click("[data-testid=add-action-message]")
    page.locator("[data-testid=act-template]").select_option(label="续保提醒短信（短信）")
    with page.expect_navigation():
        page.click("[data-testid=rule-save]")

    rule = Rule.objects.get(name="VIP续保跟进")
    assert path_of(page) == f"/rules/{rule.pk}/"
    assert rule.state == "off" and len(rule.actions) == 2

    # Dry run: one record (the other customer is not VIP), with a sample message.
    page.click("[data-testid=rule-preview-button]")
    preview = page.locator("#rule-preview [data-testid=rule-preview]")
    expect(preview.locator("[data-testid=preview-count]")).to_contain_text("1 条记录")
    expect(preview.locator("[data-testid=preview-record]")).to_have_count(1)
    expect(preview.locator("[data-testid=preview-record]")).to_contain_text(PLATE)
    expect(preview.locator("[data-testid=preview-message]")).to_contain_text(
        f"赵敏您好，您的爱车{PLATE}保险将于"
    )

    # Switch it on from the list.
    nav(page, "rule")
    row = page.locator(f"[data-testid=rule-row][data-rule-id='{rule.pk}']")
    expect(row).to_contain_text("保险到期前20天")
    row.locator("[data-testid=rule-switch]").click()
    row = page.locator(f"[data-testid=rule-row][data-rule-id='{rule.pk}']")
    expect(row).to_have_attribute("data-state", "active")
    rule.refresh_from_db()
    assert rule.state == "active"

    # The time scan, as ``autocrm rules run --now <today 23:59>`` would run it.
    active = Rule.objects.filter(state="active", kind="time").count()
    today = timezone.localdate().isoformat()
    capsys.readouterr()
    assert cli.main(["rules", "run", "--now", f"{today}T23:59"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == f"rules: {active}, fired: 1, messages: 1, tasks: 1"
    task = Task.objects.get(source__startswith=f"rule:{rule.pk}")
    assert task.title == f"续保跟进：{PLATE}" and task.role == "service_advisor"
    assert task.status == "open" and task.kind == "follow_up"
    sms = OutboxMessage.objects.get(customer_id=vip_car.owner_id)
    assert sms.status == "queued" and PLATE in sms.body

    # The firing shows in the rule's log.
    page.goto(f"/rules/{rule.pk}/")
    expect(page.locator("[data-testid=firing-row]")).to_have_count(1)
    expect(page.locator("[data-testid=firing-row]")).to_contain_text(PLATE)
    logout(page)

    # The advisor finds it in the inbox from the menu and completes it.
    login(page, "advisor1")
    nav(page, "task")
    assert path_of(page) == "/tasks/"
    task_row = page.locator(f"[data-testid=task-row][data-task-id='{task.pk}']")
    expect(task_row).to_contain_text(f"续保跟进：{PLATE}")
    expect(task_row).to_contain_text("赵敏")
    with page.expect_navigation():
        task_row.locator("[data-testid=task-title]").click()
    form = page.locator("[data-testid=complete-form]")
    form.get_by_label("已联系上").check()
    form.locator("textarea").fill("车主同意续保，下周报价")
    with page.expect_navigation():
        page.click("[data-testid=complete-submit]")
    assert path_of(page) == "/tasks/"
    expect(page.locator(".alert-success")).to_contain_text(re.compile("已完成"))
    task.refresh_from_db()
    assert task.status == "done" and task.result == "reached"
