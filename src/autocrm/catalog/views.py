"""Catalog pages: labour items, parts and packages in tabs, their forms, the package editor and
a store's price list with member prices. Thin: parse input, call a selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.catalog import selectors, services
from autocrm.catalog.forms import (
    LabourForm,
    PackageForm,
    PackageItemForm,
    PartForm,
    StorePriceForm,
)
from autocrm.core.errors import ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.selectors import get_store, store_count, visible_stores
from autocrm.core.views import capability_required

PAGE_SIZE = 50
TABS = ("labour", "parts", "packages")
# An item kind (URL word, service kind) → its form and the catalog tab that lists it.
ITEM_FORMS = {"labour": (LabourForm, "labour"), "part": (PartForm, "parts")}


def _state(request) -> tuple[str, bool | None]:
    state = request.GET.get("state", "active")
    if state not in ("active", "inactive", "all"):
        state = "active"
    return state, {"active": True, "inactive": False}.get(state)


# --- the catalog --------------------------------------------------------------------------


@capability_required("catalog.view")
def catalog_index(request):
    user = request.user
    tab = request.GET.get("tab", "labour")
    if tab not in TABS:
        tab = "labour"
    q = request.GET.get("q", "").strip()[:40]
    state, active = _state(request)
    rows = {
        "labour": selectors.labour_items,
        "parts": selectors.parts,
        "packages": selectors.packages,
    }[tab](user, q=q, active=active)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "tab": tab,
        "q": q,
        "state": state,
        "page": page,
        "can_manage": user.can("catalog.manage"),
        "tabs": [
            ("labour", _("Labour")),
            ("parts", _("Parts")),
            ("packages", _("Packages")),
        ],
    }
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "catalog/_rows.html" if partial else "catalog/index.html", context)


def _item_form_page(request, *, kind: str, item=None):
    user = request.user
    form_class, tab = ITEM_FORMS[kind]
    fields = list(form_class.base_fields)
    initial = {f: getattr(item, f) for f in fields} if item is not None else {}
    form = form_class(request.POST or None, initial=initial, editing=item is not None)
    if request.method == "POST" and form.is_valid():
        try:
            if item is None:
                item = services.create_item(user, kind, **form.cleaned_data)
            else:
                services.update_item(user, item, **form.cleaned_data)
            messages.success(request, _("%(name)s saved.") % {"name": item.name})
            return redirect(f"{reverse('catalog_index')}?{urlencode({'tab': tab, 'q': item.code})}")
        except ServiceError as exc:
            apply_service_error(form, exc)
    titles = {
        ("labour", False): _("New labour item"),
        ("labour", True): _("Edit labour item"),
        ("part", False): _("New part"),
        ("part", True): _("Edit part"),
    }
    context = {
        "form": form,
        "title": titles[(kind, item is not None)],
        "rows": [[form[name] for name in row if name in form.fields] for row in form.layout],
        "back": f"{reverse('catalog_index')}?tab={tab}",
        "retire_url": (
            reverse(f"catalog_{kind}_retire", args=[item.pk]) if item is not None else None
        ),
    }
    return render(request, "catalog/item_form.html", context)


@capability_required("catalog.manage")
def catalog_item_create(request, kind: str):
    return _item_form_page(request, kind=kind)


@capability_required("catalog.manage")
def catalog_item_edit(request, kind: str, pk):
    return _item_form_page(request, kind=kind, item=selectors.get_item(request.user, kind, pk))


def _retired(request, item, deleted: bool) -> None:
    if deleted:
        messages.success(request, _("%(name)s deleted.") % {"name": item.name})
    else:
        messages.info(
            request,
            _("%(name)s is already in use, so it was deactivated instead of deleted.")
            % {"name": item.name},
        )


@require_POST
@capability_required("catalog.manage")
def catalog_item_retire(request, kind: str, pk):
    item = selectors.get_item(request.user, kind, pk)
    try:
        _retired(request, item, services.retire_item(request.user, item))
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect(f"catalog_{kind}_edit", pk=item.pk)
    return redirect(f"{reverse('catalog_index')}?tab={ITEM_FORMS[kind][1]}")


# --- packages -----------------------------------------------------------------------------


def _package_error_field(name: str) -> str:
    if name.startswith("items."):
        return "quantity" if name.endswith(".quantity") else "item"
    return {"items": "item", "labour_id": "item", "part_id": "item"}.get(name, name)


def _package_form_page(request, package=None):
    user = request.user
    labour_items, parts = selectors.active_choices(user) if package is None else ((), ())
    initial = {}
    if package is not None:
        initial = {f: getattr(package, f) for f in ("code", "name", "repair_class", "bookable")}
        initial["is_active"] = package.is_active
    form = PackageForm(
        request.POST or None,
        initial=initial,
        editing=package is not None,
        labour_items=labour_items,
        parts=parts,
    )
    if request.method == "POST" and form.is_valid():
        try:
            if package is None:
                package = services.create_package(user, **form.service_data())
                messages.success(request, _("Package %(name)s created.") % {"name": package})
            else:
                services.update_package(user, package, **form.service_data())
                messages.success(request, _("Package %(name)s saved.") % {"name": package})
            return redirect("catalog_package", pk=package.pk)
        except ServiceError as exc:
            apply_service_error(form, exc, _package_error_field)
    context = {
        "form": form,
        "title": _("Edit package") if package else _("New package"),
        "rows": [[form[name] for name in row if name in form.fields] for row in form.layout],
        "back": (
            reverse("catalog_package", args=[package.pk])
            if package
            else f"{reverse('catalog_index')}?tab=packages"
        ),
        "retire_url": reverse("catalog_package_retire", args=[package.pk]) if package else None,
    }
    return render(request, "catalog/item_form.html", context)


@capability_required("catalog.manage")
def catalog_package_create(request):
    return _package_form_page(request)


@capability_required("catalog.manage")
def catalog_package_edit(request, pk):
    return _package_form_page(request, selectors.get_package(request.user, pk))


def _package_page(request, package, item_form=None, status: int = 200):
    user = request.user
    stores = list(visible_stores(user, active=True))
    store_id = request.GET.get("store") or (stores[0].pk if stores else None)
    level = request.GET.get("level", "").strip()[:30]
    preview = None
    if store_id:
        # A store of the list is already loaded; any other id is looked up (and scoped).
        store = next((s for s in stores if str(s.pk) == str(store_id)), store_id)
        try:
            preview = selectors.quote(user, store, level, package=package)
        except ServiceError:
            preview = None
    can_manage = user.can("catalog.manage")
    if item_form is None and can_manage:
        item_form = PackageItemForm(
            labour_items=selectors.labour_items(user, active=True),
            parts=selectors.parts(user, active=True),
        )
    context = {
        "package": package,
        "items": list(package.items.all()),
        "item_form": item_form,
        "can_manage": can_manage,
        "stores": stores,
        "store_id": str(store_id or ""),
        "level": level,
        "levels": selectors.level_names(user),
        "preview": preview,
    }
    return render(request, "catalog/package_detail.html", context, status=status)


@capability_required("catalog.view")
def catalog_package(request, pk):
    return _package_page(request, selectors.get_package(request.user, pk))


@require_POST
@capability_required("catalog.manage")
def catalog_package_item_add(request, pk):
    user = request.user
    package = selectors.get_package(user, pk)
    form = PackageItemForm(
        request.POST,
        labour_items=selectors.labour_items(user, active=True),
        parts=selectors.parts(user, active=True),
    )
    if form.is_valid():
        try:
            item = services.add_package_item(user, package, **form.service_data())
            messages.success(request, _("%(name)s added.") % {"name": item})
            return redirect("catalog_package", pk=package.pk)
        except ServiceError as exc:
            apply_service_error(form, exc, _package_error_field)
    return _package_page(request, package, form, status=422)


def _package_item(request, pk, item_pk):
    package = selectors.get_package(request.user, pk)
    return package, selectors.get_package_item(package, item_pk)


@require_POST
@capability_required("catalog.manage")
def catalog_package_item_remove(request, pk, item_pk):
    package, item = _package_item(request, pk, item_pk)
    try:
        services.remove_package_item(request.user, package, item)
        messages.success(request, _("%(name)s removed.") % {"name": item})
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return redirect("catalog_package", pk=package.pk)


@require_POST
@capability_required("catalog.manage")
def catalog_package_item_move(request, pk, item_pk):
    package, item = _package_item(request, pk, item_pk)
    step = -1 if request.POST.get("direction") == "up" else 1
    services.move_package_item(request.user, package, item, step)
    return redirect("catalog_package", pk=package.pk)


@require_POST
@capability_required("catalog.manage")
def catalog_package_item_quantity(request, pk, item_pk):
    package, item = _package_item(request, pk, item_pk)
    try:
        services.set_package_item_quantity(
            request.user, package, item, request.POST.get("quantity")
        )
        messages.success(request, _("Quantity of %(name)s saved.") % {"name": item})
    except ServiceError as exc:
        messages.error(request, "; ".join(str(m) for m in exc.fields.values()) or str(exc.message))
    return redirect("catalog_package", pk=package.pk)


@require_POST
@capability_required("catalog.manage")
def catalog_package_retire(request, pk):
    package = selectors.get_package(request.user, pk)
    _retired(request, package, services.retire_package(request.user, package))
    return redirect(f"{reverse('catalog_index')}?tab=packages")


# --- store prices -------------------------------------------------------------------------


@capability_required("catalog.view")
def catalog_price_stores(request):
    stores = list(visible_stores(request.user))
    if len(stores) == 1:
        return redirect("catalog_prices", store_id=stores[0].pk)
    return render(request, "catalog/price_stores.html", {"stores": stores})


@capability_required("catalog.view")
def catalog_prices(request, store_id):
    user = request.user
    store = get_store(user, store_id)
    tab = request.GET.get("tab", "labour")
    if tab not in ("labour", "parts"):
        tab = "labour"
    q = request.GET.get("q", "").strip()[:40]
    only_own = request.GET.get("own") == "1"
    if tab == "labour":
        items = selectors.labour_items(user, q=q, active=True)
    else:
        items = selectors.parts(user, q=q, active=True)
    if only_own:
        field = "labour" if tab == "labour" else "part"
        items = items.filter(pk__in=selectors.store_prices(user, store).values(f"{field}_id"))
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    kind = "labour" if tab == "labour" else "part"
    context = {
        "store": store,
        "tab": tab,
        "q": q,
        "own": only_own,
        "page": page,
        "rows": selectors.price_list(user, store, kind, list(page.object_list)),
        "kind": kind,
        "can_edit": user.can("prices.manage"),
        "other_stores": store_count(user) > 1,
        "tabs": [("labour", _("Labour")), ("parts", _("Parts"))],
    }
    partial = request.htmx and not request.htmx.history_restore_request
    return render(
        request, "catalog/_price_rows.html" if partial else "catalog/prices.html", context
    )


def _member_error_field(form: StorePriceForm):
    """``member_prices.<level>`` → the price box of that level's row; ``member_prices`` (a
    price without a level name) → the level box of the first such row."""
    by_level, nameless = {}, "member_prices"
    for level_field, member_field in form.level_rows:
        level = (form.cleaned_data.get(level_field.name) or "").strip()
        by_level.setdefault(level, member_field.name)
        if not level and form.cleaned_data.get(member_field.name) and nameless == "member_prices":
            nameless = level_field.name

    def rename(name: str) -> str:
        if name == "member_prices":
            return nameless
        if name.startswith("member_prices."):
            return by_level.get(name.split(".", 1)[1].strip(), name)
        return name

    return rename


@capability_required("prices.manage")
def catalog_price_edit(request, store_id, kind, item_id):
    user = request.user
    store = get_store(user, store_id)
    if kind not in ITEM_FORMS:
        raise Http404
    item = selectors.get_item(user, kind, item_id)
    row = selectors.store_price_for(user, store, item)
    initial = {"price": row.price if row else item.price}
    levels = selectors.level_names(user)
    form = StorePriceForm(
        request.POST or None,
        initial=initial,
        member_prices=row.member_prices if row else {},
        levels=levels,
    )
    tab = ITEM_FORMS[kind][1]
    back = f"{reverse('catalog_prices', args=[store.pk])}?tab={tab}"
    if request.method == "POST" and form.is_valid():
        try:
            services.set_store_price(user, store, **{f"{kind}_id": item.pk}, **form.service_data())
            messages.success(
                request,
                _("Price of %(item)s at %(store)s saved.") % {"item": item.name, "store": store},
            )
            return redirect(f"{back}&{urlencode({'q': item.code})}")
        except ServiceError as exc:
            apply_service_error(form, exc, _member_error_field(form))
    context = {
        "form": form,
        "store": store,
        "item": item,
        "row": row,
        "back": back,
        "levels": levels,
    }
    return render(request, "catalog/price_form.html", context)


@require_POST
@capability_required("prices.manage")
def catalog_price_remove(request, pk):
    row = selectors.get_store_price(request.user, pk)
    store = row.store
    item = row.labour or row.part
    tab = "labour" if row.labour_id else "parts"
    services.remove_store_price(request.user, row)
    messages.success(
        request,
        _("%(item)s at %(store)s is back to the catalog price.")
        % {"item": item.name, "store": store},
    )
    return redirect(f"{reverse('catalog_prices', args=[store.pk])}?tab={tab}")
