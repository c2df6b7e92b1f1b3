"""List filters on custom fields: the controls on the customer list, the selector, the cursor
links, the Excel export and the API; a field the role may not see is neither offered nor
applied when forged in the URL."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook

from autocrm.core import customfields
from autocrm.customers import customfilters, selectors
from tests import customer_factories as cf
from tests.conftest import api_client_for, client_for

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def fields(world):
    def make(key, label, type_, **kw):
        return customfields.create_field(
            world.hq, target="customer", key=key, label_zh=label, type=type_, **kw
        )

    make("tier", "客户等级", "choice", choices=["金", "银"])
    make("vip", "大客户", "boolean")
    make("film", "贴膜品牌", "text")
    make("score", "满意度", "integer")
    make("renew_on", "续保日", "date")
    make("notes_x", "长备注", "long_text")  # not filterable
    make("internal", "内部评级", "choice", choices=["A", "B"], visible_roles=["hq_admin"])


@pytest.fixture
def people(world, fields):
    return {
        "甲": cf.customer(
            world.a1,
            "甲",
            custom={
                "tier": "金",
                "vip": True,
                "film": "3M 晶锐",
                "score": 9,
                "renew_on": "2026-03-01",
                "internal": "A",
            },
        ),
        "乙": cf.customer(
            world.a1,
            "乙",
            custom={
                "tier": "银",
                "vip": False,
                "film": "龙膜",
                "score": 4,
                "renew_on": "2026-09-01",
                "internal": "B",
            },
        ),
        "丙": cf.customer(world.a1, "丙"),
    }


def names_of(qs) -> set[str]:
    return {c.name for c in qs}


def listed(user, custom) -> set[str]:
    return names_of(selectors.customer_list(user, selectors.CustomerFilter(custom=custom)))


class TestSelector:
    @pytest.mark.parametrize(
        ("custom", "expected"),
        [
            ({"tier": "金"}, {"甲"}),
            ({"vip": True}, {"甲"}),
            ({"vip": False}, {"乙"}),
            ({"film": {"contains": "3m"}}, {"甲"}),  # any case
            ({"score": {"min": 5}}, {"甲"}),
            ({"score": {"max": 5}}, {"乙"}),
            ({"score": {"min": 4, "max": 9}}, {"甲", "乙"}),
            ({"renew_on": {"min": "2026-06-01"}}, {"乙"}),
            ({"renew_on": {"min": "2026-01-01", "max": "2026-03-01"}}, {"甲"}),
            ({"tier": "金", "score": {"max": 5}}, set()),
        ],
    )
    def test_filters(self, world, people, custom, expected):
        assert listed(world.advisor_a1, custom) == expected

    def test_hidden_field_is_ignored(self, world, people):
        assert listed(world.advisor_a1, {"internal": "A"}) == {"甲", "乙", "丙"}
        assert listed(world.hq, {"internal": "A"}) == {"甲"}

    def test_unknown_keys_and_wrong_operations_are_ignored(self, world, people):
        assert listed(world.advisor_a1, {"nope": "x", "tier": {"contains": "金"}}) == {
            "甲",
            "乙",
            "丙",
        }


class TestListPage:
    def test_controls_only_for_visible_filterable_fields(self, world, people):
        form = client_for(world.advisor_a1).get("/customers/").context["form"]
        offered = {n for n in form.fields if n.startswith("cf_")}
        assert offered == {"cf_tier", "cf_vip", "cf_film", "cf_score.min", "cf_score.max"} | {
            "cf_renew_on.min",
            "cf_renew_on.max",
        }
        body = client_for(world.hq).get("/customers/").content.decode()
        assert 'name="cf_internal"' in body and 'name="cf_notes_x"' not in body

    def test_filter_from_the_query_string(self, world, people):
        client = client_for(world.advisor_a1)
        page = client.get("/customers/", {"cf_tier": "金", "cf_film": "晶锐"})
        assert names_of(page.context["customers"]) == {"甲"}
        page = client.get("/customers/", {"cf_score.min": "5", "cf_vip": "1"})
        assert names_of(page.context["customers"]) == {"甲"}
        page = client.get("/customers/", {"cf_renew_on.max": "2026-12-31", "cf_vip": "0"})
        assert names_of(page.context["customers"]) == {"乙"}

    def test_forged_hidden_field_and_bad_values_are_ignored(self, world, people):
        client = client_for(world.advisor_a1)
        page = client.get("/customers/", {"cf_internal": "A"})
        assert names_of(page.context["customers"]) == {"甲", "乙", "丙"}
        assert 'name="cf_internal"' not in page.content.decode()
        page = client.get("/customers/", {"cf_score.min": "lots", "cf_tier": "铜"})
        assert names_of(page.context["customers"]) == {"甲", "乙", "丙"}
        # the same URL in the hands of someone who may see the field does filter
        page = client_for(world.hq).get("/customers/", {"cf_internal": "A"})
        assert names_of(page.context["customers"]) == {"甲"}

    def test_kept_by_cursor_paging(self, world, fields):
        for n in range(53):
            cf.customer(world.a1, f"金{n}", custom={"tier": "金"})
        cf.customer(world.a1, "银客", custom={"tier": "银"})
        client = client_for(world.advisor_a1)
        first = client.get("/customers/", {"cf_tier": "金"})
        link = f"/customers/?{first.context['query']}&cursor={first.context['next_cursor']}"
        assert parse_qs(urlsplit(link).query)["cf_tier"] == ["金"]
        second = client.get(link)
        names = names_of(first.context["customers"]) | names_of(second.context["customers"])
        assert len(names) == 53 and "银客" not in names
        assert f"cf_tier={first.context['query'].split('cf_tier=')[1]}" in (second.content.decode())

    def test_htmx_refresh_updates_the_export_link(self, world, people):
        response = client_for(world.manager_a1).get("/customers/", {"cf_tier": "金"}, **HTMX)
        body = response.content.decode()
        assert 'id="export-list"' in body and 'hx-swap-oob="true"' in body
        assert "/customers/export.xlsx?cf_tier=" in body
        # without the capability, no link is swapped in
        body = client_for(world.advisor_a1).get("/customers/", {"cf_tier": "金"}, **HTMX)
        assert 'id="export-list"' not in body.content.decode()


def exported_names(response) -> set[str]:
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    return {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}


class TestExport:
    def test_export_of_the_filtered_list(self, world, people):
        client = client_for(world.manager_a1)
        response = client.get("/customers/export.xlsx", {"cf_tier": "银"})
        assert exported_names(response) == {"乙"}

    def test_export_ignores_a_forged_hidden_field(self, world, people):
        client = client_for(world.manager_a1)  # may export, may not see "internal"
        response = client.get("/customers/export.xlsx", {"cf_internal": "A"})
        assert exported_names(response) == {"甲", "乙", "丙"}

    def test_export_refused_without_the_capability(self, world, people):
        response = client_for(world.advisor_a1).get("/customers/export.xlsx", {"cf_tier": "银"})
        assert response.status_code == 403


class TestApi:
    def test_customers_and_export(self, world, people):
        client = api_client_for(world.manager_a1)
        r = client.get("/api/v1/customers", {"cf_tier": "金", "cf_score.min": "5"})
        assert r.status_code == 200
        assert [c["name"] for c in r.json()["items"]] == ["甲"]
        r = client.get("/api/v1/customers", {"cf_internal": "B"})
        assert {c["name"] for c in r.json()["items"]} == {"甲", "乙", "丙"}
        r = client.get("/api/v1/customers/export.xlsx", {"cf_film": "龙膜"})
        assert exported_names(r) == {"乙"}

    def test_vehicles(self, world):
        customfields.create_field(
            world.hq, target="vehicle", key="tint", label_zh="膜", type="text"
        )
        customfields.create_field(
            world.hq,
            target="vehicle",
            key="grade",
            label_zh="车况",
            type="choice",
            choices=["好", "差"],
            visible_roles=["hq_admin"],
        )
        owner = cf.customer(world.a1)
        cf.vehicle(owner, "京A11111", custom={"tint": "龙膜", "grade": "好"})
        cf.vehicle(owner, "京A22222", custom={"tint": "3M", "grade": "差"})
        client = api_client_for(world.advisor_a1)
        r = client.get("/api/v1/vehicles", {"cf_tint": "龙"})
        assert [v["plate"] for v in r.json()["items"]] == ["京A11111"]
        r = client.get("/api/v1/vehicles", {"cf_grade": "好"})  # not visible: ignored
        assert len(r.json()["items"]) == 2
        r = api_client_for(world.hq).get("/api/v1/vehicles", {"cf_grade": "好"})
        assert [v["plate"] for v in r.json()["items"]] == ["京A11111"]


def test_form_values_skip_empty_and_bad_input(world, fields):
    definitions = customfilters.filterable(world.advisor_a1, "customer")
    form = customfilters.FilterForm(
        {"cf_tier": "", "cf_score.min": "x", "cf_score.max": "7", "cf_vip": "0"}, definitions
    )
    assert form.filter_values() == {"score": {"max": 7}, "vip": False}
