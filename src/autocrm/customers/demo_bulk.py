"""Demo customers, vehicles, plate keys, mileage readings and visits written set-based.

At ``large`` scale (a million customers) drawing every row in Python takes most of the demo's
time, so ``customers.demo.load`` hands over to this module: Python draws small pools (names with
their pinyin, vehicle makes with the fixed part of their VIN, three-character VIN serials with
their check-digit weights) and the database expands them by sequence number with
``INSERT … SELECT`` (see ``core.demo_sql``). The rules are those of the per-row loader:

- customer *n* belongs to store *n* mod the number of stores; 3 % are companies;
- mobiles are unique: prefix *n* mod 11 and eight digits from *n* (as ``demo.load``);
- 30 % of customers have a second car; a car's plate and VIN serial come from its index, so both
  are unique; its check digit is computed from the pools' weights;
- each car has 1–4 mileage readings on a steady 20–60 km a day since registration, the last one
  being its current mileage;
- plate keys are the suffixes of the plate (``services.plate_keys``).
"""

from __future__ import annotations

import datetime
import time

from django.db import connection

from autocrm.core.demo_sql import Dialect, from_, h, insert, pick, quote, sequence, temp_table
from autocrm.customers import demo as cd
from autocrm.customers.models import (
    Customer,
    Interaction,
    MileageReading,
    Ownership,
    PlateKey,
    Vehicle,
)
from autocrm.customers.pinyin import pinyin_full, pinyin_initials
from autocrm.customers.services import PLATE_KEY_MIN
from autocrm.customers.validators import PLATE_LETTERS, VIN_CHARS, VIN_VALUES, VIN_WEIGHTS

NAMES = 6_000  # distinct personal names in the pool
MAKES = 4_000  # vehicle make / model / VIN-prefix combinations in the pool
SERIAL = len(VIN_CHARS) ** 3  # three-character VIN serial halves


def _pools(rng, stores):
    names = []
    for k in range(NAMES):
        name = rng.choice(cd.SURNAMES) + "".join(
            rng.choice(cd.GIVEN) for _ in range(rng.choice((1, 2, 2)))
        )
        names.append((k, name, pinyin_full(name)[:200], pinyin_initials(name)[:60]))
    companies = []
    for s, store in enumerate(stores):
        for c, company in enumerate(cd.COMPANIES):
            name = f"{company}{store.city}分公司"
            companies.append(
                (
                    s * len(cd.COMPANIES) + c,
                    name,
                    pinyin_full(name)[:200],
                    pinyin_initials(name)[:60],
                )
            )
    makes = []
    for k in range(MAKES):
        wmi = rng.choices(cd.WMIS, cd.WMI_WEIGHTS)[0]
        brand, models = cd.MODELS[wmi]
        vds = "".join(rng.choice(VIN_CHARS) for _ in range(5))
        year_plant = rng.choice("HJKLMNPRS") + rng.choice(VIN_CHARS)
        head = f"{wmi}{vds}"  # positions 1–8; 9 is the check digit; 10–11 year and plant
        weight = sum(VIN_VALUES[ch] * w for ch, w in zip(head, VIN_WEIGHTS[:8], strict=True))
        weight += sum(
            VIN_VALUES[ch] * w for ch, w in zip(year_plant, VIN_WEIGHTS[9:11], strict=True)
        )
        makes.append(
            (k, head, year_plant, weight, brand, rng.choice(models), int(wmi in cd.ELECTRIC))
        )
    serials = []
    for n in range(SERIAL):
        text = cd._encode(n, VIN_CHARS, 3)
        high = sum(VIN_VALUES[ch] * w for ch, w in zip(text, VIN_WEIGHTS[11:14], strict=True))
        low = sum(VIN_VALUES[ch] * w for ch, w in zip(text, VIN_WEIGHTS[14:17], strict=True))
        serials.append((n, text, high, low))
    store_rows = [
        (s, store.pk, cd.CITY_PROVINCE.get(store.city, "京")) for s, store in enumerate(stores)
    ]
    return names, companies, makes, serials, store_rows


TEMP = {
    "demo_name": "k INTEGER PRIMARY KEY, name TEXT, py TEXT, ini TEXT",
    "demo_company": "k INTEGER PRIMARY KEY, name TEXT, py TEXT, ini TEXT",
    "demo_make": "k INTEGER PRIMARY KEY, head TEXT, year_plant TEXT, weight INTEGER, "
    "brand TEXT, model TEXT, electric INTEGER",
    "demo_serial": "n INTEGER PRIMARY KEY, txt TEXT, high INTEGER, low INTEGER",
    "demo_cstore": "s INTEGER PRIMARY KEY, store_id BIGINT, province TEXT",
}


def load(*, org, stores, rng, total, ids, writer, sources, tags, today, now) -> dict:
    """Write ``total`` customers with their vehicles and histories; ``ids`` holds the next
    free id per model. Returns seconds per step."""
    sql = Dialect()
    timing = {}
    t0 = time.perf_counter()
    names, companies, makes, serials, store_rows = _pools(rng, stores)
    n_stores = len(stores)
    second_car = f"({h('c.n', 7)}) % 10 < 3"
    with connection.cursor() as cursor:
        for name, rows in zip(TEMP, (names, companies, makes, serials, store_rows), strict=True):
            temp_table(cursor, name, TEMP[name], rows)
        sequence(cursor, "demo_cseq", total)
        temp_table(cursor, "demo_two", "k INTEGER PRIMARY KEY", [(0,), (1,)])
        if sql.pg:
            for name in (*TEMP, "demo_two"):
                cursor.execute(f"ANALYZE {name}")
    timing["pools (Python)"] = time.perf_counter() - t0
    cid = f"({ids[Customer]} + c.n)"
    created = sql.ts(str(_minutes(now)))

    def timed(label, model, columns, select, body):
        t = time.perf_counter()
        with connection.cursor() as cursor:
            n = insert(cursor, model, columns, select, body)
        writer.counts[model] = writer.counts.get(model, 0) + n
        timing[label] = time.perf_counter() - t

    company = f"({h('c.n', 0)}) % 100 < 3"
    serial8 = "((c.n * 7919 + 1234) % 100000000)"
    consent = f"({h('c.n', 6)}) % 10 < 6"
    born = datetime.date(1960, 1, 1).toordinal()
    gender = pick(h("c.n", 3), ["'m'", "'f'"])
    birthday = sql.date(f"{born} + ({h('c.n', 4)}) % 16000")
    customer = {
        "id": cid,
        "org_id": str(org.pk),
        "home_store_id": "st.store_id",
        "kind": f"(CASE WHEN {company} THEN 'company' ELSE 'person' END)",
        "name": f"(CASE WHEN {company} THEN co.name ELSE nm.name END)",
        "name_pinyin": f"(CASE WHEN {company} THEN co.py ELSE nm.py END)",
        "name_initials": f"(CASE WHEN {company} THEN co.ini ELSE nm.ini END)",
        "mobile": f"{pick('c.n', [quote(p) for p in cd.MOBILE_PREFIXES])} || {sql.pad(serial8, 8)}",
        "mobile_tail": sql.pad(f"{serial8} % 10000", 4),
        "other_contacts": "''",
        "gender": f"(CASE WHEN {company} THEN '' ELSE {gender} END)",
        "birthday": f"(CASE WHEN {company} THEN NULL ELSE {birthday} END)",
        "wechat_id": "''",
        "source_id": pick("c.n", [str(s.pk) for s in sources]),
        "referrer_id": "NULL",
        "level": pick(h("c.n", 5), [quote(x) for x in cd.LEVELS]),
        "preferences": sql.json("'{}'"),
        "notes": "''",
        "custom": sql.json("'{}'"),
        "company_tax_id": "''",
        "consent_sms": f"({consent})",
        "consent_sms_at": f"(CASE WHEN {consent} THEN {created} END)",
        "consent_sms_how": f"(CASE WHEN {consent} THEN {quote('到店登记')} ELSE '' END)",
        "consent_wechat": "FALSE",
        "consent_wechat_at": "NULL",
        "consent_wechat_how": "''",
        "visit_count": "0",
        "lifetime_spend": "0",
        "first_visit_at": "NULL",
        "last_visit_at": "NULL",
        "merged_into_id": "NULL",
        "erased_at": "NULL",
        "created_at": created,
        "updated_at": created,
    }
    per_store = len(cd.COMPANIES)
    timed(
        "customers",
        Customer,
        list(customer),
        customer,
        from_(
            ["demo_cseq c", "demo_cstore st", "demo_name nm", "demo_company co"],
            [
                f"st.s = c.n % {n_stores}",
                f"nm.k = ({h('c.n', 1)}) % {NAMES}",
                f"co.k = st.s * {per_store} + ({h('c.n', 2)}) % {per_store}",
            ],
        ),
    )
    # Vehicles: index n (every customer's first car) and total + n (a second one).
    idx = f"(c.n + t.k * {total})"
    vid = f"({ids[Vehicle]} + {idx})"
    year = f"(({h(idx, 8)}) % 14)"
    jan1 = pick(year, [str(datetime.date(2012 + y, 1, 1).toordinal()) for y in range(14)])
    day_of_year = f"(({h(idx, 9)}) % 360)"
    reg = f"({jan1} + {day_of_year})"
    rate = f"(20 + ({h(idx, 10)}) % 41)"
    reads = f"(1 + ({h(idx, 11)}) % 4)"
    step = f"(90 + ({h(idx, 12)}) % 411)"
    t_ord = today.toordinal()
    last_read = sql.least(str(t_ord), f"{reg} + {reads} * {step}")
    serial_hi = f"(({idx}) / {SERIAL})"
    check = "((mk.weight + hi.high + lo.low) % 11)"
    plate = (
        f"st.province || {pick(idx, [quote(x) for x in PLATE_LETTERS])} || "
        f"(CASE WHEN mk.electric = 1 THEN 'D' ELSE '' END) || "
        f"{sql.pad(f'(({idx}) / {len(PLATE_LETTERS)}) % 100000', 5)}"
    )
    vehicle_from = from_(
        [
            "demo_cseq c",
            "demo_two t",
            "demo_cstore st",
            "demo_make mk",
            "demo_serial hi",
            "demo_serial lo",
        ],
        [
            f"(t.k = 0 OR {second_car})",
            f"st.s = c.n % {n_stores}",
            f"mk.k = ({h(idx, 13)}) % {MAKES}",
            f"hi.n = {serial_hi} % {SERIAL}",
            f"lo.n = ({idx}) % {SERIAL}",
        ],
    )
    next_year = datetime.date(today.year + 1, 1, 1).toordinal()
    fuel = pick(h(idx, 0), ["'petrol'", "'petrol'", "'hybrid'"])
    vehicle = {
        "id": vid,
        "org_id": str(org.pk),
        "home_store_id": "st.store_id",
        "owner_id": cid,
        "plate": plate,
        "plate_active": "TRUE",
        "vin": f"mk.head || (CASE WHEN {check} = 10 THEN 'X' ELSE "
        f"{sql.pad(check, 1)} END) || mk.year_plant || hi.txt || lo.txt",
        "vin_tail": "hi.txt || lo.txt",
        "vin_check_ok": "TRUE",
        "brand": "mk.brand",
        "model": "mk.model",
        "model_year": f"(2012 + {year})",
        "fuel": f"(CASE WHEN mk.electric = 1 THEN 'electric' ELSE {fuel} END)",
        "color": pick(h(idx, 1), [quote(x) for x in cd.COLOURS]),
        "engine_no": "''",
        "registered_on": sql.date(reg),
        "purchased_on": sql.date(reg),
        "insurer": pick(h(idx, 2), [quote(x) for x in cd.INSURERS]),
        "insurance_expires_on": sql.date(f"{t_ord - 30} + ({h(idx, 3)}) % 396"),
        "inspection_due_on": sql.date(f"{next_year} + {day_of_year}"),
        "current_mileage": f"({rate} * ({last_read} - {reg}))",
        "mileage_read_on": sql.date(last_read),
        "custom": sql.json("'{}'"),
        "created_at": created,
        "updated_at": created,
    }
    timed("vehicles", Vehicle, list(vehicle), vehicle, vehicle_from)
    timed(
        "owners",
        Ownership,
        ["id", "vehicle", "customer", "started_at", "ended_at"],
        {
            "id": f"({ids[Ownership]} + {idx})",
            "vehicle": vid,
            "customer": cid,
            "started_at": sql.ts(f"{reg} * 1440 + 600"),
            "ended_at": "NULL",
        },
        from_(["demo_cseq c", "demo_two t"], [f"(t.k = 0 OR {second_car})"]),
    )
    # Readings r = 0 … reads − 1, every ``step`` days (the last ones may fall on today).
    r = "(r0.k * 2 + r1.k)"
    read_day = sql.least(str(t_ord), f"{reg} + ({r} + 1) * {step}")
    timed(
        "mileage readings",
        MileageReading,
        ["id", "vehicle", "km", "read_on", "source", "note", "recorded_by", "created_at"],
        {
            "id": f"({ids[MileageReading]} + {idx} * 4 + {r})",
            "vehicle": vid,
            "km": f"({rate} * ({read_day} - {reg}))",
            "read_on": sql.date(read_day),
            "source": "'visit'",
            "note": "''",
            "recorded_by": "NULL",
            "created_at": created,
        },
        from_(
            ["demo_cseq c", "demo_two t", "demo_two r0", "demo_two r1"],
            [f"(t.k = 0 OR {second_car})", f"{r} < {reads}"],
        ),
    )
    v = Vehicle._meta.db_table
    timed(
        "plate keys",
        PlateKey,
        ["org", "vehicle", "key", "home_store"],
        {
            "org": str(org.pk),
            "vehicle": "v.id",
            "key": "substr(v.plate, CAST(2 + q.n AS INTEGER))",
            "home_store": "v.home_store_id",
        },
        from_(
            [f"{v} v", "demo_cseq q"],
            [
                f"v.id >= {ids[Vehicle]}",
                f"q.n < length(v.plate) - 1 - {PLATE_KEY_MIN - 1}",
            ],
        ),
    )
    # Visits recorded before the shop floor existed: 0–6 per customer, over the last years.
    visits = f"({pick(h('c.n', 8), ['0', '1', '1', '2', '3', '4', '6'])})"
    first_day = f"(30 + ({h('c.n', 9)}) % 1470)"
    k = "(k0.k * 4 + k1.k * 2 + k2.k)"
    timed(
        "visits",
        Interaction,
        [
            "id",
            "org",
            "store",
            "customer",
            "vehicle",
            "kind",
            "summary",
            "body",
            "amount",
            "occurred_at",
            "staff",
        ],
        {
            "id": f"({ids[Interaction]} + c.n * 8 + {k})",
            "org": str(org.pk),
            "store": "st.store_id",
            "customer": cid,
            "vehicle": "NULL",
            "kind": "'visit'",
            "summary": pick(h(f"c.n * 8 + {k}", 10), [quote(x) for x in cd.VISIT_SUMMARIES]),
            "body": "''",
            "amount": pick(
                h(f"c.n * 8 + {k}", 11), ["180", "380", "680", "980", "1580", "2600", "4800"]
            ),
            "occurred_at": sql.ts(
                f"({t_ord} - {first_day} + {k} * {first_day} / {visits}) * 1440 + 120"
            ),
            "staff": "NULL",
        },
        from_(
            ["demo_cseq c", "demo_cstore st", "demo_two k0", "demo_two k1", "demo_two k2"],
            [f"st.s = c.n % {n_stores}", f"{k} < {visits}"],
        ),
    )
    timed(
        "tags",
        Customer.tags.through,
        ["customer_id", "tag_id"],
        {"customer_id": cid, "tag_id": pick("c.n", [str(t.pk) for t in tags])},
        f"FROM demo_cseq c WHERE ({h('c.n', 12)}) % 5 = 0",
    )
    with connection.cursor() as cursor:
        for name in (*TEMP, "demo_cseq", "demo_two"):
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    return timing


def _minutes(moment: datetime.datetime) -> int:
    """A timestamp as whole minutes since 0001-01-01 UTC (``core.demo_sql``'s time unit)."""
    moment = moment.astimezone(datetime.UTC)
    return moment.date().toordinal() * 1440 + moment.hour * 60 + moment.minute
