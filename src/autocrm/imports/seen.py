"""What an import has brought in so far, kept in the database instead of in Python.

An import must remember, for every customer and vehicle the file touches, its mobile, plate and
VIN and the row that first touched it: a duplicate row 40 000 rows later is reported, and a
second car of row 5's customer on row 4 000 joins that customer. Held in Python, that state
grows with the file. Here it lives in two TEMP tables of the import's own database connection
(SQLite and PostgreSQL alike; dropped at the end, and gone with the connection anyway):

- keys: (kind, key) → ref — ``m`` mobile, ``p`` plate, ``v`` VIN; ``ref`` is the record's id
  (negative: a record planned by a dry run, never written);
- records: (kind, ref) → (first row, extra) — ``c`` customer (extra: home store),
  ``v`` vehicle (extra: owner ref).

The engine reads the entries of one chunk's keys with indexed ``IN`` / ``= ANY`` lookups, keeps
them in small dicts while it plans the chunk, and writes back what the chunk added. Memory thus
holds one chunk's worth of keys, whatever the size of the file. On SQLite the connection's
temporary storage is switched to a file for the duration (the project's default keeps it in
memory, which would move the growth into SQLite's heap); SQLite allows that only outside a
transaction, as the command line and the worker run an import."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

from django.db import connection
from django.db.models.expressions import RawSQL

MOBILE, PLATE, VIN = "m", "p", "v"
CUSTOMER, VEHICLE = "c", "v"


def _list_sql(numbers: bool) -> str:
    """A set of values passed as one parameter, as a subquery: the statement's text is the
    same for a chunk of 10 keys or of 2 000. (``IN (%s, %s, …)`` makes a new statement for
    every length, and SQLite's statement cache would keep a hundred of them, several
    megabytes, for the rest of the run.)"""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[])" if numbers else "SELECT unnest(%s::text[])"
    return "SELECT value FROM json_each(%s)"


def _list_param(values: list):
    return values if connection.vendor == "postgresql" else json.dumps(values)


def any_of(values: Iterable, *, numbers: bool = False) -> RawSQL:
    """For ``field__in=``: ``values`` (texts, or integers) as one parameter (see
    ``_list_sql``)."""
    return RawSQL(_list_sql(numbers), [_list_param(list(values))])  # noqa: S611 - fixed text


class Seen:
    """The two TEMP tables of one import run. Use as a context manager."""

    def __init__(self):
        suffix = uuid.uuid4().hex[:12]
        self.keys_table = f"autocrm_import_keys_{suffix}"
        self.records_table = f"autocrm_import_records_{suffix}"
        self.postgres = connection.vendor == "postgresql"
        self._temp_store = None
        self._mmap_size = None
        self.open = False

    # --- lifetime -----------------------------------------------------------------------------

    def __enter__(self) -> Seen:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                # Pages of the database file mapped into memory count in the process's size
                # and would grow with the database; the page cache (``cache_size``) is bounded.
                cursor.execute("PRAGMA mmap_size")
                self._mmap_size = cursor.fetchone()[0]
                cursor.execute("PRAGMA mmap_size = 0")
            if connection.vendor == "sqlite" and not connection.in_atomic_block:
                # SQLite refuses this change inside a transaction (an import run from a test or
                # from within one keeps the connection's setting).
                cursor.execute("PRAGMA temp_store")
                self._temp_store = cursor.fetchone()[0]
                cursor.execute("PRAGMA temp_store = FILE")
            text, big = ("text", "bigint") if self.postgres else ("TEXT", "INTEGER")
            rowid = "" if self.postgres else " WITHOUT ROWID"
            cursor.execute(
                f"CREATE TEMP TABLE {self.keys_table} (kind {text} NOT NULL, "
                f"key {text} NOT NULL, ref {big} NOT NULL, PRIMARY KEY (kind, key)){rowid}"
            )
            cursor.execute(
                f"CREATE TEMP TABLE {self.records_table} (kind {text} NOT NULL, "
                f"ref {big} NOT NULL, row_number {big} NOT NULL, extra {big}, "
                f"PRIMARY KEY (kind, ref)){rowid}"
            )
        self.open = True
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.keys_table}")
                cursor.execute(f"DROP TABLE IF EXISTS {self.records_table}")
                if self._temp_store is not None:
                    cursor.execute(f"PRAGMA temp_store = {int(self._temp_store)}")
                if self._mmap_size is not None:
                    cursor.execute(f"PRAGMA mmap_size = {int(self._mmap_size)}")
        except Exception:  # noqa: BLE001, S110 - a broken transaction: the tables go with it
            pass

    # --- reading ------------------------------------------------------------------------------

    def _select(self, sql: str, kind: str, values: list, *, numbers: bool) -> list[tuple]:
        with connection.cursor() as cursor:
            sql = sql.replace("{list}", _list_sql(numbers))
            cursor.execute(sql, [kind, _list_param(values)])
            return cursor.fetchall()

    def keys(self, kind: str, keys: Iterable[str]) -> dict[str, int]:
        """The refs of those of ``keys`` the file has brought in so far."""
        keys = list(keys)
        if not keys:
            return {}
        table = self.keys_table
        rows = self._select(
            f"SELECT key, ref FROM {table} WHERE kind = %s AND key IN ({{list}})",  # noqa: S608
            kind,
            keys,
            numbers=False,
        )
        return dict(rows)

    def records(self, kind: str, refs: Iterable[int]) -> dict[int, tuple[int, int | None]]:
        """(first row, extra) of those of the customers or vehicles (``refs``) the file has
        touched so far."""
        refs = list(refs)
        if not refs:
            return {}
        table = self.records_table
        rows = self._select(
            f"SELECT ref, row_number, extra FROM {table} "  # noqa: S608
            "WHERE kind = %s AND ref IN ({list})",
            kind,
            refs,
            numbers=True,
        )
        return {ref: (row, extra) for ref, row, extra in rows}

    # --- writing ------------------------------------------------------------------------------

    def add_keys(self, entries: list[tuple[str, str, int]], *, replace: bool) -> None:
        """(kind, key, ref) entries; an existing key keeps its ref unless ``replace``."""
        if not entries:
            return
        table = self.keys_table
        action = "DO UPDATE SET ref = excluded.ref" if replace else "DO NOTHING"
        with connection.cursor() as cursor:
            if self.postgres:
                kinds, keys, refs = (list(column) for column in zip(*entries, strict=True))
                cursor.execute(
                    f"INSERT INTO {table} (kind, key, ref) "  # noqa: S608
                    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
                    f"ON CONFLICT (kind, key) {action}",
                    [kinds, keys, refs],
                )
            else:
                cursor.executemany(
                    f"INSERT INTO {table} (kind, key, ref) VALUES (%s, %s, %s) "  # noqa: S608
                    f"ON CONFLICT (kind, key) {action}",
                    entries,
                )

    def add_records(self, entries: list[tuple[str, int, int, int | None]]) -> None:
        """(kind, ref, first row, extra) entries for records touched for the first time."""
        if not entries:
            return
        table = self.records_table
        with connection.cursor() as cursor:
            if self.postgres:
                kinds, refs, rows, extras = (list(column) for column in zip(*entries, strict=True))
                cursor.execute(
                    f"INSERT INTO {table} (kind, ref, row_number, extra) "  # noqa: S608
                    "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], "
                    "%s::bigint[]) ON CONFLICT (kind, ref) DO NOTHING",
                    [kinds, refs, rows, extras],
                )
            else:
                cursor.executemany(
                    f"INSERT INTO {table} (kind, ref, row_number, extra) "  # noqa: S608
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (kind, ref) DO NOTHING",
                    entries,
                )

    def count(self) -> int:
        """Keys held (for tests)."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.keys_table}")  # noqa: S608
            return cursor.fetchone()[0]
