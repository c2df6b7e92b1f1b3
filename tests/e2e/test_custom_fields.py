"""An HQ admin adds a custom field; an advisor fills it in, sees it on the 360° page and
filters the customer list by it."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login, nav

pytestmark = pytest.mark.e2e


def test_add_custom_field_and_fill_it(new_context):
    admin = new_context().new_page()
    login(admin, "hq")
    nav(admin, "field")
    admin.click("[data-testid=new-field]")
    admin.select_option("#id_target", "customer")
    admin.fill("#id_key", "audio_budget")
    admin.fill("#id_label_zh", "音响预算")
    admin.select_option("#id_type", "choice")
    admin.fill("#id_choices", "1万以下\n1-3万\n3万以上")
    admin.click("[data-testid=field-form] button[type=submit]")
    assert "音响预算" in admin.locator("[data-testid=field-table]").inner_text()

    page = new_context().new_page()
    login(page, "advisor1")
    page.goto("/customers/new/")
    page.fill("#id_name", "孙悟空")
    page.fill("#id_mobile", "13911112222")
    page.select_option("#id_custom_audio_budget", "1-3万")
    page.click("[data-testid=save-customer]")
    labels = page.locator("[data-testid=custom-label]").all_inner_texts()
    values = page.locator("[data-testid=custom-value]").all_inner_texts()
    assert dict(zip(labels, values, strict=True))["音响预算"] == "1-3万"

    # The customer list offers the field as a filter; the rows follow it (htmx) and the
    # address keeps it (for the cursor links and a reload).
    nav(page, "customer")
    control = page.locator("[data-testid=customer-filter] select[name=cf_audio_budget]")
    rows = page.locator("[data-testid=customer-table] tbody")
    control.select_option("1-3万")
    expect(page).to_have_url(re.compile(r"cf_audio_budget="))
    expect(rows.locator("tr")).to_have_count(1)
    expect(rows).to_contain_text("孙悟空")
    control.select_option("3万以上")
    expect(rows).not_to_contain_text("孙悟空")
    page.reload()
    expect(control).to_have_value("3万以上")
