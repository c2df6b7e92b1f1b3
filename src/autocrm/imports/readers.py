"""Opening an uploaded spreadsheet safely and reading it row by row.

What a file is comes from its content, not its name: an .xlsx is a zip holding
``[Content_Types].xml`` and a workbook, without macros (``vbaProject.bin``); anything else must
decode as text (UTF-8 with or without BOM, UTF-16 with BOM, or GBK/GB18030) to be read as CSV.
Rows are streamed (openpyxl ``read_only`` / ``csv.reader``), so memory stays flat whatever the
file's size; formulas are read as their text and never evaluated."""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from autocrm.core.errors import Invalid
from autocrm.imports import conf
from autocrm.imports.mapping import HEADER_SEARCH_ROWS, find_header, header_texts
from autocrm.imports.parsing import is_blank

SNIFF_BYTES = 1024 * 1024
SAMPLE_ROWS = 3
MACRO_EXTENSIONS = {".xlsm", ".xltm", ".xlam", ".xlsb", ".docm", ".pptm"}
OLD_EXCEL_EXTENSIONS = {".xls", ".xlt", ".et"}
TEXT_EXTENSIONS = {".csv", ".txt", ".tsv", ""}
EXCEL_EXTENSIONS = {".xlsx", ".xltx"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"%PDF",
    b"BM",
    b"Rar!",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"RIFF",
    b"\x00\x00\x01\x00",
)
# Uncompressed size allowed for the XML inside an .xlsx, relative to the file-size limit
# (text compresses 10–20×); a far larger ratio is a zip bomb, not a customer list.
XML_RATIO = 40
SHARED_STRINGS_RATIO = 8
csv.field_size_limit(1024 * 1024)


class Refused(Invalid):
    """The file is not imported at all; ``message`` says why, for the person who sent it."""

    status = 400

    def __init__(self, message: str, code: str):
        super().__init__(message, fields={"file": message}, code=code)
        if code == "too_large":
            self.status = 413


@dataclass
class Inspection:
    """What a file is and where its table starts."""

    kind: str  # "xlsx" | "csv"
    encoding: str = ""
    delimiter: str = ","
    sheet_name: str = ""
    header_row: int = 1  # 1-based, as Excel numbers rows
    headers: list[str] = field(default_factory=list)
    mapping: list[str | None] = field(default_factory=list)
    samples: list[list[str]] = field(default_factory=list)  # first data rows, for the mapping page


def check_size_message(size: int | None = None) -> str:
    limit = f"{conf.max_mb():g}"
    if size is None:
        return _("The file is too large; the limit is %(limit)s MB.") % {"limit": limit}
    return _("The file is too large (%(size).1f MB); the limit is %(limit)s MB.") % {
        "size": size / 1048576,
        "limit": limit,
    }


def _too_large(size: int) -> Refused:
    return Refused(check_size_message(size), "too_large")


def not_spreadsheet() -> Refused:
    return Refused(
        _("This is not an Excel (.xlsx) or CSV file. Save it from Excel as .xlsx or CSV."),
        "not_spreadsheet",
    )


def check_size(size: int) -> None:
    if size == 0:
        raise Refused(_("The file is empty."), "empty")
    if size > conf.max_bytes():
        raise _too_large(size)


def _check_xlsx(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {info.filename.lower(): info for info in infos}
            if "[content_types].xml" not in names:
                raise not_spreadsheet()
            types = archive.read(names["[content_types].xml"]).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError):
        raise not_spreadsheet() from None
    lowered = types.lower()
    if any(n.endswith("vbaproject.bin") for n in names) or "macroenabled" in lowered:
        raise Refused(
            _("Files with macros are not accepted. Save the workbook as .xlsx (no macros)."),
            "macro",
        )
    if "xl/workbook.xml" not in names:
        raise not_spreadsheet()
    limit = conf.max_bytes()
    if sum(i.file_size for i in infos) > XML_RATIO * limit or (
        "xl/sharedstrings.xml" in names
        and names["xl/sharedstrings.xml"].file_size > SHARED_STRINGS_RATIO * limit
    ):
        raise _too_large(sum(i.file_size for i in infos))


def _decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes (streamed, so a 50 MB file costs a fraction of a second)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with open(path, "rb") as handle:
            while block := handle.read(SNIFF_BYTES):
                decoder.decode(block, final=False)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _text_encoding(path: Path, head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig" if _decodes(path, "utf-8-sig") else ""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16" if _decodes(path, "utf-16") else ""
    if b"\x00" in head:
        return ""
    for encoding in ("utf-8", "gb18030"):
        if _decodes(path, encoding):
            return encoding
    return ""


def _looks_like_text(sample: str) -> bool:
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    return controls <= len(sample) // 100


def _delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:HEADER_SEARCH_ROWS] if line.strip()]
    counts = {d: sum(line.count(d) for line in lines) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def inspect(path: Path | str, file_name: str = "") -> Inspection:
    """Refuse anything that is not a plain spreadsheet with a header row; else say what it is.

    Called before anything is stored or changed. The size is checked first, from the file
    system, so an oversized file is refused without being read."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise Refused(_("The file cannot be read."), "unreadable") from None
    check_size(size)
    ext = os.path.splitext(file_name or path.name)[1].lower()
    if ext in MACRO_EXTENSIONS:
        raise Refused(
            _("Files with macros are not accepted. Save the workbook as .xlsx (no macros)."),
            "macro",
        )
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(_OLE_MAGIC) or ext in OLD_EXCEL_EXTENSIONS:
        raise Refused(
            _(
                "Old .xls workbooks and password-protected files cannot be read. "
                "Open it in Excel and save it as .xlsx."
            ),
            "old_excel",
        )
    if head.startswith(b"PK\x03\x04"):
        _check_xlsx(path)
        info = Inspection(kind="xlsx")
    else:
        if head.startswith(_BINARY_MAGIC) or ext in EXCEL_EXTENSIONS:
            raise not_spreadsheet()
        if ext not in TEXT_EXTENSIONS:
            raise not_spreadsheet()
        encoding = _text_encoding(path, head)
        if not encoding:
            raise not_spreadsheet()
        sample = head.decode(encoding, "ignore")
        if not _looks_like_text(sample):
            raise not_spreadsheet()
        info = Inspection(kind="csv", encoding=encoding, delimiter=_delimiter(sample))
    _find_table(path, info)
    return info


def _find_table(path: Path, info: Inspection) -> None:
    """Fill in the sheet, header row, headers and proposed mapping; refuse an empty file or
    one without a recognisable header in its first ten rows."""
    seen_rows = header_only = False
    workbook = _Workbook(path) if info.kind == "xlsx" else None
    try:
        sheets = workbook.sheet_names() if workbook is not None else [""]
        for sheet in sheets:
            info.sheet_name = sheet
            rows = workbook.rows(sheet) if workbook is not None else None
            with contextlib.ExitStack() as stack:
                if rows is None:
                    rows = stack.enter_context(open_rows(path, info))
                stack.callback(rows.close)
                top: list[tuple] = []
                numbers: list[int] = []
                for number, row in rows:
                    top.append(row)
                    numbers.append(number)
                    if len(top) >= HEADER_SEARCH_ROWS:
                        break
                found = find_header(top)
                seen_rows = seen_rows or any(not all(is_blank(c) for c in r) for r in top)
                if found is None:
                    continue
                index, mapping = found
                has_data = any(not all(is_blank(c) for c in r) for r in top[index + 1 :])
                if not has_data:
                    has_data = any(not all(is_blank(c) for c in row) for _n, row in rows)
                if not has_data:
                    header_only = True
                    continue
            info.header_row = numbers[index]
            info.headers = header_texts(top[index])
            info.mapping = mapping
            body = [r for r in top[index + 1 :] if not all(is_blank(c) for c in r)]
            info.samples = [header_texts(r)[: len(info.headers)] for r in body[:SAMPLE_ROWS]]
            return
    finally:
        if workbook is not None:
            workbook.close()
    if not seen_rows or header_only:
        raise Refused(_("The file has no rows to import."), "empty")
    raise Refused(
        _(
            "No header row found in the first 10 rows. The table needs a header such as "
            "姓名, 手机号, 车牌号."
        ),
        "no_header",
    )


class Formula(str):
    """The text of a formula cell ('=SUM(A1:A3)'): formulas are never calculated."""


def _local(name: str) -> str:
    """Element name without its namespace prefix ('x:row' → 'row')."""
    return name[name.rfind(":") + 1 :]


def _column(ref: str) -> int:
    """1-based column of a cell reference such as 'AB12'."""
    number = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            number = number * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            number = number * 26 + ord(ch) - 96
        else:
            break
    return number


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


class _Workbook:
    """An .xlsx opened for streaming: openpyxl reads the workbook's parts (sheets, styles,
    1900/1904 dates); rows are parsed here with expat as they are read.

    openpyxl's read-only worksheets would do, but they cost about three times as much per cell
    and, for files without a ``<dimension>`` element (as openpyxl and many exporters write
    them), parse each sheet to its end once more before the first row is read. At a hundred
    thousand rows that is most of the time budget of an import."""

    READ_BYTES = 64 * 1024

    def __init__(self, path: Path):
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.styles.stylesheet import apply_stylesheet

        self.handle = open(path, "rb")  # noqa: SIM115  (closed in close())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reader = ExcelReader(self.handle, read_only=True, data_only=False, keep_links=False)
                reader.read_manifest()
                reader.read_workbook()
                apply_stylesheet(reader.archive, reader.wb)
                self.sheets = []
                for sheet, rel in reader.parser.find_sheets():
                    if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
                        self.sheets.append((sheet.name, rel.target, sheet.state or "visible"))
        except Exception:  # openpyxl raises many kinds for a damaged file
            self.handle.close()
            raise not_spreadsheet() from None
        self.reader = reader
        self.archive = reader.archive
        self.active = getattr(reader.wb, "_active_sheet_index", 0) or 0
        self._strings: list[str] | None = None

    def sheet_names(self) -> list[str]:
        """Visible sheets, the active one first."""
        names = [name for name, _target, state in self.sheets if state == "visible"]
        active = self.sheets[self.active][0] if self.active < len(self.sheets) else None
        first = [active] if active in names else []
        return first + [n for n in names if n not in first]

    def _parse(self, member: str, handlers) -> Iterator[None]:
        """Feed a part of the archive to expat; yields after each block read."""
        from xml.parsers import expat

        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = handlers
        try:
            with self.archive.open(member) as source:
                while block := source.read(self.READ_BYTES):
                    parser.Parse(block, False)
                    yield
                parser.Parse(b"", True)
                yield
        except (expat.ExpatError, zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise Refused(
                _("The Excel file is damaged and cannot be read to the end."), "unreadable"
            ) from None

    def strings(self) -> list[str]:
        """The shared strings (text of ``<t>`` runs, without phonetic guides)."""
        if self._strings is not None:
            return self._strings
        from openpyxl.xml.constants import SHARED_STRINGS

        part = self.reader.package.find(SHARED_STRINGS)
        strings: list[str] = []
        self._strings = strings
        if part is None:
            return strings
        parts: list[str] = []
        state = {"t": False, "phonetic": 0}

        def start(name, attrs):
            name = _local(name)
            if name == "t":
                state["t"] = True
            elif name == "rPh":
                state["phonetic"] += 1
            elif name == "si":
                parts.clear()

        def end(name):
            name = _local(name)
            if name == "t":
                state["t"] = False
            elif name == "rPh":
                state["phonetic"] -= 1
            elif name == "si":
                strings.append("".join(parts))

        def text(data):
            if state["t"] and not state["phonetic"]:
                parts.append(data)

        for _block in self._parse(part.PartName[1:], (start, end, text)):
            pass
        return strings

    def rows(self, name: str) -> Iterator[tuple[int, tuple]]:
        target = next((t for n, t, _s in self.sheets if n == name), None)
        if target is None and self.sheets:
            target = self.sheets[0][1]
        if target is None:
            return
        strings = self.strings()
        wb = self.reader.wb
        epoch, date_styles, span_styles = wb.epoch, wb._date_formats, wb._timedelta_formats
        value_of = self._value
        local: dict[str, str] = {}
        done: list[tuple[int, tuple]] = []
        row: list = []
        buffer: list[str] = []
        capture = False
        phonetic = row_number = column = style = 0
        kind = formula = None

        def start(tag, attrs):
            nonlocal capture, phonetic, row_number, column, style, kind, formula
            tag = local.get(tag) or local.setdefault(tag, _local(tag))
            if tag == "c":
                ref = attrs.get("r")
                column = _column(ref) if ref else column + 1
                kind = attrs.get("t", "n")
                style = int(attrs.get("s") or 0)
                formula = None
                buffer.clear()
            elif tag == "v" or (tag == "t" and not phonetic):
                capture = True
            elif tag == "f":
                formula = ""
                capture = True
                buffer.clear()
            elif tag == "row":
                ref = attrs.get("r")
                row_number = int(float(ref)) if ref else row_number + 1
                column = 0
                row.clear()
            elif tag == "rPh":
                phonetic += 1

        def text(data):
            if capture:
                buffer.append(data)

        def end(tag):
            nonlocal capture, phonetic, formula
            tag = local.get(tag) or local.setdefault(tag, _local(tag))
            if tag == "v" or tag == "t":
                capture = False
            elif tag == "c":
                if formula is not None:
                    value = Formula("=" + formula)
                else:
                    value = value_of(
                        kind, style, "".join(buffer), strings, epoch, date_styles, span_styles
                    )
                if value is not None and column > 0:
                    if len(row) < column:
                        row.extend([None] * (column - len(row)))
                    row[column - 1] = value
            elif tag == "f":
                formula = "".join(buffer)
                capture = False
                buffer.clear()
            elif tag == "row":
                done.append((row_number, tuple(row)))
            elif tag == "rPh":
                phonetic -= 1

        for _block in self._parse(target, (start, end, text)):
            if done:
                yield from done
                done.clear()

    @staticmethod
    def _value(kind, style, raw, strings, epoch, date_styles, span_styles):
        from openpyxl.utils.datetime import from_excel, from_ISO8601

        if kind == "n":
            if not raw:
                return None
            number = _number(raw)
            if style and style in date_styles:
                try:
                    return from_excel(number, epoch, timedelta=style in span_styles)
                except (OverflowError, ValueError):
                    return number
            return number
        if kind == "s":
            try:
                return strings[int(raw)]
            except (ValueError, IndexError):
                return None
        if kind in ("inlineStr", "str", "e"):
            return raw
        if kind == "b":
            return raw.strip() == "1"
        if kind == "d":
            try:
                return from_ISO8601(raw)
            except ValueError:
                return raw
        return raw or None

    def close(self) -> None:
        self.archive.close()
        self.handle.close()


@contextlib.contextmanager
def open_rows(path: Path | str, info: Inspection) -> Iterator[Iterator[tuple[int, tuple]]]:
    """``(row number, values)`` for every row of the table's sheet, header and above included."""
    path = Path(path)
    if info.kind == "xlsx":
        workbook = _Workbook(path)
        try:
            yield workbook.rows(info.sheet_name)
        finally:
            workbook.close()
        return
    with open(path, encoding=info.encoding, newline="") as handle:
        yield _csv_rows(handle, info.delimiter)


def _csv_rows(handle, delimiter: str) -> Iterator[tuple[int, tuple]]:
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        for number, row in enumerate(reader, start=1):
            yield number, tuple(row)
    except (csv.Error, UnicodeDecodeError):
        raise Refused(
            _("The CSV file cannot be read past row %(n)s.") % {"n": reader.line_num}, "unreadable"
        ) from None
