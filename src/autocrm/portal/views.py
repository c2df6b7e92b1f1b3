"""Pages for car owners, opened from a signed link without logging in, and the public booking
page of a store. They use their own simple layout (``portal/base.html``); refusals become a
friendly page (404 for a bad link, 410 for an expired one), never a stack trace."""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import wraps

from django.contrib import messages
from django.core import signing
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from autocrm.catalog.models import ServicePackage
from autocrm.core.errors import Conflict, Invalid, NotFound, ServiceError
from autocrm.core.models import Organization, Store
from autocrm.core.validators import mask_mobile
from autocrm.core.views import capability_required
from autocrm.feedback import services as feedback
from autocrm.feedback.models import (
    DIMENSION_NAMES,
    DIMENSIONS,
    LOW_NPS,
    LOW_REASONS,
    LOW_STARS,
    Survey,
)
from autocrm.portal import services
from autocrm.portal.models import PortalLink
from autocrm.service import appointments, notify, selectors
from autocrm.service.media import media_response
from autocrm.service.models import (
    Appointment,
    InspectionResult,
    Media,
    ServiceSettings,
    WorkOrder,
    WorkOrderLine,
)

P = PortalLink.Purpose
CENT = Decimal("0.01")
BOOKING_SALT = "autocrm.portal.booking"


# --- errors and link resolution -----------------------------------------------------------


def _error(request, exc: Exception, store=None) -> HttpResponse:
    status = getattr(exc, "status", 404)
    if status == 410:
        heading = _("This link has expired")
    elif status == 404:
        heading = _("This link is not valid")
    else:
        heading = _("Sorry, this cannot be done")
    message = getattr(exc, "message", None) or _("Ask the shop to send the link again.")
    context = {"heading": heading, "message": message, "status": status, "store": store}
    return render(request, "portal/error.html", context, status=status)


def link_page(purpose: str):
    """Resolve the token for ``purpose`` (refusals as friendly pages) and pass the link on."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, token, *args, **kwargs):
            try:
                link = services.resolve(token, purpose)
            except ServiceError as exc:
                return _error(request, exc)
            return view(request, link, token, *args, **kwargs)

        return wrapper

    return decorator


def _public_settings(store: Store) -> ServiceSettings:
    """The store's settings for a page anyone may open: the defaults, unsaved, when the store
    has no row yet (reading a public page never writes)."""
    return ServiceSettings.objects.filter(store_id=store.pk).first() or ServiceSettings(store=store)


def _photo_urls(media: Media, name: str, token: str) -> Media:
    base = reverse(name, args=[token, media.token])
    media.thumb_url = base
    media.full_url = f"{base}?full=1"
    return media


# --- estimate approval --------------------------------------------------------------------


def _estimate_context(link: PortalLink, token: str) -> dict:
    wo = link.work_order
    shared = [
        _photo_urls(m, "portal_estimate_photo", token)
        for m in Media.objects.filter(work_order=wo, shared=True).order_by("created_at", "id")
    ]
    by_result: dict[int, list] = {}
    by_line: dict[int, list] = {}
    for m in shared:
        if m.result_id:
            by_result.setdefault(m.result_id, []).append(m)
        elif m.line_id:
            by_line.setdefault(m.line_id, []).append(m)
    findings = list(
        InspectionResult.objects.filter(
            inspection__work_order=wo,
            rating__in=[InspectionResult.Rating.NOW, InspectionResult.Rating.SOON],
        ).order_by("rating", "inspection_id", "sort", "id")  # "now" (red) before "soon"
    )
    for r in findings:
        r.photos = by_result.get(r.pk, [])
    lines = list(wo.lines.all().order_by("sort", "id"))
    for ln in lines:
        ln.photos = by_line.get(ln.pk, [])
    proposed = [ln for ln in lines if ln.approval == WorkOrderLine.Approval.PROPOSED]
    rate = _public_settings(wo.store).tax_rate
    return {
        "link": link,
        "wo": wo,
        "store": wo.store,
        "findings": findings,
        "lines": lines,
        "proposed": proposed,
        "pending_total": sum((ln.amount for ln in proposed), start=Decimal("0.00")),
        "net": (wo.total - wo.tax).quantize(CENT, ROUND_HALF_UP),
        "tax_pct": (rate * 100).quantize(Decimal("0.1")).normalize(),
        "errors": {},
    }


@require_http_methods(["GET", "POST"])
@link_page(P.ESTIMATE)
def estimate(request, link, token):
    if request.method == "GET":
        services.mark_opened(link)
        return render(request, "portal/estimate.html", _estimate_context(link, token))
    action = request.POST.get("action")
    try:
        if action == "decide":
            line_id = request.POST.get("line", "")
            decision = request.POST.get("decision", "")
            done = services.decide(
                link, {line_id: decision}, {line_id: request.POST.get("reason", "")}
            )
            if decision == "approved":
                note = _("Approved: %(item)s. Thank you!") % {"item": done[0].name}
            else:
                note = _("Declined: %(item)s. We will not do it.") % {"item": done[0].name}
        elif action == "approve_all":
            ids = request.POST.getlist("lines")
            if not ids:
                raise Invalid(fields={"lines": _("There is nothing left to approve.")})
            done = services.decide(link, {i: "approved" for i in ids})
            note = _("Approved %(count)s items. Thank you!") % {"count": len(done)}
        elif action == "sign":
            services.save_signature(link, request.POST.get("signature", ""))
            note = _("Thank you. Your signature is saved with this estimate.")
        else:
            raise Invalid(_("Choose approve or decline."))
    except Conflict as exc:
        context = _estimate_context(link, token)
        if exc.code == "already_decided":
            context["error"] = _(
                "This item was already decided, perhaps on another phone. Nothing was changed "
                "twice; the page now shows the current decisions."
            )
        else:
            context["error"] = exc.message
        return render(request, "portal/estimate.html", context, status=409)
    except ServiceError as exc:
        if exc.status not in (404, 422):
            raise
        context = _estimate_context(link, token)
        context["errors"] = {k: str(v) for k, v in exc.fields.items()}
        context["error"] = " ".join(context["errors"].values()) if exc.fields else exc.message
        return render(request, "portal/estimate.html", context, status=exc.status)
    messages.success(request, note)
    return redirect(request.path)


# --- progress -----------------------------------------------------------------------------

STEPS = [
    (WorkOrder.Status.DRAFT, pgettext_lazy("owner page", "Checked in")),
    (WorkOrder.Status.ESTIMATE, pgettext_lazy("owner page", "Estimate")),
    (WorkOrder.Status.IN_PROGRESS, pgettext_lazy("owner page", "Being worked on")),
    (WorkOrder.Status.QC, pgettext_lazy("owner page", "Quality check")),
    (WorkOrder.Status.READY, pgettext_lazy("owner page", "Ready")),
    (WorkOrder.Status.SETTLED, pgettext_lazy("owner page", "Collected")),
]
STATUS_LABELS = {
    WorkOrder.Status.DRAFT: pgettext_lazy("owner page", "Checked in"),
    WorkOrder.Status.ESTIMATE: pgettext_lazy("owner page", "Waiting for your approval"),
    WorkOrder.Status.IN_PROGRESS: pgettext_lazy("owner page", "Being worked on"),
    WorkOrder.Status.QC: pgettext_lazy("owner page", "Quality check"),
    WorkOrder.Status.READY: pgettext_lazy("owner page", "Ready to collect"),
    WorkOrder.Status.SETTLED: pgettext_lazy("owner page", "Collected"),
    WorkOrder.Status.CLOSED: pgettext_lazy("owner page", "Collected"),
    WorkOrder.Status.CANCELLED: pgettext_lazy("owner page", "Cancelled"),
}


def _progress_context(link: PortalLink, token: str) -> dict:
    wo = link.work_order
    order = [s for s, _label in STEPS]
    status = WorkOrder.Status.SETTLED if wo.status == WorkOrder.Status.CLOSED else wo.status
    current = order.index(status) if status in order else -1
    steps = [
        {"label": label, "done": i < current, "current": i == current}
        for i, (_s, label) in enumerate(STEPS)
    ]
    photos = [
        _photo_urls(m, "portal_progress_photo", token)
        for m in Media.objects.filter(work_order=wo, shared=True).order_by("created_at", "id")
    ]
    return {
        "link": link,
        "wo": wo,
        "store": wo.store,
        "status_label": STATUS_LABELS.get(wo.status, wo.get_status_display()),
        "steps": steps,
        "photos": photos,
        "events": list(wo.events.filter(public=True).order_by("-at", "-id")[:100]),
        "live_url": reverse("portal_progress_live", args=[token]),
    }


@require_GET
@link_page(P.PROGRESS)
def progress(request, link, token):
    services.mark_opened(link)
    return render(request, "portal/progress.html", _progress_context(link, token))


@require_GET
@link_page(P.PROGRESS)
def progress_live(request, link, token):
    """The part of the progress page that htmx reloads every 15 s."""
    return render(request, "portal/_progress_live.html", _progress_context(link, token))


# --- photos -------------------------------------------------------------------------------


def _photo(request, link, media_token):
    """A photo the shop shared on this link's work order (the thumbnail unless ``?full=1``)."""
    media = Media.objects.filter(
        token=media_token, work_order_id=link.work_order_id, shared=True
    ).first()
    if media is None:
        raise Http404
    thumb = not request.GET.get("full") and bool(media.thumbnail)
    return media_response(media, thumb, request=request)


@require_GET
@link_page(P.ESTIMATE)
def estimate_photo(request, link, token, media_token):
    return _photo(request, link, media_token)


@require_GET
@link_page(P.PROGRESS)
def progress_photo(request, link, token, media_token):
    return _photo(request, link, media_token)


# --- survey -------------------------------------------------------------------------------


def _survey_context(link: PortalLink, values=None, errors=None) -> dict:
    wo = link.work_order
    values = values or {}
    errors = errors or {}
    dimensions = [
        {"name": name, "label": label, "value": values.get(name, ""), "error": errors.get(name)}
        for name, label in DIMENSIONS
    ]
    return {
        "link": link,
        "wo": wo,
        "store": wo.store,
        "values": values,
        "errors": errors,
        "dimensions": dimensions,
        "nps_range": range(11),
        "star_range": range(1, 6),
        "reasons": LOW_REASONS,
        "low_nps": LOW_NPS,
        "low_stars": LOW_STARS,
        "done": False,
    }


def _survey_done(request, link, *, already: bool, status: int = 200) -> HttpResponse:
    context = _survey_context(link)
    context.update(done=True, already=already)
    return render(request, "portal/survey.html", context, status=status)


@require_http_methods(["GET", "POST"])
@link_page(P.SURVEY)
def survey(request, link, token):
    if request.method == "GET":
        if Survey.objects.filter(work_order_id=link.work_order_id).exists():
            return _survey_done(request, link, already="thanks" not in request.GET)
        services.mark_opened(link)
        return render(request, "portal/survey.html", _survey_context(link))
    values = {name: request.POST.get(name, "") for name in ("nps", *DIMENSION_NAMES, "comment")}
    values["reasons"] = request.POST.getlist("reasons")
    try:
        feedback.submit_survey(link, **values)
    except ServiceError as exc:
        if exc.code == "already_submitted":
            return _survey_done(request, link, already=True, status=409)
        if exc.status not in (409, 422):
            raise
        errors = {k: str(v) for k, v in exc.fields.items()}
        context = _survey_context(link, values, errors)
        context["error"] = exc.message if not errors else _("Please check the marked answers.")
        return render(request, "portal/survey.html", context, status=exc.status)
    return redirect(f"{request.path}?thanks=1")


# --- public booking -----------------------------------------------------------------------


def _org(org_code: str) -> Organization:
    org = Organization.objects.filter(code=org_code, is_active=True).first()
    if org is None:
        raise NotFound(_("This booking page does not exist."))
    return org


def _bookable_stores(org: Organization) -> list[Store]:
    """The org's stores taking online bookings, in one query (a store without settings takes
    them: that is the default)."""
    return list(
        Store.objects.filter(org=org, is_active=True)
        .exclude(service_settings__online_booking=False)
        .order_by("name")
    )


def _store(org: Organization, store_code: str) -> tuple[Store, ServiceSettings]:
    """The store and its settings, read once for the whole request. A store without a settings
    row gets the defaults unsaved: an anonymous visitor never writes."""
    store = (
        Store.objects.select_related("service_settings")
        .filter(org=org, code=store_code, is_active=True)
        .first()
    )
    if store is None:
        raise NotFound(_("This store does not take online bookings."))
    try:
        conf = store.service_settings
    except ServiceSettings.DoesNotExist:
        conf = ServiceSettings(store=store)
    if not conf.online_booking:
        raise NotFound(_("This store does not take online bookings."))
    store.org = org
    return store, conf


@require_GET
def book_stores(request, org_code):
    """A chain's booking entry: choose the store (straight to it when there is only one)."""
    try:
        org = _org(org_code)
    except NotFound as exc:
        return _error(request, exc)
    stores = _bookable_stores(org)
    if len(stores) == 1:
        return redirect("portal_book", org_code=org.code, store_code=stores[0].code)
    return render(request, "portal/book_stores.html", {"org": org, "stores": stores})


def _days(conf: ServiceSettings) -> list[datetime.date]:
    today = timezone.localdate()
    return [today + datetime.timedelta(days=i) for i in range(conf.booking_days + 1)]


def _parse_day(value, days: list[datetime.date]) -> datetime.date:
    try:
        day = datetime.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return days[0]
    return day if day in days else days[0]


def _slot_choices(store: Store, conf: ServiceSettings, day: datetime.date) -> list[dict]:
    return [
        {
            "value": timezone.localtime(s["starts_at"]).strftime("%H:%M"),
            "left": s["left"],
            "disabled": s["past"] or s["left"] <= 0,
        }
        for s in appointments.slots(store, day, conf=conf)
    ]


def _booking_context(
    store: Store,
    conf: ServiceSettings,
    day: datetime.date,
    values=None,
    errors=None,
    invite: dict | None = None,
) -> dict:
    """``invite``: the reminder link's customer (``services.read_invite``), whose mobile the
    page shows masked."""
    slots = _slot_choices(store, conf, day)
    return {
        "store": store,
        "org": store.org,
        "days": _days(conf),
        "day": day,
        "slots": slots,
        "any_free": any(not s["disabled"] for s in slots),
        "packages": ServicePackage.objects.filter(
            org_id=store.org_id, is_active=True, bookable=True
        ).order_by("name"),
        "values": values or {},
        "errors": errors or {},
        "today": timezone.localdate(),
        "invite_mobile": mask_mobile(invite["mobile"]) if invite else "",
    }


@require_http_methods(["GET", "POST"])
def book(request, org_code, store_code):
    try:
        store, conf = _store(_org(org_code), store_code)
    except NotFound as exc:
        return _error(request, exc)
    days = _days(conf)
    source = request.GET if request.method == "GET" else request.POST
    token = source.get("k", "").strip()[:400]
    invite = services.read_invite(token, store) if token else None
    if request.method == "GET":
        day = _parse_day(request.GET.get("day"), days)
        values, errors = {}, {}
        if invite is not None:
            values = {"name": invite["name"], "plate": invite["plate"], "k": token}
        elif token:
            errors["invite"] = _(
                "This booking link has expired. Please fill in your details below."
            )
        context = _booking_context(store, conf, day, values, errors, invite)
        return render(request, "portal/book.html", context)
    values = {
        k: request.POST.get(k, "").strip()
        for k in ("day", "slot", "name", "mobile", "plate", "package", "note")
    }
    day = _parse_day(values["day"], days)
    errors: dict = {}
    mobile = values["mobile"]
    if invite is not None:
        values["k"] = token
        mobile = mobile or invite["mobile"]  # the reminder's customer need not type it
    if request.POST.get("website"):  # a field people never see: only robots fill it in
        errors["form"] = _("Your booking could not be taken. Please call the store.")
        return render(
            request,
            "portal/book.html",
            _booking_context(store, conf, day, values, errors, invite),
            status=400,
        )
    starts_at = None
    try:
        hour, minute = (int(p) for p in values["slot"].split(":"))
        starts_at = datetime.datetime.combine(
            datetime.date.fromisoformat(values["day"]),
            datetime.time(hour, minute),
            tzinfo=timezone.get_current_timezone(),
        )
    except (TypeError, ValueError):
        errors["starts_at"] = _("Choose a day and a time.")
    if starts_at is not None and starts_at <= timezone.now():
        errors["starts_at"] = _("This time has passed. Please choose a later time.")
    if not values["plate"]:
        errors["plate"] = _("Enter your car's plate number.")
    try:
        if errors:
            raise Invalid(fields=errors)
        appt = services.book_online(
            store,
            name=values["name"],
            mobile=mobile,
            plate=values["plate"],
            starts_at=starts_at,
            package_id=values["package"] or None,
            note=values["note"],
        )
    except ServiceError as exc:
        if exc.status not in (404, 409, 422):
            raise
        errors = {**errors, **{k: str(v) for k, v in exc.fields.items()}}
        if exc.code == "slot_full":
            errors["starts_at"] = str(exc.message)
        elif not exc.fields:
            errors["form"] = str(exc.message)
        context = _booking_context(store, conf, day, values, errors, invite)
        return render(request, "portal/book.html", context, status=exc.status)
    ref = signing.dumps(appt.pk, salt=BOOKING_SALT)
    return redirect("portal_book_done", org_code=org_code, store_code=store_code, ref=ref)


@require_GET
def book_slots(request, org_code, store_code):
    """The time buttons of one day (htmx swaps them in when the day changes)."""
    try:
        store, conf = _store(_org(org_code), store_code)
    except NotFound as exc:
        return _error(request, exc)
    days = _days(conf)
    day = _parse_day(request.GET.get("day"), days)
    return render(request, "portal/_slots.html", _booking_context(store, conf, day))


@require_GET
def book_done(request, org_code, store_code, ref):
    try:
        store, _conf = _store(_org(org_code), store_code)
        pk = signing.loads(ref, salt=BOOKING_SALT, max_age=7 * 24 * 3600)
        appt = Appointment.objects.select_related("package").get(pk=pk, store=store)
    except (NotFound, signing.BadSignature, Appointment.DoesNotExist) as exc:
        return _error(request, exc if isinstance(exc, NotFound) else NotFound())
    context = {
        "store": store,
        "appt": appt,
        "mobile": mask_mobile(appt.mobile),
        "again": reverse("portal_book", args=[org_code, store_code]),
    }
    return render(request, "portal/book_done.html", context)


# --- staff: send a link -------------------------------------------------------------------

SENDERS = {
    P.ESTIMATE: notify.estimate_link,
    P.PROGRESS: notify.progress_link,
    P.SURVEY: notify.survey_invitation,
}


def _links_context(request, wo: WorkOrder, sent=None) -> dict:
    now = timezone.now()
    active = [
        {
            "purpose": link.get_purpose_display(),
            "expires_at": link.expires_at,
            "opened": link.last_opened_at,
            "signed": bool(link.signature),
        }
        for link in wo.links.filter(revoked_at__isnull=True, expires_at__gt=now).order_by(
            "-created_at"
        )
    ]
    return {
        "wo": wo,
        "active_links": active,
        "sent": sent,
        "can_send": request.user.can("workorder.edit"),
        "purposes": [
            (P.ESTIMATE, _("Send approval link"), wo.is_open),
            (P.PROGRESS, _("Send progress link"), wo.status != WorkOrder.Status.CANCELLED),
            (P.SURVEY, _("Send survey"), wo.status in WorkOrder.FINISHED_STATUSES),
        ],
    }


@capability_required("workorder.view")
@require_GET
def workorder_links(request, pk):
    """The links panel of a work order page (load it with hx-get into ``#wo-links``)."""
    wo = selectors.get_work_order(request.user, pk)
    return render(request, "portal/_links.html", _links_context(request, wo))


@capability_required("workorder.edit")
@require_POST
def send_link(request, pk, purpose):
    """Issue a new link for the owner, queue its message, and show it so the advisor can also
    copy it into a chat."""
    wo = selectors.get_work_order(request.user, pk)
    if purpose not in SENDERS:
        raise Http404
    if purpose == P.ESTIMATE and not wo.is_open:
        raise Conflict(_("This work order can no longer be changed."))
    if purpose == P.SURVEY and wo.status not in WorkOrder.FINISHED_STATUSES:
        raise Conflict(_("The survey is sent after settlement."))
    path = SENDERS[purpose](wo)
    url = request.build_absolute_uri(path)
    if request.htmx:
        return render(request, "portal/_links.html", _links_context(request, wo, sent=url))
    if wo.customer.mobile:
        messages.success(
            request, _("Text message with the link queued for the owner: %(url)s") % {"url": url}
        )
    else:
        messages.warning(
            request, _("The owner has no mobile number; copy this link: %(url)s") % {"url": url}
        )
    return redirect("workorder_detail", wo.pk)
