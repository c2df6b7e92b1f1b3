"""Job board pages: the board of a store, moving cards, and the stage editor.
Thin: parse input, call a selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.core import selectors as core_selectors
from autocrm.core.errors import ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.views import capability_required
from autocrm.service import selectors as service_selectors
from autocrm.workflow import selectors, services
from autocrm.workflow.forms import StageForm

POLL_SECONDS = 30


def _partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _chosen_store(request):
    """The store asked for (``?store=`` or the form's ``store``), else the user's own."""
    user = request.user
    wanted = request.POST.get("store") or request.GET.get("store")
    store_id = wanted or selectors.default_store_id(user)
    return core_selectors.get_store(user, store_id) if store_id else None


def _picker_stores(request) -> list:
    """The stores of the picker (shown when there are several)."""
    return list(core_selectors.visible_stores(request.user, active=True))


def _link(cards) -> None:
    """Each card's page and move links, reversed once and reused: reversing per card is a
    noticeable cost on a full board."""
    detail, move = reverse("workorder_detail", args=[0]), reverse("board_move", args=[0])
    for card in cards:
        card.url = detail.replace("/0/", f"/{card.id}/")
        card.move_url = move.replace("/0/", f"/{card.id}/")


def _board_url(store_id: int) -> str:
    return f"{reverse('board')}?store={store_id}"


def _board_context(request, store, *, error: str = "", moved_id: int | None = None) -> dict:
    board = services.open_board(request.user, store)
    _link(card for column in board.columns for card in column.cards)
    return {
        "board": board,
        "store": store,
        "can_move": services.can_move(request.user),
        "can_manage": request.user.can("board.manage"),
        "poll_seconds": POLL_SECONDS,
        "board_url": _board_url(store.pk),
        "error": error,
        "moved_id": moved_id,
    }


@capability_required("board.view")
def board_page(request):
    store = _chosen_store(request)
    if store is None:
        context = {"store": None, "stores": _picker_stores(request)}
        return render(request, "workflow/board.html", context)
    context = _board_context(request, store)
    if _partial(request):  # the 30 s refresh: the board alone, without the store picker
        return render(request, "workflow/_board.html", context)
    context["stores"] = _picker_stores(request)
    return render(request, "workflow/board.html", context)


@capability_required("board.view")
def board_move(request, pk):
    """GET: the "Move to…" choices as a page of their own (without JavaScript); POST: move."""
    user = request.user
    if request.method == "GET":
        card, stages = selectors.get_card(user, pk)
        _link([card])
        context = {"card": card, "stages": stages, "board_url": _board_url(card.store_id)}
        return render(request, "workflow/move.html", context)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    wo = service_selectors.get_work_order(user, pk)
    error, status = "", 200
    try:
        services.move(user, wo, request.POST.get("stage"), version=request.POST.get("version"))
    except ServiceError as exc:
        error, status = str(exc.message), exc.status
    if not _partial(request):
        if error:
            messages.error(request, error)
        return redirect(_board_url(wo.store_id))
    context = _board_context(request, wo.store, error=error, moved_id=None if error else wo.pk)
    return render(request, "workflow/_board.html", context, status=status)


# --- stage editor -------------------------------------------------------------------------


def _stage_page(request, store, *, failed=None, new_form=None, status=200):
    rows = []
    for stage in services.store_stages(request.user, store):
        if failed is not None and failed.prefix == f"s{stage.pk}":
            form = failed
        else:
            form = StageForm(
                prefix=f"s{stage.pk}",
                initial={
                    "name": stage.name,
                    "color": stage.color,
                    "target_minutes": stage.target_minutes,
                    "sort": stage.sort,
                    "is_active": stage.is_active,
                },
            )
        rows.append((stage, form))
    context = {
        "store": store,
        "stores": _picker_stores(request),
        "rows": rows,
        "new_form": new_form or StageForm(prefix="new"),
        "board_url": _board_url(store.pk),
    }
    return render(request, "workflow/stages.html", context, status=status)


def _stages_url(store_id: int) -> str:
    return f"{reverse('board_stages')}?store={store_id}"


@capability_required("board.manage")
def stage_list(request):
    store = _chosen_store(request)
    if store is None:
        context = {"store": None, "stores": _picker_stores(request)}
        return render(request, "workflow/stages.html", context)
    if request.method != "POST":
        return _stage_page(request, store)
    form = StageForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            stage = services.create_stage(request.user, store_id=store.pk, **form.service_data())
            messages.success(request, _("Stage %(name)s added.") % {"name": stage.name})
            return redirect(_stages_url(store.pk))
        except ServiceError as exc:
            apply_service_error(form, exc)
    return _stage_page(request, store, new_form=form, status=422)


@require_POST
@capability_required("board.manage")
def stage_edit(request, pk):
    stage = selectors.get_stage(request.user, pk)
    form = StageForm(request.POST, prefix=f"s{stage.pk}")
    if form.is_valid():
        try:
            services.update_stage(request.user, stage, **form.service_data())
            messages.success(
                request, _("Stage %(name)s saved.") % {"name": form.cleaned_data["name"]}
            )
            return redirect(_stages_url(stage.store_id))
        except ServiceError as exc:
            apply_service_error(form, exc)
    return _stage_page(request, stage.store, failed=form, status=422)


@require_POST
@capability_required("board.manage")
def stage_shift(request, pk):
    stage = selectors.get_stage(request.user, pk)
    step = -1 if request.POST.get("direction") == "up" else 1
    services.shift_stage(request.user, stage, step)
    return redirect(_stages_url(stage.store_id))
