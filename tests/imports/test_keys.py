"""The import's compact maps behave like dicts and cost a fixed, small size per entry."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autocrm.imports.keys import DELETED, EMPTY, IntMap, TextMap, text_key

ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "pop", "del", "setdefault"]),
        st.integers(min_value=-3000, max_value=3000),
        st.one_of(st.none(), st.integers(min_value=-(2**62), max_value=2**62)),
    ),
    max_size=400,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_intmap_behaves_like_a_dict(operations):
    ours, model = IntMap(width=2), {}
    for op, key, value in operations:
        pair = (value, key)
        if op == "set":
            ours[key] = pair
            model[key] = pair
        elif op == "pop":
            assert ours.pop(key, "missing") == model.pop(key, "missing")
        elif op == "del":
            if key in model:
                del ours[key]
                del model[key]
            else:
                with pytest.raises(KeyError):
                    del ours[key]
        else:
            assert ours.setdefault(key, pair) == model.setdefault(key, pair)
        assert len(ours) == len(model)
    for key in range(-3000, 3001, 7):
        assert ours.get(key) == model.get(key)
        assert (key in ours) == (key in model)


def test_growth_and_deletions_keep_every_entry():
    rng = random.Random(5)
    ours, model = TextMap(), {}
    for n in range(50_000):
        text = f"京A{n:05d}"
        ours[text] = n
        model[text] = n
        if rng.random() < 0.3:
            victim = f"京A{rng.randrange(n + 1):05d}"
            assert ours.pop(victim, None) == model.pop(victim, None)
    assert len(ours) == len(model)
    assert all(ours.get(k) == v for k, v in model.items())
    assert ours.get("沪B99999") is None
    assert "沪B99999" not in ours
    with pytest.raises(KeyError):
        ours["沪B99999"]


def test_single_values_may_be_none_and_negative():
    m = IntMap()
    m[-1] = None
    m[7] = -5
    assert -1 in m and m[-1] is None
    assert m.get(7) == -5
    assert m.get(8, "no") == "no"


def test_text_keys_are_stable_and_never_a_marker():
    assert text_key("13800001111") == text_key("13800001111")
    assert text_key("13800001111") != text_key("13800001112")
    keys = {text_key(f"1380000{n:04d}") for n in range(10_000)}
    assert len(keys) == 10_000
    assert EMPTY not in keys and DELETED not in keys


def test_memory_per_entry_is_small_and_fixed():
    """Two values an entry: at most 24 bytes a slot and 7/10 of the slots taken before the
    table doubles, so under 70 bytes an entry whatever the moment (a dict of tuples: ~150)."""
    tracemalloc.start()
    try:
        for count in (10_000, 100_000, 300_000):
            before = tracemalloc.get_traced_memory()[0]
            m = IntMap(width=2)
            for n in range(count):
                m[n - count // 2] = (n, None)
            size = tracemalloc.get_traced_memory()[0] - before
            assert len(m) == count
            assert size / count < 70, f"{size / count:.0f} bytes an entry at {count}"
            del m
    finally:
        tracemalloc.stop()
