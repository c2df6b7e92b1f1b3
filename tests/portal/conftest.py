"""Work orders and links for the owner's pages."""

from __future__ import annotations

import base64
import re
import struct
import zlib

import pytest
from django.test import Client

from autocrm.service.models import WorkOrder
from tests import customer_factories as cf
from tests import service_factories as sf


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int = 120, height: int = 60) -> bytes:
    """A blank grey PNG, as a canvas' toDataURL would make."""
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def png_data_url(width: int = 120, height: int = 60) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(width, height)).decode()


def csrf_from(response) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
    assert match, "the page has no CSRF token"
    return match.group(1).decode()


def owner_client() -> Client:
    """A phone with no session, checking CSRF like a real browser."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def estimate_wo(world) -> WorkOrder:
    world.a1.phone = "010-66668888"
    world.a1.save()
    owner = cf.customer(world.a1, name="李雷", mobile="13800138000")
    car = cf.vehicle(owner, plate="京A12345", brand="大众", model="朗逸")
    wo = sf.work_order(world.a1, owner, car, status=WorkOrder.Status.ESTIMATE)
    sf.line(wo, "更换前刹车片", "300.00", sort=1)
    sf.line(wo, "四轮定位", "200.00", sort=2)
    return wo
