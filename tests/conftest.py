"""Shared fixtures: two orgs; org A has two regions and stores A1, A2 (north) and A3 (south)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from autocrm.core.models import Organization, Region, Store, User
from tests import factories as f


@dataclass
class World:
    org: Organization
    other_org: Organization
    north: Region
    south: Region
    a1: Store
    a2: Store
    a3: Store
    b1: Store
    hq: User
    region_mgr: User
    manager_a1: User
    advisor_a1: User
    tech_a1: User
    manager_a2: User
    other_admin: User


@pytest.fixture
def world(db) -> World:
    org = f.org(name="安途集团", code="antu")
    other = f.org(name="别家集团", code="other")
    north = f.region(org, name="华北区", code="north")
    south = f.region(org, name="华南区", code="south")
    a1 = f.store(org, north, name="北京朝阳店", code="bj-cy")
    a2 = f.store(org, north, name="天津滨江店", code="tj-bj")
    a3 = f.store(org, south, name="广州天河店", code="gz-th")
    b1 = f.store(other, name="别家一店", code="b1")
    return World(
        org=org,
        other_org=other,
        north=north,
        south=south,
        a1=a1,
        a2=a2,
        a3=a3,
        b1=b1,
        hq=f.staff(org, "hq_admin", scope=User.Scope.ORG, username="hq"),
        region_mgr=f.staff(org, "region_manager", regions=[north], username="north"),
        manager_a1=f.staff(org, "store_manager", stores=[a1], username="mgr-a1"),
        advisor_a1=f.staff(org, "service_advisor", stores=[a1], username="sa-a1"),
        tech_a1=f.staff(org, "technician", stores=[a1], username="tech-a1"),
        manager_a2=f.staff(org, "store_manager", stores=[a2], username="mgr-a2"),
        other_admin=f.staff(other, "hq_admin", scope=User.Scope.ORG, username="other-hq"),
    )


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_client_for(user: User) -> Client:
    """A client that calls the API with a fresh bearer token of ``user``."""
    from autocrm.core.services import create_api_token

    _token, raw = create_api_token(user, "test")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def send_json(client: Client, method: str, path: str, body=None):
    """``client.<method>(path)`` with a JSON body."""
    import json

    return getattr(client, method)(
        path, data=json.dumps(body or {}), content_type="application/json"
    )


@pytest.fixture
def login():
    return client_for


@pytest.fixture
def link_path():
    """``link_path(work_order, purpose)``: the path of a new owner's link (portal, feedback)."""
    from autocrm.portal import services as links

    def make(wo, purpose: str) -> str:
        _link, token = links.issue_link(wo, purpose)
        return links.link_path(purpose, token)

    return make


@pytest.fixture(autouse=True)
def _no_rules_awaited():
    """Every test starts with no rules, so the rules engine's in-process cache of awaited
    events starts empty too (a rule saved in the test refreshes it)."""
    from autocrm.automation import capture

    capture.forget_all()
