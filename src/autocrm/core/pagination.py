"""Cursor pagination by primary key: stable under inserts, O(1) per page at any depth."""

from __future__ import annotations

import base64

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from autocrm.core.errors import Invalid

MAX_LIMIT = 200


def _encode(pk: int) -> str:
    return base64.urlsafe_b64encode(f"id:{pk}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "id":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(fields={"cursor": _("This cursor is not valid.")}) from exc


def paginate(
    queryset: QuerySet, cursor: str | None, limit: int = 50, *, descending: bool = False
) -> dict:
    """Return ``{"items": [...], "next_cursor": str | None}`` ordered by id (newest first when
    ``descending``)."""
    limit = max(1, min(int(limit or 50), MAX_LIMIT))
    qs = queryset.order_by("-pk" if descending else "pk")
    if cursor:
        after = _decode(cursor)
        qs = qs.filter(pk__lt=after) if descending else qs.filter(pk__gt=after)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": _encode(rows[-1].pk) if more and rows else None}
