"""The service advisor's task inbox: from the navigation badge to an overdue follow-up call,
recorded as booked with a next step; and the inbox on a 375 px phone."""

from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login, nav, page_width, path_of

pytestmark = pytest.mark.e2e

WIDTH = 375


@pytest.fixture
def follow_up(demo):
    """An overdue follow-up call for whoever is the service advisor of store s001."""
    from django.utils import timezone

    from autocrm.automation import services
    from autocrm.automation.models import Task
    from autocrm.core.models import Store
    from tests import customer_factories as cf

    store = Store.objects.get(code="s001")
    owner = cf.customer(store, name="韩梅梅", mobile="13698765432")
    car = cf.vehicle(owner, plate="京B66666", brand="大众", model="朗逸")
    return services.create_task(
        None,
        store_id=store.pk,
        title="保养后三天回访：韩梅梅",
        kind=Task.Kind.FOLLOW_UP,
        role="service_advisor",
        due_at=timezone.now() - datetime.timedelta(hours=3),
        customer_id=owner.pk,
        vehicle_id=car.pk,
        source="rule:e2e",
    )


def test_advisor_completes_a_follow_up_with_a_next_step(page, follow_up):
    from django.utils import timezone

    from autocrm.automation.models import Task

    login(page, "advisor1")
    badge_open = page.locator("[data-testid=main-nav] [data-testid=nav-task-open]")
    badge_late = page.locator("[data-testid=main-nav] [data-testid=nav-task-overdue]")
    expect(badge_open).to_have_text("1")
    expect(badge_late).to_have_text("1")
    expect(badge_late).to_have_class(re.compile(r"\bbg-red\b"))  # overdue in red

    nav(page, "task")
    assert path_of(page) == "/tasks/"
    expect(page.locator(".page-title")).to_contain_text("待办")
    row = page.locator(f"[data-testid=task-row][data-task-id='{follow_up.pk}']")
    expect(row).to_have_attribute("data-overdue", "1")
    expect(row).to_contain_text("已逾期")
    expect(row).to_contain_text("韩梅梅")
    expect(row).to_contain_text("京B66666")
    expect(row.locator("[data-testid=task-mobile]")).to_have_attribute("href", "tel:13698765432")
    expect(page.locator("[data-testid=task-summary]")).to_contain_text("1 条已逾期")

    with page.expect_navigation():
        row.locator("[data-testid=task-title]").click()
    assert path_of(page) == f"/tasks/{follow_up.pk}/"
    expect(page.locator("[data-testid=customer-link]")).to_have_text("韩梅梅")
    expect(page.locator("[data-testid=call-customer]")).to_have_attribute("href", "tel:13698765432")
    expect(page.locator("[data-testid=vehicle-link]")).to_have_text("京B66666")

    # Submitting without a result keeps what was typed and says what is missing.
    form = page.locator("[data-testid=complete-form]")
    form.locator("textarea").fill("车主说周六上午有空")
    with page.expect_navigation():
        page.click("[data-testid=complete-submit]")
    expect(page.locator("[data-testid=complete-form]")).to_contain_text("请选择处理结果。")
    expect(page.locator("[data-testid=complete-form] textarea")).to_have_value("车主说周六上午有空")

    form = page.locator("[data-testid=complete-form]")
    form.get_by_label("已预约").check()
    next_due = timezone.localtime() + datetime.timedelta(days=2)
    form.get_by_label("下一步", exact=True).fill("周五下午提醒到店")
    form.get_by_label("下一步截止时间").fill(next_due.strftime("%Y-%m-%dT%H:%M"))
    with page.expect_navigation():
        page.click("[data-testid=complete-submit]")

    assert path_of(page) == "/tasks/"
    expect(page.locator(".alert-success")).to_contain_text("已完成：保养后三天回访：韩梅梅")
    expect(page.locator(f"[data-task-id='{follow_up.pk}']")).to_have_count(0)
    rows = page.locator("[data-testid=task-row]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("周五下午提醒到店")
    expect(rows.first).to_contain_text("韩梅梅")
    expect(rows.first).not_to_have_attribute("data-overdue", "1")
    expect(badge_open).to_have_text("1")
    expect(badge_late).to_have_count(0)

    done = Task.objects.get(pk=follow_up.pk)
    assert done.status == "done" and done.result == "booked"
    assert done.result_note == "车主说周六上午有空"
    follow = Task.objects.get(follows=done)
    assert follow.assignee.username == "advisor1" and follow.customer_id == done.customer_id

    # The completed tab has it, with its result.
    with page.expect_navigation():
        page.click("[data-testid=task-tabs] [data-tab=done]")
    expect(page.locator(f"[data-task-id='{follow_up.pk}']")).to_contain_text("已预约")


def test_inbox_fits_a_phone(new_context, follow_up):
    page = new_context(
        viewport={"width": WIDTH, "height": 800}, is_mobile=True, has_touch=True
    ).new_page()
    login(page, "advisor1")
    page.click(".navbar-toggler")
    expect(page.locator("[data-testid=main-nav] [data-testid=nav-task-overdue]")).to_be_visible()
    with page.expect_navigation():
        page.click("[data-testid=main-nav] [data-nav=task]")
    expect(page.locator(f"[data-task-id='{follow_up.pk}']")).to_be_visible()
    assert page_width(page) <= WIDTH
    for path in (f"/tasks/{follow_up.pk}/", "/tasks/new/", "/tasks/?tab=done"):
        page.goto(path)
        expect(page.locator(".page-title")).to_be_visible()
        assert page_width(page) <= WIDTH, path
