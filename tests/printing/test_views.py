"""The PDFs as the browser gets them: content type, file name, the Chinese text inside, and who
may print what."""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal
from urllib.parse import quote

import pytest
from pypdf import PdfReader

from autocrm.catalog.models import Category, RepairClass
from autocrm.service.models import Payment, QualityCheck, WorkOrderLine
from autocrm.service.services import recompute
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.conftest import client_for

APPROVED = WorkOrderLine.Approval.APPROVED


def _text(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    body = response.content
    assert body.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def order(world):
    customer = cf.customer(world.a1, name="李四", mobile="13812345678")
    vehicle = cf.vehicle(customer, plate="京A12345", brand="大众", model="帕萨特")
    wo = sf.work_order(
        world.a1,
        customer,
        vehicle,
        number="BJ-CY-20261124-001",
        mileage_in=50000,
        complaint="发动机异响",
        advisor=world.advisor_a1,
        repair_class=RepairClass.SECOND,
    )
    sf.line(
        wo,
        "机油 5W-30",
        "268.00",
        category=Category.MATERIAL,
        kind="part",
        approval=APPROVED,
        brand="美孚",
        spec="4L",
        unit="桶",
    )
    sf.line(wo, "二级维护作业", "300.00", approval=APPROVED)
    sf.line(wo, "空调清洗", "150.00", approval=WorkOrderLine.Approval.DECLINED)
    Payment.objects.create(
        org=world.org, store=world.a1, work_order=wo, method="wechat", amount=Decimal("500.00")
    )
    recompute(wo)  # the totals the services keep on every change of a line
    return wo


def test_authorisation_pdf(world, order):
    response = client_for(world.advisor_a1).get(f"/work-orders/{order.pk}/print/authorisation.pdf")
    text = _text(response)
    for expected in (
        "机动车维修委托书",
        "北京朝阳店",
        "李四",
        "13812345678",
        "京A12345",
        "发动机异响",
        "二级维护作业",
        "托修方签字",
    ):
        assert expected in text
    assert "空调清洗" not in text
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline; ")  # opened to print, not saved
    assert 'filename="work-order-BJ-CY-20261124-001.pdf"' in disposition
    assert "filename*=UTF-8''" + quote("维修委托书-BJ-CY-20261124-001.pdf") in disposition
    assert response["Cache-Control"] == "no-store"


def test_technician_sees_a_masked_mobile(world, order):
    text = _text(client_for(world.tech_a1).get(f"/work-orders/{order.pk}/print/authorisation.pdf"))
    assert "138****5678" in text and "13812345678" not in text


def test_settlement_pdf_a4_and_receipt(world, order):
    client = client_for(world.advisor_a1)
    a4 = _text(client.get(f"/work-orders/{order.pk}/print/settlement.pdf?size=a4"))
    for expected in (
        "机动车维修费用结算清单",
        "结算清单编号",
        "美孚",
        "诊断费",
        "材料费",
        "工时费",
        "568.00",
        "伍佰陆拾捌元整",
        "微信支付",
        "68.00",
        "质量保证期",
        "预结算",
    ):
        assert expected in a4, expected
    assert "空调清洗" not in a4
    receipt = client.get(f"/work-orders/{order.pk}/print/settlement.pdf", {"size": "receipt"})
    text = _text(receipt)
    assert "机动车维修费用结算清单" in text and "568.00" in text
    page = PdfReader(io.BytesIO(receipt.content)).pages[0]
    width_mm = float(page.mediabox.width) / 72 * 25.4
    height_mm = float(page.mediabox.height) / 72 * 25.4
    assert round(width_mm) == 80
    assert 80 < height_mm < 400  # cut to its content, not a 2 m strip


def test_settlement_refuses_an_unknown_size(world, order):
    response = client_for(world.advisor_a1).get(
        f"/work-orders/{order.pk}/print/settlement.pdf?size=a3"
    )
    assert response.status_code == 400
    assert "不支持的纸张规格" in response.content.decode()


def test_certificate_pdf_after_a_passed_check(world, order):
    QualityCheck.objects.create(work_order=order, inspector=world.tech_a1, passed=True)
    text = _text(client_for(world.manager_a1).get(f"/work-orders/{order.pk}/print/certificate.pdf"))
    for expected in (
        "机动车维修竣工出厂合格证",
        "二级维护",
        "二级维护作业",
        world.tech_a1.display_name,
        "准予出厂",
        "承修方（盖章）",
    ):
        assert expected in text, expected


def test_certificate_refused_without_a_check_or_for_a_minor_repair(world, order):
    client = client_for(world.advisor_a1)
    response = client.get(f"/work-orders/{order.pk}/print/certificate.pdf")
    assert response.status_code == 409
    assert "须先通过竣工质量检验" in response.content.decode()

    minor = sf.work_order(world.a1, repair_class=RepairClass.MINOR)
    QualityCheck.objects.create(work_order=minor, inspector=world.tech_a1, passed=True)
    response = client.get(f"/work-orders/{minor.pk}/print/certificate.pdf")
    assert response.status_code == 409
    assert "仅适用于二级维护、总成修理和整车修理" in response.content.decode()


@pytest.mark.parametrize("document", ["authorisation", "settlement", "certificate"])
def test_other_stores_and_orgs_get_404(world, order, document):
    QualityCheck.objects.create(work_order=order, inspector=world.tech_a1, passed=True)
    url = f"/work-orders/{order.pk}/print/{document}.pdf"
    assert client_for(world.manager_a2).get(url).status_code == 404
    assert client_for(world.other_admin).get(url).status_code == 404
    assert client_for(world.manager_a1).get(url).status_code == 200
    assert client_for(world.hq).get(url).status_code == 200
    assert (
        client_for(world.advisor_a1)
        .get("/work-orders/999999/print/" + document + ".pdf")
        .status_code
        == 404
    )


def test_needs_the_view_capability_and_a_sign_in(world, order):
    marketing = f.staff(world.org, "marketing", stores=[world.a1])
    url = f"/work-orders/{order.pk}/print/settlement.pdf"
    assert client_for(marketing).get(url).status_code == 403
    anonymous = client_for(world.advisor_a1)
    anonymous.logout()
    response = anonymous.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_printing_leaves_pillow_strict_about_truncated_images():
    """WeasyPrint makes Pillow accept truncated images when imported; printing puts that back
    at once, so photo uploads in the same process stay strict. In a fresh interpreter, where
    nothing imported WeasyPrint before."""
    code = (
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'autocrm.settings')\n"
        "django.setup()\n"
        "from PIL import ImageFile\n"
        "from autocrm.printing import pdf\n"
        "assert ImageFile.LOAD_TRUNCATED_IMAGES is False, 'after import'\n"
        "pdf.weasyprint.HTML(string='<p>x</p>').render().write_pdf()\n"
        "assert ImageFile.LOAD_TRUNCATED_IMAGES is False, 'after rendering'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
