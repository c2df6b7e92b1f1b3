"""Plates and VINs: every plate kind, normalisation, GB 16735 check digits, demo generators."""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from autocrm.customers.validators import (
    ENERGY_LETTERS,
    PLATE_LETTERS,
    PROVINCES,
    VIN_CHARS,
    WMI_BRANDS,
    normalize_plate,
    normalize_vin,
    plate_kind,
    validate_plate,
    validate_vin,
    vin_check_digit,
)
from tests.customer_factories import random_plate, random_valid_vin

# --------------------------------------------------------------------------------------------------
# Plates
# --------------------------------------------------------------------------------------------------


def test_provinces_are_the_31_abbreviations():
    assert len(PROVINCES) == 31
    assert len(set(PROVINCES)) == 31
    for ch in "京沪粤川藏琼蒙新":
        assert ch in PROVINCES
    for ch in "港澳台使领":
        assert ch not in PROVINCES


def test_plate_letters_exclude_i_and_o():
    assert len(PLATE_LETTERS) == 24
    assert "I" not in PLATE_LETTERS
    assert "O" not in PLATE_LETTERS
    assert ENERGY_LETTERS == "DABCEFGHJK"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("京Ａ·12345 ", "京A12345"),
        ("粤b d12345", "粤BD12345"),
        ("京ａ１２３４５", "京A12345"),
        ("沪A-12345", "沪A12345"),
        ("沪A.12345", "沪A12345"),
        ("川A•12345", "川A12345"),
        ("川A・12345", "川A12345"),
        ("苏E\u3000AB123", "苏EAB123"),  # ideographic space
        ("京A－12345", "京A12345"),  # full-width hyphen
        ("  鲁a 1234挂 ", "鲁A1234挂"),
        ("使０１４５７８", "使014578"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_plate(raw, expected):
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(
    ("plate", "kind"),
    [
        # ordinary: province + office letter + 5 letters/digits
        ("京A12345", "ordinary"),
        ("沪AB1234", "ordinary"),
        ("琼A0000A", "ordinary"),
        ("粤ZABCDE", "ordinary"),
        ("藏Y98765", "ordinary"),
        ("新H1Z2Y3", "ordinary"),
        # new energy, small cars: energy letter at 3, letter/digit at 4, digits at 5–8
        ("粤BD12345", "new_energy_small"),
        ("京AF12345", "new_energy_small"),
        ("京ADA1234", "new_energy_small"),
        ("沪AK00001", "new_energy_small"),
        ("浙AA99999", "new_energy_small"),
        ("苏EJZ0000", "new_energy_small"),
        # new energy, large vehicles: digits at 3–7, energy letter at 8
        ("京A12345D", "new_energy_large"),
        ("粤B00001F", "new_energy_large"),
        ("川A99999K", "new_energy_large"),
        # usage characters replacing the fifth serial character
        ("鲁A1234挂", "trailer"),
        ("冀BA123挂", "trailer"),
        ("京A1234学", "coach"),
        ("京A0001警", "police"),
        ("粤Z1234港", "hk"),
        ("粤Z5678澳", "macau"),
        ("使014578", "embassy"),
        ("京A1234使", "embassy"),
        ("沪A1234领", "consulate"),
        ("粤A0012领", "consulate"),
    ],
)
def test_plate_kind_valid(plate, kind):
    assert plate_kind(plate) == kind
    assert validate_plate(plate) == plate


@pytest.mark.parametrize(
    "plate",
    [
        "",
        "京",
        "京A1234",  # 6 characters
        "京A123456",  # 8 digits: neither ordinary nor new energy
        "京A12345678",
        "京I12345",  # office letter I
        "京O12345",  # office letter O
        "京A1234O",  # O in the serial
        "京AI2345",  # I in the serial
        "京112345",  # office is a digit
        "港A12345",  # not a province
        "台A12345",
        "AA12345",
        "京A12345挂",  # usage character on an 8-character plate
        "京A123挂",
        "京挂12345",
        "京AL12345",  # L is not an energy letter
        "京AI12345",
        "京ADI1234",  # I at position 4
        "京AD1234A",  # small new energy ends in digits
        "京AD1A234",
        "京A12345L",  # L is not an energy letter
        "京A1234AD",  # large new energy: digits at 3–7
        "京A12345DD",
        "使12345",  # embassy: 6 digits after 使
        "使1234567",
        "使A12345",
        "京A12345使",
        "京A12345领",
        "京a12345",  # plate_kind expects a normalised plate
        "京A12 345",
    ],
)
def test_plate_kind_invalid(plate):
    assert plate_kind(plate) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("京ａ·１２３４５", "京A12345"),
        ("粤b d12345", "粤BD12345"),
        ("京a12345d", "京A12345D"),
        (" 鲁a·1234挂 ", "鲁A1234挂"),
    ],
)
def test_validate_plate_normalises(raw, expected):
    assert validate_plate(raw) == expected


@pytest.mark.parametrize("raw", ["京I12345", "港A12345", "京A1234", "abc", "", "京A·1234O"])
def test_validate_plate_refuses(raw):
    with translation.override("en"):
        with pytest.raises(ValidationError) as exc:
            validate_plate(raw)
        assert exc.value.code == "plate"
        assert exc.value.messages == [
            "Enter a valid plate, e.g. 京A12345 or 粤BD12345 (new energy)."
        ]
    assert "车牌" in exc.value.messages[0]  # and in Chinese by default


@pytest.mark.parametrize("province", list(PROVINCES))
def test_random_plate_every_province(province):
    rng = random.Random(ord(province))  # noqa: S311
    for _ in range(50):
        plate = random_plate(rng, province)
        assert plate[0] == province
        assert plate_kind(plate) == "ordinary"
        assert validate_plate(plate) == plate
        ne = random_plate(rng, province, new_energy=True)
        assert ne[0] == province
        assert len(ne) == 8
        assert plate_kind(ne) in {"new_energy_small", "new_energy_large"}
        assert validate_plate(ne) == ne


def test_random_plate_many_seeds_cover_both_new_energy_kinds():
    kinds: set[str | None] = set()
    offices: set[str] = set()
    for seed in range(200):
        rng = random.Random(seed)  # noqa: S311
        plate = random_plate(rng, "粤", new_energy=True)
        kinds.add(plate_kind(plate))
        offices.add(random_plate(rng, "粤")[1])
    assert kinds == {"new_energy_small", "new_energy_large"}
    assert offices <= set(PLATE_LETTERS)
    assert len(offices) > 15  # any office letter, not just A


@given(seed=st.integers(min_value=0, max_value=2**32), new_energy=st.booleans())
def test_random_plate_always_valid(seed, new_energy):
    rng = random.Random(seed)  # noqa: S311
    plate = random_plate(rng, "京", new_energy=new_energy)
    assert validate_plate(plate) == plate


def test_random_plate_is_reproducible():
    first = [random_plate(random.Random(42)) for _ in range(3)]  # noqa: S311
    assert len(set(first)) == 1


@pytest.mark.parametrize("province", ["港", "", "京津", "A"])
def test_random_plate_unknown_province(province):
    with pytest.raises(ValueError, match="province"):
        random_plate(random.Random(1), province)  # noqa: S311


# --------------------------------------------------------------------------------------------------
# VIN
# --------------------------------------------------------------------------------------------------

# The classic textbook example, check digit X; worked by hand:
# 1·8 + M(4)·7 + 8·6 + G(7)·5 + D(4)·4 + M(4)·3 + 9·2 + A(1)·10 + K(2)·9 + P(7)·8 + 0·7 + 4·6
# + 2·5 + 7·4 + 8·3 + 8·2 = 351; 351 mod 11 = 10 → X.
CLASSIC_VIN = "1M8GDM9AXKP042788"
# Chinese format (Tesla Shanghai WMI); by hand: L3·8 + R9·7 + W6·6 + 3·5 + E5·4 + 7·3 + E5·2
# + K2·10 + P7·9 + C3·8 + 1·7 + 2·6 + 3·5 + 4·4 + 5·3 + 7·2 = 375; 375 mod 11 = 1.
CHINESE_VIN = "LRW3E7EK1PC123457"


def test_vin_transliteration_values():
    assert VIN_CHARS == "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    # All ones: the weights sum to 89, 89 mod 11 = 1.
    assert vin_check_digit("11111111111111111") == "1"
    # Letters with the same value give the same digit: A=J=1, B=K=S... S=2 (S starts at 2).
    assert vin_check_digit("AAAAAAAA0AAAAAAAA") == vin_check_digit("JJJJJJJJ0JJJJJJJJ") == "1"
    assert vin_check_digit("PPPPPPPP0PPPPPPPP") == vin_check_digit("77777777077777777")
    assert vin_check_digit("RRRRRRRR0RRRRRRRR") == vin_check_digit("99999999099999999")
    assert vin_check_digit("ZZZZZZZZ0ZZZZZZZZ") == vin_check_digit("99999999099999999")
    assert vin_check_digit("SSSSSSSS0SSSSSSSS") == vin_check_digit("22222222022222222")
    assert vin_check_digit("HHHHHHHH0HHHHHHHH") == vin_check_digit("88888888088888888")
    assert vin_check_digit("NNNNNNNN0NNNNNNNN") == vin_check_digit("55555555055555555")


def test_vin_check_digit_ignores_position_9():
    assert vin_check_digit(CLASSIC_VIN) == "X"
    assert vin_check_digit("1M8GDM9A0KP042788") == "X"
    assert vin_check_digit(CHINESE_VIN) == "1"


@pytest.mark.parametrize("vin", ["1M8GDM9AXKP04278", "1M8GDM9AXKP042788A", "1M8GDM9AXKP04278O"])
def test_vin_check_digit_rejects_non_vins(vin):
    with pytest.raises(ValueError):
        vin_check_digit(vin)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" lrw3e7ek1pc123457 ", CHINESE_VIN),
        ("LRW-3E7EK1-PC123457", CHINESE_VIN),
        ("LRW 3E7 EK1 PC1 234 57", CHINESE_VIN),
        ("ＬＲＷ３Ｅ７ＥＫ１ＰＣ１２３４５７", CHINESE_VIN),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_vin(raw, expected):
    assert normalize_vin(raw) == expected


@pytest.mark.parametrize(
    "vin",
    [CLASSIC_VIN, CHINESE_VIN, "11111111111111111", "LRW3E7EKXPC123456", "lrw3e7ek1pc123457"],
)
def test_validate_vin_ok(vin):
    assert validate_vin(vin) == (vin.upper(), True)


def test_validate_vin_wrong_check_digit_is_only_a_warning():
    assert validate_vin("1M8GDM9A1KP042788") == ("1M8GDM9A1KP042788", False)
    assert validate_vin("LRW3E7EK2PC123457") == ("LRW3E7EK2PC123457", False)
    # A letter other than X at position 9 can never be a check digit.
    assert validate_vin("LRW3E7EKAPC123457") == ("LRW3E7EKAPC123457", False)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("LRW3E7EK1PC12345", "A VIN has 17 characters; this one has 16."),
        ("LRW3E7EK1PC1234578", "A VIN has 17 characters; this one has 18."),
        ("", "A VIN has 17 characters; this one has 0."),
        (
            "LRW3E7EK1PC12345O",
            "A VIN never contains I, O or Q (found: O); they are usually 1 or 0.",
        ),
        (
            "IRW3E7EKQPC12345O",
            "A VIN never contains I, O or Q (found: I, O, Q); they are usually 1 or 0.",
        ),
        ("LRW3E7EK1PC1234*7", "A VIN contains only Latin letters and digits."),
        ("车架号LRW3E7EK1PC123457", "A VIN contains only Latin letters and digits."),
        ("LRW3E7EK1PC12345Ä", "A VIN contains only Latin letters and digits."),
    ],
)
def test_validate_vin_refusals(raw, message):
    with translation.override("en"):
        with pytest.raises(ValidationError) as exc:
            validate_vin(raw)
        assert exc.value.code == "vin"
        assert exc.value.messages == [message]


_vin16 = st.text(alphabet=VIN_CHARS, min_size=16, max_size=16)


@given(body=_vin16, data=st.data())
def test_check_digit_property(body, data):
    draft = body[:8] + "0" + body[8:]
    digit = vin_check_digit(draft)
    assert digit in "0123456789X"
    vin = body[:8] + digit + body[8:]
    assert validate_vin(vin) == (vin, True)
    other = data.draw(st.sampled_from([c for c in "0123456789X" if c != digit]))
    wrong = body[:8] + other + body[8:]
    assert validate_vin(wrong) == (wrong, False)


@given(body=_vin16, pos=st.integers(min_value=0, max_value=16).filter(lambda p: p != 8))
def test_single_substitution_changes_the_check_digit_or_value(body, pos):
    """A typo in any weighted position is caught unless both characters share a value."""
    vin = body[:8] + "0" + body[8:]
    vin = vin[:8] + vin_check_digit(vin) + vin[9:]
    replacement = "7" if vin[pos] not in "7GPX" else "3"  # 3/C/L/T never equal G=P=X=7
    typo = vin[:pos] + replacement + vin[pos + 1 :]
    assert validate_vin(typo)[1] is False


def test_wmi_brands():
    assert WMI_BRANDS == {
        "LSV": "大众",
        "LFV": "大众",
        "LGB": "日产",
        "LHG": "本田",
        "LVS": "福特",
        "LBV": "宝马",
        "LE4": "奔驰",
        "LGX": "比亚迪",
        "LRW": "特斯拉",
        "LSG": "别克",
    }


@pytest.mark.parametrize("wmi", sorted(WMI_BRANDS))
def test_random_valid_vin_for_every_wmi(wmi):
    rng = random.Random(wmi)  # noqa: S311
    vins = {random_valid_vin(rng, wmi) for _ in range(200)}
    assert len(vins) == 200
    for vin in vins:
        assert len(vin) == 17
        assert vin.startswith(wmi)
        assert validate_vin(vin) == (vin, True)


@given(seed=st.integers(min_value=0, max_value=2**32))
def test_random_valid_vin_always_valid(seed):
    vin = random_valid_vin(random.Random(seed))  # noqa: S311
    assert vin.startswith("LSV")
    assert validate_vin(vin) == (vin, True)


def test_random_valid_vin_is_reproducible():
    assert random_valid_vin(random.Random(7)) == random_valid_vin(random.Random(7))  # noqa: S311


@pytest.mark.parametrize("wmi", ["LS", "LSVA", "LSI", "L-"])
def test_random_valid_vin_rejects_bad_wmi(wmi):
    with pytest.raises(ValueError, match="WMI"):
        random_valid_vin(random.Random(1), wmi)  # noqa: S311


# --------------------------------------------------------------------------------------------------
# Mobile numbers, names and birthdays: one rule for forms, the API and imports
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "+86 138 1234 5678",
        "0086-13812345678",
        "8613812345678",
        "13812345678.0",
        "(138)1234-5678",
    ],
)
def test_normalize_mobile(raw):
    from autocrm.core.validators import normalize_mobile

    assert normalize_mobile(raw) == "13812345678"


def test_form_accepts_what_imports_accept(world):
    from autocrm.customers import services
    from autocrm.imports.parsing import parse_mobile

    for raw in ("8613812345678", "13812345679.0"):
        customer = services.create_customer(world.advisor_a1, name="张三", mobile=raw)
        assert customer.mobile == parse_mobile(raw)[0]


def test_customer_name_and_birthday_rules():
    import datetime

    from autocrm.customers.validators import validate_birthday, validate_customer_name

    validate_customer_name("张" * 100)
    validate_customer_name("", required=False)
    for bad in ("", "张" * 101):
        with pytest.raises(ValidationError):
            validate_customer_name(bad)
    today = datetime.date(2026, 3, 5)
    validate_birthday(None, today)
    validate_birthday(datetime.date(1990, 5, 1), today)
    for day, code in ((datetime.date(2026, 3, 6), "future"), (datetime.date(1899, 1, 1), "year")):
        with pytest.raises(ValidationError) as exc:
            validate_birthday(day, today)
        assert exc.value.code == code
