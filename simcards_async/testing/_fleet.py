"""A deterministic fleet of SIM cards and SIM card actions, rendered on demand.

Pure: no I/O and no clock. Everything is a function of the seed (and, after a change, of the
RNG that made it), so two fleets built with the same arguments give the same bytes.

Each record lives as one *row* in a handful of compact columns, just the values needed to
filter and sort: status codes, tag bitmasks and group indexes (``bytearray``), consumed data in
tenths of a megabyte, ``created_at`` in epoch milliseconds (``array``) and the 16 bytes of the
id (one ``bytearray`` for all rows). Every other field (ICCID, MSISDN, IMSI, eSIM data,
timestamps as text, device location, ...) is computed from ``(seed, row)`` only when a record
is rendered, so a million cards cost some 30 MB and build in about a second.

Ids are UUID4s whose last four bytes encode the row (an affine permutation of 32 bits keyed by
the seed), so looking up an id needs no index. MSISDNs and IMSIs are permutations of the row
as well, hence unique; ICCIDs carry a valid Luhn check digit.

Rows are never reused: deleting only marks a row dead, inserting appends new rows whose
``created_at`` is newer than everything before, which is what puts them at the head of the
default order (newest ``created_at`` first, ties by id).
"""

from __future__ import annotations

import random
import re
import sys
from array import array
from bisect import bisect_right
from collections import OrderedDict
from datetime import date, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

JSONObject = dict[str, Any]

SIM_CARD_STATUSES = (
    "enabled",
    "disabled",
    "standby",
    "data_limit_exceeded",
    "unauthorized_imei",
    "registering",
    "enabling",
    "disabling",
    "setting_standby",
)
"""Every status a card can have; the first five are the ones ``filter[status]`` accepts."""
FILTERABLE_SIM_CARD_STATUSES = SIM_CARD_STATUSES[:5]
SIM_CARD_TAGS = (
    "customers",
    "staff",
    "test",
    "vip",
    "iot",
    "fleet-a",
    "personal",
    "active-customers",
)
ACTION_TYPES = (
    "enable",
    "enable_standby_sim_card",
    "disable",
    "set_standby",
    "remove_public_ip",
    "set_public_ip",
)
ACTION_STATUSES = ("in-progress", "completed", "failed", "interrupted")
"""Every status an action can have; ``filter[status]`` accepts all but ``interrupted``."""
FILTERABLE_ACTION_STATUSES = ACTION_STATUSES[:3]
SORT_KEYS = (
    "current_billing_period_consumed_data.amount",
    "-current_billing_period_consumed_data.amount",
)

_M32 = (1 << 32) - 1
_M64 = (1 << 64) - 1
_DAY_MS = 86_400_000
_START_MS = 1_654_041_600_000  # 2022-06-01T00:00:00Z
_CARD_SPAN_MS = 3 * 365 * _DAY_MS  # cards were registered over three years
_ACTION_START_MS = _START_MS + 365 * _DAY_MS  # actions over the last two
_ACTION_SPAN_MS = 2 * 365 * _DAY_MS

_STATUS_WEIGHTS = (700, 90, 80, 60, 30, 10, 10, 10, 10)
_STATUS_REASONS = (
    "The SIM card is active, ready to connect to networks and consume data.",
    "The SIM card has been disabled and cannot connect to networks.",
    "The SIM card is in standby; it is enabled once it consumes data.",
    "The SIM card exceeded its data limit and cannot consume data.",
    "The SIM card is in a device whose IMEI is not authorized.",
    "The SIM card is being registered.",
    "The SIM card is being enabled.",
    "The SIM card is being disabled.",
    "The SIM card is being set to standby.",
)
_TRANSITIONAL = frozenset({5, 6, 7, 8})
# Consumption multiplier and floor per status code: standby and registering cards use no data,
# cards over their limit have used at least 2048.0 MB.
_CONSUMES = bytes((1, 1, 0, 1, 1, 0, 1, 1, 0))
_CONSUMED_FLOOR = (0, 0, 0, 20_480, 0, 0, 0, 0, 0)
_GROUP_WEIGHTS = (40, 20, 15, 12, 8, 5)
_GROUP_NAMES = (
    "Default group",
    "Fleet A trucks",
    "Staff phones",
    "IoT sensors",
    "Test bench",
    "VIP customers",
)
# Index into _ISSUERS per group: ICCIDs of the same batch share an issuer prefix.
_GROUP_ISSUER = (0, 1, 0, 1, 1, 0)
_ISSUERS = ("89310410", "8901260")  # 8 + 11 + 1 = 20 digits, 7 + 11 + 1 = 19 digits
_ICCID_SLOT = 21  # width of one ICCID in the search text, padded with newlines
_AREA_CODES = ("310", "415", "212", "312", "512", "206", "617", "305")
_NETWORKS = (("310", "260"), ("310", "410"), ("311", "480"), ("234", "15"), ("262", "01"))
_ACTION_TYPE_WEIGHTS = (25, 10, 20, 15, 15, 15)
_ACTION_STATUS_WEIGHTS = (8, 80, 8, 4)
_FAILED_REASONS = (
    "The SIM card is not in a state that allows this action.",
    "The operation timed out on the network side.",
    "The data limit was exceeded.",
)
_INTERRUPTED_REASON = "The action was interrupted by a newer action on the same SIM card."
_DATA_LIMITS = (("512.0", "MB"), ("1024.0", "MB"), ("2048.0", "MB"), ("1.0", "GB"), ("5.0", "GB"))
_TAG_COMBOS = (
    ("customers", "active-customers"),
    ("iot", "fleet-a"),
    ("staff", "personal"),
    ("customers", "vip"),
    ("test", "iot"),
    ("customers", "test"),
    ("staff", "test"),
    ("vip", "active-customers"),
)

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_MSISDN_RE = re.compile(r"\+1([0-9]{3})([0-9]{7})")
_VERSION4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))

# Multipliers of the per-row permutations, each coprime with its modulus.
_MSISDN_MUL, _MSISDN_MOD = 2_654_431, 8_000_000
_IMSI_MUL, _IMSI_MOD = 387_420_489, 10**9
_ICCID_MUL, _ICCID_MOD = 48_271_957_193, 10**11
_BULK_MUL = 0x2545F491
_BULK_INV = pow(_BULK_MUL, -1, 1 << 32)


def _rng(label: str, seed: int) -> random.Random:
    """A seeded RNG per purpose, so changing one use of randomness leaves the others alone."""
    return random.Random(f"simcards-async:{label}:{seed}")  # noqa: S311 - mock data, not secrets


def _mix(x: int) -> int:
    """Splitmix64 finalizer: 64 well-mixed bits from any integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _weighted_table(weights: Sequence[int]) -> bytes:
    """Map each of the 256 byte values to a code, in proportion to ``weights``."""
    total = sum(weights)
    counts = [w * 256 // total for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i])[: 256 - sum(counts)]:
        counts[i] += 1
    return b"".join(bytes((code,)) * count for code, count in enumerate(counts))


def _tag_table(rng: random.Random) -> bytes:
    """Map byte values to tag bitmasks: a quarter untagged, the rest one to three tags."""
    bit = {tag: 1 << i for i, tag in enumerate(SIM_CARD_TAGS)}
    masks = [0] * 64
    masks += [bit[rng.choice(SIM_CARD_TAGS)] for _ in range(88)]
    masks += [bit[a] | bit[b] for a, b in (rng.choice(_TAG_COMBOS) for _ in range(64))]
    for _ in range(40):
        a, b = rng.choice(_TAG_COMBOS)
        masks.append(bit[a] | bit[b] | bit[rng.choice(SIM_CARD_TAGS)])
    return bytes(masks)


_TAGS_OF_MASK = tuple(
    tuple(tag for i, tag in enumerate(SIM_CARD_TAGS) if mask >> i & 1) for mask in range(256)
)
_STATUS_TABLE = _weighted_table(_STATUS_WEIGHTS)
_GROUP_TABLE = _weighted_table(_GROUP_WEIGHTS)
_ACTION_TYPE_TABLE = _weighted_table(_ACTION_TYPE_WEIGHTS)
_ACTION_STATUS_TABLE = _weighted_table(_ACTION_STATUS_WEIGHTS)


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


_ISSUER_LUHN = tuple(_luhn_prefix(p) for p in _ISSUERS)


@lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat() + "T"


@lru_cache(maxsize=1)
def _clock_times() -> list[str]:
    """``HH:MM:SS.`` for every second of a day (built once, 86,400 short strings)."""
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}." for s in range(86_400)]


def _iso(ms: int) -> str:
    """Format epoch milliseconds as ISO 8601 with milliseconds and ``Z``."""
    day, rest = divmod(ms, _DAY_MS)
    return f"{_day(day)}{_clock_times()[rest // 1000]}{rest % 1000:03d}Z"


def _uuid_text(raw: bytes | bytearray) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_uuid(text: str) -> bytes | None:
    """Return the 16 bytes of a canonical 8-4-4-4-12 UUID, or None when it is not one."""
    if _UUID_RE.fullmatch(text) is None:
        return None
    return bytes.fromhex(text.replace("-", ""))


class _Ids:
    """The ids of one kind of record: 16 bytes per row, the row encoded in the last four."""

    __slots__ = ("_add", "_high", "_inv", "_mul", "blob")

    def __init__(self, salt: int) -> None:
        self._mul = (_mix(salt) & _M32) | 1
        self._inv = pow(self._mul, -1, 1 << 32)
        self._add = _mix(salt + 1) & _M32
        self._high: array[int] = array("Q")
        self.blob = bytearray()

    def extend(self, rng: random.Random, count: int) -> None:
        start = len(self.blob) // 16
        raw = bytearray(rng.randbytes(16 * count))
        raw[6::16] = raw[6::16].translate(_VERSION4)
        raw[8::16] = raw[8::16].translate(_VARIANT)
        words = array("I")
        words.frombytes(raw)
        mul, add = self._mul, self._add
        words[3::4] = array("I", [(i * mul + add) & _M32 for i in range(start, start + count)])
        self.blob += words.tobytes()

    def text(self, row: int) -> str:
        return _uuid_text(self.blob[16 * row : 16 * row + 16])

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
        raw = parse_uuid(text)
        if raw is None:
            return None
        tail = int.from_bytes(raw[12:], sys.byteorder)
        row = ((tail - self._add) * self._inv) & _M32
        if 16 * row + 16 > len(self.blob) or self.blob[16 * row : 16 * row + 16] != raw:
            return None
        return row


def _tie_ordered(order: array[int], runs: Iterable[tuple[int, int]], ids: _Ids) -> None:
    """Within runs of rows that share ``created_at``, put the rows in id order, in place.

    ``order`` holds rows ``0..n-1`` newest first, i.e. row ``r`` at position ``n-1-r``.
    """
    n = len(order)
    for start, end in runs:
        pos = n - end
        order[pos : pos + end - start] = array("I", sorted(range(start, end), key=ids.key))


class Fleet:
    """A deterministic fleet of SIM cards and SIM card actions, rendered on demand.

    ``Fleet(sim_cards=300, actions=200, seed=7)`` always holds the same records. Records are
    plain JSON-ready dicts shaped like the Telnyx API's ``SimpleSIMCard``, ``SIMCard`` and
    ``SIMCardAction`` (plus ``bulk_sim_card_action_id`` on actions, which the spec does not
    list). Listing order is newest ``created_at`` first, ties by id.

    The ``*_rows`` and ``render_*`` methods are the low-level interface the mock server uses;
    a *row* is an opaque int naming one record, valid for the fleet's life (rows of deleted
    records are never reused).
    """

    def __init__(self, *, sim_cards: int = 3000, actions: int = 3000, seed: int = 1) -> None:
        if sim_cards < 0 or actions < 0:
            raise ValueError("sim_cards and actions must not be negative")
        if actions and not sim_cards:
            raise ValueError("actions need at least one SIM card to refer to")
        self._seed = seed
        self._version = 0
        self._key = _mix(seed * 0x100000001B3 + 0x5EED)
        self._rng = _rng("changes", seed)
        self._groups = self._make_groups()
        self._group_rows = {g["id"]: i for i, g in enumerate(self._groups)}
        self._tag_bits = {tag: 1 << i for i, tag in enumerate(SIM_CARD_TAGS)}
        self._tag_table = _tag_table(_rng("tags", seed))
        self._msisdn_add = self._key % _MSISDN_MOD
        self._msisdn_inv = pow(_MSISDN_MUL, -1, _MSISDN_MOD)
        self._imsi_add = _mix(self._key) % _IMSI_MOD
        self._iccid_add = _mix(self._key + 1) % _ICCID_MOD
        self._bulk_salt = _mix(self._key + 2)

        self._c_ids = _Ids(self._key + 3)
        self._c_status = bytearray()
        self._c_tags = bytearray()
        self._c_group = bytearray()
        self._c_consumed: array[int] = array("I")  # tenths of a megabyte
        self._c_created: array[int] = array("Q")  # epoch milliseconds
        self._c_alive = bytearray()
        self._c_order: array[int] = array("I")  # live rows, newest first
        self._iccid_text: list[str] = []  # filled on the first filter[iccid]

        self._a_ids = _Ids(self._key + 4)
        self._a_card: array[int] = array("I")
        self._a_type = bytearray()
        self._a_status = bytearray()
        self._a_bulk: array[int] = array("I")  # 0 = not part of a bulk action
        self._a_created: array[int] = array("Q")
        self._a_alive = bytearray()
        self._a_order: array[int] = array("I")
        self._bulk_count = 0

        self._views: OrderedDict[tuple[object, ...], array[int]] = OrderedDict()
        self._build_sim_cards(sim_cards)
        self._build_actions(actions)

    # -- public, high level ---------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The seed everything derives from."""
        return self._seed

    @property
    def version(self) -> int:
        """A counter that goes up with every insert or delete."""
        return self._version

    @property
    def sim_card_count(self) -> int:
        """How many SIM cards exist now."""
        return len(self._c_order)

    @property
    def action_count(self) -> int:
        """How many SIM card actions exist now."""
        return len(self._a_order)

    def sim_card_groups(self) -> list[JSONObject]:
        """The SIM card groups the cards belong to, as the API renders them."""
        return [self._group(i) for i in range(len(self._groups))]

    def sim_card_ids(self) -> list[str]:
        """The ids of all SIM cards, in listing order."""
        text = self._c_ids.text
        return [text(row) for row in self._c_order]

    def action_ids(self) -> list[str]:
        """The ids of all SIM card actions, in listing order."""
        text = self._a_ids.text
        return [text(row) for row in self._a_order]

    def sim_cards(self, *, include_sim_card_group: bool = False) -> Iterator[JSONObject]:
        """Yield every SIM card as a ``SimpleSIMCard``, in listing order."""
        for row in array("I", self._c_order):
            yield self.render_sim_card(row, include_sim_card_group=include_sim_card_group)

    def actions(self) -> Iterator[JSONObject]:
        """Yield every SIM card action, in listing order."""
        for row in array("I", self._a_order):
            yield self.render_action(row)

    def sim_card(
        self,
        id: str,
        *,
        include_sim_card_group: bool = False,
        include_pin_puk_codes: bool = False,
    ) -> JSONObject | None:
        """Return one SIM card in full (``SIMCard``), or None when no card has that id."""
        row = self.sim_card_row(id)
        if row is None:
            return None
        return self.render_sim_card(
            row,
            detailed=True,
            include_sim_card_group=include_sim_card_group,
            include_pin_puk_codes=include_pin_puk_codes,
        )

    def action(self, id: str) -> JSONObject | None:
        """Return one SIM card action, or None when no action has that id."""
        row = self.action_row(id)
        return None if row is None else self.render_action(row)

    # -- changes ----------------------------------------------------------------------------

    def insert_sim_cards(self, count: int, *, rng: random.Random | None = None) -> list[str]:
        """Add ``count`` SIM cards newer than all others; return their ids, newest first."""
        if count <= 0:
            return []
        rng = rng or self._rng
        last = self._c_created[-1] if self._c_created else _START_MS
        created = []
        for _ in range(count):
            last += 1000 + rng.randrange(59_000)
            created.append(last)
        rows = self._append_sim_cards(rng, created)
        self._c_order[0:0] = array("I", reversed(rows))
        self._changed()
        return [self._c_ids.text(row) for row in reversed(rows)]

    def delete_sim_cards(
        self, ids_or_count: int | Iterable[str], *, rng: random.Random | None = None
    ) -> list[str]:
        """Delete the given SIM cards, or that many chosen at random; return the deleted ids.

        Unknown or already deleted ids are skipped. Actions of a deleted card stay.
        """
        rows = self._pick(ids_or_count, self._c_ids, self._c_alive, self._c_order, rng)
        self._remove(rows, self._c_alive, self._c_order)
        return [self._c_ids.text(row) for row in rows]

    def insert_actions(self, count: int, *, rng: random.Random | None = None) -> list[str]:
        """Add ``count`` actions on random live cards, newest of all; return ids, newest first."""
        if count <= 0 or not self._c_order:
            return []
        rng = rng or self._rng
        last = self._a_created[-1] if self._a_created else _ACTION_START_MS
        created, cards = [], []
        for _ in range(count):
            last += 500 + rng.randrange(30_000)
            created.append(last)
            cards.append(self._c_order[rng.randrange(len(self._c_order))])
        rows = self._append_actions(rng, created, cards, [0] * count)
        self._a_order[0:0] = array("I", reversed(rows))
        self._changed()
        return [self._a_ids.text(row) for row in reversed(rows)]

    def delete_actions(
        self, ids_or_count: int | Iterable[str], *, rng: random.Random | None = None
    ) -> list[str]:
        """Delete the given actions, or that many chosen at random; return the deleted ids."""
        rows = self._pick(ids_or_count, self._a_ids, self._a_alive, self._a_order, rng)
        self._remove(rows, self._a_alive, self._a_order)
        return [self._a_ids.text(row) for row in rows]

    # -- low level: rows ------------------------------------------------------------------

    def sim_card_row(self, id: str) -> int | None:
        """The row of a live SIM card, or None."""
        row = self._c_ids.row_of(id)
        return row if row is not None and self._c_alive[row] else None

    def action_row(self, id: str) -> int | None:
        """The row of a live action, or None."""
        row = self._a_ids.row_of(id)
        return row if row is not None and self._a_alive[row] else None

    def sim_card_rows(
        self,
        *,
        status: Iterable[str] = (),
        tags: Iterable[str] = (),
        iccid: str = "",
        msisdn: str | None = None,
        sim_card_group_id: str | None = None,
        sort: str | None = None,
    ) -> Sequence[int]:
        """Rows of the SIM cards that match every given filter, in listing (or ``sort``) order.

        ``status``: any of them; ``tags``: all of them; ``iccid``: substring; ``msisdn`` and
        ``sim_card_group_id``: exact. ``sort`` is one of ``SORT_KEYS``: consumed data,
        compared as a number, ties by id. The answer is cached until the next change and must
        not be modified.
        """
        statuses = tuple(sorted(set(status)))
        tag_set = tuple(sorted(set(tags)))
        key = ("c", statuses, tag_set, iccid, msisdn, sim_card_group_id, sort)
        found = self._view(key)
        if found is not None:
            return found
        if sort is not None and sort not in SORT_KEYS:
            raise ValueError(f"unknown sort {sort!r}")
        rows: Sequence[int] = self._c_order
        if msisdn is not None:
            row = self._msisdn_row(msisdn)
            rows = [row] if row is not None and self._c_alive[row] else []
        if sim_card_group_id is not None:
            code = self._group_rows.get(sim_card_group_id.lower())
            group = self._c_group
            rows = [] if code is None else [r for r in rows if group[r] == code]
        if statuses:
            rows = self._status_filter(rows, statuses)
        if tag_set:
            rows = self._tag_filter(rows, tag_set)
        if iccid:
            rows = self._iccid_filter(rows, iccid)
        if sort is not None:
            # Two stable sorts (reverse=True keeps ties in order): by id, then by consumption.
            by_id = self._c_ids.sorted(rows)
            rows = sorted(by_id, key=self._c_consumed.__getitem__, reverse=sort.startswith("-"))
        return self._store(key, rows)

    def action_rows(
        self,
        *,
        sim_card_id: str | None = None,
        status: str | None = None,
        bulk_sim_card_action_id: str | None = None,
        action_type: str | None = None,
    ) -> Sequence[int]:
        """Rows of the actions that match every given filter (all exact), in listing order."""
        key = ("a", sim_card_id, status, bulk_sim_card_action_id, action_type)
        found = self._view(key)
        if found is not None:
            return found
        rows: Sequence[int] = self._a_order
        if sim_card_id is not None:
            card = self._c_ids.row_of(sim_card_id)
            cards = self._a_card
            rows = [] if card is None else [r for r in rows if cards[r] == card]
        if bulk_sim_card_action_id is not None:
            bulk = self._bulk_row(bulk_sim_card_action_id)
            bulks = self._a_bulk
            rows = [] if bulk is None else [r for r in rows if bulks[r] == bulk]
        if status is not None:
            code = ACTION_STATUSES.index(status) if status in ACTION_STATUSES else -1
            st = self._a_status
            rows = [r for r in rows if st[r] == code]
        if action_type is not None:
            code = ACTION_TYPES.index(action_type) if action_type in ACTION_TYPES else -1
            types = self._a_type
            rows = [r for r in rows if types[r] == code]
        return self._store(key, rows)

    # -- low level: rendering ----------------------------------------------------------------

    def render_sim_card(
        self,
        row: int,
        *,
        detailed: bool = False,
        include_sim_card_group: bool = False,
        include_pin_puk_codes: bool = False,
    ) -> JSONObject:
        """Render one row as a ``SimpleSIMCard`` or, with ``detailed``, a ``SIMCard``."""
        h0 = _mix(self._key ^ (row << 1))
        h1 = _mix(h0)
        st = self._c_status[row]
        group = self._c_group[row]
        consumed = self._c_consumed[row]
        created = self._c_created[row]
        esim = h0 % 5 == 0
        imeis = None
        if h1 % 10 < 4:  # noqa: PLR2004
            imeis = [f"35{(h1 >> (8 * k)) % 10**13:013d}" for k in range(1 + (h1 >> 40) % 3)]
        data_limit = None
        if st == 3:  # noqa: PLR2004 - data_limit_exceeded: the limit is below what was used
            data_limit = {"amount": f"{consumed // 10240 * 1024 or 1024}.0", "unit": "MB"}
        elif (h1 >> 4) % 2:
            amount, unit = _DATA_LIMITS[(h1 >> 5) % len(_DATA_LIMITS)]
            data_limit = {"amount": amount, "unit": unit}
        transitional = st in _TRANSITIONAL
        card: JSONObject = {
            "id": self._c_ids.text(row),
            "record_type": "sim_card",
            "status": {"value": SIM_CARD_STATUSES[st], "reason": _STATUS_REASONS[st]},
            "type": "esim" if esim else "physical",
            "iccid": self._iccid(row),
            "imsi": f"310260{(row * _IMSI_MUL + self._imsi_add) % _IMSI_MOD:09d}",
            "msisdn": self._msisdn(row),
            "sim_card_group_id": self._groups[group]["id"],
            "tags": self._tags(self._c_tags[row]),
            "authorized_imeis": imeis,
            "data_limit": data_limit,
            "current_billing_period_consumed_data": {
                "amount": f"{consumed // 10}.{consumed % 10}",
                "unit": "MB",
            },
            "actions_in_progress": transitional or (h1 >> 20) % 40 == 0,
            "resources_with_in_progress_actions": (
                [{"id": _uuid_text(h1.to_bytes(8, "big") + h0.to_bytes(8, "big"))}]
                if transitional
                else []
            ),
            "eid": f"89049032{(h0 >> 8) % 10**12:012d}{(h1 >> 8) % 10**12:012d}" if esim else None,
            "esim_installation_status": (
                ("disabled" if (h0 >> 3) % 5 == 0 else "released") if esim else None
            ),
            "version": "4.3",
            "voice_enabled": (h1 >> 24) % 10 < 3,  # noqa: PLR2004
            "created_at": _iso(created),
            "updated_at": _iso(created + (h1 >> 30) % (90 * _DAY_MS)),
        }
        if detailed:
            self._add_details(card, row, st, imeis, include_pin_puk_codes=include_pin_puk_codes)
        if include_sim_card_group:
            card["sim_card_group"] = self._group(group)
        return card

    def render_action(self, row: int) -> JSONObject:
        """Render one row as a ``SIMCardAction`` (plus ``bulk_sim_card_action_id``)."""
        h = _mix(self._key ^ (row << 1) ^ 1)
        st = self._a_status[row]
        kind = self._a_type[row]
        created = self._a_created[row]
        reason = None
        if st == 2:  # noqa: PLR2004 - failed
            reason = _FAILED_REASONS[h % len(_FAILED_REASONS)]
        elif st == 3:  # noqa: PLR2004 - interrupted
            reason = _INTERRUPTED_REASON
        settings: JSONObject | None
        if ACTION_TYPES[kind] == "set_public_ip":
            settings = {"public_ip": f"198.51.100.{1 + (h >> 8) % 254}"}
        elif ACTION_TYPES[kind] == "remove_public_ip" or (h >> 16) % 2:
            settings = {}
        else:
            settings = None
        bulk = self._a_bulk[row]
        return {
            "id": self._a_ids.text(row),
            "record_type": "sim_card_action",
            "sim_card_id": self._c_ids.text(self._a_card[row]),
            "action_type": ACTION_TYPES[kind],
            "status": {"value": ACTION_STATUSES[st], "reason": reason},
            "settings": settings,
            "created_at": _iso(created),
            "updated_at": _iso(created if st == 0 else created + 1000 + (h >> 20) % 600_000),
            "bulk_sim_card_action_id": self._bulk_id(bulk) if bulk else None,
        }

    # -- building ---------------------------------------------------------------------------

    def _make_groups(self) -> list[JSONObject]:
        rng = _rng("groups", self._seed)
        groups = []
        for i, name in enumerate(_GROUP_NAMES):
            created = _START_MS - (i + 1) * 7 * _DAY_MS + rng.randrange(_DAY_MS)
            limit = rng.choice((("100.0", "GB"), ("500.0", "GB"), ("2048.0", "MB")))
            groups.append(
                {
                    "id": _uuid_text(self._random_uuid(rng)),
                    "record_type": "sim_card_group",
                    "name": name,
                    "default": i == 0,
                    "data_limit": {"amount": limit[0], "unit": limit[1]},
                    "consumed_data": {
                        "amount": f"{rng.randrange(10**7)}.{rng.randrange(10)}",
                        "unit": "MB",
                    },
                    "private_wireless_gateway_id": (
                        _uuid_text(self._random_uuid(rng)) if name == "IoT sensors" else None
                    ),
                    "wireless_blocklist_id": None,
                    "created_at": _iso(created),
                    "updated_at": _iso(created + rng.randrange(400 * _DAY_MS)),
                }
            )
        return groups

    @staticmethod
    def _random_uuid(rng: random.Random) -> bytes:
        raw = bytearray(rng.randbytes(16))
        raw[6] = _VERSION4[raw[6]]
        raw[8] = _VARIANT[raw[8]]
        return bytes(raw)

    def _group(self, index: int) -> JSONObject:
        g = self._groups[index]
        return {**g, "data_limit": dict(g["data_limit"]), "consumed_data": dict(g["consumed_data"])}

    def _build_sim_cards(self, count: int) -> None:
        rng = _rng("sim-cards", self._seed)
        step = max(1, _CARD_SPAN_MS // max(count, 1))
        coin = rng.randbytes(count)
        jitter = array("I")
        jitter.frombytes(rng.randbytes(4 * count))
        created: array[int] = array("Q", bytes(8 * count))
        runs = []
        i = 0
        while i < count:
            c = coin[i]
            t = _START_MS + i * step + ((jitter[i] * step) >> 32)  # strictly increasing in i
            if c >= 243:  # noqa: PLR2004 - 5%: a batch of 2..13 cards registered at once
                end = min(count, i + 2 + c % 12)
                created[i:end] = array("Q", [t]) * (end - i)
                runs.append((i, end))
                i = end
            else:
                created[i] = t
                i += 1
        self._append_sim_cards(rng, created)
        order = array("I", range(count - 1, -1, -1))
        _tie_ordered(order, runs, self._c_ids)
        self._c_order = order

    def _append_sim_cards(self, rng: random.Random, created: Sequence[int]) -> range:
        count = len(created)
        start = len(self._c_created)
        status = rng.randbytes(count).translate(_STATUS_TABLE)
        raw = array("I")
        raw.frombytes(rng.randbytes(4 * count))
        keep, floor = _CONSUMES, _CONSUMED_FLOOR
        # Heavy-tailed use: the product of two uniforms, up to ~51 GB, in tenths of a MB.
        self._c_consumed.extend(
            array(
                "I",
                [
                    (((r & 0xFFFF) * ((r >> 16) & 0x3F)) >> 3) * keep[s] + floor[s]
                    for s, r in zip(status, raw, strict=True)
                ],
            )
        )
        self._c_status += status
        self._c_tags += rng.randbytes(count).translate(self._tag_table)
        self._c_group += rng.randbytes(count).translate(_GROUP_TABLE)
        self._c_created.extend(created if isinstance(created, array) else array("Q", created))
        self._c_alive += b"\x01" * count
        self._c_ids.extend(rng, count)
        if self._iccid_text:
            self._iccid_text.append(self._iccid_slots(range(start, start + count)))
        return range(start, start + count)

    def _build_actions(self, count: int) -> None:
        rng = _rng("actions", self._seed)
        step = max(1, _ACTION_SPAN_MS // max(count, 1))
        coin = rng.randbytes(count)
        pick = array("I")
        pick.frombytes(rng.randbytes(4 * count))
        jitter = array("I")
        jitter.frombytes(rng.randbytes(4 * count))
        created: array[int] = array("Q", bytes(8 * count))
        bulk: array[int] = array("I", bytes(4 * count))
        cards: array[int] = array("I", bytes(4 * count))
        card_created = self._c_created
        n_cards = len(card_created)
        runs = []
        i = 0
        while i < count:
            c = coin[i]
            t = _ACTION_START_MS + i * step + ((jitter[i] * step) >> 32)
            older = bisect_right(card_created, t) or n_cards  # cards that existed by then
            end = i + 1
            if c >= 253:  # noqa: PLR2004 - a bulk action over 10..50 cards
                end = min(count, i + 10 + pick[i] % 41)
                self._bulk_count += 1
                bulk[i:end] = array("I", [self._bulk_count]) * (end - i)
                runs.append((i, end))
            for j in range(i, end):
                created[j] = t
                cards[j] = pick[j] % older
            i = end
        rows = self._append_actions(rng, created, cards, bulk)
        types = self._a_type
        for start, end in runs:  # a bulk action does one thing to all its cards
            types[start:end] = bytes((types[start],)) * (end - start)
        order = array("I", range(len(rows) - 1, -1, -1))
        _tie_ordered(order, runs, self._a_ids)
        self._a_order = order

    def _append_actions(
        self,
        rng: random.Random,
        created: Sequence[int],
        cards: Sequence[int],
        bulk: Sequence[int],
    ) -> range:
        count = len(created)
        start = len(self._a_created)
        self._a_type += rng.randbytes(count).translate(_ACTION_TYPE_TABLE)
        self._a_status += rng.randbytes(count).translate(_ACTION_STATUS_TABLE)
        self._a_created.extend(created if isinstance(created, array) else array("Q", created))
        self._a_card.extend(cards if isinstance(cards, array) else array("I", cards))
        self._a_bulk.extend(bulk if isinstance(bulk, array) else array("I", bulk))
        self._a_alive += b"\x01" * count
        self._a_ids.extend(rng, count)
        return range(start, start + count)

    # -- changes, internals -----------------------------------------------------------------

    def _pick(
        self,
        ids_or_count: int | Iterable[str],
        ids: _Ids,
        alive: bytearray,
        order: array[int],
        rng: random.Random | None,
    ) -> list[int]:
        if isinstance(ids_or_count, int):
            count = min(max(ids_or_count, 0), len(order))
            positions = (rng or self._rng).sample(range(len(order)), count)
            return [order[p] for p in positions]
        rows = []
        for text in ids_or_count:
            row = ids.row_of(text)
            if row is not None and alive[row] and row not in rows:
                rows.append(row)
        return rows

    def _remove(self, rows: list[int], alive: bytearray, order: array[int]) -> None:
        if not rows:
            return
        for row in rows:
            alive[row] = 0
        if len(rows) <= 32:  # noqa: PLR2004 - a few memmoves beat a rebuild
            for row in rows:
                del order[order.index(row)]
        else:
            order[:] = array("I", [r for r in order if alive[r]])
        self._changed()

    def _changed(self) -> None:
        self._version += 1
        self._views.clear()

    def _view(self, key: tuple[object, ...]) -> array[int] | None:
        found = self._views.get(key)
        if found is not None:
            self._views.move_to_end(key)
        return found

    def _store(self, key: tuple[object, ...], rows: Sequence[int]) -> array[int]:
        found = rows if isinstance(rows, array) else array("I", rows)
        self._views[key] = found
        if len(self._views) > 16:  # noqa: PLR2004 - a million rows are 4 MB a view
            self._views.popitem(last=False)
        return found

    # -- fields -----------------------------------------------------------------------------

    def _tags(self, mask: int) -> list[str]:
        return list(_TAGS_OF_MASK[mask])

    def _msisdn(self, row: int) -> str:
        q, area = divmod(row, len(_AREA_CODES))
        line = 2_000_000 + (q * _MSISDN_MUL + self._msisdn_add) % _MSISDN_MOD
        return f"+1{_AREA_CODES[area]}{line}"

    def _msisdn_row(self, msisdn: str) -> int | None:
        match = _MSISDN_RE.fullmatch(msisdn)
        if match is None or match[1] not in _AREA_CODES or int(match[2]) < 2_000_000:  # noqa: PLR2004
            return None
        line = int(match[2]) - 2_000_000
        q = ((line - self._msisdn_add) * self._msisdn_inv) % _MSISDN_MOD
        row = q * len(_AREA_CODES) + _AREA_CODES.index(match[1])
        return row if row < len(self._c_alive) else None

    def _iccid(self, row: int) -> str:
        issuer = _GROUP_ISSUER[self._c_group[row]]
        acct = (row * _ICCID_MUL + self._iccid_add) % _ICCID_MOD
        table = _LUHN4
        total = (
            _ISSUER_LUHN[issuer]
            + table[acct % 10_000]
            + table[acct // 10_000 % 10_000]
            + table[acct // 100_000_000]
        )
        return f"{_ISSUERS[issuer]}{acct:011d}{-total % 10}"

    def _iccid_slots(self, rows: Iterable[int]) -> str:
        iccid, width = self._iccid, _ICCID_SLOT
        return "".join([iccid(r).ljust(width, "\n") for r in rows])

    def _status_filter(self, rows: Sequence[int], statuses: Iterable[str]) -> list[int]:
        wanted = bytearray(256)
        for value in statuses:
            if value in SIM_CARD_STATUSES:
                wanted[SIM_CARD_STATUSES.index(value)] = 1
        st = self._c_status
        return [r for r in rows if wanted[st[r]]]

    def _tag_filter(self, rows: Sequence[int], tags: Iterable[str]) -> list[int]:
        need = 0
        for tag in tags:
            need |= self._tag_bits.get(tag, 1 << 8)  # an unknown tag matches nothing
        tg = self._c_tags
        return [r for r in rows if tg[r] & need == need]

    def _iccid_filter(self, rows: Sequence[int], needle: str) -> list[int]:
        if "\n" in needle:
            return []
        if not self._iccid_text:
            self._iccid_text.append(self._iccid_slots(range(len(self._c_alive))))
        if len(self._iccid_text) > 1:
            self._iccid_text[:] = ["".join(self._iccid_text)]
        text, width = self._iccid_text[0], _ICCID_SLOT
        hit = bytearray(len(self._c_alive))
        pos = text.find(needle)
        while pos >= 0:
            slot = pos // width
            hit[slot] = 1
            pos = text.find(needle, (slot + 1) * width)
        return [r for r in rows if hit[r]]

    def _bulk_id(self, bulk: int) -> str:
        hi = _mix(self._bulk_salt ^ bulk)
        raw = bytearray(hi.to_bytes(8, "big") + _mix(hi).to_bytes(8, "big"))
        raw[6] = _VERSION4[raw[6]]
        raw[8] = _VARIANT[raw[8]]
        raw[12:] = ((bulk * _BULK_MUL + self._bulk_salt) & _M32).to_bytes(4, "big")
        return _uuid_text(raw)

    def _bulk_row(self, text: str) -> int | None:
        raw = parse_uuid(text)
        if raw is None:
            return None
        bulk = ((int.from_bytes(raw[12:], "big") - self._bulk_salt) * _BULK_INV) & _M32
        if 0 < bulk <= self._bulk_count and self._bulk_id(bulk) == _uuid_text(raw):
            return bulk
        return None

    def _add_details(
        self,
        card: JSONObject,
        row: int,
        st: int,
        imeis: list[str] | None,
        *,
        include_pin_puk_codes: bool,
    ) -> None:
        h2 = _mix(self._key ^ (row << 1) ^ 0xD7)
        h3 = _mix(h2)
        mcc, mnc = _NETWORKS[h2 % len(_NETWORKS)]
        if st == 0:
            session = ("connected", "connected", "disconnected", "unknown")[(h2 >> 4) % 4]
        else:
            session = ("disconnected", "unknown")[(h2 >> 4) % 2]
        imei = f"35{(h3 >> 7) % 10**13:013d}"
        if imeis and st != 4:  # noqa: PLR2004 - an unauthorized_imei card is in another device
            imei = imeis[(h3 >> 3) % len(imeis)]
        card["current_device_location"] = {
            "latitude": f"{(h2 >> 8) % 130_000 / 1000 - 60:.3f}",
            "longitude": f"{(h2 >> 28) % 360_000 / 1000 - 180:.3f}",
            "accuracy": 10 + (h2 >> 48) % 5000,
            "accuracy_unit": "m",
        }
        card["current_imei"] = imei
        card["current_mcc"] = mcc
        card["current_mnc"] = mnc
        card["ipv4"] = f"100.{64 + h3 % 64}.{(h3 >> 8) % 256}.{1 + (h3 >> 16) % 254}"
        card["ipv6"] = (
            f"2001:db8:{(h3 >> 24) % 65536:x}:{(h3 >> 40) % 65536:x}::{1 + (h2 >> 20) % 65535:x}"
        )
        card["live_data_session"] = session
        if include_pin_puk_codes:
            card["pin_puk_codes"] = {
                "pin1": f"{h3 % 10_000:04d}",
                "pin2": f"{(h3 >> 14) % 10_000:04d}",
                "puk1": f"{(h3 >> 28) % 10**8:08d}",
                "puk2": f"{(h2 >> 30) % 10**8:08d}",
            }
