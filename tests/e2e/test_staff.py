"""HQ adds a technician, who signs in; HQ deactivates them, and they can no longer sign in.
Both changes show up in the audit log."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from autocrm.core.models import User
from tests.e2e.helpers import login, nav, path_of

pytestmark = pytest.mark.e2e

USERNAME = "e2e-tech9"
FULL_NAME = "测试技师"
PASSWORD = "Qiche#2026"


def test_add_sign_in_deactivate_and_audit(page, new_context, demo):
    login(page, "hq")
    nav(page, "staff")
    with page.expect_navigation():
        page.click("[data-testid=new-staff]")
    assert path_of(page) == "/staff/new/"

    form = page.locator("[data-testid=staff-form]")
    form.locator("#id_username").fill(USERNAME)
    form.locator("#id_full_name").fill(FULL_NAME)
    form.locator("#id_phone").fill("13812345678")
    form.locator("#id_password").fill(PASSWORD)
    form.locator("input[name=roles][value=technician]").check()
    form.locator(f"input[name=stores][value='{demo.store_ids['s003']}']").check()
    with page.expect_navigation():
        page.click("[data-testid=save-staff]")
    assert path_of(page) == "/staff/"
    expect(page.locator(".alert-success")).to_contain_text(FULL_NAME)

    staff = User.objects.get(username=USERNAME)
    assert staff.is_active
    assert set(staff.role_codes()) == {"technician"}
    assert [s.code for s in staff.stores.all()] == ["s003"]

    # The new technician signs in with the initial password and sees their store.
    theirs = new_context().new_page()
    response = login(theirs, USERNAME, PASSWORD)
    assert response.status == 302
    assert path_of(theirs) == "/"
    expect(theirs.locator("[data-testid=store-count]")).to_have_text("1")
    expect(theirs.locator("[data-testid=my-stores]")).to_contain_text(demo.store_names["s003"])

    # HQ finds them in the staff list, opens the record and deactivates it.
    page.locator(".page-body input[name=q]").fill(USERNAME)  # filters as you type (htmx)
    rows = page.locator("[data-testid=staff-table] tbody tr")
    expect(rows).to_have_count(1)
    row = rows.filter(has_text=USERNAME)
    expect(row).to_have_count(1)
    with page.expect_navigation():
        row.locator("a").first.click()
    assert path_of(page) == f"/staff/{staff.pk}/"
    with page.expect_navigation():
        page.click("[data-testid=deactivate]")
    assert path_of(page) == f"/staff/{staff.pk}/"
    expect(page.locator("[data-testid=reactivate]")).to_be_visible()
    expect(page.locator("[data-testid=deactivate]")).to_have_count(0)
    staff.refresh_from_db()
    assert not staff.is_active

    # Their open session ends, and a fresh sign-in is refused with the form error.
    theirs.reload()
    assert path_of(theirs) == "/login/"
    again = new_context().new_page()
    response = login(again, USERNAME, PASSWORD)
    assert response.status == 200
    assert path_of(again) == "/login/"
    expect(again.locator("[data-testid=form-error]")).to_be_visible()

    # The audit log lists the record; its history holds the creation and the deactivation.
    nav(page, "audit")
    assert path_of(page) == "/audit/"
    link = page.locator(
        f"[data-testid=audit-table] a[href*='object_id={staff.pk}']",
        has_text=f"#{staff.pk}",
    )
    expect(link.first).to_be_visible()
    assert "User" in link.first.inner_text()
    with page.expect_navigation():
        link.first.click()
    entries = page.locator("[data-testid=audit-table] tbody tr")
    # Created (with roles and stores) and later deactivated, every step by hq.
    expect(entries.filter(has_text=f"username: ∅ → {USERNAME}")).to_have_count(1)
    expect(entries.filter(has_text="is_active: True → False")).to_have_count(1)
    assert entries.count() >= 2
    assert all("hq" in text for text in entries.locator("td:nth-child(2)").all_inner_texts())
    # The initial password never reaches the log.
    expect(page.locator("[data-testid=audit-table]")).not_to_contain_text(PASSWORD)
