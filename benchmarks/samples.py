"""Spreadsheet writers for import samples, shared by the import benchmark and the import tests:
Excel with an optional title row above the headers (as shops' exports have) and CSV in any
encoding (UTF-8 with or without BOM, GBK). Dates in CSV are ISO dates; None is an empty cell."""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable, Sequence
from pathlib import Path


def write_xlsx(
    path: Path,
    rows: Iterable[Sequence],
    headers: Sequence[str],
    *,
    title: str | None = None,
    sheet: str = "客户",
    streaming: bool = False,
) -> Path:
    """``streaming``: openpyxl's write-only mode (flat memory for a large file)."""
    from openpyxl import Workbook

    if streaming:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
    else:
        wb = Workbook()
        ws = wb.active
        ws.title = sheet
    if title:
        ws.append([title])
    ws.append(list(headers))
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


def write_csv(
    path: Path, rows: Iterable[Sequence], headers: Sequence[str], *, encoding: str = "utf-8"
) -> Path:
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(
                [
                    v.isoformat() if isinstance(v, datetime.date) else ("" if v is None else v)
                    for v in row
                ]
            )
    return path
