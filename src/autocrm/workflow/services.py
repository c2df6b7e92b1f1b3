"""Every write of the job board: a store's stages and the moves of work orders between them.

A store gets the default stages the first time its board is opened or a work order is made
there. A move closes the work order's open stage visit, opens the next, bumps the work order's
version (so an open edit form sees the change) and leaves a line in its history.

The process engine (``processes``, ``gates``, ``approvals``, ``escalation``) hooks in here: a
move passes the gates of the process stages it leaves and enters (required fields, allowed
transitions and roles, conditions, approvals), and every entry into a stage copies the rules of
that moment onto the new ``StageVisit`` (owner, limit, escalation target, due time in the
store's business hours), so later changes of the definition leave orders in flight alone."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit, events
from autocrm.core.errors import Conflict, Forbidden, Invalid
from autocrm.core.models import Store, User
from autocrm.core.scoping import require_visible
from autocrm.core.selectors import get_store
from autocrm.core.services import check_errors, require
from autocrm.core.validators import normalize_text
from autocrm.service.models import WorkOrder
from autocrm.service.services import check_version, log_event, touch
from autocrm.workflow import approvals, business_hours, gates, selectors
from autocrm.workflow.models import DEFAULT_STAGES, ApprovalRequest, Stage, StageVisit
from autocrm.workflow.selectors import Board

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MIN_TARGET, MAX_TARGET = 1, 10080  # one minute to one week
NAME_MAX = Stage._meta.get_field("name").max_length


# --- default stages -----------------------------------------------------------------------


def ensure_default_stages(store: Store) -> bool:
    """Give a store the default stages once: its org's process stages when it has a process,
    else the built-in ones. A store that has any stage (even only inactive ones) keeps what its
    manager made of them. True when this call made them."""
    from autocrm.workflow.processes import board_columns

    if Stage.objects.filter(store_id=store.pk).exists():
        return False
    colours = {name: color for name, color, _minutes in DEFAULT_STAGES}
    linked = board_columns(store.org_id)
    if linked:
        rows = [
            (ps.name, colours.get(ps.name, "#206bc4"), min(ps.limit_minutes or 60, 10080), ps)
            for ps in linked
        ]
    else:
        rows = [(name, color, minutes, None) for name, color, minutes in DEFAULT_STAGES]
    try:
        with transaction.atomic():
            for sort, (name, color, minutes, process_stage) in enumerate(rows, start=1):
                Stage.objects.create(
                    org_id=store.org_id,
                    store_id=store.pk,
                    name=name,
                    color=color,
                    target_minutes=minutes,
                    sort=sort * 10,
                    process_stage=process_stage,
                )
    except IntegrityError:  # another request made them at the same moment
        pass
    return True


def open_board(user: User, store: Store) -> Board:
    """The store's board; on its first look the store gets the default stages."""
    found = selectors.board(user, store)
    if not found.columns and ensure_default_stages(store):
        found = selectors.board(user, store)
    return found


def store_stages(user: User, store: Store) -> list[Stage]:
    """All the store's stages (the editor's list); on its first look the default ones."""
    found = list(selectors.stages(user, store.pk))
    if not found and ensure_default_stages(store):
        found = list(selectors.stages(user, store.pk))
    return found


def enter_stage(wo: WorkOrder, stage: Stage, now, actor: User | None = None) -> StageVisit:
    """Open the visit of ``wo`` in ``stage``, with a copy of the stage's rules as they are now
    (the definition may change while the order waits)."""
    visit = StageVisit(work_order=wo, stage=stage, entered_at=now, moved_by=actor)
    rules = stage.process_stage
    if rules is not None:
        visit.process_version = rules.process.version
        visit.owner_role = rules.owner_role
        visit.limit_minutes = rules.limit_minutes
        visit.escalate_role = rules.escalate_role
        visit.escalate_to_id = rules.escalate_to_id
        if rules.limit_minutes:
            hours = business_hours.hours_for(wo.store_id)
            visit.due_at = business_hours.add(hours, now, rules.limit_minutes)
    visit.save()
    return visit


def first_stage(store_id: int) -> Stage | None:
    return (
        Stage.objects.filter(store_id=store_id, is_active=True)
        .select_related("process_stage__process")
        .order_by("sort", "id")
        .first()
    )


def place_new_order(work_order_id: int) -> None:
    """Put a new work order into its store's first stage (subscribed to
    ``work_order.created``). Leaves the version alone: the person who just opened the order
    must be able to save it without being told someone else changed it."""
    wo = WorkOrder.objects.select_related("store").filter(pk=work_order_id).first()
    if wo is None or wo.stage_id is not None or wo.status in WorkOrder.CLOSED_STATUSES:
        return
    ensure_default_stages(wo.store)
    stage = first_stage(wo.store_id)
    if stage is None:
        return
    with transaction.atomic():
        wo = WorkOrder.objects.select_for_update().get(pk=wo.pk)
        if wo.stage_id is not None:
            return
        now = timezone.now()
        wo.stage, wo.stage_entered_at = stage, now
        wo.save(update_fields=["stage", "stage_entered_at"])
        enter_stage(wo, stage, now)
        log_event(wo, "stage", _("Stage: %(to)s") % {"to": stage.name}, public=True)


def on_work_order_created(payload: dict) -> None:
    place_new_order(payload["work_order_id"])


# --- stages -------------------------------------------------------------------------------


def clean_stage_name(
    value, others: QuerySet | None, taken: str, *, limit: int = NAME_MAX
) -> tuple[str, str | None]:
    """A stage's name, tidied, and what is wrong with it (None when nothing): empty, too long,
    or already used by one of ``others`` (its sibling stages; None skips that check)."""
    name = normalize_text(value or "")
    if not name:
        return name, _("Enter a name.")
    if len(name) > limit:
        return name, _("At most %(n)d characters.") % {"n": limit}
    if others is not None and others.filter(name=name).exists():
        return name, taken
    return name, None


def _clean_stage(data: dict, *, store_id: int, stage: Stage | None) -> dict:
    clean: dict = {}
    errors: dict[str, str | None] = {}
    if stage is None or "name" in data:
        others = Stage.objects.filter(store_id=store_id)
        if stage is not None:
            others = others.exclude(pk=stage.pk)
        clean["name"], errors["name"] = clean_stage_name(
            data.get("name"), others, _("This store already has a stage with this name.")
        )
    if "color" in data or stage is None:
        color = (data.get("color") or "#206bc4").strip()
        if not COLOUR.match(color):
            errors["color"] = _("Enter a colour as #rrggbb.")
        clean["color"] = color.lower()
    if "target_minutes" in data or stage is None:
        raw = data.get("target_minutes")
        try:
            minutes = 60 if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            minutes = 0
        if not MIN_TARGET <= minutes <= MAX_TARGET:
            errors["target_minutes"] = _("Enter a time between 1 and 10080 minutes (one week).")
        clean["target_minutes"] = minutes
    if data.get("sort") not in (None, ""):
        try:
            sort = int(data["sort"])
        except (TypeError, ValueError):
            sort = -1
        if not 0 <= sort <= 32767:
            errors["sort"] = _("Enter a position from 0 to 32767.")
        clean["sort"] = sort
    if "is_active" in data and data["is_active"] is not None:
        clean["is_active"] = bool(data["is_active"])
    check_errors(errors)
    return clean


def _check_can_deactivate(stage: Stage) -> None:
    others = Stage.objects.filter(store_id=stage.store_id, is_active=True).exclude(pk=stage.pk)
    if not others.exists():
        raise Conflict(
            _("The board needs at least one active stage."), fields={"is_active": _("Keep it.")}
        )
    waiting = (
        WorkOrder.objects.filter(stage=stage).exclude(status__in=WorkOrder.CLOSED_STATUSES).count()
    )
    if waiting:
        raise Conflict(
            _("%(n)d open work orders are in this stage: move them first.") % {"n": waiting},
            fields={"is_active": _("Move its work orders first.")},
        )


@audit.by_actor
@transaction.atomic
def create_stage(actor: User, *, store_id, **data) -> Stage:
    require(actor, "board.manage")
    store = get_store(actor, store_id)
    ensure_default_stages(store)
    clean = _clean_stage(data, store_id=store.pk, stage=None)
    if "sort" not in clean:
        last = Stage.objects.filter(store=store).aggregate(m=Max("sort"))["m"] or 0
        clean["sort"] = min(last + 10, 32767)
    return Stage.objects.create(org_id=store.org_id, store=store, **clean)


@audit.by_actor
@transaction.atomic
def update_stage(actor: User, stage: Stage, **data) -> Stage:
    require(actor, "board.manage")
    require_visible(actor, stage)
    stage = Stage.objects.select_for_update().get(pk=stage.pk)
    clean = _clean_stage(data, store_id=stage.store_id, stage=stage)
    if clean.get("is_active") is False and stage.is_active:
        _check_can_deactivate(stage)
    for key, value in clean.items():
        setattr(stage, key, value)
    stage.save()
    return stage


@audit.by_actor
@transaction.atomic
def deactivate_stage(actor: User, stage: Stage) -> Stage:
    """Hide a stage from the board; its history stays (stages are never deleted)."""
    return update_stage(actor, stage, is_active=False)


@audit.by_actor
@transaction.atomic
def reorder_stages(actor: User, store_id, stage_ids) -> list[Stage]:
    """Put the store's stages in the given order; stages left out follow in their old order."""
    require(actor, "board.manage")
    store = get_store(actor, store_id)
    try:
        wanted = [int(pk) for pk in stage_ids]
    except (TypeError, ValueError):
        raise Invalid(fields={"stages": _("Choose stages of this store.")}) from None
    stages = {s.pk: s for s in Stage.objects.select_for_update().filter(store=store)}
    if len(set(wanted)) != len(wanted) or not set(wanted) <= set(stages):
        raise Invalid(fields={"stages": _("Choose stages of this store.")})
    rest = sorted((s for pk, s in stages.items() if pk not in wanted), key=lambda s: (s.sort, s.pk))
    ordered = [stages[pk] for pk in wanted] + rest
    for position, stage in enumerate(ordered, start=1):
        if stage.sort != position * 10:
            stage.sort = position * 10
            stage.save(update_fields=["sort", "updated_at"])
    return ordered


def shift_stage(actor: User, stage: Stage, step: int) -> list[Stage]:
    """Move a stage one place up (-1) or down (+1) on its board."""
    require(actor, "board.manage")
    require_visible(actor, stage)
    ids = list(
        Stage.objects.filter(store_id=stage.store_id)
        .order_by("sort", "id")
        .values_list("pk", flat=True)
    )
    i = ids.index(stage.pk)
    j = i + (1 if step > 0 else -1)
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    return reorder_stages(actor, stage.store_id, ids)


# --- moves --------------------------------------------------------------------------------


def can_move(actor: User) -> bool:
    """Who may move cards: staff who see the board and work on or edit work orders."""
    return (
        actor.is_authenticated
        and actor.is_active
        and actor.can("board.view")
        and (actor.can("workorder.edit") or actor.can("workorder.work"))
    )


@audit.by_actor
def move(actor: User, work_order: WorkOrder, stage_id, *, version=None) -> WorkOrder:
    """Move a work order to another stage of its store's board. A move the process refuses is
    a ``Conflict`` that says why; one that needs approval asks for it (the request is kept) and
    is refused until it is granted."""
    outcome = _move(actor, work_order, stage_id, version=version)
    if isinstance(outcome, ApprovalRequest):
        raise Conflict(
            approvals.pending_message(outcome),
            code="approval_pending",
            extra={"approval_id": outcome.pk},
        )
    return outcome


@transaction.atomic
def _move(actor: User, work_order: WorkOrder, stage_id, *, version=None):
    if not can_move(actor):
        raise Forbidden()
    require_visible(actor, work_order)
    wo = audit.locked(
        WorkOrder.objects.select_for_update(of=("self",))
        .select_related("stage__process_stage__process")
        .get(pk=work_order.pk)
    )
    check_version(wo, version)
    if wo.status in WorkOrder.CLOSED_STATUSES:
        raise Conflict(
            _("This work order is %(status)s and can no longer be moved.")
            % {"status": wo.get_status_display()},
            code="closed",
        )
    try:
        stage_id = int(stage_id)
    except (TypeError, ValueError):
        raise Invalid(fields={"stage": _("Choose a stage.")}) from None
    target = (
        Stage.objects.select_related("process_stage__process")
        .filter(pk=stage_id, store_id=wo.store_id, is_active=True)
        .first()
    )
    if target is None:
        raise Conflict(
            _("This stage is not on the board of this work order's store."),
            code="illegal_stage",
            fields={"stage": _("Choose a stage of this store's board.")},
        )
    source = wo.stage
    if source is not None and source.pk == target.pk:
        return wo  # dropped back where it was: nothing to record
    verdict = gates.check_move(actor, wo, source, target)
    granted = None
    if verdict.approval is not None:
        granted = approvals.usable(wo, target, verdict)
        if granted is None:
            return approvals.ask(actor, wo, source, target, verdict)
        approvals.use(granted)
    _record_move(wo, source, target, actor)
    approvals.withdraw_others(wo, keep=granted)
    return wo


def _record_move(wo: WorkOrder, source: Stage | None, target: Stage, actor, note: str = "") -> None:
    now = timezone.now()
    for visit in StageVisit.objects.filter(work_order=wo, left_at__isnull=True):
        visit.left_at = now
        visit.save(update_fields=["left_at"])
    enter_stage(wo, target, now, actor)
    wo.stage, wo.stage_entered_at = target, now
    touch(wo, actor, "stage", "stage_entered_at")  # the row is locked by the caller
    if source is None:
        text = _("Stage: %(to)s") % {"to": target.name}
    else:
        text = _("%(from)s → %(to)s") % {"from": source.name, "to": target.name}
    if note:
        text = f"{text} ({note})"
    log_event(wo, "stage", text, actor, public=True)
    events.publish(
        "work_order.stage_changed",
        work_order_id=wo.pk,
        store_id=wo.store_id,
        stage_id=target.pk,
        previous_stage_id=source.pk if source is not None else None,
    )


@transaction.atomic
def system_move(wo: WorkOrder, stage_id: int, actor: User | None, *, note: str = "") -> None:
    """Move an order without the process's gates: an administrator's decision that applies to
    every order at once (a stage removed from the process)."""
    wo = audit.locked(
        WorkOrder.objects.select_for_update(of=("self",)).select_related("stage").get(pk=wo.pk)
    )
    target = Stage.objects.select_related("process_stage__process").get(pk=stage_id)
    if not target.is_active:
        target.is_active = True
        target.save(update_fields=["is_active", "updated_at"])
    if wo.stage_id == target.pk:
        return
    _record_move(wo, wo.stage, target, actor, note)
    approvals.withdraw_others(wo, keep=None)
