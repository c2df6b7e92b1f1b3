"""Pages: sign-in and its safety, language, navigation by role, admin screens, health, jobs."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from autocrm.core import jobs
from autocrm.core.models import AuditLog, JobRun, Store, User, WorkerHeartbeat
from tests.conftest import client_for


def sign_in(client: Client, username: str, password: str = "Qiche#2026", **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


class TestSignIn:
    def test_success_redirects_home(self, world):
        client = Client()
        response = sign_in(client, "mgr-a1")
        assert response.status_code == 302 and response["Location"] == "/"
        assert client.get("/").status_code == 200

    def test_anonymous_is_sent_to_login(self, world):
        response = Client().get("/staff/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")

    @pytest.mark.parametrize("username", ["mgr-a1", "nobody"])
    def test_wrong_password_or_unknown_user(self, world, username):
        response = sign_in(Client(), username, "wrong-password")
        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
        assert "_auth_user_id" not in response.wsgi_request.session

    def test_error_message_is_chinese_by_default(self, world):
        body = sign_in(Client(), "mgr-a1", "wrong").content.decode()
        assert "用户名或密码错误" in body

    @override_settings(AXES_FAILURE_LIMIT=3)
    def test_lockout_after_limit(self, world, caplog):
        client = Client()
        for _ in range(2):
            assert sign_in(client, "mgr-a1", "bad").status_code == 200
        locked = sign_in(client, "mgr-a1", "bad")
        assert locked.status_code == 429
        assert "locked_message" in locked.context
        # the right password is refused while locked, and nothing is logged in
        again = sign_in(client, "mgr-a1")
        assert again.status_code == 429
        assert client.get("/").status_code == 302
        assert any("locked out" in r.getMessage() for r in caplog.records)

    def test_deactivated_cannot_sign_in(self, world):
        world.tech_a1.is_active = False
        world.tech_a1.save()
        response = sign_in(Client(), "tech-a1")
        assert response.status_code == 200 and response.context["form"].errors

    def test_session_expires(self, world):
        client = Client()
        sign_in(client, "mgr-a1")
        session = client.session
        session.set_expiry(-1)
        session.save()
        assert client.get("/").status_code == 302

    def test_session_age_is_a_working_day_of_inactivity(self, world):
        import datetime

        from django.contrib.sessions.models import Session
        from django.utils import timezone

        from autocrm.core.middleware import SessionRefreshMiddleware

        assert settings.SESSION_COOKIE_AGE == 8 * 3600
        assert settings.SESSION_COOKIE_HTTPONLY
        client = Client()
        sign_in(client, "mgr-a1")
        assert client.get("/").status_code == 200
        session = client.session
        key = session.session_key

        def expires():
            return Session.objects.get(session_key=key).expire_date

        # Seven hours pass until the next request: the expiry moves a working day forward.
        session[SessionRefreshMiddleware.KEY] -= 7 * 3600
        session.save()
        Session.objects.filter(pk=key).update(
            expire_date=timezone.now() + datetime.timedelta(hours=1)
        )
        assert client.get("/").status_code == 200
        assert expires() > timezone.now() + datetime.timedelta(hours=7, minutes=59)
        # A request a moment later does not write the session again.
        earlier = timezone.now() + datetime.timedelta(hours=1)
        Session.objects.filter(pk=key).update(expire_date=earlier)
        assert client.get("/").status_code == 200
        assert expires() == earlier

    def test_logout_needs_post(self, world):
        client = client_for(world.hq)
        assert client.get("/logout/").status_code == 405
        assert client.post("/logout/").status_code == 302
        assert client.get("/").status_code == 302

    def test_password_change(self, world):
        client = client_for(world.advisor_a1)
        response = client.post(
            "/account/password/",
            {
                "old_password": "Qiche#2026",
                "new_password1": "Xinmima#2027",
                "new_password2": "Xinmima#2027",
            },
        )
        assert response.status_code == 302
        world.advisor_a1.refresh_from_db()
        assert world.advisor_a1.check_password("Xinmima#2027")


class TestSafety:
    def test_csrf_enforced(self, world):
        client = Client(enforce_csrf_checks=True)
        client.force_login(world.hq)
        response = client.post("/stores/new/", {"name": "x", "code": "x", "kind": "repair"})
        assert response.status_code == 403
        assert not Store.objects.filter(code="x").exists()

    def test_security_headers(self, world):
        response = client_for(world.hq).get("/")
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"

    def test_pages_reference_no_outside_host(self, world):
        body = client_for(world.hq).get("/").content.decode()
        for marker in ("http://", "https://", "//cdn"):
            assert marker not in body.replace('xmlns="http://www.w3.org', "")

    @override_settings(AUTOCRM_MAX_BODY_BYTES=1000)
    def test_oversized_form_413(self, world):
        response = client_for(world.hq).post(
            "/stores/new/", {"name": "x" * 5000, "code": "big", "kind": "repair"}
        )
        assert response.status_code == 413
        assert not Store.objects.filter(code="big").exists()

    def test_open_redirect_refused_on_language_switch(self, world):
        response = Client().post("/language/", {"language": "en", "next": "https://evil.example/"})
        assert response["Location"] == "/"

    def test_404_page_for_unknown_path(self, world):
        response = client_for(world.hq).get("/no-such-page/")
        assert response.status_code == 404
        assert "text/html" in response["Content-Type"]


class TestLanguage:
    def test_default_is_chinese(self, world):
        body = client_for(world.hq).get("/").content.decode()
        assert 'lang="zh-hans"' in body and "工作台" in body

    def test_switch_is_remembered(self, world):
        client = client_for(world.hq)
        response = client.post("/language/", {"language": "en", "next": "/stores/"})
        assert response.status_code == 302 and response["Location"] == "/stores/"
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
        assert 'lang="en"' in client.get("/").content.decode()
        world.hq.refresh_from_db()
        assert world.hq.language == "en"
        # a new browser: signing in applies the saved preference
        fresh = Client()
        response = sign_in(fresh, "hq")
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
        assert 'lang="en"' in fresh.get("/").content.decode()

    def test_unknown_language_falls_back(self, world):
        client = client_for(world.hq)
        response = client.post("/language/", {"language": "xx"})
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"


class TestNavigationByRole:
    def nav(self, user: User) -> list[str]:
        """The main menu's keys, then those of its folded Admin menu."""
        response = client_for(user).get("/")
        items = [*response.context["nav_items"], *response.context["nav_admin"]]
        return [item["key"] for item in items]

    def test_each_role_sees_its_menu(self, world):
        hq = self.nav(world.hq)
        assert hq[:2] == ["home", "customer"]
        assert {
            "workorder",
            "appointment",
            "import",
            "store",
            "staff",
            "audit",
            "job",
            "field",
        } <= set(hq)
        manager = set(self.nav(world.manager_a1))
        assert {"customer", "workorder", "appointment", "staff", "audit"} <= manager
        assert not {"job", "field"} & manager
        advisor = set(self.nav(world.advisor_a1))
        assert {"customer", "workorder", "appointment", "import", "store"} <= advisor
        assert not {"staff", "audit", "job", "field"} & advisor
        assert "board" in advisor and "board" in manager and "board" in set(hq)
        tech = set(self.nav(world.tech_a1))
        assert {"home", "board"} <= tech
        assert not {"customer", "workorder", "appointment", "import", "store", "staff"} & tech

    @pytest.mark.parametrize("path", ["/stores/", "/staff/", "/audit/", "/jobs/", "/staff/new/"])
    def test_technician_refused_office_pages(self, world, path):
        assert client_for(world.tech_a1).get(path).status_code == 403

    def test_store_manager_refused_store_admin(self, world):
        client = client_for(world.manager_a1)
        assert client.get("/stores/new/").status_code == 403
        assert client.get("/jobs/").status_code == 403
        assert client.post("/regions/", {"name": "x", "code": "x"}).status_code == 403


class TestAdminScreens:
    def test_hq_creates_store(self, world):
        client = client_for(world.hq)
        response = client.post(
            "/stores/new/",
            {
                "name": "杭州西湖店",
                "code": "hz-xh",
                "kind": "audio",
                "region": world.south.pk,
                "city": "杭州",
                "is_active": "on",
            },
        )
        store = Store.objects.get(code="hz-xh")
        assert response["Location"] == f"/stores/{store.pk}/"
        assert store.kind == "audio" and store.region == world.south

    def test_store_form_shows_service_refusal(self, world):
        response = client_for(world.hq).post(
            "/stores/new/", {"name": "重复", "code": "bj-cy", "kind": "repair"}
        )
        assert response.status_code == 200
        assert "code" in response.context["form"].errors

    def test_manager_adds_and_deactivates_staff(self, world):
        client = client_for(world.manager_a1)
        response = client.post(
            "/staff/new/",
            {
                "username": "xiaowang",
                "full_name": "小王",
                "phone": "13700001111",
                "password": "Qiche#2026",
                "roles": ["technician"],
                "scope": "store",
                "stores": [world.a1.pk],
            },
        )
        assert response.status_code == 302, response.context["form"].errors
        staff = User.objects.get(username="xiaowang")
        response = client.post(f"/staff/{staff.pk}/active/", {"active": "0"})
        assert response.status_code == 302
        staff.refresh_from_db()
        assert not staff.is_active
        assert AuditLog.objects.filter(
            object_type="core.User", object_id=str(staff.pk), action="update", source="web"
        ).exists()

    def test_staff_form_refuses_other_store(self, world):
        response = client_for(world.manager_a1).post(
            "/staff/new/",
            {
                "username": "x1",
                "full_name": "某",
                "password": "Qiche#2026",
                "roles": ["technician"],
                "scope": "store",
                "stores": [world.a2.pk],
            },
        )
        assert response.status_code == 200
        assert not User.objects.filter(username="x1").exists()

    def test_regions_page(self, world):
        client = client_for(world.hq)
        assert client.post("/regions/", {"name": "华东区", "code": "east"}).status_code == 302
        assert "华东区" in client.get("/regions/").content.decode()

    def test_htmx_filter_returns_rows_only(self, world):
        response = client_for(world.hq).get("/staff/", {"q": "mgr"}, HTTP_HX_REQUEST="true")
        body = response.content.decode()
        assert "<html" not in body and "mgr-a1" in body and "sa-a1" not in body

    def test_account_tokens(self, world):
        client = client_for(world.advisor_a1)
        response = client.post("/account/", {"name": "Excel"})
        raw = response.context["new_token"]
        assert raw.startswith("acrm_") and raw in response.content.decode()
        assert response["Cache-Control"] == "no-store"
        token = world.advisor_a1.api_tokens.get()
        assert raw not in client.get("/account/").content.decode()
        client.post(f"/account/tokens/{token.pk}/revoke/")
        token.refresh_from_db()
        assert token.revoked_at is not None


class TestHealthAndJobs:
    def test_healthz_ok_with_fresh_heartbeat(self, world):
        jobs.beat("test-worker")
        response = Client().get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["database"]["ok"] and body["worker"]["ok"]
        assert "test-worker" not in response.content.decode()

    def test_healthz_reads_no_session_or_user(self, world):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = client_for(world.hq)  # a signed-in browser polling the health check
        with CaptureQueriesContext(connection) as ctx:
            client.get("/healthz")
        tables = " ".join(q["sql"] for q in ctx.captured_queries)
        assert "django_session" not in tables and "core_user" not in tables

    def test_changes_still_name_who_made_them(self, world):
        client = client_for(world.hq)
        client.post("/regions/", {"name": "西北区", "code": "nw"})
        entry = AuditLog.objects.filter(object_type="core.Region", action="create").latest("id")
        assert entry.object_repr.startswith("西北区")
        assert (entry.user_id, entry.source) == (world.hq.pk, "web")

    def test_healthz_503_without_worker(self, world):
        response = Client().get("/healthz")
        assert response.status_code == 503 and response.json()["worker"]["ok"] is False

    def test_healthz_503_with_stale_heartbeat(self, world):
        old = timezone.now() - datetime.timedelta(minutes=10)
        WorkerHeartbeat.objects.create(worker="old", started_at=old, seen_at=old)
        assert Client().get("/healthz").status_code == 503

    def test_jobs_page_runs_check_job(self, world):
        client = client_for(world.hq)
        response = client.post("/jobs/")
        assert response.status_code == 302
        run = JobRun.objects.get(name__endswith="selfcheck")
        assert run.status == JobRun.Status.COMPLETE
        body = client.get("/jobs/").content.decode()
        assert "selfcheck" in body

    def test_failed_job_retries_with_backoff(self, world):
        from huey.contrib.djhuey import HUEY

        jobs.selfcheck(fail_times=2)
        first = JobRun.objects.get()
        assert first.status == JobRun.Status.RETRYING and "planned failure 1" in first.error

        def now():
            return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)

        (retry,) = HUEY.scheduled()
        first_gap = (retry.eta - now()).total_seconds()
        HUEY.flush()
        HUEY.execute(retry, timestamp=retry.eta)  # the worker runs it when due
        (retry2,) = HUEY.scheduled()
        second_gap = (retry2.eta - now()).total_seconds()
        HUEY.flush()
        HUEY.execute(retry2, timestamp=retry2.eta)
        assert 4 < first_gap <= 5 and 9 < second_gap <= 10  # 5 s, then 10 s
        statuses = list(JobRun.objects.order_by("id").values_list("status", flat=True))
        assert statuses == ["retrying", "retrying", "complete"]
        page = client_for(world.hq).get("/jobs/")
        assert dict(page.context["count_rows"])[JobRun.Status.RETRYING.label] == 2


def test_manager_edits_own_name_without_touching_roles(world):
    client = client_for(world.manager_a1)
    response = client.post(
        f"/staff/{world.manager_a1.pk}/",
        {
            "full_name": "新店长",
            "phone": "13611112222",
            "roles": ["technician"],
            "scope": "store",
            "stores": [world.a1.pk],
        },
    )
    assert response.status_code == 302
    world.manager_a1.refresh_from_db()
    assert world.manager_a1.full_name == "新店长"
    assert world.manager_a1.role_codes() == {"store_manager"}
