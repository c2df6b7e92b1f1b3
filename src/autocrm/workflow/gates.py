"""What a move of a record between two stages must pass, in the order a person fixes things:
the fields the stage being left requires, whether the process allows that move at all, whether
the mover's role may make it, its condition, and last whether it needs approval.

Refusals are ``Conflict`` (409) with a code and a message that says exactly what is wrong and,
where it helps, what would be allowed. Moves between a store's own columns (not linked to a
process stage) pass freely, as before the process engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from autocrm.core.errors import Conflict
from autocrm.core.models import User
from autocrm.core.roles import ROLE_LABELS
from autocrm.workflow import conditions
from autocrm.workflow.entities import EntitySpec, amount_of, fields_of, is_empty, spec, value_of
from autocrm.workflow.models import Process, ProcessStage, Stage, Transition


@dataclass
class ApprovalNeed:
    """Who must approve a move, as asked now (copied onto the request)."""

    role: str = ""
    user_ids: list[int] = field(default_factory=list)
    needed: int = 1
    amount: Decimal | None = None
    amount_label: str = ""

    def who(self) -> str:
        if self.role:
            label = str(ROLE_LABELS.get(self.role, self.role))
        else:
            names = dict(User.objects.filter(pk__in=self.user_ids).values_list("pk", "full_name"))
            label = "、".join(names.get(pk) or str(pk) for pk in self.user_ids)
        return label


@dataclass
class Verdict:
    process: Process | None = None
    transition: Transition | None = None
    approval: ApprovalNeed | None = None


def role_names(codes) -> str:
    return "、".join(str(ROLE_LABELS.get(code, code)) for code in codes)


def missing_fields(stage: ProcessStage, entity: EntitySpec, obj) -> dict[str, str]:
    """The required fields of ``stage`` that ``obj`` leaves empty: name → label."""
    if not stage.required_fields:
        return {}
    fields = fields_of(entity, obj.org_id)
    missing = {}
    for name in stage.required_fields:
        field_spec = fields.get(name)
        if field_spec is None:  # a custom field deleted since: nothing left to fill in
            continue
        if is_empty(value_of(obj, field_spec)):
            missing[name] = field_spec.label
    return missing


def approval_need(transition: Transition, entity: EntitySpec, obj) -> ApprovalNeed | None:
    mode = transition.approval
    if mode == Transition.Approval.ROLE:
        return ApprovalNeed(role=transition.approval_role, needed=transition.approvals_needed)
    if mode == Transition.Approval.PEOPLE:
        return ApprovalNeed(user_ids=list(transition.approvers), needed=transition.approvals_needed)
    if mode == Transition.Approval.TIERED:
        amount = amount_of(obj, transition.amount_field)
        chosen = None
        for tier in sorted(transition.tiers, key=lambda t: Decimal(t["over"])):
            if amount > Decimal(tier["over"]):
                chosen = tier
        if chosen is None:
            return None
        label = fields_of(entity, obj.org_id).get(transition.amount_field)
        return ApprovalNeed(
            role=chosen["role"],
            needed=transition.approvals_needed,
            amount=amount,
            amount_label=label.label if label else transition.amount_field,
        )
    return None


def check_move(actor: User, obj, source: Stage | None, target: Stage) -> Verdict:
    """Refuse (``Conflict``) a move that breaks the process; say whether it needs approval."""
    src = source.process_stage if source is not None else None
    dst = target.process_stage
    if src is None and dst is None:
        return Verdict()
    process = (src or dst).process
    entity = spec(process.entity)
    verdict = Verdict(process=process)
    if src is not None:
        missing = missing_fields(src, entity, obj)
        if missing:
            raise Conflict(
                _("Before it leaves “%(stage)s”, fill in: %(fields)s.")
                % {"stage": source.name, "fields": "、".join(missing.values())},
                code="missing_fields",
                fields={name: _("Required before leaving this stage.") for name in missing},
            )
    if src is None or dst is None:
        return verdict
    outgoing = list(
        Transition.objects.filter(source=src).select_related("target").order_by("target__sort")
    )
    if not outgoing:
        return verdict  # no transitions out of this stage: free to move on
    transition = next((t for t in outgoing if t.target_id == dst.pk), None)
    if transition is None:
        allowed = "、".join(_board_names([t.target for t in outgoing], source.store_id))
        raise Conflict(
            _(
                "A work order in “%(from)s” cannot move to “%(to)s”; from here it may go to: "
                "%(allowed)s."
            )
            % {"from": source.name, "to": target.name, "allowed": allowed},
            code="transition_not_allowed",
        )
    if transition.allowed_roles and not set(transition.allowed_roles) & actor.role_codes():
        raise Conflict(
            _("Only %(roles)s may move a work order from “%(from)s” to “%(to)s”.")
            % {
                "roles": role_names(transition.allowed_roles),
                "from": source.name,
                "to": target.name,
            },
            code="role_not_allowed",
        )
    if transition.condition and not conditions.holds(transition.condition, entity, obj):
        raise Conflict(
            _(
                "Moving from “%(from)s” to “%(to)s” needs: %(condition)s. This work order does "
                "not meet it."
            )
            % {
                "from": source.name,
                "to": target.name,
                "condition": conditions.describe(transition.condition, entity, obj.org_id),
            },
            code="condition_false",
        )
    verdict.transition = transition
    verdict.approval = approval_need(transition, entity, obj)
    return verdict


def _board_names(stages: list[ProcessStage], store_id: int) -> list[str]:
    """What the store's board calls each process stage (stores may rename their columns)."""
    columns = dict(
        Stage.objects.filter(process_stage__in=stages, store_id=store_id).values_list(
            "process_stage_id", "name"
        )
    )
    return [columns.get(stage.pk) or stage.name for stage in stages]
