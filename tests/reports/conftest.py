"""A hand-computable January 2026 for the KPI tests (figures in the docstring of ``january``)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone

from autocrm.feedback.models import Survey
from autocrm.service.models import Appointment, TimeEntry, WorkOrder, WorkOrderLine
from tests import customer_factories as cf
from tests import service_factories as sf

JAN_1 = datetime.date(2026, 1, 1)
JAN_31 = datetime.date(2026, 1, 31)


def at(day: datetime.date, hour: int = 12, minute: int = 0) -> datetime.datetime:
    tz = timezone.get_current_timezone()
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)), tz)


def visit(store, customer, day, total, *, labour="0", parts="0", status="settled", **kw):
    """A finished work order: ``total`` includes 13% VAT as the tax column says."""
    total = Decimal(total)
    tax = (total - total / Decimal("1.13")).quantize(Decimal("0.01"))
    return sf.work_order(
        store,
        customer,
        kw.pop("vehicle", None) or customer.vehicles.first() or cf.vehicle(customer),
        status=status,
        opened_at=at(day, 9),
        settled_at=at(day),
        total=total,
        tax=tax,
        labour_total=Decimal(labour),
        parts_total=Decimal(parts),
        **kw,
    )


@dataclass
class January:
    c1v1: WorkOrder
    c1v2: WorkOrder
    c2v: WorkOrder
    c3v: WorkOrder
    a2v: WorkOrder
    b1v: WorkOrder


@pytest.fixture
def january(world) -> January:
    """Store A1 in January 2026 (sales are totals less 13% VAT):

    customer  visits (total incl. VAT → excl.)      labour  parts
    c1        Jan 5  1130 → 1000, Jan 25 565 → 500  530+565 600+0
    c2        Jan 10  226 → 200                      0      226
    c3        2024-01-21 (old) 1000, Jan 20 339 → 300 339    0
    c6        2024-06-01 only (churned)

    car count 4; sales 2000; ARO 500; return rate 1/3; days between visits 20;
    parts cost 2×200 + 1×100 = 500 → gross profit 1500, margin 75%; labour 1434 of 2260;
    comebacks 1 (c1's second visit); presented lines 2560 of which approved 2260,
    declined/deferred 300; billed hours 2+1+1 = 4, clocked 3+1+1 = 5 on 3 technician-days;
    surveys NPS 10, 9, 7, 3 (timeliness 5, 4, 3, 2); appointments 3 arrived, 1 no-show,
    1 booked, 1 cancelled. Store A2 has one visit, the other org's store B1 one more."""
    a1 = world.a1
    c1 = cf.customer(a1, name="张一")
    c2 = cf.customer(a1, name="张二")
    c3 = cf.customer(a1, name="张三")
    c6 = cf.customer(a1, name="张六")
    c1v1 = visit(a1, c1, datetime.date(2026, 1, 5), "1130", labour="530", parts="600")
    c1v1.advisor = world.advisor_a1
    c1v1.save()
    c1v2 = visit(
        a1, c1, datetime.date(2026, 1, 25), "565", labour="565", comeback_of=c1v1, status="closed"
    )
    c2v = visit(a1, c2, datetime.date(2026, 1, 10), "226", parts="226")
    jan20 = datetime.date(2026, 1, 20)
    visit(a1, c3, jan20 - datetime.timedelta(days=730), "1000", labour="1000")
    c3v = visit(a1, c3, jan20, "339", labour="339")
    visit(a1, c6, datetime.date(2024, 6, 1), "500", labour="500")
    # Not visits: an open order with a line still proposed, a cancelled order.
    open_wo = sf.work_order(a1, c2, status="in_progress", opened_at=at(datetime.date(2026, 1, 28)))
    sf.line(open_wo, price="999.00")
    sf.work_order(a1, c2, status="cancelled", opened_at=at(datetime.date(2026, 1, 29)))

    approved = WorkOrderLine.Approval.APPROVED
    brake = sf.part(world.org, price="300.00", cost=Decimal("200.00"))
    filt = sf.part(world.org, price="226.00", cost=Decimal("100.00"))
    l1 = sf.line(c1v1, "工时", price="265.00", quantity=2, approval=approved)
    sf.line(c1v1, "刹车片", price="300.00", quantity=2, kind="part", part=brake, approval=approved)
    sf.line(
        c1v1,
        "自带机油",
        price="0.00",
        kind="part",
        part=brake,
        customer_supplied=True,
        approval=approved,
    )
    sf.line(c1v1, "轮胎", price="200.00", kind="part", part=brake, approval="declined")
    l2 = sf.line(c1v2, "返修", price="565.00", approval=approved)
    sf.line(c1v2, "清洗", price="100.00", approval="deferred")
    sf.line(c2v, "滤芯", price="226.00", kind="part", part=filt, approval=approved)
    l3 = sf.line(c3v, "检查", price="339.00", approval=approved)
    for line_, day, hours in ((l1, 5, 3), (l2, 25, 1), (l3, 20, 1)):
        line_.technicians.set([world.tech_a1])
        start = at(datetime.date(2026, 1, day), 9)
        TimeEntry.objects.create(
            work_order=line_.work_order,
            line=line_,
            technician=world.tech_a1,
            started_at=start,
            ended_at=start + datetime.timedelta(hours=hours),
        )
    for wo, score, stars in ((c1v1, 10, 5), (c1v2, 9, 4), (c2v, 7, 3), (c3v, 3, 2)):
        Survey.objects.create(
            org=world.org,
            store=a1,
            work_order=wo,
            customer=wo.customer,
            nps=score,
            timeliness=stars,
            professionalism=5,
            attitude=5,
            result=5,
            submitted_at=wo.settled_at + datetime.timedelta(hours=2),
        )
    S = Appointment.Status
    for i, status in enumerate([S.ARRIVED] * 3 + [S.NO_SHOW, S.BOOKED, S.CANCELLED]):
        sf.appointment(a1, at(datetime.date(2026, 1, 3 + i), 10), status=status)

    a2v = visit(world.a2, cf.customer(world.a2, name="李四"), datetime.date(2026, 1, 15), "113")
    b1v = visit(world.b1, cf.customer(world.b1, name="赵五"), datetime.date(2026, 1, 15), "113")
    return January(c1v1, c1v2, c2v, c3v, a2v, b1v)
