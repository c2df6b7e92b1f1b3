"""Demo customers, vehicles, mileage histories and visits, at up to a million customers.

Rows are generated in chunks and written with ``executemany`` and ids allocated up front, so a
million customers load in minutes with flat memory. Plates and VINs are derived from the row
number (unique without keeping sets in memory); names, brands and dates come from a seeded RNG,
so the same scale always gives the same data."""

from __future__ import annotations

import bisect
import datetime
import random
import time
from collections.abc import Iterator
from decimal import Decimal

from django.core.management.color import no_style
from django.db import connection
from django.utils import timezone

from autocrm.core import audit
from autocrm.core.demo_sql import trusted_bulk_load
from autocrm.core.models import Organization, Store
from autocrm.customers.models import (
    Customer,
    Interaction,
    MileageReading,
    Ownership,
    PlateKey,
    SourceChannel,
    Tag,
    Vehicle,
)
from autocrm.customers.pinyin import pinyin_full, pinyin_initials
from autocrm.customers.services import plate_keys
from autocrm.customers.validators import PLATE_LETTERS, VIN_CHARS, vin_check_digit

CUSTOMERS = {"small": 2_000, "chain": 200_000, "large": 1_000_000}
# Scales whose rows are written by the database itself (``customers.demo_bulk``).
SET_BASED = {"large"}
# Tables this loader fills, whose secondary indexes are dropped while it writes.
BULK = [
    Customer,
    Customer.tags.through,
    Vehicle,
    Ownership,
    MileageReading,
    Interaction,
    PlateKey,
]
VEHICLES_PER_CUSTOMER = 1.3
CHUNK = 5_000

CITY_PROVINCE = {
    "北京": "京",
    "天津": "津",
    "石家庄": "冀",
    "太原": "晋",
    "济南": "鲁",
    "上海": "沪",
    "杭州": "浙",
    "宁波": "浙",
    "南京": "苏",
    "苏州": "苏",
    "广州": "粤",
    "深圳": "粤",
    "佛山": "粤",
    "东莞": "粤",
    "厦门": "闽",
    "成都": "川",
    "重庆": "渝",
    "昆明": "云",
    "贵阳": "贵",
    "武汉": "鄂",
    "长沙": "湘",
    "郑州": "豫",
    "合肥": "皖",
    "沈阳": "辽",
    "大连": "辽",
    "长春": "吉",
    "哈尔滨": "黑",
    "西安": "陕",
    "兰州": "甘",
    "银川": "宁",
}
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯健俊帆欣怡雪梅"
    "晨阳琳婷"
)
COMPANIES = [
    "顺丰速运",
    "滴滴出行",
    "京东物流",
    "城市出租",
    "安居物业",
    "蓝天租车",
    "恒通建设",
    "美团配送",
]
MODELS = {
    "LSV": ("大众", ["朗逸", "帕萨特", "途观L", "凌渡"]),
    "LFV": ("大众", ["速腾", "迈腾", "宝来", "探岳"]),
    "LGB": ("日产", ["轩逸", "天籁", "奇骏"]),
    "LHG": ("本田", ["雅阁", "思域", "CR-V", "飞度"]),
    "LVS": ("福特", ["福克斯", "蒙迪欧", "锐际"]),
    "LBV": ("宝马", ["3系", "5系", "X3"]),
    "LE4": ("奔驰", ["C级", "E级", "GLC"]),
    "LGX": ("比亚迪", ["秦PLUS", "宋PLUS", "汉", "海豚"]),
    "LRW": ("特斯拉", ["Model 3", "Model Y"]),
    "LSG": ("别克", ["英朗", "君越", "GL8"]),
}
WMIS = list(MODELS)
WMI_WEIGHTS = [14, 12, 10, 10, 6, 6, 5, 14, 8, 10]
WMI_CUM = [sum(WMI_WEIGHTS[: i + 1]) for i in range(len(WMI_WEIGHTS))]
ELECTRIC = {"LGX", "LRW"}
COLOURS = ["白", "黑", "银", "灰", "红", "蓝"]
INSURERS = ["中国人保", "平安保险", "太平洋保险", "中华联合", "大地保险"]
SOURCES = ["自然到店", "朋友介绍", "美团/大众点评", "抖音", "厂家推荐", "其他"]
TAGS = ["价格敏感", "注重品质", "家有小孩", "车队客户", "新能源车主"]
LEVELS = ["", "", "", "银卡", "金卡", "VIP"]
MOBILE_PREFIXES = ["138", "139", "137", "136", "135", "159", "158", "186", "188", "177", "199"]
VISIT_SUMMARIES = ["小保养", "大保养", "更换轮胎", "四轮定位", "空调清洗", "刹车片更换", "钣金喷漆"]


def _encode(n: int, alphabet: str, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(reversed(out))


def demo_plate(index: int, province: str, electric: bool) -> str:
    """A valid, realistic plate unique per index: office letter + 5 digits (24 × 100 000
    per province), new-energy plates with D before the digits."""
    letter = PLATE_LETTERS[index % len(PLATE_LETTERS)]
    serial = (index // len(PLATE_LETTERS)) % 100_000
    return f"{province}{letter}{'D' if electric else ''}{serial:05d}"


def demo_vin(index: int, wmi: str, rng: random.Random) -> str:
    bits = rng.getrandbits(48)
    n = len(VIN_CHARS)
    vds = "".join(VIN_CHARS[(bits >> (6 * k)) % n] for k in range(5))
    year = "HJKLMNPRS"[(bits >> 30) % 9]
    plant = VIN_CHARS[(bits >> 36) % n]
    draft = f"{wmi}{vds}0{year}{plant}{_encode(index, VIN_CHARS, 6)}"
    return f"{draft[:8]}{vin_check_digit(draft)}{draft[9:]}"


class Writer:
    """Chunked INSERTs with explicit ids; sequences are moved past them at the end."""

    def __init__(self) -> None:
        self.counts: dict[type, int] = {}

    def next_id(self, model) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {model._meta.db_table}")  # noqa: S608
            return (cursor.fetchone()[0] or 0) + 1

    def insert(self, model, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        table = connection.ops.quote_name(model._meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":  # COPY: several times faster than INSERTs
                with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608
                cursor.executemany(sql, rows)
        self.counts[model] = self.counts.get(model, 0) + len(rows)

    def reset_sequences(self) -> None:
        sql = connection.ops.sequence_reset_sql(no_style(), list(self.counts))
        with connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)


def load(org: Organization, stores: list[Store], rng: random.Random, scale: str) -> dict:
    """Registered in autocrm.core.demo.EXTENSIONS."""
    total = CUSTOMERS[scale]
    now = timezone.now()
    today = timezone.localdate()
    writer = Writer()
    sources = [
        SourceChannel.objects.create(org=org, name=n, sort_order=i) for i, n in enumerate(SOURCES)
    ]
    tags = [Tag.objects.create(org=org, name=n) for n in TAGS]
    provinces = [CITY_PROVINCE.get(s.city, "京") for s in stores]
    ids = {
        m: writer.next_id(m)
        for m in (Customer, Vehicle, Ownership, MileageReading, Interaction, PlateKey)
    }
    vehicle_index = 0
    stamp = now.isoformat() if connection.vendor == "sqlite" else now
    rand = rng.random

    # Cheaper than Random.randint / choice (no range checks), still driven by the seeded rng.
    def randint(a: int, b: int) -> int:
        return a + int(rand() * (b - a + 1))

    def choice(seq):
        return seq[int(rand() * len(seq))]

    spelled: dict[str, tuple[str, str]] = {}  # name → (pinyin, initials): names repeat a lot
    postgres = connection.vendor == "postgresql"
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # Secondary indexes are built once at the end rather than kept up row by row.
    dropped = drop_indexes(BULK)
    if scale in SET_BASED:
        from autocrm.customers import demo_bulk

        print(f"  客户 / customers (set-based): {total:,} …", flush=True)
        with trusted_bulk_load():
            timing = demo_bulk.load(
                org=org,
                stores=stores,
                rng=rng,
                total=total,
                ids=ids,
                writer=writer,
                sources=sources,
                tags=tags,
                today=today,
                now=now,
            )
        for label, seconds in timing.items():
            print(f"    {label:<34} {seconds:7.1f} s", flush=True)
        total = 0  # nothing left for the per-row loop below

    for start in range(0, total, CHUNK):
        customers, vehicles, owners, readings, visits, keys, tag_links = [], [], [], [], [], [], []
        for n in range(start, min(start + CHUNK, total)):
            cid = ids[Customer] + n
            s = n % len(stores)
            store = stores[s]
            company = rand() < 0.03
            if company:
                name = f"{choice(COMPANIES)}{store.city}分公司"
            else:
                name = choice(SURNAMES) + "".join(choice(GIVEN) for _ in range(choice((1, 2, 2))))
            mobile = (
                MOBILE_PREFIXES[n % len(MOBILE_PREFIXES)] + f"{(n * 7919 + 1234) % 100_000_000:08d}"
            )
            visit_count = choice((0, 1, 1, 2, 3, 4, 6))
            spend = Decimal(0)
            first = last = None
            if visit_count:
                first_days = randint(30, 1500)
                first = now - datetime.timedelta(days=first_days)
                last = (
                    now - datetime.timedelta(days=randint(0, first_days))
                    if visit_count > 1
                    else first
                )
            for v in range(visit_count):
                when = first + (last - first) * (v / max(1, visit_count - 1)) if first else now
                amount = Decimal(choice((180, 380, 680, 980, 1580, 2600, 4800)))
                spend += amount
                visits.append(
                    (
                        ids[Interaction] + len(visits) + writer.counts.get(Interaction, 0),
                        org.pk,
                        store.pk,
                        cid,
                        None,
                        "visit",
                        choice(VISIT_SUMMARIES),
                        "",
                        str(amount),
                        when.isoformat() if connection.vendor == "sqlite" else when,
                        None,
                    )
                )
            birthday = datetime.date(randint(1960, 2003), randint(1, 12), randint(1, 28))
            consent = rand() < 0.6
            spelling = spelled.get(name)
            if spelling is None:
                spelling = spelled[name] = (pinyin_full(name)[:200], pinyin_initials(name)[:60])
            customers.append(
                (
                    cid,
                    org.pk,
                    store.pk,
                    "company" if company else "person",
                    name,
                    *spelling,
                    mobile,
                    mobile[-4:],
                    "",
                    "" if company else choice("mf"),
                    None if company else birthday,
                    "",
                    sources[n % len(sources)].pk,
                    None,
                    choice(LEVELS),
                    "{}",
                    "",
                    "{}",
                    "",
                    consent,
                    stamp if consent else None,
                    "到店登记" if consent else "",
                    False,
                    None,
                    "",
                    visit_count,
                    str(spend),
                    _ts(first),
                    _ts(last),
                    None,
                    None,
                    stamp,
                    stamp,
                )
            )
            if rand() < 0.2:
                tag_links.append((cid, tags[n % len(tags)].pk))
            for _v in range(1 if rand() > VEHICLES_PER_CUSTOMER - 1 else 2):
                vid = ids[Vehicle] + vehicle_index
                wmi = WMIS[bisect.bisect(WMI_CUM, rand() * WMI_CUM[-1])]
                brand, models = MODELS[wmi]
                electric = wmi in ELECTRIC
                plate = demo_plate(vehicle_index, provinces[s], electric)
                vin = demo_vin(vehicle_index, wmi, rng)
                year = randint(2012, 2025)
                registered = datetime.date(year, randint(1, 12), randint(1, 28))
                # A steady 20–60 km a day since registration: any day's odometer is known, so
                # the shop-floor demo's visits in between never read less than an earlier one.
                rate = randint(20, 60)
                km = 0
                read_on = registered
                for _r in range(randint(1, 4)):
                    read_on = min(today, read_on + datetime.timedelta(days=randint(90, 500)))
                    km = rate * (read_on - registered).days
                    readings.append(
                        (
                            ids[MileageReading]
                            + writer.counts.get(MileageReading, 0)
                            + len(readings),
                            vid,
                            km,
                            read_on.isoformat(),
                            "visit",
                            "",
                            None,
                            stamp,
                        )
                    )
                insurance = today + datetime.timedelta(days=randint(-30, 365))
                vehicles.append(
                    (
                        vid,
                        org.pk,
                        store.pk,
                        cid,
                        plate,
                        True,
                        vin,
                        vin[-6:],
                        True,
                        brand,
                        choice(models),
                        year,
                        "electric" if electric else choice(("petrol", "petrol", "hybrid")),
                        choice(COLOURS),
                        "",
                        registered.isoformat(),
                        registered.isoformat(),
                        choice(INSURERS),
                        insurance.isoformat(),
                        datetime.date(today.year + 1, registered.month, registered.day).isoformat(),
                        km,
                        read_on.isoformat(),
                        "{}",
                        stamp,
                        stamp,
                    )
                )
                owners.append(
                    (ids[Ownership] + vehicle_index, vid, cid, _ts(registered_dt(registered)), None)
                )
                for key in plate_keys(plate):
                    keys.append((org.pk, vid, key, store.pk))
                vehicle_index += 1
        writer.insert(Customer, CUSTOMER_COLUMNS, customers)
        writer.insert(Customer.tags.through, ["customer_id", "tag_id"], tag_links)
        writer.insert(Vehicle, VEHICLE_COLUMNS, vehicles)
        writer.insert(
            Ownership, ["id", "vehicle_id", "customer_id", "started_at", "ended_at"], owners
        )
        writer.insert(
            MileageReading,
            ["id", "vehicle_id", "km", "read_on", "source", "note", "recorded_by_id", "created_at"],
            readings,
        )
        writer.insert(
            Interaction,
            [
                "id",
                "org_id",
                "store_id",
                "customer_id",
                "vehicle_id",
                "kind",
                "summary",
                "body",
                "amount",
                "occurred_at",
                "staff_id",
            ],
            visits,
        )
        writer.insert(PlateKey, ["org_id", "vehicle_id", "key", "home_store_id"], keys)
    t0 = time.perf_counter()
    restore_indexes(dropped)
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for model in BULK:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    print(f"    customers' indexes {time.perf_counter() - t0:7.1f} s", flush=True)
    writer.reset_sequences()
    for model in (Customer, Vehicle, Ownership, MileageReading, Interaction):
        audit.record_bulk(
            model, writer.counts.get(model, 0), org_id=org.pk, note=f"demo data ({scale})"
        )
    return {
        "customers": writer.counts.get(Customer, 0),
        "vehicles": writer.counts.get(Vehicle, 0),
        "mileage readings": writer.counts.get(MileageReading, 0),
        "visits": writer.counts.get(Interaction, 0),
    }


# --- bulk-load helpers (also used by the shop-floor demo) ---------------------------------


def drop_indexes(models: list) -> list[str]:
    """Drop the secondary indexes of the big tables (not those behind constraints on
    PostgreSQL); return the statements that rebuild them."""
    statements = []
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            if connection.vendor == "sqlite":
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = %s AND sql IS NOT NULL",
                    [table],
                )
            elif connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                    [table],
                )
            else:
                continue
            for name, sql in cursor.fetchall():
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                statements.append(sql)
    return statements


def restore_indexes(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and statements:
            # Sort each index in memory rather than in temporary files (this session only).
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for sql in statements:
            cursor.execute(sql)


def registered_dt(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(10), tzinfo=datetime.UTC)


def _ts(value):
    if value is None:
        return None
    return value.isoformat() if connection.vendor == "sqlite" else value


CUSTOMER_COLUMNS = [
    "id",
    "org_id",
    "home_store_id",
    "kind",
    "name",
    "name_pinyin",
    "name_initials",
    "mobile",
    "mobile_tail",
    "other_contacts",
    "gender",
    "birthday",
    "wechat_id",
    "source_id",
    "referrer_id",
    "level",
    "preferences",
    "notes",
    "custom",
    "company_tax_id",
    "consent_sms",
    "consent_sms_at",
    "consent_sms_how",
    "consent_wechat",
    "consent_wechat_at",
    "consent_wechat_how",
    "visit_count",
    "lifetime_spend",
    "first_visit_at",
    "last_visit_at",
    "merged_into_id",
    "erased_at",
    "created_at",
    "updated_at",
]
VEHICLE_COLUMNS = [
    "id",
    "org_id",
    "home_store_id",
    "owner_id",
    "plate",
    "plate_active",
    "vin",
    "vin_tail",
    "vin_check_ok",
    "brand",
    "model",
    "model_year",
    "fuel",
    "color",
    "engine_no",
    "registered_on",
    "purchased_on",
    "insurer",
    "insurance_expires_on",
    "inspection_due_on",
    "current_mileage",
    "mileage_read_on",
    "custom",
    "created_at",
    "updated_at",
]


def _chunks(seq: list, size: int) -> Iterator[list]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
