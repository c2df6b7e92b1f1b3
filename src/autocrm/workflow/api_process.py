"""Process engine API: read a process, replace its stages or transitions (HQ), and list and
decide approvals. Moving a work order is ``POST /work-orders/{id}/move`` (the job board API);
a move the process refuses answers 409 with the reason in ``message`` and a ``code``."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from ninja import Field, Query, Router, Schema

from autocrm.core.errors import Invalid
from autocrm.core.services import require
from autocrm.workflow import approvals, conditions, processes, selectors
from autocrm.workflow.entities import fields_of, spec
from autocrm.workflow.models import ApprovalRequest

router = Router(tags=["processes"])


class ProcessStageOut(Schema):
    id: int
    key: str
    name: str
    sort: int
    owner_role: str
    required_fields: list[str]
    limit_minutes: int | None
    escalate_role: str
    escalate_to: int | None = Field(None, alias="escalate_to_id")


class TierOut(Schema):
    over: str
    role: str


class TransitionOut(Schema):
    id: int
    source: str
    target: str
    allowed_roles: list[str]
    condition: dict[str, Any]
    approval: str
    approval_role: str
    approvers: list[int]
    approvals_needed: int
    amount_field: str
    tiers: list[TierOut]


class FieldOut(Schema):
    name: str
    label: str
    kind: str


class ProcessOut(Schema):
    entity: str
    version: int
    stages: list[ProcessStageOut]
    transitions: list[TransitionOut]
    fields: list[FieldOut]
    # What a transition's condition may name: the condition language's catalog
    # (``autocrm.automation.conditions.catalog``), with field, label, type and ops.
    condition_fields: list[dict[str, Any]]


class ProcessStageIn(Schema):
    key: str | None = Field(None, max_length=40)
    name: str = Field(..., max_length=30)
    owner_role: str = ""
    required_fields: list[str] = []
    limit_minutes: int | None = None
    escalate_role: str = ""
    escalate_to: int | None = None


class StagesIn(Schema):
    version: int | None = None
    stages: list[ProcessStageIn]
    moves: dict[str, str] = {}


class TierIn(Schema):
    over: Decimal
    role: str


class TransitionIn(Schema):
    source: str
    target: str
    allowed_roles: list[str] = []
    condition: dict[str, Any] = {}
    approval: str = "none"
    approval_role: str = ""
    approvers: list[int] = []
    approvals_needed: int = 1
    amount_field: str = ""
    tiers: list[TierIn] = []


class TransitionsIn(Schema):
    version: int | None = None
    transitions: list[TransitionIn]


class DecisionOut(Schema):
    approver: int | None = Field(None, alias="approver_id")
    approver_name: str
    approve: bool
    note: str
    at: datetime.datetime


class ApprovalOut(Schema):
    id: int
    status: str
    work_order: int | None = Field(None, alias="work_order_id")
    store: int = Field(..., alias="store_id")
    source_stage: int | None = Field(None, alias="source_stage_id")
    target_stage: int = Field(..., alias="target_stage_id")
    approver_role: str
    approver_ids: list[int]
    needed: int
    amount: Decimal | None
    process_version: int
    requested_by: int | None = Field(None, alias="requested_by_id")
    requested_at: datetime.datetime
    decided_at: datetime.datetime | None
    decisions: list[DecisionOut]
    can_decide: bool = False


class ApprovalQuery(Schema):
    status: str | None = None
    to_decide: bool = False


class DecideIn(Schema):
    approve: bool
    note: str = Field("", max_length=200)


def _process_out(request, entity: str) -> dict:
    if request.user.can("process.manage"):
        processes.open_process(request.user, entity)  # HQ's first look makes the default one
    found = selectors.process(request.user, entity)
    entity_spec = spec(entity)
    fields = fields_of(entity_spec, request.user.org_id)
    keys = {s.pk: s.key for s in found.stage_list} if found else {}
    return {
        "entity": entity_spec.code,
        "version": found.version if found else 0,
        "stages": found.stage_list if found else [],
        "transitions": [
            {
                "id": t.pk,
                "source": keys[t.source_id],
                "target": keys[t.target_id],
                "allowed_roles": t.allowed_roles,
                "condition": conditions.upgrade(t.condition or {}, entity_spec.code),
                "approval": t.approval,
                "approval_role": t.approval_role,
                "approvers": t.approvers,
                "approvals_needed": t.approvals_needed,
                "amount_field": t.amount_field,
                "tiers": t.tiers,
            }
            for t in (found.transition_list if found else [])
        ],
        "fields": [{"name": n, "label": f.label, "kind": f.kind} for n, f in fields.items()],
        "condition_fields": conditions.catalog(entity_spec, request.user.org_id)["fields"],
    }


@router.get("/processes/{entity}", response=ProcessOut)
def get_process(request, entity: str):
    """The org's process for ``entity`` (``work_order``): stages, transitions, and the fields
    rules may name. Readable by everyone who sees the job board."""
    require(request.user, "process.manage", "board.view")
    return _process_out(request, entity)


@router.put("/processes/{entity}/stages", response=ProcessOut)
def put_stages(request, entity: str, payload: StagesIn):
    """Replace the stages (matched by ``key``). A stage left out that still holds open work
    orders needs ``moves: {key: target key}``; otherwise 409."""
    stages = [s.dict() for s in payload.stages]
    processes.replace_stages(
        request.user, entity, stages, moves=payload.moves, version=payload.version
    )
    return _process_out(request, entity)


@router.put("/processes/{entity}/transitions", response=ProcessOut)
def put_transitions(request, entity: str, payload: TransitionsIn):
    """Replace the transitions (stages named by key)."""
    items = []
    for t in payload.transitions:
        data = t.dict()
        data["tiers"] = [{"over": str(tier.over), "role": tier.role} for tier in t.tiers]
        items.append(data)
    processes.replace_transitions(request.user, entity, items, version=payload.version)
    return _process_out(request, entity)


def _approval_out(user, req: ApprovalRequest) -> dict:
    out = {
        field: getattr(req, field)
        for field in (
            "id",
            "status",
            "work_order_id",
            "store_id",
            "source_stage_id",
            "target_stage_id",
            "approver_role",
            "approver_ids",
            "needed",
            "amount",
            "process_version",
            "requested_by_id",
            "requested_at",
            "decided_at",
        )
    }
    out["decisions"] = list(req.decisions.all())
    out["can_decide"] = approvals.can_decide(user, req)
    return out


@router.get("/approvals", response=list[ApprovalOut])
def list_approvals(request, query: Query[ApprovalQuery]):
    """Approval requests in the user's stores (newest first, at most 200);
    ``to_decide=true``: only those waiting for the user's decision."""
    require(request.user, "board.view", "process.manage")
    if query.status and query.status not in ApprovalRequest.Status.values:
        raise Invalid(fields={"status": "pending, approved, refused, used, cancelled"})
    if query.to_decide:
        found = selectors.approvals_to_decide(request.user)
    else:
        found = list(
            selectors.approval_requests(request.user, status=query.status).prefetch_related(
                "decisions"
            )[:200]
        )
    return [_approval_out(request.user, req) for req in found]


@router.get("/approvals/{approval_id}", response=ApprovalOut)
def get_approval(request, approval_id: int):
    require(request.user, "board.view", "process.manage")
    return _approval_out(request.user, selectors.get_approval(request.user, approval_id))


@router.post("/approvals/{approval_id}/decide", response=ApprovalOut)
def decide(request, approval_id: int, payload: DecideIn):
    """Approve or refuse (a refusal needs a ``note``). Enough approvals make the move."""
    req = selectors.get_approval(request.user, approval_id)
    req = approvals.decide(request.user, req, approve=payload.approve, note=payload.note)
    return _approval_out(request.user, req)
