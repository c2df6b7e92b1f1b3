"""An advisor files a new customer (with their preferences) and their car, finds them again from
the header search by part of the plate and by the pinyin initials of the name, and works on the
360° page: shows the number, adds a note, records mileage (a lower reading is refused in place)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from autocrm.catalog.models import ServicePackage
from autocrm.core.models import AuditLog, Store
from autocrm.customers.models import Customer, Interaction, Vehicle
from tests.e2e.helpers import login, nav, path_of

pytestmark = pytest.mark.e2e

NAME = "欧阳修远"
INITIALS = "oyxy"
MOBILE = "13987654321"
PLATE = "京QZ7X91"
FRAGMENT = "Z7X9"
VIN = "LSVAB2BM0MN123457"  # check digit 0 is right for this one (asserted below)
PHONE_WIDTH = 375


def search_and_open(page, text: str, customer: Customer) -> None:
    box = page.locator("[data-testid=global-search]")
    box.fill("")
    box.press_sequentially(text, delay=30)
    hit = page.locator("[data-testid=search-results] a[role=option]", has_text=NAME)
    expect(hit).to_have_count(1)
    expect(hit).to_have_attribute("href", f"/customers/{customer.pk}/")
    with page.expect_navigation():
        hit.click()
    assert path_of(page) == f"/customers/{customer.pk}/"
    expect(page.locator("[data-testid=customer-name]")).to_have_text(NAME)


def test_advisor_files_customer_and_vehicle_then_finds_them(page, demo):
    from autocrm.customers.validators import vin_check_digit

    assert vin_check_digit(VIN) == VIN[8]
    org = Store.objects.get(code="s001").org
    ServicePackage.objects.create(org=org, code="E2E-AUDIO", name="功放升级套餐")
    login(page, "advisor1")
    nav(page, "customer")
    assert path_of(page) == "/customers/"
    with page.expect_navigation():
        page.click("[data-testid=new-customer]")
    assert path_of(page) == "/customers/new/"

    form = page.locator("[data-testid=customer-form]")
    form.locator("#id_name").fill(NAME)
    form.locator("#id_mobile").fill(MOBILE)
    form.locator("#id_birthday").fill("1988-06-15")
    # Preferences: a catalog service ticked, another typed, music style, budget and brands; a
    # budget whose upper limit is below the lower one is refused on its field first.
    prefs = form.locator("[data-testid=preferences-fields]")
    prefs.locator("#id_pref_services .form-check", has_text="功放升级套餐").locator("input").check()
    form.locator("#id_pref_services_other").fill("隔音降噪")
    form.locator("#id_pref_music_style").fill("古典")
    form.locator("#id_pref_budget_min").fill("8000")
    form.locator("#id_pref_budget_max").fill("3000")
    form.locator("#id_pref_brands").fill("JBL，哈曼卡顿")
    with page.expect_navigation():
        page.click("[data-testid=save-customer]")
    assert path_of(page) == "/customers/new/"
    expect(form.locator("#id_pref_budget_max ~ .invalid-feedback")).to_contain_text("预算上限")
    assert not Customer.objects.filter(name=NAME).exists()
    form.locator("#id_pref_budget_max").fill("12000")
    with page.expect_navigation():
        page.click("[data-testid=save-customer]")
    customer = Customer.objects.get(name=NAME)
    assert path_of(page) == f"/customers/{customer.pk}/"
    assert customer.home_store_id == demo.store_ids["s001"]  # advisor1's only store
    expect(page.locator("[data-testid=customer-mobile]")).to_have_text("139****4321")
    expect(page.locator("[data-testid=pref-services]")).to_contain_text("功放升级套餐")
    expect(page.locator("[data-testid=pref-services]")).to_contain_text("隔音降噪")
    expect(page.locator("[data-testid=pref-music]")).to_have_text("古典")
    expect(page.locator("[data-testid=pref-budget]")).to_have_text(re.compile(r"8,?000.*12,?000"))
    expect(page.locator("[data-testid=pref-brands]")).to_contain_text("哈曼卡顿")
    assert customer.preferences["budget_max"] == 12000

    # Add the car from the 360° page.
    with page.expect_navigation():
        page.click("[data-testid=add-vehicle]")
    assert path_of(page) == "/vehicles/new/"
    form = page.locator("[data-testid=vehicle-form]")
    form.locator("#id_plate").fill(PLATE.lower())
    form.locator("#id_vin").fill(VIN)
    form.locator("#id_brand").fill("大众")
    form.locator("#id_model").fill("帕萨特")
    form.locator("#id_mileage_km").fill("42000")
    with page.expect_navigation():
        page.click("[data-testid=save-vehicle]")
    assert path_of(page) == f"/customers/{customer.pk}/"
    card = page.locator("[data-testid=vehicle-card]")
    expect(card).to_have_count(1)
    expect(card.locator("[data-testid=vehicle-plate]")).to_have_text(PLATE)
    expect(card).to_contain_text(VIN)
    vehicle = Vehicle.objects.get(plate=PLATE)
    assert vehicle.owner_id == customer.pk and vehicle.current_mileage == 42000

    # The header search finds them by part of the plate, and by the name's pinyin initials.
    page.goto("/")
    search_and_open(page, FRAGMENT, customer)
    search_and_open(page, INITIALS, customer)

    # Enter on the full plate opens the 360° page straight from the search form.
    page.goto("/customers/")
    box = page.locator("[data-testid=global-search]")
    box.fill(PLATE)
    with page.expect_navigation():
        box.press("Enter")
    assert path_of(page) == f"/customers/{customer.pk}/"


def test_advisor_works_on_the_360_page(page, demo):
    from autocrm.core.models import User
    from autocrm.customers import services

    advisor = User.objects.get(username="advisor1")
    customer = services.create_customer(advisor, name=NAME, mobile=MOBILE)
    vehicle = services.create_vehicle(
        advisor, owner_id=customer.pk, plate=PLATE, brand="大众", mileage_km=42000
    )

    login(page, "advisor1")
    page.goto(f"/customers/{customer.pk}/")

    # Show the full number: swapped in place and written to the audit log.
    page.click("[data-testid=reveal-mobile]")
    expect(page.locator("[data-testid=customer-mobile]")).to_have_text(MOBILE)
    assert AuditLog.objects.filter(action="reveal", object_id=str(customer.pk)).count() == 1

    # A note from the quick-action form appears at the top of the timeline.
    timeline = page.locator("[data-testid=timeline]")
    timeline.locator("input[name=summary]").fill("客户希望周六上午来做保养")
    timeline.locator("textarea[name=body]").fill("提前一天电话提醒")
    timeline.locator("[data-testid=add-interaction]").click()
    entries = page.locator("[data-testid=timeline-entry]")
    expect(entries.first).to_contain_text("客户希望周六上午来做保养")
    expect(entries.first).to_contain_text("提前一天电话提醒")
    expect(page.locator("[data-testid=timeline] input[name=summary]")).to_have_value("")
    # A call, chosen with the type buttons.
    page.click("[data-testid=kind-call]")
    page.fill("[data-testid=timeline] input[name=summary]", "回访, 满意")
    page.click("[data-testid=add-interaction]")
    expect(entries.first).to_contain_text("回访, 满意")
    assert list(
        Interaction.objects.filter(customer=customer).order_by("id").values_list("kind", flat=True)
    ) == ["note", "call"]

    # Mileage: a lower reading is refused inside the card; a higher one updates it.
    card = page.locator(f"#vehicle-{vehicle.pk}")
    card.locator("[data-testid=record-mileage]").click()
    card.locator("input[name=km]").fill("41000")
    card.locator("[data-testid=save-mileage]").click()
    card = page.locator(f"#vehicle-{vehicle.pk}")
    expect(card.locator(".invalid-feedback")).to_contain_text("42000")
    expect(card.locator("[data-testid=vehicle-mileage]")).to_contain_text(re.compile("42,?000"))
    card.locator("input[name=km]").fill("43500")
    card.locator("[data-testid=save-mileage]").click()
    expect(card.locator("[data-testid=vehicle-mileage]")).to_contain_text(re.compile("43,?500"))
    expect(card.locator(".invalid-feedback")).to_have_count(0)


def test_customer_pages_fit_a_phone(new_context, demo):
    from autocrm.core.models import User
    from autocrm.customers import services

    advisor = User.objects.get(username="advisor1")
    customer = services.create_customer(advisor, name=NAME, mobile=MOBILE)
    vehicle = services.create_vehicle(advisor, owner_id=customer.pk, plate=PLATE, vin=VIN)
    services.add_interaction(advisor, customer, kind="note", summary="很长的备注" * 20)

    page = new_context(viewport={"width": PHONE_WIDTH, "height": 800}, is_mobile=True)
    page = page.new_page()
    login(page, "advisor1")
    for path in (
        "/customers/",
        "/customers/new/",
        f"/customers/{customer.pk}/",
        f"/customers/{customer.pk}/edit/",
        f"/vehicles/new/?owner={customer.pk}",
        f"/vehicles/{vehicle.pk}/edit/",
    ):
        page.goto(path)
        expect(page.locator(".page-title")).to_be_visible()
        width = page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        )
        assert width <= PHONE_WIDTH, path
