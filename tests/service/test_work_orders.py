"""Work order services: the whole visit, and every refusal on the way."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.customers.models import Customer, Interaction
from autocrm.messaging.models import OutboxMessage
from autocrm.service import services
from autocrm.service.models import Payment, Recommendation, WorkOrder
from autocrm.service.models import WorkOrderLine as Line
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.floor import finish

pytestmark = pytest.mark.django_db


@pytest.fixture
def car(world):
    owner = cf.customer(world.a1, name="张三", level="金卡")
    return cf.vehicle(owner, km=10000)


def open_order(world, car, **kw):
    return services.create_work_order(world.advisor_a1, vehicle=car, mileage_in=12000, **kw)


def test_create_numbers_per_store_and_day_and_records_mileage(world, car):
    wo = open_order(world, car, complaint="刹车有异响")
    assert wo.number.startswith("BJ-CY-") and wo.number.endswith("-001")
    assert wo.customer == car.owner and wo.advisor == world.advisor_a1
    car.refresh_from_db()
    assert car.current_mileage == 12000
    assert car.mileage.filter(source="visit", km=12000).exists()
    other = cf.vehicle(cf.customer(world.a1))
    wo2 = services.create_work_order(world.advisor_a1, vehicle=other)
    assert wo2.number.endswith("-002")


def test_create_refusals(world, car):
    with pytest.raises(Forbidden):
        services.create_work_order(world.tech_a1, vehicle=car)
    with pytest.raises(NotFound):
        services.create_work_order(world.other_admin, vehicle=car)
    with pytest.raises(Invalid) as exc:
        services.create_work_order(world.advisor_a1, vehicle=car, mileage_in=5000)
    assert "mileage_in" in exc.value.fields
    assert not WorkOrder.objects.exists()  # nothing half-made
    with pytest.raises(Invalid):
        services.create_work_order(world.advisor_a1, vehicle=car, store_id=world.a2.pk)
    open_order(world, car)
    with pytest.raises(Conflict):  # one open order per car
        open_order(world, car)


def test_lines_prices_and_totals(world, car):
    wo = open_order(world, car)
    labour = sf.labour(world.org, price="100.00")
    part = sf.part(world.org, price="50.00")
    services.add_line(world.advisor_a1, wo, kind="labour", labour_id=labour.pk, quantity="1.5")
    services.add_line(world.advisor_a1, wo, kind="part", part_id=part.pk, quantity=2)
    services.add_line(
        world.advisor_a1, wo, kind="sublet", name="外协喷漆", unit_price="300", discount_pct=10
    )
    lines = list(wo.lines.order_by("sort"))
    assert [ln.amount for ln in lines] == [Decimal("150.00"), Decimal("100.00"), Decimal("270.00")]
    assert lines[1].category == "material" and lines[1].brand == "美孚"
    wo.refresh_from_db()
    assert wo.total == 0  # nothing approved yet
    services.record_approval(
        world.advisor_a1, wo, {ln.pk: "approved" for ln in lines}, channel="in_person"
    )
    wo.refresh_from_db()
    assert (wo.labour_total, wo.parts_total, wo.other_total) == (
        Decimal("150.00"),
        Decimal("100.00"),
        Decimal("270.00"),
    )
    assert wo.total == Decimal("520.00")
    assert wo.discount_total == Decimal("30.00")
    assert wo.tax == Decimal("59.82")  # 520 - 520/1.13


@pytest.mark.parametrize(
    "data,field",
    [
        ({"quantity": -1}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"unit_price": "-5"}, "unit_price"),
        ({"unit_price": "1.234"}, "unit_price"),
        ({"unit_price": "NaN"}, "unit_price"),
        ({"discount_pct": 150}, "discount_pct"),
        ({"name": "   "}, "name"),
    ],
)
def test_bad_line_input_is_refused(world, car, data, field):
    wo = open_order(world, car)
    values = {"kind": "labour", "name": "检查", "unit_price": "10", **data}
    with pytest.raises(Invalid) as exc:
        services.add_line(world.advisor_a1, wo, **values)
    assert field in exc.value.fields
    assert not wo.lines.exists()


def test_discount_above_limit_needs_a_manager(world, car):
    wo = open_order(world, car)
    with pytest.raises(Forbidden) as exc:
        services.add_line(
            world.advisor_a1, wo, kind="labour", name="检查", unit_price=100, discount_pct=20
        )
    assert exc.value.code == "discount_needs_manager"
    line = services.add_line(
        world.manager_a1, wo, kind="labour", name="检查", unit_price=100, discount_pct=20
    )
    assert line.discount_approved_by == world.manager_a1
    assert line.amount == Decimal("80.00")


def test_member_price_from_store_price_list(world, car):
    from autocrm.catalog.models import StorePrice

    labour = sf.labour(world.org, price="100.00")
    StorePrice.objects.create(
        store=world.a1, labour=labour, price=Decimal("90"), member_prices={"金卡": "80.00"}
    )
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", labour_id=labour.pk)
    assert line.unit_price == Decimal("80.00")


def test_stale_save_is_refused_with_who_and_when(world, car):
    wo = open_order(world, car)
    loaded = wo.version
    services.update_work_order(world.manager_a1, wo, version=loaded, complaint="怠速抖动")
    with pytest.raises(Conflict) as exc:
        services.update_work_order(world.advisor_a1, wo, version=loaded, complaint="别的")
    assert world.manager_a1.display_name in str(exc.value.message)
    wo.refresh_from_db()
    assert wo.complaint == "怠速抖动"


def test_repricing_an_approved_line_sends_it_back(world, car):
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="换刹车片", unit_price=300)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="phone")
    services.update_line(world.advisor_a1, line, unit_price="350")
    line.refresh_from_db()
    assert line.approval == "proposed" and line.approved_at is None


def test_approving_twice_is_refused_not_doubled(world, car):
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="换刹车片", unit_price=300)
    services.decide_lines(wo, {line.pk: "approved"}, channel="link", by_name="张三")
    with pytest.raises(Conflict) as exc:
        services.decide_lines(wo, {line.pk: "declined"}, channel="link", by_name="张三")
    assert exc.value.code == "already_decided"
    line.refresh_from_db()
    assert line.approval == "approved"
    assert not Recommendation.objects.exists()


def test_declined_line_becomes_a_recommendation_and_resurfaces(world, car):
    wo = open_order(world, car)
    keep = services.add_line(world.advisor_a1, wo, kind="labour", name="更换机油", unit_price=200)
    drop = services.add_line(
        world.advisor_a1, wo, kind="labour", name="更换刹车片", unit_price=400, urgency="now"
    )
    services.decide_lines(
        wo,
        {keep.pk: "approved", drop.pk: "declined"},
        channel="link",
        by_name="张三",
        reasons={str(drop.pk): "下次再换"},
    )
    reco = Recommendation.objects.get()
    assert (reco.name, reco.amount, reco.urgency, reco.reason) == (
        "更换刹车片",
        Decimal("400.00"),
        "now",
        "下次再换",
    )
    finish(world, wo)
    nxt = open_order_later(world, car)
    line = services.add_recommendation(world.advisor_a1, nxt, reco)
    assert line.name == "更换刹车片" and line.recommendation == reco
    services.record_approval(world.advisor_a1, nxt, {line.pk: "approved"}, channel="in_person")
    finish(world, nxt)
    reco.refresh_from_db()
    assert reco.status == "done" and reco.resolved_work_order == nxt


def open_order_later(world, car):
    return services.create_work_order(world.advisor_a1, vehicle=car, mileage_in=13000)


def test_whole_visit_settles_and_enriches_the_archive(world, car):
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="二级维护", unit_price=600)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="in_person")
    wo.refresh_from_db()
    wo = finish(
        world,
        wo,
        payments=[{"method": "wechat", "amount": "400"}, {"method": "cash", "amount": "200"}],
    )
    assert wo.status == "settled" and wo.paid == Decimal("600.00") and wo.balance == 0
    assert (wo.warranty_days, wo.warranty_km) == (10, 2000)  # a minor repair's minimum
    car.refresh_from_db()
    assert car.last_service_km == 12000 and car.last_service_on is not None
    owner = Customer.objects.get(pk=car.owner_id)
    assert owner.visit_count == 1 and owner.lifetime_spend == Decimal("600.00")
    assert Interaction.objects.filter(customer=owner, kind="visit").exists()
    assert OutboxMessage.objects.filter(purpose="work_order.survey", to=owner.mobile).exists()
    services.perform(world.advisor_a1, wo, "close")
    wo.refresh_from_db()
    assert wo.status == "closed"


def test_warranty_never_below_national_minimum(world, car):
    conf = services.settings_for(world.a1.pk)
    conf.warranty = {"second": [5, 100], "vehicle": [200, 30000]}
    conf.save()
    assert services.warranty_for(services.settings_for(world.a1.pk), "second") == (30, 5000)
    assert services.warranty_for(services.settings_for(world.a1.pk), "vehicle") == (200, 30000)
    assert services.warranty_for(services.settings_for(world.a1.pk), "minor") == (10, 2000)


def test_illegal_transitions_are_refused(world, car):
    wo = open_order(world, car)
    for action in ("qc", "ready", "settle", "close", "reopen"):
        with pytest.raises(Conflict) as exc:
            services.perform(world.advisor_a1, wo, action)
        assert exc.value.code == "illegal_transition"
    with pytest.raises(Invalid):  # estimate needs lines
        services.perform(world.advisor_a1, wo, "estimate")
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="检查", unit_price=50)
    services.perform(world.advisor_a1, wo, "estimate")
    with pytest.raises(Conflict) as exc:  # nothing approved
        services.perform(world.advisor_a1, wo, "start")
    assert exc.value.code == "unapproved"
    with pytest.raises(NotFound):
        services.perform(world.advisor_a1, wo, "fly")
    with pytest.raises(Invalid):  # a reason is needed
        services.perform(world.advisor_a1, wo, "cancel")
    services.perform(world.advisor_a1, wo, "cancel", reason="客户改期")
    wo.refresh_from_db()
    assert wo.status == "cancelled"
    with pytest.raises(Conflict):
        services.add_line(world.advisor_a1, wo, kind="labour", name="x", unit_price=1)
    assert list(wo.lines.all()) == [line]


def test_settling_with_unapproved_lines_is_refused(world, car):
    wo = open_order(world, car)
    a = services.add_line(world.advisor_a1, wo, kind="labour", name="检查", unit_price=50)
    services.add_line(world.advisor_a1, wo, kind="labour", name="换灯泡", unit_price=30)
    services.record_approval(world.advisor_a1, wo, {a.pk: "approved"}, channel="phone")
    services.perform(world.advisor_a1, wo, "start")
    services.assign_line(world.advisor_a1, a, [world.tech_a1.pk])
    services.clock_on(world.tech_a1, a)
    services.mark_line_done(world.tech_a1, a)
    services.perform(world.tech_a1, wo, "qc")
    items = services.settings_for(world.a1.pk).qc_items
    services.record_qc(world.tech_a1, wo, checks={n: True for n in items})
    wo.refresh_from_db()
    with pytest.raises(Conflict) as exc:
        services.perform(world.advisor_a1, wo, "settle")
    assert exc.value.code == "unapproved"


def test_payments_never_exceed_the_balance_and_refunds_are_new_rows(world, car):
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="检查", unit_price=100)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="phone")
    wo = finish(world, wo, payments=[{"method": "card", "amount": "60"}])
    assert wo.balance == Decimal("40.00")
    with pytest.raises(Invalid):
        services.take_payments(world.advisor_a1, wo, [{"method": "cash", "amount": "40.01"}])
    with pytest.raises(Invalid):  # on account is for company customers
        services.take_payments(world.advisor_a1, wo, [{"method": "account", "amount": "40"}])
    with pytest.raises(Conflict):  # balance due
        services.perform(world.advisor_a1, wo, "close")
    paid = wo.payments.get()
    with pytest.raises(Forbidden):
        services.refund_payment(world.advisor_a1, paid, amount="10", reason="多收")
    refund = services.refund_payment(world.manager_a1, paid, amount="10", reason="多收")
    assert refund.amount == Decimal("-10.00") and refund.reverses == paid
    with pytest.raises(Invalid):
        services.refund_payment(world.manager_a1, paid, amount="60", reason="再退")
    paid.refresh_from_db()
    assert paid.amount == Decimal("60.00")  # never edited
    wo.refresh_from_db()
    assert wo.paid == Decimal("50.00")
    assert Payment.objects.filter(work_order=wo).count() == 2


def test_company_customer_can_settle_on_account(world):
    company = cf.customer(world.a1, name="顺达物流有限公司", kind=Customer.Kind.COMPANY)
    truck = cf.vehicle(company)
    wo = services.create_work_order(world.advisor_a1, vehicle=truck)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="保养", unit_price=500)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="phone")
    wo = finish(world, wo, payments=[{"method": "account", "amount": "500"}])
    assert wo.balance == 0


def test_qc_failure_returns_lines_with_reason(world, car):
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="换刹车片", unit_price=300)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="phone")
    services.perform(world.advisor_a1, wo, "start")
    services.assign_line(world.advisor_a1, line, [world.tech_a1.pk])
    services.mark_line_done(world.tech_a1, line)
    services.perform(world.tech_a1, wo, "qc")
    with pytest.raises(Invalid):
        services.record_qc(world.tech_a1, wo, checks={})
    qc = services.record_qc(world.tech_a1, wo, checks={}, reason="刹车仍有异响")
    assert not qc.passed
    wo.refresh_from_db()
    line.refresh_from_db()
    assert wo.status == "in_progress" and line.progress == "working"
    assert wo.events.filter(kind="qc", text__contains="刹车仍有异响").exists()


def test_time_entries_one_running_per_technician(world, car):
    wo = open_order(world, car)
    a = services.add_line(world.advisor_a1, wo, kind="labour", name="A", unit_price=1)
    b = services.add_line(world.advisor_a1, wo, kind="labour", name="B", unit_price=1)
    services.record_approval(world.advisor_a1, wo, {a.pk: "approved"}, channel="phone")
    with pytest.raises(Conflict):  # not in progress yet
        services.clock_on(world.tech_a1, a)
    services.perform(world.advisor_a1, wo, "start")
    with pytest.raises(Forbidden):  # not assigned
        services.clock_on(world.tech_a1, a)
    services.assign_line(world.advisor_a1, a, [world.tech_a1.pk])
    services.clock_on(world.tech_a1, a)
    with pytest.raises(Conflict):
        services.clock_on(world.tech_a1, a)
    with pytest.raises(Conflict):  # b is not approved
        services.clock_on(world.tech_a1, b)
    entry = services.clock_off(world.tech_a1, a, note="拆检完成")
    assert entry.ended_at is not None
    with pytest.raises(Conflict):
        services.clock_off(world.tech_a1, a)
    with pytest.raises(Invalid):  # a manager of another store is not a technician here
        services.assign_line(world.advisor_a1, a, [world.manager_a2.pk])


def test_other_store_cannot_touch_the_order(world, car):
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="A", unit_price=1)
    for user in (world.manager_a2, world.other_admin):
        with pytest.raises(NotFound):
            services.add_line(user, wo, kind="labour", name="B", unit_price=1)
        with pytest.raises(NotFound):
            services.perform(user, wo, "estimate")
        with pytest.raises(NotFound):
            services.record_approval(user, wo, {line.pk: "approved"}, channel="phone")


def test_comeback_within_warranty_is_recognised(world, car):
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="换刹车片", unit_price=300)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="phone")
    finish(world, wo)
    again = services.create_work_order(world.advisor_a1, vehicle=car, mileage_in=12500)
    assert again.comeback_of == wo


def test_inspection_red_and_yellow_become_lines(world, car):
    wo = open_order(world, car)
    template = sf.inspection_template(world.org)
    insp = services.start_inspection(world.tech_a1, wo, template.pk)
    results = list(insp.results.order_by("sort"))
    with pytest.raises(Invalid):
        services.complete_inspection(world.tech_a1, insp)
    ratings = ["ok", "now", "soon", "na"]
    for result, rating in zip(results, ratings, strict=True):
        services.rate_result(
            world.tech_a1, result, rating=rating, note="磨损" if rating != "ok" else ""
        )
    with pytest.raises(Invalid):
        services.rate_result(world.tech_a1, results[0], rating="purple")
    services.complete_inspection(world.tech_a1, insp)
    lines = services.propose_from_results(world.advisor_a1, insp, [r.pk for r in results])
    assert [ln.urgency for ln in lines] == ["now", "soon"]
    assert all(ln.approval == Line.Approval.PROPOSED for ln in lines)
    with pytest.raises(Invalid):  # already proposed
        services.propose_from_results(world.advisor_a1, insp, [r.pk for r in results])


def test_ready_needs_this_rounds_quality_check(world, car):
    """An earlier round's passed QC does not make the car ready again after a reopen."""
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="换刹车片", unit_price=300)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="phone")
    services.perform(world.advisor_a1, wo, "start")
    services.assign_line(world.advisor_a1, line, [world.tech_a1.pk])
    services.mark_line_done(world.tech_a1, line)
    services.perform(world.tech_a1, wo, "qc")
    items = services.settings_for(world.a1.pk).qc_items
    services.record_qc(world.tech_a1, wo, checks={n: True for n in items})
    services.perform(world.advisor_a1, wo, "reopen")
    services.perform(world.tech_a1, wo, "qc")
    with pytest.raises(Conflict) as exc:
        services.perform(world.tech_a1, wo, "ready")
    assert exc.value.code == "qc_missing"
    wo.refresh_from_db()
    assert wo.status == "qc"
    services.perform(world.tech_a1, wo, "ready", checks={n: True for n in items})
    wo.refresh_from_db()
    assert wo.status == "ready" and wo.qc_checks.count() == 2


def test_package_is_added_under_one_version_step(world, car):
    wo = open_order(world, car)
    before = wo.version
    pkg = sf.package(world.org)
    lines = services.add_package(world.advisor_a1, wo, pkg.pk, version=before)
    wo.refresh_from_db()
    assert len(lines) == 2 and wo.version == before + 1
    assert [ln.sort for ln in lines] == [1, 2]


def test_no_lines_proposed_on_a_closed_order(world, car):
    wo = open_order(world, car)
    template = sf.inspection_template(world.org)
    insp = services.start_inspection(world.tech_a1, wo, template.pk)
    result = insp.results.first()
    services.rate_result(world.tech_a1, result, rating="now")
    services.add_line(world.advisor_a1, wo, kind="labour", name="检查", unit_price=50)
    services.perform(world.advisor_a1, wo, "cancel", reason="客户改期")
    with pytest.raises(Conflict):
        services.propose_from_results(world.advisor_a1, insp, [result.pk])
    assert not wo.lines.filter(name=result.name).exists()


def test_survey_message_carries_the_full_link(world, car, settings):
    settings.AUTOCRM_PUBLIC_URL = "https://crm.example.cn"
    wo = open_order(world, car)
    line = services.add_line(world.advisor_a1, wo, kind="labour", name="保养", unit_price=100)
    services.record_approval(world.advisor_a1, wo, {line.pk: "approved"}, channel="phone")
    finish(world, wo)
    body = OutboxMessage.objects.get(purpose="work_order.survey").body
    assert "https://crm.example.cn/c/s/" in body
