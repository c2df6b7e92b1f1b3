"""Inserting many rows without the ORM's per-object cost, on SQLite and PostgreSQL.

``bulk_create`` builds a model instance and prepares every field of every row through the
field API; at a hundred thousand customers (plus their vehicles, plate keys and audit entries)
that alone takes over a minute. Here values are adapted once per column with the backend's
own adapters and written with ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), like the demo
data loader. Ids that other rows point to are allocated up front: from the sequence on
PostgreSQL (safe with concurrent writers), and past the highest id ever used on SQLite, whose
write transactions (``BEGIN IMMEDIATE``) hold the database's only write lock."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from types import SimpleNamespace

from django.db import connection


def _adapter(field):
    kind = field.get_internal_type()
    ops = connection.ops
    if kind == "DateTimeField":  # rows of a chunk share their timestamps: adapt each once
        return functools.lru_cache(maxsize=256)(ops.adapt_datetimefield_value)
    if kind == "DateField":
        return functools.lru_cache(maxsize=4096)(ops.adapt_datefield_value)
    if kind == "JSONField":
        encoder = field.encoder

        def adapt_json(value):
            if value == {}:  # the default of most JSON columns
                return "{}"
            return json.dumps(value, cls=encoder)

        return adapt_json
    if kind == "DecimalField":
        return lambda value: None if value is None else str(value)
    return None


class Draft(SimpleNamespace):
    """A row about to be inserted: the model's fields as attributes (defaults filled in),
    without the cost of a model instance (its ``__init__`` takes longer than the insert)."""

    _model = None

    @property
    def pk(self):
        return self.id

    @pk.setter
    def pk(self, value):
        self.id = value

    def __str__(self) -> str:
        return self._model.__str__(self)


class Table:
    """The columns of a model, each with its adapter and its default."""

    def __init__(self, model, *, with_id: bool = False):
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        self.attnames = [f.attname for f in self.fields]
        adapters = [_adapter(f) for f in self.fields]
        self.adapters = [(i, a) for i, a in enumerate(adapters) if a is not None]
        self.defaults = [None if f.primary_key else f.get_default() for f in self.fields]
        self.draft_defaults = dict(zip(self.attnames, self.defaults, strict=True))
        self.draft_class = type(f"{model.__name__}Draft", (Draft,), {"_model": model})
        #: Columns whose values the audit log writes as text (dates, decimals).
        self.textual = [
            f.attname
            for f in self.fields
            if f.get_internal_type() in ("DateField", "DateTimeField", "DecimalField", "TimeField")
        ]

    def draft(self, **values) -> Draft:
        return self.draft_class(**{**self.draft_defaults, **values})

    def values(self, obj) -> list:
        return [getattr(obj, name) for name in self.attnames]

    def adapt(self, values: list) -> tuple:
        for index, adapt in self.adapters:
            value = values[index]
            if value is not None:
                values[index] = adapt(value)
        return tuple(values)

    def from_obj(self, obj) -> tuple:
        return self.adapt(self.values(obj))

    def from_dict(self, values: dict) -> tuple:
        return self.adapt(
            [
                values.get(name, default)
                for name, default in zip(self.attnames, self.defaults, strict=True)
            ]
        )

    def insert(self, rows: Iterable[tuple]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        columns = ", ".join(quote(f.column) for f in self.fields)
        with connection.cursor() as cursor, connection.wrap_database_errors:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.fields))
                sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
                cursor.executemany(sql, rows)
        return len(rows)


def allocate_ids(model, count: int) -> list[int]:
    """``count`` new primary keys for ``model``, never used before."""
    if count <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, model._meta.pk.column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT MAX({quote(model._meta.pk.column)}) FROM {quote(table)}")  # noqa: S608
        top = cursor.fetchone()[0] or 0
        if connection.vendor == "sqlite":  # AUTOINCREMENT never reuses the id of a deleted row
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            top = max(top, row[0] if row else 0)
    return list(range(top + 1, top + 1 + count))
