"""What a file is comes from its content; anything that is not a plain spreadsheet with a header
row is refused with a clear message before anything is read in full or stored."""

from __future__ import annotations

import zipfile

import pytest
from django.test import override_settings
from openpyxl import Workbook

from autocrm.imports import readers
from autocrm.imports.readers import Refused
from tests.imports.files import HEADERS, SAMPLE, csv_file, with_macro, xlsx

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def refused(path, name="") -> str:
    with pytest.raises(Refused) as info:
        readers.inspect(path, name)
    return info.value.code


def test_xlsx_with_title_row(tmp_path):
    info = readers.inspect(xlsx(tmp_path / "a.xlsx", SAMPLE))
    assert info.kind == "xlsx" and info.sheet_name == "客户"
    assert info.header_row == 2
    assert info.headers == HEADERS
    assert info.mapping[:4] == ["name", "mobile", "plate", "vin"]
    assert info.samples[0][0] == "张三"
    with readers.open_rows(tmp_path / "a.xlsx", info) as rows:
        rows = list(rows)
    assert rows[0] == (1, ("客户资料",))
    assert rows[2][1][:3] == ("张三", "138 1234 5678", "京A12345")
    assert rows[3][1][0] is None and rows[3][1][2] == "京B54321"  # merged-looking row


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [("utf-8", b"", "utf-8"), ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"), ("gbk", b"", "gb18030")],
)
def test_csv_encodings_detected(tmp_path, encoding, prefix, expected):
    path = csv_file(tmp_path / "a.csv", SAMPLE, encoding=encoding)
    path.write_bytes(prefix + path.read_bytes())
    info = readers.inspect(path)
    assert (info.kind, info.encoding, info.header_row) == ("csv", expected, 1)
    assert info.headers[0] == "客户姓名"
    with readers.open_rows(path, info) as rows:
        assert list(rows)[1][1][0] == "张三"


def test_tab_separated_text_is_read(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("姓名\t手机号\n张三\t13812345678\n", encoding="utf-8")
    info = readers.inspect(path)
    assert info.delimiter == "\t" and info.mapping == ["name", "mobile"]


def test_png_renamed_xlsx_is_refused(tmp_path):
    path = tmp_path / "photo.xlsx"
    path.write_bytes(PNG * 10)
    assert refused(path) == "not_spreadsheet"
    path = tmp_path / "photo.csv"
    path.write_bytes(PNG * 10)
    assert refused(path) == "not_spreadsheet"


def test_csv_renamed_xlsx_and_random_zip_are_refused(tmp_path):
    path = csv_file(tmp_path / "a.csv", SAMPLE)
    renamed = tmp_path / "a.xlsx"
    renamed.write_bytes(path.read_bytes())
    assert refused(renamed) == "not_spreadsheet"
    archive = tmp_path / "b.xlsx"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("hello.txt", "hi")
    assert refused(archive) == "not_spreadsheet"


def test_empty_files_are_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert refused(path) == "empty"
    path.write_bytes(b"\xef\xbb\xbf\r\n\r\n")
    assert refused(path) == "empty"
    wb = Workbook()
    wb.save(tmp_path / "empty.xlsx")
    assert refused(tmp_path / "empty.xlsx") == "empty"
    header_only = xlsx(tmp_path / "header.xlsx", [])
    assert refused(header_only) == "empty"


def test_no_header_row_is_refused(tmp_path):
    rows = [["a", "b", "c"]] * 12
    path = xlsx(tmp_path / "x.xlsx", rows, headers=["甲", "乙", "丙"])
    assert refused(path) == "no_header"
    # a header below row 10 is not looked for
    path = xlsx(tmp_path / "y.xlsx", [["x"]] * 10 + [HEADERS] + SAMPLE, headers=["说明"])
    assert refused(path) == "no_header"


def test_header_on_another_sheet_is_found(tmp_path):
    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表为客户资料"])
    data = wb.create_sheet("数据")
    data.append(HEADERS)
    data.append(SAMPLE[0])
    wb.save(tmp_path / "two.xlsx")
    info = readers.inspect(tmp_path / "two.xlsx")
    assert info.sheet_name == "数据" and info.header_row == 1


@override_settings(AUTOCRM_IMPORT_MAX_MB=0.01)  # 10 KB
def test_oversized_file_is_refused_from_its_size(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:  # a sparse 200 MB file: refused without being read
        handle.truncate(200 * 1024 * 1024)
    opened = []
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or 1 / 0)
    assert refused(path) == "too_large"
    assert opened == []


def test_macros_are_refused(tmp_path):
    source = xlsx(tmp_path / "a.xlsx", SAMPLE)
    assert refused(with_macro(source, tmp_path / "b.xlsx")) == "macro"
    xlsm = tmp_path / "c.xlsm"
    xlsm.write_bytes(source.read_bytes())
    assert refused(xlsm) == "macro"
    assert refused(source, "客户.xlsm") == "macro"


def test_old_excel_is_refused(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert refused(path) == "old_excel"
    renamed = tmp_path / "old.xlsx"  # also what a password-protected .xlsx looks like
    renamed.write_bytes(path.read_bytes())
    assert refused(renamed) == "old_excel"


def test_formulas_are_read_as_text_never_calculated(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "手机号", "备注"])
    ws.append(["张三", "13812345678", "=1+1"])
    ws.append(["李四", "=B2", "ok"])
    wb.save(tmp_path / "f.xlsx")
    info = readers.inspect(tmp_path / "f.xlsx")
    with readers.open_rows(tmp_path / "f.xlsx", info) as rows:
        rows = list(rows)
    assert rows[1][1][2] == "=1+1" and rows[2][1][1] == "=B2"


def test_damaged_xlsx_is_refused(tmp_path):
    source = xlsx(tmp_path / "a.xlsx", SAMPLE)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(source.read_bytes()[: len(source.read_bytes()) // 2])
    assert refused(broken) == "not_spreadsheet"


def test_refusal_messages_are_plain_sentences(tmp_path):
    path = tmp_path / "photo.xlsx"
    path.write_bytes(PNG)
    with pytest.raises(Refused) as info:
        readers.inspect(path)
    assert "Excel" in str(info.value.message) and info.value.fields["file"]
