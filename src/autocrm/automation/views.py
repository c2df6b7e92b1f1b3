"""The task inbox (待办): my and my roles' follow-ups, everything for managers, the closed ones;
a task's page to call the customer and record the result; a new task by hand."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.automation import selectors, services
from autocrm.automation.forms import CancelForm, CompleteForm, ReassignForm, TaskForm
from autocrm.automation.models import Task
from autocrm.core.errors import Invalid, NotFound, ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.pagination import page_for_request
from autocrm.core.selectors import store_count, visible_staff, visible_stores
from autocrm.core.views import capability_required, is_partial
from autocrm.customers import selectors as customer_selectors
from autocrm.customers.validators import normalize_plate

PAGE_SIZE = 50
TABS = ("mine", "all", "done")
# The services' field names that the forms call differently.
FIELD_NAMES = {"assignee_id": "assignee", "store_id": "store", "customer_id": "customer"}


def _tab(request) -> str:
    tab = request.GET.get("tab", "mine")
    if tab not in TABS or (tab == "all" and not request.user.can("task.manage")):
        tab = "mine"
    return tab


@capability_required("task.view")
def inbox(request):
    user = request.user
    tab = _tab(request)
    kind = request.GET.get("kind", "")
    if kind not in Task.Kind.values:
        kind = ""
    if tab == "done":
        view = "all" if user.can("task.manage") else "mine"
        qs = selectors.inbox(user, view, selectors.CLOSED, kind)
        summary = None
    else:
        qs = selectors.inbox(user, tab, Task.Status.OPEN, kind)
        summary = selectors.open_counts(qs)
    page = page_for_request(request, qs, PAGE_SIZE, pager=selectors.page)
    context = {
        "tasks": page["items"],
        "next_cursor": page["next_cursor"],
        "query": page["query"],
        "first_page": page["first_page"],
        "tab": tab,
        "kind": kind,
        "kinds": Task.Kind.choices,
        "summary": summary,
        "show_phone": user.can("customer.phone"),
        "show_store": store_count(user) > 1,
        "can_manage": user.can("task.manage"),
    }
    template = "automation/_task_rows.html" if is_partial(request) else "automation/inbox.html"
    return render(request, template, context)


# --- one task -----------------------------------------------------------------------------


def _store_staff(user, store_id):
    return list(visible_staff(user, store_id=store_id, active=True))


def _detail(request, task, *, status=200, error="", **forms):
    """The task's page, with the forms as the user left them (bound with errors) or fresh."""
    user = request.user
    can_work = task.status == Task.Status.OPEN and services.can_work(user, task)
    manage = can_work and user.can("task.manage")
    context = {
        "task": task,
        "error": error,
        "can_work": can_work,
        "can_manage": manage,
        "show_phone": user.can("customer.phone"),
        "show_work_order": bool(task.work_order_id) and user.can("workorder.view"),
        "next_tasks": selectors.next_tasks(task),
        "complete_form": forms.get("complete_form") or CompleteForm(prefix="done"),
        "cancel_form": forms.get("cancel_form") or CancelForm(prefix="cancel"),
        "reassign_form": forms.get("reassign_form")
        or (
            ReassignForm(prefix="move", staff=_store_staff(user, task.store_id)) if manage else None
        ),
    }
    return render(request, "automation/task_detail.html", context, status=status)


def _refused(request, task, exc: ServiceError, **forms):
    """A service's refusal on the page: 404 stays a 404; a closed task (409) or someone
    else's (403) shows why, with the page as it now is."""
    if isinstance(exc, NotFound):
        raise exc
    task = selectors.get_task(request.user, task.pk)  # it may have been closed meanwhile
    return _detail(request, task, status=exc.status, error=exc.display_text, **forms)


@capability_required("task.view")
def task_detail(request, pk):
    return _detail(request, selectors.get_task(request.user, pk))


@capability_required("task.view")
@require_POST
def task_complete(request, pk):
    task = selectors.get_task(request.user, pk)
    form = CompleteForm(request.POST, prefix="done")
    if not form.is_valid():
        return _detail(request, task, status=422, complete_form=form)
    data = form.cleaned_data
    try:
        services.complete_task(
            request.user,
            task,
            result=data["result"],
            note=data["note"],
            next_step=data["next_step"],
            next_due=data["next_due"],
        )
    except Invalid as exc:
        apply_service_error(form, exc)
        return _detail(request, task, status=422, complete_form=form)
    except ServiceError as exc:
        return _refused(request, task, exc, complete_form=form)
    text = _("Done: %(title)s") % {"title": task.title}
    if data["next_step"]:
        text += " " + _("Next step added: %(step)s") % {"step": data["next_step"]}
    messages.success(request, text)
    return redirect("task_inbox")


@capability_required("task.manage")
@require_POST
def task_cancel(request, pk):
    task = selectors.get_task(request.user, pk)
    form = CancelForm(request.POST, prefix="cancel")
    if not form.is_valid():
        return _detail(request, task, status=422, cancel_form=form)
    try:
        services.cancel_task(request.user, task, reason=form.cleaned_data["reason"])
    except Invalid as exc:
        apply_service_error(form, exc)
        return _detail(request, task, status=422, cancel_form=form)
    except ServiceError as exc:
        return _refused(request, task, exc, cancel_form=form)
    messages.success(request, _("Cancelled: %(title)s") % {"title": task.title})
    return redirect("task_inbox")


@capability_required("task.manage")
@require_POST
def task_reassign(request, pk):
    task = selectors.get_task(request.user, pk)
    form = ReassignForm(
        request.POST, prefix="move", staff=_store_staff(request.user, task.store_id)
    )
    if not form.is_valid():
        return _detail(request, task, status=422, reassign_form=form)
    try:
        task = services.reassign_task(
            request.user,
            task,
            assignee_id=form.cleaned_data["assignee"] or None,
            role=form.cleaned_data["role"],
        )
    except Invalid as exc:
        apply_service_error(form, exc, FIELD_NAMES)
        return _detail(request, task, status=422, reassign_form=form)
    except ServiceError as exc:
        return _refused(request, task, exc, reassign_form=form)
    who = task.assignee.display_name if task.assignee else task.get_role_display()
    messages.success(request, _("Passed on to %(who)s.") % {"who": who})
    return redirect("task_detail", pk=task.pk)


# --- a new task ---------------------------------------------------------------------------


def _customer_and_vehicle(user, query: str) -> tuple[int | None, int | None]:
    """The customer named by mobile, plate or number; with a plate, that vehicle too."""
    query = (query or "").strip()
    if not query:
        return None, None
    customer = customer_selectors.find_customer(user, query)
    if customer is None:
        raise Invalid(
            fields={"customer": _("No customer with this mobile number, plate or number.")}
        )
    plate = normalize_plate(query[:40])
    vehicle = None
    if plate:
        vehicle = (
            customer_selectors.visible_vehicles(user)
            .filter(plate=plate, plate_active=True, owner=customer)
            .first()
        )
    return customer.pk, (vehicle.pk if vehicle else None)


@capability_required("task.create")
def task_create(request):
    user = request.user
    stores = list(visible_stores(user, active=True))
    staff = list(visible_staff(user, active=True))
    initial = {}
    customer_id = request.GET.get("customer", "")
    if customer_id.isdigit():
        initial["customer"] = customer_id
    form = TaskForm(request.POST or None, initial=initial, stores=stores, staff=staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer_pk, vehicle_pk = _customer_and_vehicle(user, data["customer"])
            task = services.create_task(
                user,
                store_id=data["store"],
                title=data["title"],
                kind=data["kind"],
                details=data["details"],
                role=data["role"],
                assignee_id=data["assignee"] or None,
                due_at=data["due_at"],
                customer_id=customer_pk,
                vehicle_id=vehicle_pk,
            )
        except ServiceError as exc:
            apply_service_error(form, exc, FIELD_NAMES)
        else:
            messages.success(request, _("Task added: %(title)s") % {"title": task.title})
            return redirect(reverse("task_detail", args=[task.pk]))
    status = 422 if form.errors else 200
    return render(request, "automation/task_form.html", {"form": form}, status=status)
