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
    queryset: QuerySet,
    cursor: str | None,
    limit: int = 50,
    *,
    descending: bool = False,
    lenient: bool = False,
) -> dict:
    """Return ``{"items": [...], "next_cursor": str | None}`` ordered by id (newest first when
    ``descending``). A mangled cursor is ``Invalid`` (the API's 422), or with ``lenient`` (pages,
    where a link was cut short) the first page."""
    limit = max(1, min(int(limit or 50), MAX_LIMIT))
    qs = queryset.order_by("-pk" if descending else "pk")
    after = None
    if cursor:
        try:
            after = _decode(cursor)
        except Invalid:
            if not lenient:
                raise
    if after is not None:
        qs = qs.filter(pk__lt=after) if descending else qs.filter(pk__gt=after)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": _encode(rows[-1].pk) if more and rows else None}


def page_for_request(
    request, queryset: QuerySet, limit: int = 50, *, descending=True, pager=None
) -> dict:
    """A list page's cursor page (lenient): ``items``, ``next_cursor``, ``query`` (the list's
    other parameters, for the links) and ``first_page``; ``_cursor_pager.html`` draws the links.
    ``pager(queryset, cursor, limit, lenient=True)`` replaces ``paginate`` (another order)."""
    cursor = request.GET.get("cursor")
    if pager is None:
        page = paginate(queryset, cursor, limit, descending=descending, lenient=True)
    else:
        page = pager(queryset, cursor, limit, lenient=True)
    query = request.GET.copy()
    query.pop("cursor", None)
    return {**page, "query": query.urlencode(), "first_page": not cursor}
