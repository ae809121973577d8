"""``DeliveredIds``: every id one stream delivered, kept exactly and compactly.

A stream must never yield an id twice, whatever the server sends, so it keeps every
id it delivered. Ids are UUIDs: 16 bytes each as binary, against ~120 bytes as a set
of strings. The newest ids sit in a plain ``set`` (checked in C); every ``FOLD`` ids
they are folded into 16-byte records, in partitions chosen by the hash's top bits:
grouped by partition, converted by one ``bytes.fromhex`` over the whole fold and cut
into one slice a partition. A map of about two slots an expected id holds, in each
slot (``hash % slots``), the union of the fingerprints (two bits of eight, chosen by
the hash's low byte) of the ids folded there. Only an id whose slot holds both its
bits may be folded, and only those (a few in a hundred) are looked up (``bytes.find``)
in their partition, so a page of new ids costs a few C passes. Bits are only ever
added, so a folded id is always looked up: no repeat passes, no new id is dropped.
A listing of up to ``UNFOLDED`` ids (as its first page announces) is never folded.

Cost, measured: about 20 bytes an id once folded (16 the record, 2 to 4 the map),
plus the newest ``FOLD`` ids as strings (~7 MB). An id that is not a lowercase
canonical UUID is kept as a string (exact, ~120 bytes).
"""

from __future__ import annotations

import re
import sys
from collections import deque
from collections.abc import Iterable
from itertools import chain, compress, cycle, islice, repeat
from operator import and_, eq, getitem, itemgetter, mod, or_, rshift, setitem

__all__ = ["FOLD", "UNFOLDED", "DeliveredIds"]

#: Ids held as strings before they are folded into binary.
FOLD = 65536
#: A listing of up to this many ids (as its first page announces) is never folded.
UNFOLDED = 131072
#: Map slots an expected id (the map costs a byte a slot).
_SLOTS_PER_ID = 2
#: Expected ids a partition (a partition is searched with ``bytes.find``).
_PART = 512
#: Bits set in a fingerprint: a slot holds the union of its folded ids' fingerprints,
#: and an id may be folded only if its slot holds all its fingerprint's bits.
_FINGERPRINT_BITS = 2
#: Fingerprints by the hash's low byte: the 28 bytes with two bits set, each ~9 times.
_FINGERPRINTS = bytes(
    islice(cycle(b for b in range(256) if b.bit_count() == _FINGERPRINT_BITS), 256)
)
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
        # Partitions by the hash's top bits (a negative hash picks from the end of the
        # list), about _PART expected ids each.
        part_bits = min(20, (expected // _PART).bit_length())
        self._part_shift = sys.hash_info.width - part_bits
        #: Folded UUIDs as 16-byte big-endian records, by the top bits of their hash.
        self._parts = [b""] * (1 << part_bits)

    def __len__(self) -> int:
        return len(self._recent) + self._folded

    def __contains__(self, id: str) -> bool:
        if id in self._recent:
            return True
        if not self._folded:
            return False
        h = hash(id)
        fingerprint = _FINGERPRINTS[h & 0xFF]
        if self._map[h % self._slots] & fingerprint != fingerprint:
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
        # C passes only: the ids whose slot holds every bit of their fingerprint may be
        # folded; only those (a few in a hundred) are looked up in their partition.
        hashes = list(map(hash, ids))
        held = _gather(self._map, list(map(mod, hashes, repeat(self._slots))))
        fingerprints = _gather(_FINGERPRINTS, list(map(and_, hashes, repeat(0xFF))))
        flags = map(eq, map(and_, held, fingerprints), fingerprints)
        return any(map(self._folded_has, compress(ids, flags)))

    def _folded_has(self, id: str) -> bool:
        if not _UUID.fullmatch(id):
            return id in self._others
        key = bytes.fromhex(id.replace("-", ""))
        records = self._parts[hash(id) >> self._part_shift]
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
        hashes = list(map(hash, ids))
        # Each slot gains its ids' fingerprint bits (read, or, write, id after id in
        # C): a folded id's bits are never cleared, the invariant that keeps it exact.
        slots = list(map(mod, hashes, repeat(self._slots)))
        fingerprints = _gather(_FINGERPRINTS, list(map(and_, hashes, repeat(0xFF))))
        held = map(getitem, repeat(self._map), slots)
        deque(map(setitem, repeat(self._map), slots, map(or_, held, fingerprints)), 0)
        del slots, fingerprints
        # Grouped by partition (the hash's top bits), then converted in one C pass: a
        # partition's records are one slice of the whole fold's.
        groups: list[list[str]] = [[] for _ in self._parts]
        for each, part in zip(ids, map(rshift, hashes, repeat(self._part_shift)), strict=True):
            groups[part].append(each)
        del hashes, ids  # each step frees what it no longer needs: a fold's peak is its ids'
        ids = list(chain.from_iterable(groups))
        records = _uuid_records("".join(ids), len(ids))
        if records is None:  # some are not canonical UUIDs: those are kept as strings
            self._others.update(i for i in ids if not _UUID.fullmatch(i))
            groups = [[i for i in group if _UUID.fullmatch(i)] for group in groups]
            records = bytes.fromhex("".join(chain.from_iterable(groups)).replace("-", ""))
        del ids
        at = 0
        for part, count in enumerate(map(len, groups)):
            if count:
                self._parts[part] += records[at : at + 16 * count]
                at += 16 * count


def _gather(data: bytes | bytearray, at: list[int]) -> tuple[int, ...]:
    """``data``'s bytes at the offsets ``at``, in one C pass."""
    return itemgetter(*at)(data) if len(at) != 1 else (data[at[0]],)


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
