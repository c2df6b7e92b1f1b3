"""Job board API: a store's board, its stages, and moving a work order between them."""

from __future__ import annotations

import datetime

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from autocrm.core.errors import Invalid
from autocrm.core.selectors import get_store
from autocrm.core.services import require
from autocrm.service import selectors as service_selectors
from autocrm.workflow import selectors, services

router = Router(tags=["job board"])


class StageOut(Schema):
    id: int
    store_id: int
    name: str
    color: str
    target_minutes: int
    sort: int
    is_active: bool
    process_stage_id: int | None = None  # the process stage whose rules it follows


class StageIn(Schema):
    store: int
    name: str = Field(..., max_length=30)
    color: str = Field("#206bc4", max_length=7)
    target_minutes: int = 60
    sort: int | None = None
    is_active: bool = True


class StagePatch(Schema):
    name: str | None = Field(None, max_length=30)
    color: str | None = Field(None, max_length=7)
    target_minutes: int | None = None
    sort: int | None = None
    is_active: bool | None = None


class ReorderIn(Schema):
    store: int
    stages: list[int]


class CardOut(Schema):
    id: int
    number: str
    status: str
    plate: str
    model: str
    advisor: str
    promised_at: datetime.datetime | None
    stage_id: int | None
    entered_at: datetime.datetime
    minutes_in_stage: int
    overdue: bool
    version: int
    escalated: bool = False
    awaiting_approval: bool = False


class ColumnOut(Schema):
    stage: StageOut
    count: int
    overdue_count: int
    cards: list[CardOut]


class BoardOut(Schema):
    store_id: int
    store_name: str
    generated_at: datetime.datetime
    columns: list[ColumnOut]


class StoreQuery(Schema):
    store: int | None = None


class MoveIn(Schema):
    stage: int
    version: int | None = None


class MovedOut(Schema):
    id: int
    stage_id: int | None
    stage_entered_at: datetime.datetime | None
    version: int


def _store(request, store_id):
    user = request.user
    store_id = store_id or selectors.default_store_id(user)
    if store_id is None:
        raise Invalid(fields={"store": _("Choose the store.")})
    return get_store(user, store_id)


@router.get("/board", response=BoardOut)
def get_board(request, query: Query[StoreQuery]):
    require(request.user, "board.view")
    store = _store(request, query.store)
    board = services.open_board(request.user, store)
    return {
        "store_id": store.pk,
        "store_name": store.name,
        "generated_at": board.generated_at,
        "columns": [
            {
                "stage": column.stage,
                "count": column.count,
                "overdue_count": column.overdue_count,
                "cards": column.cards,
            }
            for column in board.columns
        ],
    }


@router.get("/stages", response=list[StageOut])
def list_stages(request, query: Query[StoreQuery]):
    require(request.user, "board.view")
    store = _store(request, query.store)
    return services.store_stages(request.user, store)


@router.post("/stages", response={201: StageOut})
def create_stage(request, payload: StageIn):
    data = payload.dict()
    store_id = data.pop("store")
    return Status(201, services.create_stage(request.user, store_id=store_id, **data))


@router.post("/stages/reorder", response=list[StageOut])
def reorder_stages(request, payload: ReorderIn):
    return services.reorder_stages(request.user, payload.store, payload.stages)


@router.get("/stages/{stage_id}", response=StageOut)
def get_stage(request, stage_id: int):
    require(request.user, "board.view")
    return selectors.get_stage(request.user, stage_id)


@router.patch("/stages/{stage_id}", response=StageOut)
def update_stage(request, stage_id: int, payload: StagePatch):
    require(request.user, "board.manage")
    stage = selectors.get_stage(request.user, stage_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return services.update_stage(request.user, stage, **data)


@router.post("/work-orders/{work_order_id}/move", response=MovedOut)
def move_work_order(request, work_order_id: int, payload: MoveIn):
    wo = service_selectors.get_work_order(request.user, work_order_id)
    return services.move(request.user, wo, payload.stage, version=payload.version)
