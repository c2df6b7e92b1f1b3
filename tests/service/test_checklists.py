"""Check-in checklists (inspection templates) that HQ edits: the services' rules and refusals,
the settings pages with their htmx item editor, and the API; scoped to the org."""

from __future__ import annotations

import pytest

from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import AuditLog, User
from autocrm.service import checklists
from autocrm.service import services as wo_services
from autocrm.service.models import (
    Inspection,
    InspectionResult,
    InspectionTemplate,
    InspectionTemplateItem,
    WorkOrder,
)
from tests import factories as f
from tests import service_factories as sf
from tests.conftest import api_client_for, client_for, send_json

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def names(template: InspectionTemplate) -> list[tuple[str, str]]:
    return list(template.items.order_by("sort", "id").values_list("section", "name"))


@pytest.fixture
def checklist(world) -> InspectionTemplate:
    return checklists.create_template(
        world.hq,
        name="接车检查",
        items=[
            {"section": "外观", "name": "车身外观"},
            {"section": "外观", "name": "灯光"},
            {"section": "轮胎", "name": "左前轮胎"},
            {"section": "轮胎", "name": "右前轮胎"},
        ],
    )


def open_order(world) -> WorkOrder:
    return sf.work_order(world.a1, status=WorkOrder.Status.IN_PROGRESS)


# --- services: checklists -----------------------------------------------------------------


class TestCreate:
    def test_with_items_is_active_in_the_given_order(self, world, checklist):
        assert checklist.org_id == world.org.pk and checklist.is_active
        assert names(checklist) == [
            ("外观", "车身外观"),
            ("外观", "灯光"),
            ("轮胎", "左前轮胎"),
            ("轮胎", "右前轮胎"),
        ]
        sorts = list(checklist.items.order_by("sort").values_list("sort", flat=True))
        assert sorts == [10, 20, 30, 40]

    def test_empty_waits_inactive(self, world):
        made = checklists.create_template(world.hq, name="  音响改装检查 ")
        assert made.name == "音响改装检查" and not made.is_active
        with pytest.raises(Invalid) as exc:
            checklists.create_template(world.hq, name="空的", is_active=True)
        assert "is_active" in exc.value.fields

    @pytest.mark.parametrize("name", ["", "   ", None])
    def test_blank_name_refused(self, world, name):
        with pytest.raises(Invalid) as exc:
            checklists.create_template(world.hq, name=name)
        assert str(exc.value.fields["name"]) == "请输入检查清单名称。"

    def test_too_long_and_duplicate_names_refused(self, world, checklist):
        with pytest.raises(Invalid) as exc:
            checklists.create_template(world.hq, name="检" * 61)
        assert str(exc.value.fields["name"]) == "最多 60 个字符。"
        with pytest.raises(Invalid) as exc:
            checklists.create_template(world.hq, name="接车检查")
        assert str(exc.value.fields["name"]) == "已有同名的检查清单。"
        # Another org may use the same name.
        other = checklists.create_template(world.other_admin, name="接车检查")
        assert other.org_id == world.other_org.pk

    def test_bad_items_named_by_position(self, world):
        with pytest.raises(Invalid) as exc:
            checklists.create_template(
                world.hq,
                name="新检查",
                items=[{"name": "机油"}, {"name": "机油"}, {"section": "发动机舱", "name": ""}],
            )
        assert set(exc.value.fields) == {"items.1.name", "items.2.name"}
        assert not InspectionTemplate.objects.filter(name="新检查").exists()

    @pytest.mark.parametrize("who", ["manager_a1", "advisor_a1", "tech_a1", "region_mgr"])
    def test_only_hq_admin(self, world, who):
        with pytest.raises(Forbidden):
            checklists.create_template(getattr(world, who), name="店里自己的")
        assert not InspectionTemplate.objects.exists()


class TestUpdateAndRetire:
    def test_rename_and_deactivate(self, world, checklist):
        checklists.update_template(world.hq, checklist, name="接车检查（新）", is_active=False)
        checklist.refresh_from_db()
        assert checklist.name == "接车检查(新)" and not checklist.is_active  # NFKC, as everywhere
        checklists.update_template(world.hq, checklist, is_active=True)
        checklist.refresh_from_db()
        assert checklist.is_active

    def test_rename_checks_name(self, world, checklist):
        checklists.create_template(world.hq, name="交车检查")
        with pytest.raises(Invalid):
            checklists.update_template(world.hq, checklist, name="交车检查")
        with pytest.raises(Invalid):
            checklists.update_template(world.hq, checklist, name=" ")
        checklists.update_template(world.hq, checklist, name="接车检查")  # its own name

    def test_empty_checklist_cannot_be_activated(self, world):
        empty = checklists.create_template(world.hq, name="空的")
        with pytest.raises(Invalid) as exc:
            checklists.update_template(world.hq, empty, is_active=True)
        assert "is_active" in exc.value.fields

    def test_other_org_and_other_roles_refused(self, world, checklist):
        with pytest.raises(NotFound):
            checklists.update_template(world.other_admin, checklist, name="偷改")
        with pytest.raises(NotFound):
            checklists.retire_template(world.other_admin, checklist)
        with pytest.raises(Forbidden):
            checklists.update_template(world.manager_a1, checklist, is_active=False)
        checklist.refresh_from_db()
        assert checklist.name == "接车检查" and checklist.is_active

    def test_unused_is_deleted_with_its_items(self, world, checklist):
        assert checklists.retire_template(world.hq, checklist) is True
        assert not InspectionTemplate.objects.filter(pk=checklist.pk).exists()
        assert not InspectionTemplateItem.objects.filter(template_id=checklist.pk).exists()

    def test_used_is_only_deactivated(self, world, checklist):
        wo_services.start_inspection(world.tech_a1, open_order(world), checklist.pk)
        assert checklists.is_used(checklist)
        assert checklists.retire_template(world.hq, checklist) is False
        checklist.refresh_from_db()
        assert not checklist.is_active and checklist.items.count() == 4


# --- services: items ----------------------------------------------------------------------


class TestItems:
    def test_new_item_joins_the_end_of_its_section(self, world, checklist):
        checklists.add_item(world.hq, checklist, section=" 外观 ", name="雨刮")
        checklists.add_item(world.hq, checklist, section="底盘", name="减震器")
        checklists.add_item(world.hq, checklist, name="喇叭")
        assert names(checklist) == [
            ("外观", "车身外观"),
            ("外观", "灯光"),
            ("外观", "雨刮"),
            ("轮胎", "左前轮胎"),
            ("轮胎", "右前轮胎"),
            ("底盘", "减震器"),
            ("", "喇叭"),
        ]

    def test_item_input_checked(self, world, checklist):
        for data, field in [
            ({"name": ""}, "name"),
            ({"name": "  "}, "name"),
            ({"name": "项" * 61}, "name"),
            ({"section": "分" * 31, "name": "机油"}, "section"),
            ({"section": "外观", "name": "灯光"}, "name"),  # already in that section
            ({"section": "外观", "name": "灯光 "}, "name"),
        ]:
            with pytest.raises(Invalid) as exc:
                checklists.add_item(world.hq, checklist, **data)
            assert field in exc.value.fields, data
        # The same name in another section is another item.
        checklists.add_item(world.hq, checklist, section="车内", name="灯光")
        assert checklist.items.count() == 5

    def test_at_most_max_items(self, world, checklist, monkeypatch):
        monkeypatch.setattr(checklists, "MAX_ITEMS", 4)
        with pytest.raises(Conflict):
            checklists.add_item(world.hq, checklist, name="再多一项")

    def test_edit_renames_and_moves_to_another_section(self, world, checklist):
        lamp = checklist.items.get(name="灯光")
        checklists.update_item(world.hq, checklist, lamp, name="大灯")
        assert ("外观", "大灯") in names(checklist)
        checklists.update_item(world.hq, checklist, lamp, section="轮胎")
        assert names(checklist) == [
            ("外观", "车身外观"),
            ("轮胎", "左前轮胎"),
            ("轮胎", "右前轮胎"),
            ("轮胎", "大灯"),
        ]
        with pytest.raises(Invalid):
            checklists.update_item(world.hq, checklist, lamp, name="左前轮胎")
        with pytest.raises(Invalid):
            checklists.update_item(world.hq, checklist, lamp, name="")

    def test_items_of_another_checklist_or_org_refused(self, world, checklist):
        other = sf.inspection_template(world.org)
        foreign = other.items.first()
        with pytest.raises(NotFound):
            checklists.update_item(world.hq, checklist, foreign, name="改")
        with pytest.raises(NotFound):
            checklists.remove_item(world.hq, checklist, foreign)
        with pytest.raises(NotFound):
            checklists.add_item(world.other_admin, checklist, name="别家的")
        with pytest.raises(Forbidden):
            checklists.add_item(world.tech_a1, checklist, name="技师加的")
        assert checklist.items.count() == 4

    def test_remove_keeps_at_least_one_in_an_active_checklist(self, world):
        one = checklists.create_template(world.hq, name="单项", items=[{"name": "机油"}])
        with pytest.raises(Conflict):
            checklists.remove_item(world.hq, one, one.items.get())
        checklists.update_template(world.hq, one, is_active=False)
        checklists.remove_item(world.hq, one, one.items.get())
        assert not one.items.exists()

    def test_move_stays_inside_the_section(self, world, checklist):
        right = checklist.items.get(name="右前轮胎")
        checklists.move_item(world.hq, checklist, right, -1)
        assert [n for _s, n in names(checklist)] == ["车身外观", "灯光", "右前轮胎", "左前轮胎"]
        checklists.move_item(world.hq, checklist, right, -1)  # first of its section: stays
        assert [n for _s, n in names(checklist)] == ["车身外观", "灯光", "右前轮胎", "左前轮胎"]

    def test_move_section(self, world, checklist):
        checklists.move_section(world.hq, checklist, "轮胎", -1)
        assert [s for s, _n in names(checklist)] == ["轮胎", "轮胎", "外观", "外观"]
        with pytest.raises(NotFound):
            checklists.move_section(world.hq, checklist, "没有", 1)

    def test_reorder(self, world, checklist):
        ids = list(checklist.items.order_by("sort").values_list("pk", flat=True))
        checklists.reorder_items(world.hq, checklist, list(reversed(ids)))
        assert [n for _s, n in names(checklist)][0] == "右前轮胎"
        with pytest.raises(Invalid):
            checklists.reorder_items(world.hq, checklist, ids[:2])
        with pytest.raises(Invalid):
            checklists.reorder_items(world.hq, checklist, ["x"])

    def test_past_inspections_keep_their_items(self, world, checklist):
        wo = open_order(world)
        inspection = wo_services.start_inspection(world.tech_a1, wo, checklist.pk)
        lamp = checklist.items.get(name="灯光")
        checklists.update_item(world.hq, checklist, lamp, name="大灯")
        checklists.remove_item(world.hq, checklist, checklist.items.get(name="车身外观"))
        copied = list(inspection.results.order_by("sort").values_list("name", flat=True))
        assert copied == ["车身外观", "灯光", "左前轮胎", "右前轮胎"]
        # A new inspection follows the edited checklist.
        again = wo_services.start_inspection(world.tech_a1, wo, checklist.pk)
        assert list(again.results.order_by("sort").values_list("name", flat=True)) == [
            "大灯",
            "左前轮胎",
            "右前轮胎",
        ]

    def test_inactive_checklist_cannot_be_started(self, world, checklist):
        checklists.update_template(world.hq, checklist, is_active=False)
        with pytest.raises(Invalid):
            wo_services.start_inspection(world.tech_a1, open_order(world), checklist.pk)

    def test_every_write_is_audited(self, world, checklist):
        item = checklists.add_item(world.hq, checklist, section="外观", name="雨刮")
        checklists.update_item(world.hq, checklist, item, name="雨刮片")
        checklists.remove_item(world.hq, checklist, item)
        checklists.update_template(world.hq, checklist, name="接车检查A")
        logs = AuditLog.objects.filter(user_id=world.hq.pk)
        assert logs.filter(
            object_type="service.InspectionTemplate", object_id=str(checklist.pk), action="create"
        ).exists()
        update = logs.filter(
            object_type="service.InspectionTemplate", object_id=str(checklist.pk), action="update"
        ).latest("id")
        assert update.changes["name"] == ["接车检查", "接车检查A"]
        item_logs = logs.filter(
            object_type="service.InspectionTemplateItem", object_id=str(item.pk)
        )
        assert {"create", "update", "delete"} <= set(item_logs.values_list("action", flat=True))


# --- pages --------------------------------------------------------------------------------


class TestPages:
    def test_list_in_the_menu_with_counts(self, world, checklist):
        checklists.create_template(world.hq, name="交车检查")
        response = client_for(world.hq).get("/settings/checklists/")
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-nav="checklist"' in html
        rows = response.context["checklists"]
        assert [(c.name, c.item_count, c.is_active) for c in rows] == [
            ("接车检查", 4, True),
            ("交车检查", 0, False),
        ]
        assert "接车检查" in html and "交车检查" in html

    @pytest.mark.parametrize("who", ["manager_a1", "advisor_a1", "tech_a1", "region_mgr"])
    def test_other_roles_refused(self, world, checklist, who):
        client = client_for(getattr(world, who))
        assert client.get("/settings/checklists/").status_code == 403
        assert client.get(f"/settings/checklists/{checklist.pk}/").status_code == 403
        r = client.post(f"/settings/checklists/{checklist.pk}/items/", {"new-name": "x"})
        assert r.status_code == 403
        r = client.post("/settings/checklists/", {"name": "店里的"})
        assert r.status_code == 403
        assert checklist.items.count() == 4
        assert 'data-nav="checklist"' not in client.get("/").content.decode()

    def test_other_org_not_found(self, world, checklist):
        client = client_for(world.other_admin)
        assert client.get(f"/settings/checklists/{checklist.pk}/").status_code == 404
        item = checklist.items.first()
        base = f"/settings/checklists/{checklist.pk}"
        assert client.post(f"{base}/items/", {"new-name": "x"}).status_code == 404
        assert client.post(f"{base}/items/{item.pk}/remove/").status_code == 404
        assert client.post(f"{base}/retire/").status_code == 404
        assert client.get("/settings/checklists/").context["checklists"] == []

    def test_create_then_add_items(self, world):
        client = client_for(world.hq)
        r = client.post("/settings/checklists/", {"name": "音响改装检查"})
        made = InspectionTemplate.objects.get(name="音响改装检查")
        assert r.status_code == 302 and r["Location"] == f"/settings/checklists/{made.pk}/"
        page = client.get(r["Location"])
        assert page.status_code == 200 and 'data-testid="inactive-note"' in page.content.decode()
        r = client.post(
            f"/settings/checklists/{made.pk}/items/",
            {"new-section": "原车状况", "new-name": "原车音响功能"},
            **HTMX,
        )
        assert r.status_code == 200
        assert "原车音响功能" in r.content.decode()
        assert 'value="原车状况"' in r.content.decode()  # the next item joins the section
        r = client.post(f"/settings/checklists/{made.pk}/items/", {"new-name": "蓄电池电压"})
        assert r.status_code == 302  # without htmx: back to the page
        assert [n for _s, n in names(made)] == ["原车音响功能", "蓄电池电压"]
        r = client.post(f"/settings/checklists/{made.pk}/active/", {"active": "1"})
        made.refresh_from_db()
        assert r.status_code == 302 and made.is_active

    def test_create_refused_with_messages(self, world, checklist):
        client = client_for(world.hq)
        r = client.post("/settings/checklists/", {"name": ""})
        assert r.status_code == 422
        r = client.post("/settings/checklists/", {"name": "接车检查"})
        assert r.status_code == 422
        assert "已有同名的检查清单" in r.content.decode()
        assert InspectionTemplate.objects.count() == 1

    def test_bad_item_shown_in_the_fragment(self, world, checklist):
        client = client_for(world.hq)
        r = client.post(
            f"/settings/checklists/{checklist.pk}/items/",
            {"new-section": "外观", "new-name": "灯光"},
            **HTMX,
        )
        assert r.status_code == 422
        assert "此分组中已有同名项目" in r.content.decode()
        assert 'id="checklist-items"' in r.content.decode()
        assert "<html" not in r.content.decode()
        r = client.post(f"/settings/checklists/{checklist.pk}/items/", {"new-name": ""})
        assert r.status_code == 422 and "<html" in r.content.decode()  # the whole page

    def test_edit_remove_and_move_in_place(self, world, checklist):
        client = client_for(world.hq)
        base = f"/settings/checklists/{checklist.pk}"
        lamp = checklist.items.get(name="灯光")
        r = client.get(f"{base}/items/{lamp.pk}/edit/", **HTMX)
        assert r.status_code == 200 and 'data-testid="checklist-item-form"' in r.content.decode()
        r = client.get(f"{base}/items/{lamp.pk}/edit/")  # without htmx: the page with the form
        assert r.status_code == 302 and f"?edit={lamp.pk}" in r["Location"]
        assert 'data-testid="checklist-item-form"' in client.get(r["Location"]).content.decode()
        r = client.post(
            f"{base}/items/{lamp.pk}/",
            {f"i{lamp.pk}-section": "外观", f"i{lamp.pk}-name": "大灯"},
            **HTMX,
        )
        assert r.status_code == 200 and "大灯" in r.content.decode()
        r = client.post(
            f"{base}/items/{lamp.pk}/",
            {f"i{lamp.pk}-section": "外观", f"i{lamp.pk}-name": ""},
            **HTMX,
        )
        assert r.status_code == 422 and 'data-testid="checklist-item-form"' in r.content.decode()
        r = client.post(f"{base}/items/{lamp.pk}/move/", {"direction": "up"}, **HTMX)
        assert r.status_code == 200
        assert [n for _s, n in names(checklist)][:2] == ["大灯", "车身外观"]
        r = client.post(f"{base}/sections/move/", {"section": "轮胎", "direction": "up"}, **HTMX)
        assert [s for s, _n in names(checklist)] == ["轮胎", "轮胎", "外观", "外观"]
        r = client.post(f"{base}/items/{lamp.pk}/remove/", **HTMX)
        assert r.status_code == 200 and "大灯" not in r.content.decode()
        assert checklist.items.count() == 3

    def test_removing_the_last_item_refused_in_place(self, world):
        one = checklists.create_template(world.hq, name="单项", items=[{"name": "机油"}])
        client = client_for(world.hq)
        item = one.items.get()
        r = client.post(f"/settings/checklists/{one.pk}/items/{item.pk}/remove/", **HTMX)
        assert r.status_code == 409 and 'data-testid="items-error"' in r.content.decode()
        assert one.items.exists()

    def test_rename_and_activate_refusals(self, world):
        empty = checklists.create_template(world.hq, name="空的")
        client = client_for(world.hq)
        r = client.post(f"/settings/checklists/{empty.pk}/", {"name": ""})
        assert r.status_code == 422
        r = client.post(f"/settings/checklists/{empty.pk}/", {"name": "新名字"})
        assert r.status_code == 302
        r = client.post(f"/settings/checklists/{empty.pk}/active/", {"active": "1"}, follow=True)
        assert "请先添加检查项目" in r.content.decode()
        empty.refresh_from_db()
        assert empty.name == "新名字" and not empty.is_active

    def test_retire_deletes_or_deactivates(self, world, checklist):
        client = client_for(world.hq)
        spare = checklists.create_template(world.hq, name="备用")
        r = client.post(f"/settings/checklists/{spare.pk}/retire/")
        assert r.status_code == 302 and r["Location"] == "/settings/checklists/"
        assert not InspectionTemplate.objects.filter(pk=spare.pk).exists()
        wo_services.start_inspection(world.tech_a1, open_order(world), checklist.pk)
        page = client.get(f"/settings/checklists/{checklist.pk}/").content.decode()
        assert 'data-testid="used-note"' in page and 'data-testid="delete-checklist"' not in page
        r = client.post(f"/settings/checklists/{checklist.pk}/retire/", **HTMX)
        assert r.status_code == 200 and r["HX-Redirect"] == f"/settings/checklists/{checklist.pk}/"
        checklist.refresh_from_db()
        assert not checklist.is_active

    def test_chinese_by_default_english_on_request(self, world, checklist):
        client = client_for(world.hq)
        assert "检查清单" in client.get("/settings/checklists/").content.decode()
        client.post("/language/", {"language": "en"})
        html = client.get(f"/settings/checklists/{checklist.pk}/").content.decode()
        assert "Inspection checklists" in html and "Add item" in html


# --- API ----------------------------------------------------------------------------------


class TestApi:
    def test_hq_lists_every_checklist_with_items(self, world, checklist):
        checklists.create_template(world.hq, name="交车检查")
        client = api_client_for(world.hq)
        body = client.get("/api/v1/inspection-templates").json()
        assert [(c["name"], c["item_count"], c["is_active"]) for c in body["items"]] == [
            ("接车检查", 4, True),
            ("交车检查", 0, False),
        ]
        assert [i["name"] for i in body["items"][0]["items"]][:2] == ["车身外观", "灯光"]
        inactive = client.get("/api/v1/inspection-templates?active=false").json()["items"]
        assert [c["name"] for c in inactive] == ["交车检查"]

    def test_technicians_read_the_active_ones_only(self, world, checklist):
        draft = checklists.create_template(world.hq, name="交车检查")
        client = api_client_for(world.tech_a1)
        body = client.get("/api/v1/inspection-templates?active=false").json()
        assert [c["id"] for c in body["items"]] == [checklist.pk]
        assert client.get(f"/api/v1/inspection-templates/{draft.pk}").status_code == 404
        assert client.get(f"/api/v1/inspection-templates/{checklist.pk}").status_code == 200
        r = send_json(client, "post", "/api/v1/inspection-templates", {"name": "技师的"})
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        r = send_json(
            client, "patch", f"/api/v1/inspection-templates/{checklist.pk}", {"name": "改"}
        )
        assert r.status_code == 403
        r = send_json(
            client,
            "post",
            f"/api/v1/inspection-templates/{checklist.pk}/items",
            {"name": "技师加的"},
        )
        assert r.status_code == 403
        marketing = f.staff(world.org, "marketing", scope=User.Scope.ORG)
        r = api_client_for(marketing).get("/api/v1/inspection-templates")
        assert r.status_code == 403

    def test_other_org_not_found(self, world, checklist):
        client = api_client_for(world.other_admin)
        assert client.get("/api/v1/inspection-templates").json()["items"] == []
        path = f"/api/v1/inspection-templates/{checklist.pk}"
        assert client.get(path).status_code == 404
        assert send_json(client, "patch", path, {"name": "改"}).status_code == 404
        assert client.delete(path).status_code == 404
        item = checklist.items.first()
        assert client.delete(f"{path}/items/{item.pk}").status_code == 404
        r = send_json(client, "post", f"{path}/items", {"name": "x"})
        assert r.status_code == 404 and r.json()["code"] == "not_found"

    def test_create_edit_and_items(self, world):
        client = api_client_for(world.hq)
        r = send_json(
            client,
            "post",
            "/api/v1/inspection-templates",
            {"name": "保养检查", "items": [{"section": "发动机舱", "name": "机油液位"}]},
        )
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["is_active"] and body["used"] is False and body["item_count"] == 1
        path = f"/api/v1/inspection-templates/{body['id']}"
        r = send_json(client, "post", f"{path}/items", {"section": "发动机舱", "name": "防冻液"})
        assert r.status_code == 201 and [i["name"] for i in r.json()["items"]] == [
            "机油液位",
            "防冻液",
        ]
        first, second = (i["id"] for i in r.json()["items"])
        r = send_json(client, "put", f"{path}/items/order", {"item_ids": [second, first]})
        assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [second, first]
        r = send_json(client, "patch", f"{path}/items/{first}", {"name": "机油"})
        assert r.status_code == 200 and r.json()["items"][1]["name"] == "机油"
        r = client.delete(f"{path}/items/{first}")
        assert r.status_code == 200 and r.json()["item_count"] == 1
        r = send_json(client, "patch", path, {"name": "保养检查B", "is_active": False})
        assert r.status_code == 200 and r.json()["name"] == "保养检查B"
        assert r.json()["is_active"] is False
        r = client.delete(path)
        assert r.status_code == 200 and r.json() == {"deleted": True, "is_active": False}

    def test_refusals_in_the_json_shape(self, world, checklist):
        client = api_client_for(world.hq)
        r = send_json(client, "post", "/api/v1/inspection-templates", {"name": " "})
        assert r.status_code == 422 and r.json()["code"] == "invalid"
        assert r.json()["fields"]["name"] == "请输入检查清单名称。"
        r = send_json(
            client,
            "post",
            "/api/v1/inspection-templates",
            {"name": "新的", "items": [{"name": "机油"}, {"name": "机油"}]},
        )
        assert r.status_code == 422 and "items.1.name" in r.json()["fields"]
        path = f"/api/v1/inspection-templates/{checklist.pk}"
        r = send_json(client, "post", f"{path}/items", {"section": "外观", "name": "灯光"})
        assert r.status_code == 422 and "name" in r.json()["fields"]
        r = send_json(client, "put", f"{path}/items/order", {"item_ids": [1]})
        assert r.status_code == 422 and "item_ids" in r.json()["fields"]
        assert client.delete(f"{path}/items/999999").status_code == 404

    def test_used_checklist_is_deactivated_not_deleted(self, world, checklist):
        wo_services.start_inspection(world.tech_a1, open_order(world), checklist.pk)
        client = api_client_for(world.hq)
        path = f"/api/v1/inspection-templates/{checklist.pk}"
        assert client.get(path).json()["used"] is True
        r = client.delete(path)
        assert r.status_code == 200 and r.json() == {"deleted": False, "is_active": False}
        assert Inspection.objects.filter(template=checklist).exists()
        assert InspectionResult.objects.filter(inspection__template=checklist).count() == 4
