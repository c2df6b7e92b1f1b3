"""Submitting a survey (validated, once per visit, low scores flagged) and handling a low score
(managers of the store only, with a note, once)."""

from __future__ import annotations

import pytest

from autocrm.core import events
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import AuditLog
from autocrm.feedback.models import Survey
from autocrm.feedback.services import handle_survey, submit_survey
from autocrm.portal import services as links
from tests import service_factories as sf
from tests.feedback.conftest import GOOD

pytestmark = pytest.mark.django_db


def test_good_survey_is_not_low(settled):
    wo = settled()
    survey = submit_survey(wo, **GOOD, comment=" 很好 ")
    assert not survey.is_low and survey.customer_id == wo.customer_id
    assert survey.store_id == wo.store_id and survey.comment == "很好"


@pytest.mark.parametrize(
    "change, low",
    [
        ({"nps": 6}, True),
        ({"nps": 7}, False),
        ({"nps": 0}, True),
        ({"timeliness": 3}, True),
        ({"professionalism": 2}, True),
        ({"attitude": 1}, True),
        ({"result": 3}, True),
        ({"result": 4}, False),
    ],
)
def test_low_when_nps_six_or_less_or_any_dimension_three_or_less(settled, change, low):
    assert submit_survey(settled(), **{**GOOD, **change}).is_low is low


def test_low_survey_publishes_an_event(settled, django_capture_on_commit_callbacks):
    seen = []
    events.subscribe("survey.low", seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            survey = submit_survey(settled(), **{**GOOD, "nps": 2}, reasons=["slow", "price"])
    finally:
        events.unsubscribe("survey.low", seen.append)
    assert seen and seen[0]["survey_id"] == survey.pk
    assert survey.reasons == ["slow", "price"]


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({**GOOD, "nps": ""}, "nps", "请选择您推荐我们的可能性"),
        ({**GOOD, "nps": 11}, "nps", "0 到 10"),
        ({**GOOD, "nps": -1}, "nps", "0 到 10"),
        ({**GOOD, "nps": "abc"}, "nps", "0 到 10"),
        ({k: v for k, v in GOOD.items() if k != "attitude"}, "attitude", "1 到 5 颗星"),
        ({**GOOD, "result": 0}, "result", "1 到 5 颗星"),
        ({**GOOD, "timeliness": 6}, "timeliness", "1 到 5 颗星"),
        ({**GOOD, "reasons": ["slow", "hacked"]}, "reasons", "请从列表中选择"),
        ({**GOOD, "comment": "太" * 1001}, "comment", "1000"),
    ],
)
def test_invalid_answers_are_refused_per_field_in_chinese(settled, data, field, message):
    wo = settled()
    with pytest.raises(Invalid) as exc:
        submit_survey(wo, **data)
    assert message in str(exc.value.fields[field])
    assert not Survey.objects.filter(work_order=wo).exists()


def test_one_survey_per_visit(settled):
    wo = settled()
    submit_survey(wo, **GOOD)
    with pytest.raises(Conflict) as exc:
        submit_survey(wo, **{**GOOD, "nps": 1})
    assert exc.value.code == "already_submitted"
    assert Survey.objects.get(work_order=wo).nps == 9


def test_unfinished_visit_cannot_be_rated(world):
    wo = sf.work_order(world.a1, status="in_progress")
    with pytest.raises(Conflict):
        submit_survey(wo, **GOOD)


def test_through_the_link_is_audited_as_portal(settled):
    wo = settled()
    link, _token = links.issue_link(wo, "survey")
    survey = submit_survey(link, **GOOD)
    entry = AuditLog.objects.get(object_type="feedback.Survey", object_id=str(survey.pk))
    assert entry.source == "portal" and entry.action == "create"


def test_link_of_another_purpose_is_refused(settled):
    link, _token = links.issue_link(settled(), "progress")
    with pytest.raises(NotFound):
        submit_survey(link, **GOOD)


def test_manager_handles_a_low_score(world, settled):
    survey = submit_survey(settled(), **{**GOOD, "nps": 3})
    done = handle_survey(world.manager_a1, survey, note="已回电，约好免费复检")
    assert done.handled_by == world.manager_a1 and done.handled_at is not None
    assert done.handling_note == "已回电，约好免费复检"
    with pytest.raises(Conflict) as exc:
        handle_survey(world.hq, survey, note="再次处理")
    assert exc.value.code == "already_handled"


def test_handling_refusals(world, settled):
    survey = submit_survey(settled(), **{**GOOD, "nps": 3})
    with pytest.raises(Forbidden):
        handle_survey(world.advisor_a1, survey, note="我来处理")
    with pytest.raises(NotFound):
        handle_survey(world.manager_a2, survey, note="别的门店")
    with pytest.raises(NotFound):
        handle_survey(world.other_admin, survey, note="别的集团")
    with pytest.raises(Invalid) as exc:
        handle_survey(world.manager_a1, survey, note="  ")
    assert "请填写处理情况" in str(exc.value.fields["note"])
    survey.refresh_from_db()
    assert survey.handled_at is None
