"""Which column holds what: header synonyms, header-row detection and the proposed mapping.

A mapping is a list aligned with the header row: the field key of each column, or ``None``
for a column that is not imported. Headers are compared in a folded form (full-width to
half-width, lower case, no spaces, no '*' or '(必填)' decorations)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from django.utils.translation import gettext_lazy as _

from autocrm.imports.parsing import text

#: Field keys in the order the mapping form lists them, with their labels.
FIELDS: list[tuple[str, str]] = [
    ("name", _("Customer name")),
    ("mobile", _("Mobile")),
    ("plate", _("Plate")),
    ("vin", _("VIN")),
    ("brand", _("Brand")),
    ("model", _("Model")),
    ("mileage_km", _("Mileage (km)")),
    ("insurance_expires_on", _("Insurance expires")),
    ("inspection_due_on", _("Inspection due")),
    ("birthday", _("Birthday")),
    ("gender", _("Gender")),
    ("wechat_id", _("WeChat")),
    ("notes", _("Notes")),
    ("level", _("Membership level")),
    ("source", _("Source")),
    ("store", _("Store")),
]
FIELD_KEYS = [key for key, _label in FIELDS]
FIELD_LABELS = dict(FIELDS)
#: A row is about someone only if it has at least one of these.
IDENTITY = ("name", "mobile", "plate", "vin")
HEADER_SEARCH_ROWS = 10

SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "客户姓名", "车主", "客户", "客户名称", "车主姓名", "name", "customer"),
    "mobile": (
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "联系电话",
        "联系方式",
        "电话号码",
        "mobile",
        "phone",
        "tel",
    ),
    "plate": ("车牌", "车牌号", "车牌号码", "plate", "plateno", "licenseplate"),
    "vin": ("车架号", "vin", "车辆识别代号", "车辆识别代码", "车架号码", "vin码"),
    "brand": ("品牌", "车辆品牌", "brand", "make"),
    "model": ("车型", "型号", "车辆型号", "model"),
    "mileage_km": ("里程", "公里数", "当前里程", "行驶里程", "里程数", "mileage", "odometer"),
    "insurance_expires_on": (
        "保险到期",
        "保险到期日",
        "保险到期时间",
        "保险到期日期",
        "insuranceexpires",
        "insurance",
    ),
    "inspection_due_on": ("年检到期", "年审", "年检", "年审到期", "年检到期日", "inspectiondue"),
    "birthday": ("生日", "出生日期", "birthday", "dateofbirth"),
    "gender": ("性别", "gender", "sex"),
    "wechat_id": ("微信", "微信号", "wechat"),
    "notes": ("备注", "notes", "note", "remark", "remarks"),
    "level": ("会员等级", "等级", "会员级别", "level"),
    "source": ("来源", "客户来源", "source", "channel"),
    "store": ("门店", "所属门店", "store"),
}

_DECORATION = re.compile(r"[*＊:：\s_\-]+")
_BRACKETED = re.compile(r"[(（\[【<《].*?[)）\]】>》]")


def fold(header) -> str:
    """The comparable form of a header cell."""
    value = unicodedata.normalize("NFKC", text(header)).lower()
    return _DECORATION.sub("", value)


_LOOKUP: dict[str, str] = {fold(s): key for key, words in SYNONYMS.items() for s in words}


def field_for(header) -> str | None:
    """The field a header names, or None. '里程(km)' and '*手机号' are recognised too."""
    folded = fold(header)
    if not folded:
        return None
    if folded in _LOOKUP:
        return _LOOKUP[folded]
    stripped = _BRACKETED.sub("", folded)
    return _LOOKUP.get(stripped)


def propose(headers: list) -> list[str | None]:
    """A field per column from the synonyms; a field claimed twice keeps its first column."""
    mapping: list[str | None] = []
    taken: set[str] = set()
    for header in headers:
        key = field_for(header)
        if key in taken:
            key = None
        if key:
            taken.add(key)
        mapping.append(key)
    return mapping


def is_usable(mapping: list[str | None]) -> bool:
    """At least two recognised columns, one of which says who or which car the row is."""
    keys = {k for k in mapping if k}
    return len(keys) >= 2 and bool(keys.intersection(IDENTITY))


def find_header(rows: list[tuple]) -> tuple[int, list[str | None]] | None:
    """Index (0-based, among ``rows``) and proposed mapping of the header row: the row of the
    first ten with the most recognised headers. Title rows and notes above it are skipped."""
    best: tuple[int, list[str | None]] | None = None
    best_score = 0
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        mapping = propose(list(row))
        if not is_usable(mapping):
            continue
        score = sum(1 for k in mapping if k)
        if score > best_score:
            best, best_score = (index, mapping), score
    return best


def header_texts(row: tuple) -> list[str]:
    return [text(cell) for cell in row]


def headers_key(headers: list[str]) -> str:
    """The same headers (in the same order, however decorated) give the same key."""
    joined = "\x1f".join(fold(h) for h in headers)
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def clean_mapping(headers: list[str], mapping: list) -> list[str | None]:
    """A mapping aligned with ``headers``, unknown keys dropped."""
    out = [(k if k in FIELD_LABELS else None) for k in list(mapping)[: len(headers)]]
    return out + [None] * (len(headers) - len(out))
