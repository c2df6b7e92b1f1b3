"""The REST API: tokens, /me, stores, staff, and JSON errors with the right status codes."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from autocrm.core import services
from autocrm.core.models import ApiToken, AuditLog, Store
from tests.conftest import api_client_for, send_json


def bearer(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


as_user = api_client_for  # still imported by other apps' API tests


def post_json(client: Client, path: str, body, method: str = "post"):
    """``send_json``, or a raw (malformed) body when ``body`` is text."""
    if isinstance(body, str | bytes):
        return getattr(client, method)(path, data=body, content_type="application/json")
    return send_json(client, method, path, body)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["message"]
    if code:
        assert body["code"] == code
    return body


class TestAuth:
    def test_token_then_me(self, world):
        response = post_json(
            Client(), "/api/v1/auth/token", {"username": "mgr-a1", "password": "Qiche#2026"}
        )
        assert response.status_code == 201
        raw = response.json()["token"]
        me = bearer(raw).get("/api/v1/me").json()
        assert me["username"] == "mgr-a1" and me["org_name"] == "安途集团"
        assert me["roles"] == ["store_manager"] and me["store_ids"] == [world.a1.pk]
        assert "staff.manage" in me["capabilities"] and "store.manage" not in me["capabilities"]

    def test_username_is_case_insensitive(self, world):
        body = {"username": " MGR-A1 ", "password": "Qiche#2026"}
        assert post_json(Client(), "/api/v1/auth/token", body).status_code == 201

    @pytest.mark.parametrize("username", ["mgr-a1", "nobody"])
    def test_wrong_password_or_unknown_user(self, world, username):
        body = {"username": username, "password": "wrong"}
        response = post_json(Client(), "/api/v1/auth/token", body)
        assert_error(response, 401, "unauthenticated")
        assert not ApiToken.objects.exists()

    @override_settings(AXES_FAILURE_LIMIT=3)
    def test_lockout_after_repeated_failures(self, world):
        client = Client()
        for _ in range(2):
            body = {"username": "mgr-a1", "password": "wrong"}
            assert post_json(client, "/api/v1/auth/token", body).status_code == 401
        response = post_json(client, "/api/v1/auth/token", {"username": "mgr-a1", "password": "x"})
        assert_error(response, 429, "locked_out")
        right = {"username": "mgr-a1", "password": "Qiche#2026"}
        assert_error(post_json(client, "/api/v1/auth/token", right), 429, "locked_out")

    def test_deactivated_user_gets_no_token(self, world):
        services.set_staff_active(world.hq, world.tech_a1, False)
        body = {"username": "tech-a1", "password": "Qiche#2026"}
        assert_error(post_json(Client(), "/api/v1/auth/token", body), 401)

    @pytest.mark.parametrize(
        "header", [None, "Bearer nonsense", "Token abc", "Bearer ", "Basic dXNlcjpwYXNz"]
    )
    def test_missing_or_invalid_token(self, world, header):
        client = Client(headers={"Authorization": header} if header else {})
        assert_error(client.get("/api/v1/me"), 401, "unauthenticated")

    def test_revoked_token(self, world):
        token, raw = services.create_api_token(world.hq, "x")
        client = bearer(raw)
        assert client.get("/api/v1/me").status_code == 200
        assert client.delete(f"/api/v1/tokens/{token.pk}").status_code == 200
        assert_error(client.get("/api/v1/me"), 401)

    def test_session_cookie_is_not_api_auth(self, world):
        client = Client()
        client.force_login(world.hq)
        assert_error(client.get("/api/v1/me"), 401)

    def test_token_endpoints(self, world):
        client = api_client_for(world.advisor_a1)
        created = post_json(client, "/api/v1/tokens", {"name": "同步"})
        assert created.status_code == 201
        names = [t["name"] for t in client.get("/api/v1/tokens").json()]
        assert "同步" in names and "test" in names
        other = services.create_api_token(world.manager_a1, "m")[0]
        assert_error(client.delete(f"/api/v1/tokens/{other.pk}"), 404)


class TestErrors:
    def test_malformed_json(self, world):
        response = post_json(api_client_for(world.hq), "/api/v1/stores", "{not json")
        assert_error(response, 400, "malformed")

    def test_validation_422_with_fields(self, world):
        body = assert_error(
            post_json(api_client_for(world.hq), "/api/v1/stores", {"code": "x"}), 422
        )
        assert "name" in body["fields"]
        body = assert_error(
            post_json(
                api_client_for(world.hq), "/api/v1/stores", {"name": "店", "code": "Bad Code"}
            ),
            422,
        )
        assert "code" in body["fields"]

    def test_forbidden_403(self, world):
        response = post_json(
            api_client_for(world.manager_a1), "/api/v1/stores", {"name": "x", "code": "x"}
        )
        assert_error(response, 403, "forbidden")
        assert_error(api_client_for(world.tech_a1).get("/api/v1/staff"), 403)

    def test_conflict_409(self, world):
        body = {"name": "重复", "code": "bj-cy"}
        body = assert_error(
            post_json(api_client_for(world.hq), "/api/v1/stores", body), 409, "conflict"
        )
        assert "code" in body["fields"]

    def test_not_found_404(self, world):
        assert_error(api_client_for(world.hq).get("/api/v1/stores/999999"), 404, "not_found")
        assert_error(api_client_for(world.hq).get("/api/v1/no-such-thing"), 404)

    def test_store_of_another_org_404(self, world):
        assert_error(api_client_for(world.hq).get(f"/api/v1/stores/{world.b1.pk}"), 404)

    @override_settings(AUTOCRM_MAX_BODY_BYTES=1024)
    def test_oversized_body_413(self, world):
        before = Store.objects.count()
        payload = {"name": "x" * 5000, "code": "big"}
        assert_error(
            post_json(api_client_for(world.hq), "/api/v1/stores", payload), 413, "too_large"
        )
        assert Store.objects.count() == before

    def test_bad_cursor_422(self, world):
        body = assert_error(api_client_for(world.hq).get("/api/v1/stores", {"cursor": "%%%"}), 422)
        assert "cursor" in body["fields"]

    def test_nothing_changes_on_error(self, world):
        before = AuditLog.objects.count()
        post_json(api_client_for(world.manager_a1), "/api/v1/stores", {"name": "x", "code": "y"})
        post_json(api_client_for(world.hq), "/api/v1/stores", "{bad")
        # only the two token creations were recorded
        assert AuditLog.objects.count() == before + 2


class TestResources:
    def test_cursor_pagination(self, world):
        for i in range(7):
            services.create_store(world.hq, name=f"分页{i}", code=f"p{i}")
        client = api_client_for(world.hq)
        seen, cursor = [], None
        while True:
            params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/stores", params).json()
            seen += [row["id"] for row in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 10 and seen == sorted(seen)

    def test_create_and_patch_store(self, world):
        client = api_client_for(world.hq)
        created = post_json(
            client,
            "/api/v1/stores",
            {"name": "深圳南山店", "code": "sz-ns", "region_id": world.south.pk, "kind": "audio"},
        )
        assert created.status_code == 201
        store_id = created.json()["id"]
        patched = post_json(
            client, f"/api/v1/stores/{store_id}", {"is_active": False}, method="patch"
        )
        assert patched.json()["is_active"] is False and patched.json()["kind"] == "audio"

    def test_staff_lifecycle(self, world):
        client = api_client_for(world.manager_a1)
        created = post_json(
            client,
            "/api/v1/staff",
            {
                "username": "api.tech",
                "password": "Qiche#2026",
                "full_name": "李四",
                "phone": "13800001111",
                "roles": ["technician"],
                "store_ids": [world.a1.pk],
            },
        )
        assert created.status_code == 201, created.content
        staff_id = created.json()["id"]
        patched = post_json(
            client, f"/api/v1/staff/{staff_id}", {"full_name": "李四四"}, method="patch"
        )
        assert patched.json()["full_name"] == "李四四"
        assert client.post(f"/api/v1/staff/{staff_id}/deactivate").json()["is_active"] is False
        assert client.post(f"/api/v1/staff/{staff_id}/activate").json()["is_active"] is True

    def test_phone_masked_for_roles_without_need(self, world):
        services.update_staff(world.hq, world.advisor_a1, roles=["service_advisor"])
        page = api_client_for(world.manager_a1).get("/api/v1/staff").json()
        assert any(row["phone"].isdigit() for row in page["items"])
        me = api_client_for(world.tech_a1).get("/api/v1/me").json()
        assert me["phone"] == world.tech_a1.phone  # one's own number is not masked

    def test_regions_and_audit(self, world):
        client = api_client_for(world.hq)
        assert (
            post_json(client, "/api/v1/regions", {"name": "西北区", "code": "nw"}).status_code
            == 201
        )
        codes = {r["code"] for r in client.get("/api/v1/regions").json()["items"]}
        assert codes == {"north", "south", "nw"}
        items = client.get("/api/v1/audit", {"object_type": "core.Region"}).json()["items"]
        assert items[0]["changes"]["code"] == [None, "nw"] and items[0]["source"] == "api"
        assert_error(api_client_for(world.tech_a1).get("/api/v1/audit"), 403)


def test_openapi_docs_served_locally(world):
    client = Client()
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/auth/token", "/api/v1/me", "/api/v1/stores"} <= set(paths)
    docs = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle" in docs and "cdn" not in docs.lower()


def test_jobs_endpoint_for_hq_only(world):
    from autocrm.core import jobs

    jobs.beat("w1")
    jobs.selfcheck()
    body = api_client_for(world.hq).get("/api/v1/jobs").json()
    assert body["worker"]["ok"] is True
    assert body["runs"][0]["name"].endswith("selfcheck") and body["counts_24h"]["complete"] == 1
    assert_error(api_client_for(world.manager_a1).get("/api/v1/jobs"), 403)
