"""A store manager opens the job board, moves one car to the next column with the "Move to…"
menu and another by dragging its card, sees both in their new columns without a page reload,
and each work order's history has the move. On a phone the board scrolls inside itself, and a
move of a card someone else just changed is refused on the board itself."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from autocrm.core.models import Store
from autocrm.service.models import WorkOrder, WorkOrderEvent
from autocrm.workflow.models import StageVisit
from tests.e2e.helpers import login, nav, page_width, path_of
from tests.workflow.helpers import order_in, stages_of

pytestmark = pytest.mark.e2e


def card_in(page, stage, wo):
    return page.locator(f".board-column[data-stage-id='{stage.pk}'] [data-card-id='{wo.pk}']")


def column_count(page, stage):
    return page.locator(f".board-column[data-stage-id='{stage.pk}'] [data-testid=column-count]")


def test_manager_moves_cards_by_menu_and_by_drag(page, demo):
    store = Store.objects.get(pk=demo.store_ids["s001"])
    stages = stages_of(store)
    by_menu, by_drag = order_in(store), order_in(store)

    login(page, "manager1")
    nav(page, "board")
    assert path_of(page) == "/board/"
    expect(page.locator("[data-testid=board-store-name]")).to_have_text(store.name)
    expect(card_in(page, stages[0], by_menu)).to_be_visible()
    expect(column_count(page, stages[0])).to_have_text("2")
    page.evaluate("window.boardLoadedOnce = true")  # gone if the page reloads

    # Click: the card's "Move to…" menu, then the next stage.
    card = card_in(page, stages[0], by_menu)
    card.locator("[data-testid=move-menu]").click()
    target = card.locator("[data-testid=move-to]", has_text=stages[1].name)
    with page.expect_response(lambda r: f"/board/move/{by_menu.pk}/" in r.url) as answer:
        target.click()
    assert answer.value.status == 200
    expect(card_in(page, stages[1], by_menu)).to_be_visible()
    expect(card_in(page, stages[0], by_menu)).to_have_count(0)
    expect(column_count(page, stages[0])).to_have_text("1")
    expect(column_count(page, stages[1])).to_have_text("1")

    # Drag: the other card onto the fourth column.
    with page.expect_response(lambda r: f"/board/move/{by_drag.pk}/" in r.url) as answer:
        page.drag_and_drop(
            f"[data-card-id='{by_drag.pk}']", f".board-column[data-stage-id='{stages[3].pk}']"
        )
    assert answer.value.status == 200
    expect(card_in(page, stages[3], by_drag)).to_be_visible()
    expect(column_count(page, stages[0])).to_have_text("0")
    assert page.evaluate("window.boardLoadedOnce") is True

    # The history of each work order has its move, by the manager.
    for wo, stage in ((by_menu, stages[1]), (by_drag, stages[3])):
        event = WorkOrderEvent.objects.filter(work_order=wo, kind="stage").last()
        assert event.text == f"{stages[0].name} → {stage.name}"
        assert event.actor.username == "manager1"
        wo.refresh_from_db()
        assert wo.stage == stage
        assert StageVisit.objects.get(work_order=wo, left_at__isnull=True).stage == stage

    # The card opens its work order, whose history shows the move.
    link = card_in(page, stages[1], by_menu).locator("[data-testid=card-link]")
    expect(link).to_have_attribute("href", f"/work-orders/{by_menu.pk}/")
    with page.expect_navigation():
        link.click()
    expect(page.locator("[data-testid=wo-history]")).to_contain_text(
        f"{stages[0].name} → {stages[1].name}"
    )


def test_board_on_a_phone_moves_with_the_menu(new_context, demo):
    store = Store.objects.get(pk=demo.store_ids["s001"])
    stages = stages_of(store)
    wo = order_in(store)
    page = new_context(viewport={"width": 375, "height": 740}, has_touch=True).new_page()
    login(page, "tech1")
    page.goto("/board/")
    assert page_width(page) <= 375
    card = card_in(page, stages[0], wo)
    # By keyboard: Enter opens the menu on its first choice, Escape closes it again.
    opener = card.locator("[data-testid=move-menu]")
    opener.focus()
    page.keyboard.press("Enter")
    expect(opener).to_have_attribute("aria-expanded", "true")
    expect(card.locator("[data-testid=move-to]").first).to_be_focused()
    expect(card.locator("[data-testid=move-to]")).to_have_count(len(stages) - 1)
    page.keyboard.press("Escape")
    expect(card.locator("[data-testid=move-to]").first).to_be_hidden()
    expect(opener).to_be_focused()
    # By touch: tap the menu, then the stage.
    opener.tap()
    card.locator("[data-testid=move-to]", has_text=stages[1].name).tap()
    expect(card_in(page, stages[1], wo)).to_be_attached()
    expect(column_count(page, stages[1])).to_have_text("1")
    wo.refresh_from_db()
    assert wo.stage == stages[1]

    # Someone else changes the order meanwhile: the move is refused (409) and the board shows
    # why in place, with the card where it was.
    WorkOrder.objects.filter(pk=wo.pk).update(version=wo.version + 1)
    card = card_in(page, stages[1], wo)
    card.locator("[data-testid=move-menu]").tap()
    with page.expect_response(lambda r: f"/board/move/{wo.pk}/" in r.url) as answer:
        card.locator("[data-testid=move-to]", has_text=stages[2].name).tap()
    assert answer.value.status == 409
    expect(page.locator("[data-testid=board-error]")).to_be_visible()
    expect(card_in(page, stages[1], wo)).to_be_attached()
    wo.refresh_from_db()
    assert wo.stage == stages[1]
