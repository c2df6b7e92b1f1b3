"""Factories for the shop floor: catalog items, work orders with lines, appointments. Rows are
made directly (not through services) so tests of one service do not depend on another."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from django.utils import timezone

from autocrm.catalog.models import LabourItem, PackageItem, Part, ServicePackage
from autocrm.core.models import Store
from autocrm.customers.models import Customer, Vehicle
from autocrm.service.models import (
    Appointment,
    InspectionTemplate,
    InspectionTemplateItem,
    WorkOrder,
    WorkOrderLine,
)
from tests import customer_factories as cf

_seq = itertools.count(1)


def labour(org, name: str = "更换机油机滤", price: str = "80.00", **kw) -> LabourItem:
    n = next(_seq)
    return LabourItem.objects.create(
        org=org, code=kw.pop("code", f"L{n:04d}"), name=name, price=Decimal(price), **kw
    )


def part(org, name: str = "机油 5W-30 4L", price: str = "268.00", **kw) -> Part:
    n = next(_seq)
    kw.setdefault("brand", "美孚")
    kw.setdefault("spec", "5W-30 SP")
    kw.setdefault("unit", "桶")
    kw.setdefault("cost", Decimal(price) * Decimal("0.6"))
    return Part.objects.create(
        org=org, code=kw.pop("code", f"P{n:04d}"), name=name, price=Decimal(price), **kw
    )


def package(org, name: str = "小保养", **kw) -> ServicePackage:
    n = next(_seq)
    pkg = ServicePackage.objects.create(org=org, code=kw.pop("code", f"K{n:03d}"), name=name, **kw)
    PackageItem.objects.create(package=pkg, labour=labour(org), quantity=1, sort=1)
    PackageItem.objects.create(package=pkg, part=part(org), quantity=1, sort=2)
    return pkg


def work_order(
    store: Store,
    customer: Customer | None = None,
    vehicle: Vehicle | None = None,
    status: str = WorkOrder.Status.DRAFT,
    **kw,
) -> WorkOrder:
    n = next(_seq)
    customer = customer or cf.customer(store)
    vehicle = vehicle or cf.vehicle(customer)
    return WorkOrder.objects.create(
        org_id=store.org_id,
        store=store,
        number=kw.pop("number", f"{store.code.upper()}-TEST-{n:05d}"),
        customer=customer,
        vehicle=vehicle,
        status=status,
        **kw,
    )


def line(wo: WorkOrder, name: str = "更换刹车片", price: str = "300.00", **kw) -> WorkOrderLine:
    kw.setdefault("kind", WorkOrderLine.Kind.LABOUR)
    quantity = Decimal(str(kw.pop("quantity", 1)))
    unit_price = Decimal(price)
    line_ = WorkOrderLine.objects.create(
        work_order=wo,
        name=name,
        quantity=quantity,
        unit_price=unit_price,
        amount=(quantity * unit_price).quantize(Decimal("0.01")),
        **kw,
    )
    return line_


def appointment(store: Store, when: datetime.datetime | None = None, **kw) -> Appointment:
    when = when or (timezone.now() + datetime.timedelta(days=1)).replace(
        hour=2, minute=0, second=0, microsecond=0
    )
    kw.setdefault("name", "赵六")
    kw.setdefault("mobile", f"136{next(_seq):08d}")
    return Appointment.objects.create(org_id=store.org_id, store=store, starts_at=when, **kw)


def inspection_template(org, items=("轮胎", "刹车片", "机油", "灯光")) -> InspectionTemplate:
    t = InspectionTemplate.objects.create(org=org, name=f"接车检查{next(_seq)}")
    for i, name in enumerate(items):
        InspectionTemplateItem.objects.create(template=t, section="常规", name=name, sort=i)
    return t
