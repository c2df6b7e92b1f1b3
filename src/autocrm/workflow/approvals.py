"""Approvals of moves: asking (when a move needs one), deciding, and using a granted one.

A move that needs approval makes one waiting request (a second attempt finds the same one) and a
task for the approvers; the move is refused until the request is granted. Each approver decides
once, yes or no with a note. The request is granted when ``needed`` approvers said yes, and
refused as soon as that can no longer happen. Once granted, the move is made for the person who
asked; when it cannot be made at that moment (a field was emptied meanwhile), the grant stays
and is used by the next attempt. A grant covers the amount it was asked for: a larger discount
needs asking again. Moving the order elsewhere withdraws its other open requests."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit, events, scoping
from autocrm.core.errors import Conflict, Forbidden, ServiceError
from autocrm.core.models import User
from autocrm.core.validators import tidy_prose
from autocrm.workflow.gates import ApprovalNeed, Verdict
from autocrm.workflow.models import ApprovalDecision, ApprovalRequest, Stage

R = ApprovalRequest.Status
ENTITY = "work_order"


def _key(req: ApprovalRequest, user_id: int | None = None) -> str:
    return f"approval:{req.pk}" if user_id is None else f"approval:{req.pk}:{user_id}"


def eligible(req: ApprovalRequest) -> QuerySet[User]:
    """Everyone who may decide ``req``: the named approvers, or the holders of the role, who
    see its store; never the person who asked."""
    qs = User.objects.filter(org_id=req.org_id, is_active=True)
    if req.approver_ids:
        qs = qs.filter(pk__in=req.approver_ids)
    else:
        qs = qs.filter(roles__code=req.approver_role)
    region_id = req.store.region_id
    sees = Q(scope=User.Scope.ORG) | Q(stores=req.store_id)
    if region_id is not None:
        sees |= Q(scope=User.Scope.REGION, regions=region_id)
    qs = qs.filter(sees)
    if req.requested_by_id is not None:
        qs = qs.exclude(pk=req.requested_by_id)
    return qs.distinct()


def is_approver(user: User, req: ApprovalRequest) -> bool:
    if req.approver_ids:
        return user.pk in req.approver_ids
    return req.approver_role in user.role_codes()


def can_decide(user: User, req: ApprovalRequest) -> bool:
    return (
        user.is_authenticated
        and user.is_active
        and user.org_id == req.org_id
        and req.status == R.PENDING
        and user.pk != req.requested_by_id
        and is_approver(user, req)
        and scoping.can_see_store(user, req.store_id)
        and all(d.approver_id != user.pk for d in req.decisions.all())
    )


def who(req: ApprovalRequest) -> str:
    return ApprovalNeed(role=req.approver_role, user_ids=list(req.approver_ids)).who()


def label(req: ApprovalRequest) -> str:
    source = req.source_stage.name if req.source_stage_id else "—"
    return f"{source} → {req.target_stage.name}"


def pending_message(req: ApprovalRequest) -> str:
    yes = req.decisions.filter(approve=True).count()
    return _(
        "Moving to “%(to)s” needs approval by %(who)s (%(yes)d of %(needed)d so far). The "
        "request has been sent; the work order moves once it is approved."
    ) % {"to": req.target_stage.name, "who": who(req), "yes": yes, "needed": req.needed}


def _covers(req: ApprovalRequest, need: ApprovalNeed) -> bool:
    """A request asked for at least this amount (and the same approvers) covers the move."""
    if need.amount is not None and (req.amount is None or need.amount > req.amount):
        return False
    return req.approver_role == need.role and sorted(req.approver_ids) == sorted(need.user_ids)


def usable(wo, target: Stage, verdict: Verdict) -> ApprovalRequest | None:
    """A granted request for this move that covers it, locked for use."""
    for req in ApprovalRequest.objects.select_for_update().filter(
        entity=ENTITY, object_id=wo.pk, target_stage=target, status=R.APPROVED
    ):
        if req.transition_id == verdict.transition.pk and _covers(req, verdict.approval):
            return req
    return None


def _approver_tasks(req: ApprovalRequest, wo) -> None:
    from autocrm.automation.models import Task
    from autocrm.automation.services import create_task
    from autocrm.core.errors import Invalid

    title = _("Approve moving %(number)s: %(move)s") % {"number": wo.number, "move": label(req)}
    details = _("Asked by %(who)s.") % {
        "who": req.requested_by.display_name if req.requested_by_id else _("the system")
    }
    if req.amount is not None:
        details += " " + _("%(what)s: ¥%(amount)s.") % {
            "what": req.amount_label,
            "amount": req.amount,
        }
    common = {
        "store_id": req.store_id,
        "title": title,
        "details": details,
        "kind": Task.Kind.OTHER,
        "due_at": req.requested_at,
        "work_order_id": wo.pk,
        "source": "approval",
    }
    if req.approver_ids:
        for user_id in req.approver_ids:
            if user_id == req.requested_by_id:
                continue
            try:
                create_task(None, assignee_id=user_id, key=_key(req, user_id), **common)
            except Invalid:  # a named approver who no longer works in the store
                continue
    else:
        create_task(None, role=req.approver_role, key=_key(req), **common)


def _close_tasks(req: ApprovalRequest, actor: User | None, note: str) -> None:
    from autocrm.automation.models import Task

    now = timezone.now()
    for task in Task.objects.filter(
        Q(key=_key(req)) | Q(key__startswith=f"{_key(req)}:"), status=Task.Status.OPEN
    ):
        task.status = Task.Status.DONE
        task.result = Task.Result.DONE
        task.result_note = note[:4000]
        task.completed_at = now
        task.completed_by = actor
        task.save()


def ask(actor: User, wo, source: Stage | None, target: Stage, verdict: Verdict) -> ApprovalRequest:
    """The waiting request for this move: the one already asked when it still covers the move,
    else a new one (with a task for the approvers and a line in the history)."""
    from autocrm.service.services import log_event

    need = verdict.approval
    waiting = (
        ApprovalRequest.objects.select_for_update()
        .filter(entity=ENTITY, object_id=wo.pk, target_stage=target, status=R.PENDING)
        .first()
    )
    if waiting is not None:
        if waiting.transition_id == verdict.transition.pk and _covers(waiting, need):
            return waiting
        _finish(waiting, R.CANCELLED, None, _("The move now needs a different approval."))
    req = ApprovalRequest(
        org_id=wo.org_id,
        store_id=wo.store_id,
        entity=ENTITY,
        object_id=wo.pk,
        work_order=wo,
        transition=verdict.transition,
        source_stage=source,
        target_stage=target,
        process_version=verdict.process.version,
        approver_role=need.role,
        approver_ids=list(need.user_ids),
        needed=need.needed,
        amount=need.amount,
        amount_label=need.amount_label[:60],
        requested_by=actor,
    )
    try:
        with transaction.atomic():
            req.save()
    except IntegrityError:  # asked at the same moment by someone else
        return ApprovalRequest.objects.get(
            entity=ENTITY, object_id=wo.pk, target_stage=target, status=R.PENDING
        )
    _approver_tasks(req, wo)
    text = _("Approval asked for %(move)s (by %(who)s)") % {"move": label(req), "who": who(req)}
    log_event(wo, "approval", text, actor)
    events.publish(
        "approval.requested", approval_id=req.pk, store_id=req.store_id, work_order_id=wo.pk
    )
    return req


def use(req: ApprovalRequest) -> None:
    req.status = R.USED
    req.save(update_fields=["status"])


def withdraw_others(wo, keep: ApprovalRequest | None) -> None:
    """The order moved: its other open requests no longer apply."""
    others = ApprovalRequest.objects.filter(
        entity=ENTITY, object_id=wo.pk, status__in=[R.PENDING, R.APPROVED]
    )
    if keep is not None:
        others = others.exclude(pk=keep.pk)
    for req in others:
        _finish(req, R.CANCELLED, None, _("The work order moved on."))


def _finish(req: ApprovalRequest, status: str, actor: User | None, note: str) -> None:
    req.status = status
    req.decided_at = timezone.now()
    req.save(update_fields=["status", "decided_at"])
    _close_tasks(req, actor, note)


@audit.by_actor
@transaction.atomic
def decide(actor: User, req: ApprovalRequest, *, approve: bool, note: str = "") -> ApprovalRequest:
    """Record one approver's yes or no. Enough yeses grant the request and make the move;
    enough noes (so that the yeses can no longer be reached) refuse it."""
    from autocrm.service.models import WorkOrder
    from autocrm.service.services import log_event

    scoping.require_visible(actor, req)
    req = audit.locked(
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("store", "source_stage", "target_stage")
        .get(pk=req.pk)
    )
    if req.status != R.PENDING:
        raise Conflict(
            _("This request is already %(status)s.") % {"status": req.get_status_display()},
            code="decided",
        )
    if actor.pk == req.requested_by_id:
        raise Forbidden(_("You cannot approve your own request."))
    if not is_approver(actor, req):
        raise Forbidden(_("This request is for %(who)s to decide.") % {"who": who(req)})
    if req.decisions.filter(approver=actor).exists():
        raise Conflict(_("You have already decided on this request."), code="already_decided")
    wo = WorkOrder.objects.get(pk=req.object_id)
    if not wo.is_open:
        raise Conflict(
            _("This work order is %(status)s: nothing to approve any more.")
            % {"status": wo.get_status_display()},
            code="closed",
        )
    note = tidy_prose(note)[:200]
    if not approve and not note:
        from autocrm.core.errors import Invalid

        raise Invalid(fields={"note": _("Say why you refuse.")})
    ApprovalDecision.objects.create(
        request=req,
        approver=actor,
        approver_name=actor.display_name[:60],
        approve=approve,
        note=note,
    )
    if approve:
        text = _("%(who)s approved %(move)s") % {"who": actor.display_name, "move": label(req)}
    else:
        text = _("%(who)s refused %(move)s: %(note)s") % {
            "who": actor.display_name,
            "move": label(req),
            "note": note,
        }
    log_event(wo, "approval", text, actor)
    yes = req.decisions.filter(approve=True).count()
    no = req.decisions.filter(approve=False).count()
    if yes >= req.needed:
        _finish(req, R.APPROVED, actor, note or _("Approved."))
        events.publish("approval.granted", approval_id=req.pk, work_order_id=wo.pk)
        _move_when_granted(req, wo)
    elif no > max(0, eligible(req).count() - req.needed):
        _finish(req, R.REFUSED, actor, note)
        events.publish("approval.refused", approval_id=req.pk, work_order_id=wo.pk)
    req.refresh_from_db()
    return req


def _move_when_granted(req: ApprovalRequest, wo) -> None:
    """Make the granted move for the person who asked, if the order is still where it was."""
    from autocrm.workflow import services

    requester = req.requested_by
    if requester is None or not requester.is_active or wo.stage_id != req.source_stage_id:
        return
    try:
        with transaction.atomic():
            services.move(requester, wo, req.target_stage_id)
    except ServiceError:
        pass  # the grant stays; the next attempt to move uses it
