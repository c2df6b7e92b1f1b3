"""PIPL rights (export, erase), merging duplicates and the Excel list export."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook

from autocrm.core.errors import Forbidden, Invalid, NotFound
from autocrm.core.models import AuditLog
from autocrm.customers import privacy
from autocrm.customers.models import Customer, Interaction
from tests import customer_factories as cf
from tests.conftest import api_client_for


@pytest.fixture
def li(world):
    c = cf.customer(world.a1, name="李雷", mobile="13700001111", wechat_id="lilei88", level="金卡")
    v = cf.vehicle(c, plate="京B12345")
    cf.interaction(c, "电话沟通保养", kind="call")
    Interaction.objects.create(
        org=world.org,
        store=world.a1,
        customer=c,
        vehicle=v,
        kind="visit",
        summary="小保养",
        amount="380.00",
    )
    c.tags.add(cf.tag(world.org, "注重品质"))
    return c


class TestExport:
    def test_json_contains_everything_and_is_audited(self, world, li):
        data = json.loads(privacy.customer_data_json(world.manager_a1, li))
        assert data["name"] == "李雷" and data["mobile"] == "13700001111"
        assert data["tags"] == ["注重品质"]
        assert data["vehicles"][0]["plate"] == "京B12345"
        assert {t["summary"] for t in data["timeline"]} == {"电话沟通保养", "小保养"}
        assert AuditLog.objects.filter(action="reveal", object_id=str(li.pk)).exists()

    def test_xlsx_download_via_api(self, world, li):
        response = api_client_for(world.manager_a1).get(
            f"/api/v1/customers/{li.pk}/export?format=xlsx"
        )
        assert response.status_code == 200 and response["Cache-Control"] == "no-store"
        wb = load_workbook(io.BytesIO(response.content))
        rows = {r[0]: r[1] for r in wb.worksheets[0].iter_rows(values_only=True)}
        assert rows["name"] == "李雷"

    def test_refused_for_roles_without_need_and_other_stores(self, world, li):
        with pytest.raises(Forbidden):
            privacy.customer_data(world.advisor_a1, li)
        with pytest.raises(NotFound):
            privacy.customer_data(world.manager_a2, li)


class TestHostileText:
    """Text from people lands in Excel as text: no live formula, no refused characters."""

    NAME = "=1+1\x07"

    @staticmethod
    def name_cells(content: bytes):
        wb = load_workbook(io.BytesIO(content))
        return [
            c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == "=1+1"
        ]

    def test_customer_data_xlsx(self, world):
        c = cf.customer(world.a1, name=self.NAME)
        cells = self.name_cells(privacy.customer_data_xlsx(world.manager_a1, c))
        assert cells and all(cell.data_type == "s" for cell in cells)

    def test_list_xlsx(self, world):
        c = cf.customer(world.a1, name=self.NAME)
        content = privacy.list_xlsx(world.manager_a1, Customer.objects.filter(pk=c.pk))
        cells = self.name_cells(content)
        assert cells and all(cell.data_type == "s" for cell in cells)


class TestErase:
    def test_personal_data_gone_money_kept(self, world, li):
        privacy.erase_customer(world.hq, li, "客户电话申请删除")
        li.refresh_from_db()
        assert li.erased_at and li.mobile == "" and li.wechat_id == "" and "李雷" not in li.name
        assert li.name_initials != "ll" and not li.tags.exists()
        visit = li.interactions.get(kind="visit")
        assert visit.amount == 380 and visit.summary == "小保养"
        assert li.interactions.get(kind="call").summary != "电话沟通保养"
        assert li.vehicles.get().plate == "京B12345"
        entry = AuditLog.objects.filter(object_id=str(li.pk), changes__has_key="erased").get()
        assert entry.changes["erased"][1] == "客户电话申请删除"

    def test_erase_refusals(self, world, li):
        with pytest.raises(Forbidden):
            privacy.erase_customer(world.manager_a1, li, "x")
        with pytest.raises(Invalid):
            privacy.erase_customer(world.hq, li, "  ")
        privacy.erase_customer(world.hq, li, "申请")
        with pytest.raises(Invalid):
            privacy.erase_customer(world.hq, li, "again")


class TestMerge:
    def test_preview_then_merge(self, world, li):
        dupe = cf.customer(world.a1, name="李雷", mobile="", birthday="1990-05-01", visit_count=2)
        cf.vehicle(dupe, plate="京C54321")
        cf.interaction(dupe, "旧档案备注")
        dupe.tags.add(cf.tag(world.org, "价格敏感"))
        preview = privacy.merge_preview(world.advisor_a1, li, dupe)
        assert [v.plate for v in preview["vehicles"]] == ["京C54321"]
        assert preview["tags"] == ["价格敏感"] and "birthday" in preview["filled"]
        privacy.merge_customers(world.advisor_a1, li, dupe)
        li.refresh_from_db()
        dupe.refresh_from_db()
        assert dupe.merged_into == li and not dupe.is_active
        assert {v.plate for v in li.vehicles.all()} == {"京B12345", "京C54321"}
        assert li.interactions.filter(summary="旧档案备注").exists()
        assert {t.name for t in li.tags.all()} == {"注重品质", "价格敏感"}
        assert str(li.birthday) == "1990-05-01" and li.visit_count == 2
        assert Customer.objects.filter(merged_into__isnull=True, name="李雷").count() == 1
        assert AuditLog.objects.filter(object_id=str(li.pk), changes__has_key="merged_from")

    def test_merge_refusals(self, world, li):
        with pytest.raises(Invalid):
            privacy.merge_customers(world.advisor_a1, li, li)
        with pytest.raises(NotFound):
            privacy.merge_customers(world.advisor_a1, li, cf.customer(world.a2))
        with pytest.raises(Forbidden):
            privacy.merge_customers(world.tech_a1, li, cf.customer(world.a1))

    def test_merge_api(self, world, li):
        dupe = cf.customer(world.a1, name="李雷2", mobile="")
        client = api_client_for(world.advisor_a1)
        preview = client.get(
            "/api/v1/customers/merge-preview", {"keep_id": li.pk, "drop_id": dupe.pk}
        ).json()
        assert preview["drop_id"] == dupe.pk
        response = client.post(
            "/api/v1/customers/merge",
            data=json.dumps({"keep_id": li.pk, "drop_id": dupe.pk}),
            content_type="application/json",
        )
        assert response.status_code == 200
        assert client.get(f"/api/v1/customers/{dupe.pk}").status_code == 200  # pointer kept
        ids = {r["id"] for r in client.get("/api/v1/customers").json()["items"]}
        assert dupe.pk not in ids


class TestListExport:
    def test_custom_fields_exported(self, world, li):
        from autocrm.core import customfields

        customfields.create_field(world.hq, target="customer", key="film", label_zh="贴膜品牌")
        li.custom = {"film": "3M"}
        li.save()
        content = privacy.list_xlsx(world.manager_a1, Customer.objects.filter(pk=li.pk))
        header, row = list(
            load_workbook(io.BytesIO(content)).worksheets[0].iter_rows(values_only=True)
        )
        assert header[-1] == "贴膜品牌" and row[-1] == "3M"

    def test_filtered_export_masked_for_roles_without_phone_and_audited(self, world, li):
        cf.customer(world.a1, name="王五", level="VIP", mobile="13600002222")
        cf.customer(world.a2, name="外店客户")
        response = api_client_for(world.manager_a1).get(
            "/api/v1/customers/export.xlsx", {"level": "金卡"}
        )
        assert response.status_code == 200
        rows = list(
            load_workbook(io.BytesIO(response.content)).worksheets[0].iter_rows(values_only=True)
        )
        assert [r[0] for r in rows[1:]] == ["李雷"] and rows[1][1] == "13700001111"
        everything = api_client_for(world.manager_a1).get("/api/v1/customers/export.xlsx")
        names = {
            r[0]
            for r in load_workbook(io.BytesIO(everything.content))
            .worksheets[0]
            .iter_rows(values_only=True)
        }
        assert "外店客户" not in names and "王五" in names
        assert AuditLog.objects.filter(object_type="customers.Customer", object_id="*").exists()
        assert (
            api_client_for(world.advisor_a1).get("/api/v1/customers/export.xlsx").status_code == 403
        )
