"""``DeliveredIds``: every id one stream (or a merge) delivered, kept exactly, about a byte an id.

A stream must never yield an id twice, whatever the server sends, so it keeps every
id it delivered. The newest ids sit in a plain ``set`` (checked in C); every ``FOLD``
ids they are folded, in C passes, and kept in two places:

- a filter in memory, about a byte an id (0.8 past ``_DENSE`` ids, ~2,000,000:
  a 10,000,000-id filter takes 7.6 MiB, not 10.2): a Bloom filter blocked in words of
  ``_WORD_BITS`` bits (``_MASK_BITS`` bits of the id's word, the word and the bits
  chosen by the hash), marked as each page is accepted. It answers "new" for all but
  a few in a hundred new ids, and "maybe" for every delivered one: bits are only ever
  added, so a folded id is always looked up, never taken for new;
- 16-byte binary records (UUIDs) in runs: a run holds its records grouped by partition
  (the hash's top bits) and where each partition starts. The ids are put in their
  partition's list as their page is accepted (C passes, no sort), so a fold is one
  join and one ``bytes.fromhex`` (``_SLICE`` ids at a time): a run, written as it is to
  an anonymous temporary file, which the OS removes once it is closed. Runs of the same
  size merge into one there (a binary counter, partition by partition, in C slices,
  ``_CHUNK`` bytes at a time). A partition is thus in a few runs at most, and only
  a "maybe" reads it back (``os.pread``, a few kB a run) and searches it
  (``bytes.find``). Nothing is mapped into memory: the file's pages are the OS's
  cache, not the process's.

A page is checked, marked and grouped in one go: the hashes, the words and the masks of
its ids are computed once, in C passes, for all three.

Without a temporary file (a read-only file system, a full disk) the runs stay in
memory, merged the same way, exact, 16 bytes an id. More ids than expected start a new,
twice larger filter and its runs (a "generation"), so a filter never fills up.
A listing of up to ``UNFOLDED`` ids (as its first page announces) is never folded, unless
its ids take more than ``UNFOLDED_CHARS`` characters; one of no known count always is.

Cost, measured: about 1.1 bytes an id in memory once folded (0.8 past ``_DENSE``), plus
the newest ``FOLD`` ids as strings (~1 MB). What a fold and a merge allocate at once stays
small (a few hundred kB: slices, chunks under glibc's mmap threshold): peak RSS is the
filter and the newest ids, plus the heap's fragmentation. Peak RSS over the import, pages
of 250 fresh UUIDs through ``add_if_all_new``: 1.3 MiB at 10,000 ids, 2.6 at 1,000,000
and ~10.5 at 10,000,000 (staging folds in memory and 1 MiB merge chunks took 7.1 to 7.9,
and 17.8). An id that is not a lowercase canonical UUID is folded as a 16-byte BLAKE2b
digest of its text instead of its bytes, as compact as a UUID (kept as strings, a server's
ids of any length would cost their length each, for the whole stream). The digest is keyed
with a random key of each set's own: any 16 bytes are some UUID's, and with an unkeyed
digest a server could send, after an id, the UUID whose bytes are that id's digest, which
was then dropped as a repeat. Keyed, no server can tell which UUID (or which other id)
shares an id's record: a chance of 2 ** -128 a pair.
CPU, pages of 250 fresh UUIDs through ``add_if_all_new`` (2 shared cores, loaded):
about 2.1 us an id at 1,000,000 ids and 3.6 to 3.8 at 10,000,000, where a plain ``set``
takes 0.3 and 0.4 (sorting each fold by hash, staging by partition and separate check
and mark passes took 3.5, and 4.0 to 4.5).
``close()`` (or dropping the set) closes the files.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import sys
import tempfile
import weakref
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import accumulate, chain, compress, filterfalse, islice, repeat
from operator import add, and_, eq, getitem, itemgetter, mod, mul, or_, rshift, setitem, sub
from typing import IO

__all__ = [
    "FOLD",
    "MAX_EXPECTED",
    "STAGE",
    "UNFOLDED",
    "UNFOLDED_CHARS",
    "DeliveredIds",
]

#: Ids held as strings before they are folded into binary (~1 MB of strings).
FOLD = 8192
#: A listing of up to this many ids (as its first page announces) is never folded...
UNFOLDED = 131072
#: ... unless its ids' characters pass this many (131,072 UUIDs take 4.7 M): a server's ids
#: of 128 wide characters each, held as strings, took ~590 bytes an id, 77 MB a stream.
UNFOLDED_CHARS = 8 << 20
#: A run of this many records or more is written to the temporary file: a fold's (one
#: run in memory, merged nowhere but in the file, a chunk at a time; merging folds in memory
#: first took ~1.7 MiB of small slices and joins at once, at the peak).
STAGE = 8192
#: The most ids a first filter is sized for, whatever the listing announces (16 MiB of
#: filter at most): the count comes from the server, and more ids than this still stay
#: exact (a new, larger generation takes them) at the cost of a second filter.
MAX_EXPECTED = 1 << 24
#: Filter bits an expected id (one byte), for a filter of up to ``_DENSE`` ids...
_BITS_PER_ID = 8
#: ... and past it (0.8 bytes an id in 60-bit words): a 10,000,000-id filter takes 7.6 MiB, not
#: 10.2, for about twice the "maybe"s (2.4 in a hundred new ids over a listing, not 1.2; 7
#: in a hundred once full), each a few reads of a partition (~25 us at 10,000,000 ids).
_BITS_PER_ID_LARGE = 6
_DENSE = 1 << 21
#: Bits of a filter word (60: a word is a two-digit int, ten ids a word on average, so a
#: word's fill varies less than in a smaller one, and four bits an id fit).
_WORD_BITS = 60
#: Bits set in a word for an id.
_MASK_BITS = 4
#: Distinct masks (the id's mask is picked by the hash's low bits).
_MASKS = 4096
#: Expected records a partition (a lookup reads a partition back, 16 bytes a record).
_PART = 1024
#: At most 2 ** _MAX_BITS partitions (half a fold): a fold and the first merges handle each
#: partition's records in one slice, which costs about as much as a record when a
#: partition gets only one a fold. Past ~4,000,000 ids, a partition grows instead.
_MAX_BITS = 12
#: Bytes a merge of runs reads at a time (its reads, slices and join: ~3 times this at
#: once). Under glibc's 128 KiB mmap threshold: 1 MiB chunks took ~3 MiB at the peak,
#: and, freed, raised the threshold, so that later buffers stayed in the heap.
_CHUNK = 1 << 16
#: Ids a fold handles at a time where it needs a list of ints an id (hashes, words, masks:
#: ~100 bytes an id at once) or a copy of their text.
_SLICE = 1024
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: A canonical UUID's characters.
_UUID_LENGTH = 36


@cache
def _masks() -> tuple[int, ...]:
    """``_MASKS`` masks of ``_MASK_BITS`` bits of a word each, the same in every process."""
    pick = random.Random(13)  # noqa: S311  (fixed masks, no secret)
    return tuple(
        sum(1 << b for b in pick.sample(range(_WORD_BITS), _MASK_BITS)) for _ in range(_MASKS)
    )


def _bits_per_id(capacity: int) -> int:
    """Filter bits an id for a filter of ``capacity`` ids."""
    return _BITS_PER_ID if capacity <= _DENSE else _BITS_PER_ID_LARGE


def _masks_of(hashes: list[int]) -> tuple[int, ...]:
    """Each hash's mask (by its low bits), in C passes."""
    return _gather(_masks(), list(map(and_, hashes, repeat(_MASKS - 1))))


#: A list of ids for each partition, indexed by ``hash >> shift`` (negative: from the end).
_Groups = list[list[str]]


class _Run:
    """Records grouped by partition, and where each partition starts (in records)."""

    __slots__ = ("starts", "units")

    def __init__(self, starts: array[int], units: int) -> None:
        #: Partition ``p``'s records are records ``starts[p]`` to ``starts[p + 1]``.
        self.starts = starts
        self.units = units  # folds merged into it (runs merge like a binary counter)

    @property
    def records(self) -> int:
        return self.starts[-1]

    def holds(self, part: int, key: bytes) -> bool:
        raise NotImplementedError

    def span(self, first: int, last: int) -> tuple[bytes, int]:
        """The bytes of partitions ``first`` to ``last`` (excluded), and their offset."""
        raise NotImplementedError

    def pieces(self, first: int, last: int) -> Iterable[bytes | memoryview]:
        """Partitions ``first`` to ``last`` (excluded), one bytes object each."""
        data, begin = self.span(first, last)
        at = list(map(sub, map(mul, self.starts[first : last + 1], repeat(16)), repeat(begin)))
        # Views of large partitions (no copy before the join); small ones are cheaper copied.
        view = memoryview(data) if at[-1] - at[0] > 1024 * (last - first) else data
        return map(view.__getitem__, map(slice, at, islice(at, 1, None)))

    def close(self) -> None:
        pass


class _MemoryRun(_Run):
    """A run in memory: the newest fold, or every run when there is no temporary file."""

    __slots__ = ("data",)

    def __init__(self, starts: array[int], units: int, data: bytes) -> None:
        super().__init__(starts, units)
        self.data = data

    def holds(self, part: int, key: bytes) -> bool:
        return _holds(self.data, key, 16 * self.starts[part], 16 * self.starts[part + 1])

    def span(self, first: int, last: int) -> tuple[bytes, int]:  # noqa: ARG002  (all of it)
        return self.data, 0  # slices of the whole run: no copy of the span


class _FileRun(_Run):
    """A run in an anonymous temporary file (gone once closed)."""

    __slots__ = ("file",)

    def __init__(self, starts: array[int], units: int, file: IO[bytes]) -> None:
        super().__init__(starts, units)
        self.file = file

    def holds(self, part: int, key: bytes) -> bool:
        start, end = 16 * self.starts[part], 16 * self.starts[part + 1]
        if end <= start:
            return False
        data = os.pread(self.file.fileno(), end - start, start)
        return _holds(data, key, 0, len(data))

    def span(self, first: int, last: int) -> tuple[bytes, int]:
        begin, end = 16 * self.starts[first], 16 * self.starts[last]
        return os.pread(self.file.fileno(), end - begin, begin), begin

    def close(self) -> None:
        self.file.close()


class _Generation:
    """A filter sized for ``capacity`` ids and the runs of the ids folded into it."""

    __slots__ = ("capacity", "folded", "half", "runs", "shift", "stage", "words")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.folded = 0
        # An odd number of words, so the word (hash % words) and the mask (the hash's
        # low bits) are independent.
        filter_bits = capacity * _bits_per_id(capacity)
        self.words = array("Q", bytes(8 * ((filter_bits // _WORD_BITS) | 1)))
        bits = min(_MAX_BITS, max(1, (capacity // _PART).bit_length()))
        self.shift = sys.hash_info.width - bits  # partitions by the hash's top bits
        self.half = 1 << (bits - 1)  # hash >> shift is in [-half, half)
        #: Runs in memory (the newest folds; all of them without a temporary file).
        self.stage: list[_MemoryRun] = []
        #: Runs in temporary files, oldest (and largest) first.
        self.runs: list[_FileRun] = []

    @property
    def staged(self) -> int:
        """Records held in memory."""
        return sum(run.records for run in self.stage)

    def slots(self, hashes: list[int]) -> list[int]:
        """Each hash's word (C pass)."""
        return list(map(mod, hashes, repeat(len(self.words))))

    def hits(self, at: list[int], masks: Sequence[int]) -> Iterable[bool]:
        """Whether each id (its word, its mask) may have been folded here (C passes)."""
        return map(eq, map(and_, _gather(self.words, at), masks), masks)

    def maybe(self, hashes: list[int]) -> Iterable[bool]:
        """For each hash, whether its id may have been folded here (C passes)."""
        return self.hits(self.slots(hashes), _masks_of(hashes))

    def mark(self, at: list[int], masks: Sequence[int]) -> None:
        # Each word gains its ids' bits (read, or, write, id after id in C, so ids that
        # share a word all keep theirs): a folded id's bits are never cleared, the
        # invariant that keeps the set exact.
        words = self.words
        held = map(getitem, repeat(words), at)
        deque(map(setitem, repeat(words), at, map(or_, held, masks)), 0)

    def has(self, h: int, key: bytes) -> bool:
        part = (h >> self.shift) + self.half
        return any(run.holds(part, key) for run in chain(self.stage, self.runs))

    def groups(self) -> _Groups:
        """An empty list for each partition."""
        return list(map(list, repeat((), 2 * self.half)))

    def group(self, groups: _Groups, ids: Iterable[str], hashes: Iterable[int]) -> None:
        """Add ``ids`` to ``groups``, their lists by partition (C passes, no sort)."""
        keys = map(groups.__getitem__, map(rshift, hashes, repeat(self.shift)))
        deque(map(list.append, keys, ids), 0)

    def grouped(self, groups: _Groups) -> tuple[list[str], array[int]]:
        """``groups``' ids in partition order, and where each partition starts."""
        ordered = groups[self.half :] + groups[: self.half]  # from hash >> shift == -half
        starts = array("I", [0])
        starts.extend(accumulate(map(len, ordered)))
        return list(chain.from_iterable(ordered)), starts

    def close(self) -> None:
        for run in self.runs:
            run.close()


class DeliveredIds:
    """An exact set of ids, about a byte an id in memory once folded (see the module docstring).

    ``expected`` sizes the filter and the partitions (the listing's
    ``total_results``, at most ``MAX_EXPECTED``); more ids than that stay exact, and
    about as fast.
    """

    def __init__(self, expected: int = 0) -> None:
        # Holds at most FOLD (or UNFOLDED, see size) ids as strings, the rest folded.
        self._recent: set[str] = set()
        # The same ids by partition of the generation the next fold goes to, grouped as
        # they come (their hashes at hand); None until the first fold.
        self._groups: _Groups | None = None
        self._folded = 0
        self._expected = expected
        self._fold_at = FOLD
        #: The characters of the ids held as strings, counted while a listing stays unfolded.
        self._chars = 0
        self._generations: list[_Generation] = []
        #: What keys the digest of an id that is not a UUID (see the module docstring).
        self._key = os.urandom(16)
        self._spill = True  # False: records stay in memory (no file, or one failed)
        self._closer: weakref.finalize[[list[_Generation]], DeliveredIds] | None = None
        self.size(expected)

    def size(self, expected: int) -> None:
        """Size the filter and partitions for about ``expected`` ids (before any is folded).

        A listing of up to ``UNFOLDED`` ids is never folded while its ids take fewer than
        ``UNFOLDED_CHARS`` characters: a set of its ids costs no CPU beyond the set itself,
        and ~15 MB at most. A listing of no known count (0: no meta) folds every ``FOLD``
        ids, as a large one does: it may be of any size, and held whole as strings it took
        ~80 MB at 131,072 ids.
        """
        if not self._folded:
            self._expected = min(expected, MAX_EXPECTED)
            self._fold_at = UNFOLDED if 0 < expected <= UNFOLDED else FOLD

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

    def known(self, ids: list[str]) -> set[str]:
        """Those of ``ids`` the set holds: one check of them all, the folded ones in C passes."""
        found = self._recent.intersection(ids)
        gens = self._generations
        if gens:
            rest = list(filterfalse(found.__contains__, ids))
            hashes = list(map(hash, rest))
            masks = _masks_of(hashes)
            for g in gens:
                for n in compress(range(len(rest)), g.hits(g.slots(hashes), masks)):
                    if self._has(g, rest[n], hashes[n]):
                        found.add(rest[n])
        return found

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
        gens = self._generations
        if gens:
            # One pass each for the hashes, the masks and each filter's words, shared by
            # the check and the marking: only the "maybe"s (a few a page) are looked up.
            hashes = list(map(hash, ids))
            masks = _masks_of(hashes)
            for g in gens:
                at = g.slots(hashes)
                for n in compress(range(len(ids)), g.hits(at, masks)):
                    if self._has(g, ids[n], hashes[n]):
                        recent.difference_update(ids)
                        return False
            gens[-1].mark(at, masks)  # the last generation's words, still at hand
            if self._groups is not None:
                gens[-1].group(self._groups, ids, hashes)
        if self._fold_at == UNFOLDED:  # counted once added (a folded repeat adds nothing)
            self._held(ids)
        if len(recent) >= self._fold_at:
            self._fold()
        return True

    def add(self, ids: Iterable[str]) -> None:
        """Add ids (known to be new, or known from before a resume)."""
        recent = self._recent
        fresh = list(filterfalse(recent.__contains__, dict.fromkeys(ids)))
        if self._generations:
            hashes = list(map(hash, fresh))
            g = self._generations[-1]
            g.mark(g.slots(hashes), _masks_of(hashes))
            if self._groups is not None:
                g.group(self._groups, fresh, hashes)
        recent.update(fresh)
        if self._fold_at == UNFOLDED:
            self._held(fresh)
        if len(recent) >= self._fold_at:
            self._fold()

    def _held(self, ids: list[str]) -> None:
        """Count the characters of new ids held as strings; past ``UNFOLDED_CHARS``, fold."""
        self._chars += len("".join(ids))  # a C pass: ~4 times cheaper than sum(map(len))
        if self._chars > UNFOLDED_CHARS:
            self._fold_at = FOLD  # long ids: folded from now on, as a large listing's are

    def _has(self, g: _Generation, id: str, h: int) -> bool:
        return g.has(h, _record(id, self._key))

    def _generation(self) -> tuple[_Generation, bool]:
        """The generation the next fold goes to, and whether it is new (and unmarked).

        The recent ids are marked in the filter of the last generation as they come; once
        it is full, a new, twice larger one takes the fold, its ids marked there too.
        """
        gens = self._generations
        if gens and gens[-1].folded < gens[-1].capacity:
            return gens[-1], False
        if gens:
            self._settle(gens[-1], flush=True)  # its records to a file, if it can
        gens.append(_Generation(2 * self._folded if gens else max(self._expected, UNFOLDED)))
        return gens[-1], True

    def _fold(self) -> None:
        g, new = self._generation()
        groups = self._groups
        count = len(self._recent)
        self._folded += count
        g.folded += count
        if new or groups is None:  # a new generation: its filter and partitions
            ids = list(self._recent)
            groups = g.groups()
            # A slice at a time: the hashes, words and masks of a whole fold took ~1 MiB.
            for at in range(0, len(ids), _SLICE):
                some = ids[at : at + _SLICE]
                hashes = list(map(hash, some))
                g.mark(g.slots(hashes), _masks_of(hashes))
                g.group(groups, some, hashes)
            del ids
        self._recent = set()
        grouped, starts = g.grouped(groups)
        # The next fold's lists are these, emptied: a fold makes no new ones (a list a
        # partition, up to 4,096 containers a fold for the garbage collector to count and
        # scan). None once the generation is full: the next fold starts a new one.
        deque(map(list.clear, groups), 0)
        self._groups = groups if g.folded < g.capacity else None
        del groups
        records = _uuid_records(grouped)  # C passes over the fold
        if records is None:  # some are not canonical UUIDs: those as their digest
            records = b"".join(map(_record, grouped, repeat(self._key)))
        del grouped  # each step frees what it no longer needs
        if not records:
            return
        g.stage.append(_MemoryRun(starts, 1, records))
        self._settle(g)

    def _settle(self, g: _Generation, flush: bool = False) -> None:
        """Merge ``g``'s newest memory runs while they are alike (all of them: ``flush``).

        Runs merge like a binary counter. A merge of ``STAGE`` records or more (or a flush)
        goes to a temporary file, then the file runs merge alike. Without a file, the runs
        stay in memory, merged the same way.
        """
        stage = g.stage
        while stage:
            take = 2 if len(stage) > 1 and stage[-1].units >= stage[-2].units else 1
            if flush:
                take = len(stage)
            sources = stage[-take:]
            big = flush or sum(run.records for run in sources) >= STAGE
            run = self._to_file(sources) if self._spill and big else None
            if run is not None:
                del stage[-take:]
                g.runs.append(run)
                runs = g.runs
                while len(runs) > 1 and runs[-1].units >= runs[-2].units:
                    merged = self._to_file(runs[-2:])
                    if merged is None:
                        break
                    runs[-2:] = [merged]
            elif take > 1:
                stage[-take:] = [_merge_in_memory(sources)]
            else:
                break

    def _to_file(self, sources: Sequence[_Run]) -> _FileRun | None:
        """One run of ``sources``' records in a new temporary file, else None.

        None (and records in memory from now on) if there is no file or it cannot be written.
        """
        if not self._spill:
            return None
        try:
            file = tempfile.TemporaryFile()  # noqa: SIM115  (a run's, closed with it)
        except OSError:  # a read-only file system: the records stay in memory, exact
            self._spill = False
            return None
        if self._closer is None:
            self._closer = weakref.finalize(self, _close, self._generations)
        try:
            run = _merge_to_file(sources, file)
        except OSError:  # the disk is full: the sources stay as they are, exact
            file.close()
            self._spill = False
            return None
        except BaseException:
            file.close()
            raise
        for source in sources:
            source.close()
        return run


def _close(generations: list[_Generation]) -> None:
    for g in generations:
        g.close()


def _gather(data: Sequence[int], at: list[int]) -> tuple[int, ...]:
    """``data``'s items at the offsets ``at``, in one C pass."""
    if len(at) > 1:
        return itemgetter(*at)(data)  # type: ignore[no-any-return]
    return (data[at[0]],) if at else ()


def _write(file: IO[bytes], data: bytes, at: int) -> None:
    if os.pwrite(file.fileno(), data, at) != len(data):
        raise OSError("short write to a temporary file")


def _interleaved(runs: Sequence[_Run], first: int, last: int) -> bytes:
    """``runs``' records of partitions ``first`` to ``last`` (excluded), in C passes."""
    pieces = [run.pieces(first, last) for run in runs]
    return b"".join(chain.from_iterable(zip(*pieces, strict=True)))


def _merged_starts(runs: Sequence[_Run]) -> array[int]:
    starts, records = runs[0].starts, sum(run.records for run in runs)
    for run in runs[1:]:
        starts = array("I" if records >> 32 == 0 else "Q", map(add, starts, run.starts))
    return starts


def _merge_in_memory(runs: Sequence[_MemoryRun]) -> _MemoryRun:
    """One run in memory of ``runs``' records."""
    data = _interleaved(runs, 0, len(runs[0].starts) - 1)
    return _MemoryRun(_merged_starts(runs), sum(run.units for run in runs), data)


def _merge_to_file(runs: Sequence[_Run], file: IO[bytes]) -> _FileRun:
    """One run in ``file`` of ``runs``' records, read about ``_CHUNK`` bytes at a time."""
    if len(runs) == 1 and isinstance(runs[0], _MemoryRun):  # a fold: its bytes as they are
        _write(file, runs[0].data, 0)
        return _FileRun(runs[0].starts, runs[0].units, file)
    parts = len(runs[0].starts) - 1
    step = max(1, parts * _CHUNK // max(1, 16 * sum(run.records for run in runs)))
    at = 0
    for first in range(0, parts, step):
        # One chunk alive at a time: the reads and the joined bytes of the one before are
        # freed before the next is read.
        chunk = _interleaved(runs, first, min(parts, first + step))
        _write(file, chunk, at)
        at += len(chunk)
        del chunk
    return _FileRun(_merged_starts(runs), sum(run.units for run in runs), file)


def _holds(records: bytes, key: bytes, start: int, end: int) -> bool:
    """Whether ``records[start:end]`` (16-byte records end to end) hold the record ``key``."""
    at = records.find(key, start, end)
    while at >= 0:
        if not (at - start) % 16:  # a whole record, not the end of one and the start of the next
            return True
        at = records.find(key, at + 1, end)
    return False


def _record(id: str, key: bytes) -> bytes:
    """``id``'s 16-byte record: a UUID's own bytes, another id's BLAKE2b digest keyed by ``key``.

    ``key`` is the set's own, which no server knows.
    """
    if _UUID.fullmatch(id):
        return bytes.fromhex(id.replace("-", ""))
    text = id.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16, key=key).digest()


def _uuid_records(ids: list[str]) -> bytes | None:
    """``ids`` as 16-byte records end to end if all are lowercase canonical UUIDs, else None.

    ``_SLICE`` ids at a time (a fold's text at once, and its copy, took ~0.6 MiB).
    """
    pieces = []
    for at in range(0, len(ids), _SLICE):
        records = _uuid_slice(ids[at : at + _SLICE])
        if records is None:
            return None
        pieces.append(records)
    return b"".join(pieces)


def _uuid_slice(ids: list[str]) -> bytes | None:
    """``ids`` as 16-byte records end to end if all are lowercase canonical UUIDs, else None.

    C passes only (a join, slices, ``replace``, ``bytes.fromhex``): no Python loop per id.
    """
    count = len(ids)
    # Each id's length, not only the whole's: a 35-character id beside a 37-character one
    # joins into the text of two UUIDs, and the first was kept as a UUID's record.
    if any(length != _UUID_LENGTH for length in set(map(len, ids))):
        return None
    text = "".join(ids)
    if " " in text:
        return None
    dashes = "-" * count
    if any(text[at::_UUID_LENGTH] != dashes for at in (8, 13, 18, 23)):
        return None
    if any(upper in text for upper in "ABCDEF"):
        return None
    # The dashes, at their places between two bytes, become spaces, which fromhex skips
    # (a one-for-one replace, much cheaper than dropping them; the text is dropped).
    text = text.replace("-", " ")
    try:
        records = bytes.fromhex(text)  # refuses anything that is not hex
    except ValueError:
        return None
    # Short if some id held another character that fromhex skips (whitespace, a dash).
    return records if len(records) == 16 * count else None
