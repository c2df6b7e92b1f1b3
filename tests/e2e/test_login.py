"""Signing in: a wrong password is refused on the form; repeated failures lock the account."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.e2e.helpers import login, path_of

pytestmark = pytest.mark.e2e


def test_wrong_password_then_lockout(page, demo):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit >= 2

    for attempt in range(1, limit):
        response = login(page, "manager1", f"wrong-{attempt}")
        assert response.status == 200, attempt
        assert path_of(page) == "/login/"
        expect(page.locator("[data-testid=form-error]")).to_be_visible()
        expect(page.locator("[data-testid=lockout]")).to_have_count(0)
        expect(page.locator("#id_username")).to_have_value("manager1")

    # The failure that reaches the limit locks the account at once.
    response = login(page, "manager1", "still-wrong")
    assert response.status == 429
    assert path_of(page) == "/login/"
    expect(page.locator("[data-testid=lockout]")).to_be_visible()

    # While locked, even the right password is refused, and nobody is signed in.
    response = login(page, "manager1")
    assert response.status == 429
    expect(page.locator("[data-testid=lockout]")).to_be_visible()
    page.goto("/")
    assert path_of(page) == "/login/"
    expect(page.locator("[data-testid=main-nav]")).to_have_count(0)

    # The lock is per login name: a colleague at the same counter can still sign in.
    response = login(page, "advisor1")
    assert response.status == 302
    assert path_of(page) == "/"
    expect(page.locator("[data-testid=main-nav]")).to_be_visible()


def test_right_password_signs_in_and_redirects_back(page, demo):
    page.goto("/staff/")
    assert path_of(page) == "/login/"
    response = login(page, "manager1")
    assert response.status == 302
    assert path_of(page) == "/staff/"
    expect(page.locator("[data-testid=staff-table]")).to_be_visible()
    expect(page.locator("[data-testid=form-error]")).to_have_count(0)
