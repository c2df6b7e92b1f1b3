"""SQL for writing big demo data set-based (``INSERT … SELECT``) on SQLite and PostgreSQL.

Rows are derived from a sequence number by a fixed multiplicative hash (``h``), so the data is
the same on every run and both databases, and no statement needs a window function or a sort.
Used by the customers' and the shop floor's demo loaders at ``large`` scale."""

from __future__ import annotations

import contextlib
import datetime

from django.db import connection

MINUTES_1970 = datetime.date(1970, 1, 1).toordinal() * 1440
# (multiplier, offset) pairs of the id hash, one per independent draw.
_MIX = [
    (2_654_435_761, 7),
    (2_246_822_519, 13),
    (3_266_489_917, 29),
    (668_265_263, 31),
    (374_761_393, 41),
    (2_870_177_450, 53),
    (1_181_783_497, 67),
    (2_048_144_777, 71),
    (1_609_587_929, 83),
    (1_500_450_271, 97),
    (3_242_174_889, 101),
    (2_654_435_789, 103),
    (1_540_483_477, 107),
    (4_294_967_291, 109),
]
_P1 = 2_147_483_647
_P2 = 2_147_483_629


def h(expr: str, k: int) -> str:
    """A pseudo-random number in [0, 2^31) from an integer SQL expression (draw ``k``).

    Two multiplicative steps modulo two primes; every product stays below 2^63."""
    a, c = _MIX[k]
    b, _ = _MIX[(k + 5) % len(_MIX)]
    return f"((((CAST({expr} AS BIGINT)) * {a}) % {_P1}) * {b % _P2} + {c}) % {_P2}"


class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self) -> None:
        self.pg = connection.vendor == "postgresql"

    def date(self, ordinal: str) -> str:
        if self.pg:
            return f"(DATE '0001-01-01' + (({ordinal}) - 1)::int)"
        return f"date(({ordinal}) + 1721424.5)"

    def ts(self, minutes: str) -> str:
        if self.pg:
            return f"to_timestamp((({minutes}) - {MINUTES_1970}) * 60)"
        return f"datetime((({minutes}) - {MINUTES_1970}) * 60, 'unixepoch')"

    def day_text(self, ordinal: str) -> str:
        """YYYYMMDD of a day ordinal."""
        if self.pg:
            return f"to_char({self.date(ordinal)}, 'YYYYMMDD')"
        return f"strftime('%Y%m%d', {self.date(ordinal)})"

    def pad(self, expr: str, width: int) -> str:
        if self.pg:
            return f"lpad(({expr})::text, {width}, '0')"
        return f"printf('%0{width}d', {expr})"

    def date_of(self, timestamp: str) -> str:
        """The (UTC) date of a timestamp column; shop hours keep it the local date too."""
        if self.pg:
            return f"(({timestamp}) AT TIME ZONE 'UTC')::date"
        return f"date({timestamp})"

    def plus_minutes(self, timestamp: str, minutes) -> str:
        """A timestamp column plus a number of minutes (an int or an SQL expression)."""
        if self.pg:
            return f"(({timestamp}) + ({minutes}) * interval '1 minute')"
        return f"datetime({timestamp}, '+' || ({minutes}) || ' minutes')"

    def local_date(self, timestamp: str) -> str:
        """The Shanghai date of a timestamp column."""
        if self.pg:
            return f"(({timestamp}) AT TIME ZONE 'Asia/Shanghai')::date"
        return f"date({timestamp}, '+8 hours')"

    def cents_sum(self, column: str) -> str:
        """An exact sum of a money column, in yuan."""
        if self.pg:
            return f"SUM({column})"
        return f"(SUM(CAST(round({column} * 100) AS INTEGER)) / 100.0)"

    def money(self, cents: str) -> str:
        return f"(({cents})::numeric / 100)" if self.pg else f"(({cents}) / 100.0)"

    def json(self, text: str) -> str:
        return f"{text}::jsonb" if self.pg else text

    def least(self, *exprs: str) -> str:
        return f"{'LEAST' if self.pg else 'min'}({', '.join(exprs)})"


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pick(expr: str, values: list[str]) -> str:
    """One of ``values`` (SQL literals) chosen by ``expr`` modulo their count."""
    whens = " ".join(f"WHEN {i} THEN {v}" for i, v in enumerate(values))
    return f"(CASE ({expr}) % {len(values)} {whens} END)"


def from_(tables: list[str], conditions: list[str]) -> str:
    """FROM … WHERE … with the tables joined in the order given (see ``load``)."""
    return f"FROM {' CROSS JOIN '.join(tables)} WHERE {' AND '.join(conditions)}"


def insert(cursor, model, columns: list[str], select: dict[str, str], body: str) -> int:
    """INSERT INTO the model's table the given columns (model field names), each from the SQL
    expression ``select[name]``, ``body`` being the FROM … WHERE … part; returns the row count."""
    fields = {f.name: f.column for f in model._meta.concrete_fields}
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(fields.get(c, c)) for c in columns)
    exprs = ",\n  ".join(select[c] for c in columns)
    cursor.execute(f"INSERT INTO {table} ({cols})\nSELECT\n  {exprs}\n{body}")  # noqa: S608
    return cursor.rowcount


def temp_table(cursor, name: str, spec: str, rows: list[tuple] = ()) -> None:
    """A temporary table ``name`` (columns ``spec``) filled with ``rows``."""
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TEMP TABLE {name} ({spec})")
    if not rows:
        return
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY {name} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join(["%s"] * len(rows[0]))
        cursor.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)  # noqa: S608


def sequence(cursor, name: str, count: int) -> None:
    """A temporary table ``name`` of the numbers 0 … count − 1 (column ``n``), made in SQL."""
    pg = connection.vendor == "postgresql"
    # 64-bit on PostgreSQL, where INTEGER is 32-bit (SQLite's INTEGER PRIMARY KEY is the rowid).
    temp_table(cursor, name, f"n {'BIGINT' if pg else 'INTEGER'} PRIMARY KEY")
    if count <= 0:
        return
    if pg:
        cursor.execute(f"INSERT INTO {name} SELECT generate_series(0, %s)", [count - 1])  # noqa: S608
        cursor.execute(f"ANALYZE {name}")
    else:
        cursor.execute(
            f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s "  # noqa: S608
            f"WHERE n < %s) INSERT INTO {name} SELECT n FROM s",
            [count - 1],
        )


@contextlib.contextmanager
def trusted_bulk_load():
    """PostgreSQL, as a superuser: skip the foreign-key triggers while the demo writes rows it
    built consistent (``session_replication_role = replica``, as a restore of a dump does); a
    row-by-row check of 20 million keys is most of the load's time. Elsewhere, or without the
    right, the checks stay on. The demo's tests check the references on both databases."""
    if connection.vendor != "postgresql":
        yield False
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
        allowed = bool(row and row[0])
        if allowed:
            cursor.execute("SET session_replication_role = replica")
    try:
        yield allowed
    finally:
        if allowed:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = origin")


def big_cache():
    """SQLite: a page cache big enough to hold the whole load (up to 12 GB, at most 60 % of the
    memory available), so that the one big transaction does not spill pages to the WAL file and
    read them back (at ``large`` scale that made the load several times slower). Memory is only
    taken as pages are used. Returns the setting to restore once the load is done."""
    if connection.vendor != "sqlite":
        return None
    available_kb = 4_000_000
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available_kb = int(line.split()[1])
    except OSError:
        pass
    size_kb = max(1_000_000, min(12_000_000, available_kb * 6 // 10))
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{int(size_kb)}")
    return before


def restore_cache(before) -> None:
    if before is not None:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")
