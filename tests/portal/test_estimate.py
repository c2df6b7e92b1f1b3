"""The owner's estimate page: what was found, each item with its price, approve / decline per
item through the page (CSRF on), totals with and without VAT, signature, and no double
decisions from two phones."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from autocrm.core.models import AuditLog
from autocrm.portal.models import PortalLink
from autocrm.service.models import (
    Inspection,
    InspectionResult,
    Media,
    Recommendation,
    WorkOrder,
    WorkOrderEvent,
)
from tests import service_factories as sf
from tests.portal.conftest import csrf_from, owner_client, png_data_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _inspection(wo):
    template = sf.inspection_template(wo.org, items=("刹车片", "轮胎", "灯光"))
    inspection = Inspection.objects.create(work_order=wo, template=template)
    red = InspectionResult.objects.create(
        inspection=inspection, name="刹车片", rating="now", note="剩余 2mm", sort=1
    )
    yellow = InspectionResult.objects.create(
        inspection=inspection, name="轮胎", rating="soon", sort=2
    )
    green = InspectionResult.objects.create(inspection=inspection, name="灯光", rating="ok", sort=3)
    return red, yellow, green


def _media(wo, token, *, result=None, shared=True, thumb=True):
    m = Media(
        org_id=wo.org_id,
        store_id=wo.store_id,
        work_order=wo,
        result=result,
        token=token,
        kind="image",
        content_type="image/jpeg",
        shared=shared,
    )
    m.file.save(f"{token}.jpg", ContentFile(b"\xff\xd8original"), save=False)
    if thumb:
        m.thumbnail.save(f"{token}_t.jpg", ContentFile(b"\xff\xd8thumb"), save=False)
    m.save()
    return m


def _post(client, path, data):
    page = client.get(path)
    return client.post(path, {"csrfmiddlewaretoken": csrf_from(page), **data})


def test_page_shows_store_car_findings_items_and_totals(estimate_wo, link_path, media_root):
    red, yellow, green = _inspection(estimate_wo)
    _media(estimate_wo, "redphoto1", result=red)
    _media(estimate_wo, "hidden01", result=yellow, shared=False)
    path = link_path(estimate_wo, "estimate")
    r = owner_client().get(path)
    body = r.content.decode()
    assert r.status_code == 200
    for text in ("北京朝阳店", "010-66668888", "京A12345", "大众 朗逸", "更换前刹车片", "¥300.00"):
        assert text in body, text
    assert "刹车片" in body and "剩余 2mm" in body and "需立即处理" in body
    assert "轮胎" in body and "建议近期处理" in body
    assert "灯光" not in body  # green items are not findings
    assert "redphoto1" in body and "hidden01" not in body
    assert 'data-testid="approve"' in body and "待确认金额" in body and "¥500.00" in body
    assert "<script>" not in body  # CSP: no inline scripts


def test_shared_photo_is_served_thumbnail_and_original(estimate_wo, link_path, media_root):
    red, _y, _g = _inspection(estimate_wo)
    _media(estimate_wo, "redphoto1", result=red)
    _media(estimate_wo, "hidden01", shared=False)
    other = _media(sf.work_order(estimate_wo.store), "otherwo1")
    path = link_path(estimate_wo, "estimate")
    client = owner_client()
    thumb = client.get(f"{path}photo/redphoto1/")
    assert thumb.status_code == 200 and b"".join(thumb.streaming_content) == b"\xff\xd8thumb"
    full = client.get(f"{path}photo/redphoto1/?full=1")
    assert b"".join(full.streaming_content) == b"\xff\xd8original"
    assert client.get(f"{path}photo/hidden01/").status_code == 404
    assert client.get(f"{path}photo/{other.token}/").status_code == 404


def test_opening_the_estimate_writes_no_settings(estimate_wo, link_path):
    """A store without settings shows the default VAT rate; the owner's visit saves nothing."""
    from autocrm.service.models import ServiceSettings

    ServiceSettings.objects.filter(store=estimate_wo.store).delete()
    r = owner_client().get(link_path(estimate_wo, "estimate"))
    assert r.status_code == 200 and "13%" in r.content.decode()
    assert not ServiceSettings.objects.filter(store=estimate_wo.store).exists()


def test_shared_photo_honours_a_byte_range(estimate_wo, link_path, media_root):
    """Phones fetch videos (and sometimes large photos) by ranges: the owner's link serves
    them like the staff pages do, with the same safe headers."""
    _media(estimate_wo, "redphoto1")
    path = link_path(estimate_wo, "estimate")
    part = owner_client().get(f"{path}photo/redphoto1/?full=1", HTTP_RANGE="bytes=2-5")
    assert part.status_code == 206
    assert part["Content-Range"] == "bytes 2-5/10"
    assert b"".join(part.streaming_content) == b"orig"
    assert part["X-Content-Type-Options"] == "nosniff"


def test_approve_one_item_through_the_page(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    brakes = estimate_wo.lines.get(name="更换前刹车片")
    client = owner_client()
    r = _post(client, path, {"action": "decide", "line": brakes.pk, "decision": "approved"})
    assert r.status_code == 302 and r["Location"] == path
    brakes.refresh_from_db()
    assert brakes.approval == "approved"
    assert brakes.approval_channel == "link" and brakes.approved_by_name == "李雷"
    estimate_wo.refresh_from_db()
    assert estimate_wo.total == Decimal("300.00")
    assert estimate_wo.tax == Decimal("34.51")  # 300 − 300 / 1.13
    event = WorkOrderEvent.objects.get(work_order=estimate_wo, kind="approval")
    assert event.public and "李雷" in event.text
    entry = AuditLog.objects.filter(object_type="service.WorkOrderLine").latest("id")
    assert entry.source == "portal" and entry.user_id is None
    page = client.get(path).content.decode()
    assert "已同意：更换前刹车片" in page  # the message after the redirect
    assert "✓ 已同意" in page
    assert "¥300.00" in page and "¥265.49" in page  # with and without VAT


def test_decline_with_reason_keeps_a_recommendation(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    align = estimate_wo.lines.get(name="四轮定位")
    r = _post(
        owner_client(),
        path,
        {"action": "decide", "line": align.pk, "decision": "declined", "reason": "下次再做"},
    )
    assert r.status_code == 302
    align.refresh_from_db()
    assert align.approval == "declined" and align.decline_reason == "下次再做"
    reco = Recommendation.objects.get(source_line=align)
    assert reco.reason == "下次再做" and reco.status == "open"


def test_same_item_decided_twice_is_refused_clearly(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    brakes = estimate_wo.lines.get(name="更换前刹车片")
    phone1, phone2 = owner_client(), owner_client()
    page2 = phone2.get(path)  # both phones show the item as proposed
    assert _post(phone1, path, {"action": "decide", "line": brakes.pk, "decision": "approved"})
    r = phone2.post(
        path,
        {
            "csrfmiddlewaretoken": csrf_from(page2),
            "action": "decide",
            "line": brakes.pk,
            "decision": "declined",
        },
    )
    assert r.status_code == 409
    body = r.content.decode()
    assert "已经确认过了" in body and "未重复生效" in body
    brakes.refresh_from_db()
    assert brakes.approval == "approved"
    assert WorkOrderEvent.objects.filter(work_order=estimate_wo, kind="approval").count() == 1
    assert not Recommendation.objects.filter(source_line=brakes).exists()


def test_approve_all_remaining(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    ids = list(estimate_wo.lines.values_list("pk", flat=True))
    client = owner_client()
    page = client.get(path)
    assert 'data-testid="approve-all"' in page.content.decode()
    r = client.post(
        path, {"csrfmiddlewaretoken": csrf_from(page), "action": "approve_all", "lines": ids}
    )
    assert r.status_code == 302
    assert set(estimate_wo.lines.values_list("approval", flat=True)) == {"approved"}
    estimate_wo.refresh_from_db()
    assert estimate_wo.total == Decimal("500.00")


def test_post_without_csrf_token_is_refused(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    line = estimate_wo.lines.first()
    r = owner_client().post(path, {"action": "decide", "line": line.pk, "decision": "approved"})
    assert r.status_code == 403
    line.refresh_from_db()
    assert line.approval == "proposed"


def test_bad_requests_are_refused_without_changes(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    line = estimate_wo.lines.first()
    other_line = sf.line(sf.work_order(estimate_wo.store), "别人的项目")
    client = owner_client()
    r = _post(client, path, {"action": "decide", "line": line.pk, "decision": "deferred"})
    assert r.status_code == 422 and "请选择同意或不做" in r.content.decode()
    r = _post(client, path, {"action": "decide", "line": other_line.pk, "decision": "approved"})
    assert r.status_code == 404
    r = _post(client, path, {"action": "decide", "line": "x", "decision": "approved"})
    assert r.status_code == 404
    r = _post(client, path, {"action": "launch"})
    assert r.status_code == 422
    assert set(estimate_wo.lines.values_list("approval", flat=True)) == {"proposed"}
    other_line.refresh_from_db()
    assert other_line.approval == "proposed"


def test_closed_work_order_cannot_be_decided(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    line = estimate_wo.lines.first()
    client = owner_client()
    page = client.get(path)
    WorkOrder.objects.filter(pk=estimate_wo.pk).update(status="cancelled")
    r = client.post(
        path,
        {
            "csrfmiddlewaretoken": csrf_from(page),
            "action": "decide",
            "line": line.pk,
            "decision": "approved",
        },
    )
    assert r.status_code == 409
    assert 'data-testid="approve"' not in r.content.decode()
    line.refresh_from_db()
    assert line.approval == "proposed"


def test_signature_is_saved_once(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    client = owner_client()
    signature = png_data_url()
    r = _post(client, path, {"action": "sign", "signature": signature})
    assert r.status_code == 302
    link = PortalLink.objects.get(work_order=estimate_wo)
    assert link.signature == signature
    assert WorkOrderEvent.objects.filter(work_order=estimate_wo, text__contains="签名").exists()
    page = client.get(path).content.decode()
    assert 'data-testid="signature-image"' in page and "data-signature-pad" not in page
    r = client.post(
        path,
        {
            "csrfmiddlewaretoken": csrf_from(client.get(path)),
            "action": "sign",
            "signature": png_data_url(80, 40),
        },
    )
    assert r.status_code == 409 and "您已签过名" in r.content.decode()
    link.refresh_from_db()
    assert link.signature == signature


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "请先在框内签名"),
        ("data:image/jpeg;base64,/9j/4AAQ", "无法读取签名"),
        ("data:image/png;base64,not base64!!", "无法读取签名"),
        ("data:image/png;base64,aGVsbG8=", "无法读取签名"),  # base64 of "hello", not a PNG
        ("data:image/png;base64," + "A" * 160_000, "签名图片过大"),
        ("javascript:alert(1)", "无法读取签名"),
    ],
)
def test_bad_signature_is_refused(estimate_wo, link_path, value, message):
    path = link_path(estimate_wo, "estimate")
    r = _post(owner_client(), path, {"action": "sign", "signature": value})
    assert r.status_code == 422
    assert message in r.content.decode()
    assert PortalLink.objects.get(work_order=estimate_wo).signature == ""


def test_oversized_signature_image_is_refused(estimate_wo, link_path):
    path = link_path(estimate_wo, "estimate")
    r = _post(owner_client(), path, {"action": "sign", "signature": png_data_url(2500, 10)})
    assert r.status_code == 422 and "签名图片过大" in r.content.decode()
