"""Input normalisation and validation shared by forms, the API and imports."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999.99")  # DecimalField(max_digits=12, decimal_places=2)
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def normalize_text(value: str | None) -> str:
    """Full-width to half-width, trimmed, inner runs of spaces collapsed."""
    if not value:
        return ""
    value = unicodedata.normalize("NFKC", value)
    return re.sub(r"\s+", " ", value).strip()


def tidy_prose(value: str | None) -> str:
    """Trim and collapse whitespace only: keeps Chinese full-width punctuation in free text."""
    return re.sub(r"\s+", " ", value or "").strip()


def normalize_mobile(value: str | None) -> str:
    """Digits as typed or pasted: separators dropped, the country code (+86, 0086, 86) and a
    spreadsheet's trailing ``.0`` removed."""
    value = normalize_text(value)
    value = re.sub(r"[\s\-()]", "", value)
    value = re.sub(r"\.0+$", "", value)
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    elif len(value) == 13 and value.startswith("86"):
        value = value[2:]
    return value


def validate_mobile(value: str) -> None:
    if value and not MOBILE_RE.match(value):
        raise ValidationError(
            _("Enter a mainland mobile number: 11 digits starting with 1, e.g. 13812345678."),
            code="mobile",
        )


def validate_code(value: str) -> None:
    if not CODE_RE.match(value or ""):
        raise ValidationError(
            _("Use lower-case letters, digits and hyphens (at most 40), e.g. bj-chaoyang."),
            code="code",
        )


def mask_mobile(value: str) -> str:
    """138****5678: enough to recognise, not enough to dial."""
    if len(value) >= 7:
        return f"{value[:3]}****{value[-4:]}"
    return "****" if value else ""


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_money(
    value, *, allow_none: bool = False, allow_negative: bool = False, limit: Decimal = MAX_MONEY
) -> tuple[Decimal | None, str | None]:
    """An amount in yuan (``¥1,280.50`` → ``Decimal("1280.50")``), or the message saying what
    is wrong with it. Callers with their own range rule pass ``allow_negative``."""
    if _blank(value):
        return None, (None if allow_none else str(_("Enter an amount.")))
    try:
        amount = Decimal(str(value).strip().replace(",", "").replace("¥", ""))
    except (InvalidOperation, ValueError):
        return None, str(_("Enter an amount in yuan, e.g. 88.00."))
    if not amount.is_finite():
        return None, str(_("Enter an amount in yuan, e.g. 88.00."))
    if amount < 0 and not allow_negative:
        return None, str(_("An amount cannot be negative."))
    if amount != amount.quantize(CENT):
        return None, str(_("Use at most two decimal places (fen)."))
    if abs(amount) > limit:
        return None, str(_("This amount is too large."))
    return amount.quantize(CENT), None


def parse_positive(
    value, *, limit: Decimal, empty: str, bad: str
) -> tuple[Decimal | None, str | None]:
    """A number above zero with at most two decimals (hours, quantities)."""
    if _blank(value):
        return None, empty
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None, bad
    if not number.is_finite() or number <= 0:
        return None, bad
    if number != number.quantize(CENT):
        return None, str(_("Use at most two decimal places."))
    if number > limit:
        return None, str(_("This number is too large."))
    return number.quantize(CENT), None
