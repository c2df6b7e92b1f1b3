"""Pages of the process engine: HQ's process editor, and the approvals list where approvers
grant or refuse waiting moves. Thin: parse input, call a selector or service, render."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.core.errors import ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.roles import ROLE_LABELS
from autocrm.core.views import capability_required
from autocrm.service.models import WorkOrder
from autocrm.workflow import approvals, conditions, processes, selectors
from autocrm.workflow.entities import fields_of, spec
from autocrm.workflow.escalation import business_hours_label
from autocrm.workflow.forms import DecisionForm, ProcessStageForm, StageDeleteForm, TransitionForm
from autocrm.workflow.models import ApprovalRequest, Transition

TRANSITION_FIELDS = {"approvers": "approvers", "tiers": "tier1_over", "condition": "condition_json"}


def _entity(request) -> str:
    return (request.POST.get("entity") or request.GET.get("entity") or "work_order").strip()


def _url(entity: str) -> str:
    return f"{reverse('process_edit')}?entity={entity}"


def _hours(minutes: int | None) -> str:
    """90 → ``1.5``, 60 → ``1``: business hours as typed in the editor."""
    if minutes is None:
        return ""
    return str((Decimal(minutes) / 60).quantize(Decimal("0.01"))).rstrip("0").rstrip(".")


def _stage_initial(stage) -> dict:
    return {
        "name": stage.name,
        "owner_role": stage.owner_role,
        "required_fields": stage.required_fields,
        "limit_hours": _hours(stage.limit_minutes),
        "escalate_role": stage.escalate_role,
        "escalate_to": stage.escalate_to.username if stage.escalate_to_id else "",
    }


def _choices(request, entity_code: str):
    entity = spec(entity_code)
    fields = fields_of(entity, request.user.org_id)
    field_choices = [(name, f.label) for name, f in fields.items()]
    amount_choices = [(name, fields[name].label) for name in entity.amount_fields]
    return entity, fields, field_choices, amount_choices


def _condition_choices(request, entity) -> dict:
    """The transition form's pickers, from the condition language's catalog."""
    condition_fields, condition_ops = conditions.editor_choices(entity, request.user.org_id)
    return {"condition_fields": condition_fields, "condition_ops": condition_ops}


def _page(request, entity_code: str, *, failed=None, status: int = 200):
    """The editor. ``failed`` is the bound form that was refused (shown with its errors)."""
    user = request.user
    processes.open_process(user, entity_code)
    process = selectors.process(user, entity_code)
    entity, fields, field_choices, amount_choices = _choices(request, entity_code)
    pickers = _condition_choices(request, entity)
    stage_choices = [(s.pk, s.name) for s in process.stage_list]
    counts = dict(
        WorkOrder.objects.filter(org_id=user.org_id, stage__process_stage__process=process)
        .exclude(status__in=WorkOrder.CLOSED_STATUSES)
        .order_by()
        .values("stage__process_stage")
        .annotate(n=Count("id"))
        .values_list("stage__process_stage", "n")
    )

    def bound(prefix: str):
        return failed if failed is not None and failed.prefix == prefix else None

    stage_rows = []
    for stage in process.stage_list:
        prefix = f"s{stage.pk}"
        form = bound(prefix) or ProcessStageForm(
            prefix=prefix, initial=_stage_initial(stage), field_choices=field_choices
        )
        others = [(pk, name) for pk, name in stage_choices if pk != stage.pk]
        stage_rows.append(
            {
                "stage": stage,
                "form": form,
                "delete_form": bound(f"d{stage.pk}")
                or StageDeleteForm(prefix=f"d{stage.pk}", stage_choices=others),
                "cards": counts.get(stage.pk, 0),
                "owner": ROLE_LABELS.get(stage.owner_role, ""),
                "limit": business_hours_label(stage.limit_minutes) if stage.limit_minutes else "",
                "escalate": (
                    stage.escalate_to.display_name
                    if stage.escalate_to_id
                    else ROLE_LABELS.get(stage.escalate_role or "store_manager")
                ),
                "required": [fields[n].label for n in stage.required_fields if n in fields],
            }
        )
    transition_rows = []
    for transition in process.transition_list:
        prefix = f"t{transition.pk}"
        form = bound(prefix) or TransitionForm(
            prefix=prefix,
            initial=TransitionForm.initial_for(transition, entity.code),
            stage_choices=stage_choices,
            amount_choices=amount_choices,
            **pickers,
        )
        transition_rows.append(
            {
                "transition": transition,
                "form": form,
                "roles": "、".join(str(ROLE_LABELS.get(r, r)) for r in transition.allowed_roles),
                "condition": conditions.describe(transition.condition, entity, user.org_id),
                "approval": _approval_text(transition),
            }
        )
    new_stage = bound("new") or ProcessStageForm(prefix="new", field_choices=field_choices)
    new_transition = bound("nt") or TransitionForm(
        prefix="nt",
        initial={"approval": Transition.Approval.NONE, "approvals_needed": 1},
        stage_choices=stage_choices,
        amount_choices=amount_choices,
        **pickers,
    )
    context = {
        "process": process,
        "entity": entity,
        "stage_rows": stage_rows,
        "transition_rows": transition_rows,
        "new_stage": new_stage,
        "new_transition": new_transition,
        "failed_prefix": failed.prefix if failed is not None else "",
    }
    return render(request, "workflow/process.html", context, status=status)


def _approval_text(transition: Transition) -> str:
    mode = transition.approval
    if mode == Transition.Approval.ROLE:
        text = str(ROLE_LABELS.get(transition.approval_role, transition.approval_role))
    elif mode == Transition.Approval.PEOPLE:
        text = _("%(n)d of %(m)d named approvers") % {
            "n": transition.approvals_needed,
            "m": len(transition.approvers),
        }
        return text
    elif mode == Transition.Approval.TIERED:
        text = "；".join(
            _("over ¥%(over)s: %(role)s")
            % {"over": tier["over"], "role": ROLE_LABELS.get(tier["role"], tier["role"])}
            for tier in transition.tiers
        )
    else:
        return ""
    if transition.approvals_needed > 1:
        text += " " + _("(%(n)d approvals)") % {"n": transition.approvals_needed}
    return text


@capability_required("process.manage")
def process_page(request):
    return _page(request, _entity(request))


def _post_stage(request, entity: str, prefix: str, save, done: str):
    """The stage form ``prefix`` posted: ``save`` (the form's data → the stage) and back to
    the editor with ``done`` said, or the editor again with the form's errors."""
    _e, _f, field_choices, _a = _choices(request, entity)
    form = ProcessStageForm(request.POST, prefix=prefix, field_choices=field_choices)
    if form.is_valid():
        try:
            stage = save(form.service_data())
            messages.success(request, done % {"name": stage.name})
            return redirect(_url(entity))
        except ServiceError as exc:
            apply_service_error(form, exc, {"limit_minutes": "limit_hours"})
    return _page(request, entity, failed=form, status=422)


@require_POST
@capability_required("process.manage")
def stage_add(request):
    entity = _entity(request)
    return _post_stage(
        request,
        entity,
        "new",
        lambda data: processes.create_stage(request.user, entity, **data),
        _("Stage %(name)s added."),
    )


@require_POST
@capability_required("process.manage")
def stage_save(request, pk):
    stage = processes.stage_in(request.user, pk)
    return _post_stage(
        request,
        stage.process.entity,
        f"s{stage.pk}",
        lambda data: processes.update_stage(request.user, stage, **data),
        _("Stage %(name)s saved."),
    )


@require_POST
@capability_required("process.manage")
def stage_delete(request, pk):
    stage = processes.stage_in(request.user, pk)
    entity = stage.process.entity
    others = [
        (s.pk, s.name) for s in stage.process.stages.exclude(pk=stage.pk).order_by("sort", "id")
    ]
    form = StageDeleteForm(request.POST, prefix=f"d{stage.pk}", stage_choices=others)
    if form.is_valid():
        try:
            moved = processes.delete_stage(
                request.user, stage, move_to=form.cleaned_data.get("move_to") or None
            )
            text = _("Stage %(name)s deleted.") % {"name": stage.name}
            if moved:
                text += " " + _("%(n)d work orders were moved.") % {"n": moved}
            messages.success(request, text)
            return redirect(_url(entity))
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
            apply_service_error(form, exc)
    return _page(request, entity, failed=form, status=409)


def _transition_form(request, prefix: str, entity: str) -> TransitionForm:
    entity_spec, _f, _fc, amount_choices = _choices(request, entity)
    process = selectors.process(request.user, entity)
    return TransitionForm(
        request.POST,
        prefix=prefix,
        stage_choices=[(s.pk, s.name) for s in process.stage_list],
        amount_choices=amount_choices,
        **_condition_choices(request, entity_spec),
    )


@require_POST
@capability_required("process.manage")
def transition_save(request, pk=None):
    """Add a transition (``pk`` empty) or save the rules of one."""
    if pk is None:
        entity, prefix = _entity(request), "nt"
    else:
        transition = processes.transition_in(request.user, pk)
        entity, prefix = transition.process.entity, f"t{transition.pk}"
    processes.open_process(request.user, entity)
    form = _transition_form(request, prefix, entity)
    if form.is_valid():
        data = form.service_data()
        if pk is not None:  # an existing move keeps its stages; only its rules change
            data["source"], data["target"] = transition.source_id, transition.target_id
        try:
            processes.save_transition(request.user, entity, **data)
            messages.success(request, _("Transition saved."))
            return redirect(_url(entity))
        except ServiceError as exc:
            apply_service_error(form, exc, TRANSITION_FIELDS)
    return _page(request, entity, failed=form, status=422)


@require_POST
@capability_required("process.manage")
def transition_delete(request, pk):
    transition = processes.transition_in(request.user, pk)
    entity = transition.process.entity
    processes.delete_transition(request.user, transition)
    messages.success(request, _("Transition deleted."))
    return redirect(_url(entity))


# --- approvals ----------------------------------------------------------------------------


@capability_required("board.view", "process.manage")
def approval_list(request):
    user = request.user
    to_decide = selectors.approvals_to_decide(user)
    for req in to_decide:
        req.move_label = approvals.label(req)
        req.approvers_label = approvals.who(req)
        req.yes = sum(1 for d in req.decisions.all() if d.approve)
    mine = selectors.my_approval_requests(user)
    for req in mine:
        req.move_label = approvals.label(req)
        req.approvers_label = approvals.who(req)
    recent = list(
        selectors.approval_requests(user)
        .filter(decisions__approver=user)
        .prefetch_related("decisions")
        .distinct()[:20]
    )
    for req in recent:
        req.move_label = approvals.label(req)
    context = {"to_decide": to_decide, "mine": mine, "recent": recent, "form": DecisionForm()}
    return render(request, "workflow/approvals.html", context)


@require_POST
@capability_required("board.view", "process.manage")
def approval_decide(request, pk):
    req = selectors.get_approval(request.user, pk)
    form = DecisionForm(request.POST)
    form.is_valid()
    approve = request.POST.get("decision") == "approve"
    try:
        req = approvals.decide(
            request.user, req, approve=approve, note=form.cleaned_data.get("note", "")
        )
    except ServiceError as exc:
        messages.error(request, exc.display_text)
        return redirect("approval_list")
    if req.status == ApprovalRequest.Status.USED:
        messages.success(request, _("Approved: the work order has moved on."))
    elif req.status == ApprovalRequest.Status.APPROVED:
        messages.success(request, _("Approved."))
    elif req.status == ApprovalRequest.Status.REFUSED:
        messages.success(request, _("Refused."))
    else:
        messages.success(request, _("Your decision is recorded; more approvals are needed."))
    return redirect("approval_list")
