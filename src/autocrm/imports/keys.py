"""Compact maps of what an import has seen, so that its memory hardly grows with the file.

An import remembers, for every customer and vehicle the file touches, its mobile, plate and VIN
and the row that first touched it (for in-file duplicates and a second car 4 000 rows later).
Held as Python dicts of strings and tuples, that cost several hundred bytes a row in small
objects scattered among each chunk's garbage; here each entry is a fixed-size slot of 64-bit
integers in ``array('q')`` tables (open addressing, linear probing): 8 bytes of key and 8 bytes
per value, at most twice that with the free slots kept (30–50 bytes an entry; a row makes four
or five entries).

Texts (mobiles, plates, VINs) are keyed by their 64-bit hash: two different keys of one file
collide with a probability of about n² / 2⁶⁵ (3·10⁻¹⁰ at 100 000 rows)."""

from __future__ import annotations

from array import array

EMPTY = -(1 << 63)  # a free slot (and, as a value, None)
DELETED = EMPTY + 1  # a slot whose entry was removed (probing goes on past it)
_MIN_SIZE = 1 << 10
#: A table grows (doubles) when more than 7/10 of its slots are taken: linear probing still
#: finds a key in about two probes, and a slot costs 16 or 24 bytes.
MAX_LOAD_TENTHS = 7
_SPREAD = 0x9E3779B97F4A7C15  # Fibonacci hashing: ids that are close end up far apart
_BITS = (1 << 64) - 1


def text_key(text: str) -> int:
    """A signed 64-bit key for a text, never one of the slot markers. Python's own string
    hash (SipHash, 64 bits, cached on the string) is enough: a map lives in one process."""
    key = hash(text)
    return key if key > DELETED else key + 2


class IntMap:
    """A map from 64-bit integers to ``width`` (1 or 2) integers each, ``None`` allowed as a
    value. ``get`` returns the value, or a pair of values when ``width`` is 2."""

    __slots__ = ("_keys", "_values", "_width", "_mask", "_shift", "_used", "_filled")

    def __init__(self, width: int = 1):
        if width not in (1, 2):
            raise ValueError(width)
        self._width = width
        self._allocate(_MIN_SIZE)

    def _allocate(self, size: int) -> None:
        self._keys = array("q", [EMPTY]) * size
        self._values = array("q", [EMPTY]) * (size * self._width)
        self._mask = size - 1
        self._shift = 64 - size.bit_length() + 1
        self._used = 0  # live entries
        self._filled = 0  # live and deleted

    @staticmethod
    def _key(key) -> int:
        return key

    def _find(self, key: int) -> tuple[int, bool]:
        """(slot of ``key``, True), or (the slot where it would go, False)."""
        keys = self._keys
        i = ((key * _SPREAD) & _BITS) >> self._shift
        k = keys[i]
        if k == key:  # the usual case: found at once
            return i, True
        if k == EMPTY:
            return i, False
        mask = self._mask
        free = i if k == DELETED else -1
        while True:
            i = (i + 1) & mask
            k = keys[i]
            if k == key:
                return i, True
            if k == EMPTY:
                return (i if free < 0 else free), False
            if k == DELETED and free < 0:
                free = i

    def _read(self, i: int):
        values = self._values
        if self._width == 1:
            value = values[i]
            return None if value == EMPTY else value
        a, b = values[2 * i], values[2 * i + 1]
        return (None if a == EMPTY else a, None if b == EMPTY else b)

    def _write(self, i: int, value) -> None:
        values = self._values
        if self._width == 1:
            values[i] = EMPTY if value is None else value
        else:
            a, b = value
            values[2 * i] = EMPTY if a is None else a
            values[2 * i + 1] = EMPTY if b is None else b

    def __len__(self) -> int:
        return self._used

    def __contains__(self, key) -> bool:
        return self._find(self._key(key))[1]

    def get(self, key, default=None):
        i, found = self._find(self._key(key))
        return self._read(i) if found else default

    def __getitem__(self, key):
        i, found = self._find(self._key(key))
        if not found:
            raise KeyError(key)
        return self._read(i)

    def __setitem__(self, key, value) -> None:
        key = self._key(key)
        i, found = self._find(key)
        values = self._values
        if self._width == 1:
            values[i] = EMPTY if value is None else value
        else:
            a, b = value
            values[2 * i] = EMPTY if a is None else a
            values[2 * i + 1] = EMPTY if b is None else b
        if not found:
            self._add(i, key)

    def _add(self, i: int, key: int) -> None:
        keys = self._keys
        if keys[i] == EMPTY:
            self._filled += 1
        self._used += 1
        keys[i] = key
        if self._filled * 10 > len(keys) * MAX_LOAD_TENTHS:
            self._grow()

    def setdefault(self, key, value):
        key = self._key(key)
        i, found = self._find(key)
        if found:
            return self._read(i)
        self._write(i, value)
        self._add(i, key)
        return value

    def pop(self, key, default=None):
        i, found = self._find(self._key(key))
        if not found:
            return default
        value = self._read(i)
        self._keys[i] = DELETED
        self._used -= 1
        return value

    def __delitem__(self, key) -> None:
        i, found = self._find(self._key(key))
        if not found:
            raise KeyError(key)
        self._keys[i] = DELETED
        self._used -= 1

    def _grow(self) -> None:
        """Rehash into a table twice the size (or the same size, to drop deleted slots)."""
        keys, values, width = self._keys, self._values, self._width
        size = len(keys) * 2 if self._used * 20 > len(keys) * MAX_LOAD_TENTHS else len(keys)
        self._allocate(size)
        new_keys, new_values, find = self._keys, self._values, self._find
        for i, key in enumerate(keys):
            if key != EMPTY and key != DELETED:
                j = find(key)[0]
                new_keys[j] = key
                if width == 1:
                    new_values[j] = values[i]
                else:
                    new_values[2 * j] = values[2 * i]
                    new_values[2 * j + 1] = values[2 * i + 1]
                self._used += 1
        self._filled = self._used


class TextMap(IntMap):
    """``IntMap`` keyed by texts (through ``text_key``)."""

    __slots__ = ()

    @staticmethod
    def _key(key) -> int:
        key = hash(key)
        return key if key > DELETED else key + 2
