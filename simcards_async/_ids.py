"""``DeliveredIds``: every id one stream delivered, kept exactly, about a byte an id in RAM.

A stream must never yield an id twice, whatever the server sends, so it keeps every
id it delivered. The newest ids sit in a plain ``set`` (checked in C); every ``FOLD``
ids they are folded, in C passes, and kept in two places:

- a filter in memory, about one byte an id: a Bloom filter blocked in words of
  ``_WORD_BITS`` bits (``_MASK_BITS`` bits of the id's word, the word and the bits
  chosen by the hash), marked as each page is accepted. It answers "new" for all but
  a few in a hundred new ids, and "maybe" for every delivered one: bits are only ever
  added, so a folded id is always looked up, never taken for new;
- 16-byte binary records (UUIDs), grouped by partition (the hash's top bits): staged
  in memory, written every ``STAGE`` records as a run (records in partition order,
  and where each partition starts) to an anonymous temporary file, which the OS
  removes once it is closed. Two runs of the same size merge into one, partition by
  partition (C slices, a MiB at a time), so a partition is in a few runs at most.
  Only a "maybe" reads its partition back (``os.pread``, a few kB a run) and searches
  it (``bytes.find``). Nothing is mapped into memory: the file's pages are the OS's
  cache, not the process's.

Without a temporary file (a read-only file system, a full disk) the records stay in
memory, exact as before, 16 bytes an id. More ids than expected start a new, twice
larger filter and its runs (a "generation"), so a filter never fills up.
A listing of up to ``UNFOLDED`` ids (as its first page announces) is never folded.

Cost, measured: about 1.1 bytes an id in memory once folded, plus the newest
``FOLD`` ids as strings (~2 MB) and up to ``STAGE`` staged records (512 KiB). An id that
is not a lowercase canonical UUID is kept as a string (exact, ~120 bytes).
``close()`` (or dropping the set) closes the files.
"""

from __future__ import annotations

import os
import random
import re
import sys
import tempfile
import weakref
from array import array
from collections import Counter, deque
from collections.abc import Iterable
from functools import cache
from itertools import accumulate, chain, compress, islice, repeat
from operator import add, and_, eq, getitem, itemgetter, mod, not_, or_, rshift, setitem, sub
from typing import IO

__all__ = ["FOLD", "STAGE", "UNFOLDED", "DeliveredIds"]

#: Ids held as strings before they are folded into binary.
FOLD = 16384
#: A listing of up to this many ids (as its first page announces) is never folded.
UNFOLDED = 131072
#: Records staged in memory before they are written to the temporary file.
STAGE = 32768
#: Filter bits an expected id (one byte).
_BITS_PER_ID = 8
#: Bits of a filter word (30: a word is a one-digit int, the fastest to compute with).
_WORD_BITS = 30
#: Bits set in a word for an id.
_MASK_BITS = 3
#: Distinct masks (the id's mask is picked by the hash's low bits).
_MASKS = 4096
#: Expected records a partition (a lookup reads a partition back, 16 bytes a record).
_PART = 1024
#: Bytes a merge of two runs reads at a time.
_CHUNK = 1 << 20
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@cache
def _masks() -> tuple[int, ...]:
    """``_MASKS`` masks of ``_MASK_BITS`` bits of a word each, the same in every process."""
    pick = random.Random(13)  # noqa: S311  (fixed masks, no secret)
    return tuple(
        sum(1 << b for b in pick.sample(range(_WORD_BITS), _MASK_BITS)) for _ in range(_MASKS)
    )


class _Run:
    """Records sorted by partition in a temporary file, and where each partition starts."""

    __slots__ = ("file", "starts", "units")

    def __init__(self, file: IO[bytes], starts: array[int], units: int) -> None:
        self.file = file
        #: Partition ``p``'s records are the file's bytes ``starts[p]`` to ``starts[p + 1]``.
        self.starts = starts
        self.units = units  # flushes merged into it (runs merge like a binary counter)

    def read(self, part: int) -> bytes:
        start, end = self.starts[part], self.starts[part + 1]
        return os.pread(self.file.fileno(), end - start, start) if end > start else b""


class _Generation:
    """A filter sized for ``capacity`` ids and the records of the ids folded into it."""

    __slots__ = ("capacity", "folded", "parts", "runs", "shift", "staged", "words")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.folded = 0
        # An odd number of words, so the word (hash % words) and the mask (the hash's
        # low bits) are independent.
        self.words = array("I", bytes(4 * ((capacity * _BITS_PER_ID // _WORD_BITS) | 1)))
        bits = max(1, (capacity // _PART).bit_length())
        self.shift = sys.hash_info.width - bits  # partitions by the hash's top bits
        #: Records not yet written to a run, by partition.
        self.parts: list[bytes] = [b""] * (1 << bits)
        self.staged = 0
        self.runs: list[_Run] = []

    def maybe(self, hashes: list[int]) -> Iterable[bool]:
        """For each hash, whether its id may have been folded here (C passes)."""
        words = _gather(self.words, list(map(mod, hashes, repeat(len(self.words)))))
        masks = _gather(_masks(), list(map(and_, hashes, repeat(_MASKS - 1))))
        return map(eq, map(and_, words, masks), masks)

    def mark(self, hashes: list[int]) -> None:
        # Each word gains its ids' bits (read, or, write, id after id in C): a folded
        # id's bits are never cleared, the invariant that keeps the set exact.
        at = list(map(mod, hashes, repeat(len(self.words))))
        masks = _gather(_masks(), list(map(and_, hashes, repeat(_MASKS - 1))))
        held = map(getitem, repeat(self.words), at)
        deque(map(setitem, repeat(self.words), at, map(or_, held, masks)), 0)

    def has(self, h: int, key: bytes) -> bool:
        part = (h >> self.shift) & (len(self.parts) - 1)
        return _holds(self.parts[part], key) or any(_holds(r.read(part), key) for r in self.runs)

    def stage(self, shifted: Counter[int], records: bytes) -> None:
        """Add ``records``, grouped by partition, counted by ``hash >> shift`` in order."""
        parts, last, at = self.parts, len(self.parts) - 1, 0
        for part, count in shifted.items():
            parts[part & last] += records[at : at + 16 * count]
            at += 16 * count
        self.staged += at // 16

    def flush(self, file: IO[bytes]) -> None:
        """Write the staged records to ``file`` as a run, then merge equal runs."""
        starts = array("Q", [0])
        starts.extend(accumulate(map(len, self.parts)))
        try:
            _write(file, b"".join(self.parts), 0)
        except BaseException:
            file.close()
            raise
        self.parts = [b""] * len(self.parts)
        self.staged = 0
        self.runs.append(_Run(file, starts, 1))
        runs = self.runs
        while len(runs) > 1 and runs[-1].units >= runs[-2].units:
            merged = tempfile.TemporaryFile()  # noqa: SIM115  (a run's, closed with it)
            runs[-2:] = [_merge(runs[-2], runs[-1], merged)]

    def close(self) -> None:
        for run in self.runs:
            run.file.close()


class DeliveredIds:
    """An exact set of ids, about a byte an id in memory once folded (see the module docstring).

    ``expected`` sizes the filter and the partitions (the listing's
    ``total_results``); more ids than that stay exact, and about as fast.
    """

    def __init__(self, expected: int = 0) -> None:
        # Holds at most FOLD (or UNFOLDED, see size) ids as strings, the rest folded.
        self._recent: set[str] = set()
        self._others: set[str] = set()  # folded ids that are not canonical UUIDs
        self._folded = 0
        self._expected = expected
        self._fold_at = FOLD
        self._generations: list[_Generation] = []
        self._spill = True  # False: records stay in memory (no file, or one failed)
        self._closer: weakref.finalize[[list[_Generation]], DeliveredIds] | None = None
        self.size(expected)

    def size(self, expected: int) -> None:
        """Size the filter and partitions for about ``expected`` ids (before any is folded).

        A listing of up to ``UNFOLDED`` ids is never folded: a set of its ids costs no
        CPU beyond the set itself, and at most ~15 MB.
        """
        if not self._folded:
            self._expected = expected
            self._fold_at = UNFOLDED if expected <= UNFOLDED else FOLD

    def close(self) -> None:
        """Close the temporary files, which the OS then removes (idempotent).

        Dropping the set closes them too. The set must not be used afterwards.
        """
        self._spill = False
        if self._closer is not None:
            self._closer()

    @property
    def spilled(self) -> bool:
        """Whether some folded records are in temporary files (else all in memory)."""
        return any(not run.file.closed for g in self._generations for run in g.runs)

    def __len__(self) -> int:
        return len(self._recent) + self._folded

    def __contains__(self, id: str) -> bool:
        if id in self._recent:
            return True
        h = hash(id)
        return any(next(iter(g.maybe([h]))) and self._has(g, id, h) for g in self._generations)

    def add_if_all_new(self, ids: list[str]) -> bool:
        """Add a page's ids if none is known and none comes twice; else change nothing."""
        recent = self._recent
        if not recent.isdisjoint(ids):
            return False
        size = len(recent)
        recent.update(ids)
        if len(recent) - size != len(ids):
            recent.difference_update(ids)  # none was there before: this undoes the update
            return False
        if self._generations:
            # Marked in the filter now, while they are at hand: a fold need not.
            hashes = list(map(hash, ids))
            if self._any_folded(ids, hashes):
                recent.difference_update(ids)
                return False
            self._generations[-1].mark(hashes)
        if len(recent) >= self._fold_at:
            self._fold()
        return True

    def add(self, ids: Iterable[str]) -> None:
        """Add ids (known to be new, or known from before a resume)."""
        if self._generations:
            ids = list(ids)
            self._generations[-1].mark(list(map(hash, ids)))
        self._recent.update(ids)
        if len(self._recent) >= self._fold_at:
            self._fold()

    def _any_folded(self, ids: list[str], hashes: list[int]) -> bool:
        # C passes only: the ids whose word holds every bit of their mask may be
        # folded; only those (a few in a hundred) are looked up in their partition.
        for g in self._generations:
            maybe = compress(zip(ids, hashes, strict=True), g.maybe(hashes))
            if any(self._has(g, each, h) for each, h in maybe):
                return True
        return False

    def _has(self, g: _Generation, id: str, h: int) -> bool:
        if not _UUID.fullmatch(id):
            return id in self._others
        return g.has(h, bytes.fromhex(id.replace("-", "")))

    def _generation(self) -> tuple[_Generation, bool]:
        """The generation the next fold goes to, and whether it is new (and unmarked).

        The recent ids are marked in the filter of the last generation as they come; once
        it is full, a new, twice larger one takes the fold, its ids marked there too.
        """
        gens = self._generations
        if gens and gens[-1].folded < gens[-1].capacity:
            return gens[-1], False
        if gens:
            self._flush(gens[-1])
        gens.append(_Generation(2 * self._folded if gens else max(self._expected, UNFOLDED)))
        return gens[-1], True

    def _fold(self) -> None:
        # Sorted by hash, so a partition (the hash's top bits) is one slice of the fold.
        ids = sorted(self._recent, key=hash)
        self._recent = set()
        g, new = self._generation()
        self._folded += len(ids)
        g.folded += len(ids)
        hashes = list(map(hash, ids))
        if new:
            g.mark(hashes)
        shifted = Counter(map(rshift, hashes, repeat(g.shift)))
        del hashes  # each step frees what it no longer needs: a fold's peak is its ids'
        records = _uuid_records("".join(ids), len(ids))  # one C pass over the fold
        if records is None:  # some are not canonical UUIDs: those are kept as strings
            flags = list(map(_UUID.fullmatch, ids))
            self._others.update(compress(ids, map(not_, flags)))
            ids = list(compress(ids, flags))
            shifted = Counter(map(rshift, map(hash, ids), repeat(g.shift)))
            records = bytes.fromhex("".join(ids).replace("-", ""))
        del ids
        g.stage(shifted, records)
        if g.staged >= STAGE:
            self._flush(g)

    def _flush(self, g: _Generation) -> None:
        """Write ``g``'s staged records to a temporary file; else they stay in memory."""
        if not self._spill or not g.staged:
            return
        try:
            file = tempfile.TemporaryFile()  # noqa: SIM115  (a run's, closed with it)
        except OSError:  # a read-only file system: the records stay in memory, exact
            self._spill = False
            return
        if self._closer is None:
            self._closer = weakref.finalize(self, _close, self._generations)
        try:
            g.flush(file)
        except OSError:  # the disk is full: what is not written stays in memory, exact
            self._spill = False


def _close(generations: list[_Generation]) -> None:
    for g in generations:
        g.close()


def _gather(
    data: bytes | bytearray | array[int] | tuple[int, ...], at: list[int]
) -> tuple[int, ...]:
    """``data``'s items at the offsets ``at``, in one C pass."""
    if len(at) > 1:
        return itemgetter(*at)(data)  # type: ignore[no-any-return]
    return (data[at[0]],) if at else ()


def _write(file: IO[bytes], data: bytes, at: int) -> None:
    if os.pwrite(file.fileno(), data, at) != len(data):
        raise OSError("short write to a temporary file")


def _merge(a: _Run, b: _Run, file: IO[bytes]) -> _Run:
    """One run of ``a``'s and ``b``'s records, partition by partition, into ``file``.

    Read and written about ``_CHUNK`` bytes at a time, interleaved in C passes.
    """
    try:
        parts = len(a.starts) - 1
        step = max(1, parts * _CHUNK // max(1, a.starts[-1] + b.starts[-1]))
        for first in range(0, parts, step):
            last = min(parts, first + step)
            pieces = []
            for run in (a, b):
                starts = run.starts[first : last + 1]
                data = os.pread(run.file.fileno(), starts[-1] - starts[0], starts[0])
                at = list(map(sub, starts, repeat(starts[0])))
                pieces.append(map(getitem, repeat(data), map(slice, at, islice(at, 1, None))))
            _write(
                file,
                b"".join(chain.from_iterable(zip(*pieces, strict=True))),
                a.starts[first] + b.starts[first],
            )
    except BaseException:
        file.close()
        raise
    a.file.close()
    b.file.close()
    return _Run(file, array("Q", map(add, a.starts, b.starts)), a.units + b.units)


def _holds(records: bytes, key: bytes) -> bool:
    """Whether ``records`` (16-byte records end to end) hold the record ``key``."""
    at = records.find(key)
    while at >= 0:
        if not at % 16:  # a whole record, not the end of one and the start of the next
            return True
        at = records.find(key, at + 1)
    return False


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
