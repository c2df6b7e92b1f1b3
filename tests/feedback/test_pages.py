"""The owner's survey page, the managers' low-score list (scoped to their stores) and the API."""

from __future__ import annotations

import pytest
from django.test import Client

from autocrm.feedback.models import Survey
from autocrm.feedback.services import submit_survey
from tests.conftest import api_client_for, send_json
from tests.feedback.conftest import GOOD
from tests.portal.conftest import csrf_from, owner_client

pytestmark = pytest.mark.django_db


def test_owner_rates_a_visit_through_the_link(settled, link_path):
    wo = settled()
    path = link_path(wo, "survey")
    client = owner_client()
    page = client.get(path)
    body = page.content.decode()
    assert page.status_code == 200
    assert "服务满意度评价" in body and "北京朝阳店" in body and wo.number in body
    assert "等待时间太长" in body  # the reasons are on the page (shown by JS when low)
    r = client.post(
        path,
        {
            "csrfmiddlewaretoken": csrf_from(page),
            **GOOD,
            "nps": 4,
            "reasons": ["slow", "communication"],
            "comment": "等了三个小时",
        },
    )
    assert r.status_code == 302
    survey = Survey.objects.get(work_order=wo)
    assert survey.is_low and survey.reasons == ["slow", "communication"]
    thanks = client.get(r["Location"]).content.decode()
    assert "感谢您的评价" in thanks and "店长会认真阅读" in thanks


def test_survey_page_gives_the_low_thresholds_to_its_script(settled, link_path):
    """portal.js asks for reasons when a score is low: it reads where "low" ends from the form,
    and finds every star rating by its marker, never from a list of its own."""
    body = owner_client().get(link_path(settled(), "survey")).content.decode()
    assert 'data-low-nps="6"' in body and 'data-low-stars="3"' in body
    assert body.count("data-survey-stars") == 4


def test_second_submission_is_refused_politely(settled, link_path):
    wo = settled()
    path = link_path(wo, "survey")
    client = Client()
    assert client.post(path, GOOD).status_code == 302
    r = client.post(path, {**GOOD, "nps": 0})
    assert r.status_code == 409
    assert "您已经评价过本次服务" in r.content.decode()
    assert Survey.objects.get(work_order=wo).nps == 9
    assert "您已经评价过本次服务" in client.get(path).content.decode()


def test_invalid_answers_show_chinese_field_errors(settled, link_path):
    wo = settled()
    r = Client().post(link_path(wo, "survey"), {"nps": "11", "timeliness": "5", "comment": "好"})
    body = r.content.decode()
    assert r.status_code == 422
    assert "请选择 0 到 10 之间的分数" in body and "请选择 1 到 5 颗星" in body
    assert 'value="好"' in body or ">好</textarea>" in body  # answers kept
    assert not Survey.objects.filter(work_order=wo).exists()


# --- managers' alert list -----------------------------------------------------------------


@pytest.fixture
def alerts(world, settled):
    low_a1 = submit_survey(settled(name="差评甲"), **{**GOOD, "nps": 2}, comment="太慢了")
    high_a1 = submit_survey(settled(name="好评乙"), **GOOD)
    low_a2 = submit_survey(settled(world.a2, name="差评丙"), **{**GOOD, "result": 2})
    low_b1 = submit_survey(settled(world.b1, name="别家丁"), **{**GOOD, "nps": 1})
    return low_a1, high_a1, low_a2, low_b1


def test_manager_sees_low_scores_of_own_store_only(world, login, alerts):
    low_a1, high_a1, low_a2, low_b1 = alerts
    r = login(world.manager_a1).get("/feedback/alerts/")
    body = r.content.decode()
    assert r.status_code == 200
    assert "低分回访" in body and "差评甲" in body and "太慢了" in body
    assert low_a1.work_order.number in body
    assert "好评乙" not in body and "差评丙" not in body and "别家丁" not in body
    assert 'data-testid="handle-submit"' in body
    assert 'data-nav="feedback"' in body  # in the menu


def test_hq_sees_every_store_of_its_org(world, login, alerts):
    body = login(world.hq).get("/feedback/alerts/").content.decode()
    assert "差评甲" in body and "差评丙" in body and "别家丁" not in body
    other = login(world.other_admin).get("/feedback/alerts/").content.decode()
    assert "别家丁" in other and "差评甲" not in other


def test_advisor_sees_but_cannot_handle(world, login, alerts):
    low_a1 = alerts[0]
    client = login(world.advisor_a1)
    body = client.get("/feedback/alerts/").content.decode()
    assert "差评甲" in body and 'data-testid="handle-submit"' not in body
    r = client.post(f"/feedback/alerts/{low_a1.pk}/handle/", {"note": "我来"})
    assert r.status_code == 403
    low_a1.refresh_from_db()
    assert low_a1.handled_at is None


def test_technician_has_no_alert_list(world, login, alerts):
    assert login(world.tech_a1).get("/feedback/alerts/").status_code == 403


def test_mark_handled_with_a_note(world, login, alerts):
    low_a1 = alerts[0]
    client = login(world.manager_a1)
    r = client.post(f"/feedback/alerts/{low_a1.pk}/handle/", {"note": "已回电致歉"})
    assert r.status_code == 302
    low_a1.refresh_from_db()
    assert low_a1.handled_by == world.manager_a1 and low_a1.handling_note == "已回电致歉"
    body = client.get("/feedback/alerts/").content.decode()
    assert "差评甲" not in body and "没有待处理的差评" in body
    assert "已回电致歉" in client.get("/feedback/alerts/?handled=1").content.decode()


def test_handle_needs_a_note_and_own_store(world, login, alerts):
    low_a1, _h, low_a2, low_b1 = alerts
    client = login(world.manager_a1)
    r = client.post(f"/feedback/alerts/{low_a1.pk}/handle/", {"note": ""}, follow=True)
    assert "请填写处理情况" in r.content.decode()
    assert client.post(f"/feedback/alerts/{low_a2.pk}/handle/", {"note": "x"}).status_code == 404
    assert client.post(f"/feedback/alerts/{low_b1.pk}/handle/", {"note": "x"}).status_code == 404
    for s in (low_a1, low_a2, low_b1):
        s.refresh_from_db()
        assert s.handled_at is None


# --- API ----------------------------------------------------------------------------------


def test_api_lists_low_scores_and_handles_them(world, alerts):
    low_a1, high_a1, low_a2, _b = alerts
    client = api_client_for(world.manager_a1)
    r = client.get("/api/v1/surveys?low=true")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["id"] for i in items] == [low_a1.pk]
    assert items[0]["customer_name"] == "差评甲" and items[0]["is_low"]
    assert {i["id"] for i in client.get("/api/v1/surveys").json()["items"]} == {
        low_a1.pk,
        high_a1.pk,
    }
    r = send_json(client, "post", f"/api/v1/surveys/{low_a1.pk}/handle", {"note": "已回访"})
    assert r.status_code == 200 and r.json()["handling_note"] == "已回访"
    assert client.get("/api/v1/surveys?low=true&handled=false").json()["items"] == []
    r = send_json(client, "post", f"/api/v1/surveys/{low_a1.pk}/handle", {"note": "again"})
    assert r.status_code == 409 and r.json()["code"] == "already_handled"


def test_api_refusals(world, alerts):
    low_a1, _h, low_a2, _b = alerts
    advisor, manager = api_client_for(world.advisor_a1), api_client_for(world.manager_a1)
    r = send_json(advisor, "post", f"/api/v1/surveys/{low_a1.pk}/handle", {"note": "x"})
    assert r.status_code == 403
    r = send_json(manager, "post", f"/api/v1/surveys/{low_a2.pk}/handle", {"note": "x"})
    assert r.status_code == 404
    r = send_json(manager, "post", f"/api/v1/surveys/{low_a1.pk}/handle", {"note": ""})
    assert r.status_code == 422 and "note" in r.json()["fields"]
    assert api_client_for(world.tech_a1).get("/api/v1/surveys?low=true").status_code == 403
    assert Client().get("/api/v1/surveys").status_code == 401
