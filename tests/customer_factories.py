"""Factories for customers and vehicles: real rows with valid plates and VINs."""

from __future__ import annotations

import itertools
import random

from autocrm.core.models import Organization, Store
from autocrm.customers.models import Customer, Interaction, Ownership, SourceChannel, Tag, Vehicle
from autocrm.customers.services import _rebuild_plate_keys, search_fields
from autocrm.customers.validators import random_plate, random_valid_vin

_seq = itertools.count(1)
_rng = random.Random(7)  # noqa: S311 - test data


def source(org: Organization, name: str | None = None) -> SourceChannel:
    return SourceChannel.objects.create(org=org, name=name or f"渠道{next(_seq)}")


def tag(org: Organization, name: str | None = None) -> Tag:
    return Tag.objects.create(org=org, name=name or f"标签{next(_seq)}")


def customer(store: Store, name: str = "王五", mobile: str | None = None, **kw) -> Customer:
    n = next(_seq)
    c = Customer(
        org_id=store.org_id,
        home_store=store,
        name=name,
        mobile=mobile if mobile is not None else f"137{n:08d}",
        **kw,
    )
    search_fields(c)
    c.save()
    return c


def vehicle(owner: Customer, plate: str | None = None, km: int | None = None, **kw) -> Vehicle:
    v = Vehicle.objects.create(
        org_id=owner.org_id,
        home_store=owner.home_store,
        owner=owner,
        plate=plate or random_plate(_rng, "京"),
        vin=kw.pop("vin", random_valid_vin(_rng)),
        **kw,
    )
    v.vin_tail = v.vin[-6:]
    v.save()
    _rebuild_plate_keys(v)
    Ownership.objects.create(vehicle=v, customer=owner)
    if km is not None:
        v.mileage.create(km=km, read_on="2026-01-01", source="manual")
    return v


def interaction(c: Customer, summary: str = "打电话确认保养", **kw) -> Interaction:
    return Interaction.objects.create(
        org_id=c.org_id,
        store=c.home_store,
        customer=c,
        kind=kw.pop("kind", "note"),
        summary=summary,
        **kw,
    )
