"""Identifiers as keyed permutations of a row: ids, MSISDNs, IMSIs, ICCIDs, bulk ids, times.

Pure. Each code is computed from the row (and the fleet's key) and most can be turned back
into the row, so looking one up needs no index. Ids are UUID4s whose last four bytes encode
the row (an affine permutation of 32 bits); MSISDNs and IMSIs are permutations of the row,
hence unique; ICCIDs carry a valid Luhn check digit.
"""

from __future__ import annotations

import random
import re
import sys
from array import array
from datetime import date, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING

from ._vocab import AREA_CODES, DAY_MS, GROUP_ISSUER, ISSUERS

if TYPE_CHECKING:
    from collections.abc import Iterable

M32 = (1 << 32) - 1
_M64 = (1 << 64) - 1
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_MSISDN_RE = re.compile(r"\+1([0-9]{3})([0-9]{7})")
VERSION4 = bytes((b & 0x0F) | 0x40 for b in range(256))
VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))

# Multipliers of the per-row permutations, each coprime with its modulus.
_MSISDN_MUL, _MSISDN_MOD = 2_654_431, 8_000_000
_IMSI_MUL, _IMSI_MOD = 387_420_489, 10**9
_ICCID_MUL, _ICCID_MOD = 48_271_957_193, 10**11
_BULK_MUL = 0x2545F491
_BULK_INV = pow(_BULK_MUL, -1, 1 << 32)


def seeded_rng(label: str, seed: int) -> random.Random:
    """A seeded RNG per purpose, so changing one use of randomness leaves the others alone."""
    return random.Random(f"simcards-async:{label}:{seed}")  # noqa: S311 - mock data, not secrets


def mix(x: int) -> int:
    """Splitmix64 finalizer: 64 well-mixed bits from any integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


@lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat() + "T"


@lru_cache(maxsize=1)
def _clock_times() -> list[str]:
    """``HH:MM:SS.`` for every second of a day (built once, 86,400 short strings)."""
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}." for s in range(86_400)]


def iso(ms: int) -> str:
    """Format epoch milliseconds as ISO 8601 with milliseconds and ``Z``."""
    day, rest = divmod(ms, DAY_MS)
    return f"{_day(day)}{_clock_times()[rest // 1000]}{rest % 1000:03d}Z"


def uuid_text(raw: bytes | bytearray) -> str:
    """The canonical 8-4-4-4-12 text of 16 bytes."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_uuid(text: str) -> bytes | None:
    """Return the 16 bytes of a canonical 8-4-4-4-12 UUID, or None when it is not one."""
    if _UUID_RE.fullmatch(text) is None:
        return None
    return bytes.fromhex(text.replace("-", ""))


def random_uuid(rng: random.Random) -> bytes:
    """16 random bytes shaped as a UUID4."""
    raw = bytearray(rng.randbytes(16))
    raw[6] = VERSION4[raw[6]]
    raw[8] = VARIANT[raw[8]]
    return bytes(raw)


def _luhn_chunks() -> list[int]:
    """Luhn sums of every 4-digit chunk whose rightmost digit is doubled."""
    doubled = [(2 * d) - 9 if d > 4 else 2 * d for d in range(10)]  # noqa: PLR2004
    table = []
    for v in range(10_000):
        d0, d1, d2, d3 = v % 10, v // 10 % 10, v // 100 % 10, v // 1000
        table.append(doubled[d0] + d1 + doubled[d2] + d3)
    return table


_LUHN4 = _luhn_chunks()


def _luhn_prefix(prefix: str) -> int:
    """Luhn sum of a prefix that is followed by 11 more payload digits."""
    total = 0
    for pos, ch in enumerate(reversed(prefix), start=11):
        d = int(ch)
        total += ((2 * d) - 9 if d > 4 else 2 * d) if pos % 2 == 0 else d  # noqa: PLR2004
    return total


_ISSUER_LUHN = tuple(_luhn_prefix(p) for p in ISSUERS)


class Ids:
    """The ids of one kind of record: 16 bytes per row, the row encoded in the last four."""

    __slots__ = ("_add", "_high", "_inv", "_mul", "blob")

    def __init__(self, salt: int) -> None:
        self._mul = (mix(salt) & M32) | 1
        self._inv = pow(self._mul, -1, 1 << 32)
        self._add = mix(salt + 1) & M32
        self._high: array[int] = array("Q")
        self.blob = bytearray()

    def extend(self, rng: random.Random, count: int) -> None:
        """Draw ids for ``count`` more rows."""
        start = len(self.blob) // 16
        raw = bytearray(rng.randbytes(16 * count))
        raw[6::16] = raw[6::16].translate(VERSION4)
        raw[8::16] = raw[8::16].translate(VARIANT)
        words = array("I")
        words.frombytes(raw)
        mul, add = self._mul, self._add
        words[3::4] = array("I", [(i * mul + add) & M32 for i in range(start, start + count)])
        self.blob += words.tobytes()

    def text(self, row: int) -> str:
        """The id of a row, as text."""
        return uuid_text(self.blob[16 * row : 16 * row + 16])

    def key(self, row: int) -> bytes:
        """Sort key with the same order as the id's text."""
        return bytes(self.blob[16 * row : 16 * row + 16])

    def sorted(self, rows: Iterable[int]) -> list[int]:
        """The rows in id order: by the ids' first 8 bytes as ints, which never quite tie."""
        if len(self._high) * 16 != len(self.blob):
            words = array("Q")
            words.frombytes(self.blob)
            if sys.byteorder == "little":
                words.byteswap()
            self._high = words[0::2]
        high = self._high
        out = sorted(rows, key=high.__getitem__)
        if any(a == b for a, b in pairwise([high[r] for r in out])):
            out.sort(key=self.key)  # two ids share 64 bits: compare them whole
        return out

    def row_of(self, text: str) -> int | None:
        """The row whose id this is, or None."""
        raw = parse_uuid(text)
        if raw is None:
            return None
        tail = int.from_bytes(raw[12:], sys.byteorder)
        row = ((tail - self._add) * self._inv) & M32
        if 16 * row + 16 > len(self.blob) or self.blob[16 * row : 16 * row + 16] != raw:
            return None
        return row


def tie_ordered(order: array[int], runs: Iterable[tuple[int, int]], ids: Ids) -> None:
    """Within runs of rows that share ``created_at``, put the rows in id order, in place.

    ``order`` holds rows ``0..n-1`` newest first, i.e. row ``r`` at position ``n-1-r``.
    """
    n = len(order)
    for start, end in runs:
        pos = n - end
        order[pos : pos + end - start] = array("I", sorted(range(start, end), key=ids.key))


class Codes:
    """A fleet's MSISDNs, IMSIs, ICCIDs and bulk action ids, each keyed by the fleet's key."""

    __slots__ = ("_bulk_salt", "_iccid_add", "_imsi_add", "_msisdn_add", "_msisdn_inv")

    def __init__(self, key: int) -> None:
        self._msisdn_add = key % _MSISDN_MOD
        self._msisdn_inv = pow(_MSISDN_MUL, -1, _MSISDN_MOD)
        self._imsi_add = mix(key) % _IMSI_MOD
        self._iccid_add = mix(key + 1) % _ICCID_MOD
        self._bulk_salt = mix(key + 2)

    def msisdn(self, row: int) -> str:
        """The phone number of a card."""
        q, area = divmod(row, len(AREA_CODES))
        line = 2_000_000 + (q * _MSISDN_MUL + self._msisdn_add) % _MSISDN_MOD
        return f"+1{AREA_CODES[area]}{line}"

    def msisdn_row(self, msisdn: str, rows: int) -> int | None:
        """The row (below ``rows``) whose phone number this is, or None."""
        match = _MSISDN_RE.fullmatch(msisdn)
        if match is None or match[1] not in AREA_CODES or int(match[2]) < 2_000_000:  # noqa: PLR2004
            return None
        line = int(match[2]) - 2_000_000
        q = ((line - self._msisdn_add) * self._msisdn_inv) % _MSISDN_MOD
        row = q * len(AREA_CODES) + AREA_CODES.index(match[1])
        return row if row < rows else None

    def imsi(self, row: int) -> str:
        """The IMSI of a card."""
        return f"310260{(row * _IMSI_MUL + self._imsi_add) % _IMSI_MOD:09d}"

    def iccid(self, row: int, group: int) -> str:
        """The ICCID of a card in a group: the group's issuer, the row, a Luhn digit."""
        issuer = GROUP_ISSUER[group]
        acct = (row * _ICCID_MUL + self._iccid_add) % _ICCID_MOD
        table = _LUHN4
        total = (
            _ISSUER_LUHN[issuer]
            + table[acct % 10_000]
            + table[acct // 10_000 % 10_000]
            + table[acct // 100_000_000]
        )
        return f"{ISSUERS[issuer]}{acct:011d}{-total % 10}"

    def bulk_id(self, bulk: int) -> str:
        """The id of bulk action number ``bulk`` (from 1)."""
        hi = mix(self._bulk_salt ^ bulk)
        raw = bytearray(hi.to_bytes(8, "big") + mix(hi).to_bytes(8, "big"))
        raw[6] = VERSION4[raw[6]]
        raw[8] = VARIANT[raw[8]]
        raw[12:] = ((bulk * _BULK_MUL + self._bulk_salt) & M32).to_bytes(4, "big")
        return uuid_text(raw)

    def bulk_number(self, text: str, count: int) -> int | None:
        """The number (1 to ``count``) of the bulk action with this id, or None."""
        raw = parse_uuid(text)
        if raw is None:
            return None
        bulk = ((int.from_bytes(raw[12:], "big") - self._bulk_salt) * _BULK_INV) & M32
        if 0 < bulk <= count and self.bulk_id(bulk) == uuid_text(raw):
            return bulk
        return None
