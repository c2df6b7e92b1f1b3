"""Settlement over the API: a fixed number of SQL statements whatever the number of lines,
and the same checks, totals, follow-ups and audit entries as before it was made lean."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from autocrm.core.models import AuditLog
from autocrm.customers.models import Customer, Interaction
from autocrm.messaging.models import OutboxMessage
from autocrm.portal.models import PortalLink
from autocrm.service import services
from autocrm.service.models import Payment, Recommendation, WorkOrder, WorkOrderEvent
from tests import customer_factories as cf
from tests.conftest import api_client_for, send_json

pytestmark = pytest.mark.django_db

# Statements of one settlement answered over the API (inside the test's transaction, so the
# subscribers that run after the commit are not counted): token and user, the savepoint, the
# user's stores, the order read and locked with its owner, store and vehicle, the roles, the
# lines with their technicians (2), the store's settings, two payments (2), the order's
# UPDATE, the status event, the vehicle's next service (5), the owner's UPDATE, the visit on
# the timeline, the survey link and message (2), the eight audit entries in one INSERT, the
# release, then the answer: payments and the custom fields (2). It was 42 before.
SETTLE_STATEMENTS = 25


def ready_order(world, lines: int, *, plate: str) -> WorkOrder:
    """A ready order of a new customer's car, ``lines`` approved items, made by the services."""
    adv, tech = world.advisor_a1, world.tech_a1
    car = cf.vehicle(cf.customer(world.a1, name="结算客户"), plate=plate, km=9000)
    wo = services.create_work_order(adv, vehicle=car, mileage_in=9500)
    made = [
        services.add_line(
            adv,
            wo,
            kind="part" if i % 3 == 1 else "labour",
            name=f"项目{i}",
            unit_price=str(50 + i),
        )
        for i in range(lines)
    ]
    services.record_approval(adv, wo, {ln.pk: "approved" for ln in made}, channel="in_person")
    services.perform(adv, wo, "start")
    for line in made:
        services.assign_line(adv, line, [tech.pk])
        services.mark_line_done(tech, line)
    services.perform(tech, wo, "qc")
    checks = {name: True for name in services.settings_for(world.a1.pk).qc_items}
    services.record_qc(tech, wo, checks=checks)
    wo.refresh_from_db()
    assert wo.status == "ready"
    return wo


def settle_body(wo: WorkOrder) -> dict:
    half = (wo.total / 2).quantize(Decimal("0.01"))
    return {
        "version": wo.version,
        "payments": [
            {"method": "wechat", "amount": str(half)},
            {"method": "cash", "amount": str(wo.total - half)},
        ],
    }


def settle(client, wo: WorkOrder, body: dict | None = None):
    path = f"/api/v1/work-orders/{wo.pk}/actions/settle"
    return send_json(client, "post", path, settle_body(wo) if body is None else body)


def test_a_settlement_costs_a_fixed_number_of_statements(world):
    small = ready_order(world, 3, plate="京A10001")
    large = ready_order(world, 10, plate="京A10002")
    client = api_client_for(world.advisor_a1)
    assert client.get("/api/v1/me").status_code == 200  # the token's first use is noted
    counts = []
    for wo in (small, large):
        with CaptureQueriesContext(connection) as ctx:
            r = settle(client, wo)
        assert r.status_code == 200, r.content
        counts.append(len(ctx.captured_queries))
        body = r.json()
        assert body["status"] == "settled" and body["balance"] == "0.00"
        assert body["plate"] == wo.vehicle.plate
        assert [ln["id"] for ln in body["lines"]] == list(
            wo.lines.order_by("sort", "id").values_list("pk", flat=True)
        )
        assert all(ln["technician_ids"] == [world.tech_a1.pk] for ln in body["lines"])
        assert [p["method"] for p in body["payments"]] == ["wechat", "cash"]
    assert counts[0] == counts[1], counts  # not one more per line
    assert counts[0] <= SETTLE_STATEMENTS, counts


def test_settlement_keeps_every_follow_up_and_audit_entry(world):
    wo = ready_order(world, 3, plate="京A10003")
    WorkOrder.objects.filter(pk=wo.pk).update(total=Decimal("1.00"))  # stale on purpose
    expected = sum(ln.amount for ln in wo.lines.all())
    r = settle(api_client_for(world.advisor_a1), wo, {**settle_body(wo), "payments": []})
    assert r.status_code == 200, r.content
    wo.refresh_from_db()
    # totals recomputed from the lines, saved with the status in one audited UPDATE
    assert wo.status == "settled" and wo.total == expected and wo.balance == expected
    row = AuditLog.objects.filter(
        object_type="service.WorkOrder", object_id=str(wo.pk), action="update"
    ).latest("id")
    assert row.changes["status"] == ["ready", "settled"]
    assert row.changes["total"] == ["1.00", str(expected)]
    assert row.source == "api" and row.user_id == world.advisor_a1.pk
    owner = Customer.objects.get(pk=wo.customer_id)
    assert owner.visit_count == 1 and owner.lifetime_spend == expected
    assert owner.first_visit_at == owner.last_visit_at == wo.settled_at
    owner_row = AuditLog.objects.get(
        object_type="customers.Customer", object_id=str(owner.pk), action="update"
    )
    assert owner_row.changes["visit_count"] == [0, 1]
    assert owner_row.changes["lifetime_spend"] == ["0.00", str(expected)]
    car = wo.vehicle
    car.refresh_from_db()
    assert car.last_service_km == 9500 and car.service_due_km is not None
    assert Interaction.objects.filter(customer=owner, kind="visit", amount=expected).exists()
    assert PortalLink.objects.filter(work_order=wo, purpose="survey").exists()
    assert OutboxMessage.objects.filter(purpose="work_order.survey", to=owner.mobile).exists()
    assert WorkOrderEvent.objects.filter(work_order=wo, text__contains="已结算").exists()


def test_settling_twice_or_stale_or_out_of_scope_is_refused(world):
    wo = ready_order(world, 3, plate="京A10004")
    body = settle_body(wo)
    assert settle(api_client_for(world.manager_a2), wo).status_code == 404  # other store
    assert settle(api_client_for(world.tech_a1), wo).status_code == 403  # may not settle
    too_much = {**body, "payments": [{"method": "cash", "amount": str(wo.total + 1)}]}
    assert settle(api_client_for(world.advisor_a1), wo, too_much).status_code == 422
    client = api_client_for(world.advisor_a1)
    assert settle(client, wo, body).status_code == 200
    r = settle(client, wo, body)  # the same version again: someone settled it meanwhile
    assert r.status_code == 409 and r.json()["code"] == "stale"
    r = settle(client, wo, {**body, "version": None})
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition"
    r = send_json(client, "post", "/api/v1/work-orders/999999/actions/settle", body)
    assert r.status_code == 404
    assert Payment.objects.filter(work_order=wo).count() == 2  # the refused ones took nothing
    owner = Customer.objects.get(pk=wo.customer_id)
    assert owner.visit_count == 1


def test_settlement_marks_the_recommendations_it_carried_out(world):
    wo = ready_order(world, 2, plate="京A10005")
    reco = Recommendation.objects.create(
        org_id=wo.org_id,
        store_id=wo.store_id,
        vehicle=wo.vehicle,
        customer=wo.customer,
        name="更换雨刮",
        amount=Decimal("80.00"),
    )
    wo.lines.filter(pk=wo.lines.first().pk).update(recommendation=reco)
    r = settle(api_client_for(world.advisor_a1), wo)
    assert r.status_code == 200, r.content
    reco.refresh_from_db()
    assert reco.status == "done" and reco.resolved_work_order_id == wo.pk
