"""``DeliveredIds``: every id one stream delivered, kept exactly and compactly.

A stream must never yield an id twice, whatever the server sends, so it keeps every
id it delivered. Ids are UUIDs: 16 bytes each as binary, against ~120 bytes as a set
of strings. The newest ids sit in a plain ``set`` (checked in C); every ``FOLD`` ids
they are folded (``bytes.fromhex`` over the joined ids) into 16-byte records, in
partitions chosen by the id's hash. A byte map indexed by the same hash tells which
ids may be among the folded ones, so a page of new ids costs a few C passes; only the
ids the map flags (about one in ten) are looked up (``bytes.find``) in their partition.
A listing of up to ``2 * FOLD`` ids (as its first page announces) is never folded.

Cost, measured: about 26 bytes an id once folded (16 the record, 8 to 16 the map),
plus the newest ``FOLD`` ids as strings (~7 MB). An id that is not a lowercase
canonical UUID is kept as a string (exact, ~120 bytes).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from itertools import compress, repeat
from operator import and_, itemgetter, rshift

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
        # Holds at most FOLD (or 2 * FOLD, see size) ids as strings, the rest in binary.
        self._recent: set[str] = set()
        self._others: set[str] = set()  # folded ids that are not canonical UUIDs
        self._folded = 0
        self._expected = expected
        self._fold_at = FOLD
        self._map = bytearray()
        self._mask = 0
        self._part_shift = 0
        self._parts: list[bytearray] = []
        self.size(expected)

    def size(self, expected: int) -> None:
        """Size the map and partitions for about ``expected`` ids (before any is folded).

        A listing of up to ``2 * FOLD`` ids is never folded: a set of its ids costs no
        CPU beyond the set itself, and at most ~15 MB.
        """
        if not self._folded:
            self._expected = expected
            self._fold_at = 2 * FOLD if expected <= 2 * FOLD else FOLD

    def _allocate(self) -> None:
        # At the first fold: a listing of fewer than FOLD ids never pays for these.
        expected = max(self._expected, 2 * FOLD)
        self._map = bytearray(1 << (8 * expected - 1).bit_length())  # 8 to 16 bytes an id
        self._mask = len(self._map) - 1
        part_bits = min(16, (expected // 512).bit_length(), self._mask.bit_length())
        self._part_shift = self._mask.bit_length() - part_bits
        parts = 1 << part_bits
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
        if len(recent) >= self._fold_at:
            self._fold()
        return True

    def add(self, ids: Iterable[str]) -> None:
        """Add ids (known to be new, or known from before a resume)."""
        self._recent.update(ids)
        if len(self._recent) >= self._fold_at:
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
        records = self._parts[(hash(id) & self._mask) >> self._part_shift]
        at = records.find(key)
        while at >= 0:
            if not at % 16:  # a whole record, not the end of one and the start of the next
                return True
            at = records.find(key, at + 1)
        return False

    def _fold(self) -> None:
        if not self._folded:
            self._allocate()
        ids = list(self._recent)
        self._recent = set()
        self._folded += len(ids)
        # Mark the map (setitem called from C, no Python loop), and group the ids by
        # partition: the top bits of the same map slot.
        slots = list(map(and_, map(hash, ids), repeat(self._mask)))
        deque(map(self._map.__setitem__, slots, repeat(1)), 0)
        groups: list[list[str]] = [[] for _ in self._parts]
        for each, part in zip(ids, map(rshift, slots, repeat(self._part_shift)), strict=True):
            groups[part].append(each)
        for part, group in enumerate(groups):
            if group:
                self._parts[part] += self._records(group)

    def _records(self, ids: list[str]) -> bytes:
        """The ids as 16-byte records; those that are not canonical UUIDs go to ``_others``."""
        records = _uuid_records("".join(ids), len(ids))
        if records is not None:
            return records
        uuids = [i for i in ids if _UUID.fullmatch(i)]
        self._others.update(i for i in ids if not _UUID.fullmatch(i))
        return bytes.fromhex("".join(uuids).replace("-", ""))


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
