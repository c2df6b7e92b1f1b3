"""The dashboard of /reports/, per role: today at a glance, KPI tiles and the 12-month trend for
everyone; rankings (stores, advisors' sales, technicians' satisfaction), low-score reasons and
popular services for managers; an advisor's own figures, follow-ups and low scores."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse

from autocrm.core.views import capability_required
from autocrm.reports import builder, figures, kpis, selectors
from autocrm.reports import dashboard as sections


def _drill_url(user, drill: str) -> str:
    if drill == "visits" and user.can("workorder.view"):
        return reverse("workorder_list") + "?status=settled"
    if drill == "customers" and user.can("customer.list"):
        return reverse("customer_list")
    return ""


def _linked(rows: list[dict], name: str, param: str, start, end) -> list[dict]:
    """Each row's ``url``: the drill-down list behind its bar, the period carried along."""
    for row in rows:
        query = {"from": start.isoformat(), "to": end.isoformat(), param: row["key"]}
        row["url"] = f"{reverse(name)}?{urlencode(query)}"
    return rows


def _charts(user, start, end) -> dict:
    """The charts' data: a few grouped queries over the user's basis, whatever the scope."""
    # The figures additive per store-day come from the daily rollups (an advisor's basis,
    # narrowed to their own orders, has none: their few orders are read directly).
    b = kpis.basis_for(user, start, end, rollups=True)
    manager = user.can("reports.store")
    charts = {
        "stores": [],
        "advisors": [],
        "technicians": [],
        "reasons": sections.low_score_reasons(b) if user.can("survey.view") else [],
        "services": sections.popular_services(b),
    }
    if manager:
        charts["stores"] = _linked(
            sections.store_ranking(user, b), "reports_drill", "store", start, end
        )
        charts["advisors"] = _linked(
            sections.advisor_ranking(user, b), "reports_drill_orders", "advisor", start, end
        )
        charts["technicians"] = _linked(
            sections.technician_satisfaction(user, b),
            "reports_drill_orders",
            "technician",
            start,
            end,
        )
    return {"charts": charts, "basis": b, "manager": manager}


def _presets() -> list[dict]:
    """The quick periods above the dashboard: those the worker keeps figures for."""
    labels = builder.period_labels()
    out = []
    for code in figures.PRESETS:
        start, end = builder.period_window(code)
        out.append({"code": code, "label": labels[code], "start": start, "end": end})
    return out


@capability_required("reports.view")
def dashboard(request):
    user = request.user
    start, end, period_error = selectors.period_or_default(
        request.GET.get("from"), request.GET.get("to")
    )
    built = _charts(user, start, end)
    mine = {}
    if built["manager"]:
        tiles = selectors.tiles(user, start, end, built["basis"])
    else:  # an advisor: their own figures (the basis is narrowed to them), tasks, low scores
        tiles = sections.advisor_tiles(built["basis"])
        for tile in tiles:
            tile["drill"] = kpis.METRICS[tile["code"]].drill
        mine = {
            "follow_ups": sections.my_follow_ups(user),
            "low_scores": sections.my_low_scores(built["basis"])
            if user.can("survey.view")
            else None,
        }
    for tile in tiles:
        tile["url"] = _drill_url(user, tile["drill"])
    context = {
        "charts": built["charts"],
        "manager": built["manager"],
        "mine": mine,
        "tasks_url": reverse("task_inbox") if user.can("task.view") else "",
        "today": selectors.today_figures(user),
        "alerts": selectors.low_score_alerts(user),
        "trend": selectors.monthly_trend(user),
        "tiles": tiles,
        "start": start,
        "end": end,
        "period_error": period_error,
        "presets": _presets(),
        "workorders_url": reverse("workorder_list") if user.can("workorder.view") else "",
        "alerts_url": reverse("feedback_alerts") if user.can("survey.view") else "",
        "perms_rfm": user.can("reports.store") or user.can("customer.list"),
    }
    return render(request, "reports/dashboard.html", context)
