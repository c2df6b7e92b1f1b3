"""Input normalisation and validation shared by forms, the API and imports."""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

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
    value = normalize_text(value)
    value = re.sub(r"[\s\-()]", "", value)
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
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
