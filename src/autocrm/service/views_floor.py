"""The technician's phone: my jobs with clock on/off and done, the inspection checklist with
photos, photos at key steps; the managers' billed-against-clocked hours; and the staff view of
a work order's photos and videos. Thin: every POST calls one service."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from autocrm.core.errors import ServiceError
from autocrm.core.selectors import visible_stores
from autocrm.core.views import capability_required
from autocrm.service import media as media_service
from autocrm.service import selectors, services
from autocrm.service import selectors_floor as floor
from autocrm.service.models import InspectionResult, Media, WorkOrder

LINE_ACTIONS = {
    "clock-on": (services.clock_on, gettext_lazy("Clocked on %(item)s.")),
    "clock-off": (services.clock_off, gettext_lazy("Clocked off %(item)s.")),
    "done": (services.mark_line_done, gettext_lazy("%(item)s is done.")),
}
# Short labels for the big rating buttons (绿/黄/红/N/A).
RATING_BUTTONS = [
    (InspectionResult.Rating.OK, gettext_lazy("Green")),
    (InspectionResult.Rating.SOON, gettext_lazy("Yellow")),
    (InspectionResult.Rating.NOW, gettext_lazy("Red")),
    (InspectionResult.Rating.NA, gettext_lazy("N/A")),
]
PHOTO_STEPS = [Media.Step.TEARDOWN, Media.Step.REPLACE, Media.Step.QC, Media.Step.OTHER]


# --- my jobs ------------------------------------------------------------------------------


def _jobs_context(user, error: str = "", notice: str = "") -> dict:
    jobs, running = floor.my_jobs_with_time(user)
    return {"jobs": jobs, "running": running, "error": error, "notice": notice}


@capability_required("workorder.work")
def jobs(request):
    context = _jobs_context(request.user)
    context["can_hours"] = request.user.can("staff.view")
    return render(request, "service/floor/jobs.html", context)


@require_POST
@capability_required("workorder.work")
def line_action(request, pk, action):
    if action not in LINE_ACTIONS:
        raise PermissionDenied
    line = selectors.get_line(request.user, pk)
    call, success = LINE_ACTIONS[action]
    error = notice = ""
    try:
        call(request.user, line)
        notice = success % {"item": line.name}
    except ServiceError as exc:
        error = exc.display_text
    if request.htmx:
        context = _jobs_context(request.user, error=error, notice=notice)
        return render(request, "service/floor/_jobs.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("floor_jobs")


# --- inspection ---------------------------------------------------------------------------


def _inspection_context(request, wo: WorkOrder, inspection) -> dict:
    results = floor.inspection_results(inspection) if inspection else []
    proposable = [
        r
        for r in results
        if r.rating in (InspectionResult.Rating.NOW, InspectionResult.Rating.SOON) and not r.line_id
    ]
    proposed = [r for r in results if r.line_id]
    if proposed:
        lines = {ln.pk: ln for ln in wo.lines.filter(pk__in=[r.line_id for r in proposed])}
        for r in proposed:
            r.proposed_line = lines.get(r.line_id)
    return {
        "wo": wo,
        "inspection": inspection,
        "inspections": list(
            wo.inspections.select_related("template").order_by("-started_at", "-id")
        ),
        "results": results,
        "sections": _sections(results),
        "ratings": RATING_BUTTONS,
        "proposable": proposable,
        "proposed": proposed,
        "templates": list(floor.templates(request.user)),
        "unrated": sum(1 for r in results if not r.rating),
    }


def _sections(results):
    sections: list[tuple[str, list]] = []
    for result in results:
        if not sections or sections[-1][0] != result.section:
            sections.append((result.section, []))
        sections[-1][1].append(result)
    return sections


@capability_required("workorder.work", "workorder.edit")
def inspection(request, pk):
    user = request.user
    wo = selectors.get_work_order(user, pk)
    if request.method == "POST":
        try:
            started = services.start_inspection(user, wo, request.POST.get("template"))
            return redirect(f"{reverse('floor_inspection', args=[wo.pk])}?inspection={started.pk}")
        except ServiceError as exc:
            messages.error(request, exc.display_text)
            return redirect("floor_inspection", pk=wo.pk)
    current = None
    wanted = request.GET.get("inspection")
    if wanted:
        current = floor.get_inspection(user, wanted)
        if current.work_order_id != wo.pk:
            current = None
    if current is None:
        current = (
            wo.inspections.select_related("template", "inspector")
            .order_by("-started_at", "-id")
            .first()
        )
    return render(
        request, "service/floor/inspection.html", _inspection_context(request, wo, current)
    )


@require_POST
@capability_required("workorder.work", "workorder.edit")
def result(request, pk):
    """Rate one item (and attach the photo or video taken with it) in one tap."""
    user = request.user
    found = floor.get_result(user, pk)
    wo = found.inspection.work_order
    rating = request.POST.get("rating") or found.rating
    note = request.POST.get("note", found.note)
    upload = request.FILES.get("file")
    error = ""
    try:
        if rating and (rating != found.rating or note != found.note):
            services.rate_result(user, found, rating=rating, note=note)
        elif note != found.note and not rating:
            error = _("Choose green, yellow, red or N/A.")
        if upload is not None:
            media_service.add_media(
                user, wo, upload, step=Media.Step.CHECK_IN, result_id=found.pk, caption=found.name
            )
    except ServiceError as exc:
        error = exc.display_text
    found = floor.get_result(user, pk)
    found_media = list(found.media.order_by("created_at", "id"))
    context = {"r": found, "photos": found_media, "ratings": RATING_BUTTONS}
    context["error"] = error
    if request.htmx:
        return render(request, "service/floor/_result.html", context)
    if error:
        messages.error(request, error)
    return redirect(f"{reverse('floor_inspection', args=[wo.pk])}?inspection={found.inspection_id}")


@require_POST
@capability_required("workorder.work", "workorder.edit")
def inspection_complete(request, pk):
    found = floor.get_inspection(request.user, pk)
    try:
        services.complete_inspection(request.user, found)
        messages.success(request, _("Inspection completed."))
    except ServiceError as exc:
        messages.error(request, exc.display_text)
    url = reverse("floor_inspection", args=[found.work_order_id])
    return redirect(f"{url}?inspection={found.pk}")


@require_POST
@capability_required("workorder.work", "workorder.edit")
def inspection_propose(request, pk):
    found = floor.get_inspection(request.user, pk)
    try:
        made = services.propose_from_results(request.user, found, request.POST.getlist("results"))
        messages.success(
            request,
            _("%(count)s item(s) proposed to the owner: %(names)s")
            % {"count": len(made), "names": "、".join(ln.name for ln in made)},
        )
    except ServiceError as exc:
        messages.error(request, exc.display_text)
    url = reverse("floor_inspection", args=[found.work_order_id])
    return redirect(f"{url}?inspection={found.pk}")


# --- photos at key steps ------------------------------------------------------------------


@capability_required("workorder.work", "workorder.edit")
def photos(request, pk):
    user = request.user
    wo = selectors.get_work_order(user, pk)
    lines = list(wo.lines.order_by("sort", "id"))
    values = {
        "line": request.POST.get("line") or request.GET.get("line", ""),
        "step": request.POST.get("step", Media.Step.TEARDOWN),
        "caption": request.POST.get("caption", ""),
        "shared": request.method != "POST" or request.POST.get("shared") == "1",
    }
    errors: dict = {}
    if request.method == "POST":
        try:
            media_service.add_media(
                user,
                wo,
                request.FILES.get("file"),
                step=values["step"],
                line_id=values["line"] or None,
                caption=values["caption"],
                shared=values["shared"],
            )
            messages.success(request, _("Photo saved."))
            url = reverse("floor_photos", args=[wo.pk])
            return redirect(f"{url}?line={values['line']}" if values["line"] else url)
        except ServiceError as exc:
            errors = dict(exc.fields) or {"all": exc.message}
    gallery = list(floor.work_order_media(user, wo))
    by_line = []
    for line in lines:
        items = [m for m in gallery if m.line_id == line.pk]
        if items:
            by_line.append((line, items))
    loose = [m for m in gallery if m.line_id is None]
    context = {
        "wo": wo,
        "lines": lines,
        "values": values,
        "errors": errors,
        "steps": [(s.value, s.label) for s in PHOTO_STEPS],
        "by_line": by_line,
        "loose": loose,
    }
    return render(request, "service/floor/photos.html", context, status=422 if errors else 200)


@require_POST
@capability_required("workorder.work", "workorder.edit")
def media_remove(request, token):
    found = floor.get_media(request.user, token)
    wo_id = found.work_order_id
    try:
        media_service.remove_media(request.user, found)
        messages.success(request, _("Photo removed."))
    except ServiceError as exc:
        messages.error(request, exc.display_text)
    back = request.POST.get("next", "")
    if back.startswith("/floor/"):
        return redirect(back)
    return redirect("floor_photos", pk=wo_id)


# --- media files --------------------------------------------------------------------------


@login_required
def media_file(request, token):
    return media_service.media_response(floor.get_media(request.user, token), False, request)


@login_required
def media_thumb(request, token):
    return media_service.media_response(floor.get_media(request.user, token), True, request)


# --- hours --------------------------------------------------------------------------------


def _period(request) -> tuple[datetime.date, datetime.date]:
    today = timezone.localdate()
    date_from = parse_date(request.GET.get("from") or "") or today.replace(day=1)
    date_to = parse_date(request.GET.get("to") or "") or today
    if date_to < date_from:
        date_from, date_to = date_to, date_from
    if (date_to - date_from).days > 366:
        date_from = date_to - datetime.timedelta(days=366)
    return date_from, date_to


@capability_required("staff.view")
def hours(request):
    user = request.user
    date_from, date_to = _period(request)
    stores = list(visible_stores(user))
    store = request.GET.get("store", "")
    store_id = int(store) if store.isdigit() and int(store) in {s.pk for s in stores} else None
    rows = floor.hours_report(user, date_from, date_to, store_id=store_id)
    context = {
        "rows": rows,
        "date_from": date_from,
        "date_to": date_to,
        "stores": stores,
        "store": str(store_id or ""),
        "billed": sum((r.billed for r in rows), start=0),
        "clocked": sum((r.clocked for r in rows), start=0),
    }
    return render(request, "service/floor/hours.html", context)
