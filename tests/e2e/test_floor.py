"""The technician's phone at 375 px: inspect a car with ratings and a photo, propose the red
and yellow items, then clock on and off a job from "my jobs"."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import htmx_settled, login, path_of

pytestmark = pytest.mark.e2e

WIDTH = 375


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 40, 40)).save(out, "PNG")
    return out.getvalue()


def page_width(page) -> int:
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )


@pytest.fixture
def shop(demo, settings, tmp_path):
    """An in-progress order at the first store with a brake job assigned to tech1."""
    from autocrm.core.models import Store, User
    from autocrm.service.models import WorkOrder, WorkOrderLine
    from tests import customer_factories as cf
    from tests import service_factories as sf

    settings.MEDIA_ROOT = tmp_path
    store = Store.objects.get(code="s001")
    car = cf.vehicle(
        cf.customer(store, name="张三"), plate="京A88888", brand="丰田", model="卡罗拉"
    )
    wo = sf.work_order(store, vehicle=car, customer=car.owner, status=WorkOrder.Status.IN_PROGRESS)
    line = sf.line(wo, "更换前刹车片", approval=WorkOrderLine.Approval.APPROVED, quantity=2)
    line.technicians.set([User.objects.get(username="tech1")])
    sf.inspection_template(store.org, items=("轮胎", "刹车片", "机油"))
    return wo, line


def open_menu_item(page, key: str) -> None:
    page.click(".navbar-toggler")
    with page.expect_navigation():
        page.click(f"[data-testid=main-nav] [data-nav={key}]")


def test_technician_inspects_and_clocks_on_a_phone(new_context, shop):
    from autocrm.service.models import Media, TimeEntry, WorkOrderLine

    wo, line = shop
    context = new_context(viewport={"width": WIDTH, "height": 800}, is_mobile=True, has_touch=True)
    page = context.new_page()
    login(page, "tech1")
    open_menu_item(page, "floor")
    assert path_of(page) == "/floor/"
    job = page.locator("[data-testid=job]")
    expect(job).to_have_count(1)
    expect(job.locator("[data-testid=job-plate]")).to_have_text("京A88888")
    assert page_width(page) <= WIDTH

    # the inspection: start it from the checklist
    with page.expect_navigation():
        job.locator("[data-testid=job-inspection]").click()
    assert path_of(page) == f"/floor/wo/{wo.pk}/inspection/"
    with page.expect_navigation():
        page.click("[data-testid=inspection-start-button]")
    items = page.locator("[data-testid=result]")
    expect(items).to_have_count(3)

    def item(name):
        return page.locator(f"[data-testid=result][data-name='{name}']")

    for name, rating in (("刹车片", "now"), ("机油", "soon"), ("轮胎", "ok")):
        item(name).locator(f"[data-testid=rate-{rating}]").click()
        expect(item(name)).to_have_attribute("data-rating", rating)

    # a note saved with its button, then a photo taken for the brake pads
    item("刹车片").locator("[data-testid=result-note]").fill("剩余2毫米")
    with page.expect_response(lambda r: "/floor/results/" in r.url):
        item("刹车片").locator("[data-testid=result-save]").click()
    expect(item("刹车片").locator("form")).not_to_have_class(re.compile("htmx-request"))
    expect(item("刹车片").locator("[data-testid=result-note]")).to_have_value("剩余2毫米")
    htmx_settled(page)
    item("刹车片").locator("[data-testid=result-file]").set_input_files(
        files=[{"name": "brake.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )
    thumb = item("刹车片").locator("[data-testid=thumb] img")
    expect(thumb).to_have_count(1)
    expect(thumb).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=thumb] img');"
        " return i && i.complete && i.naturalWidth === 480; }"
    )
    assert Media.objects.get().result.name == "刹车片"
    expect(item("刹车片")).to_have_attribute("data-rating", "now")  # the photo kept the rating
    assert page_width(page) <= WIDTH

    # complete, then the red and yellow items become proposed lines in one tap
    with page.expect_navigation():
        page.click("[data-testid=inspection-complete]")
    expect(page.locator("[data-testid=inspection-completed]")).to_be_visible()
    form = page.locator("[data-testid=propose-form]")
    expect(form.locator("input[type=checkbox]:checked")).to_have_count(2)
    with page.expect_navigation():
        page.click("[data-testid=propose-button]")
    proposed = page.locator("[data-testid=proposed-line]")
    expect(proposed).to_have_count(2)
    expect(proposed.first).to_contain_text("刹车片（剩余2毫米）")
    expect(proposed.nth(1)).to_contain_text("机油")
    assert wo.lines.filter(approval=WorkOrderLine.Approval.PROPOSED).count() == 2
    assert page_width(page) <= WIDTH

    # my jobs: clock on, the timer runs, clock off
    open_menu_item(page, "floor")
    row = page.locator(f"[data-testid=job-line][data-line='{line.pk}']")
    row.locator("[data-testid=clock-on]").click()
    expect(page.locator("[data-testid=running]")).to_be_visible()
    expect(row.locator("[data-testid=clock-off]")).to_be_visible()
    expect(row.locator("[data-testid=clock-off] .floor-timer")).to_have_text(
        re.compile(r"00:00:\d\d")
    )
    assert TimeEntry.objects.get(line=line).ended_at is None
    assert page_width(page) <= WIDTH
    row.locator("[data-testid=clock-off]").click()
    expect(row.locator("[data-testid=clock-on]")).to_be_visible()
    expect(page.locator("[data-testid=running]")).to_have_count(0)
    assert TimeEntry.objects.get(line=line).ended_at is not None
