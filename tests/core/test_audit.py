"""The audit log records every create, update and delete from every path, and cannot be edited."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from autocrm.automation.models import Rule, Task
from autocrm.catalog.models import StorePrice
from autocrm.core import audit, services
from autocrm.core.jobs import autocrm_task
from autocrm.core.models import (
    ApiToken,
    AuditLog,
    CustomField,
    Organization,
    Region,
    Role,
    Store,
    User,
)
from autocrm.feedback.models import Survey
from autocrm.imports.models import ImportJob, ImportProfile
from autocrm.messaging.models import MessageAttempt, MessageTemplate, OutboxMessage
from autocrm.portal.models import PortalLink
from autocrm.reports.models import SavedReport
from autocrm.service.models import (
    Inspection,
    InspectionResult,
    Media,
    Payment,
    QualityCheck,
    Recommendation,
    ServiceSettings,
    TimeEntry,
    WorkOrderEvent,
)
from autocrm.workflow.models import (
    ApprovalDecision,
    ApprovalRequest,
    Process,
    ProcessStage,
    Stage,
    StageVisit,
    Transition,
)
from tests import customer_factories as cf
from tests import factories as f
from tests import service_factories as sf
from tests.conftest import client_for


# One builder per audited model: make an instance, and a field change to apply to it.
# A new model without an entry here fails test_every_model_is_audited.
def _process(w) -> Process:
    return Process.objects.get_or_create(org=w.org, entity="work_order")[0]


def _process_stage(w, key: str) -> ProcessStage:
    return ProcessStage.objects.create(process=_process(w), key=key, name=f"阶段{key}")


def _approval(w) -> ApprovalRequest:
    wo = sf.work_order(w.a1)
    stage = Stage.objects.create(org=w.org, store=w.a1, name=f"审批{wo.pk}")
    return ApprovalRequest.objects.create(
        org=w.org,
        store=w.a1,
        entity="work_order",
        object_id=wo.pk,
        work_order=wo,
        target_stage=stage,
        approver_role="store_manager",
    )


BUILDERS = {
    "core.Organization": (lambda w: f.org(), {"name": "改名集团"}),
    "core.Region": (lambda w: f.region(w.org), {"name": "新区域"}),
    "core.Store": (lambda w: f.store(w.org), {"address": "新地址 1 号"}),
    "core.Role": (lambda w: Role.objects.create(code="test_role"), {"code": "test_role2"}),
    "core.User": (lambda w: f.staff(w.org, "technician", stores=[w.a1]), {"full_name": "新名字"}),
    "core.ApiToken": (
        lambda w: services.create_api_token(w.manager_a1, "t")[0],
        {"name": "renamed"},
    ),
    "core.CustomField": (
        lambda w: CustomField.objects.create(
            org=w.org, target="customer", key="k", label_zh="字段"
        ),
        {"label_zh": "新字段"},
    ),
    "imports.ImportProfile": (
        lambda w: ImportProfile.objects.create(
            org=w.org, name="门店导出", headers=["姓名"], mapping=["name"]
        ),
        {"name": "改名"},
    ),
    "imports.ImportJob": (
        lambda w: ImportJob.objects.create(
            org=w.org, store=w.a1, file_name="客户.xlsx", file_type="xlsx"
        ),
        {"file_name": "改名.xlsx"},
    ),
    "customers.SourceChannel": (lambda w: cf.source(w.org), {"name": "抖音"}),
    "customers.Tag": (lambda w: cf.tag(w.org), {"name": "注重品质"}),
    "customers.Customer": (lambda w: cf.customer(w.a1), {"name": "李四"}),
    "customers.Vehicle": (lambda w: cf.vehicle(cf.customer(w.a1)), {"color": "白"}),
    "customers.Ownership": (
        lambda w: cf.vehicle(cf.customer(w.a1)).ownerships.get(),
        {"ended_at": "2026-01-01T00:00:00+00:00"},
    ),
    "customers.MileageReading": (
        lambda w: cf.vehicle(cf.customer(w.a1), km=1000).mileage.get(),
        {"note": "改"},
    ),
    "customers.Interaction": (lambda w: cf.interaction(cf.customer(w.a1)), {"summary": "改"}),
    "catalog.LabourItem": (lambda w: sf.labour(w.org), {"name": "改"}),
    "catalog.Part": (lambda w: sf.part(w.org), {"name": "改"}),
    "catalog.ServicePackage": (lambda w: sf.package(w.org), {"name": "改"}),
    "catalog.PackageItem": (lambda w: sf.package(w.org).items.first(), {"quantity": "2.00"}),
    "catalog.StorePrice": (
        lambda w: StorePrice.objects.create(store=w.a1, labour=sf.labour(w.org), price=9),
        {"price": "10.00"},
    ),
    "workflow.Stage": (
        lambda w: Stage.objects.create(org=w.org, store=w.a1, name="待接车"),
        {"name": "检查中"},
    ),
    "workflow.StageVisit": (
        lambda w: StageVisit.objects.create(
            work_order=sf.work_order(w.a1),
            stage=Stage.objects.create(org=w.org, store=w.a1, name="维修中"),
        ),
        {"left_at": "2026-01-01T00:00:00+00:00"},
    ),
    "workflow.Process": (
        lambda w: Process.objects.create(org=w.org, entity="work_order"),
        {"version": 2},
    ),
    "workflow.ProcessStage": (lambda w: _process_stage(w, "a"), {"name": "改"}),
    "workflow.Transition": (
        lambda w: Transition.objects.create(
            process=_process(w), source=_process_stage(w, "b"), target=_process_stage(w, "c")
        ),
        {"allowed_roles": ["technician"]},
    ),
    "workflow.ApprovalRequest": (lambda w: _approval(w), {"status": "approved"}),
    "workflow.ApprovalDecision": (
        lambda w: ApprovalDecision.objects.create(
            request=_approval(w), approver=w.manager_a1, approver_name="店长", approve=True
        ),
        {"note": "好"},
    ),
    "service.ServiceSettings": (
        lambda w: ServiceSettings.objects.create(store=w.a1),
        {"slot_capacity": 5},
    ),
    "service.Appointment": (lambda w: sf.appointment(w.a1), {"note": "改"}),
    "service.WorkOrder": (lambda w: sf.work_order(w.a1), {"complaint": "异响"}),
    "service.WorkOrderLine": (lambda w: sf.line(sf.work_order(w.a1)), {"name": "改"}),
    "service.InspectionTemplate": (lambda w: sf.inspection_template(w.org), {"name": "改"}),
    "service.InspectionTemplateItem": (
        lambda w: sf.inspection_template(w.org).items.first(),
        {"name": "改"},
    ),
    "service.Inspection": (
        lambda w: Inspection.objects.create(
            work_order=sf.work_order(w.a1), template=sf.inspection_template(w.org)
        ),
        {"completed_at": "2026-01-01T00:00:00+00:00"},
    ),
    "service.InspectionResult": (
        lambda w: InspectionResult.objects.create(
            inspection=Inspection.objects.create(
                work_order=sf.work_order(w.a1), template=sf.inspection_template(w.org)
            ),
            name="轮胎",
        ),
        {"rating": "ok"},
    ),
    "service.Media": (
        lambda w: Media.objects.create(
            org=w.org,
            store=w.a1,
            work_order=sf.work_order(w.a1),
            token="t" * 32,
            kind="image",
            file="wo/x.jpg",
            content_type="image/jpeg",
        ),
        {"caption": "改"},
    ),
    "service.TimeEntry": (
        lambda w: TimeEntry.objects.create(
            work_order=(wo := sf.work_order(w.a1)), line=sf.line(wo), technician=w.tech_a1
        ),
        {"note": "改"},
    ),
    "service.QualityCheck": (
        lambda w: QualityCheck.objects.create(
            work_order=sf.work_order(w.a1), inspector=w.tech_a1, passed=True
        ),
        {"reason": "改"},
    ),
    "service.Payment": (
        lambda w: Payment.objects.create(
            org=w.org, store=w.a1, work_order=sf.work_order(w.a1), method="cash", amount=1
        ),
        {"reference": "改"},
    ),
    "service.Recommendation": (
        lambda w: Recommendation.objects.create(
            org=w.org, store=w.a1, vehicle=cf.vehicle(cf.customer(w.a1)), name="换刹车片"
        ),
        {"status": "dismissed"},
    ),
    "service.WorkOrderEvent": (
        lambda w: WorkOrderEvent.objects.create(work_order=sf.work_order(w.a1), kind="x", text="t"),
        {"text": "改"},
    ),
    "feedback.Survey": (
        lambda w: Survey.objects.create(
            org=w.org,
            store=w.a1,
            work_order=sf.work_order(w.a1),
            nps=9,
            timeliness=5,
            professionalism=5,
            attitude=5,
            result=5,
        ),
        {"comment": "改"},
    ),
    "automation.Task": (
        lambda w: Task.objects.create(org=w.org, store=w.a1, title="回访", role="service_advisor"),
        {"title": "改"},
    ),
    "reports.SavedReport": (
        lambda w: SavedReport.objects.create(
            org=w.org, owner=w.hq, name="月度工单", dataset="work_orders", measures=[]
        ),
        {"name": "改"},
    ),
    "automation.Rule": (
        lambda w: Rule.objects.create(
            org=w.org,
            name="生日祝福",
            entity="customer",
            kind="time",
            trigger={"type": "anniversary", "field": "customer.birthday"},
            actions=[{"type": "tag", "tag": "生日"}],
        ),
        {"name": "改"},
    ),
    "messaging.OutboxMessage": (
        lambda w: OutboxMessage.objects.create(
            org=w.org, store=w.a1, to="13800000000", purpose="test", body="您好"
        ),
        {"status": "cancelled"},
    ),
    "messaging.MessageTemplate": (
        lambda w: MessageTemplate.objects.create(
            org=w.org, name="保养提醒", purpose="maintenance_due", body="{customer_name}您好"
        ),
        {"body": "您好"},
    ),
    "messaging.MessageAttempt": (
        lambda w: MessageAttempt.objects.create(
            message=OutboxMessage.objects.create(
                org=w.org, store=w.a1, to="13800000000", purpose="test", body="您好"
            ),
            provider="webhook",
        ),
        {"error": "HTTP 500"},
    ),
    "portal.PortalLink": (
        lambda w: PortalLink.objects.create(
            org=w.org,
            store=w.a1,
            work_order=sf.work_order(w.a1),
            purpose="progress",
            token_hash="h" * 64,
            expires_at="2030-01-01T00:00:00+00:00",
        ),
        {"revoked_at": "2026-01-01T00:00:00+00:00"},
    ),
}


def project_models():
    return [m for m in apps.get_models() if m.__module__.startswith("autocrm.")]


def entries_for(obj, action):
    return AuditLog.objects.filter(
        object_type=obj._meta.label, object_id=str(obj.pk), action=action
    )


def test_exempt_models_are_only_the_log_tables():
    exempt = {m._meta.label for m in project_models() if not audit.is_audited(m)}
    assert exempt == {
        "core.AuditLog",
        "core.JobRun",
        "core.WorkerHeartbeat",
        "customers.PlateKey",  # derived search index of Vehicle.plate
        "customers.StoreMileage",  # store median daily mileage, recomputed nightly
        "service.WorkOrderCounter",  # the last number given per store and day
        "reports.DailyStoreStat",  # rollups recomputed from audited rows
        "reports.DailyStaffStat",
        "reports.DailyItemStat",
        "reports.DailyReasonStat",
        "reports.MonthlyItemStat",
        "reports.MonthlyStoreStat",
        "reports.MonthlyStaffStat",
        "reports.MonthlyReasonStat",
        "reports.RollupPending",  # the worker's to-do list of store-days to recompute
        "reports.CustomerRFM",  # RFM scores recomputed whole from the customers' counters
        "reports.PeriodFigure",  # period figures recomputed whole from audited rows
        "automation.RuleFiring",  # the rules engine's firing log and exactly-once keys
    }


def test_every_model_is_audited(world):
    """Walk every model of the project: create, update and delete each, and find all three."""
    audited = [m for m in project_models() if audit.is_audited(m)]
    missing = [m._meta.label for m in audited if m._meta.label not in BUILDERS]
    assert not missing, f"add an audit builder for {missing}"
    for model in audited:
        build, change = BUILDERS[model._meta.label]
        obj = build(world)
        pk = obj.pk
        assert entries_for(obj, "create").exists(), f"{model} create not audited"
        for field, value in change.items():
            setattr(obj, field, value)
        obj.save()
        update = entries_for(obj, "update").latest("id")
        for field, value in change.items():
            assert update.changes[field][1] == value, f"{model} update lacks {field}"
        obj.delete()
        deleted = AuditLog.objects.filter(
            object_type=model._meta.label, object_id=str(pk), action="delete"
        )
        assert deleted.exists(), f"{model} delete not audited"


def test_update_records_before_and_after(world):
    services.update_store(world.hq, world.a1, name="北京新店", phone="010-12345678")
    entry = entries_for(world.a1, "update").latest("id")
    assert entry.changes["name"] == ["北京朝阳店", "北京新店"]
    assert entry.changes["phone"] == ["", "010-12345678"]
    assert entry.store_id == world.a1.pk and entry.org_id == world.org.pk


def test_no_entry_when_nothing_changed(world):
    before = AuditLog.objects.count()
    world.a1.save()
    assert AuditLog.objects.count() == before


def test_secrets_are_masked(world):
    token, raw = services.create_api_token(world.manager_a1, "excel")
    entry = entries_for(token, "create").get()
    assert entry.changes["key_hash"][1] == audit.MASK
    assert raw not in json.dumps(entry.changes)
    world.tech_a1.set_password("Another#2026")
    world.tech_a1.save()
    change = entries_for(world.tech_a1, "update").latest("id").changes
    assert change["password"] == [audit.MASK, audit.MASK]


def test_m2m_changes_recorded(world):
    services.update_staff(world.hq, world.tech_a1, store_ids=[world.a1.pk, world.a2.pk])
    entries = entries_for(world.tech_a1, "update").order_by("id")
    stores_change = [e.changes["stores"] for e in entries if "stores" in e.changes][-1]
    assert stores_change == [[world.a1.pk], sorted([world.a1.pk, world.a2.pk])]


class TestSources:
    def test_web_page(self, world):
        client = client_for(world.hq)
        response = client.post(
            f"/stores/{world.a1.pk}/edit/",
            {"name": "网页改名", "code": "bj-cy", "kind": "repair", "is_active": "on"},
            REMOTE_ADDR="10.1.2.3",
        )
        assert response.status_code == 302
        entry = entries_for(world.a1, "update").latest("id")
        assert (entry.source, entry.user_label, entry.user_id) == ("web", "hq", world.hq.pk)
        assert entry.ip == "10.1.2.3"

    def test_api(self, world):
        _t, raw = services.create_api_token(world.hq, "t")
        from django.test import Client

        response = Client(headers={"Authorization": f"Bearer {raw}"}).patch(
            f"/api/v1/stores/{world.a1.pk}",
            data=json.dumps({"name": "接口改名"}),
            content_type="application/json",
        )
        assert response.status_code == 200
        entry = entries_for(world.a1, "update").latest("id")
        assert (entry.source, entry.user_label) == ("api", "hq")

    def test_shell_command_default(self, world):
        Store.objects.filter(pk=world.a1.pk).first().save()  # nothing changed: no entry
        store = Store.objects.get(pk=world.a1.pk)
        store.city = "北京"
        store.save()
        assert entries_for(store, "update").latest("id").source == "shell"

    def test_background_task(self, world):
        @autocrm_task(retries=0)
        def rename(pk):
            Store.objects.filter(pk=pk).update()  # no signal: not a change
            store = Store.objects.get(pk=pk)
            store.city = "任务城"
            store.save()

        rename(world.a1.pk)
        assert entries_for(world.a1, "update").latest("id").source == "task"

    def test_import_and_rule_contexts(self, world):
        for source in ("import", "rule"):
            with audit.audit_context(source=source, user=world.hq):
                region = Region.objects.create(org=world.org, name=f"{source}区", code=source)
            entry = entries_for(region, "create").get()
            assert (entry.source, entry.user_label) == (source, "hq")

    def test_bulk_insert_recorded(self, world):
        with audit.audit_context(source="import", user=world.hq):
            Region.objects.bulk_create([Region(org=world.org, name="批量", code="bulk")])
            audit.record_bulk(Region, 1, note="excel")
        entry = AuditLog.objects.filter(object_type="core.Region", object_id="*").get()
        assert entry.changes["count"] == [None, 1] and entry.source == "import"


class TestAppendOnly:
    def test_model_refuses_edit_and_delete(self, world):
        entry = AuditLog.objects.first()
        entry.object_repr = "tampered"
        with pytest.raises(PermissionError):
            entry.save()
        with pytest.raises(PermissionError):
            entry.delete()
        with pytest.raises(PermissionError):
            AuditLog.objects.all().update(object_repr="x")
        with pytest.raises(PermissionError):
            AuditLog.objects.all().delete()

    def test_database_refuses_update(self, world):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE core_auditlog SET object_repr = 'x'")

    def test_database_guard_installed(self, world):
        """PostgreSQL refuses DELETE too; SQLite has the UPDATE trigger (test flushes delete)."""
        if connection.vendor == "postgresql":
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
                cur.execute("DELETE FROM core_auditlog")
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT name FROM sqlite_master "
                    "WHERE type='trigger' AND tbl_name='core_auditlog'"
                )
                assert [row[0] for row in cursor.fetchall()] == ["core_auditlog_no_update"]

    def test_no_edit_routes(self, world):
        client = client_for(world.hq)
        entry = AuditLog.objects.first()
        for path in (f"/audit/{entry.pk}/", f"/audit/{entry.pk}/delete/"):
            assert client.post(path).status_code == 404


class TestPage:
    def test_filters(self, world):
        services.update_store(world.hq, world.a1, name="甲")
        services.update_store(world.hq, world.a2, name="乙")
        client = client_for(world.hq)
        response = client.get("/audit/", {"object_type": "core.Store", "action": "update"})
        entries = response.context["entries"]
        assert {e.object_id for e in entries} == {str(world.a1.pk), str(world.a2.pk)}
        response = client.get(
            "/audit/", {"object_type": "core.Store", "object_id": world.a1.pk, "user": "hq"}
        )
        assert {e.object_id for e in response.context["entries"]} == {str(world.a1.pk)}
        today = response.context["entries"][0].created_at.date().isoformat()
        response = client.get("/audit/", {"date_from": "2000-01-01", "date_to": "2000-01-02"})
        assert list(response.context["entries"]) == []
        assert client.get("/audit/", {"date_from": today}).context["entries"]

    def test_visible_to_managers_only(self, world):
        assert client_for(world.manager_a1).get("/audit/").status_code == 200
        assert client_for(world.tech_a1).get("/audit/").status_code == 403
        assert client_for(world.advisor_a1).get("/audit/").status_code == 403

    def test_store_manager_sees_own_store_entries(self, world):
        services.update_store(world.hq, world.a2, name="乙店")
        services.update_store(world.hq, world.a1, name="甲店")
        entries = client_for(world.manager_a1).get("/audit/").context["entries"]
        assert entries and all(e.store_id == world.a1.pk for e in entries)

    def test_pagination_cursor(self, world):
        for i in range(60):
            Region.objects.create(org=world.org, name=f"区{i}", code=f"z{i}")
        client = client_for(world.hq)
        first = client.get("/audit/", {"object_type": "core.Region"})
        assert len(first.context["entries"]) == 50
        second = client.get(
            "/audit/", {"object_type": "core.Region", "cursor": first.context["next_cursor"]}
        )
        assert len(second.context["entries"]) >= 10
        first_ids = {e.pk for e in first.context["entries"]}
        assert first_ids.isdisjoint({e.pk for e in second.context["entries"]})
        # a forged cursor is ignored, not an error page
        assert client.get("/audit/", {"cursor": "!!"}).status_code == 200


def test_organization_and_user_rows_attributed(world):
    org = Organization.objects.create(name="新集团", code="new")
    entry = entries_for(org, "create").get()
    assert entry.org_id == org.pk
    token = (
        ApiToken.objects.filter(user=world.hq).first()
        or services.create_api_token(world.hq, "x")[0]
    )
    assert entries_for(token, "create").get().org_id == world.org.pk
    user = User.objects.get(pk=world.tech_a1.pk)
    user.full_name = "改"
    user.save()
    assert entries_for(user, "update").latest("id").store_id == world.a1.pk
