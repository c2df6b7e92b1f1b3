"""What the printed documents say: built from the work order without making a PDF."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from autocrm.catalog.models import Category, RepairClass
from autocrm.core.errors import Conflict
from autocrm.printing import documents
from autocrm.service.models import Payment, QualityCheck, ServiceSettings, WorkOrderLine
from autocrm.service.selectors import get_work_order
from autocrm.service.services import recompute
from tests import customer_factories as cf
from tests import service_factories as sf

APPROVED = WorkOrderLine.Approval.APPROVED
SETTLED_AT = datetime.datetime(2026, 11, 24, 9, 30, tzinfo=datetime.UTC)  # 17:30 in Shanghai


@pytest.fixture(autouse=True)
def chinese():
    with translation.override("zh-hans"):
        yield


def _order(world, mobile="13812345678", plate="京A12345", **kw):
    customer = cf.customer(world.a1, name="李四", mobile=mobile, level="金卡")
    vehicle = cf.vehicle(customer, plate=plate, brand="大众", model="帕萨特")
    kw.setdefault("mileage_in", 50000)
    return sf.work_order(world.a1, customer, vehicle, **kw)


def _lines(wo):
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
    sf.line(
        wo,
        "机油滤清器",
        "45.00",
        quantity=2,
        category=Category.MATERIAL,
        kind="part",
        approval=APPROVED,
        unit="个",
    )
    # 10 % off a 200.00 labour line: billed 180.00.
    line = sf.line(
        wo, "更换机油机滤", "100.00", quantity=2, approval=APPROVED, discount_pct=Decimal("10")
    )
    line.amount = Decimal("180.00")
    line.save()
    sf.line(wo, "故障诊断", "50.00", category=Category.DIAGNOSIS, approval=APPROVED)
    sf.line(wo, "四轮定位检测", "80.00", category=Category.TESTING, approval=APPROVED)
    sf.line(
        wo, "外加工镗缸", "300.00", category=Category.PROCESSING, kind="sublet", approval=APPROVED
    )
    sf.line(wo, "洗车", "30.00", category=Category.OTHER, approval=APPROVED)
    sf.line(wo, "刹车片(待确认)", "400.00", category=Category.MATERIAL, kind="part")
    sf.line(wo, "空调清洗(拒绝)", "150.00", approval=WorkOrderLine.Approval.DECLINED)
    sf.line(
        wo,
        "轮胎(延后)",
        "600.00",
        category=Category.MATERIAL,
        kind="part",
        approval=WorkOrderLine.Approval.DEFERRED,
    )
    sf.line(
        wo,
        "自带火花塞",
        "0.00",
        quantity=4,
        category=Category.MATERIAL,
        kind="part",
        approval=APPROVED,
        customer_supplied=True,
        brand="NGK",
        spec="BKR6E",
        unit="个",
    )


def _load(user, wo):
    """The work order as a page loads it, its kept totals brought up to date with the lines
    the factories made (the services keep them so on every change of a line)."""
    recompute(wo)
    return get_work_order(user, wo.pk, for_page=True)


def test_settlement_bills_only_approved_lines_by_category(world):
    wo = _order(world, settled_at=SETTLED_AT)
    _lines(wo)
    ctx = documents.settlement_context(world.advisor_a1, _load(world.advisor_a1, wo))
    totals = {c["code"]: c["amount"] for c in ctx["category_totals"]}
    assert totals == {
        "diagnosis": Decimal("50.00"),
        "testing": Decimal("80.00"),
        "material": Decimal("358.00"),
        "labour": Decimal("180.00"),
        "processing": Decimal("300.00"),
        "other": Decimal("30.00"),
    }
    assert [c["label"] for c in ctx["category_totals"]] == [
        "诊断费",
        "检测费",
        "材料费",
        "工时费",
        "加工费",
        "其他费用",
    ]
    assert all(isinstance(v, Decimal) for v in totals.values())
    assert ctx["total"] == sum(totals.values()) == Decimal("998.00")
    assert [r["name"] for r in ctx["materials"]] == ["机油 5W-30", "机油滤清器"]
    assert ctx["materials_total"] == Decimal("358.00")
    assert (ctx["materials"][0]["brand"], ctx["materials"][0]["spec"]) == ("美孚", "4L")
    labour_names = [r["name"] for r in ctx["labour"]]
    assert labour_names == ["更换机油机滤", "故障诊断", "四轮定位检测", "外加工镗缸", "洗车"]
    assert ctx["labour_hours"] == Decimal("5")  # labour-kind lines; the sublet is no labour
    assert ctx["total_upper"] == "玖佰玖拾捌元整"
    for name in ("刹车片(待确认)", "空调清洗(拒绝)", "轮胎(延后)"):
        assert name not in labour_names + [r["name"] for r in ctx["materials"]]


def test_settlement_discount_vat_payments_and_balance(world):
    wo = _order(world, settled_at=SETTLED_AT)
    _lines(wo)
    ServiceSettings.objects.create(store=world.a1, tax_rate=Decimal("0.06"))
    for method, amount in (("wechat", "500.00"), ("cash", "100.00"), ("wechat", "-20.00")):
        Payment.objects.create(
            org=world.org, store=world.a1, work_order=wo, method=method, amount=Decimal(amount)
        )
    ctx = documents.settlement_context(world.advisor_a1, _load(world.advisor_a1, wo))
    assert ctx["gross_total"] == Decimal("1018.00")
    assert ctx["discount"] == Decimal("20.00")
    assert ctx["labour"][0]["discount"] == Decimal("20.00")
    assert ctx["vat"] == Decimal("56.49")  # 998 × 0.06 / 1.06
    assert ctx["tax_rate_pct"] == Decimal("6")
    assert [(p["label"], p["amount"]) for p in ctx["payments"]] == [
        ("现金", Decimal("100.00")),
        ("微信支付", Decimal("480.00")),
    ]
    assert ctx["paid"] == Decimal("580.00")
    assert ctx["balance"] == Decimal("418.00")
    assert ctx["customer"]["level"] == "金卡"


def test_settlement_lists_customer_parts_old_parts_and_warranty(world):
    wo = _order(
        world, settled_at=SETTLED_AT, warranty_days=30, warranty_km=5000, old_parts_returned=True
    )
    _lines(wo)
    ServiceSettings.objects.create(store=world.a1, warranty_terms="人为损坏不在保修范围内。")
    ctx = documents.settlement_context(world.advisor_a1, _load(world.advisor_a1, wo))
    assert [(r["name"], r["quantity"], r["brand"]) for r in ctx["customer_supplied"]] == [
        ("自带火花塞", Decimal("4"), "NGK")
    ]
    assert ctx["old_parts_returned"] is True
    assert ctx["settled_on"] == datetime.date(2026, 11, 24)
    assert ctx["provisional"] is False
    w = ctx["warranty"]
    assert w["until"] == datetime.date(2026, 12, 24) and w["until_km"] == 55000
    assert w["text"] == (
        "自 2026-11-24 起 30 天或 5000 公里，以先到者为准（至 2026-12-24 或里程表 55000 公里）。"
    )
    assert ctx["warranty_terms"] == "人为损坏不在保修范围内。"


def test_unsettled_settlement_is_provisional_from_today(world):
    wo = _order(world, mileage_in=None)
    ctx = documents.settlement_context(world.advisor_a1, _load(world.advisor_a1, wo))
    assert ctx["provisional"] is True and ctx["settled_on"] is None
    assert ctx["warranty"]["start"] == timezone.localdate()
    assert "里程表" not in ctx["warranty"]["text"]
    assert ctx["total"] == Decimal("0.00") and ctx["total_upper"] == "零元整"


def test_mobile_is_masked_without_the_phone_capability(world):
    wo = _order(world)
    assert documents.customer_party(world.advisor_a1, wo.customer)["mobile"] == "13812345678"
    assert documents.customer_party(world.tech_a1, wo.customer)["mobile"] == "138****5678"


def test_authorisation_shows_proposed_and_approved_lines(world):
    wo = _order(world, complaint="发动机异响", advisor=world.advisor_a1, promised_at=timezone.now())
    _lines(wo)
    ctx = documents.authorisation_context(world.tech_a1, _load(world.tech_a1, wo))
    names = [r["name"] for r in ctx["lines"]]
    assert "刹车片(待确认)" in names
    assert "空调清洗(拒绝)" not in names and "轮胎(延后)" not in names
    assert ctx["approved_total"] == Decimal("998.00")
    assert ctx["estimate_total"] == Decimal("1398.00")
    assert ctx["customer"]["mobile"] == "138****5678"
    assert ctx["vehicle"] == {
        "plate": "京A12345",
        "vin": wo.vehicle.vin,
        "brand_model": "大众 帕萨特",
        "mileage_in": 50000,
    }
    assert ctx["advisor"] == world.advisor_a1.display_name
    assert ctx["store"]["name"] == "北京朝阳店"
    assert ctx["terms"] and all(isinstance(t, str) for t in ctx["terms"])


def test_certificate_only_for_certified_classes_with_a_passed_check(world):
    minor = _order(world, "13900000009", "京A54321", repair_class=RepairClass.MINOR)
    with pytest.raises(Conflict) as exc:
        documents.certificate_context(world.advisor_a1, _load(world.advisor_a1, minor))
    assert "小修" in str(exc.value.message)

    wo = _order(
        world,
        repair_class=RepairClass.SECOND,
        settled_at=SETTLED_AT,
        warranty_days=30,
        warranty_km=5000,
    )
    _lines(wo)
    with pytest.raises(Conflict):
        documents.certificate_context(world.advisor_a1, _load(world.advisor_a1, wo))
    QualityCheck.objects.create(work_order=wo, inspector=world.tech_a1, passed=False)
    with pytest.raises(Conflict):
        documents.certificate_context(world.advisor_a1, _load(world.advisor_a1, wo))
    QualityCheck.objects.create(
        work_order=wo,
        inspector=world.tech_a1,
        passed=True,
        items=[{"name": "油液液位正常", "ok": True}],
    )
    ctx = documents.certificate_context(world.advisor_a1, _load(world.advisor_a1, wo))
    assert ctx["inspector"] == world.tech_a1.display_name
    assert ctx["repair_class"] == "二级维护"
    assert "更换机油机滤" in [r["name"] for r in ctx["work"]]
    assert "空调清洗(拒绝)" not in [r["name"] for r in ctx["work"]]
    assert ctx["completed_on"] == datetime.date(2026, 11, 24)
    assert ctx["warranty"]["until_km"] == 55000
    assert ctx["qc_items"] == [{"name": "油液液位正常", "ok": True}]

    # A failed re-check after the pass withdraws the certificate.
    QualityCheck.objects.create(work_order=wo, inspector=world.tech_a1, passed=False)
    with pytest.raises(Conflict):
        documents.certificate_context(world.advisor_a1, _load(world.advisor_a1, wo))


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "零元整"),
        ("0.50", "伍角整"),
        ("0.05", "伍分"),
        ("8", "捌元整"),
        ("100.05", "壹佰元零伍分"),
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        ("1000", "壹仟元整"),
        ("10010", "壹万零壹拾元整"),
        ("10000100", "壹仟万零壹佰元整"),
        ("100000001", "壹亿零壹元整"),
        ("1001", "壹仟零壹元整"),
        ("-35.20", "负叁拾伍元贰角整"),
    ],
)
def test_rmb_upper(amount, words):
    assert documents.rmb_upper(Decimal(amount)) == words


def test_vat_included(world):
    """The VAT printed is the one inside the tax-inclusive total: total × rate / (1 + rate)."""
    settings = ServiceSettings.objects.create(store=world.a1, tax_rate=Decimal("0.13"))
    wo = _order(world)
    sf.line(wo, "钣金", "113.00", approval=APPROVED)
    ctx = documents.settlement_context(world.advisor_a1, _load(world.advisor_a1, wo))
    assert ctx["vat"] == Decimal("13.00")
    settings.tax_rate = Decimal("0")
    settings.save()
    other = _order(world, "13900000008", "京A54322")
    sf.line(other, "钣金", "100.00", approval=APPROVED)
    ctx = documents.settlement_context(world.advisor_a1, _load(world.advisor_a1, other))
    assert ctx["vat"] == Decimal("0.00")


def test_settlement_agrees_with_the_totals_the_services_keep(world):
    """Lines made through the shop-floor services (member price, a discount, a declined line,
    an owner's part): the printed figures are the work order's own columns, and the lines
    listed and their category totals add up to them."""
    from autocrm.catalog.models import StorePrice
    from autocrm.service import services

    owner = cf.customer(world.a1, name="张三", level="金卡")
    car = cf.vehicle(owner, km=10000)
    labour = sf.labour(world.org, price="100.00")
    StorePrice.objects.create(
        store=world.a1, labour=labour, price=Decimal("90"), member_prices={"金卡": "80.00"}
    )
    user = world.manager_a1
    wo = services.create_work_order(user, vehicle=car, mileage_in=12000)
    member = services.add_line(user, wo, kind="labour", labour_id=labour.pk, quantity=2)
    oil = services.add_line(
        user,
        wo,
        kind="part",
        name="机油",
        unit_price="268.00",
        category=Category.MATERIAL,
        discount_pct=15,
    )
    test = services.add_line(
        user, wo, kind="labour", name="尾气检测", unit_price="60", category=Category.TESTING
    )
    own = services.add_line(
        user,
        wo,
        kind="part",
        name="自带雨刮",
        unit_price="99",
        category=Category.MATERIAL,
        customer_supplied=True,
    )
    no = services.add_line(user, wo, kind="labour", name="空调清洗", unit_price="150")
    services.record_approval(
        user,
        wo,
        {
            member.pk: "approved",
            oil.pk: "approved",
            test.pk: "approved",
            own.pk: "approved",
            no.pk: "declined",
        },
        channel="in_person",
    )
    wo.refresh_from_db()
    ctx = documents.settlement_context(user, get_work_order(user, wo.pk, for_page=True))
    totals = {c["code"]: c["amount"] for c in ctx["category_totals"]}
    assert ctx["labour"][0]["unit_price"] == Decimal("80.00")  # the member price
    assert ctx["materials"][0]["discount"] == Decimal("40.20")  # 15 % of 268.00
    assert ctx["total"] == wo.total == Decimal("447.80")
    assert ctx["discount"] == wo.discount_total == Decimal("40.20")
    assert ctx["vat"] == wo.tax
    assert totals["material"] == wo.parts_total
    assert sum(v for k, v in totals.items() if k != "material") == (
        wo.labour_total + wo.other_total
    )
    assert [r["name"] for r in ctx["customer_supplied"]] == ["自带雨刮"]
    assert ctx["customer_supplied"][0]["amount"] == Decimal("0.00")
    assert ctx["materials_total"] == wo.parts_total
    assert ctx["labour_total"] == wo.labour_total + wo.other_total
    assert sum(r["amount"] for r in ctx["materials"] + ctx["labour"]) == wo.total


def test_printed_money_is_read_from_the_work_order_not_recomputed(world):
    """Whatever the work order keeps is what the paper says (one source for every figure)."""
    wo = _order(world, settled_at=SETTLED_AT)
    _lines(wo)
    user = world.advisor_a1
    kept = {
        "labour_total": Decimal("111.11"),
        "parts_total": Decimal("222.22"),
        "other_total": Decimal("33.33"),
        "discount_total": Decimal("4.44"),
        "total": Decimal("366.66"),
        "tax": Decimal("5.55"),
    }
    type(wo).objects.filter(pk=wo.pk).update(**kept)
    ctx = documents.settlement_context(user, get_work_order(user, wo.pk, for_page=True))
    assert ctx["total"] == kept["total"]
    assert ctx["total_upper"] == "叁佰陆拾陆元陆角陆分"
    assert ctx["discount"] == kept["discount_total"]
    assert ctx["gross_total"] == Decimal("371.10")
    assert ctx["vat"] == kept["tax"]
    assert ctx["materials_total"] == kept["parts_total"]
    assert ctx["labour_total"] == Decimal("144.44")  # labour and other fees, as on the form
    assert ctx["balance"] == kept["total"]
    auth = documents.authorisation_context(user, get_work_order(user, wo.pk, for_page=True))
    assert auth["approved_total"] == kept["total"]
    assert auth["estimate_total"] == kept["total"] + Decimal("400.00")  # the proposed pads
