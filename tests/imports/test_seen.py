"""What an import has touched so far lives in TEMP tables, not in Python: the engine's dicts
hold one chunk's keys, and in-file duplicates are still found across chunk boundaries."""

from __future__ import annotations

from django.db import connection

from autocrm.customers.models import Customer, Vehicle
from autocrm.imports import engine, readers, services
from autocrm.imports.seen import CUSTOMER, MOBILE, PLATE, VEHICLE, Seen
from tests.imports.files import xlsx


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname LIKE 'pg_temp%%'")
        else:
            cursor.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'")
        return {row[0] for row in cursor.fetchall() if row[0].startswith("autocrm_import_")}


def test_keys_keep_the_first_ref_unless_replaced(db):
    with Seen() as seen:
        seen.add_keys([(MOBILE, "13600000001", 5), (PLATE, "京A00001", 7)], replace=False)
        seen.add_keys([(MOBILE, "13600000001", 6)], replace=False)
        assert seen.keys(MOBILE, ["13600000001", "13600000002"]) == {"13600000001": 5}
        seen.add_keys([(MOBILE, "13600000001", 6)], replace=True)
        assert seen.keys(MOBILE, ["13600000001"]) == {"13600000001": 6}
        assert seen.keys(PLATE, ["13600000001"]) == {}  # kinds apart
        assert seen.keys(PLATE, []) == {}
        seen.add_records([(CUSTOMER, -1, 3, 9), (VEHICLE, -1, 4, None)])
        seen.add_records([(CUSTOMER, -1, 30, 90)])  # the first row that touched it stays
        assert seen.records(CUSTOMER, [-1, -2]) == {-1: (3, 9)}
        assert seen.records(VEHICLE, {-1}) == {-1: (4, None)}
        assert seen.count() == 2
        assert _tables() == {seen.keys_table, seen.records_table}
    assert _tables() == set()


def test_lookups_are_one_statement_whatever_the_number_of_keys(db):
    """The keys go as one parameter: a chunk of 3 keys and one of 300 run the same SQL."""
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with Seen() as seen, connection.execute_wrapper(record):
        seen.keys(MOBILE, [f"1360000{i:04d}" for i in range(3)])
        seen.keys(MOBILE, [f"1360000{i:04d}" for i in range(300)])
        seen.records(CUSTOMER, range(3))
        seen.records(CUSTOMER, range(300))
    assert len(statements) == 4
    assert statements[0] == statements[1] and statements[2] == statements[3]


ROWS = 41  # data rows; chunks of 4


def _rows() -> list[list]:
    rows = [
        [f"客户{n}", f"136{n:08d}", f"京A{n:05d}", None, None, None, None, None, None]
        for n in range(ROWS - 3)
    ]
    rows.append([None, None, "京A99999", None, None, None, None, None, None])  # 客户37's 2nd car
    rows.append(["客户0", "13600000000", "京A00000", None, None, None, None, None, None])  # dup
    rows.append(["别人", "13900000000", "京A00001", None, None, None, None, None, None])  # plate
    return rows


def _import(world, path, *, dry_run: bool):
    info = readers.inspect(path)
    importer = engine.Importer(
        org=world.org,
        store=world.a1,
        headers=info.headers,
        mapping=info.mapping,
        actor=world.advisor_a1,
        allowed_store_ids=services.allowed_store_ids(world.advisor_a1),
        dry_run=dry_run,
        chunk_size=4,
    )
    held: list[int] = []
    seen_keys: list[int] = []
    chunk = importer._chunk

    def measured(rows):
        chunk(rows)
        held.append(
            len(importer.mobiles)
            + len(importer.plates)
            + len(importer.vins)
            + len(importer.customer_rows)
            + len(importer.vehicle_rows)
        )
        seen_keys.append(importer.seen.count())

    importer._chunk = measured
    with readers.open_rows(path, info) as rows:
        totals = importer.run(r for r in rows if r[0] > info.header_row)
    return totals, {p["row"]: p for p in importer.preview}, held, seen_keys


def test_duplicates_far_apart_are_found_with_one_chunk_in_memory(world, tmp_path):
    path = xlsx(tmp_path / "a.xlsx", _rows())
    first, last = 3, 3 + ROWS - 1  # file rows of the first and the last data row
    for dry_run in (True, False):
        totals, plan, held, seen_keys = _import(world, path, dry_run=dry_run)
        assert len(held) == 11  # 41 rows in chunks of 4
        # Python holds what one chunk of 4 rows touches (a mobile, a plate, a customer and a
        # vehicle each, and the customer of the row above it), never what earlier chunks
        # brought in ...
        assert max(held) <= 4 * 4 + 1
        # ... which is in the database: two keys for each new customer with a car
        assert seen_keys[-1] == 2 * (ROWS - 3) + 1
        assert seen_keys == sorted(seen_keys)
        assert plan[last - 2]["action"] == "create"  # merged row: the row above's second car
        assert plan[last - 1]["action"] == "skip"
        assert plan[last - 1]["reasons"] == [f"Same as row {first}."]
        assert plan[last]["action"] == "reject"
        assert f"row {first + 1}" in plan[last]["reasons"][0]
        assert (totals.created, totals.skipped, totals.rejected) == (ROWS - 2, 1, 1)
        assert _tables() == set()
    assert Customer.objects.count() == ROWS - 3 and Vehicle.objects.count() == ROWS - 2
    assert set(
        Customer.objects.get(mobile=f"136{ROWS - 4:08d}").vehicles.values_list("plate", flat=True)
    ) == {f"京A{ROWS - 4:05d}", "京A99999"}
    # and again: everything is found in the database, nothing is created twice
    totals, plan, held, _keys = _import(world, path, dry_run=False)
    assert (totals.created, totals.updated, totals.rejected) == (0, 0, 1)
    assert max(held) <= 4 * 4 + 1
    assert Customer.objects.count() == ROWS - 3
