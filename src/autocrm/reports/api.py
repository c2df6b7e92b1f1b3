"""API of the reports: KPIs over a period, grouped by store, region, person or time."""

from __future__ import annotations

import datetime

from ninja import Query, Router, Schema
from pydantic import Field

from autocrm.core.services import require
from autocrm.reports import selectors

router = Router(tags=["reports"])


class KpiQuery(Schema):
    metric: str = ""
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    group_by: str | None = None
    churn_days: int | None = Field(None, ge=1, le=3650)


class KpiGroup(Schema):
    key: str
    label: str
    value: str | int | None
    display: str


class KpiOut(Schema):
    metric: str
    label: str
    formula: str
    unit: str
    from_: datetime.date = Field(..., alias="from")
    to: datetime.date
    group_by: str | None
    value: str | int | None
    display: str
    groups: list[KpiGroup]


@router.get("/kpis", response=KpiOut, by_alias=True)
def get_kpi(request, params: Query[KpiQuery]):
    """``?metric=car_count&from=2026-01-01&to=2026-01-31&group_by=store``: the metric over the
    caller's stores (an advisor: their own work orders); values are strings of decimals,
    or null when the metric has nothing to divide by."""
    require(request.user, "reports.view")
    start, end = selectors.parse_period(params.from_, params.to)
    return selectors.kpi(
        request.user,
        params.metric,
        start,
        end,
        group_by=params.group_by or None,
        churn_days=params.churn_days,
    )


from autocrm.reports.builder_api import router as builder_router  # noqa: E402

router.add_router("/reports", builder_router)
