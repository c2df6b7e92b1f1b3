"""The older part of a big demo history, written by the database itself.

``service.demo`` draws every recent work order in Python, with all its detail (time entries,
QC, inspections, the job board). At ``large`` scale that would take an hour for five million
orders, so the months before ``PLAN[scale]["python_days"]`` are made set-based instead:

1. Python draws a few thousand *combos* per kind of store (the jobs of one visit, its lines,
   prices, totals, declined work), with the same catalog, weights and money rules as the
   per-order generator, and a small table per store and day saying how many orders it had.
2. ``INSERT … SELECT`` statements expand them: store-day × sequence number → work orders, each
   picking a vehicle of its store that was registered by then and a combo, by pure arithmetic on
   its id (a fixed multiplicative hash, so the data is the same on every run and database);
   work orders × combo lines → lines; and so on for bookings, payments, mileage readings,
   recommendations, surveys and the day counters. Rows that belong to one work order get ids
   at fixed offsets from it, so no statement needs a window function or a sort.
3. The caller recomputes the customers' visit figures and the vehicles' last service and mileage
   from all work orders once the recent part is written (``finish``).

Mileage: the customers' demo gives every vehicle a constant daily rate from its registration,
so any day's odometer is ``rate × days since registration`` and readings never go down.
"""

from __future__ import annotations

import bisect
import datetime
import json
import time

from django.db import connection

from autocrm.core.demo_sql import Dialect, from_, h, insert, pick, quote, temp_table
from autocrm.customers.models import Customer, MileageReading, Vehicle
from autocrm.feedback.models import Survey
from autocrm.service import demo as d
from autocrm.service.models import (
    Appointment,
    Payment,
    Recommendation,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderLine,
)

COMBOS = 512  # combos per kind of store (repair / audio / dealer × tier-1 city or not)


def _insert(cursor, model, select: dict[str, str], body: str) -> int:
    """INSERT the model's demo columns (``service.demo.COLUMNS``) from ``select``."""
    return insert(cursor, model, d.COLUMNS[model], select, body)


# --- combos ---------------------------------------------------------------------------------


def _combos(rng, items, jobs, job_by_name) -> tuple[list, list, list]:
    """Visits drawn as the per-order generator draws them, for each kind of store."""
    combos, lines, recs = [], [], []
    for kind in range(3):
        job_cum = []
        acc = 0.0
        for job in jobs:
            acc += job[3][kind]
            job_cum.append(acc)
        upsells = [job_by_name[n] for n in (d.AUDIO_UPSELLS if kind == 1 else d.UPSELLS)]
        for tier1 in (False, True):
            factor = 12 if tier1 else 10
            base = (kind * 2 + tier1) * COMBOS
            for n in range(COMBOS):
                cid = base + n
                picked = [rng.choices(jobs, cum_weights=job_cum)[0]]
                r = rng.random()
                if r < 0.3:
                    picked.append(rng.choices(jobs, cum_weights=job_cum)[0])
                    if r < 0.06:
                        picked.append(rng.choices(jobs, cum_weights=job_cum)[0])
                proposals = [rng.choice(upsells)] if rng.random() < 0.25 else []
                pct, by_manager = 0, False
                r = rng.random()
                if r < 0.12:
                    pct = rng.choice((5, 8, 10))
                elif r < 0.16:
                    pct, by_manager = rng.choice((15, 20)), True
                labour_c = parts_c = other_c = disc_c = hours_h = 0
                sort = 0
                made = []
                for group, jobs_in in ((0, picked), (1, proposals)):
                    for job in jobs_in:
                        for slot, qty in job[4]:
                            item = items[slot if isinstance(slot, str) else rng.choice(slot)]
                            sort += 1
                            qty_h = item[9] * qty
                            approval = "approved"
                            if group and rng.random() >= 0.3:
                                approval = rng.choice(("declined", "deferred"))
                            line_pct = pct if group == 0 or approval == "approved" else 0
                            price_c = item[10] * factor // 10 if item[0] == "labour" else item[10]
                            gross = d.half_up(qty_h * price_c, 100)
                            amount = d.half_up(qty_h * price_c * (100 - line_pct), 10_000)
                            if approval == "approved":
                                if item[8] == "material":
                                    parts_c += amount
                                elif item[8] == "other":
                                    other_c += amount
                                else:
                                    labour_c += amount
                                disc_c += gross - amount
                                if item[0] == "labour":
                                    hours_h += item[12] * qty
                            declined = approval != "approved"
                            lines.append(
                                (
                                    cid,
                                    sort,
                                    item[0],
                                    item[1],
                                    item[2],
                                    job[1],
                                    item[3],
                                    item[4],
                                    item[5],
                                    item[6],
                                    item[7],
                                    item[8],
                                    qty_h / 100,
                                    d.yuan(price_c),
                                    float(line_pct) if gross != amount else 0.0,
                                    d.yuan(amount),
                                    int(by_manager and gross != amount),
                                    approval,
                                    "in_person"
                                    if group == 0
                                    else rng.choice(("phone", "link", "in_person")),
                                    rng.choice(d.DECLINE_REASONS) if declined else "",
                                    rng.choice(d.URGENCIES) if declined else "",
                                    "pending" if declined else "done",
                                )
                            )
                            made.append((sort, job, group, approval, amount))
                seen = set()
                for sort_, job, group, approval, _amount in made:
                    if group != 1 or approval == "approved" or job[0] in seen:
                        continue
                    seen.add(job[0])
                    quoted = sum(m[4] for m in made if m[1] is job and m[2] == 1)
                    recs.append(
                        (
                            cid,
                            len(seen),
                            sort_,
                            job[0],
                            d.yuan(quoted),
                            rng.choice(d.DECLINE_REASONS),
                            rng.choice(d.URGENCIES),
                        )
                    )
                rclass = max((j[5] for j in picked), key=d.REPAIR_RANK.get)
                w_days, w_km = d.WARRANTY[rclass]
                total_c = labour_c + parts_c + other_c
                combos.append(
                    (
                        cid,
                        labour_c,
                        parts_c,
                        other_c,
                        disc_c,
                        total_c,
                        d.tax_of(total_c),
                        rclass,
                        w_days,
                        w_km,
                        "；".join(dict.fromkeys(j[2] for j in picked)),
                        max(30, hours_h * 60 // 100),
                        picked[0][1],
                        int(parts_c > 0),
                        1 + sort // 2,
                    )
                )
    return combos, lines, recs


# --- temporary tables -----------------------------------------------------------------------

TEMP = {
    "demo_seq": "n INTEGER PRIMARY KEY",
    "demo_store": "store_id BIGINT PRIMARY KEY, code TEXT, combo_base INTEGER, "
    "adv1 BIGINT, adv2 BIGINT, manager BIGINT",
    "demo_fleet": "idx INTEGER PRIMARY KEY, vehicle_id BIGINT, owner_id BIGINT, "
    "reg_day INTEGER, rate INTEGER, company INTEGER",
    "demo_storeday": "store_id BIGINT, day INTEGER, n INTEGER, first_id BIGINT, "
    "fleet_off INTEGER, avail INTEGER, loyal INTEGER",
    "demo_combo": "cid INTEGER PRIMARY KEY, labour_c BIGINT, parts_c BIGINT, other_c BIGINT, "
    "disc_c BIGINT, total_c BIGINT, tax_c BIGINT, rclass TEXT, w_days INTEGER, w_km INTEGER, "
    "complaint TEXT, work_min INTEGER, package_id BIGINT, has_parts INTEGER, version INTEGER",
    "demo_combo_line": "cid INTEGER, sort INTEGER, kind TEXT, labour_id BIGINT, part_id BIGINT, "
    "package_id BIGINT, code TEXT, name TEXT, brand TEXT, spec TEXT, unit TEXT, category TEXT, "
    "quantity NUMERIC, unit_price NUMERIC, discount_pct NUMERIC, amount NUMERIC, "
    "by_manager INTEGER, approval TEXT, channel TEXT, decline_reason TEXT, urgency TEXT, "
    "progress TEXT",
    "demo_combo_rec": "cid INTEGER, k INTEGER, sort INTEGER, name TEXT, amount NUMERIC, "
    "reason TEXT, urgency TEXT",
}


def _temp_tables(cursor, rows: dict[str, list[tuple]]) -> None:
    for name, spec in TEMP.items():
        temp_table(cursor, name, spec, rows.get(name) or [])
    cursor.execute("CREATE INDEX demo_combo_line_cid ON demo_combo_line (cid)")
    cursor.execute("CREATE INDEX demo_combo_rec_cid ON demo_combo_rec (cid)")
    if connection.vendor == "postgresql":
        for name in TEMP:
            cursor.execute(f"ANALYZE {name}")


def _fleet(stores) -> tuple[list[tuple], dict[int, tuple[int, list[int]]]]:
    """Every vehicle of the given stores, oldest registration first per store, with its daily
    mileage rate; per store its offset in that list and the sorted registration days."""
    v = Vehicle._meta.db_table
    c = Customer._meta.db_table
    rows, per_store = [], {}
    with connection.cursor() as cursor:
        for store in stores:
            cursor.execute(
                f"SELECT v.id, v.owner_id, v.registered_on, v.current_mileage, "  # noqa: S608
                f"v.mileage_read_on, c.kind FROM {v} v JOIN {c} c ON c.id = v.owner_id "
                f"WHERE v.home_store_id = %s ORDER BY v.registered_on, v.id",
                [store.pk],
            )
            offset = len(rows)
            days = []
            for vid, owner, registered, km, read_on, kind in cursor.fetchall():
                reg = d._as_ordinal(registered) if registered else 730_000
                span = d._as_ordinal(read_on) - reg if read_on else 0
                rate = (km or 0) // span if span > 0 else 40
                rows.append((len(rows), vid, owner, reg, max(rate, 1), int(kind == "company")))
                days.append(reg)
            per_store[store.pk] = (offset, days)
    return rows, per_store


def _storedays(rng, stores, counts, per_store, first_day, end_day, first_id):
    """How many orders each store had on each day of [first_day, end_day)."""
    rows = []
    next_id = first_id
    for store, count in zip(stores, counts, strict=True):
        offset, reg_days = per_store[store.pk]
        days = list(range(first_day, end_day))
        weights = []
        for day in days:
            avail = bisect.bisect_right(reg_days, day - 7)
            w = (1.3 if datetime.date.fromordinal(day).weekday() >= 5 else 1.0) if avail else 0
            weights.append(w * (0.8 + 0.4 * rng.random()))
        total_w = sum(weights) or 1
        wanted = [count * w / total_w for w in weights]
        got = [int(x) for x in wanted]
        short = count - sum(got)
        # The largest remainders get the orders rounding left over.
        for i in sorted(range(len(days)), key=lambda i: got[i] - wanted[i])[:short]:
            if weights[i]:
                got[i] += 1
        for day, n in zip(days, got, strict=True):
            if not n:
                continue
            avail = bisect.bisect_right(reg_days, day - 7)
            rows.append((store.pk, day, n, next_id, offset, avail, max(1, avail // 5)))
            next_id += n
    return rows, next_id


# --- the load -------------------------------------------------------------------------------


def load(
    *,
    org_id,
    stores,
    counts,
    rng,
    first_day,
    end_day,
    today,
    staff,
    items,
    jobs,
    job_by_name,
    ids,
    writer,
) -> dict:
    """Write ``counts[i]`` work orders for ``stores[i]`` dated [first_day, end_day), with
    their lines, bookings, payments, readings, recommendations, surveys and day counters.
    ``ids`` (next free id per model) is moved past everything written."""
    timing = {}
    t0 = time.perf_counter()
    sql = Dialect()
    combos, combo_lines, combo_recs = _combos(rng, items, jobs, job_by_name)
    fleet, per_store = _fleet(stores)
    wo_base = ids[WorkOrder]
    storedays, wo_end = _storedays(rng, stores, counts, per_store, first_day, end_day, wo_base)
    n_orders = wo_end - wo_base
    if not n_orders:
        return {}
    kind_index = {"repair": 0, "audio": 1, "dealer": 2}
    store_rows = []
    for store in stores:
        people = staff[store.pk]
        advisors = people.get(d.SERVICE_ADVISOR) or people.get(d.STORE_MANAGER) or [None]
        manager = (people.get(d.STORE_MANAGER) or advisors)[0]
        variant = kind_index.get(store.kind, 0) * 2 + (store.city in d.TIER1)
        store_rows.append(
            (
                store.pk,
                store.code.upper(),
                variant * COMBOS,
                advisors[0],
                advisors[1 % len(advisors)],
                manager,
            )
        )
    max_n = max(r[2] for r in storedays)
    lmax = max(r[1] for r in combo_lines) + 1
    rmax = max((r[1] for r in combo_recs), default=0) + 1
    with connection.cursor() as cursor:
        _temp_tables(
            cursor,
            {
                "demo_seq": [(n,) for n in range(max_n)],
                "demo_store": store_rows,
                "demo_fleet": fleet,
                "demo_storeday": storedays,
                "demo_combo": combos,
                "demo_combo_line": combo_lines,
                "demo_combo_rec": combo_recs,
            },
        )
    timing["drawing (Python)"] = time.perf_counter() - t0

    # Ids at fixed offsets from the work order's own: k = work order id − first id.
    base = {m: ids[m] for m in (Appointment, WorkOrderLine, Payment, MileageReading)}
    base.update({m: ids[m] for m in (Recommendation, Survey)})
    k = f"(o.id - {wo_base})"
    # One row per order: store-day × sequence, its vehicle and combo by the id hash.
    # SQLite keeps the order of CROSS JOINs: the driving rows first, then lookups by key (a
    # planner without statistics might otherwise scan a big table once per small-table row).
    orders_from = [
        "(SELECT sd.first_id + q.n AS id, sd.store_id, sd.day, q.n + 1 AS seq, "
        "sd.fleet_off, sd.avail, sd.loyal "
        "FROM demo_storeday sd CROSS JOIN demo_seq q WHERE q.n < sd.n) o",
        "demo_store st",
        "demo_fleet f",
        "demo_combo c",
    ]
    orders_on = [
        "st.store_id = o.store_id",
        f"f.idx = o.fleet_off + ({h('o.id', 0)}) % "
        f"(CASE WHEN ({h('o.id', 1)}) % 3 = 0 THEN o.loyal ELSE o.avail END)",
        f"c.cid = st.combo_base + ({h('o.id', 2)}) % {COMBOS}",
    ]
    orders = from_(orders_from, orders_on)
    with_people = from_(
        [*orders_from, f"{Customer._meta.db_table} cu", f"{Vehicle._meta.db_table} ve"],
        [*orders_on, "cu.id = f.owner_id", "ve.id = f.vehicle_id"],
    )
    opened = f"(o.day * 1440 + 30 + ({h('o.id', 3)}) % 540)"
    cancelled = f"({h('o.id', 4)}) % 50 = 0"
    receivable = f"(c.total_c > 0 AND ((f.company = 1 AND ({h('o.id', 5)}) % 2 = 0) OR ({h('o.id', 5)}) % 67 = 0))"  # noqa: E501
    status = f"(CASE WHEN {cancelled} THEN 'cancelled' WHEN {receivable} THEN 'settled' ELSE 'closed' END)"  # noqa: E501
    settled = f"({opened} + c.work_min * (120 + ({h('o.id', 6)}) % 100) / 100 + 20)"
    booked = f"({h('o.id', 7)}) % 5 = 0"
    advisor = "(CASE WHEN o.id % 2 = 0 THEN st.adv1 ELSE st.adv2 END)"
    mileage = "(f.rate * (o.day - f.reg_day))"
    counts_out = {}

    def timed(label, model, select, body):
        t = time.perf_counter()
        with connection.cursor() as cursor:
            n = _insert(cursor, model, select, body)
        timing[label] = time.perf_counter() - t
        counts_out[model] = counts_out.get(model, 0) + n
        writer.counts[model] = writer.counts.get(model, 0) + n

    # Bookings first (work orders point at them), then the rest.
    slot = f"({opened} - {opened} % 60)"
    timed(
        "bookings",
        Appointment,
        {
            "id": f"{base[Appointment]} + {k}",
            "org": str(org_id),
            "store": "o.store_id",
            "customer": "f.owner_id",
            "vehicle": "f.vehicle_id",
            "name": "cu.name",
            "mobile": "cu.mobile",
            "plate": "ve.plate",
            "package": "c.package_id",
            "note": "''",
            "starts_at": sql.ts(slot),
            "status": "'arrived'",
            "channel": f"(CASE WHEN ({h('o.id', 8)}) % 20 < 7 THEN 'online' ELSE 'staff' END)",
            "created_by": f"(CASE WHEN ({h('o.id', 8)}) % 20 < 7 THEN NULL ELSE {advisor} END)",
            "confirmed_at": sql.ts(f"{slot} - 60 - ({h('o.id', 9)}) % 4260"),
            "arrived_at": sql.ts(opened),
            "cancel_reason": "''",
            "created_at": sql.ts(f"{slot} - 4320 - ({h('o.id', 9)}) % 5760"),
            "updated_at": sql.ts(opened),
        },
        f"{with_people} AND {booked}",
    )
    # Bookings that did not turn into a visit: one for every fiftieth order, a week earlier.
    missed = f"(({opened}) - 10080)"
    timed(
        "bookings missed",
        Appointment,
        {
            "id": f"{base[Appointment] + n_orders} + {k}",
            "org": str(org_id),
            "store": "o.store_id",
            "customer": "f.owner_id",
            "vehicle": "f.vehicle_id",
            "name": "cu.name",
            "mobile": "cu.mobile",
            "plate": "ve.plate",
            "package": "NULL",
            "note": "''",
            "starts_at": sql.ts(f"{missed} - {missed} % 60"),
            "status": pick(h("o.id", 10), ["'no_show'", "'cancelled'", "'cancelled'"]),
            "channel": "'staff'",
            "created_by": "st.adv1",
            "confirmed_at": f"(CASE WHEN ({h('o.id', 10)}) % 3 = 0 THEN "
            f"{sql.ts(f'{missed} - 1440')} END)",
            "arrived_at": "NULL",
            "cancel_reason": f"(CASE WHEN ({h('o.id', 10)}) % 3 = 0 THEN '' ELSE "
            f"{quote('客户有事改期')} END)",
            "created_at": sql.ts(f"{missed} - 2880"),
            "updated_at": sql.ts(f"{missed} - 2850"),
        },
        f"{with_people} AND ({h('o.id', 11)}) % 50 = 0",
    )

    def total(column):
        return f"(CASE WHEN {cancelled} THEN 0 ELSE {sql.money(f'c.{column}')} END)"

    number = f"st.code || '-' || {sql.day_text('o.day')} || '-' || {sql.pad('o.seq', 3)}"
    closed_at = f"({settled} + 10 + ({h('o.id', 12)}) % 2870)"
    timed(
        "work orders",
        WorkOrder,
        {
            "id": "o.id",
            "org": str(org_id),
            "store": "o.store_id",
            "number": number,
            "customer": "f.owner_id",
            "vehicle": "f.vehicle_id",
            "appointment": f"(CASE WHEN {booked} THEN {base[Appointment]} + {k} END)",
            "advisor": advisor,
            "status": status,
            "mileage_in": mileage,
            "complaint": "c.complaint",
            "promised_at": sql.ts(f"(({opened} + c.work_min + 30) / 30) * 30"),
            "opened_at": sql.ts(opened),
            "settled_at": f"(CASE WHEN {cancelled} THEN NULL ELSE {sql.ts(settled)} END)",
            "closed_at": f"(CASE WHEN {status} = 'closed' THEN {sql.ts(closed_at)} END)",
            "repair_class": "c.rclass",
            "warranty_days": "c.w_days",
            "warranty_km": "c.w_km",
            "old_parts_returned": f"(c.has_parts = 1 AND ({h('o.id', 13)}) % 10 < 3)",
            "custom": sql.json("'{}'"),
            "labour_total": total("labour_c"),
            "parts_total": total("parts_c"),
            "other_total": total("other_c"),
            "discount_total": total("disc_c"),
            "total": total("total_c"),
            "tax": total("tax_c"),
            "paid": f"(CASE WHEN {status} = 'closed' THEN {sql.money('c.total_c')} ELSE 0 END)",
            "stage": "NULL",
            "stage_entered_at": "NULL",
            "cancel_reason": f"(CASE WHEN {cancelled} THEN "
            f"{pick(h('o.id', 9), [quote(r) for r in d.CANCEL_REASONS])} ELSE '' END)",
            "version": "c.version",
            "updated_by": advisor,
            "created_at": sql.ts(opened),
            "updated_at": f"(CASE WHEN {cancelled} THEN {sql.ts(opened)} WHEN {status} = 'closed' "
            f"THEN {sql.ts(closed_at)} ELSE {sql.ts(settled)} END)",
        },
        orders,
    )
    # The rest reads the work orders just written (their id range).
    w = WorkOrder._meta.db_table
    if sql.pg:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {w}")
    in_range = f"o.id >= {wo_base} AND o.id < {wo_end}"
    of_orders = f"FROM {w} o WHERE {in_range}"
    combo_from = [f"{w} o", "demo_store st", "demo_combo c"]
    combo_on = [
        in_range,
        "st.store_id = o.store_id",
        f"c.cid = st.combo_base + ({h('o.id', 2)}) % {COMBOS}",
    ]
    timed(
        "lines",
        WorkOrderLine,
        {
            "id": f"{base[WorkOrderLine]} + {k} * {lmax} + cl.sort",
            "work_order": "o.id",
            "kind": "cl.kind",
            "labour": "cl.labour_id",
            "part": "cl.part_id",
            "package": "cl.package_id",
            "code": "cl.code",
            "name": "cl.name",
            "brand": "cl.brand",
            "spec": "cl.spec",
            "unit": "cl.unit",
            "category": "cl.category",
            "quantity": "cl.quantity",
            "unit_price": "cl.unit_price",
            "discount_pct": "cl.discount_pct",
            "amount": "cl.amount",
            "discount_approved_by": "(CASE WHEN cl.by_manager = 1 THEN st.manager END)",
            "customer_supplied": "FALSE",
            "approval": "(CASE WHEN o.status = 'cancelled' THEN 'declined' ELSE cl.approval END)",
            "approval_channel": "cl.channel",
            "approved_by_name": f"(CASE WHEN cu.kind = 'company' THEN {quote('车队经办人')} "
            "ELSE cu.name END)",
            "approved_at": sql.plus_minutes("o.opened_at", 15),
            "decline_reason": "(CASE WHEN o.status = 'cancelled' AND cl.approval = 'approved' "
            f"THEN {quote(d.DECLINE_REASONS[0])} ELSE cl.decline_reason END)",
            "urgency": "(CASE WHEN o.status = 'cancelled' AND cl.approval = 'approved' "
            "THEN 'later' ELSE cl.urgency END)",
            "progress": "(CASE WHEN o.status = 'cancelled' THEN 'pending' ELSE cl.progress END)",
            "sort": "cl.sort",
            "created_at": "o.opened_at",
        },
        from_(
            [*combo_from, "demo_combo_line cl", f"{Customer._meta.db_table} cu"],
            [*combo_on, "cl.cid = c.cid", "cu.id = o.customer_id"],
        ),
    )
    method = pick(
        h("o.id", 1), ["'wechat'"] * 10 + ["'alipay'"] * 5 + ["'card'"] * 3 + ["'cash'"] * 2
    )
    pay_id = f"({base[Payment]} + {k})"
    timed(
        "payments",
        Payment,
        {
            "id": pay_id,
            "org": str(org_id),
            "store": "o.store_id",
            "work_order": "o.id",
            "method": method,
            "kind": "'payment'",
            "amount": "o.paid",
            "reference": f"(CASE WHEN {method} = 'cash' THEN '' ELSE "
            f"upper(substr({method}, 1, 2)) || {sql.pad(pay_id, 14)} END)",
            "received_by": "o.advisor_id",
            "created_at": "o.settled_at",
        },
        f"{of_orders} AND o.status = 'closed' AND o.paid > 0",
    )
    timed(
        "mileage readings",
        MileageReading,
        {
            "id": f"{base[MileageReading]} + {k}",
            "vehicle": "o.vehicle_id",
            "km": "o.mileage_in",
            "read_on": sql.date_of("o.opened_at"),
            "source": "'visit'",
            "note": "o.number",
            "recorded_by": "o.advisor_id",
            "created_at": "o.opened_at",
        },
        f"{of_orders} AND o.status <> 'cancelled'",
    )
    age_open = sql.ts(str((today - 60) * 1440))
    rec_open = f"(o.opened_at >= {age_open} OR ({h('o.id + r.k', 0)}) % 2 = 0)"
    timed(
        "recommendations",
        Recommendation,
        {
            "id": f"{base[Recommendation]} + {k} * {rmax} + r.k",
            "org": str(org_id),
            "store": "o.store_id",
            "vehicle": "o.vehicle_id",
            "customer": "o.customer_id",
            "source_line": f"{base[WorkOrderLine]} + {k} * {lmax} + r.sort",
            "name": "r.name",
            "amount": "r.amount",
            "reason": "r.reason",
            "urgency": "r.urgency",
            "status": f"(CASE WHEN {rec_open} THEN 'open' ELSE 'dismissed' END)",
            "resolved_at": f"(CASE WHEN {rec_open} THEN NULL ELSE "
            f"{sql.plus_minutes('o.opened_at', '1440 * (7 + o.id % 84)')} END)",
            "created_at": "o.opened_at",
            "updated_at": "o.opened_at",
        },
        from_(
            [*combo_from, "demo_combo_rec r"],
            [*combo_on, "r.cid = c.cid", "o.status <> 'cancelled'"],
        ),
    )
    # Surveys after a quarter of the settled visits: 80 % promoters, 12 % passives.
    stars = [str(x) for x in d.PASSIVE_STARS]

    def dim(j):
        x = h(f"o.id * 8 + {j}", 12)
        return (
            f"(CASE WHEN {h('o.id', 13)} % 100 < 80 THEN 4 + ({x}) % 2 "
            f"WHEN {h('o.id', 13)} % 100 < 92 THEN {pick(x, stars)} ELSE 1 + ({x}) % 4 END)"
        )

    nps = (
        f"(CASE WHEN {h('o.id', 13)} % 100 < 80 THEN 9 + ({h('o.id', 10)}) % 2 "
        f"WHEN {h('o.id', 13)} % 100 < 92 THEN 7 + ({h('o.id', 10)}) % 2 "
        f"ELSE ({h('o.id', 10)}) % 7 END)"
    )
    reasons = sorted(
        {json.dumps(rng.sample(d.LOW_REASON_CODES, rng.randint(1, 2))) for _ in range(40)}
    )
    low = f"(s.nps <= 6 OR {sql.least('s.t', 's.p', 's.a', 's.r')} <= 3)"
    handled = f"({low} AND s.id % 10 <> 0)"
    after = f"(60 + ({h('s.id', 6)}) % 4260)"
    timed(
        "surveys",
        Survey,
        {
            "id": f"{base[Survey]} + s.id - {wo_base}",
            "org": str(org_id),
            "store": "s.store_id",
            "work_order": "s.id",
            "customer": "s.customer_id",
            "nps": "s.nps",
            "timeliness": "s.t",
            "professionalism": "s.p",
            "attitude": "s.a",
            "result": "s.r",
            "reasons": sql.json(
                f"(CASE WHEN {low} THEN {pick(h('s.id', 7), [quote(r) for r in reasons])} "
                "ELSE '[]' END)"
            ),
            "comment": f"(CASE WHEN {low} THEN "
            f"{pick(h('s.id', 8), [quote(c) for c in d.LOW_COMMENTS])} ELSE "
            f"{pick(h('s.id', 8), [quote(c) for c in d.HAPPY_COMMENTS])} END)",
            "is_low": low,
            "submitted_at": sql.plus_minutes("s.settled_at", after),
            "handled_at": f"(CASE WHEN {handled} THEN "
            f"{sql.plus_minutes('s.settled_at', f'{after} + 30 + s.id % 1410')} END)",
            "handled_by": f"(CASE WHEN {handled} THEN st.manager END)",
            "handling_note": f"(CASE WHEN {handled} THEN "
            f"{pick('s.id', [quote(n) for n in d.HANDLING_NOTES])} ELSE '' END)",
        },
        f"FROM (SELECT o.id, o.store_id, o.customer_id, o.settled_at, {nps} AS nps, "
        f"{dim(0)} AS t, {dim(1)} AS p, {dim(2)} AS a, {dim(3)} AS r "
        f"{of_orders} AND o.status <> 'cancelled' AND ({h('o.id', 11)}) % 4 = 1) s "
        "CROSS JOIN demo_store st WHERE st.store_id = s.store_id",
    )
    t = time.perf_counter()
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(WorkOrderCounter._meta.db_table)
        cols = ", ".join(d._cols(WorkOrderCounter, "store", "day", "last"))
        cursor.execute(
            f"INSERT INTO {table} ({cols}) "  # noqa: S608
            f"SELECT store_id, {sql.date('day')}, n FROM demo_storeday"
        )
        counts_out[WorkOrderCounter] = cursor.rowcount
        for name in TEMP:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    timing["day counters"] = time.perf_counter() - t
    ids[WorkOrder] = wo_end
    return {"timing": timing, "counts": counts_out}


def finish(org_id: int) -> dict:
    """Customers' visit figures and vehicles' last service and mileage, from every work order
    and reading (what ``services._after_settle`` keeps for each settlement)."""
    sql = Dialect()
    timing = {}
    c = Customer._meta.db_table
    v = Vehicle._meta.db_table
    w = WorkOrder._meta.db_table
    r = MileageReading._meta.db_table
    visits = "status IN ('settled', 'closed')"
    with connection.cursor() as cursor:
        if sql.pg:  # group and sort millions of orders in memory (this transaction only)
            cursor.execute("SET LOCAL work_mem = '256MB'")
        t = time.perf_counter()
        cursor.execute(
            f"UPDATE {c} SET visit_count = a.n, lifetime_spend = a.spend, "  # noqa: S608
            f"first_visit_at = a.first, last_visit_at = a.last FROM ("
            f"SELECT customer_id, COUNT(*) AS n, {sql.cents_sum('total')} AS spend, "
            f"MIN(settled_at) AS first, MAX(settled_at) AS last FROM {w} "
            f"WHERE org_id = %s AND {visits} GROUP BY customer_id) a WHERE {c}.id = a.customer_id",
            [org_id],
        )
        timing["customers' visit figures"] = time.perf_counter() - t
        t = time.perf_counter()
        # The last visit is the one opened last (as the settlements came in).
        if sql.pg:
            last = (
                f"SELECT DISTINCT ON (vehicle_id) vehicle_id, settled_at AS last, "  # noqa: S608
                f"mileage_in AS km FROM {w} WHERE org_id = %s AND {visits} "
                f"ORDER BY vehicle_id, opened_at DESC, id DESC"
            )
        else:  # SQLite: the bare columns come from the row that has the MAX
            last = (
                f"SELECT vehicle_id, MAX(opened_at), settled_at AS last, "  # noqa: S608
                f"mileage_in AS km FROM {w} WHERE org_id = %s AND {visits} GROUP BY vehicle_id"
            )
        cursor.execute(
            f"UPDATE {v} SET last_service_on = {sql.local_date('a.last')}, "  # noqa: S608
            f"last_service_km = a.km FROM ({last}) a WHERE {v}.id = a.vehicle_id",
            [org_id],
        )
        cursor.execute(
            f"UPDATE {v} SET current_mileage = a.km, mileage_read_on = a.day FROM ("  # noqa: S608
            f"SELECT vehicle_id, MAX(km) AS km, MAX(read_on) AS day FROM {r} "
            f"GROUP BY vehicle_id) a WHERE {v}.id = a.vehicle_id AND {v}.org_id = %s",
            [org_id],
        )
        timing["vehicles' service and mileage"] = time.perf_counter() - t
    return timing
