"""Spreadsheets for the import tests, written the ways shops' files come: Excel with a title
row above the header, CSV in UTF-8 (with or without BOM) or GBK."""

from __future__ import annotations

import zipfile
from pathlib import Path

from benchmarks.samples import write_csv, write_xlsx
from tests.customer_factories import bad_check_digit_vin

HEADERS = [
    "客户姓名",
    "手机号",
    "车牌号",
    "车架号",
    "品牌",
    "车型",
    "当前里程",
    "保险到期日",
    "生日",
]
VIN_OK = "LSVAB2BM0MN123457"  # check digit right
VIN_BAD_CHECK = bad_check_digit_vin(VIN_OK)  # LSVAB2BM1MN123457

#: Good, bad, duplicate and merged-looking rows; row numbers in the file are 3.. (title row 1,
#: blank row 2 is not written by openpyxl; header on row 2).
SAMPLE = [
    [
        "张三",
        "138 1234 5678",
        "京A12345",
        VIN_OK,
        "大众",
        "帕萨特",
        42000,
        "2025/3/5",
        "1980-01-02",
    ],
    [None, None, "京B54321", None, "丰田", "凯美瑞", "1.2万", "20250401", None],  # merged: 张三's
    ["李四", "+86 139-0000-1111", "京C11111", VIN_BAD_CHECK, "本田", "雅阁", None, None, None],
    ["王五", "12345", "京D22222", None, None, None, None, None, None],  # bad mobile
    ["张三", "13812345678", "京A12345", None, None, None, None, None, None],  # duplicate
    ["赵六", "13700001111", "坏车牌", None, None, None, None, None, None],  # bad plate
    ["孙八", "0086 137 0000 3333", None, None, None, None, None, None, "2024.3.5"],
]


def xlsx(path: Path, rows, headers=HEADERS, title: str | None = "客户资料", sheet="客户") -> Path:
    return write_xlsx(path, rows, headers, title=title, sheet=sheet)


def csv_file(path: Path, rows, headers=HEADERS, encoding="utf-8") -> Path:
    return write_csv(path, rows, headers, encoding=encoding)


def with_macro(source: Path, target: Path) -> Path:
    """The workbook plus a vbaProject.bin, as Excel saves a macro-enabled one."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/vbaProject.bin", b"\x00macro")
    return target


def read_report(path_or_file) -> dict[str, list[tuple]]:
    from openpyxl import load_workbook

    wb = load_workbook(path_or_file, read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}
