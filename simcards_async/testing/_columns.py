"""The fleet's storage: one row per record in compact columns, and the changes to them.

Each record lives as one *row* in a handful of columns, just the values needed to filter and
sort: status codes, tag bitmasks and group indexes (``bytearray``), consumed data in tenths
of a megabyte, ``created_at`` in epoch milliseconds (``array``) and the 16 bytes of the id
(one ``bytearray`` for all rows). A million cards cost some 30 MB.

Rows are never reused: deleting only marks a row dead, inserting appends new rows whose
``created_at`` is newer than everything before, which is what puts them at the head of the
default order (newest ``created_at`` first, ties by id).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import _checks
from ._codes import Ids
from ._generate import append_actions, append_sim_cards
from ._vocab import ACTION_START_MS, START_MS

if TYPE_CHECKING:
    import random


class Columns:
    """The rows of a fleet's cards (``c_*``) and actions (``a_*``), and a change counter."""

    def __init__(self, key: int, tag_table: bytes) -> None:
        self.version = 0
        self.tag_table = tag_table
        self.c_ids = Ids(key + 3)
        self.c_status = bytearray()
        self.c_tags = bytearray()
        self.c_group = bytearray()
        self.c_consumed: array[int] = array("I")  # tenths of a megabyte
        self.c_created: array[int] = array("Q")  # epoch milliseconds
        self.c_alive = bytearray()
        self.c_order: array[int] = array("I")  # live rows, newest first

        self.a_ids = Ids(key + 4)
        self.a_card: array[int] = array("I")
        self.a_type = bytearray()
        self.a_status = bytearray()
        self.a_bulk: array[int] = array("I")  # 0 = not part of a bulk action
        self.a_created: array[int] = array("Q")
        self.a_alive = bytearray()
        self.a_order: array[int] = array("I")
        self.bulk_count = 0

    def insert_sim_cards(self, count: int, rng: random.Random) -> list[str]:
        """Add ``count`` cards newer than all others; return their ids, newest first."""
        _check_count("insert_sim_cards", count)
        if count == 0:
            return []
        last = self.c_created[-1] if self.c_created else START_MS
        created = []
        for _ in range(count):
            last += 1000 + rng.randrange(59_000)
            created.append(last)
        rows = append_sim_cards(self, rng, created)
        self.c_order[0:0] = array("I", reversed(rows))
        self.version += 1
        return [self.c_ids.text(row) for row in reversed(rows)]

    def insert_actions(self, count: int, rng: random.Random) -> list[str]:
        """Add ``count`` actions on random live cards, newest of all; return ids, newest first."""
        _check_count("insert_actions", count)
        if count == 0 or not self.c_order:
            return []
        last = self.a_created[-1] if self.a_created else ACTION_START_MS
        created, cards = [], []
        for _ in range(count):
            last += 500 + rng.randrange(30_000)
            created.append(last)
            cards.append(self.c_order[rng.randrange(len(self.c_order))])
        rows = append_actions(self, rng, created, cards, [0] * count)
        self.a_order[0:0] = array("I", reversed(rows))
        self.version += 1
        return [self.a_ids.text(row) for row in reversed(rows)]

    def delete_sim_cards(self, ids_or_count: int | Iterable[str], rng: random.Random) -> list[str]:
        """Delete these cards, or that many at random; return the ids deleted."""
        rows = self._pick(
            ids_or_count, self.c_ids, self.c_alive, self.c_order, rng, method="delete_sim_cards"
        )
        self._remove(rows, self.c_alive, self.c_order)
        return [self.c_ids.text(row) for row in rows]

    def delete_actions(self, ids_or_count: int | Iterable[str], rng: random.Random) -> list[str]:
        """Delete these actions, or that many at random; return the ids deleted."""
        rows = self._pick(
            ids_or_count, self.a_ids, self.a_alive, self.a_order, rng, method="delete_actions"
        )
        self._remove(rows, self.a_alive, self.a_order)
        return [self.a_ids.text(row) for row in rows]

    @staticmethod
    def _pick(
        ids_or_count: int | Iterable[str],
        ids: Ids,
        alive: bytearray,
        order: array[int],
        rng: random.Random,
        *,
        method: str,
    ) -> list[int]:
        """The live rows ``method`` deletes: these ids (unknown ones skipped), or that many.

        A str is refused, not read as one id: iterated, its characters deleted nothing.
        """
        given: object = ids_or_count  # as given, whatever the annotation says
        if _checks.count(given):
            positions = rng.sample(range(len(order)), min(given, len(order)))
            return [order[p] for p in positions]
        owner = f"{method}: "
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            _checks.refuse("ids_or_count", _IDS_OR_COUNT, given, owner=owner)
        texts = list(given)
        for text in texts:
            _checks.require(isinstance(text, str), "ids_or_count", _IDS_OR_COUNT, text, owner=owner)
        rows = []
        for text in texts:
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
        self.version += 1


#: What ``delete_*`` takes, as a refusal says it.
_IDS_OR_COUNT = "a list of ids (one id too: [id]) or an integer >= 0"


def _check_count(method: str, count: object) -> None:
    """Refuse a count that is no int >= 0 (a bool, a float, a str), naming ``method``."""
    _checks.require(_checks.count(count), "count", "an integer >= 0", count, owner=f"{method}: ")
