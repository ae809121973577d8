"""The API key stays secret: never shown, never sent in clear off the machine, never to
another origin.

Every failure kind is provoked for real (the mock server, a few lines of
``aiohttp.web``, or a raw socket for answers that are not HTTP at all), and the key
is looked for in everything a user or a log could see: the exception, its whole
``__cause__``/``__context__`` chain, the formatted traceback, its pickle, every log
record (DEBUG, from aiohttp and the library), and the reprs of the client and stream.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from servers import Served, refusing, serve, serve_bytes

from simcards_async import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    RateLimitError,
    SimCardsClient,
    TelnyxError,
    UnprocessableEntityError,
)
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEY-s3cr3t-Zq8vN2xL5tR9wB4m"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def _leaks(text: str) -> bool:
    """Whether ``text`` shows the key, or a recognisable part of it."""
    return KEY in text or KEY[4:] in text or KEY[-12:] in text


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and every cause and context behind it, hidden ones too (``from None``
    hides a context from a traceback, not from code that walks ``__context__``).
    """
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is f for f in found):
            continue
        found.append(item)
        todo.append(item.__cause__)
        todo.append(item.__context__)
    return found


def _exception_texts(exc: BaseException) -> dict[str, str]:
    """Everything a log line, a traceback or an error tracker could show of ``exc``."""
    texts = {
        "traceback": "".join(traceback.format_exception(exc)),
        "pickle": pickle.dumps(exc).decode("latin-1"),
    }
    for n, item in enumerate(_chain(exc)):
        name = f"chain[{n}] {type(item).__name__}"
        texts[f"{name} str"] = str(item)
        texts[f"{name} repr"] = repr(item)
        texts[f"{name} args"] = repr(item.args)
        texts[f"{name} vars"] = repr(getattr(item, "__dict__", {}))
    return texts


# --- one scenario per failure kind ------------------------------------------------------------


@dataclass
class _Scenario:
    """A server that fails one way, and what the client must raise."""

    expected: type[TelnyxError]
    server: Callable[[], Any]
    options: dict[str, Any] = field(default_factory=dict)
    call: str = "list"


def _mock(**options: Any) -> Callable[[], Any]:
    return lambda: MockTelnyxServer(sim_cards=30, actions=1, **options)


@asynccontextmanager
async def _nothing_listening() -> AsyncIterator[Served]:
    with refusing() as served:
        yield served


async def _bad_json(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"data": [', content_type="application/json")


SCENARIOS: dict[str, _Scenario] = {
    "401": _Scenario(AuthenticationError, _mock(api_key="another-key")),
    "404": _Scenario(NotFoundError, _mock(), call="get"),
    "422": _Scenario(UnprocessableEntityError, _mock(faults=FaultPlan(script=[422]))),
    "429": _Scenario(RateLimitError, _mock(faults=FaultPlan(script=["429"] * 2))),
    "500": _Scenario(InternalServerError, _mock(faults=FaultPlan(script=[500] * 2))),
    "html-502": _Scenario(InternalServerError, _mock(faults=FaultPlan(error_5xx=1.0))),
    "drop": _Scenario(APIConnectionError, _mock(faults=FaultPlan(script=["drop"] * 4))),
    "truncate": _Scenario(APIConnectionError, _mock(faults=FaultPlan(script=["truncate"] * 2))),
    "hang": _Scenario(
        APITimeoutError,
        _mock(faults=FaultPlan(script=["hang"] * 2, hang_seconds=30)),
        {"timeout": 0.2},
    ),
    "deadline": _Scenario(APITimeoutError, _mock(latency=0.3), {"deadline": 0.1}),
    "refused": _Scenario(APIConnectionError, _nothing_listening),
    "bad-json": _Scenario(APIResponseValidationError, lambda: serve(_bad_json)),
    "bad-status-line": _Scenario(APIConnectionError, lambda: serve_bytes(b"garbage\r\n\r\n")),
    "bad-header": _Scenario(
        APIConnectionError, lambda: serve_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    ),
    # A server (a debugging proxy) that echoes the key in a header, then hangs up before
    # its headers end: aiohttp's error keeps the half-read headers, which were the cause.
    "echo-then-hang-up": _Scenario(
        APIConnectionError,
        lambda: serve_bytes(
            b"HTTP/1.1 200 OK\r\nX-Echo-Authorization: Bearer " + KEY.encode() + b"\r\n"
        ),
    ),
}


@pytest.mark.parametrize("kind", list(SCENARIOS))
async def test_key_never_shown_on_any_failure(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    """Whatever fails, the key is in no exception, cause, traceback, pickle, log or repr."""
    scenario = SCENARIOS[kind]
    for name in (None, "aiohttp", "simcards_async", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(scenario.server())
        options = {"max_retries": 1, **scenario.options}
        client = await stack.enter_async_context(SimCardsClient(KEY, server.url, **options))
        stream = client.sim_cards(page_size=10)
        with pytest.raises(TelnyxError) as info:
            if scenario.call == "get":
                await client.get_sim_card(UNKNOWN_ID)
            else:
                await stream.collect()
        exc = info.value
        assert isinstance(exc, scenario.expected)
        # What an application would typically log about it.
        logging.getLogger("app").error("listing failed: %r", exc, exc_info=exc)
        logging.getLogger("app").error("listing failed: %s", exc)
        texts = _exception_texts(exc)
        texts |= {
            "client repr": repr(client),
            "stream repr": repr(stream),
            "stats repr": repr(stream.stats),
            "transport repr": repr(client._transport()),
        }
        if isinstance(exc, APIStatusError):
            texts["body"] = exc.body.decode("utf-8", "replace")
    texts["log"] = caplog.text
    for n, record in enumerate(caplog.records):
        texts[f"log record {n}"] = f"{record.getMessage()} {record.args!r} {record.exc_text}"
    assert caplog.records  # the application's own lines at least
    leaked = sorted(where for where, text in texts.items() if _leaks(text))
    assert leaked == []


# --- clear text only on loopback ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "[::ffff:127.0.0.1]"])  # noqa: S104
async def test_http_to_an_address_that_is_not_loopback_is_refused_before_sending(
    host: str,
) -> None:
    """``http://`` to an address that is not loopback is refused up front (naming base_url
    and https), even one that would reach this machine: the server sees nothing.
    """
    async with MockTelnyxServer(sim_cards=1, actions=1) as server:
        port = server.url.rsplit(":", 1)[1].split("/")[0]
        url = f"http://{host}:{port}/v2"
        with pytest.raises(InvalidParameterError) as info:
            SimCardsClient(KEY, url)
        assert info.value.parameter == "base_url"
        assert "https" in str(info.value)
        assert not _leaks(str(info.value))
        assert server.requests == []
        # The refusal is what kept the key home: on Linux that address reaches this server.
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(url + "/sim_cards") as resp:
                    assert resp.status == 401
            except aiohttp.ClientConnectionError:
                return  # not routed to this machine on this system: nothing more to show
        assert len(server.requests) == 1
        assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize(
    "url",
    [
        "http://api.telnyx.com/v2",
        "http://8.8.8.8/v2",
        "HTTP://Example.COM/v2",
        "http://[2001:db8::1]/v2",
    ],
)
def test_http_to_a_remote_host_is_refused(url: str) -> None:
    """``http://`` to any remote host is refused with an error naming ``base_url``."""
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, url)
    assert info.value.parameter == "base_url"
    assert "https" in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
async def test_http_to_loopback_is_accepted_and_works(host: str) -> None:
    """Plain ``http://`` to 127.0.0.1, localhost or [::1] is accepted and used."""
    bind = "::1" if host == "[::1]" else "127.0.0.1"
    server = MockTelnyxServer(sim_cards=12, actions=1, host=bind, api_key=KEY)
    try:
        await server.start()
    except OSError:
        pytest.skip(f"cannot listen on {bind} here")
    try:
        port = server.url.rsplit(":", 1)[1].split("/")[0]
        async with SimCardsClient(KEY, f"http://{host}:{port}/v2") as client:
            assert len(await client.sim_cards(page_size=5).collect()) == 12
        assert [r.headers["authorization"] for r in server.requests] == ["Bearer <redacted>"] * 3
    finally:
        await server.close()


# --- redirects ---------------------------------------------------------------------------------


@dataclass
class _Recorder:
    """An aiohttp.web app on 127.0.0.1 that records each request's path and headers."""

    answer: Callable[[web.Request], Awaitable[web.StreamResponse]]
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path_qs, {k.lower(): v for k, v in request.headers.items()}))
        return await self.answer(request)


@asynccontextmanager
async def _recording(
    answer: Callable[[web.Request], Awaitable[web.StreamResponse]], host: str = "127.0.0.1"
) -> AsyncIterator[_Recorder]:
    recorder = _Recorder(answer)
    async with serve(recorder.handle, host=host) as served:
        recorder.url = served.origin
        yield recorder


PAGE = b'{"data": [{"id": "a"}, {"id": "b"}], "meta": {"page_number": 1, "page_size": 10, "total_pages": 1, "total_results": 2}}'  # noqa: E501


async def _page(_request: web.Request) -> web.Response:
    return web.Response(body=PAGE, content_type="application/json")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_authorization_never_follows_a_redirect_to_another_origin(status: int) -> None:
    """A redirect to another origin (same host, other port) is not followed with the key:
    the other server never sees the Authorization header, and the client raises a
    structured error.
    """
    async with _recording(_page) as other:

        async def redirect(request: web.Request) -> web.Response:
            return web.Response(status=status, headers={"Location": other.url + request.path_qs})

        async with _recording(redirect) as first:
            async with SimCardsClient(KEY, first.url + "/v2") as client:
                with pytest.raises(APIStatusError) as info:
                    await client.sim_cards().collect()
            assert info.value.status == status
            assert len(first.seen) == 1
            assert first.seen[0][1]["authorization"] == f"Bearer {KEY}"
    assert all("authorization" not in headers for _, headers in other.seen)
    assert other.seen == []


async def test_redirect_to_the_same_port_under_another_host_name_is_not_followed() -> None:
    """``127.0.0.1`` and ``localhost`` are different origins even on one port: not followed."""

    async def redirect(request: web.Request) -> web.Response:
        if request.path.startswith("/moved"):
            return await _page(request)
        port = request.url.port
        return web.Response(status=307, headers={"Location": f"http://localhost:{port}/moved"})

    async with _recording(redirect) as server:
        async with SimCardsClient(KEY, server.url + "/v2") as client:
            with pytest.raises(APIStatusError) as info:
                await client.sim_cards().collect()
        assert info.value.status == 307
        assert [path for path, _ in server.seen] == [
            "/v2/sim_cards?page%5Bnumber%5D=1&page%5Bsize%5D=250"
        ]


@pytest.mark.parametrize("absolute", [True, False], ids=["absolute", "relative"])
async def test_same_origin_redirect_is_followed_with_the_key(*, absolute: bool) -> None:
    """A redirect within the same origin is followed, with the key, and the listing works."""

    async def answer(request: web.Request) -> web.Response:
        if request.path.startswith("/moved/"):
            return await _page(request)
        target = "/moved" + request.path_qs
        if absolute:
            target = f"http://127.0.0.1:{request.url.port}{target}"
        return web.Response(status=308, headers={"Location": target})

    async with _recording(answer) as server:
        async with SimCardsClient(KEY, server.url + "/v2") as client:
            cards = await client.sim_cards(page_size=10).collect()
        assert [card.id for card in cards] == ["a", "b"]
        assert [path.split("?")[0] for path, _ in server.seen] == [
            "/v2/sim_cards",
            "/moved/v2/sim_cards",
        ]
        assert all(headers["authorization"] == f"Bearer {KEY}" for _, headers in server.seen)


async def test_same_origin_redirect_loop_ends_with_a_structured_error() -> None:
    """A same-origin redirect loop is followed a bounded number of times, then raised."""

    async def loop(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": request.path_qs})

    async with _recording(loop) as server:
        async with SimCardsClient(KEY, server.url + "/v2", max_retries=0) as client:
            with pytest.raises(APIStatusError) as info:
                await client.sim_cards().collect()
        assert info.value.status == 302
        assert 2 <= len(server.seen) <= 11
