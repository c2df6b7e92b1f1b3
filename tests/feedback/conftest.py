"""Settled visits to rate."""

from __future__ import annotations

import pytest

from autocrm.service.models import WorkOrder
from tests import customer_factories as cf
from tests import service_factories as sf


@pytest.fixture
def settled(world):
    def make(store=None, name: str = "韩梅梅") -> WorkOrder:
        store = store or world.a1
        owner = cf.customer(store, name=name)
        return sf.work_order(store, owner, status=WorkOrder.Status.SETTLED)

    return make


GOOD = {"nps": 9, "timeliness": 5, "professionalism": 5, "attitude": 4, "result": 5}
