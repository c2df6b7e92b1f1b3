"""Small factories for tests: real rows through the real models, with sensible defaults."""

from __future__ import annotations

import itertools

from autocrm.core.models import Organization, Region, Role, Store, User

PASSWORD = "Qiche#2026"
_seq = itertools.count(1)


def org(**kw) -> Organization:
    n = next(_seq)
    kw.setdefault("name", f"测试集团{n}")
    kw.setdefault("code", f"org{n}")
    return Organization.objects.create(**kw)


def region(org_: Organization, **kw) -> Region:
    n = next(_seq)
    kw.setdefault("name", f"区域{n}")
    kw.setdefault("code", f"r{n}")
    return Region.objects.create(org=org_, **kw)


def store(org_: Organization, region_: Region | None = None, **kw) -> Store:
    n = next(_seq)
    kw.setdefault("name", f"测试门店{n}")
    kw.setdefault("code", f"s{n}")
    return Store.objects.create(org=org_, region=region_, **kw)


def staff(
    org_: Organization,
    *roles: str,
    stores=(),
    regions=(),
    scope: str | None = None,
    username: str | None = None,
    **kw,
) -> User:
    n = next(_seq)
    if scope is None:
        scope = User.Scope.REGION if regions else User.Scope.STORE
    user = User(
        username=username or f"user{n}",
        full_name=kw.pop("full_name", f"员工{n}"),
        phone=kw.pop("phone", f"139{n:08d}"),
        org=org_,
        scope=scope,
        **kw,
    )
    user.set_password(PASSWORD)
    user.save()
    user.roles.set(Role.objects.ensure(roles))
    user.stores.set(stores)
    user.regions.set(regions)
    return user
