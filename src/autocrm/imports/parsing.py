"""Cell values as shops type them, turned into field values.

Spreadsheets from other systems hold dates as text in half a dozen shapes, Excel serial numbers
or real date cells; phones with spaces, dashes and country codes; full-width digits from Chinese
input methods. Each parser returns the value or raises ``CellError`` with a short reason."""

from __future__ import annotations

import datetime
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from autocrm.core.validators import MOBILE_RE, normalize_mobile, normalize_text


class CellError(ValueError):
    """A value that cannot be read; ``str(exc)`` is the reason shown to the user."""


# Excel's day 0 is 1899-12-30 once its 1900 leap-year bug is accounted for (serials ≥ 61).
_EXCEL_EPOCH = datetime.date(1899, 12, 30)
_SERIAL_MAX = 2_958_465  # 9999-12-31
_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIME_TAIL = re.compile(r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
_FORMULA_TYPES = ("Formula", "ArrayFormula", "DataTableFormula")


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_FORMULA_TEXT = re.compile(r"^\s*=\s*[\w(+\-\"'$.@]")


def is_formula(value) -> bool:
    """A formula cell (read as its text, never calculated), or CSV text that Excel would run
    as one ('=SUM(A1:A3)', '=HYPERLINK(…)'); '===' is just text."""
    if type(value) is str:
        return value[:1] in ("=", " ", "\t") and bool(_FORMULA_TEXT.match(value))
    return type(value).__name__ in _FORMULA_TYPES  # readers.Formula and openpyxl's kinds


def text(value) -> str:
    """Any cell as text: numbers without a spurious '.0', full-width folded to half-width."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.datetime):
        value = value.date() if value.time() == datetime.time() else value
    if isinstance(value, datetime.date):
        return value.isoformat()
    return normalize_text(str(value))


def _serial(n: float) -> datetime.date:
    if not 1 <= n <= _SERIAL_MAX:
        raise CellError(_("Not a date"))
    days = int(n)
    if days < 61:  # Excel counts a 1900-02-29 that never was
        days += 1
    return _EXCEL_EPOCH + datetime.timedelta(days=days)


def _make(y: int, m: int, d: int) -> datetime.date:
    try:
        return datetime.date(y, m, d)
    except ValueError:
        raise CellError(_("Not a real date")) from None


def parse_date(value) -> datetime.date | None:
    """2024/3/5, 2024-03-05, 20240305, 2024年3月5日, 2024.3.5, an Excel serial or a date cell."""
    if is_blank(value):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, bool):
        raise CellError(_("Not a date"))
    if isinstance(value, int | float):
        if float(value).is_integer() and _COMPACT.match(str(int(value))):
            match = _COMPACT.match(str(int(value)))
            return _make(*(int(g) for g in match.groups()))
        return _serial(float(value))
    raw = unicodedata.normalize("NFKC", str(value)).strip()
    raw = _TIME_TAIL.sub("", raw).strip()
    match = _YMD.match(raw) or _COMPACT.match(raw)
    if match:
        return _make(*(int(g) for g in match.groups()))
    if re.fullmatch(r"\d{1,7}(?:\.\d+)?", raw):
        return _serial(float(raw))
    raise CellError(_("Not a date"))


def parse_mobile(value) -> tuple[str, str]:
    """(mobile, other numbers): the first mainland mobile of the cell; further numbers written
    in the same cell ('138… / 139…') are kept as other contacts."""
    if is_blank(value):
        return "", ""
    parts = [p for p in re.split(r"[/,;，；、|]|\s{2,}", text(value)) if p.strip()]
    numbers = []
    for part in parts:
        numbers.append(normalize_mobile(part))
    if not numbers or not MOBILE_RE.match(numbers[0]):
        raise CellError(_("Mobile number format is wrong"))
    return numbers[0], " ".join(numbers[1:])


_MILEAGE_UNITS = re.compile(r"(?:km|公里|千米|kms|里)$", re.IGNORECASE)


def parse_mileage(value) -> int | None:
    """Kilometres: 12000, '12,000', '12000km', '1.2万'."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise CellError(_("Not a mileage"))
    if isinstance(value, int | float):
        number = Decimal(str(value))
    else:
        raw = text(value).replace(",", "").replace(" ", "")
        raw = _MILEAGE_UNITS.sub("", raw)
        factor = 1
        if raw.endswith("万"):
            raw, factor = raw[:-1], 10_000
        try:
            number = Decimal(raw) * factor
        except InvalidOperation:
            raise CellError(_("Not a mileage")) from None
    if number < 0 or number > 2_000_000:
        raise CellError(_("Mileage out of range"))
    return int(number)


_GENDERS = {
    "男": "m",
    "男性": "m",
    "先生": "m",
    "m": "m",
    "male": "m",
    "女": "f",
    "女性": "f",
    "女士": "f",
    "f": "f",
    "female": "f",
}


def parse_gender(value) -> str:
    if is_blank(value):
        return ""
    gender = _GENDERS.get(text(value).lower())
    if gender is None:
        raise CellError(_("Gender should be 男 or 女"))
    return gender
