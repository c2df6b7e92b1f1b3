"""Placeholders, rendering and SMS length rules of message templates.

Placeholders are ``{name}`` with a name from ``PLACEHOLDERS``; anything else in braces is
refused when a template is saved. SMS carry the signature 【…】 in front (the gateway adds the
approved signature; we show and count it) and marketing SMS end with the opt-out "回TD退订".
Carriers bill Chinese SMS by 70 characters; a longer text is split into parts of 67."""

from __future__ import annotations

import math
import re

from django.utils.translation import gettext_lazy as _

PLACEHOLDERS = {
    "customer_name": _("customer's name"),
    "plate": _("plate number"),
    "due_date": _("due date"),
    "store_name": _("store name"),
    "store_phone": _("store phone"),
    "booking_link": _("booking link"),
    "unsubscribe_link": _("unsubscribe link"),
}
# Sample values for the preview (what an owner of a car in Beijing would get).
SAMPLE = {
    "customer_name": "张先生",
    "plate": "京A12345",
    "due_date": "2026-12-01",
    "store_name": "北京朝阳店",
    "store_phone": "010-88886666",
    "booking_link": "https://crm.example.cn/book/antu/bj-cy/",
    "unsubscribe_link": "https://crm.example.cn/u/12s.Ab3dE9xQ/",
}
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
OPT_OUT = "回TD退订"
SMS_SINGLE = 70  # characters in one SMS (Chinese, UCS-2)
SMS_PART = 67  # characters per part of a long SMS
SMS_MAX = 500  # vendors refuse longer template texts


def placeholders_in(text: str) -> list[str]:
    """The placeholder names in ``text``, each once, in order of first use."""
    seen: list[str] = []
    for match in PLACEHOLDER_RE.finditer(text or ""):
        name = match.group(1).strip()
        if name not in seen:
            seen.append(name)
    return seen


def unknown_placeholders(text: str) -> list[str]:
    return [name for name in placeholders_in(text) if name not in PLACEHOLDERS]


def fill(text: str, values: dict) -> tuple[str, list[list[str]], list[str]]:
    """(filled text, [[name, value], ...] in order of use, missing names)."""
    used: list[list[str]] = []
    missing: list[str] = []
    for name in placeholders_in(text):
        value = values.get(name)
        if value is None or value == "":
            missing.append(name)
        else:
            used.append([name, str(value)])
    known = dict(used)

    def replace(match: re.Match) -> str:
        return known.get(match.group(1).strip(), "")

    return PLACEHOLDER_RE.sub(replace, text or ""), used, missing


def sms_text(body: str, sign: str, marketing: bool) -> str:
    """What the owner's phone shows: 【sign】body, plus the opt-out for marketing."""
    text = body.strip()
    if sign and not text.startswith("【"):
        text = f"【{sign}】{text}"
    if marketing and "退订" not in text:
        text = f"{text}{OPT_OUT}"
    return text


def sms_segments(text: str) -> int:
    length = len(text)
    if length <= SMS_SINGLE:
        return 1
    return math.ceil(length / SMS_PART)


def email_text(body: str, unsubscribe_link: str, marketing: bool) -> str:
    if marketing and unsubscribe_link and unsubscribe_link not in body:
        return f"{body.rstrip()}\n\n退订 / Unsubscribe: {unsubscribe_link}"
    return body
