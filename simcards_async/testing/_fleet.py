"""`Fleet`: a deterministic fleet of SIM cards and SIM card actions, rendered on demand.

Pure: no I/O and no clock. Everything is a function of the seed (and, after a change, of the
RNG that made it), so two fleets built with the same arguments give the same bytes. The work
is split by job: `_vocab` (the values), `_codes` (ids and numbers as permutations of a row),
`_generate` (drawing records), `_columns` (storage and changes), `_select` (filters and
sorts) and `_render` (rows as JSON); this class wires them together.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, ClassVar

from . import _checks
from ._codes import Codes, mix, seeded_rng
from ._columns import Columns
from ._generate import build_actions, build_sim_cards, make_groups, tag_table
from ._render import Renderer
from ._select import Selector

if TYPE_CHECKING:
    import random
    from collections.abc import Iterable, Iterator, Sequence

    from ._vocab import JSONObject


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

    #: The most SIM cards, and the most actions, a fleet holds: it keeps every record in
    #: memory, in about 125 bytes (10,000,000 cards take about 1.2 GB).
    MAX_RECORDS: ClassVar[int] = 10_000_000

    def __init__(self, *, sim_cards: int = 3000, actions: int = 3000, seed: int = 1) -> None:
        # Typed as called: a caller may pass anything.
        sizes: dict[str, object] = {"sim_cards": sim_cards, "actions": actions}
        for name, count in sizes.items():
            _checks.require(
                _checks.count(count) and count <= self.MAX_RECORDS,
                name,
                f"an integer from 0 to {self.MAX_RECORDS:,} (a fleet is held in memory)",
                count,
            )
        _checks.require(
            _checks.int64(seed), "seed", "an integer of 64 bits (-2**63 to 2**63 - 1)", seed
        )
        if actions and not sim_cards:
            raise ValueError("actions need at least one SIM card to refer to")
        self._seed = seed
        key = mix(seed * 0x100000001B3 + 0x5EED)
        self._rng = seeded_rng("changes", seed)
        groups = make_groups(seed)
        codes = Codes(key)
        self._cols = Columns(key, tag_table(seed))
        build_sim_cards(self._cols, seed, sim_cards)
        build_actions(self._cols, seed, actions)
        self._select = Selector(self._cols, codes, [g["id"] for g in groups])
        self._render = Renderer(self._cols, codes, groups, key)
        self._group_count = len(groups)

    # -- public, high level ---------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The seed everything derives from."""
        return self._seed

    @property
    def version(self) -> int:
        """A counter that goes up with every insert or delete."""
        return self._cols.version

    @property
    def sim_card_count(self) -> int:
        """How many SIM cards exist now."""
        return len(self._cols.c_order)

    @property
    def action_count(self) -> int:
        """How many SIM card actions exist now."""
        return len(self._cols.a_order)

    def sim_card_groups(self) -> list[JSONObject]:
        """The SIM card groups the cards belong to, as the API renders them."""
        return [self._render.group(i) for i in range(self._group_count)]

    def sim_card_ids(self) -> list[str]:
        """The ids of all SIM cards, in listing order."""
        text = self._cols.c_ids.text
        return [text(row) for row in self._cols.c_order]

    def action_ids(self) -> list[str]:
        """The ids of all SIM card actions, in listing order."""
        text = self._cols.a_ids.text
        return [text(row) for row in self._cols.a_order]

    def sim_cards(self, *, include_sim_card_group: bool = False) -> Iterator[JSONObject]:
        """Yield every SIM card as a ``SimpleSIMCard``, in listing order."""
        for row in array("I", self._cols.c_order):
            yield self.render_sim_card(row, include_sim_card_group=include_sim_card_group)

    def actions(self) -> Iterator[JSONObject]:
        """Yield every SIM card action, in listing order."""
        for row in array("I", self._cols.a_order):
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

    def room(self) -> tuple[int, int]:
        """How many more SIM cards, and actions, the fleet may take (``MAX_RECORDS``).

        Deleted records count: their rows stay in memory.
        """
        most, cols = self.MAX_RECORDS, self._cols
        return most - len(cols.c_created), most - len(cols.a_created)

    def _check_room(self, method: str, count: int, room: int) -> None:
        if _checks.count(count) and count > room:
            _checks.refuse(
                "count",
                f"an integer from 0 to {room:,} (a fleet holds at most {self.MAX_RECORDS:,}, "
                "deleted ones included)",
                count,
                owner=f"{method}: ",
            )

    def insert_sim_cards(self, count: int, *, rng: random.Random | None = None) -> list[str]:
        """Add ``count`` SIM cards newer than all others; return their ids, newest first."""
        self._check_room("insert_sim_cards", count, self.room()[0])
        return self._cols.insert_sim_cards(count, rng or self._rng)

    def delete_sim_cards(
        self, ids_or_count: int | Iterable[str], *, rng: random.Random | None = None
    ) -> list[str]:
        """Delete the given SIM cards, or that many chosen at random; return the deleted ids.

        Unknown or already deleted ids are skipped. Actions of a deleted card stay.
        """
        return self._cols.delete_sim_cards(ids_or_count, rng or self._rng)

    def insert_actions(self, count: int, *, rng: random.Random | None = None) -> list[str]:
        """Add ``count`` actions on random live cards, newest of all; return ids, newest first."""
        self._check_room("insert_actions", count, self.room()[1])
        return self._cols.insert_actions(count, rng or self._rng)

    def delete_actions(
        self, ids_or_count: int | Iterable[str], *, rng: random.Random | None = None
    ) -> list[str]:
        """Delete the given actions, or that many chosen at random; return the deleted ids."""
        return self._cols.delete_actions(ids_or_count, rng or self._rng)

    # -- low level: rows ------------------------------------------------------------------

    def sim_card_row(self, id: str) -> int | None:
        """The row of a live SIM card, or None."""
        row = self._cols.c_ids.row_of(id)
        return row if row is not None and self._cols.c_alive[row] else None

    def action_row(self, id: str) -> int | None:
        """The row of a live action, or None."""
        row = self._cols.a_ids.row_of(id)
        return row if row is not None and self._cols.a_alive[row] else None

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
        return self._select.sim_card_rows(
            status=status,
            tags=tags,
            iccid=iccid,
            msisdn=msisdn,
            sim_card_group_id=sim_card_group_id,
            sort=sort,
        )

    def action_rows(
        self,
        *,
        sim_card_id: str | None = None,
        status: str | None = None,
        bulk_sim_card_action_id: str | None = None,
        action_type: str | None = None,
    ) -> Sequence[int]:
        """Rows of the actions that match every given filter (all exact), in listing order."""
        return self._select.action_rows(
            sim_card_id=sim_card_id,
            status=status,
            bulk_sim_card_action_id=bulk_sim_card_action_id,
            action_type=action_type,
        )

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
        return self._render.sim_card(
            row,
            detailed=detailed,
            include_sim_card_group=include_sim_card_group,
            include_pin_puk_codes=include_pin_puk_codes,
        )

    def render_action(self, row: int) -> JSONObject:
        """Render one row as a ``SIMCardAction`` (plus ``bulk_sim_card_action_id``)."""
        return self._render.action(row)
