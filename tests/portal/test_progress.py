"""The owner's progress page: status, public history, shared photos, promised time, and a
fragment that htmx reloads every 15 seconds."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from autocrm.service.models import WorkOrder, WorkOrderEvent

pytestmark = pytest.mark.django_db


def test_progress_page_shows_public_history_and_status(estimate_wo, link_path):
    wo = estimate_wo
    WorkOrder.objects.filter(pk=wo.pk).update(
        status="in_progress", promised_at=timezone.now() + datetime.timedelta(hours=3)
    )
    WorkOrderEvent.objects.create(work_order=wo, kind="work", text="更换前刹车片 完成", public=True)
    WorkOrderEvent.objects.create(work_order=wo, kind="dispatch", text="内部派工给张师傅")
    path = link_path(wo, "progress")
    r = Client().get(path)
    body = r.content.decode()
    assert r.status_code == 200
    assert "爱车维修进度" in body and "京A12345" in body
    assert "维修中" in body and "预计完工" in body
    assert "更换前刹车片 完成" in body and "内部派工" not in body
    assert 'hx-trigger="every 15s"' in body and f'hx-get="{path}live/"' in body


def test_live_fragment_follows_the_work(estimate_wo, link_path):
    path = link_path(estimate_wo, "progress")
    client = Client()
    WorkOrder.objects.filter(pk=estimate_wo.pk).update(status="ready")
    WorkOrderEvent.objects.create(
        work_order=estimate_wo, kind="qc", text="质检通过，可以取车", public=True
    )
    r = client.get(f"{path}live/", headers={"HX-Request": "true"})
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert "已完工，可取车" in body and "质检通过，可以取车" in body


def test_live_fragment_of_expired_link_is_410(estimate_wo, link_path):
    path = link_path(estimate_wo, "progress")
    estimate_wo.links.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert Client().get(f"{path}live/").status_code == 410
