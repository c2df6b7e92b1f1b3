"""Process API: reading a process, replacing its stages and transitions (HQ), moving a work
order (409 with the reason) and listing and deciding approvals."""

from __future__ import annotations

import pytest

from autocrm.core.models import CustomField
from autocrm.workflow import processes
from autocrm.workflow.models import ApprovalRequest, Process, ProcessStage, Transition
from tests import factories as f
from tests.conftest import api_client_for, send_json
from tests.core.test_api import assert_error
from tests.workflow.helpers import column, manager_approves, order_at, process_of, pstage

pytestmark = pytest.mark.django_db
URL = "/api/v1/processes/work_order"


def stages_body(process) -> list[dict]:
    return [
        {"key": s.key, "name": s.name, "limit_minutes": s.limit_minutes}
        for s in process.stages.order_by("sort")
    ]


def test_read_the_process(world):
    CustomField.objects.create(
        org=world.org, target="work_order", key="fuel", label_zh="油量", type="integer"
    )
    body = api_client_for(world.hq).get(URL).json()
    assert body["entity"] == "work_order" and body["version"] == 1
    assert [s["key"] for s in body["stages"]][:2] == ["reception", "inspection"]
    names = {field["name"]: field for field in body["fields"]}
    assert names["promised_at"]["label"] == "承诺交车时间"
    assert names["custom.fuel"]["kind"] == "integer"
    catalog = {field["field"]: field for field in body["condition_fields"]}
    assert catalog["work_order.custom.fuel"]["type"] == "int"
    assert "gt" in [op["op"] for op in catalog["work_order.total"]["ops"]]
    assert "customer.level" in catalog
    assert api_client_for(world.tech_a1).get(URL).json()["version"] == 1  # board users read it
    assert_error(api_client_for(f.staff(world.org, "marketing", stores=[world.a1])).get(URL), 403)
    other = api_client_for(world.other_admin).get(URL).json()
    assert other["version"] == 1 and Process.objects.count() == 2  # its own org's
    assert_error(api_client_for(world.hq).get("/api/v1/processes/spaceship"), 404)


def test_put_stages(world):
    process = process_of(world.hq)
    client = api_client_for(world.hq)
    items = stages_body(process)
    items[3].update(limit_minutes=120, escalate_role="store_manager", owner_role="technician")
    items[3]["required_fields"] = ["mileage_in"]
    items.pop(4)  # parts: empty, simply deleted
    items.append({"name": "洗车", "limit_minutes": 30})
    response = send_json(client, "put", f"{URL}/stages", {"version": 1, "stages": items})
    assert response.status_code == 200, response.content
    body = response.json()
    repair = next(s for s in body["stages"] if s["key"] == "repair")
    assert (repair["limit_minutes"], repair["escalate_role"], repair["required_fields"]) == (
        120,
        "store_manager",
        ["mileage_in"],
    )
    assert "parts" not in [s["key"] for s in body["stages"]]
    assert body["stages"][-1]["name"] == "洗车" and body["version"] > 1
    stale = send_json(client, "put", f"{URL}/stages", {"version": 1, "stages": items})
    assert_error(stale, 409, "stale")
    for bad in (
        {"stages": []},
        {"stages": [{"name": "同名"}, {"name": "同名"}]},
        {"stages": [{"name": "甲", "owner_role": "boss"}]},
        {"stages": [{"name": "甲", "limit_minutes": -5}]},
    ):
        assert_error(send_json(client, "put", f"{URL}/stages", bad), 422)
    assert_error(
        send_json(api_client_for(world.manager_a1), "put", f"{URL}/stages", {"stages": items}), 403
    )


def test_put_stages_with_orders_in_a_removed_stage(world):
    process = process_of(world.hq)
    parts = pstage(process, "parts")
    wo = order_at(world.a1, column(world.a1, parts))
    items = [s for s in stages_body(process) if s["key"] != "parts"]
    client = api_client_for(world.hq)
    body = assert_error(
        send_json(client, "put", f"{URL}/stages", {"stages": items}), 409, "stage_in_use"
    )
    assert "待配件" in body["message"]
    response = send_json(
        client, "put", f"{URL}/stages", {"stages": items, "moves": {"parts": "repair"}}
    )
    assert response.status_code == 200, response.content
    wo.refresh_from_db()
    assert wo.stage.process_stage.key == "repair"
    assert not ProcessStage.objects.filter(pk=parts.pk).exists()


def test_put_transitions(world):
    process_of(world.hq)
    client = api_client_for(world.hq)
    transitions = [
        {"source": "repair", "target": "qc", "allowed_roles": ["technician"]},
        {
            "source": "estimate",
            "target": "repair",
            "condition": {"field": "total", "op": "gt", "value": 2000},
            "approval": "tiered",
            "amount_field": "discount_total",
            "tiers": [
                {"over": 500, "role": "store_manager"},
                {"over": 2000, "role": "region_manager"},
            ],
        },
    ]
    response = send_json(client, "put", f"{URL}/transitions", {"transitions": transitions})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(t["source"], t["target"]) for t in body["transitions"]] == [
        ("estimate", "repair"),
        ("repair", "qc"),
    ]
    assert body["transitions"][0]["tiers"][1] == {"over": "2000.00", "role": "region_manager"}
    assert body["transitions"][0]["condition"] == {
        "field": "work_order.total",
        "op": "gt",
        "value": "2000.00",
    }
    response = send_json(client, "put", f"{URL}/transitions", {"transitions": transitions[:1]})
    assert len(response.json()["transitions"]) == 1 and Transition.objects.count() == 1
    bad = send_json(
        client,
        "put",
        f"{URL}/transitions",
        {
            "transitions": [
                {"source": "repair", "target": "qc", "condition": {"field": "x", "op": "eq"}}
            ]
        },
    )
    assert "transitions.0.condition" in assert_error(bad, 422)["fields"]
    assert_error(send_json(client, "put", f"{URL}/transitions", {"transitions": "all"}), 422)
    assert_error(
        send_json(
            api_client_for(world.manager_a1), "put", f"{URL}/transitions", {"transitions": []}
        ),
        403,
    )


def test_move_answers_409_with_the_reason(world):
    process = process_of(world.hq)
    processes.update_stage(world.hq, pstage(process, "reception"), required_fields=["mileage_in"])
    wo = order_at(world.a1, column(world.a1, pstage(process, "reception")))
    target = column(world.a1, pstage(process, "inspection"))
    client = api_client_for(world.advisor_a1)
    response = send_json(client, "post", f"/api/v1/work-orders/{wo.pk}/move", {"stage": target.pk})
    body = assert_error(response, 409, "missing_fields")
    assert body["message"] == "离开「待接车」前请先填写：进厂里程（公里）。"
    assert set(body["fields"]) == {"mileage_in"}


def test_approvals_list_and_decide(world):
    manager_approves(world.hq)
    process = process_of(world.hq)
    wo = order_at(world.a1, column(world.a1, pstage(process, "estimate")))
    target = column(world.a1, pstage(process, "repair"))
    response = send_json(
        api_client_for(world.advisor_a1),
        "post",
        f"/api/v1/work-orders/{wo.pk}/move",
        {"stage": target.pk},
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "approval_pending" and "店长" in body["message"]
    req = ApprovalRequest.objects.get(pk=body["approval_id"])
    manager = api_client_for(world.manager_a1)
    listed = manager.get("/api/v1/approvals?to_decide=true").json()
    assert [(a["id"], a["can_decide"], a["status"]) for a in listed] == [(req.pk, True, "pending")]
    assert api_client_for(world.advisor_a1).get("/api/v1/approvals?to_decide=true").json() == []
    assert api_client_for(world.manager_a2).get("/api/v1/approvals").json() == []
    assert_error(api_client_for(world.manager_a1).get("/api/v1/approvals?status=maybe"), 422)
    decide = f"/api/v1/approvals/{req.pk}/decide"
    assert_error(
        send_json(api_client_for(world.manager_a2), "post", decide, {"approve": True}), 404
    )
    assert_error(
        send_json(api_client_for(world.other_admin), "post", decide, {"approve": True}), 404
    )
    assert_error(
        send_json(api_client_for(world.advisor_a1), "post", decide, {"approve": True}), 403
    )
    assert_error(send_json(manager, "post", decide, {}), 422)
    assert_error(send_json(manager, "post", decide, {"approve": False}), 422)
    done = send_json(manager, "post", decide, {"approve": True, "note": "好"}).json()
    assert done["status"] == "used"
    assert done["decisions"][0]["approver"] == world.manager_a1.pk
    assert done["decisions"][0]["note"] == "好"
    got = manager.get(f"/api/v1/approvals/{req.pk}").json()
    assert got["can_decide"] is False and got["target_stage"] == target.pk
    card = api_client_for(world.manager_a1).get("/api/v1/board").json()
    repair = next(c for c in card["columns"] if c["stage"]["id"] == target.pk)
    assert repair["cards"][0]["id"] == wo.pk and repair["stage"]["process_stage_id"] is not None
