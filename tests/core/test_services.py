"""Services: what they do, and what they refuse (wrong role, wrong store, bad input)."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate as django_authenticate
from django.test import RequestFactory

from autocrm.core import selectors, services
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import Store, User
from autocrm.core.roles import ROLE_CODES, grantable_roles
from tests.conftest import client_for

GOOD_PASSWORD = "Qiche#2026"


def authenticate(**credentials):
    return django_authenticate(RequestFactory().post("/login/"), **credentials)


def new_staff(actor, **kw):
    data = {
        "username": "new.tech",
        "password": GOOD_PASSWORD,
        "full_name": "王小明",
        "phone": "13912345678",
        "roles": ["technician"],
        "scope": User.Scope.STORE,
        "store_ids": [],
    }
    data.update(kw)
    return services.create_staff(actor, **data)


class TestStores:
    def test_hq_creates_store_with_normalised_input(self, world):
        store = services.create_store(
            world.hq,
            name="  上海  浦东店 ",
            code="SH-PD",
            region_id=world.south.pk,
            city="上海",
            phone="021-55556666",
        )
        assert (store.name, store.code, store.region, store.org) == (
            "上海 浦东店",
            "sh-pd",
            world.south,
            world.org,
        )

    def test_store_manager_cannot_create_or_edit_stores(self, world):
        with pytest.raises(Forbidden):
            services.create_store(world.manager_a1, name="x", code="x")
        with pytest.raises(Forbidden):
            services.update_store(world.manager_a1, world.a1, name="改")

    def test_duplicate_code_conflicts(self, world):
        with pytest.raises(Conflict) as exc:
            services.create_store(world.hq, name="重复", code="bj-cy")
        assert "code" in exc.value.fields
        # the same code in another org is fine
        services.create_store(world.other_admin, name="别家", code="bj-cy")

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"name": "", "code": "ok"}, "name"),
            ({"name": "店", "code": "Has Space"}, "code"),
            ({"name": "店", "code": "ok", "kind": "boat"}, "kind"),
        ],
    )
    def test_bad_input_names_the_field(self, world, data, field):
        with pytest.raises(Invalid) as exc:
            services.create_store(world.hq, **data)
        assert field in exc.value.fields
        assert not Store.objects.filter(code="ok").exists()

    def test_region_of_another_org_refused(self, world):
        foreign = world.other_org.regions.create(name="外区", code="x")
        with pytest.raises(Invalid) as exc:
            services.create_store(world.hq, name="店", code="ok", region_id=foreign.pk)
        assert "region" in exc.value.fields

    def test_update_store_of_other_org_is_not_found(self, world):
        with pytest.raises(NotFound):
            services.update_store(world.hq, world.b1, name="x")

    def test_regions(self, world):
        region = services.create_region(world.hq, name="西南区", code="SW")
        assert region.code == "sw"
        with pytest.raises(Conflict):
            services.create_region(world.hq, name="西南区", code="sw2")
        with pytest.raises(Forbidden):
            services.create_region(world.region_mgr, name="东区", code="e")


class TestStaff:
    def test_store_manager_adds_technician_to_own_store(self, world):
        staff = new_staff(world.manager_a1, store_ids=[world.a1.pk], phone="139 1234 5678")
        assert staff.org == world.org and staff.phone == "13912345678"
        assert set(staff.stores.all()) == {world.a1}
        assert staff.role_codes() == {"technician"}
        assert authenticate(username="new.tech", password=GOOD_PASSWORD) == staff

    def test_store_manager_cannot_add_to_other_store(self, world):
        with pytest.raises(Invalid) as exc:
            new_staff(world.manager_a1, store_ids=[world.a2.pk])
        assert "stores" in exc.value.fields
        assert not User.objects.filter(username="new.tech").exists()

    def test_store_manager_cannot_grant_manager_or_hq(self, world):
        for role in ("store_manager", "hq_admin", "region_manager"):
            with pytest.raises(Invalid) as exc:
                new_staff(world.manager_a1, roles=[role], store_ids=[world.a1.pk])
            assert "roles" in exc.value.fields

    def test_only_hq_grants_org_scope(self, world):
        with pytest.raises(Invalid) as exc:
            new_staff(world.region_mgr, scope=User.Scope.ORG, roles=["finance"])
        assert "scope" in exc.value.fields
        staff = new_staff(world.hq, scope=User.Scope.ORG, roles=["finance"])
        assert staff.scope == User.Scope.ORG

    def test_region_manager_grants_own_region_only(self, world):
        staff = new_staff(
            world.region_mgr,
            scope=User.Scope.REGION,
            roles=["store_manager"],
            region_ids=[world.north.pk],
        )
        assert set(staff.regions.all()) == {world.north}
        with pytest.raises(Invalid):
            new_staff(
                world.region_mgr,
                username="x2",
                scope=User.Scope.REGION,
                roles=["finance"],
                region_ids=[world.south.pk],
            )

    def test_technician_cannot_manage_staff(self, world):
        with pytest.raises(Forbidden):
            new_staff(world.tech_a1, store_ids=[world.a1.pk])

    @pytest.mark.parametrize(
        ("override", "field"),
        [
            ({"phone": "12345"}, "phone"),
            ({"password": "123"}, "password"),
            ({"password": "12345678"}, "password"),
            ({"full_name": " "}, "full_name"),
            ({"username": ""}, "username"),
            ({"roles": []}, "roles"),
            ({"store_ids": []}, "stores"),
        ],
    )
    def test_bad_input(self, world, override, field):
        data = {"store_ids": [world.a1.pk], **override}
        with pytest.raises(Invalid) as exc:
            new_staff(world.hq, **data)
        assert field in exc.value.fields

    def test_duplicate_username_conflicts(self, world):
        with pytest.raises(Conflict):
            new_staff(world.hq, username="TECH-A1", store_ids=[world.a1.pk])

    def test_deactivate_blocks_sign_in_and_tokens_keeps_history(self, world):
        token, raw = services.create_api_token(world.tech_a1, "phone")
        services.set_staff_active(world.manager_a1, world.tech_a1, False)
        world.tech_a1.refresh_from_db()
        assert not world.tech_a1.is_active and world.tech_a1.deactivated_at
        assert authenticate(username="tech-a1", password="Qiche#2026") is None
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert selectors.token_user(services.hash_token(raw)) is None
        assert User.objects.filter(pk=world.tech_a1.pk).exists()
        services.set_staff_active(world.manager_a1, world.tech_a1, True)
        assert authenticate(username="tech-a1", password="Qiche#2026") == world.tech_a1

    def test_deactivated_user_session_ends(self, world):
        client = client_for(world.tech_a1)
        assert client.get("/").status_code == 200
        services.set_staff_active(world.hq, world.tech_a1, False)
        assert client.get("/").status_code == 302

    def test_cannot_deactivate_self_or_superior(self, world):
        with pytest.raises(Forbidden):
            services.set_staff_active(world.manager_a1, world.manager_a1, False)
        with pytest.raises(NotFound):
            services.set_staff_active(world.manager_a1, world.hq, False)
        peer = new_staff(
            world.hq, username="mgr2", roles=["store_manager"], store_ids=[world.a1.pk]
        )
        with pytest.raises(Forbidden):
            services.set_staff_active(world.manager_a1, peer, False)

    def test_cannot_change_own_roles(self, world):
        with pytest.raises(Forbidden):
            services.update_staff(world.manager_a1, world.manager_a1, roles=["hq_admin"])
        services.update_staff(world.manager_a1, world.manager_a1, full_name="新名字")

    def test_update_roles_and_stores(self, world):
        services.update_staff(
            world.hq,
            world.tech_a1,
            roles=["technician", "service_advisor"],
            store_ids=[world.a1.pk, world.a3.pk],
        )
        tech = User.objects.get(pk=world.tech_a1.pk)
        assert tech.role_codes() == {"technician", "service_advisor"}
        assert set(tech.stores.all()) == {world.a1, world.a3}


class TestTokens:
    def test_create_and_revoke(self, world):
        token, raw = services.create_api_token(world.advisor_a1, " Excel 同步 ")
        assert raw.startswith("acrm_") and token.name == "Excel 同步"
        assert token.key_hash != raw and raw.startswith(token.prefix)
        assert selectors.token_user(services.hash_token(raw)) == world.advisor_a1
        services.revoke_api_token(world.advisor_a1, token.pk)
        assert selectors.token_user(services.hash_token(raw)) is None

    def test_cannot_revoke_someone_elses(self, world):
        token, _raw = services.create_api_token(world.advisor_a1, "x")
        with pytest.raises(NotFound):
            services.revoke_api_token(world.manager_a1, token.pk)


def test_grantable_roles_rank():
    assert grantable_roles(["hq_admin"]) == ROLE_CODES
    assert "store_manager" in grantable_roles(["region_manager"])
    assert "region_manager" not in grantable_roles(["region_manager"])
    assert "store_manager" not in grantable_roles(["store_manager"])
    assert grantable_roles(["technician"]) == []


def test_create_admin_first_start(db):
    admin = services.create_admin(
        org_name="我的汽修", org_code="mine", username="Boss", password=GOOD_PASSWORD
    )
    assert admin.username == "boss" and admin.scope == User.Scope.ORG
    assert admin.role_codes() == {"hq_admin"}
    with pytest.raises(Conflict):
        services.create_admin(
            org_name="x", org_code="mine", username="boss", password=GOOD_PASSWORD
        )


def test_roles_assigned_even_if_lookup_rows_were_removed(world):
    """Role rows are a lookup of a fixed set: losing them (a flush, a restore) breaks nothing."""
    from autocrm.core.models import Role

    Role.objects.filter(code="technician").delete()
    staff = new_staff(world.manager_a1, store_ids=[world.a1.pk])
    assert staff.role_codes() == {"technician"}
    assert Role.objects.filter(code="technician").count() == 1
