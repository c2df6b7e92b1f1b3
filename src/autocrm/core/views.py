"""Pages for sign-in, home, stores, regions, staff, audit log, jobs and the user's account.
Thin: parse input, call a selector or service, render."""

from __future__ import annotations

import logging
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from autocrm.core import jobs, selectors, services
from autocrm.core.errors import ServiceError
from autocrm.core.forms import (
    AuditFilterForm,
    LoginForm,
    RegionForm,
    StaffForm,
    StoreForm,
    StyledPasswordChangeForm,
    TokenForm,
    apply_service_error,
)
from autocrm.core.models import AuditLog, JobRun, User
from autocrm.core.pagination import page_for_request
from autocrm.core.roles import ROLE_CHOICES, grantable_roles
from autocrm.customers import selectors as customer_selectors

security_log = logging.getLogger("autocrm.security")


def capability_required(*capabilities: str):
    """Signed-in users holding at least one of ``capabilities``."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not any(request.user.can(c) for c in capabilities):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def is_partial(request) -> bool:
    """An htmx request for a fragment (not htmx restoring a page from history)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


# --- sign-in ------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "core/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        language = form.get_user().language
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=getattr(settings, "LANGUAGE_COOKIE_SECURE", False),
        )
        return response

    def form_invalid(self, form):
        security_log.info(
            "web sign-in failed username=%s ip=%s",
            form.data.get("username", ""),
            self.request.META.get("REMOTE_ADDR"),
        )
        return super().form_invalid(form)


def lockout_response(request, original_response=None, credentials=None):
    """Shown by django-axes when a username is locked after repeated failures."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = ngettext(
        "Too many failed sign-ins. This account is locked for %(minutes)d minute; "
        "try again later or ask a manager to help.",
        "Too many failed sign-ins. This account is locked for %(minutes)d minutes; "
        "try again later or ask a manager to help.",
        minutes,
    ) % {"minutes": minutes}
    username = (credentials or {}).get("username", "")
    security_log.warning(
        "sign-in locked out username=%s ip=%s", username, request.META.get("REMOTE_ADDR")
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "locked_out", "message": message, "fields": {}}, status=429)
    form = LoginForm(request, data=None)
    return render(request, "core/login.html", {"form": form, "locked_message": message}, status=429)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "core/password_change.html"
    form_class = StyledPasswordChangeForm

    def get_success_url(self):
        messages.success(self.request, _("Your password has been changed."))
        return reverse("account")


@require_POST
def set_language(request):
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = "/"
    if request.user.is_authenticated:
        services.set_language(request.user, language)
    translation.activate(language)
    response = HttpResponseRedirect(next_url)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=getattr(settings, "LANGUAGE_COOKIE_SECURE", False),
    )
    return response


# --- home ---------------------------------------------------------------------------------


@login_required
def home(request):
    user = request.user
    context = {
        "my_stores": list(selectors.visible_stores(user)[:12]),
        "store_count": selectors.store_count(user),
        "roles": [label for code, label in ROLE_CHOICES if user.has_role(code)],
    }
    if user.can("staff.view"):
        context["staff_count"] = selectors.staff_count(user)
    if user.can("audit.view"):
        today = timezone.localdate()
        context["changes_today"] = selectors.audit_entries(
            user, selectors.AuditFilter(date_from=today, date_to=today)
        ).count()
    if user.can("jobs.view"):
        context["worker"] = jobs.worker_status()
    return render(request, "core/home.html", context)


# --- regions and stores -------------------------------------------------------------------


@capability_required("store.view")
def store_list(request):
    q = request.GET.get("q", "").strip()
    region_id = request.GET.get("region") or None
    stores = selectors.visible_stores(request.user, q=q, region_id=region_id)
    page = Paginator(stores, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "region_id": str(region_id or ""),
        "regions": selectors.visible_regions(request.user),
    }
    template = "core/_store_rows.html" if is_partial(request) else "core/store_list.html"
    return render(request, template, context)


@capability_required("store.view")
def store_detail(request, pk):
    store = selectors.get_store(request.user, pk)
    staff = (
        selectors.visible_staff(request.user, store_id=store.pk)
        if request.user.can("staff.view")
        else []
    )
    return render(request, "core/store_detail.html", {"store": store, "staff": staff})


def _store_form_page(request, store=None):
    regions = selectors.visible_regions(request.user)
    initial = {}
    if store is not None:
        initial = {
            "name": store.name,
            "code": store.code,
            "kind": store.kind,
            "city": store.city,
            "address": store.address,
            "phone": store.phone,
            "is_active": store.is_active,
            "region": store.region_id or "",
        }
    form = StoreForm(request.POST or None, regions=regions, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if store is None:
                store = services.create_store(request.user, **form.service_data())
                messages.success(request, _("Store %(name)s created.") % {"name": store.name})
            else:
                services.update_store(request.user, store, **form.service_data())
                messages.success(request, _("Store %(name)s saved.") % {"name": store.name})
            return redirect("store_detail", pk=store.pk)
        except ServiceError as exc:
            apply_service_error(form, exc)
    return render(request, "core/store_form.html", {"form": form, "store": store})


@capability_required("store.manage")
def store_create(request):
    return _store_form_page(request)


@capability_required("store.manage")
def store_edit(request, pk):
    return _store_form_page(request, selectors.get_store(request.user, pk))


@capability_required("store.view")
def region_list(request):
    form = RegionForm(request.POST or None)
    if request.method == "POST":
        if not request.user.can("region.manage"):
            raise PermissionDenied
        if form.is_valid():
            try:
                region = services.create_region(request.user, **form.cleaned_data)
                messages.success(request, _("Region %(name)s created.") % {"name": region.name})
                return redirect("region_list")
            except ServiceError as exc:
                apply_service_error(form, exc)
    regions = selectors.visible_regions(request.user)
    return render(request, "core/region_list.html", {"regions": regions, "form": form})


# --- staff --------------------------------------------------------------------------------


@capability_required("staff.view")
def staff_list(request):
    q = request.GET.get("q", "").strip()
    role = request.GET.get("role", "")
    store_id = request.GET.get("store") or None
    state = request.GET.get("state", "active")
    active = {"active": True, "inactive": False}.get(state)
    staff = selectors.visible_staff(request.user, q=q, role=role, store_id=store_id, active=active)
    page = Paginator(staff, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "role": role,
        "store_id": str(store_id or ""),
        "state": state,
        "role_choices": ROLE_CHOICES,
        "stores": selectors.visible_stores(request.user),
        "show_phone": request.user.can("staff.phone"),
    }
    template = "core/_staff_rows.html" if is_partial(request) else "core/staff_list.html"
    return render(request, template, context)


def _staff_form_page(request, staff=None):
    user = request.user
    stores = selectors.visible_stores(user, active=True)
    regions = selectors.visible_regions(user)
    grantable = grantable_roles(user.role_codes())
    initial = {"scope": User.Scope.STORE}
    if staff is not None:
        initial = {
            "full_name": staff.full_name,
            "phone": staff.phone,
            "scope": staff.scope,
            "roles": list(staff.role_codes()),
            "stores": [s.pk for s in staff.stores.all()],
            "regions": [r.pk for r in staff.regions.all()],
        }
        grantable = sorted(set(grantable) | set(staff.role_codes()))
    elif len(stores) == 1:
        initial["stores"] = [stores[0].pk]
    form = StaffForm(
        request.POST or None,
        stores=stores,
        regions=regions,
        grantable=grantable,
        editing=staff is not None,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        common = {
            "full_name": data["full_name"],
            "phone": data["phone"],
            "roles": data["roles"],
            "scope": data["scope"],
            "store_ids": [int(s) for s in data["stores"]],
            "region_ids": [int(r) for r in data["regions"]],
        }
        try:
            if staff is None:
                staff = services.create_staff(
                    user, username=data["username"], password=data["password"], **common
                )
                messages.success(request, _("%(name)s can now sign in.") % {"name": staff})
            elif staff.pk == user.pk:  # one's own roles and stores are changed by another manager
                services.update_staff(user, staff, full_name=data["full_name"], phone=data["phone"])
                messages.success(request, _("%(name)s saved.") % {"name": staff})
            else:
                services.update_staff(user, staff, **common)
                messages.success(request, _("%(name)s saved.") % {"name": staff})
            return redirect("staff_list")
        except ServiceError as exc:
            apply_service_error(form, exc)
    return render(request, "core/staff_form.html", {"form": form, "staff": staff})


@capability_required("staff.manage")
def staff_create(request):
    return _staff_form_page(request)


@capability_required("staff.manage")
def staff_edit(request, pk):
    return _staff_form_page(request, selectors.get_staff(request.user, pk))


@require_POST
@capability_required("staff.manage")
def staff_set_active(request, pk):
    staff = selectors.get_staff(request.user, pk)
    active = request.POST.get("active") == "1"
    try:
        services.set_staff_active(request.user, staff, active)
        if active:
            messages.success(request, _("%(name)s can sign in again.") % {"name": staff})
        else:
            messages.success(
                request, _("%(name)s is deactivated and can no longer sign in.") % {"name": staff}
            )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return redirect("staff_edit", pk=staff.pk)


# --- audit log and jobs -------------------------------------------------------------------


@capability_required("audit.view")
def audit_list(request):
    form = AuditFilterForm(
        request.GET or None, object_types=selectors.audit_object_types(request.user)
    )
    f = selectors.AuditFilter()
    if form.is_valid():
        f = selectors.AuditFilter(**{k: v for k, v in form.cleaned_data.items() if v})
    page = page_for_request(request, selectors.audit_entries(request.user, f), 50)
    context = {
        **page,
        "form": form,
        "entries": page["items"],
        "actions": dict(AuditLog.Action.choices),
        "sources": dict(AuditLog.Source.choices),
    }
    return render(request, "core/audit_list.html", context)


@capability_required("jobs.view")
def job_list(request):
    if request.method == "POST":
        jobs.selfcheck()
        messages.success(request, _("A check job was queued; refresh in a few seconds."))
        return redirect("job_list")
    counts = selectors.job_counts(24)
    context = {
        "runs": selectors.recent_jobs(100),
        "count_rows": [(label, counts.get(status, 0)) for status, label in JobRun.Status.choices],
        "worker": jobs.worker_status(),
    }
    return render(request, "core/job_list.html", context)


# --- account ------------------------------------------------------------------------------


@login_required
def account(request):
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            token, new_token = services.create_api_token(request.user, form.cleaned_data["name"])
            form = TokenForm()
        except ServiceError as exc:
            apply_service_error(form, exc)
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": selectors.user_tokens(request.user),
        "stores": selectors.visible_stores(request.user),
        "roles": [label for code, label in ROLE_CHOICES if request.user.has_role(code)],
    }
    response = render(request, "core/account.html", context)
    if new_token:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token_revoke(request, pk):
    try:
        token = services.revoke_api_token(request.user, pk)
        messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return redirect("account")


# --- search -------------------------------------------------------------------------------


@login_required
def search(request):
    q = request.GET.get("q", "").strip()[:100]
    user = request.user
    if q and not is_partial(request) and user.can("customer.view"):
        # Enter on an exact plate or mobile number opens the customer directly.
        customer = customer_selectors.exact_match(user, q)
        if customer is not None:
            return redirect("customer_detail", pk=customer.pk)
    found = selectors.search(user, q)
    context = {"q": q, **found, "empty": not any(found.values())}
    if is_partial(request):
        return render(request, "core/_search_results.html", context)
    return render(request, "core/search.html", context)


# --- health and errors --------------------------------------------------------------------


@never_cache
def healthz(request):
    db_ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        db_ok = False
    worker = jobs.worker_status() if db_ok else {"ok": False, "last_seen": None}
    worker.pop("worker", None)  # public endpoint: no host names or process ids
    ok = db_ok and worker["ok"]
    body = {
        "status": "ok" if ok else "degraded",
        "database": {"ok": db_ok, "vendor": connection.vendor},
        "worker": worker,
        "time": timezone.now().isoformat(),
    }
    return JsonResponse(body, status=200 if ok else 503)


def _error(request, status: int, title: str, code: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "message": title, "fields": {}}, status=status)
    return render(request, "error.html", {"title": title, "status": status}, status=status)


def error_400(request, exception=None):
    return _error(request, 400, _("The request could not be understood."), "bad_request")


def error_403(request, exception=None):
    return _error(request, 403, _("You do not have permission to open this page."), "forbidden")


def error_404(request, exception=None):
    return _error(
        request, 404, _("This page does not exist or is not in your stores."), "not_found"
    )


def error_500(request):
    return _error(
        request, 500, _("Something went wrong on our side; it was logged."), "server_error"
    )


def csrf_failure(request, reason=""):
    security_log.warning(
        "csrf failure path=%s ip=%s", request.path, request.META.get("REMOTE_ADDR")
    )
    return _error(
        request,
        403,
        _("Your form expired or came from elsewhere. Reload the page and try again."),
        "csrf",
    )
