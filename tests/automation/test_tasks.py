"""The follow-up task inbox: services and their refusals, the pages, the API and the
navigation badge."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autocrm.automation import selectors, services
from autocrm.automation.models import Task
from autocrm.core import scoping
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.conftest import api_client_for, client_for, send_json

pytestmark = pytest.mark.django_db

ADVISOR = "service_advisor"
LOCAL = "%Y-%m-%dT%H:%M"


def later(**delta) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(**(delta or {"days": 1}))


def earlier(**delta) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**(delta or {"hours": 2}))


@pytest.fixture
def owner(world):
    customer = cf.customer(world.a1, name="李雷", mobile="13712345678")
    customer.car = cf.vehicle(customer, plate="京A12345")
    return customer


def role_task(world, owner=None, **kw) -> Task:
    """A task for whoever is the service advisor of store A1 (like a rule makes one)."""
    kw.setdefault("title", "保养后三天回访")
    kw.setdefault("kind", Task.Kind.FOLLOW_UP)
    kw.setdefault("due_at", later())
    if owner is not None:
        kw.setdefault("customer_id", owner.pk)
        kw.setdefault("vehicle_id", owner.car.pk)
    return services.create_task(None, store_id=world.a1.pk, role=ADVISOR, **kw)


def mine(user) -> list[int]:
    return [t.pk for t in selectors.inbox(user)]


# --- services -----------------------------------------------------------------------------


def test_a_key_makes_a_system_task_exactly_once(world):
    first = role_task(world, key="rule:1:customer:9")
    again = role_task(world, key="rule:1:customer:9", title="别的标题")
    assert again.pk == first.pk
    assert Task.objects.filter(key="rule:1:customer:9").count() == 1
    assert again.title == "保养后三天回访"
    # Chinese punctuation in free text stays as typed
    assert role_task(world, title="  回访：李雷，  问轮胎 ").title == "回访：李雷， 问轮胎"
    assert first.created_by is None and first.org_id == world.org.pk


def test_a_role_task_is_for_every_holder_a_personal_one_for_that_person(world):
    second_advisor = f.staff(world.org, ADVISOR, stores=[world.a1])
    for_role = role_task(world)
    for_person = services.create_task(
        world.manager_a1,
        store_id=world.a1.pk,
        title="给车主送发票",
        assignee_id=world.advisor_a1.pk,
    )
    assert for_person.created_by == world.manager_a1
    assert mine(world.advisor_a1) == [for_person.pk, for_role.pk]  # by due: now, tomorrow
    assert mine(second_advisor) == [for_role.pk]
    assert mine(world.tech_a1) == []
    # another store's advisors do not see A1's role tasks
    assert mine(f.staff(world.org, ADVISOR, stores=[world.a2])) == []


def test_a_task_needs_a_title_and_a_person_or_role(world):
    with pytest.raises(Invalid) as exc:
        services.create_task(world.advisor_a1, store_id=world.a1.pk, title="  ")
    assert set(exc.value.fields) == {"title"}
    with pytest.raises(Invalid) as exc:
        services.create_task(world.advisor_a1, store_id=world.a1.pk, title="回访")
    assert set(exc.value.fields) == {"assignee"}
    with pytest.raises(Invalid) as exc:
        services.create_task(world.advisor_a1, store_id=world.a1.pk, title="回访", role="boss")
    assert set(exc.value.fields) == {"role"}


def test_wrong_store_other_org_and_strangers_are_refused(world, owner):
    with pytest.raises(Invalid) as exc:  # a store the advisor does not work in
        services.create_task(world.advisor_a1, store_id=world.a2.pk, title="回访", role=ADVISOR)
    assert "store" in exc.value.fields
    with pytest.raises(Invalid) as exc:  # a colleague of another store
        services.create_task(
            world.manager_a1, store_id=world.a1.pk, title="回访", assignee_id=world.manager_a2.pk
        )
    assert "assignee" in exc.value.fields
    stranger = cf.customer(world.b1, name="外人")
    with pytest.raises(Invalid) as exc:  # another org's customer, by a person or a rule
        services.create_task(
            world.advisor_a1,
            store_id=world.a1.pk,
            title="回访",
            role=ADVISOR,
            customer_id=stranger.pk,
        )
    assert "customer" in exc.value.fields
    with pytest.raises(Invalid):
        role_task(world, customer_id=stranger.pk)
    with pytest.raises(Forbidden):  # technicians do not hand out work
        services.create_task(world.tech_a1, store_id=world.a1.pk, title="回访", role=ADVISOR)
    task = role_task(world, owner)
    with pytest.raises(NotFound):
        selectors.get_task(world.other_admin, task.pk)
    with pytest.raises(Forbidden):
        services.complete_task(world.other_admin, task, result="reached")


def test_a_work_order_brings_its_customer_and_vehicle(world):
    wo = sf.work_order(world.a1)
    task = role_task(world, work_order_id=wo.pk)
    assert (task.customer_id, task.vehicle_id) == (wo.customer_id, wo.vehicle_id)


def test_completing_with_a_next_step_makes_the_follow_up(world, owner):
    task = role_task(world, owner)
    due = later(days=3)
    done = services.complete_task(
        world.advisor_a1,
        task,
        result=Task.Result.BOOKED,
        note="约了周六上午保养",
        next_step="周五提醒到店",
        next_due=due,
    )
    assert done.status == Task.Status.DONE and done.result == "booked"
    assert done.completed_by == world.advisor_a1 and done.completed_at is not None
    follow_up = Task.objects.get(follows=done)
    assert follow_up.title == "周五提醒到店" and follow_up.due_at == due
    assert follow_up.status == Task.Status.OPEN and follow_up.kind == task.kind
    # the advisor who took the role's task keeps the customer
    assert follow_up.assignee == world.advisor_a1 and follow_up.role == ADVISOR
    assert (follow_up.customer_id, follow_up.vehicle_id) == (owner.pk, owner.car.pk)
    assert follow_up.source == f"task:{task.pk}"
    assert mine(world.advisor_a1) == [follow_up.pk]


def test_a_next_step_needs_a_date_that_is_not_past(world):
    task = role_task(world)
    with pytest.raises(Invalid) as exc:
        services.complete_task(world.advisor_a1, task, result="reached", next_step="再打一次")
    assert set(exc.value.fields) == {"next_due"}
    with pytest.raises(Invalid) as exc:
        services.complete_task(
            world.advisor_a1,
            task,
            result="reached",
            next_step="再打一次",
            next_due=timezone.now() - datetime.timedelta(days=2),
        )
    assert set(exc.value.fields) == {"next_due"}
    with pytest.raises(Invalid) as exc:
        services.complete_task(world.advisor_a1, task, result="maybe")
    assert set(exc.value.fields) == {"result"}
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN and not Task.objects.filter(follows=task).exists()


def test_a_technician_cannot_complete_an_advisors_task(world):
    task = role_task(world)
    personal = services.create_task(
        world.manager_a1, store_id=world.a1.pk, title="送发票", assignee_id=world.advisor_a1.pk
    )
    for t in (task, personal):
        with pytest.raises(Forbidden):
            services.complete_task(world.tech_a1, t, result="done")
        t.refresh_from_db()
        assert t.status == Task.Status.OPEN
    # another advisor may not take a colleague's personal task; the store manager may
    with pytest.raises(Forbidden):
        services.complete_task(
            f.staff(world.org, ADVISOR, stores=[world.a1]), personal, result="done"
        )
    services.complete_task(world.manager_a1, personal, result="done")


def test_closed_and_cancelled_tasks_are_refused_with_409(world):
    task = role_task(world)
    services.complete_task(world.advisor_a1, task, result="no_answer")
    with pytest.raises(Conflict) as exc:
        services.complete_task(world.advisor_a1, task, result="reached")
    assert exc.value.status == 409
    with pytest.raises(Conflict):
        services.cancel_task(world.manager_a1, task, reason="重复")
    other = role_task(world, title="另一条")
    services.cancel_task(world.manager_a1, other, reason="客户已到店")
    other.refresh_from_db()
    assert other.status == Task.Status.CANCELLED and other.result_note == "客户已到店"
    with pytest.raises(Conflict):
        services.complete_task(world.advisor_a1, other, result="reached")
    with pytest.raises(Conflict):
        services.reassign_task(world.manager_a1, other, assignee_id=world.advisor_a1.pk)


def test_only_managers_cancel_and_pass_on(world):
    task = role_task(world)
    with pytest.raises(Forbidden):
        services.cancel_task(world.advisor_a1, task, reason="不想打")
    with pytest.raises(Forbidden):
        services.reassign_task(world.advisor_a1, task, assignee_id=world.tech_a1.pk)
    with pytest.raises(Invalid) as exc:
        services.cancel_task(world.manager_a1, task, reason=" ")
    assert "reason" in exc.value.fields
    with pytest.raises(Invalid) as exc:
        services.reassign_task(world.manager_a1, task, assignee_id=world.manager_a2.pk)
    assert "assignee" in exc.value.fields
    with pytest.raises(Forbidden):  # a manager of another store
        services.cancel_task(world.manager_a2, task, reason="不是我的店")
    services.reassign_task(world.manager_a1, task, assignee_id=world.tech_a1.pk)
    assert mine(world.tech_a1) == [task.pk] and mine(world.advisor_a1) == []
    services.reassign_task(world.manager_a1, task, role="front_desk")
    task.refresh_from_db()
    assert task.assignee is None and task.role == "front_desk"


def test_the_badge_counts_open_and_overdue_in_one_query(world, django_assert_num_queries):
    role_task(world, due_at=earlier())
    role_task(world, due_at=earlier(days=3))
    role_task(world)
    services.create_task(
        world.manager_a1, store_id=world.a1.pk, title="别人的", assignee_id=world.tech_a1.pk
    )
    user = world.advisor_a1
    user.role_codes(), scoping.store_ids(user)  # known already on every page
    with django_assert_num_queries(1):
        assert selectors.counts(user) == {"open": 3, "overdue": 2}


# --- pages --------------------------------------------------------------------------------


def test_inbox_lists_mine_and_managers_see_all(world, owner):
    mine_task = role_task(world, owner)
    techs = services.create_task(
        world.manager_a1, store_id=world.a1.pk, title="检查举升机", assignee_id=world.tech_a1.pk
    )
    advisor = client_for(world.advisor_a1)
    body = advisor.get("/tasks/").content.decode()
    assert "我的待办" in body and "已完成" in body
    assert 'data-tab="all"' not in body  # not a manager
    assert "保养后三天回访" in body and "检查举升机" not in body
    assert "回访电话" in body and "李雷" in body and "京A12345" in body
    assert 'href="tel:13712345678"' in body  # advisors call customers
    assert "检查举升机" not in advisor.get("/tasks/?tab=all").content.decode()

    manager = client_for(world.manager_a1)
    body = manager.get("/tasks/").content.decode()
    assert 'data-tab="all"' in body and "检查举升机" not in body
    body = manager.get("/tasks/?tab=all").content.decode()
    assert "保养后三天回访" in body and "检查举升机" in body
    assert f'data-task-id="{mine_task.pk}"' in body and f'data-task-id="{techs.pk}"' in body
    # a manager of another store sees none of A1's
    body = client_for(world.manager_a2).get("/tasks/?tab=all").content.decode()
    assert "保养后三天回访" not in body and "没有待办" in body


def test_phones_are_masked_for_roles_that_do_not_call(world, owner):
    services.create_task(
        world.manager_a1,
        store_id=world.a1.pk,
        title="试车后回访",
        role="technician",
        customer_id=owner.pk,
    )
    body = client_for(world.tech_a1).get("/tasks/").content.decode()
    assert "试车后回访" in body and "137****5678" in body and "13712345678" not in body


def test_overdue_rows_are_red_and_counted(world):
    late = role_task(world, title="逾期的回访", due_at=earlier())
    role_task(world, title="明天的回访")
    body = client_for(world.advisor_a1).get("/tasks/").content.decode()
    row = body.split(f'data-task-id="{late.pk}"')[0].rsplit("<div", 1)[1]
    assert "bg-red-lt" in row
    assert body.count('data-overdue="1"') == 1 and "已逾期" in body
    assert "2 条待办" in body and "1 条已逾期" in body
    # and the badge in the navigation
    assert 'data-testid="nav-task-open"' in body and 'data-testid="nav-task-overdue"' in body


def test_filter_by_kind_and_the_completed_tab(world):
    role_task(world, title="续保提醒甲", kind=Task.Kind.RENEWAL)
    call = role_task(world, title="回访乙")
    services.complete_task(world.advisor_a1, call, result="reached", note="很满意")
    client = client_for(world.advisor_a1)
    body = client.get("/tasks/?kind=renewal").content.decode()
    assert "续保提醒甲" in body and "续保续费" in body
    assert "回访乙" not in client.get("/tasks/?kind=follow_up").content.decode()
    partial = client.get("/tasks/?kind=renewal", headers={"HX-Request": "true"})
    assert "续保提醒甲" in partial.content.decode() and "<html" not in partial.content.decode()
    done = client.get("/tasks/?tab=done").content.decode()
    assert "回访乙" in done and "已联系上" in done and "续保提醒甲" not in done


def test_task_page_has_the_customer_vehicle_and_work_order_at_hand(world, owner):
    wo = sf.work_order(world.a1, owner, owner.car)
    task = role_task(world, owner, work_order_id=wo.pk)
    body = client_for(world.advisor_a1).get(f"/tasks/{task.pk}/").content.decode()
    assert f'href="/customers/{owner.pk}/"' in body
    assert f'href="/work-orders/{wo.pk}/"' in body and wo.number in body
    assert 'href="tel:13712345678"' in body and "京A12345" in body
    assert "记录处理结果" in body and "已预约" in body and "无人接听" in body
    assert "转交" not in body  # advisors do not pass on or cancel
    body = client_for(world.manager_a1).get(f"/tasks/{task.pk}/").content.decode()
    assert "转交" in body and "取消待办" in body
    body = client_for(world.tech_a1).get(f"/tasks/{task.pk}/").content.decode()
    assert "137****5678" in body and "tel:" not in body and "记录处理结果" not in body
    assert client_for(world.manager_a2).get(f"/tasks/{task.pk}/").status_code == 404


def test_complete_form_shows_errors_in_chinese_and_keeps_input(world):
    task = role_task(world)
    client = client_for(world.advisor_a1)
    url = f"/tasks/{task.pk}/complete/"
    r = client.post(url, {"done-note": "客户在开会"})
    body = r.content.decode()
    assert r.status_code == 422 and "请选择处理结果。" in body and "客户在开会" in body
    r = client.post(url, {"done-result": "reached", "done-next_step": "下周再打"})
    body = r.content.decode()
    assert r.status_code == 422 and "请填写下一步的截止时间。" in body
    assert 'value="下周再打"' in body and 'value="reached" class="form-check-input"' in body
    r = client.post(
        url, {"done-result": "reached", "done-next_step": "再打", "done-next_due": "明天"}
    )
    assert r.status_code == 422 and "请输入日期和时间" in r.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN

    due = timezone.localtime(later(days=2)).strftime(LOCAL)
    r = client.post(
        url,
        {
            "done-result": "booked",
            "done-note": "约周六",
            "done-next_step": "周五提醒",
            "done-next_due": due,
        },
    )
    assert r.status_code == 302 and r["Location"] == "/tasks/"
    task.refresh_from_db()
    assert task.status == Task.Status.DONE and task.result == "booked"
    follow_up = Task.objects.get(follows=task)
    assert timezone.localtime(follow_up.due_at).strftime(LOCAL) == due
    body = client.get("/tasks/").content.decode()
    assert "已完成：保养后三天回访" in body and "周五提醒" in body
    assert f'data-task-id="{task.pk}"' not in body

    r = client.post(url, {"done-result": "reached"})
    assert r.status_code == 409 and "这条待办已经关闭。" in r.content.decode()


def test_a_technician_posting_a_result_is_told_no(world):
    task = role_task(world)
    r = client_for(world.tech_a1).post(f"/tasks/{task.pk}/complete/", {"done-result": "done"})
    assert r.status_code == 403 and "这条待办不是分配给您的。" in r.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN


def test_managers_cancel_and_pass_on_from_the_page(world):
    task = role_task(world)
    manager = client_for(world.manager_a1)
    r = manager.post(f"/tasks/{task.pk}/reassign/", {"move-assignee": str(world.tech_a1.pk)})
    assert r.status_code == 302
    task.refresh_from_db()
    assert task.assignee == world.tech_a1
    r = manager.post(f"/tasks/{task.pk}/cancel/", {"cancel-reason": ""})
    assert r.status_code == 422 and "请说明取消的原因。" in r.content.decode()
    r = manager.post(f"/tasks/{task.pk}/cancel/", {"cancel-reason": "客户已到店"})
    assert r.status_code == 302
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED
    assert (
        client_for(world.advisor_a1)
        .post(f"/tasks/{task.pk}/cancel/", {"cancel-reason": "x"})
        .status_code
        == 403
    )


def test_new_task_form(world, owner):
    client = client_for(world.advisor_a1)
    page = client.get("/tasks/new/").content.decode()
    assert "新建待办" in page and "要做的事情" in page
    r = client.post("/tasks/new/", {"store": world.a1.pk, "details": "记得问轮胎", "due_at": ""})
    body = r.content.decode()
    assert r.status_code == 422
    assert "请填写要做的事情。" in body and "请填写截止时间。" in body and "记得问轮胎" in body
    due = timezone.localtime(later()).strftime(LOCAL)
    data = {"store": world.a1.pk, "title": "问轮胎", "kind": "follow_up", "due_at": due}
    r = client.post("/tasks/new/", data)
    assert r.status_code == 422 and "请把待办指派给某个人或某个角色。" in r.content.decode()
    r = client.post("/tasks/new/", {**data, "role": ADVISOR, "customer": "京Z99999"})
    assert (
        r.status_code == 422 and "没有找到该手机号、车牌号或编号对应的客户。" in r.content.decode()
    )
    assert 'value="问轮胎"' in r.content.decode()
    r = client.post("/tasks/new/", {**data, "role": ADVISOR, "customer": "京a12345"})
    task = Task.objects.get(title="问轮胎")
    assert r.status_code == 302 and r["Location"] == f"/tasks/{task.pk}/"
    assert task.created_by == world.advisor_a1 and task.role == ADVISOR
    assert (task.customer_id, task.vehicle_id) == (owner.pk, owner.car.pk)
    assert client_for(world.tech_a1).get("/tasks/new/").status_code == 403


# --- API ----------------------------------------------------------------------------------


def test_api_lists_reads_and_pages(world, owner):
    tasks = [role_task(world, owner, title=f"回访{i}", due_at=later(hours=i + 1)) for i in range(3)]
    services.create_task(
        world.manager_a1, store_id=world.a1.pk, title="技师的", assignee_id=world.tech_a1.pk
    )
    api = api_client_for(world.advisor_a1)
    r = api.get("/api/v1/tasks?limit=2")
    assert r.status_code == 200
    page = r.json()
    assert [t["id"] for t in page["items"]] == [tasks[0].pk, tasks[1].pk]
    item = page["items"][0]
    assert item["customer_name"] == "李雷" and item["customer_mobile"] == "13712345678"
    assert item["plate"] == "京A12345" and item["role"] == ADVISOR and not item["is_overdue"]
    r = api.get(f"/api/v1/tasks?limit=2&cursor={page['next_cursor']}").json()
    assert [t["id"] for t in r["items"]] == [tasks[2].pk] and r["next_cursor"] is None
    assert len(api.get("/api/v1/tasks?view=all").json()["items"]) == 3  # not a manager
    assert len(api_client_for(world.manager_a1).get("/api/v1/tasks?view=all").json()["items"]) == 4
    assert api.get("/api/v1/tasks?kind=renewal").json()["items"] == []
    r = api.get("/api/v1/tasks?view=everything&status=later")
    assert r.status_code == 422 and set(r.json()["fields"]) == {"view", "status"}
    assert api.get("/api/v1/tasks?cursor=garbage").status_code == 422
    tech = api_client_for(world.tech_a1).get(f"/api/v1/tasks/{tasks[0].pk}").json()
    assert tech["customer_mobile"] == "137****5678"
    assert api_client_for(world.other_admin).get(f"/api/v1/tasks/{tasks[0].pk}").status_code == 404


def test_api_creates_completes_and_refuses(world, owner):
    api = api_client_for(world.advisor_a1)
    r = send_json(
        api,
        "post",
        "/api/v1/tasks",
        {
            "title": "电话确认取车时间",
            "kind": "follow_up",
            "role": ADVISOR,
            "customer_id": owner.pk,
        },
    )
    assert r.status_code == 201, r.content
    task_id = r.json()["id"]
    assert r.json()["store_id"] == world.a1.pk  # the advisor's only store
    r = send_json(api, "post", "/api/v1/tasks", {"title": "", "store_id": world.a2.pk})
    assert r.status_code == 422 and "store" in r.json()["fields"]
    r = send_json(api, "post", "/api/v1/tasks", {"title": "", "store_id": world.a1.pk})
    assert r.status_code == 422 and r.json()["fields"]["title"] == "请填写要做的事情。"
    r = send_json(api_client_for(world.tech_a1), "post", "/api/v1/tasks", {"title": "x"})
    assert r.status_code == 403

    r = send_json(
        api_client_for(world.tech_a1),
        "post",
        f"/api/v1/tasks/{task_id}/complete",
        {"result": "done"},
    )
    assert r.status_code == 403
    r = send_json(
        api, "post", f"/api/v1/tasks/{task_id}/complete", {"result": "booked", "next_step": "提醒"}
    )
    assert r.status_code == 422 and "next_due" in r.json()["fields"]
    next_due = timezone.localtime(later(days=2)).replace(tzinfo=None).isoformat()
    r = send_json(
        api,
        "post",
        f"/api/v1/tasks/{task_id}/complete",
        {"result": "booked", "note": "周六到店", "next_step": "周五提醒", "next_due": next_due},
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "done" and len(body["next_task_ids"]) == 1
    follow_up = Task.objects.get(pk=body["next_task_ids"][0])
    assert timezone.localtime(follow_up.due_at).replace(tzinfo=None).isoformat() == next_due
    r = send_json(api, "post", f"/api/v1/tasks/{task_id}/complete", {"result": "reached"})
    assert r.status_code == 409 and r.json()["code"] == "closed"
    assert (
        send_json(api, "post", "/api/v1/tasks/999999/complete", {"result": "x"}).status_code == 404
    )
    closed = api.get("/api/v1/tasks?status=done").json()["items"]
    assert [t["id"] for t in closed] == [task_id]


def test_api_cancel_and_reassign_are_for_managers(world):
    task = role_task(world)
    advisor, manager = api_client_for(world.advisor_a1), api_client_for(world.manager_a1)
    url = f"/api/v1/tasks/{task.pk}"
    assert send_json(advisor, "post", f"{url}/cancel", {"reason": "x"}).status_code == 403
    assert send_json(advisor, "post", f"{url}/reassign", {"role": "front_desk"}).status_code == 403
    r = send_json(manager, "post", f"{url}/reassign", {"assignee_id": world.manager_a2.pk})
    assert r.status_code == 422 and "assignee" in r.json()["fields"]
    r = send_json(manager, "post", f"{url}/reassign", {"assignee_id": world.tech_a1.pk})
    assert r.status_code == 200 and r.json()["assignee_id"] == world.tech_a1.pk
    r = send_json(manager, "post", f"{url}/cancel", {"reason": "客户已到店"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert send_json(manager, "post", f"{url}/cancel", {"reason": "again"}).status_code == 409


# --- navigation ---------------------------------------------------------------------------


def test_navigation_badge_one_query_per_page(world):
    role_task(world, due_at=earlier())
    role_task(world)
    client = client_for(world.advisor_a1)
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/").content.decode()
    assert 'data-nav="task"' in body
    assert 'data-testid="nav-task-open" title="待处理">2<' in body
    assert 'data-testid="nav-task-overdue" title="已逾期">1<' in body
    task_queries = [q for q in queries.captured_queries if "automation_task" in q["sql"]]
    assert len(task_queries) == 1
    # htmx fragments draw no navigation and pay nothing for it (the rows and their summary)
    with CaptureQueriesContext(connection) as queries:
        client.get("/tasks/?kind=renewal", headers={"HX-Request": "true"})
    assert len([q for q in queries.captured_queries if "automation_task" in q["sql"]]) == 2


def test_closed_tasks_page_newest_first(world):
    made = [role_task(world, title=f"回访{i}") for i in range(3)]
    for task in made:
        services.complete_task(world.advisor_a1, task, result="reached")
    api = api_client_for(world.advisor_a1)
    first = api.get("/api/v1/tasks?status=closed&limit=2").json()
    assert [t["id"] for t in first["items"]] == [made[2].pk, made[1].pk]
    rest = api.get(f"/api/v1/tasks?status=closed&limit=2&cursor={first['next_cursor']}").json()
    assert [t["id"] for t in rest["items"]] == [made[0].pk] and rest["next_cursor"] is None
