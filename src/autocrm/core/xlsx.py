"""Excel files the app writes (exports, import error reports).

Text from people (a customer's name, a cell of an imported file) is written as a text cell:
``=HYPERLINK(...)`` stays the characters typed and never becomes a live formula in the shop's
Excel, and control characters that Excel refuses (openpyxl raises on them) are dropped."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

_PLAIN = (int, float, Decimal, datetime.date, datetime.datetime, datetime.time)


def cell(sheet, value):
    """``value`` for a row of a write-only ``sheet``: numbers, dates and None as they are,
    anything else as a text cell."""
    if value is None or isinstance(value, _PLAIN):
        return value
    text = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", str(value)))
    text.data_type = "s"
    return text


def append(sheet, values) -> None:
    """Append one row of ``values`` to a write-only ``sheet`` (see ``cell``)."""
    sheet.append([cell(sheet, v) for v in values])


def new_workbook() -> Workbook:
    """A streaming (write-only) workbook with no sheets yet."""
    return Workbook(write_only=True)


def workbook_bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
