"""Typed arguments -> validated query strings, in the official SDK's wire format.

Pure: nothing here does I/O. Every check raises ``InvalidParameterError``
naming the argument and what it accepts, so a bad call fails before a request
is sent. The wire format is byte-for-byte what ``telnyx`` (the official Python
SDK) sends for the same call: ``urllib.parse.urlencode`` with ``quote_plus``,
so brackets and commas are percent-encoded (``filter%5Bstatus%5D=enabled%2Cdisabled``),
arrays are comma-joined, booleans are ``true``/``false``, and parameters come
in the SDK's order (filters, ``page[number]``, ``page[size]``, then ``sort``).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from ._arguments import checked_bool, checked_int, plain_str
from ._errors import InvalidParameterError

__all__ = [
    "MAX_PAGE_SIZE",
    "SIM_CARD_ACTION_STATUSES",
    "SIM_CARD_ACTION_TYPES",
    "SIM_CARD_SORTS",
    "SIM_CARD_STATUSES",
    "ListQuery",
    "Ordering",
    "Predicate",
    "record_id",
    "sim_card_action_path",
    "sim_card_actions_query",
    "sim_card_path",
    "sim_cards_query",
]

#: Values ``filter[status]`` accepts on ``/sim_cards``.
SIM_CARD_STATUSES = ("enabled", "disabled", "standby", "data_limit_exceeded", "unauthorized_imei")
#: Values ``sort`` accepts on ``/sim_cards``; a leading ``-`` sorts descending.
SIM_CARD_SORTS = (
    "current_billing_period_consumed_data.amount",
    "-current_billing_period_consumed_data.amount",
)
#: Values ``filter[status]`` accepts on ``/sim_card_actions``.
SIM_CARD_ACTION_STATUSES = ("in-progress", "completed", "failed")
#: Values ``filter[action_type]`` accepts on ``/sim_card_actions``.
SIM_CARD_ACTION_TYPES = (
    "enable",
    "enable_standby_sim_card",
    "disable",
    "set_standby",
    "remove_public_ip",
    "set_public_ip",
)
MAX_PAGE_SIZE = 250
#: The highest ``start_page``: a page number no server counts to (2 ** 31 - 1, a signed
#: 32-bit integer), and one Python can still write into a URL.
_MAX_START_PAGE = 2**31 - 1

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: C0 and C1 control characters (C1's 0x9b is a terminal's CSI, as ESC [ is).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --- what a filter means, applied to an item -----------------------------------------
#
# Built beside the wire parameters from the same validated values, so that a merge can
# tell which queries an item matches without parsing the wire strings back.


@dataclass(frozen=True)
class Predicate:
    """One filter's meaning on an item: ``item.<field>`` compared as the API compares it.

    ``how`` is ``"in"`` (the value is one of ``values``), ``"all"`` (the item's list has
    every one of ``values``), ``"contains"`` (the text holds ``values[0]``), ``"uuid"`` (the
    same UUID as ``values[0]``, given in lower case, in any case, as the API compares them)
    or ``"equals"``.
    ``status`` is compared by its ``value``.
    """

    field: str
    how: str
    values: tuple[str, ...]

    @classmethod
    def same_uuid(cls, field: str, uuid: str) -> Predicate:
        """``item.<field>`` is ``uuid`` in any case: kept in lower case, as ``"uuid"`` wants."""
        return cls(field, "uuid", (uuid.lower(),))

    def __call__(self, item: object) -> bool:
        got: Any = getattr(item, self.field, None)
        if self.field == "status":
            got = getattr(got, "value", None)
        if self.how == "in":
            return got in self.values
        if self.how == "all":
            return isinstance(got, (tuple, list)) and set(self.values) <= set(got)
        if self.how == "contains":
            return isinstance(got, str) and self.values[0] in got
        if self.how == "uuid":
            return isinstance(got, str) and got.lower() == self.values[0]
        return bool(got == self.values[0])


_NO_AMOUNT = Decimal(0)


@dataclass(frozen=True)
class Ordering:
    """A ``sort`` value's meaning on an item: the field the API sorts by, and the direction.

    ``key(item)`` ascends along the listing's order (a descending sort's amounts are
    negated, exactly: ``-value`` rounds to the context's 28 digits, and overflows past its
    exponent range), so listings sorted the same way can be merged in order by it. The spec does
    not say where a card without an amount goes: here it counts as the smallest amount
    (first ascending, last descending), as does a ``NaN`` amount (which has no order);
    ``Infinity`` and ``-Infinity`` sort at their ends. A merge checks each page's order.
    """

    sort: str
    path: tuple[str, ...]
    descending: bool

    @classmethod
    def of(cls, sort: str) -> Ordering:
        """The ordering of an already validated ``sort`` value."""
        descending = sort.startswith("-")
        return cls(sort, tuple(sort.removeprefix("-").split(".")), descending)

    def key(self, item: object) -> tuple[int, Decimal]:
        """A value that ascends along this ordering: (rank, amount), no amount ranked apart."""
        value: Any = item
        for name in self.path:
            value = getattr(value, name, None)
        if not isinstance(value, Decimal) or value.is_nan():  # a NaN has no place: none
            return (1, _NO_AMOUNT) if self.descending else (-1, _NO_AMOUNT)
        return (0, value.copy_negate()) if self.descending else (0, value)

    def raw_key(self, record: object) -> tuple[int, Decimal]:
        """``key`` of a raw record, from the value its listing's decoder read (``sort_value``)."""
        value = getattr(record, "sort_value", None)
        # The rule of ``key``, written out again: ``key`` is the typed merge's hot path.
        if not isinstance(value, Decimal) or value.is_nan():
            return (1, _NO_AMOUNT) if self.descending else (-1, _NO_AMOUNT)
        return (0, value.copy_negate()) if self.descending else (0, value)


@dataclass(frozen=True)
class ListQuery:
    """A validated listing request, minus the page number.

    ``filters`` are the wire parameters the SDK sends before ``page[...]``,
    ``trailing`` the ones it sends after (``sort``). ``params`` gives them all
    as one mapping, for fingerprints and for telling listings apart. ``predicates``
    are the filters' meaning on an item (``matches``), ``ordering`` the ``sort``'s.
    """

    path: str
    filters: tuple[tuple[str, str], ...]
    trailing: tuple[tuple[str, str], ...]
    page_size: int
    start_page: int
    limit: int | None
    predicates: tuple[Predicate, ...] = field(default=(), compare=False)
    ordering: Ordering | None = field(default=None, compare=False)

    def matches(self, item: object) -> bool:
        """Whether ``item`` passes every filter of this query, with the API's meaning."""
        return all(test(item) for test in self.predicates)

    @property
    def params(self) -> dict[str, str]:
        """Every wire parameter except the page number, by wire name."""
        return {**dict(self.filters), "page[size]": str(self.page_size), **dict(self.trailing)}

    def target(self, page_number: int) -> str:
        """The path and encoded query string of one page, e.g. ``/sim_cards?...``."""
        before, after = self._around_page_number
        return f"{before}{page_number}{after}"

    @functools.cached_property
    def _around_page_number(self) -> tuple[str, str]:
        # Encoded once: only the page number changes from one page to the next.
        marker = "0"
        pairs = [
            *self.filters,
            ("page[number]", marker),
            ("page[size]", str(self.page_size)),
            *self.trailing,
        ]
        encoded = urlencode(pairs)
        head = urlencode([*self.filters, ("page[number]", marker)])
        return f"{self.path}?{head[:-1]}", encoded[len(head) :]


# --- argument checks --------------------------------------------------------------


# Every check gives back a plain str or int (``_arguments``).


def _text(name: str, value: object) -> str:
    allowed = "a non-empty string without control characters"
    if not isinstance(value, str) or not value.strip() or _CONTROL.search(value):
        raise InvalidParameterError(name, allowed, value)
    if not _is_utf8(value):
        raise InvalidParameterError(name, "text that is valid Unicode (no lone surrogates)", value)
    return plain_str(value)


def _is_utf8(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _uuid(name: str, value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise InvalidParameterError(
            name, "a UUID such as '6a09cdc3-8948-47f0-aa62-74ac943d6c58'", value
        )
    return plain_str(value)


def _choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        names = ", ".join(map(repr, allowed))
        # A list where one value goes (as status= takes for SIM cards) said the value
        # given was not among the values it listed: its one value was.
        one = " (one value, not a list)" if isinstance(value, (list, tuple)) else ""
        raise InvalidParameterError(name, f"one of {names}{one}", value, choices=allowed)
    return plain_str(value)


def _strings(
    name: str, value: object, allowed: str = "", choices: Sequence[str] = ()
) -> tuple[str, ...]:
    """A string or a non-empty sequence of strings (of ``choices``, if given), as a tuple."""
    if isinstance(value, str):
        return (plain_str(value),)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (bytes, bytearray))
        and value
        and all(isinstance(v, str) for v in value)
    ):
        return tuple(map(plain_str, value))
    raise InvalidParameterError(
        name, f"a string or a non-empty list of strings{allowed}", value, choices=choices
    )


def _choices(name: str, value: object, allowed: Sequence[str]) -> tuple[str, ...]:
    names = ", ".join(map(repr, allowed))
    items = _strings(name, value, f", each one of {names}", allowed)
    for item in items:
        if item not in allowed:
            raise InvalidParameterError(name, f"any of {names}", item, choices=allowed)
    return items


def _tags(value: object) -> tuple[str, ...]:
    items = _strings("tags", value)
    for item in items:
        # The API reads the value comma-separated: a tag with a comma cannot be asked for.
        if not item.strip() or "," in item or _CONTROL.search(item) or not _is_utf8(item):
            raise InvalidParameterError(
                "tags", "non-empty Unicode strings without commas or control characters", item
            )
    return items


def _paging(page_size: object, start_page: object, limit: object) -> tuple[int, int, int | None]:
    size = checked_int("page_size", page_size, 1, MAX_PAGE_SIZE)
    start = checked_int("start_page", start_page, 1, _MAX_START_PAGE)
    cap = None if limit is None else checked_int("limit", limit, 1)
    return size, start, cap


# --- the four requests ----------------------------------------------------------


def sim_cards_query(
    *,
    status: object = None,
    tags: object = None,
    iccid: object = None,
    msisdn: object = None,
    sim_card_group_id: object = None,
    include_sim_card_group: object = False,
    sort: object = None,
    page_size: object = 250,
    start_page: object = 1,
    limit: object = None,
) -> ListQuery:
    """Validate the arguments of ``GET /sim_cards`` and build its query."""
    filters: list[tuple[str, str]] = []
    tests: list[Predicate] = []
    if status is not None:
        statuses = _choices("status", status, SIM_CARD_STATUSES)
        filters.append(("filter[status]", ",".join(statuses)))
        tests.append(Predicate("status", "in", statuses))
    if tags is not None:
        wanted = _tags(tags)
        filters.append(("filter[tags]", ",".join(wanted)))
        tests.append(Predicate("tags", "all", wanted))
    if iccid is not None:
        part = _text("iccid", iccid)
        filters.append(("filter[iccid]", part))
        tests.append(Predicate("iccid", "contains", (part,)))
    if msisdn is not None:
        number = _text("msisdn", msisdn)
        filters.append(("filter[msisdn]", number))
        tests.append(Predicate("msisdn", "equals", (number,)))
    if sim_card_group_id is not None:
        group = _uuid("sim_card_group_id", sim_card_group_id)
        filters.append(("filter[sim_card_group_id]", group))
        tests.append(Predicate.same_uuid("sim_card_group_id", group))
    if checked_bool("include_sim_card_group", include_sim_card_group):
        filters.append(("include_sim_card_group", "true"))
    order = None if sort is None else Ordering.of(_choice("sort", sort, SIM_CARD_SORTS))
    trailing = () if order is None else (("sort", order.sort),)
    size, start, cap = _paging(page_size, start_page, limit)
    _check_query_length(filters)
    return ListQuery("/sim_cards", tuple(filters), trailing, size, start, cap, tuple(tests), order)


#: The most bytes the filters may take in a page's URL: servers refuse a request line past
#: 8 KiB or so with a bare 400 (or drop it), which named no parameter.
MAX_FILTER_BYTES = 4096


def _check_query_length(filters: list[tuple[str, str]]) -> None:
    """Refuse filters too long for a URL, naming the argument whose value is the longest.

    Text filters, or a list of statuses repeated: the filter ``filter[x]`` is argument ``x``.
    """
    size = len(urlencode(filters))
    if size <= MAX_FILTER_BYTES:
        return
    _, (wire, value) = max((len(urlencode([pair])), pair) for pair in filters)
    raise InvalidParameterError(
        wire.removeprefix("filter[").removesuffix("]"),
        f"values whose filters fit in {MAX_FILTER_BYTES:,} bytes of the URL (these take "
        f"{size:,}: a server refuses such a request line)",
        value,  # as sent (tags joined by commas); the message cuts it, saying how long it is
    )


def sim_card_actions_query(
    *,
    sim_card_id: object = None,
    status: object = None,
    bulk_sim_card_action_id: object = None,
    action_type: object = None,
    page_size: object = 250,
    start_page: object = 1,
    limit: object = None,
) -> ListQuery:
    """Validate the arguments of ``GET /sim_card_actions`` and build its query."""
    filters: list[tuple[str, str]] = []
    tests: list[Predicate] = []
    if sim_card_id is not None:
        card = _uuid("sim_card_id", sim_card_id)
        filters.append(("filter[sim_card_id]", card))
        tests.append(Predicate.same_uuid("sim_card_id", card))
    if status is not None:
        state = _choice("status", status, SIM_CARD_ACTION_STATUSES)
        filters.append(("filter[status]", state))
        tests.append(Predicate("status", "in", (state,)))
    if bulk_sim_card_action_id is not None:
        bulk = _uuid("bulk_sim_card_action_id", bulk_sim_card_action_id)
        filters.append(("filter[bulk_sim_card_action_id]", bulk))
        tests.append(Predicate.same_uuid("bulk_sim_card_action_id", bulk))
    if action_type is not None:
        kind = _choice("action_type", action_type, SIM_CARD_ACTION_TYPES)
        filters.append(("filter[action_type]", kind))
        tests.append(Predicate("action_type", "equals", (kind,)))
    size, start, cap = _paging(page_size, start_page, limit)
    return ListQuery("/sim_card_actions", tuple(filters), (), size, start, cap, tuple(tests))


def record_id(id: object) -> str:
    """The id of ``GET /sim_cards/{id}`` or ``/sim_card_actions/{id}``, checked, as plain text."""
    return _uuid("id", id)


def sim_card_path(
    id: object, *, include_sim_card_group: object = False, include_pin_puk_codes: object = False
) -> str:
    """Validate the arguments of ``GET /sim_cards/{id}`` and build its target."""
    target = "/sim_cards/" + quote(_uuid("id", id), safe="")
    params = []
    if checked_bool("include_pin_puk_codes", include_pin_puk_codes):
        params.append(("include_pin_puk_codes", "true"))
    if checked_bool("include_sim_card_group", include_sim_card_group):
        params.append(("include_sim_card_group", "true"))
    return f"{target}?{urlencode(params)}" if params else target


def sim_card_action_path(id: object) -> str:
    """Validate the argument of ``GET /sim_card_actions/{id}`` and build its target."""
    return "/sim_card_actions/" + quote(_uuid("id", id), safe="")
