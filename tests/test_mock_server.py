"""The mock Telnyx server, exercised over real loopback HTTP with plain aiohttp requests.

Expected answers are computed here from a separately built `Fleet` (same arguments, so the
same records) with plain Python filters, independently of the server's column scans.
"""

from __future__ import annotations

import asyncio
import io
import math
import pickle
import re
import socket
import time
import zlib
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web
from polling import HANG_GUARD, eventually
from yarl import URL

import simcards_async.testing as testing_pkg
from simcards_async import SimCardsClient
from simcards_async.testing import (
    Drift,
    FaultPlan,
    Fleet,
    ManualClock,
    Misbehaviour,
    MockTelnyxServer,
    RateLimit,
    RequestRecord,
    _serve,
    serve,
)
from simcards_async.testing._checks import OptionError
from simcards_async.testing._server import close_runner, track_connections, url_host
from simcards_async.testing._state import Buckets

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

KEY = "KEY0123-secret-token"
CARDS, ACTIONS, SEED = 300, 400, 7
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
FILTER_STATUSES = ("enabled", "disabled", "standby", "data_limit_exceeded", "unauthorized_imei")
ACTION_TYPES = (
    "enable",
    "enable_standby_sim_card",
    "disable",
    "set_standby",
    "remove_public_ip",
    "set_public_ip",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(sim_cards=CARDS, actions=ACTIONS, seed=SEED)


@pytest.fixture(scope="module")
def cards(fleet: Fleet) -> list[dict[str, Any]]:
    return list(fleet.sim_cards())


@pytest.fixture(scope="module")
def actions(fleet: Fleet) -> list[dict[str, Any]]:
    return list(fleet.actions())


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=CARDS, actions=ACTIONS, seed=SEED, api_key=KEY) as s:
        yield s


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as s:
        yield s


def url(server: MockTelnyxServer, path: str, query: str = "") -> URL:
    """The URL with ``query`` sent exactly as written (no re-encoding by yarl)."""
    return URL(f"{server.url}{path}" + (f"?{query}" if query else ""), encoded=True)


async def get(session: aiohttp.ClientSession, target: URL, **kwargs: Any) -> tuple[int, Any, Any]:
    async with session.get(target, **kwargs) as resp:
        body = await resp.read()
        return resp.status, resp.headers, msgspec.json.decode(body)


async def scan(
    session: aiohttp.ClientSession, server: MockTelnyxServer, path: str, query: str = ""
) -> list[dict[str, Any]]:
    """Every record of a listing, 250 at a time."""
    found: list[dict[str, Any]] = []
    number = 1
    while True:
        q = "&".join(p for p in (query, f"page[size]=250&page[number]={number}") if p)
        status, _, body = await get(session, url(server, path, q))
        assert status == 200, body
        found += body["data"]
        if number >= body["meta"]["total_pages"]:
            return found
        number += 1


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


def error_params(body: dict[str, Any]) -> list[str]:
    return [e["source"]["parameter"] for e in body["errors"]]


# -- the fleet itself -----------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_fleet_fields_are_realistic(cards: list[dict[str, Any]]) -> None:
    """Identifiers are unique and well formed, eSIM fields follow the type, time only goes on."""
    assert len(cards) == CARDS
    for field in ("id", "iccid", "msisdn", "imsi"):
        assert len({c[field] for c in cards}) == CARDS, field
    for c in cards:
        assert UUID_RE.fullmatch(c["id"])
        assert c["record_type"] == "sim_card"
        assert c["version"] == "4.3"
        assert re.fullmatch(r"89[0-9]{17,18}", c["iccid"])
        assert luhn_ok(c["iccid"])
        assert re.fullmatch(r"[0-9]{15}", c["imsi"])
        assert re.fullmatch(r"\+1[0-9]{10}", c["msisdn"])
        assert re.fullmatch(r"[0-9]+\.[0-9]", c["current_billing_period_consumed_data"]["amount"])
        assert c["updated_at"] >= c["created_at"]
        assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", c["created_at"])
        if c["type"] == "esim":
            assert re.fullmatch(r"[0-9]{32}", c["eid"])
            assert c["esim_installation_status"] in {"released", "disabled"}
        else:
            assert c["type"] == "physical"
            assert c["eid"] is None
            assert c["esim_installation_status"] is None
        assert c["data_limit"] is None or c["data_limit"]["unit"] in {"MB", "GB"}
        assert c["authorized_imeis"] is None or all(
            re.fullmatch(r"[0-9]{15}", imei) for imei in c["authorized_imeis"]
        )
    statuses = Counter(c["status"]["value"] for c in cards)
    assert set(FILTER_STATUSES) <= set(statuses)
    assert statuses.most_common(1)[0][0] == "enabled"
    assert {"registering", "enabling"} & set(statuses)
    assert 0.1 < sum(c["type"] == "esim" for c in cards) / CARDS < 0.35
    assert {len(c["tags"]) for c in cards} == {0, 1, 2, 3}
    assert len({c["sim_card_group_id"] for c in cards}) == 6


def test_fleet_actions_are_realistic(actions: list[dict[str, Any]], fleet: Fleet) -> None:
    """Actions cover every type and status, point at real cards, and come in bulk groups."""
    card_ids = set(fleet.sim_card_ids())
    assert {a["action_type"] for a in actions} == set(ACTION_TYPES)
    assert {a["status"]["value"] for a in actions} == {
        "in-progress",
        "completed",
        "failed",
        "interrupted",
    }
    for a in actions:
        assert a["record_type"] == "sim_card_action"
        assert a["sim_card_id"] in card_ids
        assert a["updated_at"] >= a["created_at"]
        assert (a["status"]["reason"] is None) == (
            a["status"]["value"] in {"in-progress", "completed"}
        )
    bulks = Counter(a["bulk_sim_card_action_id"] for a in actions if a["bulk_sim_card_action_id"])
    assert bulks
    assert all(10 <= n <= 50 for n in bulks.values())


def test_fleet_is_deterministic() -> None:
    """The same seed renders the same records; another seed renders others."""
    a = Fleet(sim_cards=50, actions=20, seed=3)
    b = Fleet(sim_cards=50, actions=20, seed=3)
    c = Fleet(sim_cards=50, actions=20, seed=4)
    assert list(a.sim_cards()) == list(b.sim_cards())
    assert list(a.actions()) == list(b.actions())
    assert a.sim_card_ids() != c.sim_card_ids()


def test_fleet_builds_a_large_fleet() -> None:
    """A 200,000-card fleet builds and renders any card by id (its speed is a benchmark's job)."""
    big = Fleet(sim_cards=200_000, actions=0, seed=1)
    assert big.sim_card_count == 200_000
    first = big.sim_card_ids()[0]
    assert big.sim_card(first) is not None


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"sim_cards": -1}, "sim_cards must be an integer from 0 to 10,000,000 (a fleet is held"),
        ({"actions": Fleet.MAX_RECORDS + 1}, "actions must be an integer from 0 to"),
        ({"sim_cards": 10**11}, "sim_cards must be an integer from 0 to 10,000,000"),
        ({"sim_cards": 1.5}, "sim_cards must be an integer from 0 to"),
        ({"sim_cards": True}, "sim_cards must be an integer from 0 to"),
        ({"actions": "3"}, "actions must be an integer from 0 to"),
        # Its repr raised a bare ValueError (an int of over 4,300 digits) in the refusal.
        ({"sim_cards": 10**5000}, "sim_cards must be an integer from 0 to 10,000,000"),
        ({"seed": 10**5000}, "seed must be an integer of 64 bits (-2**63 to 2**63 - 1)"),
        ({"seed": -(2**63) - 1}, "seed must be an integer of 64 bits"),
    ],
)
def test_fleet_refuses_a_size_it_cannot_hold_naming_it(sizes: dict[str, Any], message: str) -> None:
    """A negative, non-integer or too large size is a ValueError naming the parameter and the
    range, raised before anything is built (10**11 cards would need terabytes).
    """
    with pytest.raises(OptionError, match=re.escape(message)) as info:
        Fleet(**sizes)
    assert info.value.option == next(iter(sizes))


KEY_ALLOWED = "a str, not empty, without spaces or control characters, or None"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": 70000}, "port must be an integer from 0 to 65535; got 70000"),
        ({"port": True}, "port must be an integer from 0 to 65535; got True"),  # bound port 1
        ({"latency": "0.01"}, "latency must be a finite number of seconds >= 0"),  # every 500
        ({"latency": float("nan")}, "latency must be a finite number of seconds >= 0"),
        ({"clock": 1}, "clock must be a function or None"),
        ({"seed": "7"}, "seed must be an integer of 64 bits (-2**63 to 2**63 - 1); got '7'"),
        ({"seed": 1.5}, "seed must be an integer of 64 bits"),
        # Made into text as the data is generated: Python's "Exceeds the limit (4300 digits)".
        ({"seed": 10**5000}, "seed must be an integer of 64 bits (-2**63 to 2**63 - 1); got 16,"),
        ({"seed": 2**63}, "seed must be an integer of 64 bits"),
        ({"faults": {}}, "faults must be a FaultPlan or None"),
        ({"host": ""}, "host must be a host name or address, not empty"),  # every interface
        ({"host": None}, "host must be a host name or address, not empty"),
        # A bare gaierror at start():
        ({"host": "  "}, "host must be a host name or address, not empty, with no spaces; got"),
        ({"host": "local host"}, "host must be a host name or address, not empty, with no spaces"),
        ({"api_key": b"key"}, f"api_key must be {KEY_ALLOWED}"),
        ({"api_key": ""}, f"api_key must be {KEY_ALLOWED}; got ''"),  # every 401
        ({"api_key": "secret "}, f"api_key must be {KEY_ALLOWED}"),  # every 401: stripped
        ({"api_key": "sec\tret"}, f"api_key must be {KEY_ALLOWED}"),
        ({"cache_bytes": "x"}, "cache_bytes must be an integer >= 0; got 'x'"),  # every 500
        ({"cache_bytes": 1.5}, "cache_bytes must be an integer >= 0; got 1.5"),
        ({"legacy_errors": "no"}, "legacy_errors must be True or False; got 'no'"),
        ({"keep_requests": -1}, "keep_requests must be an integer >= 0 or None; got -1"),
    ],
)
def test_the_server_refuses_an_option_it_would_fail_on_naming_it(
    options: dict[str, Any], message: str
) -> None:
    """Each was accepted, then a bare OverflowError or TypeError, an answer of 500 to every
    request, or a server on every interface: a ValueError naming the option, at once.
    """
    with pytest.raises(ValueError, match=re.escape(f"MockTelnyxServer: {message}")):
        MockTelnyxServer(**options)


class _ReprFails:
    def __repr__(self) -> str:
        raise RuntimeError("this repr fails")


def test_a_refused_option_whose_repr_fails_is_still_a_value_error() -> None:
    """The refusal showed the value by its ``repr()``, unguarded: the repr's own exception
    came out instead of the ``ValueError`` naming the option.
    """
    with pytest.raises(ValueError, match="cache_bytes must be an integer >= 0; got <a _ReprFails>"):
        MockTelnyxServer(cache_bytes=_ReprFails())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be an integer; got <a _ReprFails>"):
        FaultPlan(seed=_ReprFails())  # type: ignore[arg-type]


@pytest.mark.parametrize("header", [{"x-debug": "a\x01b"}, {"x-debug": "\x7f"}, {"x y": "1"}])
def test_a_header_aiohttp_would_refuse_at_every_answer_is_refused(header: dict[str, str]) -> None:
    """A control character in a value (or a space in a name) passed, and every answer was
    then dropped (aiohttp refuses such a header when it sends it): refused when made.
    """
    with pytest.raises(ValueError, match="extra_headers: not a header") as info:
        Misbehaviour(extra_headers=header)
    assert isinstance(info.value, OptionError)
    assert info.value.option == "extra_headers"


def test_a_refused_option_is_an_option_error_naming_it_which_pickles() -> None:
    """A refusal names its option as a field (``option``), which the ``mock-server`` command
    says as its flag: it took the message's first word for it.
    """
    with pytest.raises(OptionError) as info:
        Misbehaviour(replay_lag=-1)
    assert isinstance(info.value, ValueError)
    assert info.value.option == "replay_lag"
    assert str(info.value) == "replay_lag must be an integer >= 0; got -1"
    again = pickle.loads(pickle.dumps(info.value))  # noqa: S301  (our own bytes)
    assert (type(again), again.option, str(again)) == (OptionError, "replay_lag", str(info.value))
    # Refused by the server, the message begins with it: ``reason`` is what follows the name.
    with pytest.raises(OptionError) as owned:
        MockTelnyxServer(port=70000)
    refused = owned.value
    assert (refused.owner, refused.option) == ("MockTelnyxServer: ", "port")
    assert str(refused) == "MockTelnyxServer: port" + refused.reason
    assert refused.reason == " must be an integer from 0 to 65535; got 70000"


def test_id_order_compares_whole_ids_when_the_first_half_ties() -> None:
    """Sorting rows by id falls back to all 16 bytes when two ids share their first 8."""
    from simcards_async.testing._codes import Ids  # noqa: PLC0415 - an internal helper

    ids_ = Ids(salt=1)
    ids_.blob = bytearray(bytes(8) + b"\x09" * 8 + bytes(8) + b"\x01" * 8 + b"\xff" * 16)
    assert ids_.sorted([2, 0, 1]) == [1, 0, 2]


def test_public_surface() -> None:
    """The testing subpackage exports exactly its documented names, sorted."""
    assert testing_pkg.__all__ == sorted(testing_pkg.__all__)
    assert set(testing_pkg.__all__) == {
        "CannotListenError",  # what serve() raises
        "Drift",
        "FaultPlan",
        "Fleet",
        "ManualClock",
        "Misbehaviour",
        "MockTelnyxServer",
        "RateLimit",
        "RequestRecord",
        "serve",
    }


# -- listing and pagination -----------------------------------------------------------------


@pytest.mark.anyio
async def test_first_page_has_defaults_and_meta(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """Without page params the answer is page 1 of 20 records, with Telnyx pagination meta."""
    status, headers, body = await get(session, url(server, "/sim_cards"))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body["meta"] == {
        "page_number": 1,
        "page_size": 20,
        "total_pages": 15,
        "total_results": CARDS,
    }
    assert body["data"] == cards[:20]


@pytest.mark.anyio
async def test_default_order_is_newest_first_ties_by_id(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """A full scan returns every card once, newest created_at first, equal times by id."""
    found = await scan(session, server, "/sim_cards")
    assert len(set(ids(found))) == CARDS
    by_id = sorted(found, key=lambda c: c["id"])
    expected = sorted(by_id, key=lambda c: c["created_at"], reverse=True)  # stable: ids stay
    assert ids(found) == ids(expected)
    assert ids(found) == server.current_sim_card_ids()
    times = [c["created_at"] for c in found]
    assert len(set(times)) < len(times), "the fleet should have ties to break"


@pytest.mark.anyio
async def test_page_sizes_and_page_past_the_end(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """Pages slice the listing; a page past the end is empty with the same meta."""
    _, _, third = await get(session, url(server, "/sim_cards", "page[number]=3&page[size]=7"))
    assert ids(third["data"]) == ids(cards[14:21])
    assert third["meta"]["total_pages"] == math.ceil(CARDS / 7)
    _, _, last = await get(session, url(server, "/sim_cards", "page[number]=2&page[size]=250"))
    assert ids(last["data"]) == ids(cards[250:])
    status, _, past = await get(
        session, url(server, "/sim_cards", "page[number]=99&page[size]=250")
    )
    assert status == 200
    assert past == {
        "data": [],
        "meta": {"page_number": 99, "page_size": 250, "total_pages": 2, "total_results": CARDS},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    "statuses",
    [(s,) for s in FILTER_STATUSES] + [("enabled", "standby"), ("disabled", "unauthorized_imei")],
)
async def test_status_filter(
    server: MockTelnyxServer,
    session: aiohttp.ClientSession,
    cards: list[dict[str, Any]],
    statuses: tuple[str, ...],
) -> None:
    """filter[status] keeps the cards whose status is any of the given ones, in order."""
    expected = [c for c in cards if c["status"]["value"] in statuses]
    assert expected
    found = await scan(session, server, "/sim_cards", f"filter[status]={','.join(statuses)}")
    assert ids(found) == ids(expected)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "query",
    [
        "filter[status]=enabled,disabled",
        "filter%5Bstatus%5D=enabled%2Cdisabled",
        "filter[status]=enabled&filter[status]=disabled",
        "filter[status][]=enabled&filter[status][]=disabled",
        "filter%5Bstatus%5D%5B%5D=disabled&filter%5Bstatus%5D%5B%5D=enabled",
    ],
)
async def test_array_forms_are_equivalent(
    server: MockTelnyxServer,
    session: aiohttp.ClientSession,
    cards: list[dict[str, Any]],
    query: str,
) -> None:
    """Comma-joined (also percent-encoded, as the SDK sends it), repeated and [] arrays agree."""
    expected = [c for c in cards if c["status"]["value"] in {"enabled", "disabled"}]
    found = await scan(session, server, "/sim_cards", query)
    assert ids(found) == ids(expected)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tags",
    [("customers",), ("test",), ("customers", "active-customers"), ("iot", "fleet-a"), ("nope",)],
)
async def test_tags_filter_needs_all_tags(
    server: MockTelnyxServer,
    session: aiohttp.ClientSession,
    cards: list[dict[str, Any]],
    tags: tuple[str, ...],
) -> None:
    """filter[tags] keeps the cards that carry every one of the tags."""
    expected = [c for c in cards if set(tags) <= set(c["tags"])]
    for query in (
        f"filter[tags]={','.join(tags)}",
        "&".join(f"filter[tags][]={t}" for t in tags),
    ):
        found = await scan(session, server, "/sim_cards", query)
        assert ids(found) == ids(expected)
    if tags != ("nope",):
        assert expected
        assert len(expected) < CARDS


@pytest.mark.anyio
async def test_iccid_filter_matches_substrings(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """filter[iccid] keeps the cards whose ICCID contains the text."""
    for needle in (cards[10]["iccid"][9:13], cards[3]["iccid"], "89310", "000"):
        expected = [c for c in cards if needle in c["iccid"]]
        found = await scan(session, server, "/sim_cards", f"filter[iccid]={needle}")
        assert ids(found) == ids(expected)
        assert len(expected) > 0
    assert len([c for c in cards if "89310" in c["iccid"]]) < CARDS


@pytest.mark.anyio
async def test_msisdn_filter_is_exact(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """filter[msisdn] finds exactly the card with that number, and nothing for a part of it."""
    msisdn = cards[42]["msisdn"]
    found = await scan(session, server, "/sim_cards", f"filter[msisdn]=%2B{msisdn[1:]}")
    assert ids(found) == [cards[42]["id"]]
    assert await scan(session, server, "/sim_cards", f"filter[msisdn]=%2B{msisdn[1:-1]}") == []
    assert await scan(session, server, "/sim_cards", "filter[msisdn]=%2B19995550000") == []


@pytest.mark.anyio
async def test_group_filter_and_include_group(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """filter[sim_card_group_id] selects one group; include_sim_card_group embeds it."""
    group_ids = sorted({c["sim_card_group_id"] for c in cards})
    for group in group_ids:
        expected = [c for c in cards if c["sim_card_group_id"] == group]
        query = f"filter[sim_card_group_id]={group}&include_sim_card_group=true"
        found = await scan(session, server, "/sim_cards", query)
        assert ids(found) == ids(expected)
        for card in found:
            embedded = card.pop("sim_card_group")
            assert embedded["id"] == group
            assert embedded["record_type"] == "sim_card_group"
            assert set(embedded) >= {"name", "default", "data_limit", "consumed_data"}
        assert found == expected
    unknown = "00000000-0000-4000-8000-000000000000"
    assert await scan(session, server, "/sim_cards", f"filter[sim_card_group_id]={unknown}") == []
    _, _, plain = await get(session, url(server, "/sim_cards", "include_sim_card_group=false"))
    assert all("sim_card_group" not in c for c in plain["data"])


@pytest.mark.anyio
@pytest.mark.parametrize("descending", [False, True])
async def test_sort_by_consumed_data(
    server: MockTelnyxServer,
    session: aiohttp.ClientSession,
    cards: list[dict[str, Any]],
    descending: bool,
) -> None:
    """The sort parameter orders by consumed data as a number, '-' for descending, ties by id."""

    def amount(c: dict[str, Any]) -> float:
        return float(c["current_billing_period_consumed_data"]["amount"])

    sign = -1 if descending else 1
    expected = sorted(cards, key=lambda c: (sign * amount(c), c["id"]))
    key = "current_billing_period_consumed_data.amount"
    found = await scan(session, server, "/sim_cards", f"sort={'-' if descending else ''}{key}")
    assert ids(found) == ids(expected)
    assert Counter(amount(c) for c in cards)[0.0] > 1, "zero use should tie"
    # As text "9.5" > "10.0": a numeric sort differs from a string sort on this fleet.
    as_text = sorted(cards, key=lambda c: c["current_billing_period_consumed_data"]["amount"])
    assert ids(as_text) != ids(expected)


@pytest.mark.anyio
async def test_filters_combine(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """Several filters and a sort apply together."""
    group = cards[0]["sim_card_group_id"]
    expected = sorted(
        (
            c
            for c in cards
            if c["status"]["value"] in {"enabled", "disabled"}
            and "customers" in c["tags"]
            and c["sim_card_group_id"] == group
        ),
        key=lambda c: (-float(c["current_billing_period_consumed_data"]["amount"]), c["id"]),
    )
    assert expected
    query = (
        "filter[status]=enabled,disabled&filter[tags]=customers"
        f"&filter[sim_card_group_id]={group.upper()}"
        "&sort=-current_billing_period_consumed_data.amount&unknown_param=1&filter[bogus]=x"
    )
    found = await scan(session, server, "/sim_cards", query)
    assert ids(found) == ids(expected)


@pytest.mark.anyio
async def test_action_listing_and_filters(
    server: MockTelnyxServer, session: aiohttp.ClientSession, actions: list[dict[str, Any]]
) -> None:
    """Actions list newest first, and each action filter narrows to the matching actions."""
    everything = await scan(session, server, "/sim_card_actions")
    assert everything == actions
    assert ids(everything) == server.current_action_ids()
    bulk = next(a["bulk_sim_card_action_id"] for a in actions if a["bulk_sim_card_action_id"])
    card = actions[5]["sim_card_id"]
    cases: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        (f"filter[sim_card_id]={card}", lambda a: a["sim_card_id"] == card),
        (f"filter[bulk_sim_card_action_id]={bulk}", lambda a: a["bulk_sim_card_action_id"] == bulk),
        *[
            (f"filter[status]={s}", partial(lambda s, a: a["status"]["value"] == s, s))
            for s in ("in-progress", "completed", "failed")
        ],
        *[
            (f"filter[action_type]={t}", partial(lambda t, a: a["action_type"] == t, t))
            for t in ACTION_TYPES
        ],
        (
            "filter[status]=completed&filter[action_type]=disable",
            lambda a: a["status"]["value"] == "completed" and a["action_type"] == "disable",
        ),
    ]
    for query, keep in cases:
        expected = [a for a in actions if keep(a)]
        assert expected, query
        assert len(expected) < ACTIONS
        assert ids(await scan(session, server, "/sim_card_actions", query)) == ids(expected)


@pytest.mark.anyio
async def test_get_one_sim_card(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """A single card is the listed one plus device details; PIN/PUK and group only on request."""
    card = cards[17]
    status, _, body = await get(session, url(server, f"/sim_cards/{card['id']}"))
    assert status == 200
    full = body["data"]
    assert {k: full[k] for k in card} == card
    assert set(full) - set(card) == {
        "current_device_location",
        "current_imei",
        "current_mcc",
        "current_mnc",
        "ipv4",
        "ipv6",
        "live_data_session",
    }
    assert full["live_data_session"] in {"connected", "disconnected", "unknown"}
    assert full["current_device_location"]["accuracy_unit"] == "m"
    assert isinstance(full["current_device_location"]["accuracy"], int)
    query = "include_pin_puk_codes=true&include_sim_card_group=true"
    _, _, more = await get(session, url(server, f"/sim_cards/{card['id']}", query))
    codes = more["data"]["pin_puk_codes"]
    assert [len(codes[k]) for k in ("pin1", "pin2", "puk1", "puk2")] == [4, 4, 8, 8]
    assert more["data"]["sim_card_group"]["id"] == card["sim_card_group_id"]


@pytest.mark.anyio
async def test_get_one_action(
    server: MockTelnyxServer, session: aiohttp.ClientSession, actions: list[dict[str, Any]]
) -> None:
    """A single action reads the same as in the listing."""
    status, _, body = await get(session, url(server, f"/sim_card_actions/{actions[3]['id']}"))
    assert status == 200
    assert body == {"data": actions[3]}


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}, {"Authorization": KEY}],
)
async def test_401_without_the_right_bearer_token(
    server: MockTelnyxServer, headers: dict[str, str]
) -> None:
    """Requests without the server's API key as a bearer token get a Telnyx 401."""
    async with aiohttp.ClientSession(headers=headers) as session:
        for path in ("/sim_cards", f"/sim_cards/{server.current_sim_card_ids()[0]}"):
            status, _, body = await get(session, url(server, path))
            assert status == 401
            assert body["errors"][0]["code"] == "10009"
            assert body["errors"][0]["title"] == "Authentication failed"
            assert body["errors"][0]["detail"]


@pytest.mark.anyio
async def test_any_token_is_accepted_without_api_key() -> None:
    """With no api_key configured, any non-empty bearer token is accepted."""
    async with (
        MockTelnyxServer(sim_cards=5, actions=0) as server,
        aiohttp.ClientSession(headers={"Authorization": "bearer whatever"}) as session,
    ):
        status, _, body = await get(session, url(server, "/sim_cards"))
        assert status == 200
        assert len(body["data"]) == 5


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "query", "parameter"),
    [
        ("/sim_cards", "page[number]=0", "page[number]"),
        ("/sim_cards", "page[number]=abc", "page[number]"),
        ("/sim_cards", "page[number]=-1", "page[number]"),
        ("/sim_cards", "page[size]=251", "page[size]"),
        ("/sim_cards", "page[size]=0", "page[size]"),
        ("/sim_cards", "page[size]=2.5", "page[size]"),
        ("/sim_cards", "filter[status]=bogus", "filter[status]"),
        ("/sim_cards", "filter[status]=enabled,registering", "filter[status]"),
        ("/sim_cards", "filter[status][]=Enabled", "filter[status]"),
        ("/sim_cards", "filter[sim_card_group_id]=not-a-uuid", "filter[sim_card_group_id]"),
        ("/sim_cards", "include_sim_card_group=yes", "include_sim_card_group"),
        ("/sim_cards", "include_sim_card_group=True", "include_sim_card_group"),
        ("/sim_cards", "sort=iccid", "sort"),
        ("/sim_cards", "sort=%2Bcurrent_billing_period_consumed_data.amount", "sort"),
        ("/sim_card_actions", "page[size]=1000", "page[size]"),
        ("/sim_card_actions", "filter[sim_card_id]=123", "filter[sim_card_id]"),
        ("/sim_card_actions", "filter[status]=interrupted", "filter[status]"),
        ("/sim_card_actions", "filter[status]=failed,completed", "filter[status]"),
        (
            "/sim_card_actions",
            "filter[bulk_sim_card_action_id]=x",
            "filter[bulk_sim_card_action_id]",
        ),
        ("/sim_card_actions", "filter[action_type]=reboot", "filter[action_type]"),
        ("/sim_cards/{card}", "include_pin_puk_codes=1", "include_pin_puk_codes"),
        ("/sim_cards/{card}", "include_sim_card_group=no", "include_sim_card_group"),
        ("/sim_cards/not-a-uuid", "", "id"),
        ("/sim_card_actions/6a09cdc3-8948-47f0-aa62", "", "id"),
        # Empty, each filter meant something else: nothing (msisdn), everything (iccid,
        # tags), a 422 (status). Refused as status is.
        ("/sim_cards", "filter[msisdn]=", "filter[msisdn]"),
        ("/sim_cards", "filter[iccid]=", "filter[iccid]"),
        ("/sim_cards", "filter[tags]=", "filter[tags]"),
        ("/sim_cards", "filter[tags]=a,,b", "filter[tags]"),
    ],
)
async def test_422_names_the_bad_parameter(
    server: MockTelnyxServer,
    session: aiohttp.ClientSession,
    path: str,
    query: str,
    parameter: str,
) -> None:
    """An invalid value gets a Telnyx 422 whose source.parameter is the wire name."""
    path = path.format(card=server.current_sim_card_ids()[0])
    status, _, body = await get(session, url(server, path, query))
    assert status == 422
    assert error_params(body) == [parameter]
    err = body["errors"][0]
    assert err["code"] == "10015"
    assert err["title"] == "Invalid parameter"
    assert parameter in err["detail"]


@pytest.mark.anyio
async def test_a_page_number_too_large_is_told_its_bound(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """``page[number]=10**30`` was refused as "must be an integer >= 1", which it is: the
    bound it breaks is said (18 digits at most).
    """
    status, _, body = await get(session, url(server, "/sim_cards", f"page[number]={10**30}"))
    assert status == 422
    assert body["errors"][0]["detail"] == (
        f"page[number] must be an integer between 1 and {10**18 - 1}; got '{10**30}'."
    )


@pytest.mark.anyio
async def test_422_lists_every_bad_parameter(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """Several bad parameters give one error object each; the detail says what is allowed."""
    query = "page[size]=999&filter[status]=bogus&sort=x&include_sim_card_group=maybe"
    status, _, body = await get(session, url(server, "/sim_cards", query))
    assert status == 422
    assert sorted(error_params(body)) == [
        "filter[status]",
        "include_sim_card_group",
        "page[size]",
        "sort",
    ]
    details = {e["source"]["parameter"]: e["detail"] for e in body["errors"]}
    assert "between 1 and 250" in details["page[size]"]
    assert "data_limit_exceeded" in details["filter[status]"]
    assert "'bogus'" in details["filter[status]"]


@pytest.mark.anyio
async def test_404_for_unknown_ids(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """A well-formed id that names nothing gets a Telnyx 404."""
    unknown = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"
    for path in (f"/sim_cards/{unknown}", f"/sim_card_actions/{unknown}", "/nothing_here"):
        status, _, body = await get(session, url(server, path))
        assert status == 404
        assert body["errors"][0]["code"] == "10005"
        assert body["errors"][0]["title"] == "Resource not found"


@pytest.mark.anyio
async def test_legacy_errors_send_integer_codes_and_description() -> None:
    """With legacy_errors, error objects carry an integer code and description, not detail."""
    async with (
        MockTelnyxServer(sim_cards=5, actions=0, api_key=KEY, legacy_errors=True) as server,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as session,
    ):
        status, _, body = await get(session, url(server, "/sim_cards", "page[size]=0"))
        assert status == 422
        [err] = body["errors"]
        assert err["code"] == 10015
        assert "page[size]" in err["description"]
        assert "detail" not in err
        assert err["source"] == {"parameter": "page[size]"}
        async with aiohttp.ClientSession() as anonymous:
            status, _, body = await get(anonymous, url(server, "/sim_cards"))
        assert status == 401
        assert body["errors"][0]["code"] == 10009


# -- bookkeeping ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_requests_are_recorded_with_the_token_redacted(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """Each request is logged with its raw and parsed query and status, but never the token."""
    raw = "filter%5Bstatus%5D=enabled%2Cdisabled&page[size]=5&x=a+b"
    await get(session, url(server, "/sim_cards", raw))
    await get(session, url(server, "/sim_cards/not-a-uuid"))
    first, second = server.requests
    assert isinstance(first, RequestRecord)
    assert (first.method, first.path, first.raw_query) == ("GET", "/v2/sim_cards", raw)
    assert first.query == {
        "filter[status]": ["enabled,disabled"],
        "page[size]": ["5"],
        "x": ["a b"],
    }
    assert (first.status, first.fault) == (200, None)
    assert first.headers["authorization"] == "Bearer <redacted>"
    assert (second.path, second.status) == ("/v2/sim_cards/not-a-uuid", 422)
    assert KEY not in repr(server.requests)


@pytest.mark.anyio
@pytest.mark.parametrize("keep", [0, 2])
async def test_keep_requests_bounds_the_records_to_the_last_ones(
    session: aiohttp.ClientSession, keep: int
) -> None:
    """Every request was kept for ever, some 19 KB each with long headers: a long-lived
    server grew without bound. ``keep_requests`` keeps only the last ones.
    """
    async with MockTelnyxServer(sim_cards=5, actions=0, keep_requests=keep) as server:
        for number in range(1, 6):
            await get(session, url(server, "/sim_cards", f"page[size]=1&page[number]={number}"))
        numbers = [r.query["page[number]"] for r in server.requests]
    assert numbers == [["4"], ["5"]][2 - keep :]


@pytest.mark.anyio
async def test_every_answer_has_a_fresh_request_id(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """Answers of every kind carry a distinct x-request-id."""
    seen = []
    for path, query in (("/sim_cards", ""), ("/sim_cards", "sort=x"), ("/sim_cards/x", "")):
        _, headers, _ = await get(session, url(server, path, query))
        seen.append(headers["x-request-id"])
    async with aiohttp.ClientSession() as anonymous:
        _, headers, _ = await get(anonymous, url(server, "/sim_cards"))
        seen.append(headers["x-request-id"])
    assert len(set(seen)) == 4
    assert all(UUID_RE.fullmatch(i) for i in seen)


@pytest.mark.anyio
async def test_same_seed_gives_the_same_bytes() -> None:
    """Two servers with the same seed answer byte for byte alike; another seed does not."""
    bodies = []
    for seed in (11, 11, 12):
        async with (
            MockTelnyxServer(sim_cards=60, actions=30, seed=seed) as server,
            aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as session,
        ):
            got = []
            for path in (
                "/sim_cards?page[size]=50&include_sim_card_group=true",
                "/sim_card_actions",
            ):
                async with session.get(url(server, path)) as resp:
                    got.append(await resp.read())
            card = server.current_sim_card_ids()[7]
            async with session.get(
                url(server, f"/sim_cards/{card}?include_pin_puk_codes=true")
            ) as r:
                got.append(await r.read())
            bodies.append(got)
    assert bodies[0] == bodies[1]
    assert all(a != b for a, b in zip(bodies[0], bodies[2], strict=True))


@pytest.mark.anyio
async def test_repeated_scans_are_served_from_the_cache(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """A second scan returns the same bytes, and a change to the data is seen at once."""
    target = url(server, "/sim_cards", "page[size]=50")
    async with session.get(target) as resp:
        first = await resp.read()
    async with session.get(target) as resp:
        assert await resp.read() == first
    new = server.insert_sim_cards(1)
    _, _, body = await get(session, target)
    assert body["data"][0]["id"] == new[0]
    assert body["meta"]["total_results"] == CARDS + 1


@pytest.mark.anyio
async def test_latency_is_slept_before_each_answer(
    server: MockTelnyxServer, session: aiohttp.ClientSession
) -> None:
    """Setting server.latency at run time delays the following answers by that much."""
    server.latency = 0.15
    start = time.perf_counter()
    status, _, _ = await get(session, url(server, "/sim_cards"))
    assert status == 200
    assert time.perf_counter() - start >= 0.15
    server.latency = 0.0


# -- faults ---------------------------------------------------------------------------------


def faulty(*script: str | int | None, **plan: Any) -> MockTelnyxServer:
    return MockTelnyxServer(
        sim_cards=40, actions=10, api_key=KEY, faults=FaultPlan(script=script, **plan)
    )


@pytest.mark.anyio
async def test_dropped_connection_is_a_client_error(session: aiohttp.ClientSession) -> None:
    """A dropped request gets no answer; aiohttp retries a GET once, then fails."""
    async with faulty("drop", "drop") as server:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(session, url(server, "/sim_cards"))
        assert [(r.fault, r.status) for r in server.requests] == [("drop", None)] * 2
        assert server.fault_counts == Counter({"drop": 2})
        status, _, _ = await get(session, url(server, "/sim_cards"))
        assert status == 200


@pytest.mark.anyio
async def test_truncated_body_fails_to_read(session: aiohttp.ClientSession) -> None:
    """A truncated answer declares its full length but sends half, so reading it fails."""
    async with faulty("truncate") as server:
        async with session.get(url(server, "/sim_cards")) as resp:
            assert resp.status == 200
            assert resp.content_length is not None
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        assert (server.requests[0].fault, server.requests[0].status) == ("truncate", 200)


@pytest.mark.anyio
async def test_hang_exceeds_a_short_client_timeout(session: aiohttp.ClientSession) -> None:
    """A hung answer outlasts a short client timeout; the server stays usable."""
    async with faulty("hang", hang_seconds=30) as server:
        # A deadline against a hang, far below hang_seconds: not a timing assert.
        with anyio.fail_after(15), pytest.raises(asyncio.TimeoutError):
            await get(session, url(server, "/sim_cards"), timeout=aiohttp.ClientTimeout(total=0.2))
        status, _, _ = await get(session, url(server, "/sim_cards"))
        assert status == 200
        assert server.fault_counts["hang"] == 1


@pytest.mark.anyio
async def test_hang_answers_after_hang_seconds(session: aiohttp.ClientSession) -> None:
    """A hung request is answered normally once hang_seconds have passed."""
    async with faulty("hang", hang_seconds=0.2) as server:
        start = time.perf_counter()
        status, _, body = await get(session, url(server, "/sim_cards"))
        assert status == 200
        assert time.perf_counter() - start >= 0.2
        assert len(body["data"]) == 20


def test_a_server_restarted_in_another_event_loop_still_hangs_then_answers() -> None:
    """A server object reused across event loops (one per test, say): its close signal was
    made once, bound to the first loop, and a hang in the second was answered a bare 500.
    """
    server = faulty("hang", "hang", hang_seconds=0.001)

    async def hung_status() -> int:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with server, aiohttp.ClientSession(headers=headers) as session:
            return (await get(session, url(server, "/sim_cards")))[0]

    assert [asyncio.run(hung_status()) for _ in range(2)] == [200, 200]
    assert server.fault_counts["hang"] == 2


@pytest.mark.anyio
async def test_5xx_faults_cycle_and_502_is_sometimes_html(
    session: aiohttp.ClientSession,
) -> None:
    """5xx faults answer 500, 502, 503, 504 in turn, every other 502 as an HTML page."""
    async with faulty(*["5xx"] * 6) as server:
        seen = []
        for _ in range(6):
            async with session.get(url(server, "/sim_card_actions")) as resp:
                body = await resp.read()
                seen.append((resp.status, resp.content_type))
                if resp.content_type == "application/json":
                    assert msgspec.json.decode(body)["errors"][0]["code"] == "10007"
                else:
                    assert b"502 Bad Gateway" in body
        assert seen == [
            (500, "application/json"),
            (502, "text/html"),
            (503, "application/json"),
            (504, "application/json"),
            (500, "application/json"),
            (502, "application/json"),
        ]
        assert server.fault_counts == Counter({"5xx": 6})


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["429", 429], ids=["name", "status"])
async def test_429_fault_carries_retry_headers(
    session: aiohttp.ClientSession, fault: str | int
) -> None:
    """A 429 fault sends code 10011, Retry-After and the x-ratelimit headers. Scripted as a
    number (as 418 is), it sent them without ``Retry-After`` or ``x-ratelimit-remaining: 0``.
    """
    async with faulty(fault, None, 418, retry_after=0.25) as server:
        status, headers, body = await get(session, url(server, "/sim_cards"))
        assert status == 429
        assert body["errors"][0]["code"] == "10011"
        assert headers["Retry-After"] == "0.25"
        assert headers["x-ratelimit-remaining"] == "0"
        assert headers["x-ratelimit-reset"] == "0.25"
        assert int(headers["x-ratelimit-limit"]) > 0
        assert (await get(session, url(server, "/sim_cards")))[0] == 200
        status, _, body = await get(session, url(server, "/sim_cards"))
        assert status == 418
        assert body["errors"][0]["detail"]
        assert server.fault_counts == Counter({"429": 1, "418": 1})
        assert [r.fault for r in server.requests] == ["429", None, "418"]


@pytest.mark.anyio
async def test_a_scripted_status_python_has_no_name_for_is_served(
    session: aiohttp.ClientSession,
) -> None:
    """499, 520, 430 and 509 are in the documented 400-599, but HTTPStatus lacks them: every
    such answer was a bare text 500. They come with a Telnyx errors body like the others.
    """
    async with faulty(499, 520, 430, 509) as server:
        for status, phrase in [
            (499, "Client Error"),
            (520, "Server Error"),
            (430, "Client Error"),
            (509, "Server Error"),
        ]:
            got, _, body = await get(session, url(server, "/sim_cards"))
            assert got == status
            assert body["errors"][0]["title"] == phrase
            assert f"answered {status} {phrase}" in body["errors"][0]["detail"]
        assert [r.status for r in server.requests] == [499, 520, 430, 509]


@pytest.mark.anyio
async def test_random_faults_are_deterministic_per_seed(session: aiohttp.ClientSession) -> None:
    """Fault rates draw from a seeded RNG in arrival order: same seed, same faults."""
    runs = []
    for _ in range(2):
        async with faulty(seed=5, error_5xx=0.3, rate_limited=0.2) as server:
            statuses = []
            for _ in range(30):
                async with session.get(url(server, "/sim_cards")) as resp:
                    await resp.read()  # a 502 may be HTML
                    statuses.append(resp.status)
            faults = [r.fault for r in server.requests]
            assert Counter(f for f in faults if f) == server.fault_counts
            runs.append((statuses, faults))
    assert runs[0] == runs[1]
    statuses, faults = runs[0]
    assert {"5xx", "429", None} == set(faults)
    assert [s for s, f in zip(statuses, faults, strict=True) if f is None] == [200] * faults.count(
        None
    )


@pytest.mark.parametrize(
    ("make", "options", "message"),
    [
        (FaultPlan, {"error_5xx": "0.1"}, "error_5xx must be a probability from 0 to 1; got '0.1'"),
        (FaultPlan, {"drop": math.nan}, "drop must be a probability from 0 to 1; got nan"),
        (FaultPlan, {"seed": "x"}, "seed must be an integer; got 'x'"),
        # A nan hang never ended; an infinite or nan Retry-After made every answer a 500.
        (FaultPlan, {"hang_seconds": math.nan}, "hang_seconds must be a number of seconds >= 0"),
        (FaultPlan, {"hang_seconds": "5"}, "hang_seconds must be a number of seconds >= 0"),
        (FaultPlan, {"retry_after": math.inf}, "retry_after must be a finite number of seconds"),
        (FaultPlan, {"retry_after": math.nan}, "retry_after must be a finite number of seconds"),
        # 500.0 was served as no fault at all; 5 and "drop" are no list of items.
        (FaultPlan, {"script": [500.0]}, "script items must be one of 5xx, 429, drop, truncate"),
        (FaultPlan, {"script": [True]}, "script items must be one of 5xx, 429, drop, truncate"),
        (FaultPlan, {"script": [b"drop"]}, "script items must be one of 5xx, 429, drop, "),
        (FaultPlan, {"script": 5}, "script must be a list of items each one of 5xx, 429, "),
        (FaultPlan, {"script": "drop"}, "script must be a list of items each one of 5xx, "),
        (RateLimit, {"requests_per_second": "5"}, "requests_per_second must be a finite number"),
        (RateLimit, {"requests_per_second": math.nan}, "requests_per_second must be a finite"),
        (RateLimit, {"requests_per_second": math.inf}, "requests_per_second must be a finite"),
        (RateLimit, {"requests_per_second": 5, "burst": 1.5}, "burst must be an integer >= 1"),
        (RateLimit, {"requests_per_second": 5, "burst": True}, "burst must be an integer >= 1"),
        (Drift, {"every": "3"}, "every must be an integer >= 1; got '3'"),
        (Drift, {"every": 2.5}, "every must be an integer >= 1; got 2.5"),
        (Drift, {"insert": 1.5}, "insert must be an integer >= 0; got 1.5"),  # every 500
        (Misbehaviour, {"replay_lag": "2"}, "replay_lag must be an integer >= 0; got '2'"),
        (Misbehaviour, {"replay_lag": 1.5}, "replay_lag must be an integer >= 0; got 1.5"),
        (Misbehaviour, {"gzip_bomb_bytes": 1e5 + 0.5}, "gzip_bomb_bytes must be an integer >= 0"),
        (
            Misbehaviour,
            {"total_pages": "x"},
            "total_pages must be an integer of 64 bits or None; got 'x'",
        ),
        # Its repr raised Python's bare "Exceeds the limit (4300 digits)"; each answer a 500.
        (Misbehaviour, {"total_pages": 10**5000}, "total_pages must be an integer of 64 bits"),
        (Misbehaviour, {"page_number_offset": 2**63}, "page_number_offset must be an integer of"),
        (Misbehaviour, {"replay_lag": 2**63}, "replay_lag must be at most 9,223,372,036,854,7"),
        (Misbehaviour, {"page_number_offset": 0.5}, "page_number_offset must be an integer"),
        (Misbehaviour, {"endless": 1}, "endless must be True or False; got 1"),
        (Misbehaviour, {"redirect": 5}, "redirect must be one of bad-ipv6, bad-port, userinfo"),
        (Misbehaviour, {"extra_headers": [("a", "b")]}, "extra_headers must be a mapping of "),
        (Misbehaviour, {"extra_headers": {"a": 5}}, "extra_headers must be a mapping of header"),
        (ManualClock, {"step": math.nan}, "step must be a finite number of seconds >= 0; got nan"),
        (ManualClock, {"start": "x"}, "start must be a finite number of seconds; got 'x'"),
        (ManualClock().advance, {"seconds": math.nan}, "advance must be a finite number of sec"),
        # An int no float holds: a bare OverflowError, or (hang) every hang answer a 500.
        (FaultPlan, {"error_5xx": 10**400}, "error_5xx must be a probability from 0 to 1; got"),
        (FaultPlan, {"retry_after": 10**400}, "retry_after must be a finite number of seconds"),
        (FaultPlan, {"hang_seconds": 10**400}, "hang_seconds must be a number of seconds >= 0"),
        (RateLimit, {"requests_per_second": 10**400}, "requests_per_second must be a finite"),
        (ManualClock, {"start": 10**400}, "start must be a finite number of seconds; got 1,329"),
        (ManualClock().advance, {"seconds": 10**400}, "advance must be a finite number of sec"),
        (MockTelnyxServer, {"latency": 10**400}, "MockTelnyxServer: latency must be a finite"),
    ],
)
def test_an_option_is_checked_when_made_naming_it(
    make: Callable[..., object], options: dict[str, Any], message: str
) -> None:
    """Each was taken, then a bare TypeError or AttributeError, every answer a bare 500, or a
    fault silently not served: a ValueError naming the option, what it takes and what it got.
    """
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        make(**options)


def test_a_fault_script_may_be_any_iterable() -> None:
    """A generator or an iterator was used up by the checks, and the script left empty: no
    fault served, in silence. It is read once.
    """
    assert FaultPlan(script=iter([500, "drop"])).script == (500, "drop")  # type: ignore[arg-type]
    hang = (s for s in ["hang", None])
    assert FaultPlan(script=hang).script == ("hang", None)  # type: ignore[arg-type]
    assert FaultPlan(hang_seconds=math.inf).hang_seconds == math.inf  # until the close


def test_fault_plan_rejects_nonsense() -> None:
    """Probabilities beyond 1 and unknown script items are refused up front."""
    with pytest.raises(ValueError, match="probabilities"):
        FaultPlan(error_5xx=0.7, drop=0.5)
    with pytest.raises(ValueError, match="script"):
        FaultPlan(script=("explode",))
    with pytest.raises(ValueError, match="script"):
        FaultPlan(script=(200,))


# -- rate limit -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rate_limit_headers_and_429_beyond_the_rate() -> None:
    """Each key gets burst requests at once, then 429 with Retry-After until tokens refill."""
    limit = RateLimit(requests_per_second=2, burst=3)
    clock = ManualClock()
    async with (
        MockTelnyxServer(sim_cards=10, actions=0, rate_limit=limit, clock=clock) as server,
        aiohttp.ClientSession(headers={"Authorization": "Bearer one"}) as one,
        aiohttp.ClientSession(headers={"Authorization": "Bearer two"}) as two,
    ):
        answers = []
        for _ in range(4):
            answers.append(await get(one, url(server, "/sim_cards")))
            clock.advance(0.01)
        assert [a[0] for a in answers] == [200, 200, 200, 429]
        assert [a[1]["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a[1]["x-ratelimit-limit"] for a in answers} == {"3"}
        resets = [float(a[1]["x-ratelimit-reset"]) for a in answers]
        assert 0.4 < resets[0] <= 0.5
        assert 1.4 < resets[2] <= 1.5
        status, headers, body = answers[3]
        assert body["errors"][0]["code"] == "10011"
        retry = float(headers["Retry-After"])
        assert 0.3 < retry <= 0.5
        assert (await get(two, url(server, "/sim_cards")))[0] == 200  # its own bucket
        clock.advance(retry)
        status, headers, _ = await get(one, url(server, "/sim_cards"))
        assert status == 200
        assert headers["x-ratelimit-remaining"] == "0"
        assert [r.status for r in server.requests].count(429) == 1
        assert not server.fault_counts


def test_rate_limit_buckets_full_again_are_let_go_of() -> None:
    """A bucket was held for every key ever seen, for ever (a full one is the same as none):
    those full again are dropped as more keys come, and the others are kept whole.
    """
    clock = ManualClock()
    buckets = Buckets(RateLimit(requests_per_second=1, burst=2), clock)
    buckets.take("kept")
    for n in range(5000):
        clock.advance(2.0)  # each bucket is full again two seconds after its one request
        buckets.take(f"key-{n}")
        buckets.take("kept")
        buckets.take("kept")  # empty: never full when a prune comes
    assert len(buckets) <= 1024
    assert buckets.peek("kept")["x-ratelimit-remaining"] == "0"


def test_manual_clock_moves_only_when_told() -> None:
    """A ManualClock stands still, moves by advance(), and by ``step`` after each read."""
    clock = ManualClock(5.0)
    assert (clock(), clock(), clock.now) == (5.0, 5.0, 5.0)
    clock.advance(1.5)
    assert clock() == 6.5
    clock.step = 0.25
    assert [clock(), clock(), clock()] == [6.5, 6.75, 7.0]
    assert clock.now == 7.25
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="step"):
        ManualClock(step=-1)


# -- drift ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_drift_inserts_at_the_head_every_nth_list_request(
    session: aiohttp.ClientSession,
) -> None:
    """After every n-th list request, new cards appear first and the totals grow."""
    drift = Drift(seed=1, every=2, insert=3)
    async with MockTelnyxServer(sim_cards=50, actions=20, drift=drift) as server:
        before = server.current_sim_card_ids()
        totals = []
        for _ in range(5):
            _, _, body = await get(session, url(server, "/sim_cards", "page[size]=10"))
            totals.append(body["meta"]["total_results"])
        assert totals == [50, 50, 53, 53, 56]
        after = server.current_sim_card_ids()
        assert after[6:] == before
        _, _, body = await get(session, url(server, "/sim_cards", "page[size]=10"))
        assert ids(body["data"]) == after[:10]
        _, _, actions = await get(session, url(server, "/sim_card_actions"))
        assert actions["meta"]["total_results"] == 20 + 9  # drifted after list answers 2, 4, 6
        assert len(server.current_action_ids()) == 20 + 9


def test_inserts_past_the_fleets_bound_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fleet holds ``MAX_RECORDS`` of each kind, as its constructor says, but inserts were
    not held to it: ``insert_sim_cards(10**8)`` ran for a minute, then a bare OverflowError.
    Refused, naming ``count`` and the room left (deleted records count: their rows stay).
    """
    monkeypatch.setattr(Fleet, "MAX_RECORDS", 30)
    server = MockTelnyxServer(sim_cards=20, actions=25)
    server.delete_sim_cards(5)
    with pytest.raises(
        ValueError, match=r"insert_sim_cards: count must be an integer from 0 to 10 "
    ):
        server.insert_sim_cards(11)
    with pytest.raises(ValueError, match=r"insert_actions: count must be an integer from 0 to 5 "):
        server.insert_actions(10**8)
    assert len(server.insert_sim_cards(10)) == 10
    assert server.fleet.room() == (0, 5)


@pytest.mark.anyio
async def test_drift_stops_growing_a_full_fleet(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drift's inserts stop at the fleet's bound (the answers go on, the data stops growing)."""
    monkeypatch.setattr(Fleet, "MAX_RECORDS", 24)
    async with MockTelnyxServer(sim_cards=20, actions=20, drift=Drift(every=1, insert=3)) as server:
        totals = []
        for _ in range(3):
            status, _, body = await get(session, url(server, "/sim_cards", "page[size]=10"))
            assert status == 200
            totals.append(body["meta"]["total_results"])
    assert totals == [20, 23, 24]


@pytest.mark.anyio
async def test_drift_deletes_shift_pages_while_scanning(session: aiohttp.ClientSession) -> None:
    """Deleting records during a scan shifts later pages, so a naive scan misses records."""
    drift = Drift(seed=2, every=1, insert=0, delete=4)
    async with MockTelnyxServer(sim_cards=60, actions=10, drift=drift) as server:
        seen: list[str] = []
        for number in range(1, 4):
            query = f"page[size]=20&page[number]={number}"
            _, _, body = await get(session, url(server, "/sim_cards", query))
            seen += ids(body["data"])
            assert body["meta"]["total_results"] == 60 - 4 * (number - 1)
        remaining = server.current_sim_card_ids()
        assert len(remaining) == 60 - 12
        assert set(remaining) - set(seen), "records shifted onto pages already read"


@pytest.mark.anyio
async def test_insert_and_delete_by_hand(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """Tests can insert cards at the head and delete cards by id, and the API follows."""
    page_one = ids((await get(session, url(server, "/sim_cards", "page[size]=10")))[2]["data"])
    new = server.insert_sim_cards(4)
    assert len(new) == 4
    _, _, body = await get(session, url(server, "/sim_cards", "page[size]=10&page[number]=2"))
    assert ids(body["data"])[:4] == page_one[6:]  # shifted by the insert
    _, _, first = await get(session, url(server, "/sim_cards", "page[size]=4"))
    assert ids(first["data"]) == new
    gone = server.delete_sim_cards([cards[0]["id"], cards[1]["id"], "not-an-id"])
    assert gone == [cards[0]["id"], cards[1]["id"]]
    assert (await get(session, url(server, f"/sim_cards/{cards[0]['id']}")))[0] == 404
    assert server.current_sim_card_ids() == new + ids(cards[2:])
    assert len(server.delete_sim_cards(3)) == 3
    assert len(server.current_sim_card_ids()) == CARDS + 4 - 5


@pytest.mark.parametrize(
    ("change", "argument", "message"),
    [
        # One id, iterated as characters, deleted nothing and said nothing.
        ("delete_sim_cards", "ID", "delete_sim_cards: ids_or_count must be a list of ids (one"),
        ("delete_actions", "ID", "delete_actions: ids_or_count must be a list of ids (one id"),
        ("delete_sim_cards", True, "delete_sim_cards: ids_or_count must be a list of ids (one id"),
        ("delete_sim_cards", 2.0, "delete_sim_cards: ids_or_count must be a list of ids (one id"),
        ("delete_sim_cards", -1, "delete_sim_cards: ids_or_count must be a list of ids (one id"),
        ("delete_sim_cards", [123], "delete_sim_cards: ids_or_count must be a list of ids (one id"),
        ("insert_sim_cards", "3", "insert_sim_cards: count must be an integer >= 0; got '3'"),
        ("insert_sim_cards", 1.5, "insert_sim_cards: count must be an integer >= 0; got 1.5"),
        ("insert_sim_cards", True, "insert_sim_cards: count must be an integer >= 0; got True"),
        ("insert_actions", None, "insert_actions: count must be an integer >= 0; got None"),
    ],
)
def test_a_change_by_hand_refuses_what_is_no_ids_or_count(
    change: str, argument: object, message: str
) -> None:
    """A str, a bool, a float or a text count was a bare TypeError, counted as 1, or deleted
    nothing in silence: a ValueError naming the method and what it takes, nothing changed.
    """
    server = MockTelnyxServer(sim_cards=10, actions=5)
    before = (server.current_sim_card_ids(), server.current_action_ids())
    if argument == "ID":
        argument = before[change == "delete_actions"][0]
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        getattr(server, change)(argument)
    assert (server.current_sim_card_ids(), server.current_action_ids()) == before


# -- serve() --------------------------------------------------------------------------------


class FlushedOutput(io.StringIO):
    """A text stream that says when it was flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = anyio.Event()

    def flush(self) -> None:
        """Flush, and let the waiting test go on."""
        super().flush()
        self.flushed.set()


@pytest.mark.anyio
async def test_serve_prints_its_url_and_serves_until_cancelled() -> None:
    """serve() prints http://HOST:PORT/v2 alone on a line, answers there, and stops on cancel."""
    out = FlushedOutput()
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(serve, host="127.0.0.1", port=0, out=out, sim_cards=7, actions=0))
        with anyio.fail_after(HANG_GUARD):  # a hang guard, not a timing assert
            await out.flushed.wait()
        printed = out.getvalue()
        assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+/v2\n", printed)
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as session:
            status, _, body = await get(session, URL(printed.strip() + "/sim_cards"))
        assert status == 200
        assert body["meta"]["total_results"] == 7
        tg.cancel_scope.cancel()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(session, URL(printed.strip() + "/sim_cards"))


@pytest.mark.anyio
async def test_serve_keeps_no_request_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """`simcards mock-server` serves until Ctrl-C and nobody can read its records: it kept
    every one, and grew some 19 KB a request for ever.
    """
    made: list[MockTelnyxServer] = []

    class Seen(MockTelnyxServer):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            made.append(self)

    monkeypatch.setattr(_serve, "MockTelnyxServer", Seen)
    out = FlushedOutput()
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(serve, host="127.0.0.1", port=0, out=out, sim_cards=3, actions=0))
        with anyio.fail_after(HANG_GUARD):  # a hang guard, not a timing assert
            await out.flushed.wait()
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as session:
            for _ in range(3):
                assert (await get(session, URL(out.getvalue().strip() + "/sim_cards")))[0] == 200
        tg.cancel_scope.cancel()
    (server,) = made
    assert server.requests == []


# -- misbehaviour ---------------------------------------------------------------------------


def misbehaving(**knobs: Any) -> MockTelnyxServer:
    return MockTelnyxServer(
        sim_cards=CARDS, actions=ACTIONS, seed=SEED, api_key=KEY, misbehaviour=Misbehaviour(**knobs)
    )


def page_query(number: int, size: int = 50) -> str:
    return f"page[size]={size}&page[number]={number}"


@pytest.mark.anyio
async def test_no_misbehaviour_by_default(session: aiohttp.ClientSession) -> None:
    """A server given an all-off Misbehaviour answers byte for byte like one given none."""
    bodies = []
    for knobs in (None, Misbehaviour()):
        async with MockTelnyxServer(
            sim_cards=CARDS, actions=ACTIONS, seed=SEED, api_key=KEY, misbehaviour=knobs
        ) as server:
            for path in ("/sim_cards", "/sim_card_actions"):
                async with session.get(url(server, path, page_query(2))) as resp:
                    bodies.append(
                        (resp.status, resp.headers.get("Content-Encoding"), await resp.read())
                    )
    assert bodies[:2] == bodies[2:]


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/sim_cards", "/sim_card_actions"])
async def test_ignore_page_number_serves_page_one_every_time(
    session: aiohttp.ClientSession, path: str
) -> None:
    """With ignore_page_number every page has page 1's records, meta echoing the page asked."""
    async with misbehaving(ignore_page_number=True, total_pages=10**6) as server:
        pages = [(await get(session, url(server, path, page_query(n))))[2] for n in (1, 2, 7)]
    assert ids(pages[0]["data"]) == ids(pages[1]["data"]) == ids(pages[2]["data"])
    assert len(pages[0]["data"]) == 50
    assert [p["meta"]["page_number"] for p in pages] == [1, 2, 7]
    assert {p["meta"]["total_pages"] for p in pages} == {10**6}


@pytest.mark.anyio
async def test_endless_pages_bring_fresh_records_past_the_end(
    session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """total_pages of 10**9 for 300 results, and every page past the end has new ids."""
    async with misbehaving(total_pages=10**9, endless=True) as server:
        seen: list[str] = []
        for number in range(1, 11):
            _, _, body = await get(session, url(server, "/sim_cards", page_query(number)))
            assert body["meta"]["total_pages"] == 10**9
            assert body["meta"]["total_results"] == CARDS
            assert len(body["data"]) == 50
            seen += ids(body["data"])
        again = (await get(session, url(server, "/sim_cards", page_query(9))))[2]
    assert seen[:CARDS] == ids(cards)
    assert len(set(seen)) == len(seen) == 500
    assert all(UUID_RE.fullmatch(i) for i in seen)
    assert ids(again["data"]) == seen[400:450]  # deterministic


@pytest.mark.anyio
async def test_page_number_offset_and_absurd_total_pages(session: aiohttp.ClientSession) -> None:
    """meta.page_number disagrees with the page asked; total_pages 0 or -1 with data on it."""
    for total_pages in (0, -1):
        async with misbehaving(total_pages=total_pages, page_number_offset=3) as server:
            _, _, body = await get(session, url(server, "/sim_card_actions", page_query(2)))
        assert body["meta"]["total_pages"] == total_pages
        assert body["meta"]["page_number"] == 5
        assert len(body["data"]) == 50


@pytest.mark.anyio
async def test_oversize_pages_carry_more_than_page_size(
    session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """oversize_pages adds the next page's first records beyond page[size]."""
    async with misbehaving(oversize_pages=7) as server:
        _, _, body = await get(session, url(server, "/sim_cards", page_query(2, 20)))
    assert body["meta"]["page_size"] == 20
    assert ids(body["data"]) == ids(cards[20:47])


@pytest.mark.anyio
async def test_replay_lag_answers_a_page_with_an_earlier_one(
    session: aiohttp.ClientSession, actions: list[dict[str, Any]]
) -> None:
    """With replay_lag=2, page n gets page n-2's records (pages 1 and 2 are real)."""
    async with misbehaving(replay_lag=2) as server:
        got = [
            (await get(session, url(server, "/sim_card_actions", page_query(n, 25))))[2]
            for n in (1, 2, 3, 4)
        ]
    assert [ids(p["data"]) for p in got] == [
        ids(actions[0:25]),
        ids(actions[25:50]),
        ids(actions[0:25]),
        ids(actions[25:50]),
    ]
    assert [p["meta"]["page_number"] for p in got] == [1, 2, 3, 4]


@pytest.mark.anyio
async def test_huge_body_is_streamed_chunked_and_is_valid_json(
    session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """huge_body_bytes pads a 200 to that size, sent chunked without a Content-Length."""
    size = 3 * 2**20
    async with misbehaving(huge_body_bytes=size) as server:
        async with session.get(url(server, "/sim_cards", page_query(1, 10))) as resp:
            assert resp.status == 200
            assert resp.content_length is None
            assert resp.headers.get("Transfer-Encoding") == "chunked"
            chunks = [chunk async for chunk in resp.content.iter_chunked(2**16)]
        body = b"".join(chunks)
    assert size <= len(body) < size + 100
    decoded = msgspec.json.decode(body)
    assert ids(decoded["data"]) == ids(cards[:10])
    assert decoded["padding"].strip() == ""


@pytest.mark.anyio
async def test_gzip_bomb_inflates_far_beyond_its_size() -> None:
    """gzip_bomb_bytes sends a small gzip body (Content-Encoding: gzip) that inflates to size."""
    size = 20 * 2**20
    async with (
        misbehaving(gzip_bomb_bytes=size) as server,
        aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {KEY}"}, auto_decompress=False
        ) as raw,
        raw.get(url(server, "/sim_cards", page_query(1, 10))) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Encoding"] == "gzip"
        packed = await resp.read()
        assert resp.content_length == len(packed)
    assert len(packed) < size // 500
    inflated = zlib.decompress(packed, 31)
    assert size <= len(inflated) < size + 100
    assert len(msgspec.json.decode(inflated)["data"]) == 10


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "expected"), [("empty", {}), ("errors", "errors")], ids=["empty", "errors"]
)
async def test_ok_without_data(session: aiohttp.ClientSession, kind: str, expected: object) -> None:
    """ok_without_data answers 200 with ``{}`` or with only an errors array."""
    async with misbehaving(ok_without_data=kind) as server:
        for path in ("/sim_cards", "/sim_card_actions"):
            status, _, body = await get(session, url(server, path))
            assert status == 200
            if expected == "errors":
                assert list(body) == ["errors"]
                assert body["errors"][0]["code"]
            else:
                assert body == expected


@pytest.mark.anyio
async def test_extra_headers_send_junk_values(session: aiohttp.ClientSession) -> None:
    """extra_headers replace or add headers on every answer, junk values included; a
    ``Content-Type`` too (it made every answer a 500: aiohttp refused it beside its own).
    """
    junk = {
        "x-ratelimit-remaining": "inf",
        "x-ratelimit-reset": "nan",
        "Retry-After": "-1e999",
        "Content-Type": "text/plain; charset=utf-8",
    }
    async with misbehaving(extra_headers=junk) as server:
        for path in ("/sim_cards", "/nowhere"):
            async with session.get(url(server, path)) as resp:
                await resp.read()
                assert {k: resp.headers[k] for k in junk} == junk


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("redirect", "expected"),
    [
        ("bad-ipv6", r"http://\[::1/v2/sim_cards\?page\[size\]=5"),
        ("bad-port", r"http://127\.0\.0\.1:99999/v2/sim_cards\?page\[size\]=5"),
        ("userinfo", r"http://user:secret@127\.0\.0\.1:[0-9]+/v2/sim_cards\?page\[size\]=5"),
        ("http://example.invalid:0/x", r"http://example\.invalid:0/x"),
    ],
)
async def test_redirects_with_broken_locations(
    session: aiohttp.ClientSession, redirect: str, expected: str
) -> None:
    """A ``redirect`` answers 302 with a malformed, out-of-range, userinfo or verbatim Location."""
    async with misbehaving(redirect=redirect) as server:
        target = url(server, "/sim_cards", "page[size]=5")
        async with session.get(target, allow_redirects=False) as resp:
            assert resp.status == 302
            assert re.fullmatch(expected, resp.headers["Location"])


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["mock.test", "[::1]", "example.com:8080"])
async def test_a_redirect_names_this_server_whatever_the_host_header(
    session: aiohttp.ClientSession, host: str
) -> None:
    """A Host without a port (a client on port 80, a Host set by hand) was a bare 500: the
    redirect shorthands name this server's own address, never the request's Host.
    """
    async with misbehaving(redirect="userinfo") as server:
        port = URL(server.url).port
        target = url(server, "/sim_cards")
        async with session.get(target, headers={"Host": host}, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == f"http://user:secret@127.0.0.1:{port}/v2/sim_cards"


@pytest.mark.anyio
async def test_500_with_a_huge_detail(session: aiohttp.ClientSession) -> None:
    """error_detail_bytes answers 500 whose single error detail is that many bytes."""
    async with misbehaving(error_detail_bytes=10 * 2**20) as server:
        status, _, body = await get(session, url(server, "/sim_cards/" + "0" * 8))
    assert status == 500
    assert len(body["errors"]) == 1
    assert len(body["errors"][0]["detail"]) == 10 * 2**20


@pytest.mark.anyio
async def test_401_echoes_the_authorization_header(session: aiohttp.ClientSession) -> None:
    """echo_authorization answers 401 repeating the Authorization header in the error body."""
    async with misbehaving(echo_authorization=True) as server:
        status, _, body = await get(session, url(server, "/sim_card_actions"))
    assert status == 401
    assert KEY in body["errors"][0]["detail"]
    assert body["errors"][0]["source"]["header"] == f"Authorization: Bearer {KEY}"
    assert server.requests[0].headers["authorization"] == "Bearer <redacted>"


def test_misbehaviour_rejects_nonsense() -> None:
    """Negative sizes, unknown body kinds and header injection are refused up front."""
    with pytest.raises(ValueError, match="huge_body_bytes"):
        Misbehaviour(huge_body_bytes=-1)
    with pytest.raises(ValueError, match="ok_without_data"):
        Misbehaviour(ok_without_data="nothing")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extra_headers"):
        Misbehaviour(extra_headers={"x-a": "1\r\nx-b: 2"})
    with pytest.raises(ValueError, match="redirect"):
        Misbehaviour(redirect="")
    # Taken, then every answer raised aiohttp's ValueError ("Forbidden control character")
    # inside the server, and each connection was dropped without an answer.
    for location in ("/v2/x\nSet-Cookie: a=b", "/v2/\r", "/v2/\x7f"):
        with pytest.raises(ValueError, match=r"^redirect must be .*no control character"):
            Misbehaviour(redirect=location)
    assert Misbehaviour(redirect="/v2/\tx").redirect == "/v2/\tx"  # a tab a header holds
    # Taken, then every answer failed inside the server (OverflowError, MemoryError); the
    # command names the flag from the keyword (--error-detail-bytes must be at most ...).
    with pytest.raises(ValueError, match=r"^error_detail_bytes must be at most 268,435,456;"):
        Misbehaviour(error_detail_bytes=10**20)
    with pytest.raises(ValueError, match=r"at most 268,435,456; got 16,610 bits$"):
        Misbehaviour(error_detail_bytes=10**5000)  # too long for str(): said by its size
    with pytest.raises(ValueError, match=r"^gzip_bomb_bytes must be at most 17,179,869,184;"):
        Misbehaviour(gzip_bomb_bytes=(1 << 34) + 1)
    most = Misbehaviour(error_detail_bytes=1 << 28, gzip_bomb_bytes=1 << 34)
    assert (most.error_detail_bytes, most.gzip_bomb_bytes) == (1 << 28, 1 << 34)


@pytest.mark.anyio
async def test_huge_body_abandoned_by_the_client_leaves_the_server_serving(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that stops reading a huge body half way does not break the server."""
    async with misbehaving(huge_body_bytes=200 * 2**20) as server:
        async with session.get(url(server, "/sim_cards")) as resp:
            assert len(await resp.content.read(2**16)) > 0
            resp.close()  # hang up with most of the body unsent
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as fresh,
            fresh.get(url(server, "/sim_cards", page_query(1, 5))) as again,
        ):
            assert again.status == 200
            assert len(msgspec.json.decode(await again.read())["data"]) == 5
    assert not [r for r in caplog.records if r.levelname in {"ERROR", "CRITICAL"}]


@pytest.mark.anyio
async def test_misbehaviour_can_change_at_run_time(
    server: MockTelnyxServer, session: aiohttp.ClientSession, cards: list[dict[str, Any]]
) -> None:
    """Setting server.misbehaviour takes effect at the next request, cached pages included."""
    target = url(server, "/sim_cards", page_query(3, 20))
    real = (await get(session, target))[2]
    server.misbehaviour = Misbehaviour(ignore_page_number=True)
    broken = (await get(session, target))[2]
    server.misbehaviour = Misbehaviour()
    again = (await get(session, target))[2]
    assert ids(real["data"]) == ids(again["data"]) == ids(cards[40:60])
    assert ids(broken["data"]) == ids(cards[:20])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("latency", "0.1", "latency must be a finite number of seconds >= 0, or None; got '0.1'"),
        ("latency", math.inf, "latency must be a finite number of seconds >= 0, or None; got inf"),
        ("clock", 5.0, "clock must be a function or None; got 5.0"),
        ("misbehaviour", {}, "misbehaviour must be a Misbehaviour or None; got {}"),
    ],
)
def test_a_bad_option_set_at_run_time_is_refused_naming_it(
    name: str, value: object, message: str
) -> None:
    """Assignment skipped the constructor's checks, and every answer was then a bare 500."""
    server = MockTelnyxServer(sim_cards=3, actions=0)
    with pytest.raises(ValueError, match=f"^{re.escape('MockTelnyxServer: ' + message)}"):
        setattr(server, name, value)


@pytest.mark.anyio
async def test_none_set_at_run_time_is_the_default(session: aiohttp.ClientSession) -> None:
    """latency, clock and misbehaviour set to None (the constructor's default) take their
    defaults, where every answer was a bare 500.
    """
    clock = ManualClock()
    async with MockTelnyxServer(
        sim_cards=3,
        actions=0,
        api_key=KEY,
        latency=0.001,
        rate_limit=RateLimit(requests_per_second=10),
        clock=clock,
        misbehaviour=Misbehaviour(ok_without_data="empty"),
    ) as server:
        server.latency = None
        server.clock = None
        server.misbehaviour = None
        status, _, body = await get(session, url(server, "/sim_cards"))
        assert status == 200
        assert len(body["data"]) == 3
        assert (server.latency, server.clock, server.misbehaviour) == (
            0,
            time.monotonic,
            Misbehaviour(),
        )


async def _endless(request: web.Request) -> web.StreamResponse:
    """An answer that writes a megabyte at a time for ever."""
    response = web.StreamResponse()
    await response.prepare(request)
    while True:
        await response.write(b"x" * 2**20)


async def _endless_server(*, tracked: bool = False) -> tuple[web.AppRunner, int]:
    """A server on 127.0.0.1 answering ``_endless``, and its port; ``tracked``: its
    connections kept for close_runner from the start, as the project's servers do.
    """
    app = web.Application()
    app.router.add_get("/", _endless)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    if tracked:
        track_connections(runner)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def _stalled_answer(port: int) -> asyncio.StreamWriter:
    """A connection to ``port`` whose answer has begun and is read no more."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await reader.readexactly(1000)
    return writer


@pytest.mark.anyio
async def test_closing_a_server_closes_a_socket_with_an_answer_still_to_write() -> None:
    """A client that stops reading a long answer leaves the server's write pending, and
    aiohttp's graceful close keeps that socket open until the write fails. close_runner (what
    MockTelnyxServer.close and the tests' own servers use) closes it before returning: a socket
    left for the garbage collector warns later, in whatever test is running then.
    """
    runner, port = await _endless_server()
    writer = await _stalled_answer(port)
    try:
        assert runner.server is not None
        (handler,) = runner.server.connections
        transport = handler.transport
        assert transport is not None
        await close_runner(runner)
        assert transport.get_extra_info("socket").fileno() == -1
    finally:
        writer.close()


@pytest.mark.anyio
async def test_closing_a_server_closes_a_closing_socket_however_many_connections_came_after() -> (
    None
):
    """When aiohttp closes a connection (``force_close``: a keep-alive ending, a shutdown)
    it lets go of its transport, but one with an answer still to write stays open.
    The transports close_runner ends were pruned of the closing ones once 256 had been made,
    so such a socket, with 256 connections after it, was left for the garbage collector.
    """
    runner, port = await _endless_server(tracked=True)
    assert runner.server is not None
    server = runner.server
    writer = await _stalled_answer(port)
    others: list[asyncio.StreamWriter] = []
    try:
        (handler,) = server.connections
        transport = handler.transport
        assert transport is not None
        await eventually(lambda: transport.get_write_buffer_size() > 0, what="a write pending")
        handler.force_close()  # as a keep-alive's end does: closing, not closed
        assert transport.is_closing()
        assert transport.get_extra_info("socket").fileno() != -1
        for _ in range(256):
            others.append((await asyncio.open_connection("127.0.0.1", port))[1])
        await eventually(lambda: len(server.connections) == 257, what="every connection made")
        await close_runner(runner)
        assert transport.get_extra_info("socket").fileno() == -1
    finally:
        writer.close()
        for other in others:
            other.close()


def _ended_by_peer(client: socket.socket) -> bool:
    """Whether the server end of ``client`` (a non-blocking socket) is closed: its end of
    the stream read, or a reset (a connection still in the kernel's backlog when the
    listening socket closed).
    """
    try:
        return client.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.anyio
@pytest.mark.parametrize("cancelled", [False, True], ids=["closed", "in-a-cancelled-scope"])
@pytest.mark.parametrize("turns", range(5))
async def test_closing_a_server_closes_the_connections_it_was_accepting(
    turns: int, cancelled: bool
) -> None:
    """Connections made a few loop turns before the close, whatever the count, and in a
    cancelled scope too: the server has closed each one's socket when the close returns.
    asyncio makes a transport a turn after accepting its socket, and a server closed
    meanwhile refused it (an assertion asyncio swallows): the socket stayed open until the
    garbage collector reclaimed it, with a ResourceWarning in whatever test ran then. A close
    in a cancelled scope stopped at its first turn, with the same leak.
    """
    server = MockTelnyxServer(sim_cards=1)
    await server.start()
    port = URL(server.url).port
    assert port is not None
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    try:
        for client in clients:
            client.settimeout(0.0)  # non-blocking
        for _ in range(turns):
            await asyncio.sleep(0)
        with anyio.CancelScope() as scope:
            if cancelled:
                scope.cancel()
            await server.close()
        for client in clients:
            await eventually(partial(_ended_by_peer, client), what="the server's end closed")
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("0.0.0.0", "127.0.0.1"),  # noqa: S104  (a name to turn into a URL, nothing bound)
        ("", "127.0.0.1"),
        ("::", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_a_wildcard_host_gives_a_loopback_url(host: str, shown: str) -> None:
    """``simcards mock-server --host 0.0.0.0`` printed ``http://0.0.0.0:PORT/v2``, a base URL
    every client refuses (plain http only to loopback): a wildcard's URL names loopback.
    """
    assert url_host(host) == shown
    assert SimCardsClient("any-key", f"http://{shown}:8000/v2") is not None  # a URL it takes
