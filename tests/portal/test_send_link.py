"""Staff send the owner a link from the work order page and can copy it."""

from __future__ import annotations

import pytest
from django.conf import settings

from autocrm.messaging.models import OutboxMessage
from autocrm.portal.models import PortalLink

pytestmark = pytest.mark.django_db


def test_advisor_sends_estimate_link(world, login, estimate_wo):
    client = login(world.advisor_a1)
    r = client.post(f"/work-orders/{estimate_wo.pk}/send-link/estimate/", follow=True)
    assert r.redirect_chain[-1][0] == f"/work-orders/{estimate_wo.pk}/"
    body = r.content.decode()
    # No SMS provider yet: the message waits in the outbox, and the page says so.
    assert "已加入车主短信队列" in body and "http://testserver/c/e/" in body
    message = OutboxMessage.objects.get(purpose="work_order.estimate")
    assert message.to == "13800138000" and message.status == "queued"
    assert f"{settings.AUTOCRM_PUBLIC_URL}/c/e/" in message.body  # a full link in the text
    link = PortalLink.objects.get(work_order=estimate_wo, purpose="estimate")
    assert link.is_valid


def test_htmx_answer_is_the_links_panel_with_the_url(world, login, estimate_wo):
    client = login(world.advisor_a1)
    client.post(f"/work-orders/{estimate_wo.pk}/send-link/estimate/")
    r = client.post(
        f"/work-orders/{estimate_wo.pk}/send-link/progress/", headers={"HX-Request": "true"}
    )
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert 'data-testid="sent-link-url"' in body and "http://testserver/c/p/" in body
    # the new estimate link retired nothing else; two links are active
    assert PortalLink.objects.filter(work_order=estimate_wo, revoked_at__isnull=True).count() == 2
    panel = client.get(f"/work-orders/{estimate_wo.pk}/links/").content.decode()
    assert "发送报价确认链接" in panel and "发送满意度回访" not in panel  # not settled yet


def test_refusals(world, login, estimate_wo):
    url = f"/work-orders/{estimate_wo.pk}/send-link/estimate/"
    assert login(world.tech_a1).post(url).status_code == 403
    assert login(world.manager_a2).post(url).status_code == 404
    assert login(world.other_admin).post(url).status_code == 404
    assert login(world.advisor_a1).get(url).status_code == 405
    bad = f"/work-orders/{estimate_wo.pk}/send-link/payment/"
    assert login(world.advisor_a1).post(bad).status_code == 404
    survey = f"/work-orders/{estimate_wo.pk}/send-link/survey/"
    assert login(world.advisor_a1).post(survey).status_code == 409
    assert not PortalLink.objects.exists() and not OutboxMessage.objects.exists()
