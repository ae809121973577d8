"""``DeliveredIds``: every id one stream delivered, kept exactly and compactly.

A stream must never yield an id twice, whatever the server sends, so it keeps every
id it delivered. Ids are UUIDs: 16 bytes each as binary, against ~120 bytes as a set
of strings. The newest ids sit in a plain ``set`` (checked in C); every ``FOLD`` ids
they are folded, in C operations (sort, join, ``bytes.fromhex``), into binary
partitions of ``(hi, lo)`` 64-bit halves. A byte map indexed by each id's hash tells
which ids may be among the folded ones, so a page of new ids costs a few C passes;
only the ids the map flags (about one in ten) are looked up in their partition.

An id that is not a lowercase canonical UUID is kept as a string (exact, ~120 bytes).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from itertools import compress, repeat
from operator import and_, itemgetter, lshift, or_

__all__ = ["FOLD", "DeliveredIds"]

#: Ids held as strings before they are folded into binary.
FOLD = 65536
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class DeliveredIds:
    """An exact set of ids, about 26 bytes an id once folded (see the module docstring).

    ``expected`` sizes the byte map and the partitions (the listing's
    ``total_results``); more ids than that stay exact, only slower to check.
    """

    def __init__(self, expected: int = 0) -> None:
        self._recent: set[str] = set()
        self._others: set[str] = set()  # folded ids that are not canonical UUIDs
        self._folded = 0
        self._expected = expected
        self._map = bytearray()
        self._mask = 0
        self._part_bits = 0
        self._parts: list[bytearray] = []

    def size(self, expected: int) -> None:
        """Size the map and partitions for about ``expected`` ids (before any is folded)."""
        if not self._folded:
            self._expected = expected

    def _allocate(self) -> None:
        # At the first fold: a listing of fewer than FOLD ids never pays for these.
        expected = max(self._expected, 2 * FOLD)
        self._map = bytearray(1 << (8 * expected - 1).bit_length())  # 8 to 16 bytes an id
        self._mask = len(self._map) - 1
        self._part_bits = min(16, (expected // 512).bit_length())
        parts = 1 << self._part_bits
        #: Folded UUIDs as 16-byte big-endian records, by their top bits.
        self._parts = [bytearray() for _ in range(parts)]

    def __len__(self) -> int:
        return len(self._recent) + self._folded

    def __contains__(self, id: str) -> bool:
        if id in self._recent:
            return True
        if not self._folded or not self._map[hash(id) & self._mask]:
            return False
        return self._folded_has(id)

    def add_if_all_new(self, ids: list[str]) -> bool:
        """Add a page's ids if none is known and none comes twice; else change nothing."""
        recent = self._recent
        if not recent.isdisjoint(ids):
            return False
        size = len(recent)
        recent.update(ids)
        if len(recent) - size != len(ids) or (self._folded and self._any_folded(ids)):
            recent.difference_update(ids)  # none was there before: this undoes the update
            return False
        if len(recent) >= FOLD:
            self._fold()
        return True

    def add(self, ids: Iterable[str]) -> None:
        """Add ids (known to be new, or known from before a resume)."""
        self._recent.update(ids)
        if len(self._recent) >= FOLD:
            self._fold()

    def _any_folded(self, ids: list[str]) -> bool:
        slots = map(and_, map(hash, ids), repeat(self._mask))
        if len(ids) == 1:
            flags: tuple[int, ...] = (self._map[next(slots)],)
        else:
            flags = itemgetter(*slots)(self._map)
        return any(map(self._folded_has, compress(ids, flags)))

    def _folded_has(self, id: str) -> bool:
        if not _UUID.fullmatch(id):
            return id in self._others
        key = bytes.fromhex(id.replace("-", ""))
        records = self._parts[(key[0] << 8 | key[1]) >> (16 - self._part_bits)]
        at = records.find(key)
        while at >= 0:
            if not at % 16:  # a whole record, not the end of one and the start of the next
                return True
            at = records.find(key, at + 1)
        return False

    def _fold(self) -> None:
        if not self._folded:
            self._allocate()
        ids = sorted(self._recent)
        self._recent = set()
        self._folded += len(ids)
        # Mark the map: setitem called from C, no Python loop.
        deque(
            map(self._map.__setitem__, map(and_, map(hash, ids), repeat(self._mask)), repeat(1)), 0
        )
        blob = _uuid_records("".join(ids), len(ids))
        if blob is None:  # not all canonical UUIDs: keep the others as strings
            uuids = [i for i in ids if _UUID.fullmatch(i)]
            self._others.update(i for i in ids if not _UUID.fullmatch(i))
            blob = bytes.fromhex("".join(uuids).replace("-", ""))
        bits = self._part_bits
        if not bits:
            self._parts[0] += blob
            return
        # The ids were sorted, so each partition's records are one run of the blob: find
        # the runs by their first two bytes, read big-endian (the partition's top bits).
        heads = list(map(or_, map(lshift, blob[0::16], repeat(8)), blob[1::16]))
        start = 0
        shift = 16 - bits
        for part in range(1 << bits):
            end = bisect_left(heads, (part + 1) << shift, start)
            if end > start:
                self._parts[part] += blob[16 * start : 16 * end]
            start = end


def _uuid_records(text: str, count: int) -> bytes | None:
    """``count`` lowercase canonical UUIDs end to end as 16-byte records, else None.

    C passes only (slices, ``replace``, ``bytes.fromhex``): no Python loop per id.
    """
    if len(text) != 36 * count:
        return None
    dashes = "-" * count
    if any(text[at::36] != dashes for at in (8, 13, 18, 23)):
        return None
    digits = text.replace("-", "")
    if len(digits) != 32 * count or any(upper in digits for upper in "ABCDEF"):
        return None
    try:
        records = bytes.fromhex(digits)  # refuses anything that is not hex
    except ValueError:
        return None
    return records if len(records) == 16 * count else None  # fromhex skips spaces
