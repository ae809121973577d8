"""Properties: valid arguments reach the server intact, any body decodes or fails cleanly,
and bad arguments fail before anything is sent.

``tests/test_query.py`` pins the pure encoding table; these go end to end, through the
client's public methods to ``MockTelnyxServer``, which parses requests with code of its
own, and through the transport to an ``aiohttp.web`` handler answering whatever
hypothesis draws.
"""

from __future__ import annotations

import contextlib
import gc
import math
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from servers import serve

from simcards_async import (
    SIM_CARD_ACTION_STATUSES,
    SIM_CARD_ACTION_TYPES,
    SIM_CARD_SORTS,
    SIM_CARD_STATUSES,
    APIResponseValidationError,
    APIStatusError,
    DriftWarning,
    InvalidParameterError,
    PaginationError,
    SimCard,
    SimCardAction,
    SimCardsClient,
    TelnyxError,
    merge,
)
from simcards_async._models import (
    decode_errors,
    decode_sim_card,
    decode_sim_card_action,
    decode_sim_card_action_page,
    decode_sim_card_page,
)
from simcards_async.testing import Fleet, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYprops-0123456789abcdef"


def _with_fixtures(examples: int) -> settings:
    """Hypothesis settings for a test that shares one server across its examples."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# --- a server and what it serves ------------------------------------------------------------


# The fleet the server fixture serves, built here too so that strategies (made at import)
# can draw real values from it: filters that match something, not only random text.
_SIZE, _SEED = 400, 7
_FLEET = Fleet(sim_cards=_SIZE, actions=_SIZE, seed=_SEED)
_CARDS = [_FLEET.render_sim_card(row) for row in range(_SIZE)]
_ACTIONS = [_FLEET.render_action(row) for row in range(_SIZE)]


_ALL_CARDS = {c.id: c for c in msgspec.json.decode(msgspec.json.encode(_CARDS), type=list[SimCard])}
_ALL_ACTIONS = {
    a.id: a for a in msgspec.json.decode(msgspec.json.encode(_ACTIONS), type=list[SimCardAction])
}


def _page_of(matching: list[str], page_size: int, page: int) -> list[str]:
    return matching[(page - 1) * page_size : page * page_size]


def _pool(records: list[dict[str, Any]], name: str) -> list[Any]:
    return sorted({r[name] for r in records if r.get(name)})


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    """A deterministic fleet of 400 cards and 400 actions."""
    async with MockTelnyxServer(sim_cards=_SIZE, actions=_SIZE, seed=_SEED) as mock:
        yield mock


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[SimCardsClient]:
    """A client of ``server`` that does not retry."""
    async with SimCardsClient(KEY, server.url, max_retries=0) as sc:
        yield sc


# Text a filter may hold: no control characters, no lone surrogates, not blank.
_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=12).filter(
    str.strip
)
_TAG = _TEXT.filter(lambda t: "," not in t)


def _uuids(real: list[str]) -> st.SearchStrategy[str | uuid.UUID]:
    some = st.sampled_from(real) if real else st.nothing()
    return st.one_of(
        some,
        some.map(str.upper),
        some.map(uuid.UUID),
        st.uuids().map(str),
    )


def _some(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


def _card_arguments() -> st.SearchStrategy[dict[str, Any]]:
    tags = sorted({t for card in _CARDS for t in card["tags"]})
    tag = st.one_of(st.sampled_from(tags), st.sampled_from(tags), _TAG)
    iccid_part = st.tuples(
        st.sampled_from(_pool(_CARDS, "iccid")), st.integers(0, 10), st.integers(1, 20)
    ).map(lambda t: t[0][t[1] : t[1] + t[2]] or t[0])
    return st.fixed_dictionaries(
        {
            "status": _some(
                st.one_of(
                    st.sampled_from(SIM_CARD_STATUSES),
                    st.lists(st.sampled_from(SIM_CARD_STATUSES), min_size=1, max_size=4),
                )
            ),
            "tags": _some(st.one_of(tag, st.lists(tag, min_size=1, max_size=3))),
            "iccid": _some(st.one_of(iccid_part, iccid_part, _TEXT)),
            "msisdn": _some(st.one_of(*[st.sampled_from(_pool(_CARDS, "msisdn"))] * 3, _TEXT)),
            "sim_card_group_id": _some(_uuids(_pool(_CARDS, "sim_card_group_id"))),
            "include_sim_card_group": st.booleans(),
            "sort": _some(st.sampled_from(SIM_CARD_SORTS)),
        }
    )


def _action_arguments() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "sim_card_id": _some(_uuids(_pool(_ACTIONS, "sim_card_id"))),
            "status": _some(st.sampled_from(SIM_CARD_ACTION_STATUSES)),
            "bulk_sim_card_action_id": _some(_uuids(_pool(_ACTIONS, "bulk_sim_card_action_id"))),
            "action_type": _some(st.sampled_from(SIM_CARD_ACTION_TYPES)),
        }
    )


_PAGING = st.tuples(st.integers(1, 250), st.one_of(st.integers(1, 3), st.integers(1, 10**6)))

_WIRE_NAMES = {
    "status": "filter[status]",
    "tags": "filter[tags]",
    "iccid": "filter[iccid]",
    "msisdn": "filter[msisdn]",
    "sim_card_group_id": "filter[sim_card_group_id]",
    "sim_card_id": "filter[sim_card_id]",
    "bulk_sim_card_action_id": "filter[bulk_sim_card_action_id]",
    "action_type": "filter[action_type]",
    "sort": "sort",
}


def _expected_query(arguments: dict[str, Any], page_size: int, page: int) -> dict[str, list[str]]:
    """The query the API should receive, decoded: one value per parameter."""
    query: dict[str, list[str]] = {"page[number]": [str(page)], "page[size]": [str(page_size)]}
    for name, value in arguments.items():
        if name == "include_sim_card_group":
            if value:
                query[name] = ["true"]
        elif value is not None:
            joined = ",".join(value) if isinstance(value, list) else str(value)
            query[_WIRE_NAMES[name]] = [joined]
    return query


def _card_matches(card: SimCard, arguments: dict[str, Any]) -> bool:
    """Whether ``card`` passes the filters, by the API's documented meaning of each."""
    status, tags = arguments["status"], arguments["tags"]
    group = arguments["sim_card_group_id"]
    return all(
        [
            status is None
            or card.status.value in ({status} if isinstance(status, str) else set(status)),
            tags is None or ({tags} if isinstance(tags, str) else set(tags)) <= set(card.tags),
            arguments["iccid"] is None or arguments["iccid"] in (card.iccid or ""),
            arguments["msisdn"] is None or card.msisdn == arguments["msisdn"],
            group is None or card.sim_card_group_id == str(group).lower(),
        ]
    )


def _action_matches(action: SimCardAction, arguments: dict[str, Any]) -> bool:
    """Whether ``action`` passes the filters (all exact matches)."""
    card, bulk = arguments["sim_card_id"], arguments["bulk_sim_card_action_id"]
    return all(
        [
            card is None or action.sim_card_id == str(card).lower(),
            arguments["status"] is None or action.status.value == arguments["status"],
            bulk is None or action.bulk_sim_card_action_id == str(bulk).lower(),
            arguments["action_type"] is None or action.action_type == arguments["action_type"],
        ]
    )


def _consumed(card: SimCard) -> Decimal:
    return card.current_billing_period_consumed_data.amount or Decimal(0)


# --- valid arguments round-trip -------------------------------------------------------------


@_with_fixtures(120)
@given(arguments=_card_arguments(), paging=_PAGING)
async def test_card_filters_reach_the_server_as_given_and_only_matches_come_back(
    server: MockTelnyxServer,
    client: SimCardsClient,
    arguments: dict[str, Any],
    paging: tuple[int, int],
) -> None:
    """Any valid ``sim_cards`` arguments arrive as the same filters, and the answer is exactly
    the matching cards' page (in ``sort`` order when asked).
    """
    page_size, page = paging
    server.requests.clear()
    stream = client.sim_cards(**arguments, page_size=page_size, start_page=page, limit=page_size)
    cards = await stream.collect()
    (record,) = server.requests
    assert record.status == 200
    assert record.query == _expected_query(arguments, page_size, page)
    assert all(_card_matches(card, arguments) for card in cards)
    matching = [i for i in server.current_sim_card_ids() if _card_matches(_ALL_CARDS[i], arguments)]
    if arguments["sort"] is None:
        assert [card.id for card in cards] == _page_of(matching, page_size, page)
    else:
        amounts = [_consumed(card) for card in cards]
        descending = arguments["sort"].startswith("-")
        assert amounts == sorted(amounts, reverse=descending)
        if page == 1:
            top = sorted(matching, key=lambda i: _consumed(_ALL_CARDS[i]), reverse=descending)
            assert amounts == [_consumed(_ALL_CARDS[i]) for i in top[:page_size]]
    embedded = arguments["include_sim_card_group"]
    assert all((card.sim_card_group is not None) == embedded for card in cards)
    assert all(
        card.sim_card_group is not None and card.sim_card_group.id == card.sim_card_group_id
        for card in cards
        if embedded
    )


@_with_fixtures(80)
@given(arguments=_action_arguments(), paging=_PAGING)
async def test_action_filters_reach_the_server_as_given_and_only_matches_come_back(
    server: MockTelnyxServer,
    client: SimCardsClient,
    arguments: dict[str, Any],
    paging: tuple[int, int],
) -> None:
    """Any valid ``sim_card_actions`` arguments arrive as the same filters, and the answer is
    exactly the matching actions' page.
    """
    page_size, page = paging
    server.requests.clear()
    stream = client.sim_card_actions(
        **arguments, page_size=page_size, start_page=page, limit=page_size
    )
    actions = await stream.collect()
    (record,) = server.requests
    assert record.status == 200
    assert record.query == _expected_query(arguments, page_size, page)
    assert all(_action_matches(action, arguments) for action in actions)
    matching = [
        i for i in server.current_action_ids() if _action_matches(_ALL_ACTIONS[i], arguments)
    ]
    assert [action.id for action in actions] == _page_of(matching, page_size, page)


@_with_fixtures(20)
@given(
    card_id=st.sampled_from(_pool(_CARDS, "id")).flatmap(
        lambda i: st.sampled_from([i, i.upper(), uuid.UUID(i)])
    ),
    group=st.booleans(),
    codes=st.booleans(),
)
async def test_single_card_flags_reach_the_server(
    server: MockTelnyxServer,
    client: SimCardsClient,
    card_id: str | uuid.UUID,
    *,
    group: bool,
    codes: bool,
) -> None:
    """``get_sim_card`` sends its id in the path and each flag that is set as ``true``."""
    plain = str(card_id).lower()
    server.requests.clear()
    got = await client.get_sim_card(
        card_id, include_sim_card_group=group, include_pin_puk_codes=codes
    )
    (record,) = server.requests
    assert record.status == 200
    assert record.path.lower() == f"/v2/sim_cards/{plain}"
    expected = {}
    if codes:
        expected["include_pin_puk_codes"] = ["true"]
    if group:
        expected["include_sim_card_group"] = ["true"]
    assert record.query == expected
    assert got.id == plain
    assert (got.pin_puk_codes is not None) == codes
    assert (got.sim_card_group is not None) == group


# --- any body through the decoders ------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_CARD_FIELDS = st.sampled_from(
    ["id", "iccid", "status", "tags", "created_at", "data_limit", "sim_card_group_id", "other"]
)
_CARD = st.dictionaries(_CARD_FIELDS, _JSON, max_size=6).map(lambda d: {"id": "x", **d})
_META = st.fixed_dictionaries(
    {
        "page_number": st.integers(0, 5),
        "page_size": st.integers(0, 250),
        "total_pages": st.integers(0, 9),
        "total_results": st.integers(0, 999),
    }
)
_PAGE = st.fixed_dictionaries({"data": st.lists(_CARD, max_size=4), "meta": _META})
_ONE = st.fixed_dictionaries({"data": _CARD})


def _encoded(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return strategy.map(msgspec.json.encode)


_BODIES = st.one_of(
    _encoded(_PAGE),
    _encoded(_ONE),
    _encoded(_JSON),
    _encoded(
        st.fixed_dictionaries(
            {"errors": st.lists(st.dictionaries(st.text(max_size=6), _JSON, max_size=4))}
        )
    ),
    st.binary(max_size=64),
)
_TRUNCATED = st.tuples(_encoded(st.one_of(_PAGE, _ONE)), st.integers(1, 10**6)).map(
    lambda t: t[0][: t[1] % len(t[0])]
)
_DECODERS: list[Callable[[bytes], object]] = [
    decode_sim_card_page,
    decode_sim_card_action_page,
    decode_sim_card,
    decode_sim_card_action,
]


@settings(max_examples=300, deadline=None)
@given(body=_BODIES)
@example(body=b'{"data": [{"id": "x", "created_at": "yesterday"}]}')
@example(
    body=b'{"data": {"id": "x", "current_billing_period_consumed_data": {"amount": "1e999999"}}}'
)
@example(body=b"\xff\xfe")
def test_any_body_decodes_or_raises_a_msgspec_error(body: bytes) -> None:
    """Any body either decodes or raises ``msgspec.DecodeError``/``ValidationError``; the
    errors reader never raises.
    """
    for decode in _DECODERS:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            decode(body)
    assert isinstance(decode_errors(body), tuple)


@settings(max_examples=200, deadline=None)
@given(body=_TRUNCATED)
def test_truncated_body_never_decodes(body: bytes) -> None:
    """A page or item cut off anywhere never decodes (it can never pass for a short page)."""
    for decode in _DECODERS:
        with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
            decode(body)


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"id": "x", "unknown": ' + _deep(50_000) + b"}]}",
        b'{"data": {"id": "x", "unknown": ' + _deep(50_000) + b"}}",
        b'{"errors": [], "unknown": ' + _deep(50_000) + b"}",
    ],
    ids=["page", "item", "errors"],
)
def test_deeply_nested_body_fails_like_any_bad_body(body: bytes) -> None:
    """A body nested deeper than the decoder's stack raises a msgspec error, not
    ``RecursionError``, and the errors reader still never raises.
    """
    for decode in _DECODERS:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            decode(body)
    assert decode_errors(body) == ()


# --- any answer through the transport --------------------------------------------------------


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


class _Echo:
    """Answers the first request with ``answer``, later ones with an empty page."""

    def __init__(self) -> None:
        self.answer = _Answer()
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        del request
        self.hits += 1
        if self.hits > 1:
            return web.Response(body=b'{"data": []}', content_type="application/json")
        a = self.answer
        return web.Response(status=a.status, body=a.body or None, content_type=a.content_type)


@pytest.fixture
async def echo() -> AsyncIterator[tuple[_Echo, str]]:
    """An aiohttp.web server on 127.0.0.1 answering whatever the test sets."""
    handler = _Echo()
    async with serve(handler.handle, method="GET") as served:
        yield handler, served.url


_STATUSES = st.sampled_from(
    [
        *(200, 201, 202, 203, 206, 300, 301, 302, 307),
        *(400, 401, 403, 404, 405, 409, 418, 422, 429),
        *(500, 501, 502, 503, 504, 599),
    ]
)


@_with_fixtures(80)
@given(
    status=_STATUSES,
    body=st.one_of(_BODIES, _TRUNCATED),
    content_type=st.sampled_from(["application/json", "text/html", "application/octet-stream"]),
    call=st.sampled_from(["list", "card", "action"]),
)
async def test_any_answer_gives_a_value_or_a_documented_error(
    echo: tuple[_Echo, str], status: int, body: bytes, content_type: str, call: str
) -> None:
    """Whatever status and body come back, the client returns data or raises one of its
    documented exceptions: a bad 2xx body is ``APIResponseValidationError`` (or, for a
    listing page that contradicts itself, ``PaginationError``), any other status
    ``APIStatusError`` carrying it.
    """
    handler, url = echo
    handler.answer = _Answer(status, body, content_type)
    handler.hits = 0
    raised: BaseException | None = None
    async with SimCardsClient(KEY, url, max_retries=0) as client:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DriftWarning)  # an empty page after a full one
                if call == "list":
                    await client.sim_cards(page_size=10).collect()
                elif call == "card":
                    await client.get_sim_card(uuid.UUID(int=1))
                else:
                    await client.get_sim_card_action(uuid.UUID(int=2))
        except Exception as exc:  # noqa: BLE001  (which exception it is, is the point)
            raised = exc
    if raised is None:
        assert 200 <= status < 300
    elif 200 <= status < 300 and call == "list":
        # A page that decodes but contradicts itself or the request: the pagination rules.
        assert isinstance(raised, (APIResponseValidationError, PaginationError)), repr(raised)
    elif 200 <= status < 300:
        assert isinstance(raised, APIResponseValidationError), repr(raised)
    else:
        assert isinstance(raised, APIStatusError), repr(raised)
        assert raised.status == status
        assert raised.body == body[:4096]


async def test_deeply_nested_answer_is_a_documented_error(echo: tuple[_Echo, str]) -> None:
    """A 200 or a 500 whose body nests deeper than the decoder's stack raises the documented
    error (``APIResponseValidationError``, ``APIStatusError``), not ``RecursionError``.
    """
    handler, url = echo
    body = b'{"data": {"id": "x", "unknown": ' + _deep(50_000) + b"}}"
    async with SimCardsClient(KEY, url, max_retries=0) as client:
        for status, expected in ((200, APIResponseValidationError), (500, APIStatusError)):
            handler.answer = _Answer(status, body)
            handler.hits = 0
            with pytest.raises(TelnyxError) as info:
                await client.get_sim_card(uuid.UUID(int=1))
            assert isinstance(info.value, expected)


# --- bad arguments fail before anything is sent ------------------------------------------------

GOOD_UUID = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"


@dataclass(frozen=True)
class _Bad:
    """A call with one bad argument, and the parameter its error must name."""

    method: str
    arguments: dict[str, Any]
    parameter: str

    def __str__(self) -> str:
        shown = ",".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.method}({shown})"[:80]


def _bad(method: str, parameter: str, values: tuple[object, ...], **extra: Any) -> list[_Bad]:
    return [_Bad(method, {parameter: v, **extra}, parameter) for v in values]


_NOT_A_UUID = (
    "not-a-uuid",
    "",
    5,
    GOOD_UUID.replace("-", ""),
    GOOD_UUID[:-1],
    f" {GOOD_UUID}",
    f"{{{GOOD_UUID}}}",
)
_NOT_A_PAGE_SIZE = (0, -1, 251, "10", True, 2.5, None)
_NOT_A_START = (0, -3, "2", True, 1.0, None)
_NOT_A_LIMIT = (0, -1, "5", True, 2.0)
_NOT_A_FLAG = ("true", 1, None)

BAD_CALLS = [
    # sim_cards
    *_bad(
        "sim_cards",
        "status",
        (5, "active", [], ["enabled", 3], ["enabled", "bogus"], b"enabled", {"enabled"}),
    ),
    *_bad("sim_cards", "tags", ([], "", "a,b", ["ok", ""], [" "], 7, ["x\n"], "\ud800")),
    *_bad("sim_cards", "iccid", ("", "   ", 8931, "89\x00", "\ud800")),
    *_bad("sim_cards", "msisdn", ("", 15551234567, "+1\r\n", "\udfff")),
    *_bad("sim_cards", "sim_card_group_id", _NOT_A_UUID),
    *_bad("sim_cards", "include_sim_card_group", _NOT_A_FLAG),
    *_bad("sim_cards", "sort", ("consumed", 5, "+current_billing_period_consumed_data.amount")),
    *_bad("sim_cards", "page_size", _NOT_A_PAGE_SIZE),
    *_bad("sim_cards", "start_page", _NOT_A_START),
    *_bad("sim_cards", "limit", _NOT_A_LIMIT),
    *_bad("sim_cards", "rescan", ("yes", 1, None)),
    *_bad("sim_cards", "checkpoint", (5, b"checkpoint.json")),
    *_bad("sim_cards", "resume_from", (5, "/nonexistent/checkpoint.json")),
    *_bad("sim_cards", "rescan", (True,), checkpoint="checkpoint.json"),
    # sim_card_actions
    *_bad("sim_card_actions", "sim_card_id", _NOT_A_UUID),
    *_bad("sim_card_actions", "status", ("done", "interrupted", ["completed"], 3)),
    *_bad("sim_card_actions", "bulk_sim_card_action_id", _NOT_A_UUID),
    *_bad("sim_card_actions", "action_type", ("reboot", 3, ["enable"])),
    *_bad("sim_card_actions", "page_size", _NOT_A_PAGE_SIZE),
    *_bad("sim_card_actions", "start_page", _NOT_A_START),
    *_bad("sim_card_actions", "limit", _NOT_A_LIMIT),
    *_bad("sim_card_actions", "rescan", ("no",)),
    # single items
    *_bad("get_sim_card", "id", (*_NOT_A_UUID, None)),
    *_bad("get_sim_card", "include_sim_card_group", _NOT_A_FLAG, id=GOOD_UUID),
    *_bad("get_sim_card", "include_pin_puk_codes", _NOT_A_FLAG, id=GOOD_UUID),
    *_bad("get_sim_card_action", "id", (*_NOT_A_UUID, None)),
    # the constructor
    *_bad("client", "base_url", ("ftp://127.0.0.1/v2", "http://example.com/v2", "not a url")),
    *_bad("client", "base_url", (5, "http://[::1/v2", "http://127.0.0.1:99999/v2")),
    *_bad("client", "max_concurrency", (0, -1, "8", True, 2.5)),
    *_bad("client", "read_ahead", (0, "4", True)),
    *_bad("client", "timeout", (0, -1, "30", math.nan, True, math.inf, 10**400)),
    *_bad("client", "max_retries", (-1, "4", True, 1.5)),
    *_bad("client", "deadline", (0, -2, "5", math.nan, True, math.inf, -math.inf)),
    *_bad("client", "session", ("session", object())),
    *_bad("client", "api_key", (123, "KEY-with\r\nX-Injected: 1")),
    # merge
    _Bad("merge", {"streams": ()}, "streams"),
    _Bad("merge", {"streams": (5,)}, "streams"),
    _Bad("merge", {"streams": ("sim_cards", "x")}, "streams"),
    _Bad("merge", {"streams": ("sim_cards",), "dedupe": "yes"}, "dedupe"),
    # a stream's progress callback, of a listing and of a merge
    *_bad("on_progress", "callback", (5, "print", None)),
    *_bad("merge.on_progress", "callback", (5,)),
]


@dataclass
class _Listener:
    """An HTTP server on 127.0.0.1 that records every request it gets (and answers 404)."""

    url: str = ""
    requests: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        return web.Response(status=404)


@pytest.fixture
async def listener() -> AsyncIterator[_Listener]:
    """A recording server, cheaper to start than a mock fleet."""
    recorder = _Listener()
    async with serve(recorder.handle) as served:
        recorder.url = served.url
        yield recorder


@pytest.fixture
def unraisable() -> Iterator[list[Any]]:
    """Collect exceptions raised in ``__del__`` (say, of a half-built object) in this test."""
    caught: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        yield caught
    finally:
        gc.collect(1)  # what a test makes is young; a full collection costs 20 ms here
        sys.unraisablehook = previous


async def _call(bad: _Bad, url: str, client: SimCardsClient) -> None:
    arguments = dict(bad.arguments)
    if bad.method == "client":
        options = {"api_key": KEY, "base_url": url, **arguments}
        made = SimCardsClient(**options)
        await made.aclose()
    elif bad.method == "merge":
        streams = [client.sim_cards() if s == "sim_cards" else s for s in arguments.pop("streams")]
        merge(*streams, **arguments)
    elif bad.method.endswith("on_progress"):
        stream = client.sim_cards()
        watched = merge(stream) if bad.method.startswith("merge") else stream
        try:
            watched.on_progress(**arguments)
        finally:
            await watched.aclose()
    elif bad.method.startswith("get_"):
        await getattr(client, bad.method)(**arguments)
    else:
        await getattr(client, bad.method)(**arguments).aclose()


@pytest.mark.parametrize("bad", BAD_CALLS, ids=str)
async def test_bad_argument_is_refused_before_anything_is_sent(
    bad: _Bad, listener: _Listener, unraisable: list[Any]
) -> None:
    """Each bad argument of each method raises ``InvalidParameterError`` naming it, and the
    server receives nothing.
    """
    async with SimCardsClient(KEY, listener.url) as client:
        caught: BaseException | None = None
        try:
            await _call(bad, listener.url, client)
        except Exception as exc:  # noqa: BLE001  (the type is what is checked)
            caught = exc
        shown = repr(caught)
        refused = isinstance(caught, InvalidParameterError)
        named = getattr(caught, "parameter", None)
        message = str(caught)
        del caught
    gc.collect(1)
    problems = [f"raised {shown}"] if not refused else []
    if refused and named != bad.parameter:
        problems.append(f"named {named!r}, not {bad.parameter!r}")
    problems += [f"{u.object!r} raised {u.exc_value!r} when collected" for u in unraisable]
    assert problems == []
    assert KEY not in message
    if bad.parameter == "api_key":  # a key refused for its form must not be shown either
        assert str(bad.arguments["api_key"]) not in message
    assert listener.requests == []
