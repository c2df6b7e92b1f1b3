"""Customer and vehicle pages: list, forms, the 360° page and its quick actions, header search."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autocrm.core.models import AuditLog
from autocrm.customers.models import Customer, Interaction, MileageReading, Vehicle
from tests import customer_factories as cf
from tests.conftest import client_for

HTMX = {"HTTP_HX_REQUEST": "true"}


# --- list ---------------------------------------------------------------------------------


class TestList:
    def test_scoped_to_the_users_stores(self, world):
        cf.customer(world.a1, "张三")
        cf.customer(world.a2, "李四")
        body = client_for(world.manager_a2).get("/customers/").content.decode()
        assert "李四" in body and "张三" not in body
        body = client_for(world.hq).get("/customers/").content.decode()
        assert "李四" in body and "张三" in body

    def test_other_org_sees_nothing(self, world):
        cf.customer(world.a1, "张三")
        body = client_for(world.other_admin).get("/customers/").content.decode()
        assert "张三" not in body

    def test_htmx_filter_returns_rows_only(self, world):
        cf.customer(world.a1, "张三")
        cf.customer(world.a1, "王五")
        response = client_for(world.advisor_a1).get("/customers/", {"q": "zs"}, **HTMX)
        body = response.content.decode()
        assert "<html" not in body and "张三" in body and "王五" not in body

    def test_filters_by_tag_consent_and_brand(self, world):
        vip = cf.tag(world.org, "VIP")
        a = cf.customer(world.a1, "张三", consent_sms=True)
        a.tags.add(vip)
        b = cf.customer(world.a1, "李四")
        cf.vehicle(b, brand="比亚迪")
        client = client_for(world.advisor_a1)

        def names(**params):
            response = client.get("/customers/", params)
            return {c.name for c in response.context["customers"]}

        assert names(tag=vip.pk) == {"张三"}
        assert names(consent="sms") == {"张三"}
        assert names(consent="none") == {"李四"}
        assert names(brand="比亚迪") == {"李四"}
        assert names(tag="not-a-number") == {"张三", "李四"}  # ignored, not an error

    def test_insurance_expiring_filter(self, world):
        soon = cf.customer(world.a1, "张三")
        cf.vehicle(soon, insurance_expires_on=timezone.localdate() + datetime.timedelta(days=10))
        later = cf.customer(world.a1, "李四")
        cf.vehicle(later, insurance_expires_on=timezone.localdate() + datetime.timedelta(days=90))
        response = client_for(world.advisor_a1).get("/customers/", {"insurance_days": 30})
        assert [c.name for c in response.context["customers"]] == ["张三"]

    def test_mobile_always_masked_in_list_and_technicians_do_not_browse(self, world):
        cf.customer(world.a1, "张三", mobile="13812345678")
        body = client_for(world.advisor_a1).get("/customers/").content.decode()
        assert "138****5678" in body and "13812345678" not in body
        assert client_for(world.tech_a1).get("/customers/").status_code == 403

    def test_cursor_pagination_newest_first(self, world):
        made = [cf.customer(world.a1, f"客户{i}") for i in range(55)]
        client = client_for(world.advisor_a1)
        first = client.get("/customers/")
        assert [c.pk for c in first.context["customers"]] == [c.pk for c in made[::-1][:50]]
        cursor = first.context["next_cursor"]
        assert cursor
        second = client.get("/customers/", {"cursor": cursor})
        assert [c.pk for c in second.context["customers"]] == [c.pk for c in made[::-1][50:]]
        assert second.context["next_cursor"] is None
        assert client.get("/customers/", {"cursor": "garbage"}).status_code == 200

    def test_new_button_only_for_editors(self, world):
        assert "new-customer" in client_for(world.advisor_a1).get("/customers/").content.decode()
        assert "new-customer" not in client_for(world.tech_a1).get("/customers/").content.decode()

    def test_navigation_lists_customers_after_home(self, world):
        response = client_for(world.advisor_a1).get("/")
        assert [i["key"] for i in response.context["nav_items"]][:2] == ["home", "customer"]
        tech = client_for(world.tech_a1).get("/")
        keys = [i["key"] for i in tech.context["nav_items"]]
        assert keys[0] == "home" and "customer" not in keys and "floor" in keys


# --- customer form ------------------------------------------------------------------------


def customer_post(**overrides) -> dict:
    data = {"name": "张三", "kind": "person", "mobile": "13912345678", "gender": ""}
    data.update(overrides)
    return data


class TestCustomerForm:
    def test_create(self, world):
        source = cf.source(world.org, "抖音")
        tag = cf.tag(world.org, "VIP")
        client = client_for(world.advisor_a1)
        assert client.get("/customers/new/").status_code == 200
        response = client.post(
            "/customers/new/",
            customer_post(
                source=source.pk, tags=[tag.pk], birthday="1990-05-01", wechat_id="zs_wx"
            ),
        )
        customer = Customer.objects.get(name="张三")
        assert response.status_code == 302
        assert response["Location"] == f"/customers/{customer.pk}/"
        assert customer.home_store == world.a1  # the advisor's only store
        assert customer.source == source and list(customer.tags.all()) == [tag]
        assert customer.birthday == datetime.date(1990, 5, 1)
        assert customer.name_initials == "zs"
        assert AuditLog.objects.filter(
            object_type="customers.Customer", object_id=str(customer.pk), action="create"
        ).exists()

    def test_duplicate_mobile_links_to_existing(self, world):
        existing = cf.customer(world.a1, "老王", mobile="13912345678")
        response = client_for(world.advisor_a1).post("/customers/new/", customer_post())
        assert response.status_code == 200
        assert "mobile" in response.context["form"].errors
        assert f'href="/customers/{existing.pk}/"' in response.content.decode()
        assert Customer.objects.count() == 1

    def test_duplicate_in_a_store_out_of_scope_has_no_link(self, world):
        existing = cf.customer(world.a2, "老王", mobile="13912345678")
        response = client_for(world.advisor_a1).post("/customers/new/", customer_post())
        assert "mobile" in response.context["form"].errors
        assert response.context["existing_url"] is None
        assert f"/customers/{existing.pk}/" not in response.content.decode()

    def test_service_errors_land_on_their_fields(self, world):
        future = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
        response = client_for(world.advisor_a1).post(
            "/customers/new/", customer_post(mobile="12345", birthday=future)
        )
        errors = response.context["form"].errors
        assert response.status_code == 200 and "mobile" in errors
        assert not Customer.objects.exists()
        response = client_for(world.advisor_a1).post(
            "/customers/new/", customer_post(birthday=future)
        )
        assert set(response.context["form"].errors) == {"birthday"}

    def test_store_is_required_for_several_stores(self, world):
        response = client_for(world.hq).post("/customers/new/", customer_post())
        assert "home_store" in response.context["form"].errors
        response = client_for(world.hq).post(
            "/customers/new/", customer_post(home_store=world.a3.pk)
        )
        assert response.status_code == 302
        assert Customer.objects.get().home_store == world.a3

    def test_edit(self, world):
        customer = cf.customer(world.a1, "张三")
        tag = cf.tag(world.org, "车队")
        client = client_for(world.advisor_a1)
        page = client.get(f"/customers/{customer.pk}/edit/")
        assert page.context["form"].initial["name"] == "张三"
        response = client.post(
            f"/customers/{customer.pk}/edit/",
            customer_post(name="张三丰", mobile=customer.mobile, tags=[tag.pk], level="金卡"),
        )
        assert response.status_code == 302
        customer.refresh_from_db()
        assert customer.name == "张三丰" and customer.level == "金卡"
        assert list(customer.tags.all()) == [tag]

    def test_technician_cannot_edit(self, world):
        customer = cf.customer(world.a1)
        client = client_for(world.tech_a1)
        assert client.get("/customers/new/").status_code == 403
        assert client.get(f"/customers/{customer.pk}/edit/").status_code == 403

    def test_other_store_customer_not_found(self, world):
        customer = cf.customer(world.a1)
        client = client_for(world.manager_a2)
        assert client.get(f"/customers/{customer.pk}/").status_code == 404
        assert client.get(f"/customers/{customer.pk}/edit/").status_code == 404


# --- 360° page ----------------------------------------------------------------------------


class TestProfilePage:
    def test_renders_vehicles_timeline_and_stats(self, world):
        customer = cf.customer(
            world.a1, "张三", visit_count=3, lifetime_spend="1234.5", level="金卡"
        )
        car = cf.vehicle(customer, plate="京A12345", brand="大众", model="帕萨特", km=12000)
        cf.interaction(customer, "电话确认保养时间", body="周六上午", kind="call")
        response = client_for(world.advisor_a1).get(f"/customers/{customer.pk}/")
        body = response.content.decode()
        assert response.status_code == 200
        assert "京A12345" in body and "帕萨特" in body and car.vin in body
        assert f'href="/vehicles/{car.pk}/edit/"' in body
        assert f'href="/vehicles/new/?owner={customer.pk}"' in body
        assert "电话确认保养时间" in body and "周六上午" in body
        assert ("1,234.50" in body or "1234.50" in body) and "金卡" in body
        assert "13" in body and customer.mobile not in body  # masked until revealed

    def test_past_vehicles_listed(self, world):
        from autocrm.customers import services

        first = cf.customer(world.a1, "张三")
        second = cf.customer(world.a1, "李四")
        car = cf.vehicle(first, plate="京B54321")
        services.transfer_vehicle(world.advisor_a1, car, second)
        response = client_for(world.advisor_a1).get(f"/customers/{first.pk}/")
        assert [p.vehicle for p in response.context["profile"].past_vehicles] == [car]
        assert "京B54321" in response.content.decode()

    def _profile_queries(self, client, customer) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/customers/{customer.pk}/").status_code == 200
        return len(captured)

    @pytest.mark.parametrize("entries", [5, 60])
    def test_bounded_number_of_queries(self, world, entries, django_assert_max_num_queries):
        customer = cf.customer(world.a1, "张三")
        for _ in range(3):
            cf.vehicle(customer, km=1000)
        for i in range(entries):
            cf.interaction(customer, f"记录{i}", staff=world.advisor_a1)
        client = client_for(world.advisor_a1)
        client.get("/")  # session and user caches warmed the same way for both sizes
        with django_assert_max_num_queries(15):
            response = client.get(f"/customers/{customer.pk}/")
        assert response.status_code == 200

    def test_query_count_does_not_grow_with_history(self, world):
        small = cf.customer(world.a1, "张三")
        big = cf.customer(world.a1, "李四")
        for c, n in ((small, 5), (big, 60)):
            for _ in range(3):
                cf.vehicle(c, km=1000)
            for i in range(n):
                cf.interaction(c, f"记录{i}", staff=world.advisor_a1)
        client = client_for(world.advisor_a1)
        client.get("/")
        assert self._profile_queries(client, small) == self._profile_queries(client, big)

    def test_html_in_name_is_escaped(self, world):
        customer = cf.customer(world.a1, "<script>alert(1)</script>", mobile="13700001111")
        cf.vehicle(customer, plate="京A88888")
        client = client_for(world.advisor_a1)
        for url in (f"/customers/{customer.pk}/", "/customers/"):
            body = client.get(url).content.decode()
            assert "<script>alert(1)</script>" not in body
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        body = client.get("/search/", {"q": "A888"}, **HTMX).content.decode()
        assert "<script>alert" not in body and "&lt;script&gt;" in body


class TestReveal:
    def test_advisor_sees_number_and_it_is_audited(self, world):
        customer = cf.customer(world.a1, "张三", mobile="13812345678")
        client = client_for(world.advisor_a1)
        assert (
            'data-testid="reveal-mobile"'
            in client.get(f"/customers/{customer.pk}/").content.decode()
        )
        response = client.post(f"/customers/{customer.pk}/reveal/", **HTMX)
        assert response.status_code == 200
        body = response.content.decode()
        assert "13812345678" in body and "<html" not in body
        entry = AuditLog.objects.get(action="reveal", object_id=str(customer.pk))
        assert entry.user_id == world.advisor_a1.pk and entry.source == "web"

    def test_without_htmx_the_page_shows_the_number(self, world):
        customer = cf.customer(world.a1, "张三", mobile="13812345678")
        response = client_for(world.advisor_a1).post(f"/customers/{customer.pk}/reveal/")
        assert response.status_code == 200 and "13812345678" in response.content.decode()

    def test_technician_refused_and_button_hidden(self, world):
        customer = cf.customer(world.a1, "张三", mobile="13812345678")
        client = client_for(world.tech_a1)
        page = client.get(f"/customers/{customer.pk}/").content.decode()
        assert 'data-testid="reveal-mobile"' not in page and "138****5678" in page
        response = client.post(f"/customers/{customer.pk}/reveal/", **HTMX)
        assert response.status_code == 403
        assert "13812345678" not in response.content.decode()
        assert not AuditLog.objects.filter(action="reveal").exists()

    def test_get_not_allowed(self, world):
        customer = cf.customer(world.a1)
        assert (
            client_for(world.advisor_a1).get(f"/customers/{customer.pk}/reveal/").status_code == 405
        )


class TestQuickActions:
    @pytest.mark.parametrize("kind", ["note", "call"])
    def test_adds_to_timeline(self, world, kind):
        customer = cf.customer(world.a1, "张三")
        response = client_for(world.tech_a1).post(
            f"/customers/{customer.pk}/interactions/",
            {"kind": kind, "summary": "客户说下周来", "body": "换机油"},
            **HTMX,
        )
        assert response.status_code == 200
        entry = Interaction.objects.get(customer=customer)
        assert (entry.kind, entry.summary, entry.body) == (kind, "客户说下周来", "换机油")
        assert entry.staff == world.tech_a1
        body = response.content.decode()
        assert "<html" not in body and 'id="timeline"' in body and "客户说下周来" in body

    def test_empty_summary_refused_inline(self, world):
        customer = cf.customer(world.a1, "张三")
        response = client_for(world.advisor_a1).post(
            f"/customers/{customer.pk}/interactions/", {"kind": "note", "summary": " "}, **HTMX
        )
        assert response.status_code == 422
        assert "summary" in response.context["interaction_form"].errors
        assert not Interaction.objects.exists()

    def test_without_htmx_redirects_back(self, world):
        customer = cf.customer(world.a1, "张三")
        response = client_for(world.advisor_a1).post(
            f"/customers/{customer.pk}/interactions/", {"kind": "call", "summary": "回访"}
        )
        assert response.status_code == 302 and response["Location"] == f"/customers/{customer.pk}/"
        assert Interaction.objects.filter(kind="call").count() == 1

    def test_other_store_cannot_add(self, world):
        customer = cf.customer(world.a1, "张三")
        response = client_for(world.manager_a2).post(
            f"/customers/{customer.pk}/interactions/", {"kind": "note", "summary": "x"}, **HTMX
        )
        assert response.status_code == 404


# --- vehicles -----------------------------------------------------------------------------


def vehicle_post(**overrides) -> dict:
    data = {"plate": "京A12345", "vin": "", "brand": "大众", "model": "朗逸", "fuel": "petrol"}
    data.update(overrides)
    return data


class TestVehicleForm:
    def test_create_goes_to_owner(self, world):
        owner = cf.customer(world.a1, "张三")
        client = client_for(world.advisor_a1)
        assert client.get(f"/vehicles/new/?owner={owner.pk}").status_code == 200
        response = client.post(
            f"/vehicles/new/?owner={owner.pk}", vehicle_post(plate="京a 12345", mileage_km=35000)
        )
        assert response.status_code == 302 and response["Location"] == f"/customers/{owner.pk}/"
        vehicle = Vehicle.objects.get()
        assert vehicle.plate == "京A12345" and vehicle.owner == owner
        assert vehicle.current_mileage == 35000 and vehicle.home_store == world.a1

    def test_bad_check_digit_asks_for_confirmation(self, world):
        owner = cf.customer(world.a1, "张三")
        vin = cf.bad_check_digit_vin()
        client = client_for(world.advisor_a1)
        url = f"/vehicles/new/?owner={owner.pk}"
        response = client.post(url, vehicle_post(vin=vin))
        assert response.status_code == 200
        assert "vin" in response.context["form"].errors
        assert response.context["show_vin_confirmation"]
        assert 'name="confirm_vin"' in response.content.decode()
        assert not Vehicle.objects.exists()

        response = client.post(url, vehicle_post(vin=vin, confirm_vin="on"))
        assert response.status_code == 302
        vehicle = Vehicle.objects.get()
        assert vehicle.vin == vin and not vehicle.vin_check_ok

    def test_malformed_vin_gets_no_confirmation(self, world):
        owner = cf.customer(world.a1, "张三")
        response = client_for(world.advisor_a1).post(
            f"/vehicles/new/?owner={owner.pk}", vehicle_post(vin="LSVAB12")
        )
        assert "vin" in response.context["form"].errors
        assert not response.context["show_vin_confirmation"]
        assert 'name="confirm_vin"' not in response.content.decode()

    def test_unusual_plate_needs_override(self, world):
        owner = cf.customer(world.a1, "张三")
        client = client_for(world.advisor_a1)
        url = f"/vehicles/new/?owner={owner.pk}"
        response = client.post(url, vehicle_post(plate="WJ12345"))
        assert "plate" in response.context["form"].errors
        assert 'name="plate_override"' in response.content.decode()
        response = client.post(url, vehicle_post(plate="WJ12345", plate_override="on"))
        assert response.status_code == 302 and Vehicle.objects.get().plate == "WJ12345"

    def test_duplicate_plate_links_to_existing_owner(self, world):
        first = cf.customer(world.a1, "张三")
        cf.vehicle(first, plate="京A12345")
        second = cf.customer(world.a1, "李四")
        response = client_for(world.advisor_a1).post(
            f"/vehicles/new/?owner={second.pk}", vehicle_post()
        )
        assert "plate" in response.context["form"].errors
        assert response.context["existing_url"] == f"/customers/{first.pk}/"
        assert f'href="/customers/{first.pk}/"' in response.content.decode()

    def test_edit_keeps_accepted_vin_and_goes_to_owner(self, world):
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner, plate="京A12345", vin=cf.bad_check_digit_vin(), brand="大众")
        vehicle.vin_check_ok = False
        vehicle.save()
        client = client_for(world.advisor_a1)
        page = client.get(f"/vehicles/{vehicle.pk}/edit/")
        assert "mileage_km" not in page.context["form"].fields
        response = client.post(
            f"/vehicles/{vehicle.pk}/edit/",
            vehicle_post(vin=vehicle.vin, brand="一汽大众", insurance_expires_on="2027-03-01"),
        )
        assert response.status_code == 302 and response["Location"] == f"/customers/{owner.pk}/"
        vehicle.refresh_from_db()
        assert vehicle.brand == "一汽大众"
        assert vehicle.insurance_expires_on == datetime.date(2027, 3, 1)

    def test_vehicle_page_redirects_to_owner(self, world):
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner)
        response = client_for(world.tech_a1).get(f"/vehicles/{vehicle.pk}/")
        assert response.status_code == 302 and response["Location"] == f"/customers/{owner.pk}/"

    def test_owner_out_of_scope_is_not_found(self, world):
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner)
        client = client_for(world.manager_a2)
        assert client.get(f"/vehicles/new/?owner={owner.pk}").status_code == 404
        assert client.get(f"/vehicles/{vehicle.pk}/edit/").status_code == 404
        assert client_for(world.advisor_a1).get("/vehicles/new/").status_code == 404


class TestMileage:
    def test_lower_reading_refused_inline(self, world):
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner, km=50000)
        response = client_for(world.advisor_a1).post(
            f"/vehicles/{vehicle.pk}/mileage/", {"km": 40000, "source": "manual"}, **HTMX
        )
        assert response.status_code == 422
        errors = response.context["mileage_form"].errors
        assert "km" in errors and "50000" in errors["km"][0]
        body = response.content.decode()
        assert "<html" not in body and f'id="vehicle-{vehicle.pk}"' in body
        assert vehicle.mileage.count() == 1

    def test_correction_with_reason_lowers_it(self, world):
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner, km=50000)
        response = client_for(world.advisor_a1).post(
            f"/vehicles/{vehicle.pk}/mileage/",
            {"km": 5000, "source": "correction", "note": "多输了一个零"},
            **HTMX,
        )
        assert response.status_code == 200
        vehicle.refresh_from_db()
        assert vehicle.current_mileage == 5000

    def test_higher_reading_updates_card(self, world):
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner, km=50000)
        today = timezone.localdate()
        response = client_for(world.advisor_a1).post(
            f"/vehicles/{vehicle.pk}/mileage/",
            {"km": 52000, "read_on": today.isoformat(), "source": "customer"},
            **HTMX,
        )
        assert response.status_code == 200
        assert "52,000" in response.content.decode() or "52000" in response.content.decode()
        reading = vehicle.mileage.order_by("-id").first()
        assert (reading.km, reading.source) == (52000, MileageReading.Source.CUSTOMER)

    def test_card_keeps_custom_fields(self, world):
        from autocrm.core import customfields

        customfields.create_field(world.hq, target="vehicle", key="film", label_zh="贴膜品牌")
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner, km=50000, custom={"film": "3M 晶锐"})
        client = client_for(world.advisor_a1)
        assert "3M 晶锐" in client.get(f"/customers/{owner.pk}/").content.decode()
        response = client.post(
            f"/vehicles/{vehicle.pk}/mileage/", {"km": 52000, "source": "manual"}, **HTMX
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert "贴膜品牌" in body and "3M 晶锐" in body

    def test_technician_cannot_record(self, world):
        owner = cf.customer(world.a1, "张三")
        vehicle = cf.vehicle(owner, km=50000)
        response = client_for(world.tech_a1).post(
            f"/vehicles/{vehicle.pk}/mileage/", {"km": 60000, "source": "manual"}, **HTMX
        )
        assert response.status_code == 403


# --- header search ------------------------------------------------------------------------


class TestSearch:
    def test_plate_fragment_and_pinyin_initials(self, world):
        customer = cf.customer(world.a1, "张三丰", mobile="13812345678")
        cf.vehicle(customer, plate="京A7K512")
        client = client_for(world.advisor_a1)
        for q in ("7K51", "A7K", "zsf", "zhangsan"):
            response = client.get("/search/", {"q": q}, **HTMX)
            body = response.content.decode()
            assert f'href="/customers/{customer.pk}/"' in body, q
            assert "张三丰" in body and "138****5678" in body and "13812345678" not in body
        plate_hit = client.get("/search/", {"q": "7K51"}, **HTMX).context["hits"][0]
        assert plate_hit.matched == "plate"

    def test_search_page_lists_customers_before_stores(self, world):
        cf.customer(world.a1, "北京客户")
        body = client_for(world.hq).get("/search/", {"q": "北京"}).content.decode()
        assert body.index("北京客户") < body.index("北京朝阳店")

    def test_enter_on_exact_plate_or_mobile_opens_the_customer(self, world):
        customer = cf.customer(world.a1, "张三", mobile="13812345678")
        cf.vehicle(customer, plate="京A7K512")
        client = client_for(world.advisor_a1)
        for q in ("京A7K512", "京a7k512", "13812345678"):
            response = client.get("/search/", {"q": q})
            assert response.status_code == 302, q
            assert response["Location"] == f"/customers/{customer.pk}/"
        # As-you-type (htmx) never redirects; a fragment lists the hit.
        response = client.get("/search/", {"q": "京A7K512"}, **HTMX)
        assert response.status_code == 200 and "张三" in response.content.decode()

    def test_no_redirect_out_of_scope(self, world):
        customer = cf.customer(world.a1, "张三", mobile="13812345678")
        cf.vehicle(customer, plate="京A7K512")
        client = client_for(world.manager_a2)
        for q in ("京A7K512", "13812345678"):
            response = client.get("/search/", {"q": q})
            assert response.status_code == 200
            assert "张三" not in response.content.decode()
