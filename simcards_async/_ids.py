"""``DeliveredIds``: every id one stream delivered, kept exactly and compactly.

A stream must never yield an id twice, whatever the server sends, so it keeps every
id it delivered. Ids are UUIDs: 16 bytes each as binary, against ~120 bytes as a set
of strings. The newest ids sit in a plain ``set`` (checked in C); every ``FOLD`` ids
they are folded into 16-byte records, in partitions chosen by the id's hash: sorted
by slot, converted by one ``bytes.fromhex`` and cut into one slice a partition (C
passes, no Python loop per id). A map of about two slots an expected id holds, in
the id's slot (``hash % slots``), a fingerprint (the hash's low byte), or ``0xFF``
where folded ids with different fingerprints share it. Only an id whose slot holds
its fingerprint or ``0xFF`` may be folded, and only those (a few in a hundred) are
looked up (``bytes.find``) in their partition, so a page of new ids costs a few C
passes; no check ever trusts the map to say an id *is* known.
A listing of up to ``UNFOLDED`` ids (as its first page announces) is never folded.

Cost, measured: about 20 bytes an id once folded (16 the record, 2 to 4 the map,
the rest partitions), plus the newest ``FOLD`` ids as strings (~7 MB). An id that
is not a lowercase canonical UUID is kept as a string (exact, ~120 bytes).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from itertools import compress, repeat
from operator import and_, eq, itemgetter, mod, mul, ne, not_, or_, rshift, setitem

__all__ = ["FOLD", "UNFOLDED", "DeliveredIds"]

#: Ids held as strings before they are folded into binary.
FOLD = 65536
#: A listing of up to this many ids (as its first page announces) is never folded.
UNFOLDED = 131072
#: Map slots an expected id (the map costs a byte a slot).
_SLOTS_PER_ID = 2
#: Expected ids a partition (a partition is searched with ``bytes.find``).
_PART = 128
#: In the map: two folded ids with different fingerprints share this slot.
_SHARED = 0xFF
#: A fingerprint of 0 is written as _SHARED (0 is an empty slot).
_NONZERO = bytes([_SHARED, *range(1, 256)])
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class DeliveredIds:
    """An exact set of ids, about 20 bytes an id once folded (see the module docstring).

    ``expected`` sizes the fingerprint map and the partitions (the listing's
    ``total_results``); more ids than that stay exact, only slower to check.
    """

    def __init__(self, expected: int = 0) -> None:
        # Holds at most FOLD (or UNFOLDED, see size) ids as strings, the rest in binary.
        self._recent: set[str] = set()
        self._others: set[str] = set()  # folded ids that are not canonical UUIDs
        self._folded = 0
        self._expected = expected
        self._fold_at = FOLD
        self._map = bytearray()
        self._slots = 1
        self._part_shift = 0
        self._parts: list[bytes] = []
        self.size(expected)

    def size(self, expected: int) -> None:
        """Size the map and partitions for about ``expected`` ids (before any is folded).

        A listing of up to ``UNFOLDED`` ids is never folded: a set of its ids costs no
        CPU beyond the set itself, and at most ~15 MB.
        """
        if not self._folded:
            self._expected = expected
            self._fold_at = UNFOLDED if expected <= UNFOLDED else FOLD

    def _allocate(self) -> None:
        # At the first fold: a listing of fewer than FOLD ids never pays for these.
        expected = max(self._expected, UNFOLDED)
        # An odd number of slots, so the slot (hash % slots) and the fingerprint (the
        # hash's low byte) are independent.
        self._slots = _SLOTS_PER_ID * expected | 1
        self._map = bytearray(self._slots)
        self._part_shift = (_SLOTS_PER_ID * _PART).bit_length() - 1
        #: Folded UUIDs as 16-byte big-endian records, by slot >> part_shift.
        self._parts = [b""] * ((self._slots >> self._part_shift) + 1)

    def __len__(self) -> int:
        return len(self._recent) + self._folded

    def __contains__(self, id: str) -> bool:
        if id in self._recent:
            return True
        if not self._folded:
            return False
        h = hash(id)
        if self._map[h % self._slots] not in (h & 0xFF, _SHARED):
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
        # C passes only: the ids whose slot holds their fingerprint, or _SHARED, may be
        # folded; only those are looked up in their partition.
        hashes = list(map(hash, ids))
        slots = map(mod, hashes, repeat(self._slots))
        if len(ids) == 1:
            held: tuple[int, ...] = (self._map[next(slots)],)
        else:
            held = itemgetter(*slots)(self._map)
        flags = map(
            or_, map(eq, held, map(and_, hashes, repeat(0xFF))), map(eq, held, repeat(_SHARED))
        )
        return any(map(self._folded_has, compress(ids, flags)))

    def _folded_has(self, id: str) -> bool:
        if not _UUID.fullmatch(id):
            return id in self._others
        key = bytes.fromhex(id.replace("-", ""))
        records = self._parts[hash(id) % self._slots >> self._part_shift]
        at = records.find(key)
        while at >= 0:
            if not at % 16:  # a whole record, not the end of one and the start of the next
                return True
            at = records.find(key, at + 1)
        return False

    def _fold(self) -> None:
        if not self._folded:
            self._allocate()
        ids: list[str] | tuple[str, ...] = list(self._recent)
        self._recent = set()
        self._folded += len(ids)
        # Sorted by slot, in C passes (no Python loop per id): the map is written in
        # order, and each partition's records are one slice of the joined records.
        hashes = list(map(hash, ids))
        slots = list(map(mod, hashes, repeat(self._slots)))
        fingerprints = bytes(map(and_, hashes, repeat(0xFF)))
        del hashes  # each step frees what it no longer needs: a fold's peak is its ids'
        pick = itemgetter(*sorted(range(len(ids)), key=slots.__getitem__))
        ids, slots = pick(ids), list(pick(slots))  # at least FOLD ids: always tuples
        self._mark(slots, bytes(pick(fingerprints)))
        del pick, fingerprints
        records = _uuid_records("".join(ids), len(ids))
        if records is None:  # some are not canonical UUIDs: those are kept as strings
            canonical = [bool(_UUID.fullmatch(i)) for i in ids]
            self._others.update(compress(ids, map(not_, canonical)))
            ids, slots = tuple(compress(ids, canonical)), list(compress(slots, canonical))
            records = bytes.fromhex("".join(ids).replace("-", ""))
        parts = list(map(rshift, slots, repeat(self._part_shift)))
        at = 0
        while at < len(parts):
            part = parts[at]
            end = bisect_right(parts, part, at)
            self._parts[part] += records[16 * at : 16 * end]
            at = end

    def _mark(self, slots: list[int], fingerprints: bytes) -> None:
        """Leave in each slot the fingerprint of every id folded there, or ``_SHARED``.

        The one invariant that keeps the set exact: a folded id's slot holds its
        fingerprint or ``_SHARED``, so a check flags it whatever else shares the slot.
        """
        fingerprints = fingerprints.translate(_NONZERO)  # 0 would read as empty
        read = itemgetter(*slots)  # at least FOLD slots: a tuple
        before = read(self._map)
        deque(map(setitem, repeat(self._map), slots, fingerprints), 0)
        after = read(self._map)
        # Shared: another id of this fold wrote the slot after this one, or an id folded
        # before holds it with another fingerprint.
        shared = map(
            or_, map(ne, after, fingerprints), map(mul, before, map(ne, before, fingerprints))
        )
        deque(map(setitem, repeat(self._map), compress(slots, shared), repeat(_SHARED)), 0)


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
