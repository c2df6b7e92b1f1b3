"""The board read: columns in order, open orders only, time in stage and overdue, and a fixed
number of queries whatever the number of cards."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from autocrm.core.errors import NotFound
from autocrm.core.selectors import visible_stores
from autocrm.service.models import WorkOrder
from autocrm.workflow import selectors
from autocrm.workflow.models import Stage
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.workflow.helpers import order_in, stages_of

pytestmark = pytest.mark.django_db
MAX_QUERIES = 4  # user's stores, the store, its stages, its open orders


def test_columns_cards_time_in_stage_and_overdue(world):
    stages = stages_of(world.a1)  # first stage: 15 minutes target
    now = timezone.now()
    advisor = world.advisor_a1
    car = cf.vehicle(cf.customer(world.a1), plate="京A12345", brand="丰田", model="凯美瑞")
    late = order_in(world.a1, vehicle=car, customer=car.owner, advisor=advisor)
    WorkOrder.objects.filter(pk=late.pk).update(
        stage_entered_at=now - datetime.timedelta(minutes=20),
        promised_at=now + datetime.timedelta(hours=2),
    )
    fresh = order_in(world.a1)
    WorkOrder.objects.filter(pk=fresh.pk).update(
        stage_entered_at=now - datetime.timedelta(minutes=5)
    )
    repairing = order_in(world.a1, stage=stages[3])
    order_in(world.a1, status=WorkOrder.Status.SETTLED)
    order_in(world.a1, status=WorkOrder.Status.CANCELLED)
    order_in(world.a2)

    board = selectors.board(world.manager_a1, world.a1.pk, now=now)
    assert [c.stage for c in board.columns] == stages
    first = board.columns[0]
    assert [card.id for card in first.cards] == [late.pk, fresh.pk]  # longest waiting first
    card = first.cards[0]
    assert (card.plate, card.model, card.advisor) == (
        "京A12345",
        "丰田 凯美瑞",
        advisor.display_name,
    )
    assert card.minutes_in_stage == 20 and card.overdue
    assert card.promised_at is not None
    assert not first.cards[1].overdue and first.overdue_count == 1
    assert [c.id for c in board.columns[3].cards] == [repairing.pk]
    assert board.card_count == 3


def test_orders_without_a_stage_or_in_a_switched_off_one_wait_in_the_first_column(world):
    stages = stages_of(world.a1)
    loose = sf.work_order(world.a1, opened_at=timezone.now() - datetime.timedelta(minutes=30))
    parked = order_in(world.a1, stage=stages[4])
    Stage.objects.filter(pk=stages[4].pk).update(is_active=False)
    board = selectors.board(world.manager_a1, world.a1.pk)
    assert {c.id for c in board.columns[0].cards} == {loose.pk, parked.pk}
    assert stages[4] not in board.stages
    card = next(c for c in board.columns[0].cards if c.id == loose.pk)
    assert card.minutes_in_stage >= 30 and card.overdue and card.stage_id is None


def test_board_is_scoped(world):
    stages_of(world.a1)
    with pytest.raises(NotFound):
        selectors.board(world.manager_a2, world.a1.pk)
    with pytest.raises(NotFound):
        selectors.board(world.other_admin, world.a1.pk)
    assert selectors.board(world.hq, world.a1.pk).store == world.a1
    assert selectors.board(world.region_mgr, world.a1.pk).store == world.a1


def test_default_store_is_the_users_own(world):
    assert selectors.default_store_id(world.tech_a1) == world.a1.pk
    assert selectors.default_store_id(world.hq) == visible_stores(world.hq, active=True).first().pk
    both = f.staff(world.org, "store_manager", stores=[world.a2, world.a1])
    assert selectors.default_store_id(both) in {world.a1.pk, world.a2.pk}
    assert selectors.default_store_id(world.other_admin) == world.b1.pk


def test_query_count_does_not_grow_with_the_cards(world, django_assert_max_num_queries):
    stages = stages_of(world.a1)
    for i in range(60):
        order_in(world.a1, stage=stages[i % len(stages)], advisor=world.advisor_a1)
    user = type(world.manager_a1).objects.get(pk=world.manager_a1.pk)  # nothing cached
    with django_assert_max_num_queries(MAX_QUERIES):
        board = selectors.board(user, world.a1.pk)
        cards = [card for column in board.columns for card in column.cards]
        assert len(cards) == 60
        assert all(card.plate and card.advisor and card.time_in_stage for card in cards)


def test_duration_reads_short(world):
    assert selectors.duration(5) == "5分钟"
    assert selectors.duration(125) == "2小时05分"
    assert selectors.duration(3 * 24 * 60 + 90) == "3天1小时"
