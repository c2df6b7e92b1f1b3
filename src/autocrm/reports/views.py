"""The store manager's dashboard: today at a glance, the 12-month trend and KPI tiles."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from autocrm.core.views import capability_required
from autocrm.reports import selectors


def _drill_url(user, drill: str) -> str:
    if drill == "visits" and user.can("workorder.view"):
        return reverse("workorder_list") + "?status=settled"
    if drill == "customers" and user.can("customer.list"):
        return reverse("customer_list")
    return ""


@capability_required("reports.view")
def dashboard(request):
    user = request.user
    start, end, period_error = selectors.period_or_default(
        request.GET.get("from"), request.GET.get("to")
    )
    tiles = selectors.tiles(user, start, end)
    for tile in tiles:
        tile["url"] = _drill_url(user, tile["drill"])
    context = {
        "today": selectors.today_figures(user),
        "alerts": selectors.low_score_alerts(user),
        "trend": selectors.monthly_trend(user),
        "tiles": tiles,
        "start": start,
        "end": end,
        "period_error": period_error,
        "workorders_url": reverse("workorder_list") if user.can("workorder.view") else "",
        "alerts_url": reverse("feedback_alerts") if user.can("survey.view") else "",
        "perms_rfm": user.can("reports.store") or user.can("customer.list"),
    }
    return render(request, "reports/dashboard.html", context)
