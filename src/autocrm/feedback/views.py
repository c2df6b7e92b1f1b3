"""Managers' list of low survey scores and marking them handled."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.core.errors import ServiceError
from autocrm.core.pagination import paginate
from autocrm.core.views import capability_required
from autocrm.feedback import selectors, services
from autocrm.feedback.models import DIMENSIONS, LOW_NPS, LOW_REASONS, LOW_STARS


@capability_required("survey.view")
def alerts(request):
    handled = request.GET.get("handled") == "1"
    qs = selectors.low_alerts(request.user, handled=handled)
    page = paginate(qs, request.GET.get("cursor"), 50, descending=True)
    labels = {code: label for code, label in LOW_REASONS}
    for survey in page["items"]:
        survey.reason_labels = [str(labels.get(r, r)) for r in survey.reasons]
        survey.stars = [(label, getattr(survey, name)) for name, label in DIMENSIONS]
    context = {
        "surveys": page["items"],
        "next_cursor": page["next_cursor"],
        "handled": handled,
        "open_count": selectors.alert_count(request.user),
        "can_handle": request.user.can("survey.handle"),
        "low_nps": LOW_NPS,
        "low_stars": LOW_STARS,
    }
    return render(request, "feedback/alerts.html", context)


@capability_required("survey.handle")
@require_POST
def handle(request, pk):
    survey = selectors.get_survey(request.user, pk)
    try:
        services.handle_survey(request.user, survey, note=request.POST.get("note", ""))
    except ServiceError as exc:
        if exc.status == 404:
            raise
        message = " ".join(str(v) for v in exc.fields.values()) or str(exc.message)
        messages.error(request, message)
    else:
        messages.success(
            request, _("Marked as handled: %(number)s") % {"number": survey.work_order.number}
        )
    return redirect("feedback_alerts")
