"""Factories for customers and vehicles: real rows with valid plates and VINs."""

from __future__ import annotations

import itertools
import random
import string

from autocrm.core.models import Organization, Store
from autocrm.customers.models import Customer, Interaction, Ownership, SourceChannel, Tag, Vehicle
from autocrm.customers.services import _rebuild_plate_keys, search_fields, vehicle_search_fields
from autocrm.customers.validators import (
    ENERGY_LETTERS,
    PLATE_CHARS,
    PLATE_LETTERS,
    PROVINCES,
    VIN_CHARS,
    normalize_vin,
    vin_check_digit,
)

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
    vehicle_search_fields(v)
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


# --- plates and VINs ----------------------------------------------------------------------

#: Model-year codes (position 10) for plausible test VINs: no 0, U, Z besides I, O, Q.
_VIN_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def random_plate(rng: random.Random, province: str = "京", new_energy: bool = False) -> str:
    """A plate that passes validate_plate, for test data (never a real registration on purpose)."""
    if province not in PROVINCES or len(province) != 1:
        raise ValueError(f"Unknown province abbreviation: {province!r}")
    office = rng.choice(PLATE_LETTERS)
    if not new_energy:
        # Mostly digits, like real serials; a letter now and then in any position.
        serial = "".join(
            rng.choice(PLATE_LETTERS) if rng.random() < 0.15 else rng.choice(string.digits)
            for _ in range(5)
        )
        return f"{province}{office}{serial}"
    digits = "".join(rng.choice(string.digits) for _ in range(4))
    if rng.random() < 0.9:  # small cars are the bulk of a repair shop's new-energy customers
        return f"{province}{office}{rng.choice(ENERGY_LETTERS)}{rng.choice(PLATE_CHARS)}{digits}"
    return f"{province}{office}{rng.choice(string.digits)}{digits}{rng.choice(ENERGY_LETTERS)}"


def random_valid_vin(rng: random.Random, wmi: str = "LSV") -> str:
    """A VIN with a correct check digit, for test data."""
    wmi = normalize_vin(wmi)
    if len(wmi) != 3 or not all(ch in VIN_CHARS for ch in wmi):
        raise ValueError(f"Not a WMI: {wmi!r}")
    vds = "".join(rng.choice(VIN_CHARS) for _ in range(5))
    year = rng.choice(_VIN_YEAR_CODES)
    plant = rng.choice(VIN_CHARS)
    serial = "".join(rng.choice(string.digits) for _ in range(6))
    draft = f"{wmi}{vds}0{year}{plant}{serial}"
    return f"{draft[:8]}{vin_check_digit(draft)}{draft[9:]}"


def bad_check_digit_vin(vin: str | None = None) -> str:
    """A well-formed VIN whose 9th character is not its check digit (from ``vin``, else a
    random valid one)."""
    vin = vin or random_valid_vin(_rng)
    wrong = "1" if vin_check_digit(vin) != "1" else "2"
    return vin[:8] + wrong + vin[9:]
