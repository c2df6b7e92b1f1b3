"""Columns are recognised from Chinese and English header synonyms, however decorated."""

from __future__ import annotations

import pytest

from autocrm.imports.mapping import clean_mapping, field_for, find_header, headers_key, propose


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("姓名", "name"),
        ("客户姓名", "name"),
        ("车主", "name"),
        ("客户", "name"),
        ("Name", "name"),
        ("手机", "mobile"),
        ("手机号", "mobile"),
        ("电话", "mobile"),
        ("联系电话", "mobile"),
        ("联系方式", "mobile"),
        ("mobile", "mobile"),
        ("车牌", "plate"),
        ("车牌号", "plate"),
        ("车牌号码", "plate"),
        ("Plate", "plate"),
        ("车架号", "vin"),
        ("VIN", "vin"),
        ("车辆识别代号", "vin"),
        ("品牌", "brand"),
        ("brand", "brand"),
        ("车型", "model"),
        ("型号", "model"),
        ("model", "model"),
        ("里程", "mileage_km"),
        ("公里数", "mileage_km"),
        ("当前里程", "mileage_km"),
        ("保险到期", "insurance_expires_on"),
        ("保险到期日", "insurance_expires_on"),
        ("保险到期时间", "insurance_expires_on"),
        ("年检到期", "inspection_due_on"),
        ("年审", "inspection_due_on"),
        ("生日", "birthday"),
        ("出生日期", "birthday"),
        ("性别", "gender"),
        ("微信", "wechat_id"),
        ("备注", "notes"),
        ("会员等级", "level"),
        ("等级", "level"),
        ("来源", "source"),
        ("客户来源", "source"),
        ("门店", "store"),
        # decorations: required marks, units, full-width, spaces
        ("*手机号", "mobile"),
        ("里程(km)", "mileage_km"),
        ("里程（公里）", "mileage_km"),
        ("手机号：", "mobile"),
        ("ＶＩＮ", "vin"),
        (" 车牌 号 ", "plate"),
        ("年龄", None),
        ("", None),
        (None, None),
    ],
)
def test_synonyms(header, field):
    assert field_for(header) == field


def test_a_field_claimed_twice_keeps_its_first_column():
    assert propose(["姓名", "电话", "手机"]) == ["name", "mobile", None]


def test_header_row_found_below_titles_and_notes():
    rows = [
        ("安途汽修 客户资料",),
        (),
        ("导出时间", "2024-03-05"),
        ("序号", "车主", "联系电话", "车牌号码", "品牌"),
        (1, "张三", "13812345678", "京A12345", "大众"),
    ]
    index, mapping = find_header(rows)
    assert index == 3
    assert mapping == [None, "name", "mobile", "plate", "brand"]


def test_no_header_in_the_first_ten_rows():
    rows = [("x",)] * 10 + [("姓名", "手机号")]
    assert find_header(rows) is None
    # one recognised column is not a header (a data row could contain "客户" by chance)
    assert find_header([("客户", "x", "y")]) is None


def test_headers_key_ignores_decoration_and_mapping_is_cleaned():
    assert headers_key(["*姓名", "手机号："]) == headers_key(["姓名", "手机号"])
    assert headers_key(["姓名", "手机号"]) != headers_key(["手机号", "姓名"])
    assert clean_mapping(["a", "b", "c"], ["name", "bogus"]) == ["name", None, None]
