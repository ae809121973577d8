"""Pure tests of ``_query``: validation, and the wire format the official SDK sends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from servers import serve

from simcards_async import (
    MAX_PAGE_SIZE,
    SIM_CARD_ACTION_STATUSES,
    SIM_CARD_ACTION_TYPES,
    SIM_CARD_SORTS,
    SIM_CARD_STATUSES,
    InvalidParameterError,
    SimCard,
    SimCardAction,
    TelnyxError,
)
from simcards_async._query import (
    ListQuery,
    sim_card_action_path,
    sim_card_actions_query,
    sim_card_path,
    sim_cards_query,
)

GROUP = "47a1c2b0-cc7b-4ab1-bb98-b33fb0fc61b9"
CARD = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"
ASC, DESC = SIM_CARD_SORTS

# --- golden vectors ---------------------------------------------------------------
# Captured from telnyx 4.189.0 (the official Python SDK): each SDK call was sent to a
# throwaway aiohttp.web server on 127.0.0.1 that recorded ``request.raw_path``. The
# SDK's page_number and page_size were given explicitly, because this client always
# sends both; include_sim_card_group=False was omitted, because this client omits it.

# (our sim_cards_query arguments, page number, raw path the SDK sent)
SIM_CARDS_GOLDEN: list[tuple[dict[str, Any], int, str]] = [
    (
        {"page_size": 250},
        1,
        "/v2/sim_cards?page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"status": ["enabled"], "page_size": 20},
        1,
        "/v2/sim_cards?filter%5Bstatus%5D=enabled&page%5Bnumber%5D=1&page%5Bsize%5D=20",
    ),
    (
        {"status": ["enabled", "disabled", "standby"], "page_size": 100},
        2,
        (
            "/v2/sim_cards?filter%5Bstatus%5D=enabled%2Cdisabled%2Cstandby"
            "&page%5Bnumber%5D=2&page%5Bsize%5D=100"
        ),
    ),
    (
        {"status": ["data_limit_exceeded", "unauthorized_imei"], "page_size": 1},
        1,
        (
            "/v2/sim_cards?filter%5Bstatus%5D=data_limit_exceeded%2Cunauthorized_imei"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=1"
        ),
    ),
    (
        {"tags": ["customers"]},
        1,
        "/v2/sim_cards?filter%5Btags%5D=customers&page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"tags": ["personal", "active-customers"], "page_size": 50},
        3,
        (
            "/v2/sim_cards?filter%5Btags%5D=personal%2Cactive-customers"
            "&page%5Bnumber%5D=3&page%5Bsize%5D=50"
        ),
    ),
    (
        {"tags": ["big fleet", "a+b", "café", "日本"], "page_size": 10},
        1,
        (
            "/v2/sim_cards?filter%5Btags%5D=big+fleet%2Ca%2Bb%2Ccaf%C3%A9%2C%E6%97%A5%E6%9C%AC"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=10"
        ),
    ),
    (
        {"tags": ["x/y", "q?r&s=t", "100%", "#hash"], "page_size": 10},
        1,
        (
            "/v2/sim_cards?filter%5Btags%5D=x%2Fy%2Cq%3Fr%26s%3Dt%2C100%25%2C%23hash"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=10"
        ),
    ),
    (
        {"tags": ["~tilde", "semi;colon", "quote'\"", "emoji😀"]},
        1,
        (
            "/v2/sim_cards?filter%5Btags%5D=~tilde%2Csemi%3Bcolon%2Cquote%27%22%2Cemoji%F0%9F%98%80"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=250"
        ),
    ),
    (
        {"iccid": "8931041"},
        1,
        "/v2/sim_cards?filter%5Biccid%5D=8931041&page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"iccid": "8931 0410"},
        1,
        "/v2/sim_cards?filter%5Biccid%5D=8931+0410&page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"msisdn": "+13109976224"},
        1,
        "/v2/sim_cards?filter%5Bmsisdn%5D=%2B13109976224&page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"sim_card_group_id": GROUP},
        1,
        (
            "/v2/sim_cards?filter%5Bsim_card_group_id%5D=47a1c2b0-cc7b-4ab1-bb98-b33fb0fc61b9"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=250"
        ),
    ),
    (
        {"include_sim_card_group": True, "page_size": 25},
        5,
        "/v2/sim_cards?include_sim_card_group=true&page%5Bnumber%5D=5&page%5Bsize%5D=25",
    ),
    (
        {"sort": ASC},
        1,
        (
            "/v2/sim_cards?page%5Bnumber%5D=1&page%5Bsize%5D=250"
            "&sort=current_billing_period_consumed_data.amount"
        ),
    ),
    (
        {"sort": DESC, "page_size": 2},
        7,
        (
            "/v2/sim_cards?page%5Bnumber%5D=7&page%5Bsize%5D=2"
            "&sort=-current_billing_period_consumed_data.amount"
        ),
    ),
    (
        {
            "status": ["enabled", "standby"],
            "tags": ["customers", "test"],
            "iccid": "89310410106543789301",
            "msisdn": "+13109976224",
            "sim_card_group_id": GROUP,
            "include_sim_card_group": True,
            "sort": DESC,
            "page_size": 99,
        },
        4,
        (
            "/v2/sim_cards?filter%5Bstatus%5D=enabled%2Cstandby&filter%5Btags%5D=customers%2Ctest"
            "&filter%5Biccid%5D=89310410106543789301&filter%5Bmsisdn%5D=%2B13109976224"
            "&filter%5Bsim_card_group_id%5D=47a1c2b0-cc7b-4ab1-bb98-b33fb0fc61b9"
            "&include_sim_card_group=true&page%5Bnumber%5D=4&page%5Bsize%5D=99"
            "&sort=-current_billing_period_consumed_data.amount"
        ),
    ),
]

SIM_CARD_ACTIONS_GOLDEN: list[tuple[dict[str, Any], int, str]] = [
    (
        {},
        1,
        "/v2/sim_card_actions?page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"sim_card_id": CARD},
        1,
        (
            "/v2/sim_card_actions?filter%5Bsim_card_id%5D=6a09cdc3-8948-47f0-aa62-74ac943d6c58"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=250"
        ),
    ),
    (
        {"status": "in-progress", "page_size": 10},
        2,
        "/v2/sim_card_actions?filter%5Bstatus%5D=in-progress&page%5Bnumber%5D=2&page%5Bsize%5D=10",
    ),
    (
        {"status": "completed"},
        1,
        "/v2/sim_card_actions?filter%5Bstatus%5D=completed&page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"status": "failed"},
        1,
        "/v2/sim_card_actions?filter%5Bstatus%5D=failed&page%5Bnumber%5D=1&page%5Bsize%5D=250",
    ),
    (
        {"bulk_sim_card_action_id": GROUP},
        1,
        (
            "/v2/sim_card_actions?filter%5Bbulk_sim_card_action_id%5D="
            "47a1c2b0-cc7b-4ab1-bb98-b33fb0fc61b9&page%5Bnumber%5D=1&page%5Bsize%5D=250"
        ),
    ),
    (
        {"action_type": "enable_standby_sim_card"},
        1,
        (
            "/v2/sim_card_actions?filter%5Baction_type%5D=enable_standby_sim_card"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=250"
        ),
    ),
    (
        {"action_type": "set_public_ip"},
        1,
        (
            "/v2/sim_card_actions?filter%5Baction_type%5D=set_public_ip"
            "&page%5Bnumber%5D=1&page%5Bsize%5D=250"
        ),
    ),
    (
        {
            "sim_card_id": CARD,
            "status": "failed",
            "bulk_sim_card_action_id": GROUP,
            "action_type": "disable",
            "page_size": 1,
        },
        9,
        (
            "/v2/sim_card_actions?filter%5Bsim_card_id%5D=6a09cdc3-8948-47f0-aa62-74ac943d6c58"
            "&filter%5Bstatus%5D=failed"
            "&filter%5Bbulk_sim_card_action_id%5D=47a1c2b0-cc7b-4ab1-bb98-b33fb0fc61b9"
            "&filter%5Baction_type%5D=disable&page%5Bnumber%5D=9&page%5Bsize%5D=1"
        ),
    ),
]

# (our sim_card_path arguments, raw path the SDK sent)
SIM_CARD_GOLDEN: list[tuple[dict[str, Any], str]] = [
    ({}, "/v2/sim_cards/6a09cdc3-8948-47f0-aa62-74ac943d6c58"),
    (
        {"include_sim_card_group": True},
        "/v2/sim_cards/6a09cdc3-8948-47f0-aa62-74ac943d6c58?include_sim_card_group=true",
    ),
    (
        {"include_pin_puk_codes": True},
        "/v2/sim_cards/6a09cdc3-8948-47f0-aa62-74ac943d6c58?include_pin_puk_codes=true",
    ),
    (
        {"include_sim_card_group": True, "include_pin_puk_codes": True},
        (
            "/v2/sim_cards/6a09cdc3-8948-47f0-aa62-74ac943d6c58"
            "?include_pin_puk_codes=true&include_sim_card_group=true"
        ),
    ),
]

SIM_CARD_ACTION_GOLDEN = "/v2/sim_card_actions/6a09cdc3-8948-47f0-aa62-74ac943d6c58"


@pytest.mark.parametrize(("kwargs", "number", "expected"), SIM_CARDS_GOLDEN)
def test_sim_cards_target_matches_sdk(kwargs: dict[str, Any], number: int, expected: str) -> None:
    """A ``/sim_cards`` page target is byte-for-byte what telnyx 4.189.0 sends."""
    assert "/v2" + sim_cards_query(**kwargs).target(number) == expected


@pytest.mark.parametrize(("kwargs", "number", "expected"), SIM_CARD_ACTIONS_GOLDEN)
def test_sim_card_actions_target_matches_sdk(
    kwargs: dict[str, Any], number: int, expected: str
) -> None:
    """A ``/sim_card_actions`` page target is byte-for-byte what telnyx 4.189.0 sends."""
    assert "/v2" + sim_card_actions_query(**kwargs).target(number) == expected


@pytest.mark.parametrize(("kwargs", "expected"), SIM_CARD_GOLDEN)
def test_sim_card_path_matches_sdk(kwargs: dict[str, Any], expected: str) -> None:
    """The single-card target, with each include flag, is what telnyx 4.189.0 sends."""
    assert "/v2" + sim_card_path(CARD, **kwargs) == expected


def test_sim_card_action_path_matches_sdk() -> None:
    """The single-action target is what telnyx 4.189.0 sends."""
    assert "/v2" + sim_card_action_path(CARD) == SIM_CARD_ACTION_GOLDEN


# --- the SDK, live --------------------------------------------------------------------


def _sdk_paths(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Run the official SDK against a throwaway loopback server and return its raw paths."""
    telnyx = pytest.importorskip("telnyx")
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        if request.path.count("/") > 2:
            return web.json_response({"data": {"id": CARD}})
        return web.json_response({"data": [], "meta": {}})

    async def run() -> None:
        async with serve(handler, method="GET") as served:
            client = telnyx.AsyncTelnyx(api_key="KEY", base_url=served.url, max_retries=0)
            try:
                for kind, kwargs in calls:
                    if kind == "list":
                        await client.sim_cards.list(**kwargs)
                    elif kind == "actions":
                        await client.sim_cards.actions.list(**kwargs)
                    elif kind == "get":
                        await client.sim_cards.retrieve(CARD, **kwargs)
                    else:
                        await client.sim_cards.actions.retrieve(CARD)
            finally:
                await client.close()

    asyncio.run(run())
    return seen


def test_live_sdk_agrees() -> None:
    """The installed official SDK sends exactly our targets for a few varied calls."""
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "list",
            {
                "filter": {
                    "status": ["enabled", "data_limit_exceeded"],
                    "tags": ["a b", "ü+"],
                    "iccid": "8931",
                    "msisdn": "+1310",
                },
                "filter_sim_card_group_id": GROUP,
                "include_sim_card_group": True,
                "page_number": 3,
                "page_size": 17,
                "sort": ASC,
            },
        ),
        ("list", {"page_number": 1, "page_size": 250, "sort": DESC}),
        (
            "actions",
            {
                "filter": {"sim_card_id": CARD, "status": "in-progress", "action_type": "enable"},
                "page_number": 2,
                "page_size": 5,
            },
        ),
        ("get", {"include_sim_card_group": True, "include_pin_puk_codes": True}),
        ("action", {}),
    ]
    ours = [
        sim_cards_query(
            status=["enabled", "data_limit_exceeded"],
            tags=["a b", "ü+"],
            iccid="8931",
            msisdn="+1310",
            sim_card_group_id=GROUP,
            include_sim_card_group=True,
            sort=ASC,
            page_size=17,
        ).target(3),
        sim_cards_query(sort=DESC).target(1),
        sim_card_actions_query(
            sim_card_id=CARD, status="in-progress", action_type="enable", page_size=5
        ).target(2),
        sim_card_path(CARD, include_sim_card_group=True, include_pin_puk_codes=True),
        sim_card_action_path(CARD),
    ]
    assert _sdk_paths(calls) == ["/v2" + target for target in ours]


# --- what the query holds --------------------------------------------------------------


def test_defaults() -> None:
    """With no arguments a listing has no filters, 250 a page, starts at 1 and has no limit."""
    query = sim_cards_query()
    assert query == ListQuery("/sim_cards", (), (), MAX_PAGE_SIZE, 1, None)
    actions = sim_card_actions_query()
    assert actions == ListQuery("/sim_card_actions", (), (), MAX_PAGE_SIZE, 1, None)


def test_start_page_and_limit_are_kept_off_the_wire() -> None:
    """``start_page`` and ``limit`` are kept on the query but never become wire parameters."""
    query = sim_cards_query(page_size=10, start_page=4, limit=25)
    assert (query.start_page, query.limit, query.page_size) == (4, 25, 10)
    assert query.params == {"page[size]": "10"}
    assert "limit" not in query.target(4)
    assert "start" not in query.target(4)


def test_params_names_every_wire_parameter_but_the_page_number() -> None:
    """``params`` maps wire names to values, without ``page[number]``, sort included."""
    query = sim_cards_query(status="standby", tags="x", sort=DESC, page_size=3)
    assert query.params == {
        "filter[status]": "standby",
        "filter[tags]": "x",
        "page[size]": "3",
        "sort": DESC,
    }


def test_include_sim_card_group_false_is_omitted() -> None:
    """``include_sim_card_group=False`` (the API's default) is not sent at all."""
    assert "include" not in sim_cards_query(include_sim_card_group=False).target(1)
    assert sim_card_path(CARD, include_sim_card_group=False) == "/sim_cards/" + CARD
    assert sim_card_path(CARD, include_pin_puk_codes=False) == "/sim_cards/" + CARD


def test_single_string_is_a_one_item_list() -> None:
    """A bare string for ``status`` or ``tags`` is the same as a one-item list."""
    assert sim_cards_query(status="enabled") == sim_cards_query(status=["enabled"])
    assert sim_cards_query(tags="a") == sim_cards_query(tags=("a",))


@pytest.mark.parametrize("status", SIM_CARD_STATUSES)
def test_each_sim_card_status_is_accepted(status: str) -> None:
    """Every documented SIM card status is a valid ``status`` filter."""
    assert sim_cards_query(status=status).params["filter[status]"] == status


@pytest.mark.parametrize("status", SIM_CARD_ACTION_STATUSES)
def test_each_action_status_is_accepted(status: str) -> None:
    """Every documented action status is a valid ``status`` filter of actions."""
    assert sim_card_actions_query(status=status).params["filter[status]"] == status


@pytest.mark.parametrize("action_type", SIM_CARD_ACTION_TYPES)
def test_each_action_type_is_accepted(action_type: str) -> None:
    """Every documented action type is a valid ``action_type`` filter."""
    params = sim_card_actions_query(action_type=action_type).params
    assert params["filter[action_type]"] == action_type


@pytest.mark.parametrize("size", [1, 2, 249, MAX_PAGE_SIZE])
def test_page_size_range_ends(size: int) -> None:
    """``page_size`` accepts 1 to 250 inclusive and sends it as is."""
    assert sim_cards_query(page_size=size).target(1).endswith(f"page%5Bsize%5D={size}")


def test_uuid_objects_are_accepted() -> None:
    """A ``uuid.UUID`` is accepted wherever a UUID string is, and sent in canonical form."""
    value = uuid.UUID(GROUP)
    assert sim_cards_query(sim_card_group_id=value).params["filter[sim_card_group_id]"] == GROUP
    actions = sim_card_actions_query(sim_card_id=value, bulk_sim_card_action_id=value).params
    assert actions["filter[sim_card_id]"] == GROUP
    assert actions["filter[bulk_sim_card_action_id]"] == GROUP
    assert sim_card_path(value) == "/sim_cards/" + GROUP
    assert sim_card_action_path(value) == "/sim_card_actions/" + GROUP


def test_uppercase_uuid_is_accepted() -> None:
    """An upper-case UUID string is a valid UUID."""
    assert sim_card_action_path(CARD.upper()) == "/sim_card_actions/" + CARD.upper()


def test_the_constants_match_the_spec() -> None:
    """The allowed values are exactly the spec's enums, and the page size cap is 250."""
    assert SIM_CARD_STATUSES == (
        "enabled",
        "disabled",
        "standby",
        "data_limit_exceeded",
        "unauthorized_imei",
    )
    assert SIM_CARD_SORTS == (
        "current_billing_period_consumed_data.amount",
        "-current_billing_period_consumed_data.amount",
    )
    assert SIM_CARD_ACTION_STATUSES == ("in-progress", "completed", "failed")
    assert SIM_CARD_ACTION_TYPES == (
        "enable",
        "enable_standby_sim_card",
        "disable",
        "set_standby",
        "remove_public_ip",
        "set_public_ip",
    )
    assert MAX_PAGE_SIZE == 250


# --- round trip ----------------------------------------------------------------------

_tag = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=","),
    min_size=1,
    max_size=12,
).filter(str.strip)
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20
).filter(str.strip)
_uuids = st.uuids().map(str)


_sim_cards_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "status": st.lists(st.sampled_from(SIM_CARD_STATUSES), min_size=1, max_size=5),
        "tags": st.lists(_tag, min_size=1, max_size=4),
        "iccid": _text,
        "msisdn": _text,
        "sim_card_group_id": _uuids,
        "include_sim_card_group": st.booleans(),
        "sort": st.sampled_from(SIM_CARD_SORTS),
        "page_size": st.integers(1, MAX_PAGE_SIZE),
    },
)
_numbers = st.integers(1, 10**6)


@given(kwargs=_sim_cards_kwargs, number=_numbers)
def test_sim_cards_query_round_trips(kwargs: dict[str, Any], number: int) -> None:
    """Any valid ``/sim_cards`` arguments encode to a query that parses back to them."""
    target = sim_cards_query(**kwargs).target(number)
    parts = urlsplit(target)
    assert parts.path == "/sim_cards"
    parsed = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))
    expected: dict[str, str] = {}
    for name in ("status", "tags", "iccid", "msisdn", "sim_card_group_id"):
        if name in kwargs:
            value = kwargs[name]
            expected[f"filter[{name}]"] = value if isinstance(value, str) else ",".join(value)
    if kwargs.get("include_sim_card_group"):
        expected["include_sim_card_group"] = "true"
    expected["page[number]"] = str(number)
    expected["page[size]"] = str(kwargs.get("page_size", MAX_PAGE_SIZE))
    if "sort" in kwargs:
        expected["sort"] = kwargs["sort"]
    assert parsed == expected
    for name in ("status", "tags"):
        if name in kwargs:
            assert parsed[f"filter[{name}]"].split(",") == kwargs[name]


_actions_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "sim_card_id": _uuids,
        "status": st.sampled_from(SIM_CARD_ACTION_STATUSES),
        "bulk_sim_card_action_id": _uuids,
        "action_type": st.sampled_from(SIM_CARD_ACTION_TYPES),
        "page_size": st.integers(1, MAX_PAGE_SIZE),
    },
)


@given(kwargs=_actions_kwargs, number=_numbers)
def test_sim_card_actions_query_round_trips(kwargs: dict[str, Any], number: int) -> None:
    """Any valid ``/sim_card_actions`` arguments encode to a query that parses back to them."""
    target = sim_card_actions_query(**kwargs).target(number)
    parts = urlsplit(target)
    assert parts.path == "/sim_card_actions"
    parsed = parse_qsl(parts.query, strict_parsing=True)
    expected = [
        (f"filter[{name}]", kwargs[name])
        for name in ("sim_card_id", "status", "bulk_sim_card_action_id", "action_type")
        if name in kwargs
    ]
    expected += [
        ("page[number]", str(number)),
        ("page[size]", str(kwargs.get("page_size", MAX_PAGE_SIZE))),
    ]
    assert parsed == expected


# --- bad input ---------------------------------------------------------------------

_BAD_UUID = "6a09cdc3-8948-47f0-aa62-74ac943d6c5"  # one hex digit short
_UUID_HINT = ["UUID"]
_INT_HINT = ["integer"]
_BOOL_HINT = ["True or False"]


def _statuses() -> list[str]:
    return [repr(s) for s in SIM_CARD_STATUSES]


def sim_card_path_of(id_: object = CARD, **kwargs: object) -> str:
    """``sim_card_path`` with its positional id as a keyword, for the table below."""
    return sim_card_path(id_, **kwargs)


def sim_card_action_path_of(id_: object = CARD) -> str:
    """``sim_card_action_path`` with its positional id as a keyword, for the table below."""
    return sim_card_action_path(id_)


# (builder, arguments, the parameter named, texts the message must contain)
BAD: list[tuple[Callable[..., object], dict[str, Any], str, list[str]]] = [
    # sim_cards_query
    (sim_cards_query, {"status": "active"}, "status", _statuses()),
    (sim_cards_query, {"status": ["enabled", "bogus"]}, "status", _statuses()),
    (sim_cards_query, {"status": "Enabled"}, "status", _statuses()),
    (sim_cards_query, {"status": []}, "status", _statuses()),
    (sim_cards_query, {"status": 5}, "status", _statuses()),
    (sim_cards_query, {"status": True}, "status", _statuses()),
    (sim_cards_query, {"status": ["enabled", 1]}, "status", _statuses()),
    (sim_cards_query, {"tags": []}, "tags", ["string"]),
    (sim_cards_query, {"tags": "a,b"}, "tags", ["comma"]),
    (sim_cards_query, {"tags": ["ok", "x,y"]}, "tags", ["comma"]),
    (sim_cards_query, {"tags": [""]}, "tags", ["non-empty"]),
    (sim_cards_query, {"tags": ["  "]}, "tags", ["non-empty"]),
    (sim_cards_query, {"tags": ["tab\there"]}, "tags", ["control"]),
    (sim_cards_query, {"tags": 7}, "tags", ["string"]),
    (sim_cards_query, {"tags": b"bytes"}, "tags", ["string"]),
    (sim_cards_query, {"tags": ["a", None]}, "tags", ["string"]),
    (sim_cards_query, {"iccid": ""}, "iccid", ["non-empty string"]),
    (sim_cards_query, {"iccid": 8931041}, "iccid", ["string"]),
    (sim_cards_query, {"iccid": "89\n31"}, "iccid", ["control"]),
    (sim_cards_query, {"iccid": "\x9b31m"}, "iccid", ["control"]),  # C1: a terminal's CSI
    (sim_cards_query, {"tags": ["a\x85b"]}, "tags", ["control"]),
    (sim_cards_query, {"msisdn": " "}, "msisdn", ["non-empty string"]),
    (sim_cards_query, {"msisdn": 13109976224}, "msisdn", ["string"]),
    (sim_cards_query, {"sim_card_group_id": _BAD_UUID}, "sim_card_group_id", _UUID_HINT),
    (sim_cards_query, {"sim_card_group_id": "not-a-uuid"}, "sim_card_group_id", _UUID_HINT),
    (sim_cards_query, {"sim_card_group_id": CARD + "\n"}, "sim_card_group_id", _UUID_HINT),
    (sim_cards_query, {"sim_card_group_id": 12}, "sim_card_group_id", _UUID_HINT),
    (sim_cards_query, {"include_sim_card_group": 1}, "include_sim_card_group", _BOOL_HINT),
    (sim_cards_query, {"include_sim_card_group": "true"}, "include_sim_card_group", _BOOL_HINT),
    (sim_cards_query, {"include_sim_card_group": None}, "include_sim_card_group", _BOOL_HINT),
    (sim_cards_query, {"sort": "amount"}, "sort", [repr(s) for s in SIM_CARD_SORTS]),
    (sim_cards_query, {"sort": "+" + ASC}, "sort", [repr(s) for s in SIM_CARD_SORTS]),
    (sim_cards_query, {"sort": [ASC]}, "sort", [repr(s) for s in SIM_CARD_SORTS]),
    (sim_cards_query, {"page_size": 0}, "page_size", ["from 1 to 250"]),
    (sim_cards_query, {"page_size": 251}, "page_size", ["from 1 to 250"]),
    (sim_cards_query, {"page_size": -1}, "page_size", ["from 1 to 250"]),
    (sim_cards_query, {"page_size": True}, "page_size", ["from 1 to 250"]),
    (sim_cards_query, {"page_size": 20.0}, "page_size", ["from 1 to 250"]),
    (sim_cards_query, {"page_size": "20"}, "page_size", ["from 1 to 250"]),
    (sim_cards_query, {"start_page": 0}, "start_page", ["from 1 to 2,147,483,647"]),
    (sim_cards_query, {"start_page": True}, "start_page", ["from 1 to 2,147,483,647"]),
    (sim_cards_query, {"start_page": None}, "start_page", ["from 1 to 2,147,483,647"]),
    # 10 ** 5000 raised a bare ValueError (too many digits for a str) at the first read
    (sim_cards_query, {"start_page": 10**5000}, "start_page", ["from 1 to 2,147,483,647"]),
    (sim_cards_query, {"start_page": 2**31}, "start_page", ["from 1 to 2,147,483,647"]),
    (sim_cards_query, {"limit": 0}, "limit", [">= 1"]),
    (sim_cards_query, {"limit": False}, "limit", [">= 1"]),
    (sim_cards_query, {"limit": 2.5}, "limit", [">= 1"]),
    # sim_card_actions_query
    (sim_card_actions_query, {"sim_card_id": _BAD_UUID}, "sim_card_id", _UUID_HINT),
    (sim_card_actions_query, {"sim_card_id": ""}, "sim_card_id", _UUID_HINT),
    (
        sim_card_actions_query,
        {"bulk_sim_card_action_id": "xyz"},
        "bulk_sim_card_action_id",
        _UUID_HINT,
    ),
    (
        sim_card_actions_query,
        {"bulk_sim_card_action_id": [GROUP]},
        "bulk_sim_card_action_id",
        _UUID_HINT,
    ),
    (
        sim_card_actions_query,
        {"status": "interrupted"},
        "status",
        [repr(s) for s in SIM_CARD_ACTION_STATUSES],
    ),
    (
        sim_card_actions_query,
        {"status": ["completed"]},
        "status",
        [repr(s) for s in SIM_CARD_ACTION_STATUSES],
    ),
    (
        sim_card_actions_query,
        {"status": "enabled"},
        "status",
        [repr(s) for s in SIM_CARD_ACTION_STATUSES],
    ),
    (
        sim_card_actions_query,
        {"action_type": "reboot"},
        "action_type",
        [repr(s) for s in SIM_CARD_ACTION_TYPES],
    ),
    (
        sim_card_actions_query,
        {"action_type": 3},
        "action_type",
        [repr(s) for s in SIM_CARD_ACTION_TYPES],
    ),
    (sim_card_actions_query, {"page_size": 0}, "page_size", ["from 1 to 250"]),
    (sim_card_actions_query, {"page_size": 1000}, "page_size", ["from 1 to 250"]),
    (sim_card_actions_query, {"page_size": False}, "page_size", ["from 1 to 250"]),
    (sim_card_actions_query, {"start_page": -3}, "start_page", ["from 1 to 2,147,483,647"]),
    (sim_card_actions_query, {"start_page": 10**5000}, "start_page", ["from 1 to 2,147,483,647"]),
    (sim_card_actions_query, {"limit": -1}, "limit", [">= 1"]),
    (sim_card_actions_query, {"limit": True}, "limit", [">= 1"]),
    # the single-item paths
    (sim_card_path_of, {"id_": _BAD_UUID}, "id", _UUID_HINT),
    (sim_card_path_of, {"id_": "../sim_card_actions"}, "id", _UUID_HINT),
    (sim_card_path_of, {"id_": None}, "id", _UUID_HINT),
    (sim_card_path_of, {"include_sim_card_group": "yes"}, "include_sim_card_group", _BOOL_HINT),
    (sim_card_path_of, {"include_pin_puk_codes": 1}, "include_pin_puk_codes", _BOOL_HINT),
    (sim_card_action_path_of, {"id_": _BAD_UUID}, "id", _UUID_HINT),
    (sim_card_action_path_of, {"id_": CARD + "/x"}, "id", _UUID_HINT),
    (sim_card_action_path_of, {"id_": 42}, "id", _UUID_HINT),
]


def _bad_id(case: tuple[Callable[..., object], dict[str, Any], str, list[str]]) -> str:
    builder, kwargs, parameter, _ = case
    value = next(iter(kwargs.values()))
    if isinstance(value, int) and value.bit_length() > 64:  # repr() refuses 10 ** 5000
        return f"{builder.__name__}-{parameter}-int of {value.bit_length()} bits"
    return f"{builder.__name__}-{parameter}-{value!r}"


@pytest.mark.parametrize(("builder", "kwargs", "parameter", "hints"), BAD, ids=map(_bad_id, BAD))
def test_bad_input_is_refused(
    builder: Callable[..., object], kwargs: dict[str, Any], parameter: str, hints: list[str]
) -> None:
    """Bad input raises ``InvalidParameterError`` naming the argument and what it accepts."""
    with pytest.raises(InvalidParameterError) as info:
        builder(**kwargs)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, TelnyxError)
    assert exc.parameter == parameter
    message = str(exc)
    assert message.startswith(f"invalid {parameter}=")
    assert exc.allowed in message
    for hint in hints:
        assert hint in message, f"{hint!r} missing from {message!r}"


@pytest.mark.parametrize(
    ("builder", "kwargs", "choices"),
    [
        (sim_cards_query, {"status": "enabeld"}, SIM_CARD_STATUSES),
        (sim_cards_query, {"status": ["enabled", "bogus"]}, SIM_CARD_STATUSES),
        (sim_cards_query, {"status": ["enabled", 1]}, SIM_CARD_STATUSES),
        (sim_cards_query, {"sort": "amount"}, SIM_CARD_SORTS),
        (sim_card_actions_query, {"status": "complete"}, SIM_CARD_ACTION_STATUSES),
        (sim_card_actions_query, {"action_type": "reboot"}, SIM_CARD_ACTION_TYPES),
        (sim_cards_query, {"page_size": 0}, ()),
        (sim_cards_query, {"tags": "a,b"}, ()),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_a_refused_value_of_a_list_of_choices_carries_the_list(
    builder: Callable[..., object], kwargs: dict[str, Any], choices: tuple[str, ...]
) -> None:
    """``choices`` holds the values allowed when they are a list, each also in the
    message: what a reader compares a misspelling with (the command's "did you mean").
    Empty when what is allowed is no list (a range, a rule).
    """
    with pytest.raises(InvalidParameterError) as info:
        builder(**kwargs)
    assert info.value.choices == tuple(choices)
    for choice in choices:
        assert repr(choice) in str(info.value)


@pytest.mark.parametrize(
    ("builder", "kwargs"),
    [
        (sim_card_actions_query, {"status": ["completed"]}),
        (sim_card_actions_query, {"action_type": ("enable",)}),
        (sim_cards_query, {"sort": [ASC]}),
    ],
    ids=["status", "action_type", "sort"],
)
def test_a_list_where_one_value_goes_is_refused_as_a_list(
    builder: Callable[..., object], kwargs: dict[str, Any]
) -> None:
    """``status=["completed"]`` (as SIM cards' ``status`` takes) was refused as not being
    one of a list that holds ``'completed'``: the refusal says one value, not a list.
    """
    with pytest.raises(InvalidParameterError, match=r"\(one value, not a list\)$"):
        builder(**kwargs)


def test_bad_value_is_kept_on_the_error() -> None:
    """The refused value is kept on ``.value`` (the offending item for a list)."""
    with pytest.raises(InvalidParameterError) as info:
        sim_cards_query(status=["enabled", "bogus"])
    assert info.value.value == "bogus"
    with pytest.raises(InvalidParameterError) as info:
        sim_cards_query(page_size=251)
    assert info.value.value == 251


def test_an_upper_case_uuid_filter_matches_the_cards_it_selects() -> None:
    """UUIDs are case-insensitive: ``sim_card_group_id`` in upper case is the same group, for
    for ``matches`` (a merge's tags missed such cards).
    """
    upper = sim_cards_query(sim_card_group_id=GROUP.upper())  # sent as given, as the SDK does
    card = SimCard(id=CARD, sim_card_group_id=GROUP)
    assert upper.matches(card)
    assert not upper.matches(SimCard(id=CARD, sim_card_group_id=CARD))
    assert sim_card_actions_query(sim_card_id=CARD.upper()).matches(
        SimCardAction(id=GROUP, sim_card_id=CARD)
    )


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"tags": [f"tag{i}" for i in range(1000)]}, "tags"),
        ({"iccid": "8" * 5000}, "iccid"),
        ({"msisdn": "+1" * 3000, "tags": ["vip"]}, "msisdn"),
    ],
)
def test_filters_too_long_for_a_url_are_refused_naming_the_longest(
    arguments: dict[str, Any], parameter: str
) -> None:
    """1,000 tags (or a 5,000-digit ICCID) were sent, and a server's refusal of the request
    line came back as a bare HTTP 400 naming nothing: refused before sending, naming it.
    """
    with pytest.raises(InvalidParameterError, match="fit in 4,096 bytes") as caught:
        sim_cards_query(**arguments)
    assert caught.value.parameter == parameter
    # The value as sent, cut once in the message with its whole length (it was cut twice,
    # the length told that of the first cut's text).
    text = caught.value.value
    assert isinstance(text, str)
    assert len(text) >= 3000
    assert f"… [cut, {len(text)} chars]" in str(caught.value)
    assert sim_cards_query(tags=[f"tag{i}" for i in range(300)]).params  # long, and fits


class _Shown(str):
    """A str whose ``str()`` says something else than its characters."""

    __slots__ = ()

    def __str__(self) -> str:
        return "something-else"


class _Size(int):
    """An int whose ``str()`` (IntEnum's on 3.10), ``int()`` and order say otherwise."""

    def __str__(self) -> str:
        return "Size.BIG"

    def __int__(self) -> int:
        return 100_000

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return False


def _subclassed(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return _Size(value)
    if isinstance(value, str):
        return _Shown(value)
    return [_Shown(v) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize(
    ("build", "kwargs"),
    [
        (sim_cards_query, {"iccid": "89", "msisdn": "+1310", "tags": "iot", "page_size": 20}),
        (sim_cards_query, {"status": ["enabled"], "tags": ["a", "b"], "start_page": 3}),
        (sim_cards_query, {"sim_card_group_id": GROUP, "sort": DESC, "limit": 7}),
        (sim_card_actions_query, {"sim_card_id": CARD, "status": "completed"}),
        (sim_card_actions_query, {"action_type": "enable", "bulk_sim_card_action_id": GROUP}),
    ],
)
def test_a_str_or_int_subclass_is_sent_as_its_value(
    build: Callable[..., ListQuery], kwargs: dict[str, Any]
) -> None:
    """A ``(str, Enum)`` member (or any str subclass) passed the checks by its characters and
    was sent as its ``str()``, ``filter[iccid]=Tag.IOT``: no card matched, or the API said
    422 after the request. The value checked is the value sent.
    """
    plain = build(**kwargs)
    subclassed = build(**{name: _subclassed(value) for name, value in kwargs.items()})
    assert subclassed.target(2) == plain.target(2)
    assert "something-else" not in subclassed.target(2)
    assert subclassed.params == plain.params
    assert all(type(v) is str for v in subclassed.params.values())
    assert type(subclassed.page_size) is int
    assert type(subclassed.start_page) is int


def test_a_long_status_list_is_refused_naming_status() -> None:
    """``status=["enabled"] * 1000`` made the URL too long, and the check of its length
    looked for the longest text filter: none given was a bare ``ValueError`` from ``max()``,
    and ``tags="a"`` beside it was blamed for the length.
    """
    for extra in ({}, {"tags": "a"}, {"iccid": "89"}):
        with pytest.raises(InvalidParameterError) as caught:
            sim_cards_query(status=["enabled"] * 1000, **extra)
        assert caught.value.parameter == "status"
