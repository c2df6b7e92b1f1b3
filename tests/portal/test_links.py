"""A link works only untouched, unexpired, unrevoked and for its own page; refusals are
friendly pages, never a stack trace."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from autocrm.portal import services as links
from autocrm.portal.models import PortalLink
from autocrm.service import notify

pytestmark = pytest.mark.django_db


def test_valid_link_opens_and_records_the_visit(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    r = Client().get(path)
    assert r.status_code == 200
    assert "请确认维修项目" in r.content.decode()
    assert PortalLink.objects.get(work_order=estimate_wo).last_opened_at is not None


def test_tampered_token_is_404_page(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    r = Client().get(tampered)
    assert r.status_code == 404
    body = r.content.decode()
    assert "链接无效" in body and "Traceback" not in body
    assert 'data-testid="main-nav"' not in body  # the owner's layout, not the staff's


def test_signed_but_unknown_token_is_404(estimate_wo):
    token = links._signer("estimate").sign("not-a-real-link")
    r = Client().get(links.link_path("estimate", token))
    assert r.status_code == 404 and "链接无效" in r.content.decode()


def test_expired_link_is_410_page(estimate_wo, link_path):
    path = link_path(estimate_wo, "progress")
    PortalLink.objects.update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    r = Client().get(path)
    assert r.status_code == 410
    assert "链接已过期" in r.content.decode()


def test_revoked_link_is_410(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    links.revoke_links(estimate_wo, "estimate")
    assert Client().get(path).status_code == 410


def test_new_estimate_link_retires_the_old_one(estimate_wo, link_path):
    old = link_path(estimate_wo, "estimate")
    new = notify.estimate_link(estimate_wo)
    assert Client().get(old).status_code == 410
    assert Client().get(new).status_code == 200


def test_link_for_another_page_is_refused(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    token = path.split("/")[3]
    assert Client().get(f"/c/p/{token}/").status_code == 404
    assert Client().get(f"/c/s/{token}/").status_code == 404
    assert Client().post(f"/c/s/{token}/", {"nps": 10}).status_code == 404


def test_expired_link_refuses_a_decision(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    PortalLink.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    line = estimate_wo.lines.first()
    r = Client().post(path, {"action": "decide", "line": line.pk, "decision": "approved"})
    assert r.status_code == 410
    line.refresh_from_db()
    assert line.approval == "proposed"
