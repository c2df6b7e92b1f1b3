"""A check that every foreign key of some tables points at an existing row, whatever wrote them
(the demo's bulk loaders skip PostgreSQL's foreign-key triggers)."""

from __future__ import annotations

from django.db import connection, models


def dangling(*model_classes) -> list[str]:
    """``table.column → n`` for each foreign key with values that match no row."""
    found = []
    with connection.cursor() as cursor:
        for model in model_classes:
            table = connection.ops.quote_name(model._meta.db_table)
            for field in model._meta.concrete_fields:
                if not isinstance(field, models.ForeignKey):
                    continue
                target = field.related_model._meta
                parent = connection.ops.quote_name(target.db_table)
                column = connection.ops.quote_name(field.column)
                key = connection.ops.quote_name(field.target_field.column)
                cursor.execute(
                    f"SELECT COUNT(*) FROM {table} c LEFT JOIN {parent} p "  # noqa: S608
                    f"ON p.{key} = c.{column} WHERE c.{column} IS NOT NULL AND p.{key} IS NULL"
                )
                n = cursor.fetchone()[0]
                if n:
                    found.append(f"{model._meta.db_table}.{field.column} → {n}")
    return found
