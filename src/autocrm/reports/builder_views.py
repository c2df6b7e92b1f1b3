"""Pages of the report builder: my and shared reports, the form (pickers, no code), the result
with its chart, table and pivot, the Excel export, pinning, deleting."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.automation import conditions
from autocrm.core.errors import Invalid
from autocrm.core.http import XLSX, download
from autocrm.core.roles import ROLE_CHOICES
from autocrm.core.views import capability_required
from autocrm.reports import builder
from autocrm.reports.models import SavedReport

FILTER_ROWS = 3
FILTER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "is_empty")


@capability_required("reports.view", "reports.store")
def report_list(request):
    user = request.user
    reports = builder.visible_reports(user)
    for r in reports:
        ds = builder.DATASETS.get(r.dataset)
        r.dataset_label = ds.label if ds else r.dataset
    context = {
        "mine": [r for r in reports if r.owner_id == user.pk],
        "shared": [r for r in reports if r.owner_id != user.pk],
        "can_build": user.can("reports.store"),
        "datasets": builder.DATASETS.values(),
    }
    return render(request, "reports/builder_list.html", context)


def _filter_rows(tree) -> tuple[list[dict], str]:
    """A flat "all" of leaves as editable rows; anything else is kept as it is (shown)."""
    if not tree:
        return [], ""
    body = tree.get("all") if isinstance(tree, dict) else None
    if isinstance(body, list) and all(isinstance(n, dict) and "field" in n for n in body):
        rows = []
        for leaf in body:
            value = leaf.get("value")
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            rows.append({"field": leaf["field"], "op": leaf.get("op"), "value": value})
        return rows, ""
    import json

    return [], json.dumps(tree, ensure_ascii=False)


def _filters_from_post(post, ctx) -> dict:
    kept = post.get("filters_json") or ""
    if kept:
        import json

        try:
            return json.loads(kept)
        except ValueError:
            raise Invalid(fields={"filters": _("The kept filter is not valid.")}) from None
    leaves = []
    for i in range(FILTER_ROWS):
        key = post.get(f"filter_field_{i}") or ""
        if not key:
            continue
        op = post.get(f"filter_op_{i}") or "eq"
        raw = (post.get(f"filter_value_{i}") or "").strip()
        spec = ctx.fields.get(key) if ctx else None
        value: object = raw
        if op == "is_empty":
            value = True
        elif op == "in":
            value = [v.strip() for v in raw.replace("，", ",").split(",") if v.strip()]
        elif spec is not None and spec.type == "bool":
            value = raw.lower() in ("1", "true", "yes", "是")
        elif spec is not None and spec.type == "int" and raw.lstrip("-").isdigit():
            value = int(raw)
        leaves.append({"field": key, "op": op, "value": value})
    return {"all": leaves} if leaves else {}


def _data_from_post(request, ds) -> dict:
    post = request.POST
    ctx = builder.condition_context(ds, request.user.org_id)
    measures = []
    for i in range(builder.MAX_MEASURES):
        agg = post.get(f"measure_agg_{i}") or ""
        if agg:
            measures.append({"agg": agg, "field": post.get(f"measure_field_{i}") or ""})
    return {
        "name": post.get("name", ""),
        "dataset": ds.key,
        "dimensions": [post.get(f"dimension_{i}") or "" for i in range(builder.MAX_DIMENSIONS)],
        "measures": measures,
        "filters": _filters_from_post(post, ctx),
        "chart": post.get("chart") or "table",
        "period": post.get("period") or "last_12_months",
        "shared_roles": post.getlist("shared_roles"),
        "pinned": post.get("pinned") == "on",
        "schedule": post.get("schedule") or "",
        "recipients": post.get("recipients") or "",
    }


def _form(request, report: SavedReport | None):
    user = request.user
    key = report.dataset if report else request.GET.get("dataset") or request.POST.get("dataset")
    if not key:
        return render(request, "reports/builder_pick.html", {"datasets": builder.DATASETS.values()})
    try:
        ds = builder.dataset(key)
    except Invalid as exc:
        messages.error(request, exc.display_text)
        return redirect("reports_builder")
    errors, error = {}, ""
    if request.method == "POST":
        data = _data_from_post(request, ds)
        try:
            if report is None:
                report = builder.create_report(user, **data)
            else:
                builder.update_report(user, report, **data)
            return redirect("reports_builder_result", report.pk)
        except Invalid as exc:
            errors, error = exc.fields, exc.display_text
        values = data
    elif report is not None:
        values = builder.report_values(report)
    else:
        values = {"dimensions": [], "measures": [{"agg": "count", "field": ""}], "filters": {}}
        values.update(chart="bar", period="last_12_months", shared_roles=[], recipients=[])
    dims = list(values.get("dimensions") or []) + [""] * builder.MAX_DIMENSIONS
    measures = list(values.get("measures") or [])
    measures += [{"agg": "", "field": ""}] * (builder.MAX_MEASURES - len(measures))
    filter_rows, filters_json = (
        _filter_rows(values.get("filters")) if isinstance(values.get("filters"), dict) else ([], "")
    )
    filter_rows += [{"field": "", "op": "eq", "value": ""}] * (FILTER_ROWS - len(filter_rows))
    recipients = values.get("recipients") or []
    ctx = builder.condition_context(ds, user.org_id)
    fields = []
    if ctx is not None:
        labels = conditions.namespace_labels()
        for spec in ctx.fields.values():
            if spec.kind in ("aggregate", "computed"):
                continue
            fields.append({"key": spec.key, "label": f"{labels[spec.namespace]}·{spec.label}"})
    ops = conditions.op_labels()
    number_fields = [{"key": k, "label": v[0]} for k, v in ds.numbers.items()]
    distinct_fields = [{"key": k, "label": v[0]} for k, v in ds.distinct.items()]
    context = {
        "report": report,
        "ds": ds,
        "values": values,
        "dims": dims[: builder.MAX_DIMENSIONS],
        "dim_options": [{"key": k, "label": d.label} for k, d in ds.dims.items()],
        "measures": measures[: builder.MAX_MEASURES],
        "aggregates": builder.aggregate_labels(),
        "measure_fields": number_fields + distinct_fields,
        "filter_rows": filter_rows[: max(FILTER_ROWS, len(filter_rows))],
        "filters_json": filters_json,
        "fields": fields,
        "ops": [(o, ops[o]) for o in FILTER_OPS],
        "charts": SavedReport.Chart.choices,
        "periods": builder.period_labels().items(),
        "schedules": SavedReport.Schedule.choices,
        "roles": ROLE_CHOICES,
        "recipients_text": recipients if isinstance(recipients, str) else "\n".join(recipients),
        "errors": errors,
        "error": error,
    }
    return render(request, "reports/builder_form.html", context)


@capability_required("reports.store")
def report_new(request):
    return _form(request, None)


@capability_required("reports.store")
def report_edit(request, pk: int):
    report = builder.get_report(request.user, pk)
    if report.owner_id != request.user.pk:
        raise PermissionDenied
    return _form(request, report)


@capability_required("reports.view", "reports.store")
def report_result(request, pk: int):
    user = request.user
    report = builder.get_report(user, pk)
    start = parse_date(request.GET.get("from") or "")
    end = parse_date(request.GET.get("to") or "")
    result = builder.run(report, user, start, end) if (start or end) else builder.run(report, user)
    if request.GET.get("format") == "xlsx":
        return download(builder.workbook(result), builder.filename(report), XLSX)
    ds = builder.DATASETS.get(report.dataset)
    context = {
        "report": report,
        "ds": ds,
        "result": result,
        "pivot": result.pivot(),
        "chart": result.chart_data(),
        "is_owner": report.owner_id == user.pk and user.can("reports.store"),
        "row_limit": builder.ROW_LIMIT,
        "chart_id": f"builder-data-{report.pk}",
    }
    return render(request, "reports/builder_result.html", context)


@require_POST
@capability_required("reports.store")
def report_pin(request, pk: int):
    report = builder.get_report(request.user, pk)
    builder.set_pinned(request.user, report, request.POST.get("pinned") == "1")
    messages.success(
        request,
        _("Pinned to the dashboard.") if report.pinned else _("Unpinned from the dashboard."),
    )
    return redirect("reports_builder_result", report.pk)


@require_POST
@capability_required("reports.store")
def report_delete(request, pk: int):
    report = builder.get_report(request.user, pk)
    builder.delete_report(request.user, report)
    messages.success(request, _("Report deleted."))
    return redirect("reports_builder")
