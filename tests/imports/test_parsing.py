"""Dates, phones, mileage and gender as shops type them."""

from __future__ import annotations

import datetime

import pytest

from autocrm.imports.parsing import (
    CellError,
    is_formula,
    parse_date,
    parse_gender,
    parse_mileage,
    parse_mobile,
    text,
)

MARCH_5 = datetime.date(2024, 3, 5)


@pytest.mark.parametrize(
    "value",
    [
        "2024/3/5",
        "2024/03/05",
        "2024-03-05",
        "2024-3-5",
        "20240305",
        20240305,
        "2024年3月5日",
        "2024年03月05日",
        "2024.3.5",
        "2024.03.05",
        "２０２４－０３－０５",  # full-width
        " 2024-03-05 ",
        "2024-03-05 00:00:00",
        "2024/3/5 10:30",
        "2024-03-05T08:00:00",
        45356,  # Excel serial number
        45356.0,
        "45356",
        datetime.datetime(2024, 3, 5, 0, 0),  # a date cell
        MARCH_5,
    ],
)
def test_dates(value):
    assert parse_date(value) == MARCH_5


def test_early_excel_serials_skip_the_1900_leap_day_bug():
    assert parse_date(1) == datetime.date(1900, 1, 1)
    assert parse_date(60 + 1) == datetime.date(1900, 3, 1)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_dates(value):
    assert parse_date(value) is None


@pytest.mark.parametrize("value", ["2024-02-30", "2024/13/01", "明天", "20241399", -5, True, "3/5"])
def test_bad_dates(value):
    with pytest.raises(CellError):
        parse_date(value)


@pytest.mark.parametrize(
    ("value", "mobile", "other"),
    [
        ("13812345678", "13812345678", ""),
        (13812345678, "13812345678", ""),
        (13812345678.0, "13812345678", ""),
        ("138 1234 5678", "13812345678", ""),
        ("138-1234-5678", "13812345678", ""),
        ("+86 138 1234 5678", "13812345678", ""),
        ("+86-13812345678", "13812345678", ""),
        ("0086 13812345678", "13812345678", ""),
        ("8613812345678", "13812345678", ""),
        ("(+86) 138 1234 5678", "13812345678", ""),
        ("１３８１２３４５６７８", "13812345678", ""),  # full-width digits
        ("13812345678.0", "13812345678", ""),
        ("13812345678 / 13900001111", "13812345678", "13900001111"),
        ("13812345678，13900001111", "13812345678", "13900001111"),
        (None, "", ""),
    ],
)
def test_phones(value, mobile, other):
    assert parse_mobile(value) == (mobile, other)


@pytest.mark.parametrize("value", ["12345", "010-12345678", "23812345678", "1381234567x", "电话"])
def test_bad_phones(value):
    with pytest.raises(CellError):
        parse_mobile(value)


@pytest.mark.parametrize(
    ("value", "km"),
    [
        (42000, 42000),
        (42000.0, 42000),
        ("42,000", 42000),
        ("42000km", 42000),
        ("42000公里", 42000),
        ("1.2万", 12000),
        ("４２０００", 42000),
        (None, None),
    ],
)
def test_mileage(value, km):
    assert parse_mileage(value) == km


@pytest.mark.parametrize("value", ["abc", -1, "3000000", True])
def test_bad_mileage(value):
    with pytest.raises(CellError):
        parse_mileage(value)


def test_gender_and_text():
    assert parse_gender("男") == parse_gender("先生") == parse_gender("M") == "m"
    assert parse_gender("女") == parse_gender("女士") == "f"
    assert parse_gender("") == ""
    with pytest.raises(CellError):
        parse_gender("未知")
    assert text(13812345678.0) == "13812345678"
    assert text("ＡＢＣ　１２３") == "ABC 123"
    assert text(datetime.datetime(2024, 3, 5)) == "2024-03-05"


def test_formula_detection():
    assert is_formula("=SUM(A1:A3)")
    assert is_formula(" =A1")
    assert is_formula("=1+1") and is_formula('=HYPERLINK("x")')
    assert not is_formula("=")
    assert not is_formula("=== VIP ===")
    assert not is_formula("a=b")
    assert not is_formula(5)
