"""Pinyin search keys for customer names: staff type 'zhangsan' or 'zs' to find 张三.

The key is computed once when a name is saved (and in bulk for demo data), so it must be cheap:
pypinyin is the cost (~15 µs a name), hence a cache on whole names, which repeat a lot.
ü is written 'v' (吕 → 'lv'), as on Chinese keyboards.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from autocrm.core.validators import normalize_text

# CJK unified ideographs (basic, extension A, compatibility, extensions B–H) and 〇.
_HAN = "[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U0003134f]"
_HAN_RUN = re.compile(f"({_HAN}+)")
# Chinese is written without spaces, so a space next to a Chinese character is noise ('张 三').
_SPACE_NEAR_HAN = re.compile(f"\\s+(?={_HAN})|(?<={_HAN})\\s+")

# Surnames whose reading differs from the character's everyday reading, which is what pypinyin
# returns for a name without context (单 dan → shan). Only unambiguous ones: 乐 (le/yue) and
# 盖 (gai/ge) are real surnames in both readings, so pypinyin's choice is kept for them.
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "单": ("shan",),
    "曾": ("zeng",),
    "解": ("xie",),
    "仇": ("qiu",),
    "区": ("ou",),
    "查": ("zha",),
    "朴": ("piao",),
    "翟": ("zhai",),
    "缪": ("miao",),
    "覃": ("qin",),
    "种": ("chong",),
    "召": ("shao",),
    "秘": ("bi",),
    "员": ("yun",),
    "繁": ("po",),
    "黑": ("he",),
    "长": ("chang",),
    # Compound surnames, checked before single ones.
    "长孙": ("zhang", "sun"),
    "尉迟": ("yu", "chi"),
    "万俟": ("mo", "qi"),
    "单于": ("chan", "yu"),
    "令狐": ("ling", "hu"),
}

# A Chinese personal name is 2–4 characters; longer text (company names) keeps plain readings,
# so that e.g. 解放汽车修理厂 is not read as a surname.
_NAME_LENGTHS = range(2, 5)


def _han_syllables(run: str, as_name: bool) -> tuple[str, ...]:
    """Syllables of a run of Chinese characters; phrase-aware, so runs are converted whole."""
    syllables = tuple(lazy_pinyin(run, style=Style.NORMAL, errors="default"))
    if not as_name:
        return syllables
    length = 2 if run[:2] in SURNAME_READINGS else 1
    reading = SURNAME_READINGS.get(run[:length])
    if reading and len(run) > length and len(syllables) == len(run):
        return reading + syllables[length:]
    return syllables


@lru_cache(maxsize=1 << 16)
def _convert(text: str, surname: bool) -> tuple[str, str]:
    """(full pinyin, initials) of text; Chinese runs converted, everything else lower-cased.

    Cached as a whole: in bulk (demo data, imports) the same names come back again and again.
    """
    text = normalize_text(text)
    if " " in text:
        text = _SPACE_NEAR_HAN.sub("", text)
    if not text:
        return "", ""
    as_name = surname and len(text) in _NAME_LENGTHS and bool(_HAN_RUN.fullmatch(text))
    full: list[str] = []
    initials: list[str] = []
    for i, chunk in enumerate(_HAN_RUN.split(text)):
        if not chunk:
            continue
        if i % 2:  # re.split puts the captured Han runs at odd indices
            syllables = _han_syllables(chunk, as_name)
            full.extend(syllables)
            initials.extend(s[:1] for s in syllables)
        else:
            literal = chunk.lower()
            full.append(literal)
            initials.append(literal)
    return "".join(full), "".join(initials)


def pinyin_full(text: str | None, *, surname: bool = True) -> str:
    """Full pinyin without tones or separators: '张三' → 'zhangsan'; other text lower-cased.

    surname=True reads the first character(s) of a 2–4 character Chinese name as a surname.
    """
    return _convert(text, surname)[0] if text else ""


def pinyin_initials(text: str | None, *, surname: bool = True) -> str:
    """First letter of each Chinese syllable ('欧阳娜娜' → 'oynn'); other text lower-cased as is."""
    return _convert(text, surname)[1] if text else ""
