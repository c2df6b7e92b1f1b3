"""Customer and vehicle pages: list, forms, the 360° page and its quick actions.
Thin: parse input, call a selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.catalog import selectors as catalog_selectors
from autocrm.core import customfields
from autocrm.core.errors import Conflict, Forbidden, NotFound, ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.http import XLSX, download
from autocrm.core.pagination import page_for_request
from autocrm.core.selectors import visible_stores
from autocrm.core.views import capability_required, is_partial
from autocrm.customers import customfilters, maintenance, privacy, selectors, services
from autocrm.customers import preferences as customer_preferences
from autocrm.customers.forms import (
    CustomerFilterForm,
    CustomerForm,
    InteractionForm,
    MileageForm,
    VehicleFilterForm,
    VehicleForm,
    org_sources,
    org_tags,
)

PAGE_SIZE = 50
PREFERRED_SERVICE_CHOICES = 40  # of each kind: packages, labour items
UNPROCESSABLE = 422  # an inline htmx form refused by a service (app.js swaps it in anyway)


# --- list ---------------------------------------------------------------------------------


@capability_required("customer.list")
def customer_list(request):
    user = request.user
    stores = list(visible_stores(user))
    form = CustomerFilterForm(
        request.GET,
        stores=stores,
        tags=org_tags(user),
        sources=org_sources(user),
        custom=customfilters.filterable(user, "customer"),
    )
    customers = selectors.customer_list(user, selectors.CustomerFilter(**form.filter_values()))
    page = page_for_request(request, customers, PAGE_SIZE)
    context = {
        **page,
        "form": form,
        "customers": page["items"],
        "show_store_filter": len(stores) > 1,
        # Always masked in lists: the full number is one audited click away on the 360° page.
        "show_phone": False,
        # htmx swaps only the rows: the export link follows the filters out of band
        "export_oob": is_partial(request),
    }
    template = "customers/_customer_rows.html" if is_partial(request) else "customers/list.html"
    return render(request, template, context)


def _vehicle_filters(request) -> tuple[VehicleFilterForm, list]:
    stores = list(visible_stores(request.user))
    form = VehicleFilterForm(
        request.GET, stores=stores, custom=customfilters.filterable(request.user, "vehicle")
    )
    return form, stores


@capability_required("customer.list")
def vehicle_list(request):
    user = request.user
    form, stores = _vehicle_filters(request)
    vehicles = selectors.vehicle_list(user, selectors.VehicleFilter(**form.filter_values()))
    page = page_for_request(request, vehicles, PAGE_SIZE, descending=not form.oldest_first())
    context = {
        **page,
        "form": form,
        "vehicles": page["items"],
        "show_store_filter": len(stores) > 1,
        "show_phone": False,  # masked in lists, as on the customer list
        "export_oob": is_partial(request),
    }
    rows = "customers/_vehicle_rows.html"
    return render(request, rows if is_partial(request) else "customers/vehicle_list.html", context)


@capability_required("customer.export")
def vehicle_list_export(request):
    user = request.user
    form, _stores = _vehicle_filters(request)
    qs = selectors.vehicle_list(user, selectors.VehicleFilter(**form.filter_values()))
    qs = qs.order_by("pk" if form.oldest_first() else "-pk")
    return download(privacy.vehicle_list_xlsx(user, qs), "vehicles.xlsx", XLSX)


# --- customer form ------------------------------------------------------------------------


def _existing_link(user, exc: ServiceError, kind: str) -> str | None:
    """For a duplicate: the 360° page of the existing customer (or vehicle owner), when the
    user may open it."""
    existing_id = exc.extra.get("existing_id") if isinstance(exc, Conflict) else None
    if not existing_id:
        return None
    try:
        if kind == "customer":
            owner_id = selectors.get_customer(user, existing_id).pk
        else:
            owner_id = selectors.get_vehicle(user, existing_id).owner_id
    except NotFound:
        return None
    return reverse("customer_detail", args=[owner_id]) if owner_id else None


def _initial(obj, field_names, **special) -> dict:
    """An edit form's initial values: the record's attribute of each form field's name, and
    ``special`` for fields that are not plain attributes (relations, derived flags)."""
    initial = {name: getattr(obj, name) for name in field_names if hasattr(obj, name)}
    return {**initial, **special}


def _catalog_service_names(user) -> list[str]:
    """The active service packages and labour items of the catalog, offered as preferred
    services (by name: a renamed or retired item stays on the customer as a free tag)."""
    names: list[str] = []
    for qs in (
        catalog_selectors.packages(user, active=True).prefetch_related(None),
        catalog_selectors.labour_items(user, active=True),
    ):
        for name in qs.values_list("name", flat=True)[:PREFERRED_SERVICE_CHOICES]:
            if name not in names:
                names.append(name)
    return names


def _customer_form_page(request, customer=None):
    user = request.user
    stores = list(visible_stores(user, active=True))
    if customer is not None and customer.home_store_id not in {s.pk for s in stores}:
        stores.append(customer.home_store)
    initial = {}
    if customer is not None:
        initial = _initial(
            customer,
            CustomerForm.base_fields,
            source=customer.source_id or "",
            home_store=customer.home_store_id,
            tags=[t.pk for t in customer.tags.all()],
        )
    form = CustomerForm(
        request.POST or None,
        initial=initial,
        stores=stores,
        sources=org_sources(user, active_only=True),
        tags=org_tags(user),
        custom=customfields.editable(user, "customer"),
        custom_values=customer.custom if customer is not None else None,
        service_names=_catalog_service_names(user),
        preferences_values=customer.preferences if customer is not None else None,
    )
    existing_url = None
    if request.method == "POST" and form.is_valid():
        try:
            if customer is None:
                customer = services.create_customer(user, **form.service_data())
                messages.success(request, _("Customer %(name)s added.") % {"name": customer})
            else:
                services.update_customer(user, customer, **form.service_data())
                messages.success(request, _("Customer %(name)s saved.") % {"name": customer})
            return redirect("customer_detail", pk=customer.pk)
        except ServiceError as exc:
            apply_service_error(
                form, exc, lambda name: CustomerForm.PREFERENCE_FIELDS.get(name, name)
            )
            existing_url = _existing_link(user, exc, "customer")
    context = {"form": form, "customer": customer, "existing_url": existing_url}
    return render(request, "customers/customer_form.html", context)


@capability_required("customer.edit")
def customer_create(request):
    return _customer_form_page(request)


@capability_required("customer.edit")
def customer_edit(request, pk):
    return _customer_form_page(request, selectors.get_customer(request.user, pk))


# --- 360° page ----------------------------------------------------------------------------


def _with_custom_rows(user, vehicles):
    """Give each vehicle its ``custom_rows`` for the card (one definitions query for all)."""
    fields = customfields.visible(user, "vehicle")
    for vehicle in vehicles:
        vehicle.custom_rows = customfields.display_with(fields, vehicle.custom)
    return vehicles


def _mileage_form(vehicle, data=None) -> MileageForm:
    return MileageForm(data, vehicle_id=vehicle.pk, initial={"read_on": timezone.localdate()})


def _profile_context(request, pk, **extra) -> dict:
    profile = selectors.profile(request.user, pk)
    _with_custom_rows(request.user, profile.vehicles)
    return {
        "profile": profile,
        "customer": profile.customer,
        "vehicles": [(v, _mileage_form(v)) for v in profile.vehicles],
        "interaction_form": InteractionForm(),
        "timeline": profile.timeline,
        "timeline_limit": selectors.TIMELINE_LIMIT,
        "today": timezone.localdate(),
        "custom_rows": customfields.display(request.user, "customer", profile.customer.custom),
        "preferences": customer_preferences.shown(profile.customer.preferences),
        **extra,
    }


def _quick_action(request, form, action, *, fresh, done: str, back: str, fragment):
    """An inline form of the 360° page: the bound ``form`` runs ``action(cleaned_data)`` (a
    service); a refusal lands on the form's fields. Without htmx: a flash message and back to
    ``back``; with htmx: ``fragment(form, ok)`` -> (template, context), status 422 if refused."""
    ok = form.is_valid()
    if ok:
        try:
            action(form.cleaned_data)
            form = fresh()
        except ServiceError as exc:
            apply_service_error(form, exc)
            ok = False
    if not is_partial(request):
        if ok:
            messages.success(request, done)
        else:
            messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect(back)
    template, context = fragment(form, ok)
    return render(request, template, context, status=200 if ok else UNPROCESSABLE)


@capability_required("customer.view")
def customer_detail(request, pk):
    return render(request, "customers/detail.html", _profile_context(request, pk))


@require_POST
@capability_required("customer.view")
def customer_reveal(request, pk):
    customer = selectors.get_customer(request.user, pk)
    try:
        mobile = services.reveal_mobile(request.user, customer)
    except Forbidden as exc:
        return HttpResponse(str(exc.message), status=403, content_type="text/plain")
    if not is_partial(request):
        return render(
            request, "customers/detail.html", _profile_context(request, pk, revealed=mobile)
        )
    return render(request, "customers/_mobile.html", {"customer": customer, "revealed": mobile})


@require_POST
@capability_required("customer.view")
def customer_interaction(request, pk):
    user = request.user
    customer = selectors.get_customer(user, pk)

    def fragment(form, ok):
        return "customers/_timeline.html", {
            "customer": customer,
            "interaction_form": form,
            "timeline": selectors.timeline(customer),
            "timeline_limit": selectors.TIMELINE_LIMIT,
        }

    return _quick_action(
        request,
        InteractionForm(request.POST),
        lambda data: services.add_interaction(user, customer, **data),
        fresh=InteractionForm,
        done=_("Added to the timeline."),
        back=reverse("customer_detail", args=[customer.pk]),
        fragment=fragment,
    )


# --- vehicles -----------------------------------------------------------------------------


def _vehicle_form_page(request, owner, vehicle=None):
    user = request.user
    initial = {}
    if vehicle is not None:
        initial = _initial(
            vehicle,
            VehicleForm(editing=True).fields,
            confirm_vin=bool(vehicle.vin) and not vehicle.vin_check_ok,
        )
    form = VehicleForm(
        request.POST or None,
        initial=initial,
        editing=vehicle is not None,
        custom=customfields.editable(user, "vehicle"),
        custom_values=vehicle.custom if vehicle is not None else None,
    )
    existing_url = None
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        try:
            if vehicle is None:
                vehicle = services.create_vehicle(user, owner_id=owner.pk, **data)
                messages.success(request, _("Vehicle %(plate)s added.") % {"plate": vehicle})
            else:
                # Unchanged plate and VIN are not re-checked (an accepted unusual plate stays).
                for name in ("plate", "vin"):
                    if name not in form.changed_data:
                        data.pop(name)
                services.update_vehicle(user, vehicle, **data)
                messages.success(request, _("Vehicle %(plate)s saved.") % {"plate": vehicle})
            if vehicle.owner_id:
                return redirect("customer_detail", pk=vehicle.owner_id)
            return redirect("customer_list")
        except ServiceError as exc:
            apply_service_error(form, exc)
            form.vin_unconfirmed = exc.code == services.VIN_UNCONFIRMED
            existing_url = _existing_link(user, exc, "vehicle")
    context = {
        "form": form,
        "owner": owner,
        "vehicle": vehicle,
        "existing_url": existing_url,
        "show_vin_confirmation": form.show_vin_confirmation(),
    }
    return render(request, "customers/vehicle_form.html", context)


@capability_required("customer.edit")
def vehicle_create(request):
    owner = selectors.get_customer(request.user, request.GET.get("owner"))
    return _vehicle_form_page(request, owner)


@capability_required("customer.edit")
def vehicle_edit(request, pk):
    vehicle = selectors.get_vehicle(request.user, pk)
    return _vehicle_form_page(request, vehicle.owner, vehicle)


@capability_required("customer.view")
def vehicle_detail(request, pk):
    vehicle = selectors.get_vehicle(request.user, pk)
    if vehicle.owner_id:
        return redirect("customer_detail", pk=vehicle.owner_id)
    return redirect("vehicle_edit", pk=vehicle.pk)


@require_POST
@capability_required("customer.edit")
def vehicle_mileage(request, pk):
    user = request.user
    vehicle = selectors.get_vehicle(user, pk)

    def fragment(form, ok):
        _with_custom_rows(user, [vehicle])
        maintenance.with_due_state([vehicle])
        return "customers/_vehicle_card.html", {
            "vehicle": vehicle,
            "mileage_form": form,
            "open": not ok,
            "today": timezone.localdate(),
        }

    return _quick_action(
        request,
        MileageForm(request.POST, vehicle_id=vehicle.pk),
        lambda data: services.record_mileage(user, vehicle, **data),
        fresh=lambda: _mileage_form(vehicle),
        done=_("Mileage recorded."),
        back=reverse("vehicle_detail", args=[vehicle.pk]),
        fragment=fragment,
    )


# --- privacy, consent, merge, export --------------------------------------------------------


@capability_required("customer.export")
def customer_export(request, pk):
    """One customer's data for an access request (JSON or Excel); audited."""
    customer = selectors.get_customer(request.user, pk)
    if request.GET.get("format") == "xlsx":
        content = privacy.customer_data_xlsx(request.user, customer)
        return download(content, f"customer-{customer.pk}.xlsx", XLSX)
    content = privacy.customer_data_json(request.user, customer)
    return download(content, f"customer-{customer.pk}.json", "application/json")


@capability_required("customer.export")
def customer_list_export(request):
    user = request.user
    form = CustomerFilterForm(
        request.GET,
        stores=visible_stores(user),
        tags=org_tags(user),
        sources=org_sources(user),
        custom=customfilters.filterable(user, "customer"),
    )
    qs = selectors.customer_list(user, selectors.CustomerFilter(**form.filter_values()))
    return download(privacy.list_xlsx(user, qs), "customers.xlsx", XLSX)


@capability_required("customer.erase")
def customer_erase(request, pk):
    customer = selectors.get_customer(request.user, pk)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm") != "1":
            error = _("Tick the box to confirm the erasure.")
        else:
            try:
                privacy.erase_customer(request.user, customer, request.POST.get("reason", ""))
                messages.success(request, _("Personal data erased; visits and amounts are kept."))
                return redirect("customer_detail", pk=customer.pk)
            except ServiceError as exc:
                error = exc.display_text
    return render(request, "customers/erase.html", {"customer": customer, "error": error})


@require_POST
@capability_required("customer.edit")
def customer_consent(request, pk):
    customer = selectors.get_customer(request.user, pk)
    try:
        services.set_consent(
            request.user,
            customer,
            request.POST.get("channel", ""),
            request.POST.get("given") == "1",
            request.POST.get("how", ""),
        )
        messages.success(request, _("Consent recorded."))
    except ServiceError as exc:
        messages.error(request, exc.display_text)
    return redirect("customer_detail", pk=customer.pk)


@capability_required("customer.edit")
def customer_merge(request, pk):
    """Pick the duplicate (by mobile, plate or its number), see what moves, then confirm."""
    keep = selectors.get_customer(request.user, pk)
    query = (request.POST.get("q") or request.GET.get("q") or "").strip()
    drop, preview, error = None, None, ""
    if query:
        drop = selectors.find_customer(request.user, query)
        if drop is None:
            error = _("No customer of your stores matches; use the exact mobile or plate.")
        else:
            try:
                preview = privacy.merge_preview(request.user, keep, drop)
            except ServiceError as exc:
                error = exc.display_text
    if request.method == "POST" and request.POST.get("confirm") == "1" and preview:
        privacy.merge_customers(request.user, keep, drop)
        messages.success(request, _("Merged: everything of the duplicate is now on this record."))
        return redirect("customer_detail", pk=keep.pk)
    context = {"customer": keep, "q": query, "preview": preview, "error": error}
    return render(request, "customers/merge.html", context)


@capability_required("customer.edit")
def vehicle_transfer(request, pk):
    """Hand a vehicle to another customer (sold, or registered to a family member); the
    history stays with the vehicle and each owner's timeline keeps their own period."""
    vehicle = selectors.get_vehicle(request.user, pk)
    query = (request.POST.get("q") or "").strip()
    error = ""
    if request.method == "POST":
        new_owner = selectors.find_customer(request.user, query)
        if new_owner is None:
            error = _(
                "No customer of your stores matches; use the exact mobile or customer number."
            )
        else:
            try:
                services.transfer_vehicle(request.user, vehicle, new_owner)
                messages.success(
                    request,
                    _("Vehicle %(plate)s now belongs to %(name)s.")
                    % {"plate": vehicle, "name": new_owner.name},
                )
                return redirect("customer_detail", pk=new_owner.pk)
            except ServiceError as exc:
                error = exc.display_text
    return render(
        request, "customers/transfer.html", {"vehicle": vehicle, "q": query, "error": error}
    )
