"""``SimCardsClient`` itself: construction and its checks, opening and closing, the
environment and sessions. Functional tests over loopback HTTP against ``MockTelnyxServer``.
"""

from __future__ import annotations

import asyncio
import gc
import math
import re
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from polling import eventually, loop_turns
from servers import serve
from small_fleet import KEY, UNKNOWN_ID

from simcards_async import (
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    ResponseEvent,
    SimCardsClient,
)
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio


# --- construction, no server needed ---------------------------------------------------


@pytest.fixture
def half_built_clients() -> Iterator[list[Any]]:
    """Collect what a refused constructor leaves for ``__del__``, inside the test that made it.

    A client whose ``__init__`` raised is still finalized; its ``__del__`` must cope (pinned by
    ``test_refused_constructor_leaves_a_quiet_object``). Here the half-built object is
    collected before the test ends, and only that known ``__del__`` failure is tolerated, so a
    test about validation does not fail for it, nor pass it on to whichever test runs next.
    """
    caught: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        yield caught
        gc.collect()
    finally:
        sys.unraisablehook = previous
    unexpected = [
        u for u in caught if getattr(u.object, "__qualname__", "") != "SimCardsClient.__del__"
    ]
    assert unexpected == []


def test_refused_constructor_leaves_a_quiet_object() -> None:
    """A client whose constructor refused its arguments is finalized without an error."""
    caught: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        with pytest.raises(InvalidParameterError) as info:
            SimCardsClient(KEY, "http://example.com/v2")
        del info
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [f"{u.exc_type.__name__}: {u.exc_value} in {u.object!r}" for u in caught] == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("read_ahead", 0),
        ("max_concurrency", 0),
        ("timeout", -1.0),
        ("deadline", 0.5),
        ("max_response_bytes", -5),
        ("base_url", "http://example.com/v2"),
        ("retry", None),
        ("on_response", print),
    ],
)
def test_settings_are_fixed_when_the_client_is_made(setting: str, value: object) -> None:
    """A setting assigned later is refused: it was taken (and checked) when the client was made.

    ``read_ahead = 0`` once ended every listing after its first page, in silence; ``retry``
    or ``on_response`` assigned made an attribute nothing read.
    """
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2", read_ahead=3, deadline=60)
    before = getattr(client, setting, None)
    with pytest.raises(AttributeError, match=f"SimCardsClient.{setting} cannot be set"):
        setattr(client, setting, value)
    assert getattr(client, setting, None) == before


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/v2",
        "http://10.0.0.1/v2",
        "http://127.0.0.1.example.com/v2",
        "ftp://127.0.0.1/v2",
        "api.telnyx.com/v2",
        "https:///v2",
    ],
)
@pytest.mark.usefixtures("half_built_clients")
async def test_clear_text_to_a_remote_host_is_refused(url: str) -> None:
    """A base URL that would send the key unencrypted off the machine is refused up front."""
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, url)
    assert info.value.parameter == "base_url"
    assert "https" in str(info.value)
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.telnyx.com/v2",
        "https://api.telnyx.com/v2/",
        "http://127.0.0.1:9/v2",
        "http://localhost:9/v2",
        "http://[::1]:9/v2",
    ],
)
async def test_https_and_loopback_urls_are_accepted(url: str) -> None:
    """``https://`` anywhere and plain ``http://`` on loopback are accepted (no request made)."""
    client = SimCardsClient(KEY, url)
    assert client.base_url == url.rstrip("/")
    await client.aclose()


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"max_concurrency": 2.0}, "max_concurrency"),
        ({"read_ahead": 0}, "read_ahead"),
        # Past what a float holds: a bare OverflowError when the client opened.
        ({"max_concurrency": 10**400}, "max_concurrency"),
        ({"max_concurrency": 1_000_001}, "max_concurrency"),
        ({"read_ahead": 10**400}, "read_ahead"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"deadline": 0}, "deadline"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": False}, "max_retries"),
        ({"session": object()}, "session"),
    ],
)
@pytest.mark.usefixtures("half_built_clients")
async def test_bad_client_options_are_refused(kwargs: dict[str, Any], parameter: str) -> None:
    """Bad client options raise ``InvalidParameterError`` naming the option."""
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, "http://127.0.0.1:9/v2", **kwargs)
    assert info.value.parameter == parameter


@pytest.mark.parametrize("value", [0, True, 2.5, 1_000_001])
@pytest.mark.parametrize("parameter", ["max_concurrency", "read_ahead"])
@pytest.mark.usefixtures("half_built_clients")
async def test_a_bounded_option_names_its_whole_range(parameter: str, value: Any) -> None:
    """``max_concurrency=0`` said "an integer >= 1", and 2,000,000 "from 1 to 1,000,000": the
    allowed values are the whole range, whichever bound the value crossed.
    """
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, "http://127.0.0.1:9/v2", **{parameter: value})
    assert info.value.allowed == "an integer from 1 to 1,000,000"


async def test_read_aheads_default_stays_in_its_range() -> None:
    """``read_ahead`` defaults to twice ``max_concurrency``, which made 2,000,000 of the
    largest, where 1,000,000 is the most it may be given: the default stops there.
    """
    largest = SimCardsClient(KEY, "http://127.0.0.1:9/v2", max_concurrency=1_000_000)
    assert largest.read_ahead == 1_000_000
    assert SimCardsClient(KEY, "http://127.0.0.1:9/v2", max_concurrency=7).read_ahead == 14


async def test_missing_key_fails_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key (argument or ``TELNYX_API_KEY``) the first use fails clearly, sends nothing."""
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    client = SimCardsClient(base_url="http://127.0.0.1:9/v2")
    assert "api_key=missing" in repr(client)
    with pytest.raises(InvalidParameterError) as info:
        client.sim_cards()
    assert info.value.parameter == "api_key"
    assert "TELNYX_API_KEY" in str(info.value)
    with pytest.raises(InvalidParameterError):
        await client.get_sim_card(UNKNOWN_ID)
    with pytest.raises(InvalidParameterError):
        async with client:
            pass
    await client.aclose()


async def test_an_empty_key_given_is_named_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """``api_key=""`` was reported as ``api_key=None`` with advice to set a variable that was
    set: the error shows the empty string and says how to use the variable instead.
    """
    monkeypatch.setenv("TELNYX_API_KEY", KEY)
    client = SimCardsClient("", "http://127.0.0.1:9/v2")
    with pytest.raises(InvalidParameterError) as info:
        client.sim_cards()
    assert info.value.parameter == "api_key"
    assert info.value.value == ""
    assert "not an empty one" in info.value.allowed
    await client.aclose()


@pytest.mark.parametrize("given", [True, False], ids=["api_key", "TELNYX_API_KEY"])
@pytest.mark.parametrize("key", ["a", "e1", "\U0001f511", "K" * 1025], ids=repr)
def test_a_key_of_an_implausible_length_is_refused_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch, *, key: str, given: bool
) -> None:
    """A key of one or two characters (``api_key="a"``) was taken, and every message the
    client made had each of its characters replaced (``Authentic<redacted>tion f<redacted>iled``),
    an error body's JSON too, losing its errors. It is refused as the client is made, the
    value not shown; a key of three characters is taken. So is one longer than 1,024
    characters (a file pasted): it was sent, and the server's bare HTTP 400 named nothing.
    """
    monkeypatch.setenv("TELNYX_API_KEY", key)
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(key if given else None, "http://127.0.0.1:9/v2")
    exc = info.value
    assert exc.parameter == "api_key"
    assert exc.value == "<redacted>"
    assert "3 to 1,024 characters" in exc.allowed
    assert "api_key=set" in repr(SimCardsClient("KEY", "http://127.0.0.1:9/v2"))
    assert "api_key=set" in repr(SimCardsClient("K" * 1024, "http://127.0.0.1:9/v2"))


async def test_empty_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty ``TELNYX_API_KEY`` is no key: the first use fails with ``api_key`` named."""
    monkeypatch.setenv("TELNYX_API_KEY", "")
    client = SimCardsClient(base_url="http://127.0.0.1:9/v2")
    with pytest.raises(InvalidParameterError) as info:
        await client.get_sim_card_action(UNKNOWN_ID)
    assert info.value.parameter == "api_key"
    await client.aclose()


async def test_closed_client_raises_runtime_error() -> None:
    """Every method of a closed client raises ``RuntimeError``; closing twice is fine."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    async with client:
        pass
    await client.aclose()
    assert "closed" in repr(client)
    with pytest.raises(RuntimeError, match="closed"):
        client.sim_cards()
    with pytest.raises(RuntimeError, match="closed"):
        client.sim_card_actions()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_sim_card(UNKNOWN_ID)
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_sim_card_action(UNKNOWN_ID)
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass


async def test_bad_arguments_fail_before_any_request() -> None:
    """Endpoint arguments are validated when the stream is made, before anything is sent."""
    async with SimCardsClient(KEY, "http://127.0.0.1:9/v2") as client:
        with pytest.raises(InvalidParameterError) as info:
            client.sim_cards(status="active")
        assert info.value.parameter == "status"
        with pytest.raises(InvalidParameterError) as info:
            client.sim_card_actions(action_type="reboot")
        assert info.value.parameter == "action_type"
        with pytest.raises(InvalidParameterError) as info:
            await client.get_sim_card("nope")
        assert info.value.parameter == "id"
        with pytest.raises(InvalidParameterError) as info:
            await client.get_sim_card_action("nope")
        assert info.value.parameter == "id"


def _drop(holder: list[Any]) -> None:
    """Drop the last reference to what ``holder`` holds, and collect it."""
    holder.clear()
    gc.collect()


async def test_unclosed_client_warns() -> None:
    """A client that was opened and never closed warns with ``ResourceWarning`` when collected."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    await client.__aenter__()
    session = client._session
    assert session is not None
    holder = [client]
    del client
    with pytest.warns(ResourceWarning, match="SimCardsClient") as record:
        _drop(holder)
    # Where to close it, too: an aclose() in a later event loop is refused, and leaves it open.
    assert "aclose(), in the event loop it ran in" in str(record[0].message)
    # The warning keeps the client (its source) alive, and so the leaked session: close it
    # here, or aiohttp's own ResourceWarning would go off after the test.
    await session.close()


async def test_never_opened_client_does_not_warn() -> None:
    """A client that never opened a session has nothing to leak and does not warn."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    assert "unopened" in repr(client)
    del client
    gc.collect()  # filterwarnings=error turns any warning here into a failure


async def test_a_client_that_made_a_stream_opened_its_session_and_warns_unclosed() -> None:
    """Making a stream opens the client's session, though nothing is sent: dropped unclosed,
    it warns (the README said only a first request opened it).
    """
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    holder: list[Any] = [client, client.sim_cards(status="enabled")]
    assert "opened" in repr(client)
    session = client._session
    assert session is not None
    del client
    gc.collect()  # earlier tests' garbage first: its warnings are not this test's
    with pytest.warns(ResourceWarning, match="was never closed"):
        _drop(holder)
    await session.close()  # as test_unclosed_client_warns does: aiohttp's warning else


async def test_key_not_in_client_repr() -> None:
    """The client's repr and str never show the key, not even in part."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    async with client:
        stream = client.sim_cards(tags="customers")
        for text in (repr(client), str(client), repr(stream), str(stream)):
            assert KEY not in text
            assert KEY[:8] not in text
        assert "api_key=set" in repr(client)
        await stream.aclose()


# --- configuration from the environment, sessions -------------------------------------


async def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``api_key`` the client sends ``TELNYX_API_KEY``."""
    monkeypatch.setenv("TELNYX_API_KEY", KEY)
    async with MockTelnyxServer(sim_cards=5, actions=1, api_key=KEY) as server:
        async with SimCardsClient(base_url=server.url) as client:
            assert len(await client.sim_cards().collect()) == 5
        monkeypatch.setenv("TELNYX_API_KEY", "another-key")
        async with SimCardsClient(base_url=server.url) as client:
            with pytest.raises(AuthenticationError):
                await client.sim_cards().collect()
        async with SimCardsClient(KEY, base_url=server.url) as client:  # argument wins
            assert len(await client.sim_cards().collect()) == 5


@pytest.mark.usefixtures("half_built_clients")
async def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``base_url`` the client uses ``TELNYX_BASE_URL``; an argument overrides it."""
    async with MockTelnyxServer(sim_cards=5, actions=1) as server:
        monkeypatch.setenv("TELNYX_BASE_URL", server.url)
        async with SimCardsClient(KEY) as client:
            assert client.base_url == server.url
            assert len(await client.sim_cards().collect()) == 5
        assert len(server.requests) == 1
        monkeypatch.setenv("TELNYX_BASE_URL", "http://example.com/v2")
        with pytest.raises(InvalidParameterError):
            SimCardsClient(KEY)
        client = SimCardsClient(KEY, server.url)
        assert client.base_url == server.url
        await client.aclose()


async def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """With neither argument nor environment the base URL is Telnyx's public API."""
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)
    client = SimCardsClient(KEY)
    assert client.base_url == "https://api.telnyx.com/v2"
    await client.aclose()


@pytest.mark.parametrize(
    ("base_url", "says"),
    [("", "does not parse"), ("http://127.0.0.1:99999/v2", "Port out of range")],
)
def test_an_empty_or_unparsable_base_url_is_refused_saying_why(
    monkeypatch: pytest.MonkeyPatch, base_url: str, says: str
) -> None:
    """An empty base_url (an unset variable in a script) is refused, not taken for the
    default; an empty TELNYX_BASE_URL is an unset one. A URL that does not parse says why.
    """
    monkeypatch.setenv("TELNYX_BASE_URL", "")
    with pytest.raises(InvalidParameterError, match=says) as caught:
        SimCardsClient(KEY, base_url)
    assert caught.value.parameter == "base_url"


#: What the IDNA codec's refusal says: Python 3.13 words it otherwise than earlier versions.
_IDNA_REFUSED = re.compile(
    r"does not parse \((encoding with 'idna' codec failed|'idna' codec can't encode)"
)


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("https://user:secret@api.example.com/v2", "user:password@"),
        ("http://me@127.0.0.1:8080/v2", "user:password@"),
        ("https://api.example.com/v2?region=eu", "?query"),
        ("https://api.example.com/v2#top", "#fragment"),
        ("https://api.example.com/v2?", "?query"),
        ("https://user:secret@api.example.com:99999/v2", "does not parse"),
        ("ftp://user:secret@api.example.com/v2", "an https:// URL"),
        ("https://user:secret@[::1/v2", "does not parse"),
        ("http://127.0.0.1:8080/v2\x00", "control characters"),
        ("http://127.0.0.1:8080/v\x1b[31m2", "control characters"),
        ("https://api.example.com/v 2", "spaces"),
        ("https://api.example.com:0/v2", "a port from 1 to 65535"),  # no server listens there
        ("http://127.0.0.1:0/v2", "a port from 1 to 65535"),
        # A bare UnicodeError from the resolver at the first request:
        ("https://a..b/v2", _IDNA_REFUSED),
        ("https://user:secret@.example/v2", _IDNA_REFUSED),
        (f"https://{'x' * 64}.example.com/v2", _IDNA_REFUSED),
    ],
)
def test_a_base_url_with_credentials_a_query_or_a_fragment_is_refused(
    base_url: str, says: str | re.Pattern[str]
) -> None:
    """A user:password@ in the base URL failed at the first request with aiohttp's bare
    ValueError, and so did a control character; a ?query or #fragment was kept and mangled
    every page's URL. Refused when the client is made, naming base_url and what it accepts,
    never echoing a password, whichever check refuses the URL.
    """
    match = says if isinstance(says, re.Pattern) else re.escape(says)
    with pytest.raises(InvalidParameterError, match=match) as caught:
        SimCardsClient(KEY, base_url)
    assert caught.value.parameter == "base_url"
    assert "secret" not in str(caught.value), "a password is not echoed"


async def test_an_empty_environment_base_url_is_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``TELNYX_BASE_URL=`` (set, empty) is as good as unset: Telnyx's public API."""
    monkeypatch.setenv("TELNYX_BASE_URL", "")
    client = SimCardsClient(KEY)
    assert client.base_url == "https://api.telnyx.com/v2"
    await client.aclose()


async def test_session_passed_in_is_not_closed(server: MockTelnyxServer) -> None:
    """A session the caller brings is used, and left open when the client closes."""
    async with aiohttp.ClientSession() as session:
        async with SimCardsClient(KEY, server.url, session=session) as client:
            assert len(await client.sim_cards(limit=3).collect()) == 3
        assert not session.closed
        async with session.get(server.url + "/sim_cards/" + UNKNOWN_ID) as resp:
            assert resp.status == 401  # still usable; no key on this request


async def test_a_session_that_raises_for_status_still_gives_each_status_its_class(
    server: MockTelnyxServer,
) -> None:
    """A session made with ``raise_for_status=True`` raised aiohttp's own error for every
    status answer: a 404 read as a dropped connection (``APIConnectionError``), retried
    five times, its status and errors lost. The client reads every answer itself.
    """
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        SimCardsClient(KEY, server.url, session=session) as client,
    ):
        with pytest.raises(NotFoundError) as caught:
            await client.get_sim_card(UNKNOWN_ID)
    assert caught.value.status == 404
    assert caught.value.attempts == 1
    assert len(server.requests) == 1


async def test_a_session_that_does_not_decompress_is_refused() -> None:
    """A session made with ``auto_decompress=False`` asks for gzip and would hand the JSON
    decoder compressed bytes: every answer a bad body, retried. Refused, naming it.
    """
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        with pytest.raises(InvalidParameterError, match="auto_decompress=True") as caught:
            SimCardsClient(KEY, "http://127.0.0.1:1/v2", session=session)
    assert caught.value.parameter == "session"


async def test_a_session_passed_in_and_closed_by_its_owner_says_so(
    server: MockTelnyxServer,
) -> None:
    """A session the caller closed while the client still used it raised aiohttp's own
    bare "Session is closed": the client's ``RuntimeError`` says which session and what to do.
    """
    session = aiohttp.ClientSession()
    async with SimCardsClient(KEY, server.url, session=session) as client:
        assert len(await client.sim_cards(limit=3).collect()) == 3
        await session.close()
        with pytest.raises(RuntimeError, match=r"session given to this client \(session=\)"):
            await client.sim_cards().collect()
        with pytest.raises(RuntimeError, match="close it after the client"):
            await client.get_sim_card(UNKNOWN_ID)


@pytest.fixture
def session_of_another_loop() -> Iterator[aiohttp.ClientSession]:
    """A session made in an event loop of its own (an earlier ``asyncio.run()``'s, say)."""

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    loop = asyncio.new_event_loop()
    try:
        session = loop.run_until_complete(make())
        try:
            yield session
        finally:
            loop.run_until_complete(session.close())
    finally:
        loop.close()


async def test_a_session_of_another_event_loop_is_refused(
    server: MockTelnyxServer, session_of_another_loop: aiohttp.ClientSession
) -> None:
    """A session made in another event loop failed at the first request with aiohttp's own
    bare ``RuntimeError`` ("Event loop is closed", or "Timeout context manager should be used
    inside a task" while that loop still ran). Refused when the client is made, naming it.
    """
    with pytest.raises(InvalidParameterError, match="made in the event loop") as caught:
        SimCardsClient(KEY, server.url, session=session_of_another_loop)
    assert caught.value.parameter == "session"
    assert server.requests == []


def test_a_session_of_another_event_loop_is_refused_at_the_clients_first_use(
    session_of_another_loop: aiohttp.ClientSession,
) -> None:
    """Made outside any loop, the client cannot tell yet: its first use in a loop refuses
    the session, as a listing or a single get, before anything is sent; its close does not.
    """
    client = SimCardsClient(KEY, "http://127.0.0.1:1/v2", session=session_of_another_loop)

    async def use() -> None:
        with pytest.raises(InvalidParameterError, match="made in the event loop"):
            await client.sim_cards().collect()
        with pytest.raises(InvalidParameterError, match="made in the event loop"):
            await client.get_sim_card(UNKNOWN_ID)
        await client.aclose()
        with pytest.raises(RuntimeError, match="is closed"):
            client.sim_cards()

    asyncio.run(use())
    assert not session_of_another_loop.closed  # the caller's: left open


@pytest.mark.parametrize("max_retries", [0, None])
async def test_a_single_get_on_its_way_when_the_client_closes_says_so(
    max_retries: int | None,
) -> None:
    """``aclose()`` while ``get_sim_card`` waited for its answer: the closed session's
    "Connector is closed" was retried with backoff, and then blamed a ``session=`` the
    caller never gave. It says the client was closed, at once.
    """
    asked = anyio.Event()
    closed = anyio.Event()

    async def handler(_request: web.Request) -> web.Response:
        asked.set()
        await closed.wait()
        return web.json_response({"data": {"id": UNKNOWN_ID}})

    async with serve(handler) as served:
        client = SimCardsClient(KEY, served.url, max_retries=max_retries)
        async with client:
            getting = asyncio.ensure_future(client.get_sim_card(UNKNOWN_ID))
            await asked.wait()
            await client.aclose()
            closed.set()
            with pytest.raises(RuntimeError) as caught:
                await getting
    assert str(caught.value) == "the client was closed before this request was answered"
    assert "session=" not in str(caught.value)


@pytest.mark.parametrize("callers_session", [False, True])
async def test_gets_waiting_to_retry_or_at_the_pause_end_when_the_client_closes(
    callers_session: bool,
) -> None:
    """A get waiting out a 429's Retry-After, and one waiting at the pause it set, outlived
    ``aclose()`` until the pause ended (up to a minute); with a session of the caller's the
    first then sent its request and returned a card from a closed client. Both raise at
    once, and nothing is sent after the close.
    """
    retrying: list[ResponseEvent] = []

    def hook(event: ResponseEvent) -> None:
        if event.retry_in is not None:
            retrying.append(event)

    plan = FaultPlan(script=["429"], retry_after=60)  # the longest wait honoured by default
    async with (
        MockTelnyxServer(sim_cards=5, actions=1, faults=plan) as server,
        aiohttp.ClientSession() as session,
    ):
        client = SimCardsClient(
            KEY, server.url, session=session if callers_session else None, on_response=hook
        )
        async with client:
            first = asyncio.ensure_future(client.get_sim_card(server.current_sim_card_ids()[0]))
            await eventually(lambda: retrying, what="the 429 answered, its retry planned")
            second = asyncio.ensure_future(
                client.get_sim_card_action(server.current_action_ids()[0])
            )
            await loop_turns()  # the second is at the pause
            assert not second.done()
            assert len(server.requests) == 1
        await loop_turns()  # a count of turns, not the 60 s pause
        assert [first.done(), second.done()] == [True, True]
        for get in (first, second):
            with pytest.raises(RuntimeError) as caught:
                await get
            assert str(caught.value) == "the client was closed before this request was answered"
        await loop_turns()
        assert len(server.requests) == 1


async def test_a_get_cancelled_by_its_caller_is_cancelled_not_closed() -> None:
    """The scope ``aclose()`` cancels a get with is the client's: a get its caller cancels
    (a task's ``cancel()``, an anyio scope of its own) is cancelled as asked, not told the
    client closed, and the client goes on.
    """
    plan = FaultPlan(script=["hang", "hang"], hang_seconds=math.inf)  # until the server closes
    async with (
        MockTelnyxServer(sim_cards=5, actions=1, faults=plan) as server,
        SimCardsClient(KEY, server.url, timeout=3600) as client,  # not a stall's 30 s
    ):
        card_id = server.current_sim_card_ids()[0]
        getting = asyncio.ensure_future(client.get_sim_card(card_id))
        await eventually(lambda: len(server.requests) == 1, what="the get sent")
        getting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await getting

        async def cancel_once_sent(scope: anyio.CancelScope) -> None:
            await eventually(lambda: len(server.requests) == 2, what="the get sent")
            scope.cancel()

        async with anyio.create_task_group() as tasks:
            with anyio.CancelScope() as scope:
                tasks.start_soon(cancel_once_sent, scope)
                await client.get_sim_card(card_id)
        assert scope.cancelled_caught
        assert (await client.get_sim_card(card_id)).id == card_id


async def test_an_aclose_cancelled_half_way_still_closes() -> None:
    """An ``aclose()`` cancelled by asyncio while it waited for its streams' tasks (a
    ``wait_for`` around it) left the session open for good: the client was marked closed,
    so a second ``aclose()`` returned at once ("Unclosed client session"). The closing
    runs in a task of its own; a second ``aclose()``, at once or later, waits for it.
    """
    # Page 2 hangs until the server closes: the stream is mid-read.
    plan = FaultPlan(script=[None, "hang"], hang_seconds=math.inf)
    async with MockTelnyxServer(sim_cards=100, faults=plan) as server:
        client = SimCardsClient(KEY, server.url, max_concurrency=1, timeout=3600)
        async with client:
            reader = asyncio.ensure_future(client.sim_cards(page_size=10).collect())
            await eventually(lambda: len(server.requests) >= 2, what="page 2 asked for")
            session = client._session
            assert session is not None
            first = asyncio.ensure_future(client.aclose())
            await loop_turns(1)  # the first has started closing
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            await client.aclose()  # waits for the closing the first started
            assert session.closed
        with pytest.raises(RuntimeError, match="the client was closed before"):
            await reader


async def test_a_second_aclose_at_the_same_time_waits_for_the_first() -> None:
    """A second ``aclose()`` while the first was still closing returned at once, the
    session still open and the streams' tasks still running.
    """
    plan = FaultPlan(script=[None, "hang"], hang_seconds=math.inf)
    async with MockTelnyxServer(sim_cards=100, faults=plan) as server:
        client = SimCardsClient(KEY, server.url, max_concurrency=1, timeout=3600)
        reader = asyncio.ensure_future(client.sim_cards(page_size=10).collect())
        await eventually(lambda: len(server.requests) >= 2, what="page 2 asked for")
        session = client._session
        assert session is not None
        first = asyncio.ensure_future(client.aclose())
        await loop_turns(1)
        await client.aclose()
        assert session.closed
        assert all(task.done() for task in client._tasks)
        await first
        with pytest.raises(RuntimeError, match="the client was closed before"):
            await reader


async def test_session_made_by_the_client_is_closed(server: MockTelnyxServer) -> None:
    """The session the client made is closed with it."""
    client = SimCardsClient(KEY, server.url)
    async with client:
        await client.sim_cards(limit=1).collect()
        session = client._session
        assert session is not None
        assert not session.closed
    assert session.closed


async def test_a_client_closed_in_a_cancelled_scope_still_closes_its_session() -> None:
    """Closed in an anyio cancel scope that had fired while a stream read (``move_on_after``
    around ``async with client``), the client's own waits were cancelled in turn: its session
    stayed open ("Unclosed client session"), and a second ``aclose()`` did nothing. The
    closing is shielded now.
    """
    # Page 2 hangs until the server closes: the stream is reading when cut.
    plan = FaultPlan(script=[None, "hang"], hang_seconds=math.inf)
    async with MockTelnyxServer(sim_cards=100, faults=plan) as server:
        client = SimCardsClient(KEY, server.url, max_concurrency=1, timeout=3600)

        async def cut_once_page_2_was_asked_for(scope: anyio.CancelScope) -> None:
            await eventually(lambda: len(server.requests) >= 2, what="page 2 asked for")
            scope.cancel()

        async with anyio.create_task_group() as tasks:
            with anyio.CancelScope() as scope:
                tasks.start_soon(cut_once_page_2_was_asked_for, scope)
                async with client:
                    session = client._session
                    assert session is not None
                    async for _ in client.sim_cards(page_size=10):
                        pass
        assert scope.cancelled_caught
        assert session is not None
        assert session.closed
