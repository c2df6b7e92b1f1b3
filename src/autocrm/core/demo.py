"""Deterministic demo data: an org with regions, stores and staff, bulk-inserted.

Later areas add customers, vehicles and history through ``EXTENSIONS``."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import transaction
from faker import Faker

from autocrm.core import audit, demo_sql
from autocrm.core.models import Organization, Region, Role, Store, User
from autocrm.core.roles import (
    FINANCE,
    FRONT_DESK,
    HQ_ADMIN,
    MARKETING,
    REGION_MANAGER,
    ROLE_CODES,
    SALES,
    SERVICE_ADVISOR,
    STORE_MANAGER,
    TECHNICIAN,
)

SEED = 20261124
DEMO_PASSWORD = "demo1234"
ORG_CODE = "antu"
ORG_NAME = "安途汽车服务集团"

SCALES = {"small": 1, "chain": 30, "large": 200}

REGIONS = [
    ("north", "华北区", ["北京", "天津", "石家庄", "太原", "济南"]),
    ("east", "华东区", ["上海", "杭州", "南京", "苏州", "宁波"]),
    ("south", "华南区", ["广州", "深圳", "佛山", "东莞", "厦门"]),
    ("southwest", "西南区", ["成都", "重庆", "昆明", "贵阳"]),
    ("central", "华中区", ["武汉", "长沙", "郑州", "合肥"]),
    ("northeast", "东北区", ["沈阳", "大连", "长春", "哈尔滨"]),
    ("northwest", "西北区", ["西安", "兰州", "银川"]),
]
DISTRICTS = [
    "朝阳",
    "海淀",
    "滨江",
    "西湖",
    "天河",
    "南山",
    "高新",
    "江北",
    "经开",
    "城南",
    "城北",
    "东城",
    "西城",
    "新区",
    "开发区",
    "湖滨",
    "万达",
    "中关村",
]
STORE_STAFF = [
    (STORE_MANAGER, 1),
    (SERVICE_ADVISOR, 2),
    (TECHNICIAN, 4),
    (FRONT_DESK, 1),
]

# Other areas register a loader(org, stores, rng, scale) to extend the demo.
EXTENSIONS: list[Callable] = []
# Loaders of figures derived from the demo's rows (the report rollups), the same signature;
# each runs once the rows are committed, and commits its own writes. Inside the load's one
# transaction they read the history back through a page cache full of its dirty pages, which
# SQLite spills to the WAL and reads again: at large scale the rollups took twice as long.
AFTER_COMMIT: list[Callable] = []


@dataclass
class DemoResult:
    scale: str
    created: bool
    counts: dict = field(default_factory=dict)
    logins: list = field(default_factory=list)

    def summary(self) -> str:
        if not self.created:
            return f"演示数据已存在 / demo data already loaded ({ORG_NAME})."
        parts = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        return f"已加载演示数据 / demo data loaded (scale {self.scale}): {parts}"


LOGINS = [
    ("hq", "hq_admin 总部管理员"),
    ("manager1", "store_manager 店长 (第一家门店 / first store)"),
    ("advisor1", "service_advisor 服务顾问"),
    ("tech1", "technician 技师"),
]


def _store_plan(count: int, rng: random.Random):
    regions = REGIONS[: 1 if count == 1 else (3 if count <= 30 else len(REGIONS))]
    seen = set()
    for i in range(count):
        code, region_name, cities = regions[i % len(regions)]
        city = cities[(i // len(regions)) % len(cities)]
        district = DISTRICTS[(i * 7 + i // len(DISTRICTS)) % len(DISTRICTS)]
        name = f"安途{city}{district}店"
        n = 2
        while name in seen:
            name = f"安途{city}{district}{n}号店"
            n += 1
        seen.add(name)
        kind = rng.choices(["repair", "audio", "dealer"], weights=[7, 2, 1])[0]
        yield i + 1, code, city, name, kind


def load_demo(scale: str = "small", *, extend: bool = True) -> DemoResult:
    """Load the demo org; ``extend=False`` skips the other areas' data (customers, …), for
    tests that only need stores and staff. The rows go in as one transaction; the figures
    derived from them (``AFTER_COMMIT``) follow, each in its own."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}")
    cache = demo_sql.big_cache()  # the whole load is one transaction: keep it in memory
    try:
        result, context = _load(scale, extend)
        for loader in AFTER_COMMIT if result.created and extend else ():
            result.counts.update(loader(**context) or {})  # each commits its own writes
    finally:
        demo_sql.restore_cache(cache)
    return result


@transaction.atomic
def _load(scale: str, extend: bool) -> tuple[DemoResult, dict]:
    """The rows, in one transaction; returns the result and the loaders' arguments (none
    when the demo was already there)."""
    result = DemoResult(scale=scale, created=False, logins=LOGINS)
    if Organization.objects.filter(code=ORG_CODE).exists():
        return result, {}
    rng = random.Random(SEED)  # noqa: S311 - repeatable demo data, not security
    fake = Faker("zh_CN")
    fake.seed_instance(SEED)
    password = make_password(DEMO_PASSWORD)
    roles = {r.code: r for r in Role.objects.ensure(ROLE_CODES)}

    org = Organization.objects.create(name=ORG_NAME, code=ORG_CODE)
    plan = list(_store_plan(SCALES[scale], rng))
    region_codes = sorted({p[1] for p in plan}, key=[r[0] for r in REGIONS].index)
    region_rows = Region.objects.bulk_create(
        [Region(org=org, code=c, name=dict((r[0], r[1]) for r in REGIONS)[c]) for c in region_codes]
    )
    region_by_code = {r.code: r for r in region_rows}
    stores = Store.objects.bulk_create(
        [
            Store(
                org=org,
                region=region_by_code[rcode],
                name=name,
                code=f"s{n:03d}",
                kind=kind,
                city=city,
                address=f"{city}市{fake.street_address()}",
                phone=fake.phone_number(),
            )
            for n, rcode, city, name, kind in plan
        ]
    )

    users: list[User] = []
    links_roles: list[tuple[int, str]] = []  # (user index, role)
    links_stores: list[tuple[int, int]] = []  # (user index, store index)
    links_regions: list[tuple[int, int]] = []

    def add(username, role_codes, scope, store_idx=(), region_idx=()):
        users.append(
            User(
                username=username,
                full_name=fake.name(),
                phone=fake.phone_number(),
                org=org,
                scope=scope,
                password=password,
                language="zh-hans",
            )
        )
        idx = len(users) - 1
        links_roles.extend((idx, code) for code in role_codes)
        links_stores.extend((idx, s) for s in store_idx)
        links_regions.extend((idx, r) for r in region_idx)

    add("hq", [HQ_ADMIN], User.Scope.ORG)
    add("finance", [FINANCE], User.Scope.ORG)
    add("marketing", [MARKETING], User.Scope.ORG)
    if len(stores) > 1:
        for i, _region in enumerate(region_rows):
            add(f"region{i + 1}", [REGION_MANAGER], User.Scope.REGION, region_idx=[i])
    for s_idx, store in enumerate(stores):
        for role, count in STORE_STAFF:
            for k in range(1, count + 1):
                if s_idx == 0 and k == 1 and role in (STORE_MANAGER, SERVICE_ADVISOR, TECHNICIAN):
                    username = {
                        STORE_MANAGER: "manager1",
                        SERVICE_ADVISOR: "advisor1",
                        TECHNICIAN: "tech1",
                    }[role]
                else:
                    short = {
                        STORE_MANAGER: "mgr",
                        SERVICE_ADVISOR: "sa",
                        TECHNICIAN: "tech",
                        FRONT_DESK: "desk",
                    }[role]
                    username = f"s{s_idx + 1:03d}-{short}{k}"
                add(username, [role], User.Scope.STORE, store_idx=[s_idx])
        if store.kind == "dealer":
            add(f"s{s_idx + 1:03d}-sales1", [SALES], User.Scope.STORE, store_idx=[s_idx])

    users = User.objects.bulk_create(users, batch_size=500)
    User.roles.through.objects.bulk_create(
        [User.roles.through(user_id=users[i].pk, role_id=roles[c].pk) for i, c in links_roles],
        batch_size=1000,
    )
    User.stores.through.objects.bulk_create(
        [User.stores.through(user_id=users[i].pk, store_id=stores[s].pk) for i, s in links_stores],
        batch_size=1000,
    )
    User.regions.through.objects.bulk_create(
        [
            User.regions.through(user_id=users[i].pk, region_id=region_rows[r].pk)
            for i, r in links_regions
        ],
        batch_size=1000,
    )
    result.counts = {"regions": len(region_rows), "stores": len(stores), "staff": len(users)}
    context = {"org": org, "stores": stores, "rng": rng, "scale": scale}
    for loader in EXTENSIONS if extend else ():
        result.counts.update(loader(**context) or {})
    for model, n in ((Region, len(region_rows)), (Store, len(stores)), (User, len(users))):
        audit.record_bulk(model, n, org_id=org.pk, note=f"demo data ({scale})")
    result.created = True
    return result, context
