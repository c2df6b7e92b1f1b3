"""Licence plates, VINs, customers' names and birthdays: normalisation and validation.

Pure functions (no models, no database) so forms, the API, imports and the demo-data command share
one definition of what a plate or VIN looks like. Rules follow shared/reference/china-rules.md.
"""

from __future__ import annotations

import re
import string
import unicodedata

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# --------------------------------------------------------------------------------------------------
# Licence plates
# --------------------------------------------------------------------------------------------------

#: The 31 province-level abbreviations that open a civilian plate.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

#: Letters used on plates: A–Z without I and O (too easily read as 1 and 0).
PLATE_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "IO")
PLATE_CHARS = PLATE_LETTERS + string.digits
#: Energy-type letters of new-energy plates: D/A/B/C/E pure electric, F/G/H/J/K other.
ENERGY_LETTERS = "DABCEFGHJK"

# Separators people type or paste between plate parts: spaces are handled separately; these are
# the middle dots (incl. the katakana one NFKC leaves alone), hyphens and full stops.
_PLATE_SEPARATORS = re.compile(r"[\s·•・‧∙⋅\-.]+")

_P = f"[{PROVINCES}]"
_L = f"[{PLATE_LETTERS}]"
_C = f"[{PLATE_CHARS}]"
_E = f"[{ENERGY_LETTERS}]"

# Order matters only for readability: the patterns are mutually exclusive.
_PLATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ordinary", re.compile(rf"{_P}{_L}{_C}{{5}}")),
    ("new_energy_small", re.compile(rf"{_P}{_L}{_E}{_C}\d{{4}}")),
    ("new_energy_large", re.compile(rf"{_P}{_L}\d{{5}}{_E}")),
    # Ordinary shape whose fifth serial character is replaced by a usage character.
    ("trailer", re.compile(rf"{_P}{_L}{_C}{{4}}挂")),
    ("coach", re.compile(rf"{_P}{_L}{_C}{{4}}学")),
    ("police", re.compile(rf"{_P}{_L}{_C}{{4}}警")),
    ("hk", re.compile(rf"{_P}{_L}{_C}{{4}}港")),
    ("macau", re.compile(rf"{_P}{_L}{_C}{{4}}澳")),
    ("consulate", re.compile(rf"{_P}{_L}{_C}{{4}}领")),
    # Embassy plates: 使 + embassy number + serial (使014578), or the ordinary shape ending in 使.
    ("embassy", re.compile(rf"使\d{{6}}|{_P}{_L}{_C}{{4}}使")),
)


def normalize_plate(value: str | None) -> str:
    """Canonical storage form: half-width, no separators, upper-case Latin letters.

    Staff type plates with spaces, middle dots and full-width letters from Chinese IMEs; storing one
    form keeps look-ups and uniqueness checks exact.
    """
    return strip_separators(value).upper()


def strip_separators(value: str | None) -> str:
    """Half-width, without the spaces, middle dots, hyphens and dots people type inside plates
    and numbers (also used to clean a search query)."""
    if not value:
        return ""
    return _PLATE_SEPARATORS.sub("", unicodedata.normalize("NFKC", value))


def plate_kind(plate: str) -> str | None:
    """Kind of an already normalised plate, or None when it matches no published pattern."""
    for kind, pattern in _PLATE_PATTERNS:
        if pattern.fullmatch(plate):
            return kind
    return None


def validate_plate(value: str) -> str:
    """Return the normalised plate, or raise ValidationError (code 'plate').

    Real plates outside every pattern (military, civil aviation, emergency...) exist; callers that
    must accept them should offer an audited override instead of loosening this check.
    """
    plate = normalize_plate(value)
    if plate_kind(plate) is None:
        raise ValidationError(
            _("Enter a valid plate, e.g. 京A12345 or 粤BD12345 (new energy)."),
            code="plate",
        )
    return plate


# --------------------------------------------------------------------------------------------------
# VIN (GB 16735-2019)
# --------------------------------------------------------------------------------------------------

VIN_LENGTH = 17
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
#: Characters a VIN may contain: digits and A–Z without I, O, Q.
VIN_CHARS = string.digits + "".join(c for c in string.ascii_uppercase if c not in "IOQ")

# Transliteration of GB 16735: digits as is; letters by runs (A–H, J–N, P, R, S–Z).
_VIN_VALUES: dict[str, int] = {str(d): d for d in range(10)} | {
    letter: start + offset
    for letters, start in (("ABCDEFGH", 1), ("JKLMN", 1), ("P", 7), ("R", 9), ("STUVWXYZ", 2))
    for offset, letter in enumerate(letters)
}

VIN_VALUES = _VIN_VALUES  # for code that sums VIN weights itself (the bulk demo)

_VIN_SEPARATORS = re.compile(r"[\s\-]+")
_VIN_FORBIDDEN = frozenset("IOQ")

#: World manufacturer identifiers of makers building cars in China, for demo data and hints.
#: LSG (SAIC-GM) also covers 雪佛兰 and 凯迪拉克; the brand shown is the most common one.
WMI_BRANDS: dict[str, str] = {
    "LSV": "大众",  # SAIC Volkswagen
    "LFV": "大众",  # FAW-Volkswagen
    "LGB": "日产",  # Dongfeng Nissan
    "LHG": "本田",  # GAC Honda
    "LVS": "福特",  # Changan Ford
    "LBV": "宝马",  # BMW Brilliance
    "LE4": "奔驰",  # Beijing Benz
    "LGX": "比亚迪",  # BYD
    "LRW": "特斯拉",  # Tesla Shanghai
    "LSG": "别克",  # SAIC-GM
}


def normalize_vin(value: str | None) -> str:
    """Half-width, no spaces or dashes, upper case: how VINs are stored and compared."""
    if not value:
        return ""
    value = unicodedata.normalize("NFKC", value)
    return _VIN_SEPARATORS.sub("", value).upper()


def vin_check_digit(vin: str) -> str:
    """Check digit ('0'–'9' or 'X') of a 17-character VIN; position 9 itself is ignored.

    Raises ValueError for a wrong length or a character outside the VIN alphabet.
    """
    if len(vin) != VIN_LENGTH:
        raise ValueError(f"A VIN has {VIN_LENGTH} characters, got {len(vin)}")
    try:
        total = sum(_VIN_VALUES[ch] * w for ch, w in zip(vin, VIN_WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"Not a VIN character: {exc.args[0]!r}") from None
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def validate_vin(value: str) -> tuple[str, bool]:
    """Return (normalised VIN, check digit ok) or raise ValidationError (code 'vin').

    A wrong check digit is only a warning: imported and some older VINs do not follow it, so the
    UI asks for confirmation instead of refusing.
    """
    vin = normalize_vin(value)
    forbidden = sorted(set(vin) & _VIN_FORBIDDEN)
    if forbidden:
        raise ValidationError(
            _("A VIN never contains I, O or Q (found: %(chars)s); they are usually 1 or 0."),
            code="vin",
            params={"chars": ", ".join(forbidden)},
        )
    if not all(ch in VIN_CHARS for ch in vin):
        raise ValidationError(
            _("A VIN contains only Latin letters and digits."),
            code="vin",
        )
    if len(vin) != VIN_LENGTH:
        raise ValidationError(
            _("A VIN has 17 characters; this one has %(n)d."),
            code="vin",
            params={"n": len(vin)},
        )
    return vin, vin[8] == vin_check_digit(vin)


# --------------------------------------------------------------------------------------------------
# Customers: the rules shared by the customer form, the API and imports
# --------------------------------------------------------------------------------------------------

NAME_MAX_LENGTH = 100


def validate_customer_name(name: str, *, required: bool = True) -> None:
    """An already normalised name: given (when ``required``) and at most 100 characters."""
    if not name:
        if required:
            raise ValidationError(_("Enter the customer's name."), code="required")
        return
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(_("At most 100 characters."), code="max_length")


def validate_birthday(day, today=None) -> None:
    """A plausible birthday: not in the future, not before 1900 (None passes)."""
    if day is None:
        return
    if day > (today or timezone.localdate()):
        raise ValidationError(_("A birthday cannot be in the future."), code="future")
    if day.year < 1900:
        raise ValidationError(_("Check the year of birth."), code="year")
