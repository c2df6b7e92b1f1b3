"""Pinyin search keys: full pinyin, initials, surnames, mixed and empty input."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autocrm.customers.pinyin import pinyin_full, pinyin_initials

COMMON_CHARS = (
    "张王李赵刘陈杨黄周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭"
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
)


@pytest.mark.parametrize(
    ("text", "full", "initials"),
    [
        ("张三", "zhangsan", "zs"),
        ("李四", "lisi", "ls"),
        ("欧阳娜娜", "ouyangnana", "oynn"),
        ("诸葛亮", "zhugeliang", "zgl"),
        ("吕布", "lvbu", "lb"),  # ü as v, as on Chinese keyboards
        ("  张  三 ", "zhangsan", "zs"),  # spaces in Chinese are noise
        ("单 雄信", "shanxiongxin", "sxx"),
        ("王小明", "wangxiaoming", "wxm"),
    ],
)
def test_chinese_names(text, full, initials):
    assert pinyin_full(text) == full
    assert pinyin_initials(text) == initials


@pytest.mark.parametrize(
    ("text", "full", "initials"),
    [
        ("单雄信", "shanxiongxin", "sxx"),  # 单 dan → shan as a surname
        ("曾国藩", "zengguofan", "zgf"),
        ("解缙", "xiejin", "xj"),
        ("仇英", "qiuying", "qy"),
        ("查良镛", "zhaliangyong", "zly"),
        ("翟天临", "zhaitianlin", "ztl"),
        ("朴树", "piaoshu", "ps"),
        ("区小明", "ouxiaoming", "oxm"),
        ("尉迟恭", "yuchigong", "ycg"),
        ("长孙无忌", "zhangsunwuji", "zswj"),
        ("万俟卨", "moqixie", "mqx"),
    ],
)
def test_polyphonic_surnames(text, full, initials):
    assert pinyin_full(text) == full
    assert pinyin_initials(text) == initials


def test_surname_reading_only_for_names():
    # Opt-out for text that is not a person's name.
    assert pinyin_full("单雄信", surname=False) == "danxiongxin"
    assert pinyin_initials("曾国藩", surname=False) == "cgf"
    # A lone character is not a full name; long text is a company, not a person.
    assert pinyin_full("单") == "dan"
    assert pinyin_full("解放汽车修理厂") == "jiefangqichexiulichang"
    assert pinyin_initials("解放汽车修理厂") == "jfqcxlc"
    # Mixed text keeps plain readings too.
    assert pinyin_full("单A") == "dana"


@pytest.mark.parametrize(
    ("text", "full", "initials"),
    [
        ("Tom", "tom", "tom"),
        ("TOM", "tom", "tom"),
        ("Tom Lee", "tom lee", "tom lee"),
        ("Ｔｏｍ", "tom", "tom"),  # full-width from a Chinese IME
        ("Tom张三", "tomzhangsan", "tomzs"),
        ("Tom 张三", "tomzhangsan", "tomzs"),
        ("张三Tom", "zhangsantom", "zstom"),
        ("张三2号", "zhangsan2hao", "zs2h"),
        ("重庆长安福特4S店", "chongqingchanganfute4sdian", "cqcaft4sd"),
        ("李·Smith", "li·smith", "l·smith"),
        ("138", "138", "138"),
    ],
)
def test_mixed_and_latin(text, full, initials):
    assert pinyin_full(text) == full
    assert pinyin_initials(text) == initials


@pytest.mark.parametrize("text", ["", "   ", "\u3000", None])
def test_empty(text):
    assert pinyin_full(text) == ""
    assert pinyin_initials(text) == ""


def test_repeated_calls_are_stable():
    # The cache must not leak a name reading into non-name text or vice versa.
    assert pinyin_full("单雄信") == "shanxiongxin"
    assert pinyin_full("单雄信", surname=False) == "danxiongxin"
    assert pinyin_full("单雄信") == "shanxiongxin"


@given(st.text(alphabet=COMMON_CHARS, min_size=1, max_size=6))
def test_chinese_text_gives_ascii_key(text):
    full = pinyin_full(text)
    initials = pinyin_initials(text)
    assert re.fullmatch(r"[a-z]+", full)
    assert len(initials) == len(text)
    assert full.startswith(initials[0])


@given(st.text(alphabet=string.ascii_letters + string.digits, min_size=1))
def test_latin_text_is_lower_cased_as_is(text):
    assert pinyin_full(text) == text.lower()
    assert pinyin_initials(text) == text.lower()
