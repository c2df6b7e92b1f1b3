"""A customer's and a car's latest work orders are found through their own indexes even on
a database that has never been analysed (SQLite keeps no statistics until ANALYZE;
PostgreSQL's autovacuum may not have come round yet): with equal-looking candidates SQLite
once walked the whole org's orders in time order."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from autocrm.service import selectors
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _plan_of_order_query(queries, column: str) -> str:
    """The query plan of the captured work-order query filtered on ``column``."""
    wanted = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT")
        and 'FROM "service_workorder"' in q["sql"]
        and f'"service_workorder"."{column}" = ' in q["sql"]
        and "ORDER BY" in q["sql"]
    ]
    assert wanted, f"no work-order query on {column} was run"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            assert cursor.fetchone()[0] == 0, "the test database must have no statistics"
            cursor.execute(f"EXPLAIN QUERY PLAN {wanted[0]}")
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        # PostgreSQL: a few rows are read fastest by a sequential scan; with that ruled out,
        # the index it would use on a large table.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {wanted[0]}")
        return " | ".join(str(row[0]) for row in cursor.fetchall())


@pytest.mark.parametrize("who", ["hq", "manager_a1"])
def test_the_360_page_reads_the_customer_s_orders_by_the_customer_index(world, who):
    owner = cf.customer(world.a1, name="张三")
    car = cf.vehicle(owner)
    sf.work_order(world.a1, customer=owner, vehicle=car)
    user = getattr(world, who)
    with CaptureQueriesContext(connection) as captured:
        section = selectors.profile_section(user, owner, [car])
    assert len(section["work_orders"]) == 1
    plan = _plan_of_order_query(captured.captured_queries, "customer_id")
    assert "wo_customer" in plan and "wo_org_opened" not in plan, plan
    if connection.vendor == "sqlite":  # newest first as read (the index ends in the rowid)
        assert "TEMP B-TREE" not in plan, plan
    # (PostgreSQL sorts the customer's few rows by id after reading them from the index.)


def test_the_car_s_service_history_reads_by_the_vehicle_index(world):
    owner = cf.customer(world.a1, name="李四")
    car = cf.vehicle(owner)
    wo = sf.work_order(world.a1, customer=owner, vehicle=car)
    client = client_for(world.advisor_a1)
    with CaptureQueriesContext(connection) as captured:
        page = client.get(f"/vehicles/{car.pk}/history/")
    assert page.status_code == 200 and wo.number in page.content.decode()
    plan = _plan_of_order_query(captured.captured_queries, "vehicle_id")
    assert "wo_vehicle" in plan and "wo_org_opened" not in plan, plan
