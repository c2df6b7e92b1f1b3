"""API of the feedback app: surveys (the low-score alerts) and their handling."""

from __future__ import annotations

import datetime

from ninja import Field, Router, Schema

from autocrm.core.api import page_of
from autocrm.core.pagination import paginate
from autocrm.core.services import require
from autocrm.feedback import selectors, services

router = Router(tags=["feedback"])


class SurveyOut(Schema):
    id: int
    store_id: int
    work_order_id: int
    work_order_number: str
    customer_id: int | None
    customer_name: str
    nps: int
    timeliness: int
    professionalism: int
    attitude: int
    result: int
    reasons: list[str]
    comment: str
    is_low: bool
    submitted_at: datetime.datetime
    handled_at: datetime.datetime | None
    handled_by_id: int | None
    handling_note: str


SurveyPage = page_of(SurveyOut)


class HandleIn(Schema):
    note: str = Field(..., max_length=300)


def survey_out(survey) -> dict:
    data = {f: getattr(survey, f, None) for f in SurveyOut.model_fields}
    data["work_order_number"] = survey.work_order.number
    data["customer_name"] = survey.customer.name if survey.customer_id else ""
    return data


@router.get("/surveys", response=SurveyPage)
def list_surveys(
    request,
    low: bool | None = None,
    handled: bool | None = None,
    store: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    """``?low=true`` lists low scores; with ``handled=false`` the open alerts only."""
    require(request.user, "survey.view")
    qs = selectors.surveys(request.user)
    if low is not None:
        qs = qs.filter(is_low=low)
    if handled is not None:
        qs = qs.filter(handled_at__isnull=not handled)
    if store is not None:
        qs = qs.filter(store_id=store)
    page = paginate(qs, cursor, limit, descending=True)
    page["items"] = [survey_out(s) for s in page["items"]]
    return page


@router.get("/surveys/{survey_id}", response=SurveyOut)
def get_survey(request, survey_id: int):
    require(request.user, "survey.view")
    return survey_out(selectors.get_survey(request.user, survey_id))


@router.post("/surveys/{survey_id}/handle", response=SurveyOut)
def handle_survey(request, survey_id: int, payload: HandleIn):
    require(request.user, "survey.handle")
    survey = selectors.get_survey(request.user, survey_id)
    return survey_out(services.handle_survey(request.user, survey, note=payload.note))
