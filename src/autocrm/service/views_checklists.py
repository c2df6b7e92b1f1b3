"""Settings pages of the check-in checklists (inspection templates): the list, and one page
per checklist to rename, (de)activate or delete it and to edit its items in place with htmx
(every form also works without JavaScript). Thin: parse input, call a selector or service,
render."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from autocrm.core.errors import ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.views import capability_required, is_partial
from autocrm.service import checklists as services
from autocrm.service import selectors_checklists as selectors
from autocrm.service.forms_checklists import ChecklistForm, ChecklistItemForm

CAPABILITY = services.CAPABILITY
SECTIONS_LIST = "checklist-sections"  # the <datalist> of the sections already used


def _detail_url(template) -> str:
    return reverse("checklist_detail", args=[template.pk])


# --- the list -----------------------------------------------------------------------------


@capability_required(CAPABILITY)
def checklist_list(request):
    """GET: every checklist of the org; POST: create one and go on to its items."""
    form = ChecklistForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                template = services.create_template(request.user, **form.cleaned_data)
                messages.success(
                    request,
                    _("Checklist %(name)s created: add its items, then activate it.")
                    % {"name": template.name},
                )
                return redirect(_detail_url(template))
            except ServiceError as exc:
                apply_service_error(form, exc)
        status = 422
    context = {"checklists": list(selectors.checklists(request.user)), "form": form}
    return render(request, "service/checklists/list.html", context, status=status)


# --- one checklist ------------------------------------------------------------------------


def _items_context(request, template, *, add_form=None, editing=None, edit_form=None, error=""):
    """The items editor: the items by section, the row being edited, the add form."""
    items = selectors.checklist_items(template)
    section_names = list(dict.fromkeys(i.section for i in items if i.section))
    if add_form is None:
        last = request.POST.get("new-section", "")  # the next item likely joins it too
        add_form = ChecklistItemForm(
            prefix="new", initial={"section": last}, sections_list=SECTIONS_LIST
        )
    if editing is not None and edit_form is None:
        edit_form = ChecklistItemForm(
            prefix=f"i{editing.pk}",
            initial={"section": editing.section, "name": editing.name},
            sections_list=SECTIONS_LIST,
        )
        edit_form.fields["name"].widget.attrs["autofocus"] = True
    return {
        "template": template,
        "items": items,
        "sections": selectors.sections(items),
        "section_names": section_names,
        "sections_list": SECTIONS_LIST,
        "add_form": add_form,
        "editing_id": editing.pk if editing is not None else None,
        "edit_form": edit_form,
        "error": error,
    }


def _page(request, template, *, name_form=None, status=200, **items):
    context = _items_context(request, template, **items)
    context["name_form"] = name_form or ChecklistForm(initial={"name": template.name})
    context["used"] = template.used
    return render(request, "service/checklists/detail.html", context, status=status)


def _items_answer(request, template, *, status=200, notice="", just_added=False, **items):
    """The items editor after a change: the fragment for htmx, else the whole page (or, after
    a success, a redirect to it)."""
    template = selectors.get_checklist(request.user, template.pk)
    if is_partial(request):
        context = _items_context(request, template, **items)
        if just_added:  # the next item is typed straight away
            context["add_form"].fields["name"].widget.attrs["autofocus"] = True
        return render(request, "service/checklists/_items.html", context, status=status)
    if status < 400:
        if notice:
            messages.success(request, notice)
        return redirect(_detail_url(template))
    return _page(request, template, status=status, **items)


@capability_required(CAPABILITY)
def checklist_detail(request, pk):
    """GET: the checklist's page (``?edit=<item>`` opens an item's form without htmx);
    POST: rename it."""
    user = request.user
    template = selectors.get_checklist(user, pk)
    if request.method == "POST":
        form = ChecklistForm(request.POST)
        if form.is_valid():
            try:
                services.update_template(user, template, name=form.cleaned_data["name"])
                messages.success(request, _("Checklist saved."))
                return redirect(_detail_url(template))
            except ServiceError as exc:
                apply_service_error(form, exc)
        return _page(request, template, name_form=form, status=422)
    editing = None
    if request.GET.get("edit"):
        editing = selectors.get_checklist_item(template, request.GET["edit"])
    return _page(request, template, editing=editing)


@require_POST
@capability_required(CAPABILITY)
def checklist_active(request, pk):
    """Activate (``active=1``) or deactivate (``active=0``) the checklist."""
    user = request.user
    template = selectors.get_checklist(user, pk)
    active = request.POST.get("active") == "1"
    try:
        services.update_template(user, template, is_active=active)
        if active:
            messages.success(request, _("Checklist activated: technicians can choose it now."))
        else:
            messages.success(request, _("Checklist deactivated: technicians no longer see it."))
    except ServiceError as exc:
        messages.error(request, exc.display_text)
    return redirect(_detail_url(template))


@require_POST
@capability_required(CAPABILITY)
def checklist_retire(request, pk):
    """Delete the checklist, or deactivate it when an inspection was started with it."""
    user = request.user
    template = selectors.get_checklist(user, pk)
    if services.retire_template(user, template):
        messages.success(request, _("Checklist %(name)s deleted.") % {"name": template.name})
        target = reverse("checklist_list")
    else:
        messages.info(
            request,
            _("%(name)s was used by inspections, so it was deactivated instead of deleted.")
            % {"name": template.name},
        )
        target = _detail_url(template)
    if is_partial(request):
        return HttpResponseClientRedirect(target)
    return redirect(target)


# --- items --------------------------------------------------------------------------------


@require_POST
@capability_required(CAPABILITY)
def item_add(request, pk):
    user = request.user
    template = selectors.get_checklist(user, pk)
    form = ChecklistItemForm(request.POST, prefix="new", sections_list=SECTIONS_LIST)
    if form.is_valid():
        try:
            services.add_item(user, template, **form.cleaned_data)
            return _items_answer(request, template, notice=_("Item added."), just_added=True)
        except ServiceError as exc:
            apply_service_error(form, exc)
    return _items_answer(request, template, status=422, add_form=form)


def _item(request, pk, item_pk):
    template = selectors.get_checklist(request.user, pk)
    return template, selectors.get_checklist_item(template, item_pk)


@require_GET
@capability_required(CAPABILITY)
def item_edit(request, pk, item_pk):
    """The item's row as a form (htmx), or the page with it open."""
    template, item = _item(request, pk, item_pk)
    if not is_partial(request):
        return redirect(f"{_detail_url(template)}?edit={item.pk}#item-{item.pk}")
    context = _items_context(request, template, editing=item)
    return render(request, "service/checklists/_items.html", context)


@require_POST
@capability_required(CAPABILITY)
def item_update(request, pk, item_pk):
    user = request.user
    template, item = _item(request, pk, item_pk)
    form = ChecklistItemForm(request.POST, prefix=f"i{item.pk}", sections_list=SECTIONS_LIST)
    if form.is_valid():
        try:
            services.update_item(user, template, item, **form.cleaned_data)
            return _items_answer(request, template, notice=_("Item saved."))
        except ServiceError as exc:
            apply_service_error(form, exc)
    return _items_answer(request, template, status=422, editing=item, edit_form=form)


@require_POST
@capability_required(CAPABILITY)
def item_remove(request, pk, item_pk):
    user = request.user
    template, item = _item(request, pk, item_pk)
    try:
        services.remove_item(user, template, item)
    except ServiceError as exc:
        return _items_answer(request, template, status=exc.status, error=exc.display_text)
    notice = _("%(name)s removed.") % {"name": item.name}
    return _items_answer(request, template, notice=notice)


@require_POST
@capability_required(CAPABILITY)
def item_move(request, pk, item_pk):
    template, item = _item(request, pk, item_pk)
    step = -1 if request.POST.get("direction") == "up" else 1
    services.move_item(request.user, template, item, step)
    return _items_answer(request, template)


@require_POST
@capability_required(CAPABILITY)
def section_move(request, pk):
    template = selectors.get_checklist(request.user, pk)
    step = -1 if request.POST.get("direction") == "up" else 1
    services.move_section(request.user, template, request.POST.get("section", ""), step)
    return _items_answer(request, template)
