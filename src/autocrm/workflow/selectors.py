"""Every read of the job board, scoped to the user's org and stores.

``board()`` reads a store's board in a fixed number of queries (the user's stores, the store,
its stages, its open work orders with car and advisor), whatever the number of cards."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import scoping
from autocrm.core.errors import NotFound
from autocrm.core.models import Store, User
from autocrm.service.models import WorkOrder
from autocrm.workflow.models import Stage

OPEN_EXCLUDED = (
    WorkOrder.Status.SETTLED,
    WorkOrder.Status.CLOSED,
    WorkOrder.Status.CANCELLED,
)


def duration(minutes: int) -> str:
    """``45 min``, ``3 h 05 min``, ``2 d 4 h``: short enough for a card on a phone."""
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    if minutes < 24 * 60:
        return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}
    return _("%(d)d d %(h)d h") % {"d": minutes // (24 * 60), "h": minutes % (24 * 60) // 60}


@dataclass
class Card:
    id: int
    number: str
    status: str
    status_label: str
    plate: str
    model: str
    advisor: str
    promised_at: datetime.datetime | None
    stage_id: int | None
    entered_at: datetime.datetime
    minutes_in_stage: int
    overdue: bool
    version: int

    @property
    def time_in_stage(self) -> str:
        return duration(self.minutes_in_stage)


@dataclass
class Column:
    stage: Stage
    cards: list[Card] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.cards)

    @property
    def target(self) -> str:
        return duration(self.stage.target_minutes)

    @property
    def overdue_count(self) -> int:
        return sum(1 for card in self.cards if card.overdue)


@dataclass
class Board:
    store: Store
    columns: list[Column]
    generated_at: datetime.datetime

    @property
    def stages(self) -> list[Stage]:
        return [column.stage for column in self.columns]

    @property
    def card_count(self) -> int:
        return sum(column.count for column in self.columns)


def board_stores(user: User) -> QuerySet[Store]:
    """Active stores whose board the user may open, by code."""
    return scoping.scoped(Store.objects.filter(is_active=True), user).order_by("code")


def get_store(user: User, store_id) -> Store:
    try:
        return scoping.scoped(Store.objects.all(), user).get(pk=int(store_id))
    except (Store.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def default_store_id(user: User) -> int | None:
    """The user's own store first (the one they work in), else the first they may see."""
    own = user.stores.filter(is_active=True).order_by("code").values_list("pk", flat=True)
    first = next(iter(own), None)
    if first is not None and scoping.can_see_store(user, first):
        return first
    return board_stores(user).values_list("pk", flat=True).first()


def stages(user: User, store_id, *, active_only: bool = False) -> QuerySet[Stage]:
    qs = scoping.scoped(Stage.objects.filter(store_id=store_id), user)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.order_by("sort", "id")


def get_stage(user: User, pk) -> Stage:
    try:
        return scoping.scoped(Stage.objects.all(), user).get(pk=int(pk))
    except (Stage.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def open_orders(user: User, store_id: int) -> QuerySet[WorkOrder]:
    return (
        scoping.scoped(WorkOrder.objects.filter(store_id=store_id), user)
        .exclude(status__in=OPEN_EXCLUDED)
        .select_related("vehicle", "advisor")
        .only(
            "id",
            "number",
            "status",
            "promised_at",
            "opened_at",
            "stage_id",
            "stage_entered_at",
            "version",
            "vehicle",
            "advisor",
            "vehicle__plate",
            "vehicle__brand",
            "vehicle__model",
            "advisor__username",
            "advisor__full_name",
        )
    )


def board(user: User, store_id, *, now: datetime.datetime | None = None) -> Board:
    """The store's active stages in order, each with the open work orders in it. Orders in no
    stage (or in one since deactivated) wait in the first column."""
    store = get_store(user, store_id)
    now = now or timezone.now()
    columns = [Column(stage) for stage in stages(user, store.pk, active_only=True)]
    if not columns:
        return Board(store=store, columns=[], generated_at=now)
    by_stage = {column.stage.pk: column for column in columns}
    first = columns[0]
    labels = dict(WorkOrder.Status.choices)
    for wo in open_orders(user, store.pk):
        column = by_stage.get(wo.stage_id, first)
        entered = wo.stage_entered_at or wo.opened_at
        minutes = max(0, int((now - entered).total_seconds() // 60))
        vehicle = wo.vehicle
        column.cards.append(
            Card(
                id=wo.pk,
                number=wo.number,
                status=wo.status,
                status_label=str(labels.get(wo.status, wo.status)),
                plate=vehicle.plate,
                model=" ".join(part for part in (vehicle.brand, vehicle.model) if part),
                advisor=wo.advisor.display_name if wo.advisor_id else "",
                promised_at=wo.promised_at,
                stage_id=wo.stage_id,
                entered_at=entered,
                minutes_in_stage=minutes,
                overdue=minutes > column.stage.target_minutes,
                version=wo.version,
            )
        )
    for column in columns:
        column.cards.sort(key=lambda card: (card.entered_at, card.id))  # longest waiting first
    return Board(store=store, columns=columns, generated_at=now)
