"""The mock Telnyx server: aiohttp.web on 127.0.0.1 serving a Fleet, and able to misbehave.

It checks requests on its own, independently of the client in this package: a client bug
should show up as a 422, not be mirrored by shared code.

Misbehaviour is deterministic. Faults, drift and request ids are decided in request-arrival
order by seeded RNGs, and each answer's data is computed when the request arrives (before the
``latency`` sleep), so the sequence of states a client sees depends only on the order of its
requests, never on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import sys
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio
import msgspec
from aiohttp import web

from ._checks import count, int64, integer, require, seconds
from ._codes import parse_uuid
from ._fleet import Fleet
from ._misbehaviour import (
    Misbehaviour,
    fresh_id,
    gzip_bomb,
    padded_chunks,
    redirect_location,
)
from ._vocab import (
    ACTION_TYPES,
    FILTERABLE_ACTION_STATUSES,
    FILTERABLE_SIM_CARD_STATUSES,
    SORT_KEYS,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

    if sys.version_info >= (3, 11):
        from typing import Self
    else:
        from typing_extensions import Self

from ._options import Drift, FaultName, FaultPlan, RateLimit, RequestRecord
from ._state import Buckets, Dice, PageCache
from ._wire import (
    BAD_GATEWAY_HTML,
    EXAMPLE_UUID,
    Answer,
    InvalidQueryError,
    Params,
    bearer,
    error_object,
    redacted,
    seconds_text,
    show,
    status_phrase,
)

#: Addresses that mean "every address", and the loopback one a URL names instead.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104  (names)


def url_host(host: str) -> str:
    """The host of the base URL of a server listening on ``host``: a wildcard names loopback.

    ``0.0.0.0`` (every address) is no address to send to, and a client refuses plain
    ``http://`` to any address but loopback: the printed URL must be one it can use.
    """
    host = _WILDCARDS.get(host, host)
    return f"[{host}]" if ":" in host else host


#: The largest TCP port.
_MAX_PORT = 65535


def _check_options(given: dict[str, object], kinds: dict[str, type]) -> None:
    """Refuse, naming it, an argument the server would fail on later (or serve wrongly).

    A port out of range was a bare ``OverflowError``; ``port=True`` bound port 1; a text
    ``cache_bytes`` made every answer a 500; a text seed was repeated as a string
    (gigabytes); an empty host listened on every interface, on two ports; an empty
    ``api_key`` refused every request. ``kinds`` are the options that are instances of a
    class, or None. (``latency``, ``clock`` and ``misbehaviour`` are checked by their setters.)
    """
    seed, port, host = (given[n] for n in ("seed", "port", "host"))
    api_key, cache_bytes, keep = (given[n] for n in ("api_key", "cache_bytes", "keep_requests"))
    checks = [
        ("seed", int64(seed), "an integer of 64 bits (-2**63 to 2**63 - 1)"),
        ("port", integer(port) and 0 <= port <= _MAX_PORT, f"an integer from 0 to {_MAX_PORT}"),
        (
            "host",
            isinstance(host, str)
            and host != ""
            and not any(c.isspace() or not c.isprintable() for c in host),
            # "  " was taken, then failed to start with a bare socket.gaierror.
            "a host name or address, not empty, with no spaces",
        ),
        (
            "api_key",
            api_key is None
            or (
                isinstance(api_key, str)
                and api_key != ""
                and not any(c.isspace() or not c.isprintable() for c in api_key)
            ),
            # A Bearer token is read without the spaces around it: such a key never matched.
            "a str, not empty, without spaces or control characters, or None",
        ),
        ("legacy_errors", isinstance(given["legacy_errors"], bool), "True or False"),
        ("cache_bytes", count(cache_bytes), "an integer >= 0"),
        ("keep_requests", keep is None or count(keep), "an integer >= 0 or None"),
    ]
    checks += [
        (name, given[name] is None or isinstance(given[name], cls), f"a {cls.__name__} or None")
        for name, cls in kinds.items()
    ]
    for name, ok, allowed in checks:
        require(ok, name, allowed, given[name], owner=_OWNER)


#: How a refusal of the server's options starts.
_OWNER = "MockTelnyxServer: "


class MockTelnyxServer:
    """A real HTTP server on 127.0.0.1 that answers like Telnyx's SIM card listing API.

    Use it as ``async with MockTelnyxServer(sim_cards=300) as server:`` and point a client at
    ``server.url`` (``http://127.0.0.1:PORT/v2``). Routes: GET ``/v2/sim_cards``,
    ``/v2/sim_cards/{id}``, ``/v2/sim_card_actions`` and ``/v2/sim_card_actions/{id}``.

    ``api_key`` (when given) is the only bearer token accepted; otherwise any non-empty one
    is. ``latency`` (seconds, changeable at run time) is slept before every answer.
    ``faults``, ``rate_limit`` and ``drift`` make it misbehave (see their classes);
    ``legacy_errors`` sends error codes as integers and ``description`` instead of
    ``detail``. Rendered pages are kept in an LRU of at most ``cache_bytes`` (compressed),
    dropped whenever the data changes. ``clock`` (seconds as a float, default
    ``time.monotonic``; changeable at run time as ``server.clock``) is the time the rate
    limit's token buckets refill by: pass a `ManualClock` to make throttling deterministic.
    ``misbehaviour`` (a `Misbehaviour`, changeable at run time) breaks the contract the ways
    real broken servers and proxies do: endless or replayed pages, lying ``meta``, huge and
    gzip-bombed bodies, 200s without data, bad redirects, junk headers, huge or key-echoing
    errors. Set at run time, these three are checked as the constructor checks them, and
    None sets the default.

    Bookkeeping for tests: ``requests`` (every request in arrival order; only the last
    ``keep_requests`` when that is given, so a long-lived server does not grow with every
    request it answers: ``serve`` keeps none), ``fault_counts``
    (faults injected, by name; a scripted status counts under its number as text) and
    ``current_sim_card_ids()``; ``fleet`` is the `Fleet` being served.
    """

    def __init__(
        self,
        *,
        sim_cards: int = 3000,
        actions: int = 3000,
        seed: int = 1,
        latency: float = 0.0,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        rate_limit: RateLimit | None = None,
        drift: Drift | None = None,
        legacy_errors: bool = False,
        cache_bytes: int = 256 * 2**20,
        clock: Callable[[], float] | None = None,
        misbehaviour: Misbehaviour | None = None,
        keep_requests: int | None = None,
    ) -> None:
        _check_options(
            {
                "seed": seed,
                "host": host,
                "port": port,
                "api_key": api_key,
                "legacy_errors": legacy_errors,
                "cache_bytes": cache_bytes,
                "keep_requests": keep_requests,
                "faults": faults,
                "rate_limit": rate_limit,
                "drift": drift,
            },
            {"faults": FaultPlan, "rate_limit": RateLimit, "drift": Drift},
        )
        # The setters check these (and again at each change at run time).
        self.latency = latency
        self.clock = clock
        self.misbehaviour = misbehaviour
        self.fleet = Fleet(sim_cards=sim_cards, actions=actions, seed=seed)
        self.requests: list[RequestRecord] = []
        self._keep_requests = keep_requests
        self.fault_counts: Counter[str] = Counter()
        self._api_key = api_key
        self._host = host
        self._port = port
        self._dice = Dice(faults) if faults is not None else None
        self._seed = seed
        self._bombs: dict[tuple[bytes, int], bytes] = {}
        self._buckets = Buckets(rate_limit, self._now) if rate_limit is not None else None
        self._rate_limit = rate_limit
        self._drift = drift
        # Seeded RNGs: mock behaviour, not secrets.
        self._drift_rng = random.Random(drift.seed) if drift is not None else None  # noqa: S311
        self._legacy = legacy_errors
        self._cache = PageCache(cache_bytes)
        self._cache_version = self.fleet.version
        self._cache_misbehaviour = self.misbehaviour
        self._request_ids = random.Random(f"simcards-async:request-ids:{seed}")  # noqa: S311
        self._lists_answered = 0
        self._encoder = msgspec.json.Encoder()
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        #: The host (as a URL names it) and port listened on, while running.
        self._address: tuple[str, int] | None = None

    def _now(self) -> float:
        return self._clock()  # read at each use, so a test may swap the clock at run time

    # -- options changeable at run time -----------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds slept before every answer."""
        return self._latency

    @latency.setter
    def latency(self, latency: float | None) -> None:
        """A finite number of seconds >= 0; None is 0."""
        latency = 0.0 if latency is None else latency
        allowed = "a finite number of seconds >= 0, or None"
        require(seconds(latency), "latency", allowed, latency, owner=_OWNER)
        self._latency = latency

    @property
    def clock(self) -> Callable[[], float]:
        """The time, in seconds, that the rate limit's token buckets refill by."""
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float] | None) -> None:
        """A function returning seconds as a float; None is ``time.monotonic``."""
        require(
            clock is None or callable(clock), "clock", "a function or None", clock, owner=_OWNER
        )
        self._clock = time.monotonic if clock is None else clock

    @property
    def misbehaviour(self) -> Misbehaviour:
        """How the server breaks the API's contract; see `Misbehaviour`."""
        return self._misbehaviour

    @misbehaviour.setter
    def misbehaviour(self, misbehaviour: Misbehaviour | None) -> None:
        """A `Misbehaviour`; None is ``Misbehaviour()``, none at all."""
        ok = misbehaviour is None or isinstance(misbehaviour, Misbehaviour)
        require(ok, "misbehaviour", "a Misbehaviour or None", misbehaviour, owner=_OWNER)
        self._misbehaviour = Misbehaviour() if misbehaviour is None else misbehaviour

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API's base URL, ``http://127.0.0.1:PORT/v2``."""
        if self._address is None:
            raise RuntimeError("the server is not running; use `async with` or start()")
        host, port = self._address
        return f"http://{host}:{port}/v2"

    async def start(self) -> None:
        """Bind and start serving."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        app = web.Application()
        app.router.add_get("/v2/sim_cards", self._sim_cards)
        app.router.add_get("/v2/sim_cards/{id}", self._sim_card)
        app.router.add_get("/v2/sim_card_actions", self._actions)
        app.router.add_get("/v2/sim_card_actions/{id}", self._action)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # Handlers are cancelled when their client goes away (a hung answer nobody waits
        # for), and close() does not wait long for the rest.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        track_connections(runner)
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await close_runner(runner)
            raise
        self._runner = runner
        # Made here, not once: an Event is bound to the loop that first waits on it, and a
        # server may be started again in another loop (one per test).
        self._closing = asyncio.Event()
        self._address = (url_host(self._host), runner.addresses[0][1])

    async def close(self) -> None:
        """Stop serving; hung answers are cut short. Safe to call twice."""
        runner, self._runner = self._runner, None
        self._address = None
        if runner is not None:
            if self._closing is not None:
                self._closing.set()
            await close_runner(runner)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- data -------------------------------------------------------------------------------

    def current_sim_card_ids(self) -> list[str]:
        """Ids of all SIM cards now, in listing order (what a full unfiltered scan returns)."""
        return self.fleet.sim_card_ids()

    def current_action_ids(self) -> list[str]:
        """Ids of all SIM card actions now, in listing order."""
        return self.fleet.action_ids()

    def insert_sim_cards(self, count: int) -> list[str]:
        """Add ``count`` SIM cards at the head of the listing; return their ids, newest first."""
        return self.fleet.insert_sim_cards(count)

    def delete_sim_cards(self, ids_or_count: int | Iterable[str]) -> list[str]:
        """Delete these SIM cards, or that many at random; return the ids deleted.

        Ids come in a list (one id too: a str alone is refused); unknown ones are skipped.
        """
        return self.fleet.delete_sim_cards(ids_or_count)

    def insert_actions(self, count: int) -> list[str]:
        """Add ``count`` actions at the head of their listing; return their ids, newest first."""
        return self.fleet.insert_actions(count)

    def delete_actions(self, ids_or_count: int | Iterable[str]) -> list[str]:
        """Delete these actions, or that many at random; return the ids deleted.

        Ids come in a list (one id too: a str alone is refused); unknown ones are skipped.
        """
        return self.fleet.delete_actions(ids_or_count)

    # -- routes -----------------------------------------------------------------------------

    async def _sim_cards(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._list_sim_cards)

    async def _sim_card(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._get_sim_card)

    async def _actions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._list_actions)

    async def _action(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._get_action)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, None)

    # -- the request cycle ------------------------------------------------------------------

    async def _serve(
        self,
        request: web.Request,
        route: Callable[[web.Request, Params], Answer] | None,
    ) -> web.StreamResponse:
        raw_query = request.raw_path.partition("?")[2]
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        token = bearer(request.headers.get("Authorization"))
        record = RequestRecord(
            method=request.method,
            path=request.path,
            raw_query=raw_query,
            query=query,
            headers=redacted(request.headers, token),
        )
        self._record(record)
        request_id = self._next_request_id()
        fault = self._dice.roll() if self._dice is not None and route is not None else None
        if fault is not None:
            record.fault = str(fault)
            self.fault_counts[str(fault)] += 1

        if fault == "drop":  # nothing is computed, counted or answered
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            if request.transport is not None:
                request.transport.close()
            # Never reaches the client: aiohttp drops a write to a closed transport.
            return web.Response(status=500)

        answer = self._answer(request, route, Params(query), token, fault)
        answer.headers["x-request-id"] = request_id
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if fault == "hang" and self._dice is not None and self._closing is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._dice.plan.hang_seconds)
        record.status = answer.status
        return await self._send(request, answer, fault, api=route is not None)

    async def _send(
        self, request: web.Request, answer: Answer, fault: FaultName, *, api: bool
    ) -> web.StreamResponse:
        if fault == "truncate":
            return await self._send_truncated(request, answer)
        if api and answer.status == 200:  # noqa: PLR2004
            if self.misbehaviour.huge_body_bytes:
                return await self._send_padded(request, answer)
            if self.misbehaviour.gzip_bomb_bytes:
                return await self._send_gzip_bomb(answer)
        return self._dressed(
            web.Response(
                status=answer.status,
                body=answer.body,
                headers=answer.headers,
                content_type=answer.content_type,
            )
        )

    def _dressed(self, response: web.StreamResponse) -> web.StreamResponse:
        """``response`` with the misbehaviour's extra headers, before it is sent.

        Set on the response, not passed with ``content_type=``: aiohttp refuses both at
        once, and an extra ``Content-Type`` made every answer a 500.
        """
        response.headers.update(self.misbehaviour.extra_headers)
        return response

    def _answer(
        self,
        request: web.Request,
        route: Callable[[web.Request, Params], Answer] | None,
        params: Params,
        token: str | None,
        fault: FaultName,
    ) -> Answer:
        """Compute the answer synchronously, so state changes happen in arrival order."""
        authorized = token is not None and self._api_key in {None, token}
        key = hashlib.sha256(token.encode()).hexdigest() if token and authorized else None
        if fault in {"429", "5xx"} or isinstance(fault, int):
            return self._fault_answer(fault, key)
        if route is None:
            return self._errors(404, [error_object(404, f"No route for {request.path}.")])
        if not authorized:
            detail = "The API key is missing or invalid; send it as 'Authorization: Bearer <key>'."
            return self._errors(401, [error_object(401, detail)])
        rate_headers: dict[str, str] = {}
        if self._buckets is not None and key is not None:
            allowed, rate_headers = self._buckets.take(key)
            if not allowed:
                detail = "Too many requests; retry after the time in Retry-After."
                return self._errors(429, [error_object(429, detail)], rate_headers)
        broken = self._broken(request)
        if broken is not None:
            broken.headers.update(rate_headers)
            return broken
        if (
            self.fleet.version != self._cache_version
            or self.misbehaviour is not self._cache_misbehaviour
        ):  # pages rendered before a change of the data or of the knobs are stale
            self._cache.clear()
            self._cache_version = self.fleet.version
            self._cache_misbehaviour = self.misbehaviour
        try:
            answer = route(request, params)
        except InvalidQueryError as invalid:
            answer = self._errors(422, invalid.errors)
        answer.headers.update(rate_headers)
        return answer

    def _fault_answer(self, fault: str | int, key: str | None) -> Answer:
        if fault in {"429", 429}:  # a script's 429 as a number too: a rate limit's, whole
            return self._fault_429()
        answer = self._fault_status(fault)
        if self._buckets is not None and key is not None:
            answer.headers.update(self._buckets.peek(key))
        return answer

    def _broken(self, request: web.Request) -> Answer | None:
        """The answer a route-level `Misbehaviour` gives instead of the real one, if any."""
        m = self.misbehaviour
        if m.echo_authorization:
            sent = request.headers.get("Authorization", "")
            err = error_object(401, f"The credentials {sent!r} are not valid.")
            err["source"] = {"header": f"Authorization: {sent}"}
            return self._errors(401, [err])
        if m.error_detail_bytes:
            detail = ("Internal error. " * (m.error_detail_bytes // 16 + 1))[: m.error_detail_bytes]
            return self._errors(500, [error_object(500, detail)])
        if m.redirect is not None and self._address is not None:
            # This server's own address, not the request's Host: a Host may have no port
            # (one on port 80, or set by hand), or name another server.
            host, port = self._address
            location = redirect_location(m.redirect, host=host, port=port, path_qs=request.raw_path)
            return Answer(302, b"", {"Location": location})
        if m.ok_without_data == "empty":
            return Answer(200, b"{}")
        if m.ok_without_data == "errors":
            detail = "The request could not be completed; try again later."
            return Answer(200, self._encoder.encode({"errors": [error_object(500, detail)]}))
        return None

    def _record(self, record: RequestRecord) -> None:
        """Add ``record`` to ``requests``, letting go of the oldest past ``keep_requests``."""
        self.requests.append(record)
        keep = self._keep_requests
        if keep is not None and len(self.requests) > keep:
            del self.requests[: len(self.requests) - keep]

    def _next_request_id(self) -> str:
        return str(uuid.UUID(int=self._request_ids.getrandbits(128), version=4))

    def _errors(
        self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
    ) -> Answer:
        if self._legacy:
            errors = [
                {
                    ("description" if k == "detail" else k): (int(v) if k == "code" else v)
                    for k, v in err.items()
                }
                for err in errors
            ]
        return Answer(status, self._encoder.encode({"errors": errors}), dict(headers or {}))

    def _fault_429(self) -> Answer:
        assert self._dice is not None  # noqa: S101 - only called with a fault plan
        retry = seconds_text(self._dice.plan.retry_after)
        limit = self._rate_limit.limit if self._rate_limit is not None else 100
        headers = {
            "Retry-After": retry,
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": retry,
        }
        return self._errors(429, [error_object(429, "Too many requests; slow down.")], headers)

    def _fault_status(self, fault: str | int) -> Answer:
        assert self._dice is not None  # noqa: S101 - only called with a fault plan
        if isinstance(fault, int):
            status, html = fault, False
        else:
            status, html = self._dice.next_5xx()
        if html:
            return Answer(status, BAD_GATEWAY_HTML, {}, "text/html")
        detail = f"The server answered {status} {status_phrase(status)} (injected fault)."
        return self._errors(status, [error_object(status, detail)])

    async def _send_truncated(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        response.content_type = answer.content_type
        response.content_length = len(answer.body)
        await self._dressed(response).prepare(request)
        await response.write(answer.body[: len(answer.body) // 2])
        if request.transport is not None:
            request.transport.close()  # flushes the half written, then hangs up
        return response

    async def _send_padded(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        response.content_type = answer.content_type
        await self._dressed(response).prepare(request)  # no Content-Length: sent chunked
        try:
            for chunk in padded_chunks(answer.body, self.misbehaviour.huge_body_bytes):
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:  # the client stopped reading, as it should: nothing to do
            pass
        return response

    async def _send_gzip_bomb(self, answer: Answer) -> web.StreamResponse:
        key = (answer.body, self.misbehaviour.gzip_bomb_bytes)
        packed = self._bombs.get(key)
        if packed is None:
            packed = await asyncio.to_thread(gzip_bomb, *key)
            self._bombs = {key: packed}  # the last one only: pages differ
        headers = {**answer.headers, "Content-Encoding": "gzip"}
        return self._dressed(
            web.Response(
                status=answer.status, body=packed, headers=headers, content_type=answer.content_type
            )
        )

    # -- endpoints --------------------------------------------------------------------------

    def _list_sim_cards(self, request: web.Request, params: Params) -> Answer:
        del request
        number, size = params.page()
        status = params.choices("filter[status]", FILTERABLE_SIM_CARD_STATUSES)
        tags = params.texts("filter[tags]")
        iccid = params.text("filter[iccid]") or ""
        msisdn = params.text("filter[msisdn]")
        group = params.uuid("filter[sim_card_group_id]")
        include_group = params.boolean("include_sim_card_group")
        sort = params.choice("sort", SORT_KEYS)
        if params.errors:
            raise InvalidQueryError(params.errors)
        filters = ("sim_cards", status, tags, iccid, msisdn, group, sort, include_group)
        fleet = self.fleet

        def select() -> Sequence[int]:
            return fleet.sim_card_rows(
                status=status,
                tags=tags,
                iccid=iccid,
                msisdn=msisdn,
                sim_card_group_id=group,
                sort=sort,
            )

        def render(row: int) -> dict[str, Any]:
            return fleet.render_sim_card(row, include_sim_card_group=include_group)

        return self._page(filters, number, size, select, render)

    def _list_actions(self, request: web.Request, params: Params) -> Answer:
        del request
        number, size = params.page()
        card = params.uuid("filter[sim_card_id]")
        status = params.choice("filter[status]", FILTERABLE_ACTION_STATUSES)
        bulk = params.uuid("filter[bulk_sim_card_action_id]")
        action_type = params.choice("filter[action_type]", ACTION_TYPES)
        if params.errors:
            raise InvalidQueryError(params.errors)
        filters = ("actions", card, status, bulk, action_type)
        fleet = self.fleet

        def select() -> Sequence[int]:
            return fleet.action_rows(
                sim_card_id=card,
                status=status,
                bulk_sim_card_action_id=bulk,
                action_type=action_type,
            )

        return self._page(filters, number, size, select, fleet.render_action)

    def _page(
        self,
        filters: tuple[object, ...],
        number: int,
        size: int,
        select: Callable[[], Sequence[int]],
        render: Callable[[int], dict[str, Any]],
    ) -> Answer:
        key = (*filters, number, size)
        body = self._cache.get(key)
        if body is None:
            rows = select()
            if self.misbehaviour.pages_off_spec:
                page, meta = self._broken_page(str(filters[0]), rows, number, size, render)
            else:
                total = len(rows)
                start = (number - 1) * size
                page = [render(r) for r in rows[start : start + size]] if start < total else []
                meta = {
                    "page_number": number,
                    "page_size": size,
                    "total_pages": -(-total // size),
                    "total_results": total,
                }
            body = self._encoder.encode({"data": page, "meta": meta})
            self._cache.put(key, body)
        self._listed()
        return Answer(200, body)

    def _broken_page(
        self,
        listing: str,
        rows: Sequence[int],
        number: int,
        size: int,
        render: Callable[[int], dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A page and its meta as the page-level knobs of `Misbehaviour` break them."""
        m = self.misbehaviour
        total = len(rows)
        real_pages = -(-total // size)
        served = 1 if m.ignore_page_number else number
        if m.replay_lag and served > m.replay_lag:
            served -= m.replay_lag
        start = (served - 1) * size
        page = [render(r) for r in rows[start : start + size + m.oversize_pages]]
        if m.endless and total and served > real_pages:
            page = []
            for i in range(size + m.oversize_pages):
                record = render(rows[((served - 1) * size + i) % total])
                record["id"] = fresh_id(self._seed, listing, served, i)
                page.append(record)
        meta = {
            "page_number": number + m.page_number_offset,
            "page_size": size,
            "total_pages": real_pages if m.total_pages is None else m.total_pages,
            "total_results": total,
        }
        return page, meta

    def _listed(self) -> None:
        """Count a list answer; every ``drift.every``-th one changes the data."""
        self._lists_answered += 1
        drift, rng = self._drift, self._drift_rng
        if drift is None or rng is None or self._lists_answered % drift.every:
            return
        fleet = self.fleet
        cards, actions = fleet.room()  # a full fleet takes no more: the data stops growing
        fleet.insert_sim_cards(min(drift.insert, cards), rng=rng)
        fleet.insert_actions(min(drift.insert, actions), rng=rng)
        fleet.delete_sim_cards(drift.delete, rng=rng)
        fleet.delete_actions(drift.delete, rng=rng)

    def _get_sim_card(self, request: web.Request, params: Params) -> Answer:
        card_id = request.match_info["id"]
        self._check_id(card_id, params)
        include_group = params.boolean("include_sim_card_group")
        include_codes = params.boolean("include_pin_puk_codes")
        if params.errors:
            raise InvalidQueryError(params.errors)
        card = self.fleet.sim_card(
            card_id, include_sim_card_group=include_group, include_pin_puk_codes=include_codes
        )
        if card is None:
            return self._errors(404, [error_object(404, f"No SIM card has the id {card_id}.")])
        return Answer(200, self._encoder.encode({"data": card}))

    def _get_action(self, request: web.Request, params: Params) -> Answer:
        action_id = request.match_info["id"]
        self._check_id(action_id, params)
        if params.errors:
            raise InvalidQueryError(params.errors)
        action = self.fleet.action(action_id)
        if action is None:
            return self._errors(
                404, [error_object(404, f"No SIM card action has the id {action_id}.")]
            )
        return Answer(200, self._encoder.encode({"data": action}))

    @staticmethod
    def _check_id(value: str, params: Params) -> None:
        if parse_uuid(value) is None:
            detail = f"id must be a UUID such as {EXAMPLE_UUID}; got {show(value)}."
            params.errors.append(error_object(422, detail, "id"))


#: Loop turns from accepting a socket to its ``connection_made``, and one to spare.
_ACCEPT_TURNS = 3

#: The open connections each runner's server made, from ``track_connections`` on: each
#: handler's transport from its ``connection_made`` to its ``connection_lost`` (its socket
#: closed right after), whatever aiohttp does with it between. Keyed by ``id(runner)`` (an
#: AppRunner takes no weak reference), until its close.
_OPEN: dict[int, dict[Any, asyncio.Transport]] = {}


def track_connections(runner: web.AppRunner) -> None:
    """Keep every open transport ``runner``'s server made, for ``close_runner`` to end.

    Called right after ``runner.setup()``: a connection that leaves aiohttp's list of
    connections, or that aiohttp let go of still open (its ``force_close`` closes a transport
    gracefully, and one with an answer still to write stays open), is still ended at the close.
    """
    server = runner.server
    if server is None:
        return
    open_ = _OPEN.setdefault(id(runner), {})
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:  # noqa: ANN401
        open_[handler] = transport
        made(handler, transport)

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:  # noqa: ANN401
        open_.pop(handler, None)
        lost(handler, exc)

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]


async def close_runner(runner: web.AppRunner) -> None:
    """``runner.cleanup()``, and every connection's socket closed by the time it returns.

    aiohttp closes a connection gracefully: one with an answer still to write (to a client
    that went away) stays open until the write fails, which needs more turns of the loop.
    If the loop ends first (``asyncio.run`` returning), the socket is left for the garbage
    collector, and its ResourceWarning surfaces later, anywhere. Aborting what is left and
    letting the loop run the close callbacks once ends them here. A connection accepted
    while the server shuts down is dropped from aiohttp's list unclosed (``Server.shutdown``
    clears the list after closing those it had): ``track_connections`` keeps it too.

    A connection the loop accepted in the turn before the close was left open, half made:
    asyncio makes its transport a turn after taking the socket, and a server closed meanwhile
    refuses it (``Server._attach`` asserts it is serving; the error is swallowed, the socket
    never closed). So the close first stops taking connections and lets those under way be
    made, then closes. It is shielded from a cancelled scope around it (an ``async with``
    server left by a cancellation): anyio cancels every ``await`` in such a scope, which cut
    those turns short. It is bounded by the runner's ``shutdown_timeout``.
    """
    server = runner.server
    if server is not None and id(runner) not in _OPEN:
        track_connections(runner)
    kept = _OPEN.pop(id(runner), {})
    transports = [h.transport for h in server.connections] if server is not None else []
    with anyio.CancelScope(shield=True):
        try:
            _stop_accepting(runner)
            for _ in range(_ACCEPT_TURNS):
                await asyncio.sleep(0)
            await runner.cleanup()
        finally:  # and if a task.cancel() got through: the sockets are not left behind
            # Again, for a connection still under way if the turns before were cut short
            # (a task.cancel()), or taken meanwhile by a loop whose server is not asyncio's.
            for _ in range(_ACCEPT_TURNS):
                await asyncio.sleep(0)
            transports += kept.values()
            for transport in transports:
                if transport is not None:
                    transport.abort()  # a no-op for one already closed
            if transports:
                await asyncio.sleep(0)  # the loop runs each abort's connection_lost callback


def _stop_accepting(runner: web.AppRunner) -> None:
    """Take no more connections on ``runner``'s sites; their listening sockets stay open.

    Connections that arrive meanwhile wait in the kernel's backlog, and are refused when
    the close closes the listening sockets. A loop that accepts otherwise (Windows'
    proactor, uvloop) is left as it is.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.SelectorEventLoop):
        return
    for site in runner.sites:
        server = site._server  # noqa: SLF001  (aiohttp keeps its asyncio.Server there only)
        if isinstance(server, asyncio.Server):
            for sock in server.sockets:
                loop.remove_reader(sock)
