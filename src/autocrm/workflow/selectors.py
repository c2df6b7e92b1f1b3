"""Every read of the job board, scoped to the user's org and stores.

``board()`` reads a store's board in a fixed number of queries (the user's stores, the store,
its stages, its open work orders with car and advisor), whatever the number of cards."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import scoping
from autocrm.core.errors import NotFound
from autocrm.core.models import Store, User
from autocrm.core.roles import ROLE_LABELS
from autocrm.core.selectors import get_or_404, get_store, visible_stores
from autocrm.service.models import WorkOrder
from autocrm.workflow.models import ApprovalRequest, Process, Stage, StageVisit


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
    store_id: int
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
    escalated: bool = False  # over its process limit and escalated by the scan
    awaiting_approval: bool = False  # a move of it waits for approval
    url: str = ""  # filled in by the page (the API leaves them out)
    move_url: str = ""

    @property
    def title(self) -> str:
        return self.plate or self.number

    @property
    def promised(self) -> str:
        if self.promised_at is None:
            return ""
        return timezone.localtime(self.promised_at).strftime("%m-%d %H:%M")

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

    @property
    def owner(self) -> str:
        """The role that owns the stage in the process ("" for a store's own column)."""
        rules = self.stage.process_stage
        return str(ROLE_LABELS.get(rules.owner_role, "")) if rules is not None else ""

    @property
    def limit(self) -> str:
        from autocrm.workflow.escalation import business_hours_label

        rules = self.stage.process_stage
        if rules is None or not rules.limit_minutes:
            return ""
        return business_hours_label(rules.limit_minutes)


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


def default_store_id(user: User) -> int | None:
    """The user's own store first (the one they work in), else the first they may see."""
    own = user.stores.filter(is_active=True).order_by("code").values_list("pk", flat=True)
    first = next(iter(own), None)
    if first is not None and scoping.can_see_store(user, first):
        return first
    return visible_stores(user, active=True).values_list("pk", flat=True).first()


def stages(user: User, store_id, *, active_only: bool = False) -> QuerySet[Stage]:
    qs = scoping.scoped(
        Stage.objects.filter(store_id=store_id).select_related("process_stage"), user
    )
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.order_by("sort", "id")


def get_stage(user: User, pk) -> Stage:
    return get_or_404(scoping.scoped(Stage.objects.select_related("store"), user), pk)


CARD_FIELDS = (
    "id",
    "store_id",
    "number",
    "status",
    "promised_at",
    "opened_at",
    "stage_id",
    "stage_entered_at",
    "version",
    "vehicle__plate",
    "vehicle__brand",
    "vehicle__model",
    "advisor__username",
    "advisor__full_name",
)


def open_orders(user: User, store_id: int | None) -> QuerySet[WorkOrder]:
    qs = (
        WorkOrder.objects.all() if store_id is None else WorkOrder.objects.filter(store_id=store_id)
    )
    return scoping.scoped(qs, user).exclude(status__in=WorkOrder.CLOSED_STATUSES)


def _card_rows(qs: QuerySet[WorkOrder]):
    """Plain rows, not model instances: three models per card would cost more than the
    query itself. The process flags are subqueries of the same query."""
    escalated = StageVisit.objects.filter(
        work_order=OuterRef("pk"), left_at__isnull=True, escalated_at__isnull=False
    )
    waiting = ApprovalRequest.objects.filter(
        work_order=OuterRef("pk"), status=ApprovalRequest.Status.PENDING
    )
    return qs.annotate(escalated=Exists(escalated), awaiting_approval=Exists(waiting)).values(
        *CARD_FIELDS, "escalated", "awaiting_approval"
    )


def _card(row: dict, stage: Stage, now: datetime.datetime, labels: dict) -> Card:
    """``stage`` is the column the card shows in (the first one for orders in no stage)."""
    entered = row["stage_entered_at"] or row["opened_at"]
    minutes = max(0, int((now - entered).total_seconds() // 60))
    status = row["status"]
    return Card(
        id=row["id"],
        store_id=row["store_id"],
        number=row["number"],
        status=status,
        status_label=labels.get(status, status),
        plate=row["vehicle__plate"],
        model=" ".join(p for p in (row["vehicle__brand"], row["vehicle__model"]) if p),
        advisor=row["advisor__full_name"] or row["advisor__username"] or "",
        promised_at=row["promised_at"],
        stage_id=row["stage_id"],
        entered_at=entered,
        minutes_in_stage=minutes,
        overdue=minutes > stage.target_minutes,
        version=row["version"],
        escalated=row.get("escalated", False),
        awaiting_approval=row.get("awaiting_approval", False),
    )


def _status_labels() -> dict[str, str]:
    return {value: str(label) for value, label in WorkOrder.Status.choices}


def get_card(user: User, work_order_id) -> tuple[Card, list[Stage]]:
    """One open work order as a card, with the active stages of its store."""
    try:
        row = _card_rows(open_orders(user, None)).get(pk=int(work_order_id))
    except (WorkOrder.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None
    active = list(stages(user, row["store_id"], active_only=True))
    if not active:
        raise NotFound()
    by_pk = {stage.pk: stage for stage in active}
    stage = by_pk.get(row["stage_id"], active[0])
    return _card(row, stage, timezone.now(), _status_labels()), active


def board(user: User, store, *, now: datetime.datetime | None = None) -> Board:
    """The store's active stages in order, each with the open work orders in it. Orders in no
    stage (or in one since deactivated) wait in the first column. ``store`` is an id, or a
    Store the caller already read through ``get_store``."""
    if not isinstance(store, Store):
        store = get_store(user, store)
    now = now or timezone.now()
    columns = [Column(stage) for stage in stages(user, store.pk, active_only=True)]
    if not columns:
        return Board(store=store, columns=[], generated_at=now)
    by_stage = {column.stage.pk: column for column in columns}
    first = columns[0]
    labels = _status_labels()
    for row in _card_rows(open_orders(user, store.pk)):
        column = by_stage.get(row["stage_id"], first)
        column.cards.append(_card(row, column.stage, now, labels))
    for column in columns:
        column.cards.sort(key=lambda card: (card.entered_at, card.id))  # longest waiting first
    return Board(store=store, columns=columns, generated_at=now)


# --- process definitions and approvals ----------------------------------------------------


def process(user: User, entity: str) -> Process | None:
    """The user's org's process for ``entity`` with its stages and transitions loaded."""
    found = scoping.scoped(Process.objects.filter(entity=entity), user).first()
    if found is None:
        return None
    found.stage_list = list(found.stages.select_related("escalate_to").order_by("sort", "id"))
    found.transition_list = list(
        found.transitions.select_related("source", "target").order_by(
            "source__sort", "target__sort", "id"
        )
    )
    return found


def approval_requests(user: User, *, status: str | None = None) -> QuerySet[ApprovalRequest]:
    qs = scoping.scoped(ApprovalRequest.objects.all(), user).select_related(
        "store", "work_order", "work_order__vehicle", "source_stage", "target_stage", "requested_by"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-requested_at", "-id")


def get_approval(user: User, pk) -> ApprovalRequest:
    return get_or_404(approval_requests(user), pk)


def approvals_to_decide(user: User, limit: int = 200) -> list[ApprovalRequest]:
    """Waiting requests of open orders that ``user`` may decide now (and has not yet)."""
    from autocrm.workflow.approvals import is_approver

    waiting = (
        approval_requests(user, status=ApprovalRequest.Status.PENDING)
        .exclude(work_order__status__in=WorkOrder.CLOSED_STATUSES)
        .exclude(requested_by=user)
        .exclude(decisions__approver=user)
        .prefetch_related("decisions")
    )
    return [req for req in waiting[:limit] if is_approver(user, req)]


def my_approval_requests(user: User, limit: int = 50) -> list[ApprovalRequest]:
    return list(
        approval_requests(user).filter(requested_by=user).prefetch_related("decisions")[:limit]
    )
