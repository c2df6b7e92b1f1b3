"""A customer's preferences: preferred services, and for audio and install shops the music style,
budget and brands. Stored in ``Customer.preferences`` (JSON) next to the contact keys messaging
keeps there (``email``, ``wechat_openid``), which an edit of the preferences never drops.

Shape (the form, the API and the 360° page share it)::

    {"services": ["小保养", "四轮定位"], "music_style": "古典", "budget_min": 3000,
     "budget_max": 8000, "brands": ["JBL", "哈曼卡顿"]}

Budgets are whole yuan. A key given as empty (None, "", []) is removed; keys not given are kept."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

#: The preference keys, in the order the page shows them.
KEYS = ("services", "music_style", "budget_min", "budget_max", "brands")
#: Other keys kept in the same JSON by messaging (contacts, not preferences).
CONTACT_KEYS = ("email", "wechat_openid")
MAX_ITEMS = 20
MAX_ITEM_LENGTH = 40
MAX_BUDGET = 10_000_000
_SEPARATORS = re.compile(r"[,，、;；\n]+")
_AMOUNT_NOISE = re.compile(r"[\s,，¥￥元]")


def split_tags(value) -> list[str]:
    """'JBL，哈曼卡顿、 JBL' -> ['JBL', '哈曼卡顿']: split on commas, 、 and semicolons, trimmed,
    duplicates and empties dropped (a list is taken item by item)."""
    items = value if isinstance(value, list | tuple) else _SEPARATORS.split(str(value or ""))
    seen: list[str] = []
    for item in items:
        text = " ".join(str(item).split())
        if text and text not in seen:
            seen.append(text)
    return seen


def _amount(value) -> int | None:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        number = value
    else:
        text = _AMOUNT_NOISE.sub("", str(value))
        if not text.isdigit():  # no sign, no decimals: whole yuan
            raise ValueError(value)
        number = int(text)
    if not 0 <= number <= MAX_BUDGET:
        raise ValueError(value)
    return number


def clean(raw, current: dict | None = None) -> tuple[dict, dict]:
    """(the preferences to store, errors by field as ``preferences.<key>``). ``raw`` is
    merged into ``current``; every error names the field in words, in Chinese."""
    result = dict(current or {})
    errors: dict[str, str] = {}
    if raw in (None, ""):
        return result, errors
    if not isinstance(raw, dict):
        errors["preferences"] = _(
            "Preferences: give services, music style, budget and brands as an object."
        )
        return result, errors
    unknown = sorted(set(raw) - set(KEYS) - set(CONTACT_KEYS))
    if unknown:
        errors["preferences"] = _("Preferences: unknown item %(keys)s.") % {
            "keys": "、".join(unknown)
        }
    list_labels = {"services": _("Preferred services"), "brands": _("Preferred brands")}
    for key, label in list_labels.items():
        if key not in raw:
            continue
        value = raw[key]
        if value is not None and not isinstance(value, str | list | tuple):
            errors[f"preferences.{key}"] = _("%(field)s: give a list of names.") % {"field": label}
            continue
        items = split_tags(value)
        if len(items) > MAX_ITEMS or any(len(i) > MAX_ITEM_LENGTH for i in items):
            errors[f"preferences.{key}"] = _(
                "%(field)s: at most %(n)d, each up to %(length)d characters."
            ) % {"field": label, "n": MAX_ITEMS, "length": MAX_ITEM_LENGTH}
        result[key] = items
    for key in ("music_style", *CONTACT_KEYS):
        if key not in raw:
            continue
        text = " ".join(str(raw[key] or "").split())
        limit = MAX_ITEM_LENGTH if key == "music_style" else 200
        if len(text) > limit:
            errors[f"preferences.{key}"] = _("%(field)s: at most %(length)d characters.") % {
                "field": _("Music style") if key == "music_style" else key,
                "length": limit,
            }
        result[key] = text
    budget_labels = {"budget_min": _("Budget from"), "budget_max": _("Budget up to")}
    for key, label in budget_labels.items():
        if key not in raw:
            continue
        if raw[key] in (None, ""):
            result[key] = None
            continue
        try:
            result[key] = _amount(raw[key])
        except ValueError:
            errors[f"preferences.{key}"] = _(
                "%(field)s: enter a whole number of yuan from 0 to %(max)s."
            ) % {"field": label, "max": f"{MAX_BUDGET:,}"}
    low, high = result.get("budget_min"), result.get("budget_max")
    if (
        isinstance(low, int)
        and isinstance(high, int)
        and low > high
        and "preferences.budget_max" not in errors
    ):
        errors["preferences.budget_max"] = _(
            "Budget up to: must not be below the budget from (%(low)s yuan)."
        ) % {"low": low}
    return {k: v for k, v in result.items() if v not in (None, "", [])}, errors


def shown(preferences: dict | None) -> dict:
    """Only the preference keys (not messaging's contact keys): for the API and the page."""
    preferences = preferences or {}
    return {k: preferences[k] for k in KEYS if preferences.get(k) not in (None, "", [])}
