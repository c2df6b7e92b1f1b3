"""API of the report builder: the saved reports the caller may see, and one's result rows
computed on the caller's scope."""

from __future__ import annotations

import datetime

from ninja import Query, Router, Schema
from pydantic import Field

from autocrm.core.services import require
from autocrm.reports import builder

router = Router(tags=["reports"])


class SavedReportOut(Schema):
    id: int
    name: str
    dataset: str
    dimensions: list[str]
    measures: list[dict]
    filters: dict
    chart: str
    period: str
    shared_roles: list[str]
    pinned: bool
    schedule: str
    owner_id: int
    mine: bool


class ResultQuery(Schema):
    from_: datetime.date | None = Field(None, alias="from")
    to: datetime.date | None = None


class ResultOut(Schema):
    id: int
    name: str
    columns: list[str]
    keys: list[str]
    rows: list[dict]
    truncated: bool
    error: str
    from_: datetime.date | None = Field(None, alias="from")
    to: datetime.date | None


def _out(user, r) -> dict:
    return {
        **{f: getattr(r, f) for f in SavedReportOut.model_fields if f not in ("id", "mine")},
        "id": r.pk,
        "mine": r.owner_id == user.pk,
    }


@router.get("", response=list[SavedReportOut])
def list_reports(request):
    """The caller's own saved reports and those shared with one of their roles."""
    require(request.user, "reports.view", "reports.store")
    return [_out(request.user, r) for r in builder.visible_reports(request.user)]


@router.get("/{report_id}/result", response=ResultOut, by_alias=True)
def report_result(request, report_id: int, params: Query[ResultQuery]):
    """The report's rows over the caller's stores (not its owner's); numbers of money as
    strings of decimals. ``from``/``to`` replace the report's own period."""
    user = request.user
    require(user, "reports.view", "reports.store")
    report = builder.get_report(user, report_id)
    if params.from_ or params.to:
        result = builder.run(report, user, params.from_, params.to)
    else:
        result = builder.run(report, user)
    return {
        "id": report.pk,
        "name": report.name,
        "columns": result.columns,
        "keys": [*report.dimensions, *builder.measure_keys(report)],
        "rows": result.as_json_rows(),
        "truncated": result.truncated,
        "error": result.error,
        "from": result.start,
        "to": result.end,
    }
