"""Which rows a listing shows, in which order: the filters and sorts of both listings.

Column scans over `Columns`; results are cached per query (at most 16, a million rows are
4 MB a view) until the data changes.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from typing import TYPE_CHECKING

from ._vocab import ACTION_STATUSES, ACTION_TYPES, SIM_CARD_STATUSES, SIM_CARD_TAGS, SORT_KEYS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._codes import Codes
    from ._columns import Columns

_ICCID_SLOT = 21  # width of one ICCID in the search text, padded with newlines


class Selector:
    """Filters and sorts the rows of one fleet's `Columns`."""

    def __init__(self, cols: Columns, codes: Codes, group_ids: Sequence[str]) -> None:
        self._cols = cols
        self._codes = codes
        self._group_rows = {gid: i for i, gid in enumerate(group_ids)}
        self._tag_bits = {tag: 1 << i for i, tag in enumerate(SIM_CARD_TAGS)}
        self._iccid_text: list[str] = []  # filled on the first filter[iccid]
        self._iccid_rows = 0  # rows the text covers
        self._views: OrderedDict[tuple[object, ...], array[int]] = OrderedDict()
        self._version = cols.version

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
        """Rows of the cards that match every given filter, in listing (or ``sort``) order."""
        statuses = tuple(sorted(set(status)))
        tag_set = tuple(sorted(set(tags)))
        key = ("c", statuses, tag_set, iccid, msisdn, sim_card_group_id, sort)
        found = self._view(key)
        if found is not None:
            return found
        if sort is not None and sort not in SORT_KEYS:
            raise ValueError(f"unknown sort {sort!r}")
        cols = self._cols
        rows: Sequence[int] = cols.c_order
        if msisdn is not None:
            row = self._codes.msisdn_row(msisdn, len(cols.c_alive))
            rows = [row] if row is not None and cols.c_alive[row] else []
        if sim_card_group_id is not None:
            code = self._group_rows.get(sim_card_group_id.lower())
            group = cols.c_group
            rows = [] if code is None else [r for r in rows if group[r] == code]
        if statuses:
            rows = self._status_filter(rows, statuses)
        if tag_set:
            rows = self._tag_filter(rows, tag_set)
        if iccid:
            rows = self._iccid_filter(rows, iccid)
        if sort is not None:
            # Two stable sorts (reverse=True keeps ties in order): by id, then by consumption.
            by_id = cols.c_ids.sorted(rows)
            rows = sorted(by_id, key=cols.c_consumed.__getitem__, reverse=sort.startswith("-"))
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
        cols = self._cols
        rows: Sequence[int] = cols.a_order
        if sim_card_id is not None:
            card = cols.c_ids.row_of(sim_card_id)
            cards = cols.a_card
            rows = [] if card is None else [r for r in rows if cards[r] == card]
        if bulk_sim_card_action_id is not None:
            bulk = self._codes.bulk_number(bulk_sim_card_action_id, cols.bulk_count)
            bulks = cols.a_bulk
            rows = [] if bulk is None else [r for r in rows if bulks[r] == bulk]
        if status is not None:
            code = ACTION_STATUSES.index(status) if status in ACTION_STATUSES else -1
            st = cols.a_status
            rows = [r for r in rows if st[r] == code]
        if action_type is not None:
            code = ACTION_TYPES.index(action_type) if action_type in ACTION_TYPES else -1
            types = cols.a_type
            rows = [r for r in rows if types[r] == code]
        return self._store(key, rows)

    # -- the filters ------------------------------------------------------------------------

    def _status_filter(self, rows: Sequence[int], statuses: Iterable[str]) -> list[int]:
        wanted = bytearray(256)
        for value in statuses:
            if value in SIM_CARD_STATUSES:
                wanted[SIM_CARD_STATUSES.index(value)] = 1
        st = self._cols.c_status
        return [r for r in rows if wanted[st[r]]]

    def _tag_filter(self, rows: Sequence[int], tags: Iterable[str]) -> list[int]:
        need = 0
        for tag in tags:
            need |= self._tag_bits.get(tag, 1 << 8)  # an unknown tag matches nothing
        tg = self._cols.c_tags
        return [r for r in rows if tg[r] & need == need]

    def _iccid_filter(self, rows: Sequence[int], needle: str) -> list[int]:
        if "\n" in needle:
            return []
        text, width = self._iccid_search_text(), _ICCID_SLOT
        hit = bytearray(len(self._cols.c_alive))
        pos = text.find(needle)
        while pos >= 0:
            slot = pos // width
            hit[slot] = 1
            pos = text.find(needle, (slot + 1) * width)
        return [r for r in rows if hit[r]]

    def _iccid_search_text(self) -> str:
        """Every card's ICCID in a fixed-width slot, built once and extended with new rows."""
        cols = self._cols
        if not self._iccid_text or self._iccid_rows < len(cols.c_alive):
            iccid, group = self._codes.iccid, cols.c_group
            rows = range(self._iccid_rows, len(cols.c_alive))
            self._iccid_text.append(
                "".join([iccid(r, group[r]).ljust(_ICCID_SLOT, "\n") for r in rows])
            )
            self._iccid_rows = len(cols.c_alive)
        if len(self._iccid_text) > 1:
            self._iccid_text[:] = ["".join(self._iccid_text)]
        return self._iccid_text[0]

    # -- the cache --------------------------------------------------------------------------

    def _view(self, key: tuple[object, ...]) -> array[int] | None:
        if self._version != self._cols.version:  # the data changed: every view is stale
            self._views.clear()
            self._version = self._cols.version
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
