"""A user of store A cannot list, open, edit, count or search store B's rows, through pages or
the API; HQ sees all stores of its org; nobody sees another org."""

from __future__ import annotations

import json

import pytest

from autocrm.core import scoping, selectors, services
from autocrm.core.models import AuditLog, Store, User
from tests.conftest import api_client_for, client_for


def ids(page: dict) -> set[int]:
    return {row["id"] for row in page["items"]}


class TestMechanism:
    def test_store_ids_by_scope(self, world):
        assert scoping.store_ids(world.manager_a1) == {world.a1.pk}
        assert scoping.store_ids(world.region_mgr) == {world.a1.pk, world.a2.pk}
        assert scoping.store_ids(world.hq) == {world.a1.pk, world.a2.pk, world.a3.pk}
        assert scoping.store_ids(world.other_admin) == {world.b1.pk}

    def test_hq_sees_all_stores_of_its_org_only(self, world):
        names = set(selectors.visible_stores(world.hq).values_list("code", flat=True))
        assert names == {"bj-cy", "tj-bj", "gz-th"}

    def test_other_org_sees_nothing_of_ours(self, world):
        assert list(selectors.visible_stores(world.other_admin)) == [world.b1]
        assert world.manager_a1 not in selectors.visible_staff(world.other_admin)

    def test_counts_are_scoped(self, world):
        assert selectors.visible_stores(world.manager_a1).count() == 1
        assert selectors.visible_staff(world.manager_a1).count() == 3  # mgr, advisor, tech of A1

    def test_anonymous_sees_nothing(self, world):
        from django.contrib.auth.models import AnonymousUser

        assert selectors.visible_stores(AnonymousUser()).count() == 0

    def test_unscopable_model_refused(self, world):
        from autocrm.core.models import JobRun

        with pytest.raises(TypeError):
            scoping.scoped(JobRun.objects.all(), world.hq)

    def test_audit_entries_follow_store_scope(self, world):
        services.update_store(world.hq, world.a2, name="天津新店")
        services.update_store(world.hq, world.a1, name="北京新店")
        mine = selectors.audit_entries(world.manager_a1)
        assert {e.store_id for e in mine} == {world.a1.pk}
        assert selectors.audit_entries(world.other_admin).filter(org_id=world.org.pk).count() == 0
        hq_types = set(selectors.audit_entries(world.hq).values_list("store_id", flat=True))
        assert {world.a1.pk, world.a2.pk} <= hq_types


class TestPages:
    def test_store_list_shows_own_store_only(self, world):
        body = client_for(world.manager_a1).get("/stores/").content.decode()
        assert "北京朝阳店" in body
        assert "天津滨江店" not in body and "别家一店" not in body

    @pytest.mark.parametrize("path", ["/stores/{}/", "/stores/{}/edit/"])
    def test_other_store_is_404(self, world, path):
        client = client_for(world.manager_a1)
        assert client.get(path.format(world.a2.pk)).status_code in (403, 404)
        assert client_for(world.hq).get(path.format(world.b1.pk)).status_code == 404

    def test_other_org_store_detail_404_for_hq(self, world):
        assert client_for(world.hq).get(f"/stores/{world.b1.pk}/").status_code == 404

    def test_staff_of_other_store_is_404(self, world):
        client = client_for(world.manager_a1)
        assert client.get(f"/staff/{world.manager_a2.pk}/").status_code == 404
        response = client.post(f"/staff/{world.manager_a2.pk}/active/", {"active": "0"})
        assert response.status_code == 404
        world.manager_a2.refresh_from_db()
        assert world.manager_a2.is_active

    def test_staff_list_scoped(self, world):
        body = client_for(world.manager_a1).get("/staff/").content.decode()
        assert "sa-a1" in body and "mgr-a2" not in body and "other-hq" not in body

    def test_search_does_not_leak(self, world):
        client = client_for(world.manager_a1)
        body = client.get("/search/", {"q": "店"}).content.decode()
        assert "北京朝阳店" in body
        assert "天津滨江店" not in body and "别家一店" not in body
        body = client.get("/search/", {"q": "mgr"}).content.decode()
        assert "mgr-a1" in body and "mgr-a2" not in body

    def test_region_manager_sees_region_stores(self, world):
        body = client_for(world.region_mgr).get("/stores/").content.decode()
        assert "北京朝阳店" in body and "天津滨江店" in body and "广州天河店" not in body

    def test_home_counts_scoped(self, world):
        response = client_for(world.manager_a1).get("/")
        assert response.context["store_count"] == 1


class TestApi:
    def test_list_and_count(self, world):
        page = api_client_for(world.manager_a1).get("/api/v1/stores").json()
        assert ids(page) == {world.a1.pk}
        assert ids(api_client_for(world.hq).get("/api/v1/stores").json()) == {
            world.a1.pk,
            world.a2.pk,
            world.a3.pk,
        }

    def test_open_other_store_404(self, world):
        client = api_client_for(world.manager_a1)
        response = client.get(f"/api/v1/stores/{world.a2.pk}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert api_client_for(world.hq).get(f"/api/v1/stores/{world.b1.pk}").status_code == 404

    def test_edit_other_org_store_404_and_unchanged(self, world):
        response = api_client_for(world.hq).patch(
            f"/api/v1/stores/{world.b1.pk}",
            data=json.dumps({"name": "hacked"}),
            content_type="application/json",
        )
        assert response.status_code == 404
        world.b1.refresh_from_db()
        assert world.b1.name == "别家一店"

    def test_staff_api_scoped(self, world):
        client = api_client_for(world.manager_a1)
        usernames = {row["username"] for row in client.get("/api/v1/staff").json()["items"]}
        assert usernames == {"mgr-a1", "sa-a1", "tech-a1"}
        assert client.get(f"/api/v1/staff/{world.manager_a2.pk}").status_code == 404
        assert client.post(f"/api/v1/staff/{world.manager_a2.pk}/deactivate").status_code == 404

    def test_search_api_scoped(self, world):
        found = api_client_for(world.manager_a1).get("/api/v1/search", {"q": "店"}).json()
        assert {s["code"] for s in found["stores"]} == {"bj-cy"}

    def test_audit_api_scoped(self, world):
        services.update_store(world.hq, world.a2, name="天津新店")
        items = api_client_for(world.manager_a1).get("/api/v1/audit").json()["items"]
        assert all(item["store_id"] == world.a1.pk for item in items)
        assert AuditLog.objects.filter(store_id=world.a2.pk).exists()

    def test_store_filter_param_cannot_widen_scope(self, world):
        page = (
            api_client_for(world.manager_a1).get("/api/v1/staff", {"store_id": world.a2.pk}).json()
        )
        assert page["items"] == []


def test_every_org_model_declares_scope():
    """New models must say how they are scoped (or that they are not org data)."""
    from django.apps import apps

    for model in apps.get_models():
        if model.__module__.startswith("autocrm."):
            assert hasattr(model, "scope_org"), model
            assert hasattr(model, "scope_store"), model


def test_store_model_scoped_by_pk(world):
    assert Store.scope_store == "pk"
    assert list(scoping.scoped(Store.objects.all(), world.manager_a2)) == [world.a2]


def test_distinct_only_for_to_many_scope_paths(world):
    from autocrm.customers.models import Customer, PlateKey

    def is_distinct(model):
        return scoping.scoped(model.objects.all(), world.manager_a1).query.distinct

    assert is_distinct(User)  # staff → stores is many-to-many: rows could repeat
    assert not is_distinct(Customer) and not is_distinct(PlateKey)  # to-one paths
    assert not is_distinct(Store)
