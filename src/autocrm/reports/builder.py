"""The report builder: saved reports over a whitelisted dataset, grouped by up to three
dimensions, with count / sum / average / distinct-count measures and a condition tree.

A report runs as one ``GROUP BY`` query on the *viewer's* scoped queryset (never the owner's),
limited to ``ROW_LIMIT`` groups. Filters reuse the rules engine's condition compiler
(``automation.conditions``) for the datasets it knows (customers, work orders, their lines
through the work order, payments, surveys); the rows are narrowed by a ``pk IN (…)``
subquery so a to-many filter can never repeat a row and inflate a sum.

Work orders and their lines are the finished (settled or closed) ones, dated by
``settled_at``; lines are the approved ones. Grouping by time truncates that date in the shop's
time zone. A work-order query also filters on the store ids the viewer sees (every store of
the org for HQ), so a year of lines by store × month reads the ``wo_store_settled`` index."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Avg, Count, F, Sum
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from autocrm.automation import conditions
from autocrm.core import scoping
from autocrm.core.errors import Forbidden, Invalid, NotFound
from autocrm.core.models import User
from autocrm.core.roles import ROLE_CODES
from autocrm.core.services import require
from autocrm.reports.models import SavedReport
from autocrm.reports.rollups import FINISHED, local_window

ROW_LIMIT = 2000
MAX_DIMENSIONS = 3
MAX_MEASURES = 4
MAX_RECIPIENTS = 20
AGGREGATES = ("count", "sum", "avg", "distinct")
TIME_DIMENSIONS = ("month", "week", "day")


def aggregate_labels() -> dict:
    return {
        "count": _("Count"),
        "sum": _("Sum"),
        "avg": _("Average"),
        "distinct": _("Distinct count"),
    }


def period_labels() -> dict:
    return {
        "last_30_days": _("Last 30 days"),
        "this_month": _("This month"),
        "last_month": _("Last month"),
        "last_12_months": _("Last 12 months"),
        "this_year": _("This year"),
        "all": _("All time"),
    }


@dataclass(frozen=True)
class Dim:
    key: str
    label: object
    path: str  # the grouped column (an id for a relation)
    label_path: str = ""  # the shown column ("" = the grouped value itself)


@dataclass(frozen=True)
class Dataset:
    key: str
    label: object
    model_path: str
    date_path: str
    entity: str | None  # the condition compiler's entity ("" = no filters)
    filter_path: str  # from this model to the entity's primary key
    dims: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)  # field key -> (label, ORM path)
    distinct: dict = field(default_factory=dict)  # field key -> (label, ORM path)
    store_path: str = "store"

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_path)

    def base(self):
        from autocrm.service.models import WorkOrderLine

        qs = self.model.objects.all()
        if self.key == "work_orders":
            qs = qs.filter(status__in=FINISHED)
        elif self.key == "work_order_lines":
            qs = qs.filter(
                work_order__status__in=FINISHED, approval=WorkOrderLine.Approval.APPROVED
            )
        elif self.key == "surveys":
            qs = qs.filter(submitted_at__isnull=False)
        return qs

    def measure_fields(self, agg: str) -> dict:
        if agg == "count":
            return {}
        if agg == "distinct":
            return {**self.distinct, **self.numbers}
        return self.numbers


def _store_dims(store: str) -> dict:
    return {
        "store": Dim("store", gettext_lazy("Store"), f"{store}_id", f"{store}__name"),
        "region": Dim(
            "region", gettext_lazy("Region"), f"{store}__region_id", f"{store}__region__name"
        ),
    }


def _time_dims(date_path: str) -> dict:
    return {
        "month": Dim("month", gettext_lazy("Month"), date_path),
        "week": Dim("week", gettext_lazy("Week"), date_path),
        "day": Dim("day", gettext_lazy("Day"), date_path),
    }


def _advisor(prefix: str = "") -> dict:
    return {
        "advisor": Dim(
            "advisor", gettext_lazy("Advisor"), f"{prefix}advisor_id", f"{prefix}advisor__full_name"
        )
    }


def _brand(prefix: str) -> dict:
    return {"vehicle_brand": Dim("vehicle_brand", gettext_lazy("Vehicle brand"), f"{prefix}brand")}


def _source(prefix: str) -> dict:
    return {
        "source": Dim(
            "source", gettext_lazy("Source channel"), f"{prefix}source_id", f"{prefix}source__name"
        )
    }


L = gettext_lazy
DATASETS: dict[str, Dataset] = {
    "work_orders": Dataset(
        "work_orders",
        L("Work orders (settled)"),
        "service.WorkOrder",
        "settled_at",
        "work_order",
        "pk",
        dims={
            **_store_dims("store"),
            **_advisor(),
            **_brand("vehicle__"),
            **_source(""),
            "campaign": Dim("campaign", L("Campaign code"), "campaign"),
            "customer_source": Dim(
                "customer_source",
                L("Customer's source channel"),
                "customer__source_id",
                "customer__source__name",
            ),
            **_time_dims("settled_at"),
        },
        numbers={
            "total": (L("Total (incl. VAT)"), "total"),
            "tax": (L("VAT"), "tax"),
            "labour_total": (L("Labour"), "labour_total"),
            "parts_total": (L("Materials"), "parts_total"),
            "discount_total": (L("Discount"), "discount_total"),
            "paid": (L("Paid"), "paid"),
            "mileage_in": (L("Mileage in"), "mileage_in"),
        },
        distinct={
            "customer": (L("Customers"), "customer_id"),
            "vehicle": (L("Vehicles"), "vehicle_id"),
        },
    ),
    "work_order_lines": Dataset(
        "work_order_lines",
        L("Work order lines (approved, settled)"),
        "service.WorkOrderLine",
        "work_order__settled_at",
        "work_order",
        "work_order_id",
        dims={
            **_store_dims("work_order__store"),
            **_advisor("work_order__"),
            "technician": Dim(
                "technician",
                L("Technician"),
                "technicians__id",
                "technicians__full_name",
            ),
            "item": Dim("item", L("Service item"), "name"),
            **_brand("work_order__vehicle__"),
            "vehicle_model": Dim("vehicle_model", L("Vehicle model"), "work_order__vehicle__model"),
            **_time_dims("work_order__settled_at"),
        },
        numbers={
            "amount": (L("Amount"), "amount"),
            "quantity": (L("Quantity"), "quantity"),
            "unit_price": (L("Unit price"), "unit_price"),
        },
        distinct={
            "work_order": (L("Work orders"), "work_order_id"),
            "customer": (L("Customers"), "work_order__customer_id"),
        },
        store_path="work_order__store",
    ),
    "customers": Dataset(
        "customers",
        L("Customers"),
        "customers.Customer",
        "created_at",
        "customer",
        "pk",
        dims={**_store_dims("home_store"), **_source(""), **_time_dims("created_at")},
        numbers={
            "visit_count": (L("Visits"), "visit_count"),
            "lifetime_spend": (L("Lifetime spend"), "lifetime_spend"),
        },
        store_path="home_store",
    ),
    "payments": Dataset(
        "payments",
        L("Payments"),
        "service.Payment",
        "created_at",
        "payment",
        "pk",
        dims={**_store_dims("store"), **_time_dims("created_at")},
        numbers={"amount": (L("Amount"), "amount")},
        distinct={"work_order": (L("Work orders"), "work_order_id")},
    ),
    "surveys": Dataset(
        "surveys",
        L("Surveys"),
        "feedback.Survey",
        "submitted_at",
        "survey",
        "pk",
        dims={**_store_dims("store"), **_advisor("work_order__"), **_time_dims("submitted_at")},
        numbers={
            "nps": (L("NPS score"), "nps"),
            "timeliness": (L("Timeliness"), "timeliness"),
            "professionalism": (L("Professionalism"), "professionalism"),
            "attitude": (L("Attitude"), "attitude"),
            "result": (L("Result"), "result"),
        },
        distinct={"customer": (L("Customers"), "customer_id")},
    ),
    "appointments": Dataset(
        "appointments",
        L("Appointments"),
        "service.Appointment",
        "starts_at",
        None,
        "pk",
        dims={**_store_dims("store"), **_time_dims("starts_at")},
        distinct={"customer": (L("Customers"), "customer_id")},
    ),
}


# --- validation and writes ----------------------------------------------------------------


def dataset(key) -> Dataset:
    spec = DATASETS.get(key) if isinstance(key, str) else None
    if spec is None:
        raise Invalid(
            _("Unknown dataset “%(name)s”.") % {"name": key},
            fields={"dataset": _("Choose one of the listed datasets.")},
        )
    return spec


def _refuse(name: str, message: str):
    raise Invalid(message, fields={name: message})


def clean_dimensions(ds: Dataset, dims) -> list[str]:
    if not isinstance(dims, list):
        _refuse("dimensions", _("Dimensions must be a list."))
    dims = [d for d in dims if d]
    if len(dims) > MAX_DIMENSIONS:
        _refuse("dimensions", _("Choose at most %(n)d dimensions.") % {"n": MAX_DIMENSIONS})
    for d in dims:
        if not isinstance(d, str) or d not in ds.dims:
            _refuse(
                "dimensions",
                _("Unknown dimension “%(name)s” for %(dataset)s.")
                % {"name": d, "dataset": ds.label},
            )
    if len(set(dims)) != len(dims):
        _refuse("dimensions", _("Each dimension may be chosen once."))
    return dims


def clean_measures(ds: Dataset, measures) -> list[dict]:
    if not isinstance(measures, list) or not measures:
        _refuse("measures", _("Choose at least one measure."))
    if len(measures) > MAX_MEASURES:
        _refuse("measures", _("Choose at most %(n)d measures.") % {"n": MAX_MEASURES})
    out = []
    for m in measures:
        agg = m.get("agg") if isinstance(m, dict) else None
        if agg not in AGGREGATES:
            _refuse("measures", _("Unknown measure “%(name)s”.") % {"name": agg})
        fieldname = (m.get("field") or "") if agg != "count" else ""
        if agg != "count" and fieldname not in ds.measure_fields(agg):
            _refuse(
                "measures",
                _("Unknown field “%(name)s” for %(dataset)s.")
                % {"name": fieldname, "dataset": ds.label},
            )
        out.append({"agg": agg, "field": fieldname})
    return out


def condition_context(ds: Dataset, org_id: int | None) -> conditions.Context | None:
    return conditions.Context(ds.entity, org_id) if ds.entity else None


def clean_filters(ds: Dataset, tree, org_id: int | None) -> dict:
    if tree in (None, {}, ""):
        return {}
    ctx = condition_context(ds, org_id)
    if ctx is None:
        _refuse("filters", _("This dataset cannot be filtered."))
    return conditions.validate(tree, ctx)


def clean_recipients(raw) -> list[str]:
    from django.core.validators import validate_email

    if isinstance(raw, str):
        raw = raw.replace(";", ",").replace("\n", ",").split(",")
    emails = [str(e).strip() for e in (raw or []) if str(e).strip()]
    if len(emails) > MAX_RECIPIENTS:
        _refuse("recipients", _("At most %(n)d recipients.") % {"n": MAX_RECIPIENTS})
    for e in emails:
        try:
            validate_email(e)
        except Exception:
            _refuse("recipients", _("“%(value)s” is not an email address.") % {"value": e})
    return emails


def _clean(actor: User, data: dict) -> dict:
    ds = dataset(data.get("dataset"))
    name = (data.get("name") or "").strip()
    if not name:
        _refuse("name", _("Give the report a name."))
    chart = data.get("chart") or SavedReport.Chart.TABLE
    if chart not in SavedReport.Chart.values:
        _refuse("chart", _("Unknown chart type “%(name)s”.") % {"name": chart})
    period = data.get("period") or "last_12_months"
    if period not in period_labels():
        _refuse("period", _("Unknown period “%(name)s”.") % {"name": period})
    roles = [r for r in (data.get("shared_roles") or []) if r]
    unknown = [r for r in roles if r not in ROLE_CODES]
    if unknown:
        _refuse("shared_roles", _("Unknown role “%(name)s”.") % {"name": unknown[0]})
    schedule = data.get("schedule") or ""
    if schedule not in SavedReport.Schedule.values:
        _refuse("schedule", _("Unknown schedule “%(name)s”.") % {"name": schedule})
    recipients = clean_recipients(data.get("recipients"))
    if schedule and not recipients:
        _refuse("recipients", _("A scheduled report needs at least one email address."))
    dims = clean_dimensions(ds, data.get("dimensions") or [])
    if chart == SavedReport.Chart.PIVOT and len(dims) < 2:
        _refuse("chart", _("A pivot table needs two dimensions."))
    return {
        "name": name[:80],
        "dataset": ds.key,
        "dimensions": dims,
        "measures": clean_measures(ds, data.get("measures")),
        "filters": clean_filters(ds, data.get("filters"), actor.org_id),
        "chart": chart,
        "period": period,
        "shared_roles": roles,
        "pinned": bool(data.get("pinned")),
        "schedule": schedule,
        "recipients": recipients,
    }


def create_report(actor: User, **data) -> SavedReport:
    require(actor, "reports.store")
    clean = _clean(actor, data)
    return SavedReport.objects.create(org_id=actor.org_id, owner=actor, **clean)


def _editable(actor: User, report: SavedReport) -> None:
    require(actor, "reports.store")
    if report.org_id != actor.org_id:
        raise NotFound()
    if report.owner_id != actor.pk:
        raise Forbidden(_("Only the owner of a report may change it."))


EDITABLE_FIELDS = (
    "name",
    "dataset",
    "dimensions",
    "measures",
    "filters",
    "chart",
    "period",
    "shared_roles",
    "pinned",
    "schedule",
    "recipients",
)


def report_values(report: SavedReport) -> dict:
    """The report's editable settings, as ``create_report`` takes them."""
    return {f: getattr(report, f) for f in EDITABLE_FIELDS}


@transaction.atomic
def update_report(actor: User, report: SavedReport, **data) -> SavedReport:
    _editable(actor, report)
    merged = {**report_values(report), **data}
    for k, v in _clean(actor, merged).items():
        setattr(report, k, v)
    report.save()
    return report


def set_pinned(actor: User, report: SavedReport, pinned: bool) -> SavedReport:
    _editable(actor, report)
    report.pinned = pinned
    report.save(update_fields=["pinned", "updated_at"])
    return report


def delete_report(actor: User, report: SavedReport) -> None:
    _editable(actor, report)
    report.delete()


# --- reads --------------------------------------------------------------------------------


def can_view(user: User, report: SavedReport) -> bool:
    if not user.is_authenticated or report.org_id != user.org_id:
        return False
    if report.owner_id == user.pk:
        return user.can("reports.view") or user.can("reports.store")
    return user.can("reports.view") and bool(set(report.shared_roles) & user.role_codes())


def visible_reports(user: User):
    """The user's own reports and those shared with one of their roles."""
    if not user.is_authenticated or user.org_id is None:
        return SavedReport.objects.none()
    reports = SavedReport.objects.filter(org_id=user.org_id).select_related("owner")
    return [r for r in reports if can_view(user, r)]


def get_report(user: User, pk) -> SavedReport:
    report = SavedReport.objects.filter(pk=pk, org_id=user.org_id).first()
    if report is None or not can_view(user, report):
        raise NotFound()
    return report


def period_window(period: str, today: datetime.date | None = None):
    """(start, end) dates of a period, inclusive; (None, None) for all time."""
    today = today or timezone.localdate()
    if period == "last_30_days":
        return today - datetime.timedelta(days=29), today
    if period == "this_month":
        return today.replace(day=1), today
    if period == "last_month":
        end = today.replace(day=1) - datetime.timedelta(days=1)
        return end.replace(day=1), end
    if period == "this_year":
        return today.replace(month=1, day=1), today
    if period == "all":
        return None, None
    start = (today.replace(day=1) - datetime.timedelta(days=335)).replace(day=1)
    return start, today


@dataclass
class Result:
    report: SavedReport
    columns: list = field(default_factory=list)  # headers: dimensions then measures
    rows: list = field(default_factory=list)  # [labels..., values...]
    truncated: bool = False
    error: str = ""
    start: datetime.date | None = None
    end: datetime.date | None = None
    # The pivot's cells (first × second dimension) when they cannot be added up from the rows.
    pivot_cells: dict | None = None

    @property
    def dims(self) -> int:
        return len(self.report.dimensions)

    def pivot(self) -> dict | None:
        """First dimension's values as rows × the second's as columns, of the first measure."""
        if self.dims < 2 or not self.rows:
            return None
        row_keys, col_keys, cells = [], [], {}
        for row in self.rows:
            r, c, v = row[0], row[1], row[self.dims]
            if r not in row_keys:
                row_keys.append(r)
            if c not in col_keys:
                col_keys.append(c)
            cells[(r, c)] = (cells.get((r, c)) or 0) + (v or 0)
        if self.pivot_cells is not None:
            # A third level under an average or a distinct count: its rows' values do not
            # add up; the cells were aggregated afresh from the data (``run``).
            cells = self.pivot_cells
        return {
            "corner": f"{self.columns[0]} \\ {self.columns[1]}",
            "measure": self.columns[self.dims],
            "columns": col_keys,
            "rows": [
                {"label": r, "cells": [cells.get((r, c)) for c in col_keys]} for r in row_keys
            ],
        }

    def chart_data(self) -> dict:
        """What static/reports/builder.js draws: categories × series."""
        d = self.dims
        measures = self.columns[d:]
        if d == 0:
            return {
                "type": self.report.chart,
                "categories": [""],
                "series": [
                    {"name": str(m), "data": [_num(self.rows[0][d + i]) if self.rows else 0]}
                    for i, m in enumerate(measures)
                ],
            }
        if d >= 2:
            p = self.pivot() or {"columns": [], "rows": []}
            cats = [str(r["label"]) for r in p["rows"]]
            series = [
                {"name": str(c), "data": [_num(r["cells"][i]) for r in p["rows"]]}
                for i, c in enumerate(p["columns"])
            ]
            return {"type": self.report.chart, "categories": cats, "series": series}
        cats = [str(row[0]) for row in self.rows]
        series = [
            {"name": str(m), "data": [_num(row[d + i]) for row in self.rows]}
            for i, m in enumerate(measures)
        ]
        return {"type": self.report.chart, "categories": cats, "series": series}

    def as_json_rows(self) -> list[dict]:
        keys = [*self.report.dimensions, *measure_keys(self.report)]
        return [{k: _jsonable(v) for k, v in zip(keys, row, strict=True)} for row in self.rows]


def _num(v):
    if v is None:
        return None
    return float(v) if isinstance(v, Decimal) else v


def _jsonable(v):
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    return v


def measure_keys(report: SavedReport) -> list[str]:
    return [f"{m['agg']}_{m['field']}" if m["field"] else m["agg"] for m in report.measures]


def measure_label(ds: Dataset, m: dict) -> str:
    aggs = aggregate_labels()
    if m["agg"] == "count":
        return aggs["count"]
    label = ds.measure_fields(m["agg"]).get(m["field"], (m["field"],))[0]
    return f"{aggs[m['agg']]}·{label}"


def _trunc(kind: str, path: str):
    tz = timezone.get_current_timezone()
    return {"month": TruncMonth, "week": TruncWeek, "day": TruncDate}[kind](path, tzinfo=tz)


def _time_label(kind: str, value) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.strftime("%Y-%m") if kind == "month" else value.isoformat()


def run(
    report: SavedReport,
    viewer: User,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    *,
    limit: int = ROW_LIMIT,
    rollups: bool = True,
) -> Result:
    """The report's groups on the viewer's scope: one grouped query, at most ``limit`` rows.
    A filter naming a field that is gone (a deleted custom field) gives ``error``, no rows.
    Lines grouped by store, region, item or month, counted or summed by amount over a
    period, unfiltered, are read from the item rollups (``rollups``; the worker keeps them a
    few seconds behind the settlements)."""
    ds = DATASETS.get(report.dataset)
    result = Result(report)
    if ds is None:
        result.error = _("This report's dataset “%(name)s” no longer exists.") % {
            "name": report.dataset
        }
        return result
    if start is None and end is None:
        start, end = period_window(report.period)
    result.start, result.end = start, end
    dims = [d for d in report.dimensions if d in ds.dims]
    measures = [
        m
        for m in report.measures
        if m["agg"] == "count" or m["field"] in ds.measure_fields(m["agg"])
    ]
    result.columns = [str(ds.dims[d].label) for d in dims] + [
        measure_label(ds, m) for m in measures
    ]
    if rollups and _from_item_rollups(report, viewer, ds, dims, measures, start, end):
        _run_rolled(result, viewer, ds, dims, measures, start, end, limit)
        return result
    qs = scoping.scoped(ds.base(), viewer)
    if not viewer.can("reports.store") and ds.key in OWN_PATHS:
        # Shared with a role that sees only its own figures (an advisor), as the KPI library
        # does: their own work orders, never their colleagues'.
        qs = qs.filter(**{OWN_PATHS[ds.key]: viewer.pk})
    if ds.key in ("work_orders", "work_order_lines"):  # reads the wo_store_settled index
        qs = qs.filter(**{f"{ds.store_path}_id__in": scoping.store_ids(viewer)})
    if start is not None or end is not None:
        lo, hi = local_window(start or datetime.date(2000, 1, 1), end or timezone.localdate())
        qs = qs.filter(**{f"{ds.date_path}__gte": lo, f"{ds.date_path}__lt": hi})
    if report.filters:
        ctx = condition_context(ds, viewer.org_id)
        try:
            if ctx is None:
                raise conditions.FieldGone(_("This dataset cannot be filtered."))
            conditions.validate(report.filters, ctx)
            entity_model = conditions.ENTITIES[ctx.entity].model
            matching = conditions.apply(
                entity_model.objects.filter(org_id=viewer.org_id), report.filters, ctx
            )
        except Invalid as exc:
            result.error = _("The report's filter cannot be applied: %(reason)s") % {
                "reason": exc.display_text
            }
            return result
        qs = qs.filter(**{f"{ds.filter_path}__in": matching.values("pk")})
    group, labels = {}, {}
    for i, d in enumerate(dims):
        spec = ds.dims[d]
        if d in TIME_DIMENSIONS:
            group[f"d{i}"] = _trunc(d, spec.path)
        else:
            group[f"d{i}"] = F(spec.path)
            if spec.label_path:
                labels[f"l{i}"] = F(spec.label_path)
    aggs = {}
    for j, m in enumerate(measures):
        if m["agg"] == "count":
            aggs[f"m{j}"] = Count("pk")
            continue
        path = ds.measure_fields(m["agg"])[m["field"]][1]
        aggs[f"m{j}"] = {
            "sum": Sum(path),
            "avg": Avg(path),
            "distinct": Count(path, distinct=True),
        }[m["agg"]]
    if group:
        values = (
            qs.annotate(**group, **labels)
            .values(*group, *labels)
            .annotate(**aggs)
            .order_by(*group)[: limit + 1]
        )
        raw = list(values)
    else:
        total = qs.aggregate(_n=Count("pk"), **aggs) if measures else {"_n": 0}
        raw = [total] if total["_n"] else []
    result.truncated = len(raw) > limit
    for item in raw[:limit]:
        row = [_dim_label(ds, d, item, i) for i, d in enumerate(dims)]
        row += [_measure_value(m, item.get(f"m{j}")) for j, m in enumerate(measures)]
        result.rows.append(row)
    if len(dims) >= 3 and measures and measures[0]["agg"] in NON_ADDITIVE and result.rows:
        # The pivot shows the first measure by the first two dimensions: an average or a
        # distinct count over the third level is not the sum of its rows (an average is
        # Σ values ÷ n of all the rows, a customer seen in two months counts once), so the
        # cells are grouped again by the first two dimensions, in one more query.
        two = {k: group[k] for k in ("d0", "d1")}
        two_labels = {k: v for k, v in labels.items() if k in ("l0", "l1")}
        cells = {}
        for item in (
            qs.annotate(**two, **two_labels)
            .values(*two, *two_labels)
            .annotate(m0=aggs["m0"])
            .order_by(*two)[: limit + 1]
        ):
            key = (_dim_label(ds, dims[0], item, 0), _dim_label(ds, dims[1], item, 1))
            cells[key] = _measure_value(measures[0], item.get("m0"))
        result.pivot_cells = cells
    return result


# The line dimensions the item rollups hold: (path on the rollup row, its label's path).
ROLLED_LINE_DIMS = {
    "store": ("store_id", "store__name"),
    "region": ("store__region_id", "store__region__name"),
    "item": ("name", None),
    "month": (None, None),
}


def _from_item_rollups(report, viewer, ds, dims, measures, start, end) -> bool:
    return (
        ds.key == "work_order_lines"
        and start is not None
        and end is not None
        and not report.filters
        and viewer.can("reports.store")  # not an advisor's own lines
        and bool(measures)
        and set(dims) <= set(ROLLED_LINE_DIMS)
        and all(
            m["agg"] == "count" or (m["agg"], m["field"]) == ("sum", "amount") for m in measures
        )
    )


def _run_rolled(result: Result, viewer, ds, dims, measures, start, end, limit: int) -> None:
    """``run`` over the month rows of the whole months and the day rows of the edges of the
    period, merged here by the report's dimensions."""
    from autocrm.reports import kpis
    from autocrm.reports.models import DailyItemStat, MonthlyItemStat

    stores = sorted(scoping.store_ids(viewer))
    day_rows = scoping.scoped(DailyItemStat.objects.all(), viewer).filter(store_id__in=stores)
    month_rows = scoping.scoped(MonthlyItemStat.objects.all(), viewer).filter(store_id__in=stores)
    months, edges = kpis.split_rolled_months(day_rows, start, end)
    paths = [p for d in dims for p in ROLLED_LINE_DIMS[d] if p]
    merged: dict[tuple, dict] = {}
    for qs, when in kpis.month_parts(day_rows, month_rows, months, edges):
        grouped = qs.values(*paths, *([when] if "month" in dims else []))
        for row in grouped.annotate(n=Sum("lines"), amount=Sum("revenue")).order_by():
            item = {}
            for i, d in enumerate(dims):
                path, label = ROLLED_LINE_DIMS[d]
                if d == "month":
                    item[f"d{i}"] = row[when].replace(day=1)
                    continue
                item[f"d{i}"] = row[path]
                if label:
                    item[f"l{i}"] = row[label]
            key = tuple(item[f"d{i}"] for i in range(len(dims)))
            into = merged.setdefault(key, {**item, "n": 0, "amount": Decimal(0)})
            into["n"] += row["n"] or 0
            into["amount"] += row["amount"] or 0
    ordered = sorted(merged.items(), key=lambda kv: [(v is None, v) for v in kv[0]])
    result.truncated = len(ordered) > limit
    for _key, item in ordered[:limit]:
        row = [_dim_label(ds, d, item, i) for i, d in enumerate(dims)]
        values = [item["n"] if m["agg"] == "count" else item["amount"] for m in measures]
        row += [_measure_value(m, v) for m, v in zip(measures, values, strict=True)]
        result.rows.append(row)


NON_ADDITIVE = ("avg", "distinct")
# Who a row belongs to, for a viewer who may only see their own figures (not reports.store).
OWN_PATHS = {
    "work_orders": "advisor_id",
    "work_order_lines": "work_order__advisor_id",
    "payments": "work_order__advisor_id",
    "surveys": "work_order__advisor_id",
    "appointments": "created_by_id",
}


def _dim_label(ds: Dataset, d: str, item: dict, i: int):
    value = item[f"d{i}"]
    if d in TIME_DIMENSIONS:
        return _time_label(d, value)
    shown = item.get(f"l{i}", value) if ds.dims[d].label_path else value
    if d in ("advisor", "technician") and value is not None and not shown:
        shown = User.objects.filter(pk=value).values_list("username", flat=True).first()
    return shown if shown not in (None, "") else "—"


def _measure_value(m: dict, v):
    if m["agg"] == "avg" and v is not None:
        return Decimal(str(v)).quantize(Decimal("0.01"))
    if m["agg"] == "sum" and v is None:
        return 0
    if isinstance(v, Decimal):
        return v.quantize(Decimal("0.01"))
    return v


# --- Excel --------------------------------------------------------------------------------


def workbook(result: Result) -> bytes:
    from autocrm.core import xlsx

    wb = xlsx.new_workbook()
    sheet = wb.create_sheet(result.report.name[:31] or "report")
    xlsx.append(sheet, result.columns)
    for row in result.rows:
        xlsx.append(sheet, row)
    pivot = result.pivot()
    if pivot:
        sheet2 = wb.create_sheet(_("Pivot")[:31])
        xlsx.append(sheet2, [pivot["corner"], *pivot["columns"]])
        for r in pivot["rows"]:
            xlsx.append(sheet2, [r["label"], *r["cells"]])
    return xlsx.workbook_bytes(wb)


def filename(report: SavedReport) -> str:
    stamp = timezone.localdate().strftime("%Y%m%d")
    return f"{report.name}-{stamp}.xlsx"
