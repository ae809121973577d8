"""``SimCardsClient``: the session's lifecycle, and the endpoint methods that wire the rest.

Arguments go through ``_query`` (validated, encoded), requests through ``_http``
(sent, retried), answers through the ``_models`` decoders, and listings through
``PageStream`` (concurrent, ordered; checkpoints by its ``Checkpointer``).
This module only connects them.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import os
import warnings
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

import anyio
import msgspec

from ._arguments import checked_bool, checked_int, checked_seconds, plain_str
from ._callbacks import check_callback
from ._checkpoint import Checkpointer
from ._errors import APIError, InvalidParameterError
from ._http import (
    REQUEST_CLOSED,
    AiohttpSend,
    ClientSession,
    Transport,
    new_session,
    pool_size,
    session_loop,
)
from ._models import (
    RECORD_TYPES,
    Page,
    RawRecord,
    SimCard,
    SimCardAction,
    decode_raw_page,
    decode_raw_sim_card_page_by_amount,
    decode_sim_card,
    decode_sim_card_action,
    decode_sim_card_action_page,
    decode_sim_card_page,
)
from ._observe import Instruments, OnResponse, RateLimitInfo
from ._page_stream import PageStream
from ._pagination import FetchPage, SharedWindow, Turn
from ._paths import check_file_path, plain_path
from ._query import (
    ListQuery,
    record_id,
    sim_card_action_path,
    sim_card_actions_query,
    sim_card_path,
    sim_cards_query,
)
from ._retry import RetryPolicy
from ._sansio import MAX_KEY_LENGTH, MIN_KEY_LENGTH, Secrets, check_base_url
from ._stream import CLIENT_CLOSED
from ._throttle import AdaptiveLimiter

__all__ = ["DEFAULT_BASE_URL", "SimCardsClient"]

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"

T = TypeVar("T", SimCard, SimCardAction)
R = TypeVar("R", SimCard, SimCardAction, RawRecord)

#: The smallest ``max_response_bytes``: below it not even an error answer fits.
_MIN_RESPONSE_BYTES = 1024

#: Why a client refuses to open its connections outside an event loop.
NO_LOOP = (
    "a SimCardsClient opens its connections in a running event loop: make its first stream "
    "(or enter 'async with SimCardsClient(...)') inside an async function"
)

#: Why a client opened in one event loop refuses to run in another.
OTHER_LOOP = (
    "this SimCardsClient was opened in another event loop (an earlier asyncio.run()?), "
    "which its connections belong to; make a client in each event loop, with 'async with "
    "SimCardsClient(...)'"
)


#: What a ``session=`` must be, once the client runs: aiohttp's own errors for a session of
#: another loop say nothing of it ("Event loop is closed", "Timeout context manager should
#: be used inside a task").
SESSION_OF_THIS_LOOP = (
    "an aiohttp.ClientSession made in the event loop the client runs in (this one belongs "
    "to another: one made in an earlier asyncio.run(), or in another thread's loop)"
)


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class SimCardsClient:
    """An asyncio client for Telnyx's SIM card listings.

    Use it as ``async with SimCardsClient() as client:``. The key defaults to
    ``TELNYX_API_KEY`` and the base URL to ``TELNYX_BASE_URL`` or the public API.
    ``max_concurrency`` bounds the requests in flight across every stream of
    this client (it shrinks on 429s and grows back); ``read_ahead`` bounds the
    pages one stream reads ahead of its consumer (default twice the
    concurrency), which bounds its memory; the streams read at once share 64 MiB
    of read-ahead, four streams' worth (each at least two pages); ``timeout`` is per request and
    ``deadline``, if given, for a whole listing. ``session`` lets you bring
    your own ``aiohttp.ClientSession``, which the client then does not close.
    ``retry`` is a ``RetryPolicy``; ``max_retries=n`` is short for
    ``retry=RetryPolicy(max_retries=n)`` (give one or the other).
    ``max_response_bytes`` caps every answer's size after decompression; by
    default it is 1 MiB plus 16 KiB per record the request may return (4.9 MiB for
    a 250-record page). A longer answer raises ``ResponseTooLargeError``.
    ``on_response`` is called with a ``ResponseEvent`` after each HTTP attempt, in
    the task that made it; what it raises propagates to the caller.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        max_concurrency: int = 8,
        timeout: float = 30.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        session: ClientSession | None = None,
        read_ahead: int | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
        on_response: OnResponse | None = None,
    ) -> None:
        self._state = _State.UNOPENED
        key = api_key if api_key is not None else os.environ.get("TELNYX_API_KEY")
        # An empty key is no key: that is a clear error at first use, as a missing one. One
        # given as api_key="" is said to be that (the variable, set or not, is not read).
        self._api_key = _checked_api_key(key) if key != "" else None
        #: What every message, log line and checkpoint is cleaned of: the key.
        self._secrets = Secrets(self._api_key or "")
        self._empty_key_given = api_key == ""
        # An empty base_url given is refused (an unset variable in a script, not "the
        # default"); an empty TELNYX_BASE_URL is an unset one.
        if base_url is None:
            base_url = os.environ.get("TELNYX_BASE_URL") or DEFAULT_BASE_URL
        self._base_url = check_base_url(base_url)
        self._max_concurrency = checked_int("max_concurrency", max_concurrency, 1, MAX_CONCURRENCY)
        self._read_ahead = (
            min(2 * self._max_concurrency, MAX_CONCURRENCY)  # within the range it may be given
            if read_ahead is None
            else checked_int("read_ahead", read_ahead, 1, MAX_CONCURRENCY)
        )
        self._timeout = checked_seconds("timeout", timeout, zero=False)
        self._deadline = (
            None if deadline is None else checked_seconds("deadline", deadline, zero=False)
        )
        self._retry = _retry_policy(max_retries, retry)
        self._max_response_bytes = (
            None
            if max_response_bytes is None
            else checked_int("max_response_bytes", max_response_bytes, _MIN_RESPONSE_BYTES)
        )
        if session is not None and not isinstance(session, ClientSession):
            raise InvalidParameterError("session", "an aiohttp.ClientSession or None", session)
        if session is not None and not session.auto_decompress:
            # It asks for gzip (aiohttp's Accept-Encoding) and would hand the JSON decoder
            # the compressed bytes: every answer a "bad body", retried.
            raise InvalidParameterError(
                "session",
                "an aiohttp.ClientSession that decompresses answers (auto_decompress=True, "
                "the default)",
                session,
            )
        if session is not None and session.auth is not None:
            # aiohttp refuses a request with both auth= and an Authorization header: the
            # first request failed with its bare ValueError.
            raise InvalidParameterError(
                "session",
                "an aiohttp.ClientSession without auth= (the API key is the credential: api_key=)",
                session,
            )
        if session is not None:
            _check_session_loop(session)  # made in a running loop: refused now, not at first use
        if on_response is not None:
            check_callback("on_response", on_response, "a function taking a ResponseEvent, or None")
        self._on_response = on_response
        self._session = session
        #: The most requests in flight at once: a session of the caller's whose pool holds
        #: fewer connections bounds it (beyond them, a request waited in aiohttp's pool with
        #: its ``timeout`` running, and a slow answer ahead made it an APITimeoutError).
        pool = None if session is None else pool_size(session)
        self._in_flight_max = (
            self._max_concurrency if pool is None else min(pool, self._max_concurrency)
        )
        #: The event loop the client was opened in: its connections belong to it.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owns_session = session is None
        self._transport_: Transport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: The streams made, halted as the client closes (weakly: a stream dropped is gone).
        self._streams: weakref.WeakSet[PageStream[Any]] = weakref.WeakSet()
        #: The read-ahead its streams share: many read at once split four windows' bytes.
        self._window = SharedWindow()
        #: The scopes of the single gets under way (in their callers' tasks), which
        #: ``aclose()`` cancels.
        self._gets: set[anyio.CancelScope] = set()
        #: The closing, once ``aclose()`` started it (every ``aclose()`` waits for it).
        self._closing: asyncio.Task[None] | None = None

    def __setattr__(self, name: str, value: object) -> None:
        # Nothing public is set after construction: ``client.retry = ...`` made an
        # attribute nothing reads (no error, no effect), and a read-only setting's own
        # message says the same.
        if not name.startswith("_"):
            raise AttributeError(
                f"SimCardsClient.{name} cannot be set: a client's settings are given when it "
                "is made (make another client for others)"
            )
        super().__setattr__(name, value)

    # --- settings: fixed when the client is made -----------------------------------
    # Read-only: the engine, the limiter and the session take them when the client opens,
    # so a later assignment would be ignored, half-applied or never checked (a read_ahead
    # of 0 ended every listing after its first page). A client with other settings is a
    # new client.

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._base_url

    @property
    def max_concurrency(self) -> int:
        """The most requests in flight across this client's streams (before 429s shrink it)."""
        return self._max_concurrency

    @property
    def read_ahead(self) -> int:
        """The most pages one stream fetches ahead of its consumer."""
        return self._read_ahead

    @property
    def timeout(self) -> float:
        """Seconds each HTTP request may take."""
        return self._timeout

    @property
    def deadline(self) -> float | None:
        """Seconds a whole listing may take, or None for no bound."""
        return self._deadline

    @property
    def max_response_bytes(self) -> int | None:
        """The cap on an answer's size after decompression, or None for the default."""
        return self._max_response_bytes

    def __repr__(self) -> str:
        # The key is never shown, not even in part.
        key = "set" if self._api_key else "missing"
        return f"<SimCardsClient {self.base_url!r} api_key={key} {self._state.value}>"

    # --- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> SimCardsClient:
        self._transport()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every stream still running and close the session (if the client made it).

        The closing runs once, in a task of its own: an ``aclose()`` cancelled half-way
        (``asyncio.wait_for``, ``asyncio.timeout``) still closes, and another ``aclose()``,
        at the same time or later, waits for that one.
        """
        if self._closing is not None and self._closing.done():
            return
        # In another loop than the one it ran in, its tasks and connections cannot be
        # closed from here: say so, and leave it open, to be closed in its own loop (marked
        # closed here, it stopped warning it was never closed, its connections still open).
        self._check_loop(closing=True)
        if self._closing is None:
            self._state = _State.CLOSED
            self._closing = asyncio.get_running_loop().create_task(self._close())
        # Shielded: closed in an anyio cancel scope that has fired (``move_on_after`` around
        # ``async with client``), the wait would be cut at once; ``asyncio.shield`` keeps
        # the closing going when this wait is cancelled by asyncio itself.
        with anyio.CancelScope(shield=True):
            await asyncio.shield(self._closing)

    async def _close(self) -> None:
        for scope in list(self._gets):
            scope.cancel()
        for stream in list(self._streams):
            # Its reader stops at its next item, not at its page's end; never raises.
            stream._halt()  # noqa: SLF001  (a stream this client made)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self._owns_session and self._session is not None:
            await self._session.close()

    def __del__(self) -> None:
        # getattr: a constructor that refused its arguments leaves no state behind.
        if getattr(self, "_state", None) is _State.OPENED and self._owns_session:
            warnings.warn(
                f"{self!r} was never closed; use 'async with SimCardsClient()' or await "
                "aclose(), in the event loop it ran in",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def _check_loop(self, *, closing: bool = False) -> None:
        """Refuse to run in an event loop other than the first the client ran in.

        Its connections belong to that loop. Outside any loop (a stream made before one
        runs) there is nothing to check: the stream's requests check when they run. A
        ``session=`` of another loop is refused as the client first runs (not as it closes:
        nothing was sent with it, and there is nothing of it to close).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loop is None:
            if self._session is not None and not self._owns_session and not closing:
                _check_session_loop(self._session, loop)
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(OTHER_LOOP)

    def _transport(self) -> Transport:
        if self._state is _State.CLOSED:
            raise RuntimeError("this SimCardsClient is closed; make a new one")
        self._check_loop()
        if self._transport_ is None:
            if not self._api_key:
                if self._empty_key_given:
                    raise InvalidParameterError(
                        "api_key",
                        "a Telnyx API key, not an empty one (leave api_key out to use the "
                        "TELNYX_API_KEY environment variable)",
                        "",
                    )
                raise InvalidParameterError(
                    "api_key",
                    "a Telnyx API key: pass api_key=... or set the TELNYX_API_KEY "
                    "environment variable",
                    None,
                )
            if self._session is None:
                if self._loop is None:  # aiohttp's bare "no running event loop" else
                    raise RuntimeError(NO_LOOP)
                self._session = new_session(self.max_concurrency)
            secrets = self._secrets
            self._transport_ = Transport(
                send=AiohttpSend(
                    self._session,
                    api_key=self._api_key,
                    secrets=secrets,
                    timeout=self.timeout,
                    owns_session=self._owns_session,
                ),
                base_url=self.base_url,
                secrets=secrets,
                retry=self._retry,
                limiter=AdaptiveLimiter(self._in_flight_max),
                max_response_bytes=self.max_response_bytes,
                instruments=Instruments(
                    base_url=self.base_url, on_response=self._on_response, secrets=secrets
                ),
            )
            self._state = _State.OPENED
        return self._transport_

    @property
    def concurrency_limit(self) -> int:
        """How many requests this client lets run at once now (adapts to 429s).

        At most ``max_concurrency``, and at most the connections the pool of a ``session=``
        of the caller's holds for one host.
        """
        transport = self._transport_
        return transport.limiter.limit if transport else self._in_flight_max

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The rate limit the latest answer that stated one stated, or ``None`` before any did."""
        transport = self._transport_
        return transport.rate_limit if transport else None

    # --- endpoints -------------------------------------------------------------------

    def sim_cards(
        self,
        *,
        status: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        iccid: str | None = None,
        msisdn: str | None = None,
        sim_card_group_id: str | UUID | None = None,
        include_sim_card_group: bool = False,
        sort: str | None = None,
        page_size: int = 250,
        start_page: int = 1,
        limit: int | None = None,
        rescan: bool = False,
        checkpoint: str | os.PathLike[str] | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        keep_checkpoint: bool = True,
    ) -> PageStream[SimCard]:
        """Stream SIM cards (``GET /sim_cards``), every matching card once, in API order.

        ``status`` is any of ``SIM_CARD_STATUSES``; ``tags`` match cards having all
        of them; ``iccid`` matches part of the ICCID; ``sort`` is
        ``"current_billing_period_consumed_data.amount"``, ``-`` first for
        descending. ``limit`` caps the number of cards, not the page size.
        ``rescan=True`` reads the listing a second time if it changed during the
        first pass, to deliver records that deletions shifted past the scan.
        Every stream keeps the ids it delivered (about a byte an id in memory, see the
        README), so none is ever yielded twice. ``checkpoint`` names a JSON file
        rewritten once a second as the consumer finishes pages (or every 128th
        page, if sooner), and when it stops or fails (in the middle of a page, with the
        items of it already yielded);
        ``resume_from`` continues from such a file without
        fetching its pages again (it must be for this same query), yielding
        exactly the items not yet yielded. When ``resume_from`` is the
        ``checkpoint`` file and it does not exist yet, the scan starts afresh.
        ``keep_checkpoint=False`` deletes the file once the listing was read to
        its end, or to ``limit``, and the stream closed (by default it stays,
        marked complete or limited: a resume with a larger ``limit`` goes on).
        """
        query = sim_cards_query(
            status=status,
            tags=tags,
            iccid=iccid,
            msisdn=msisdn,
            sim_card_group_id=sim_card_group_id,
            include_sim_card_group=include_sim_card_group,
            sort=sort,
            page_size=page_size,
            start_page=start_page,
            limit=limit,
        )
        return self._stream(
            query,
            SimCard,
            decode_sim_card_page,
            rescan=rescan,
            checkpoint=checkpoint,
            resume_from=resume_from,
            keep_checkpoint=keep_checkpoint,
        )

    def sim_card_actions(
        self,
        *,
        sim_card_id: str | UUID | None = None,
        status: str | None = None,
        bulk_sim_card_action_id: str | UUID | None = None,
        action_type: str | None = None,
        page_size: int = 250,
        start_page: int = 1,
        limit: int | None = None,
        rescan: bool = False,
        checkpoint: str | os.PathLike[str] | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        keep_checkpoint: bool = True,
    ) -> PageStream[SimCardAction]:
        """Stream SIM card actions (``GET /sim_card_actions``).

        ``status`` is one of ``SIM_CARD_ACTION_STATUSES``, ``action_type`` one of
        ``SIM_CARD_ACTION_TYPES``. ``limit``, ``rescan``, ``checkpoint``,
        ``resume_from`` and ``keep_checkpoint`` as for ``sim_cards``.
        """
        query = sim_card_actions_query(
            sim_card_id=sim_card_id,
            status=status,
            bulk_sim_card_action_id=bulk_sim_card_action_id,
            action_type=action_type,
            page_size=page_size,
            start_page=start_page,
            limit=limit,
        )
        return self._stream(
            query,
            SimCardAction,
            decode_sim_card_action_page,
            rescan=rescan,
            checkpoint=checkpoint,
            resume_from=resume_from,
            keep_checkpoint=keep_checkpoint,
        )

    async def get_sim_card(
        self,
        id: str | UUID,
        *,
        include_sim_card_group: bool = False,
        include_pin_puk_codes: bool = False,
    ) -> SimCard:
        """Fetch one SIM card (``GET /sim_cards/{id}``), with its device and network details."""
        asked = record_id(id)
        target = sim_card_path(
            asked,
            include_sim_card_group=include_sim_card_group,
            include_pin_puk_codes=include_pin_puk_codes,
        )
        return await self._get(target, _answering(asked, decode_sim_card))

    async def get_sim_card_action(self, id: str | UUID) -> SimCardAction:
        """Fetch one SIM card action (``GET /sim_card_actions/{id}``)."""
        asked = record_id(id)
        target = sim_card_action_path(asked)
        return await self._get(target, _answering(asked, decode_sim_card_action))

    async def _get(self, target: str, decode: Callable[[bytes], T]) -> T:
        """GET one record, in a cancel scope that ``aclose()`` cancels.

        A get runs in its caller's task, which the client does not own: without the scope,
        one waiting to retry (a 429's Retry-After) or at the rate-limit pause outlived
        ``aclose()`` by up to a minute, and with a session of the caller's it then sent its
        request and returned a record from a closed client.
        """
        transport = self._transport()
        with anyio.CancelScope() as scope:
            self._gets.add(scope)
            try:
                return await transport.get(target, decode, page_size=1)
            finally:
                self._gets.discard(scope)
        # Here only when the scope stopped the get: the client was closed.
        raise RuntimeError(REQUEST_CLOSED)

    def _stream(
        self,
        query: ListQuery,
        item_type: type[T],
        decode: Callable[[bytes], Page[T]],
        *,
        rescan: bool,
        checkpoint: str | os.PathLike[str] | None,
        resume_from: str | os.PathLike[str] | None,
        keep_checkpoint: bool,
    ) -> PageStream[T]:
        checked_bool("rescan", rescan)
        checked_bool("keep_checkpoint", keep_checkpoint)
        for name, path in (("checkpoint", checkpoint), ("resume_from", resume_from)):
            if path is not None:  # by name before rescan's refusal, which needs one of them
                check_file_path(name, plain_path(path))
        if rescan and (checkpoint is not None or resume_from is not None):
            # A re-scan reads pages a checkpoint has already counted as done.
            raise InvalidParameterError("rescan", "False when checkpointing or resuming", rescan)
        checkpointer = None
        if checkpoint is not None or resume_from is not None:
            checkpointer = Checkpointer(
                query,
                checkpoint,
                resume_from=resume_from,
                keep=keep_checkpoint,
                base_url=self.base_url,
                redact=self._secrets.text,
            )
        transport = self._transport()

        def fetcher(decode: Callable[[bytes], Page[R]]) -> FetchPage[R]:
            async def fetch(
                target: str,
                on_retry: Callable[[APIError], None],
                turn: Turn | None = None,
                sent: Callable[[], None] | None = None,
                /,
            ) -> Page[R]:
                if self._state is _State.CLOSED:
                    # Even with a session of the caller's, which closing the client leaves open.
                    raise RuntimeError(CLIENT_CLOSED)
                self._check_loop()  # a stream made outside any loop, read in another
                return await transport.get(
                    target,
                    decode,
                    on_retry=on_retry,
                    page_size=query.page_size,
                    turn=turn,
                    sent=sent,
                )

            return fetch

        stream = PageStream(
            query,
            fetcher(decode),
            # The same requests, each record kept as sent: what an export's JSON lines are.
            # A sorted listing's also read what it is sorted by, for an in-order merge.
            raw_fetch=fetcher(
                functools.partial(decode_raw_page, record_type=RECORD_TYPES[item_type])
                if query.ordering is None
                else decode_raw_sim_card_page_by_amount
            ),
            item_type=item_type,
            read_ahead=self.read_ahead,
            limiter=transport.limiter,
            deadline=self.deadline,
            rescan=rescan,
            checkpointer=checkpointer,
            on_start=self._track,
            instruments=transport.instruments,
            client_closed=lambda: self._state is _State.CLOSED,
            base_url=self.base_url,
            window=self._window,
        )
        self._streams.add(stream)
        return stream

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _check_session_loop(
    session: ClientSession, loop: asyncio.AbstractEventLoop | None = None
) -> None:
    """Refuse a session made in another event loop than ``loop`` (by default the running one).

    Outside any loop there is nothing to compare with yet: the client's first use checks.
    """
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
    made_in = session_loop(session)
    if made_in is not None and made_in is not loop:
        raise InvalidParameterError("session", SESSION_OF_THIS_LOOP, session)


def _checked_api_key(key: object) -> str | None:
    if key is None:
        return None
    # The value is never put in the message: it is a secret, even when it is a wrong one.
    if not isinstance(key, str) or any(c.isspace() or not c.isprintable() for c in key):
        raise InvalidParameterError(
            "api_key", "a string without spaces or control characters", "<redacted>"
        )
    if not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH:
        # No key is that short, and one that short is found inside every other word: each
        # message would have it replaced there, and an error body's JSON lose its errors.
        # One that long is no key either (a file pasted), and no server takes its header.
        raise InvalidParameterError(
            "api_key",
            f"a Telnyx API key, of {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH:,} characters (Telnyx "
            "keys begin KEY and run to tens of characters)",
            "<redacted>",
        )
    return plain_str(key)


def _retry_policy(max_retries: object, retry: object) -> RetryPolicy:
    if retry is None:
        if max_retries is None:
            return RetryPolicy()
        return RetryPolicy(max_retries=max_retries)  # type: ignore[arg-type]  # RetryPolicy checks it
    if not isinstance(retry, RetryPolicy):
        raise InvalidParameterError("retry", "a simcards_async.RetryPolicy or None", retry)
    if max_retries is not None:
        raise InvalidParameterError(
            "max_retries", "None when retry= is given (set RetryPolicy.max_retries)", max_retries
        )
    return retry


#: The largest ``max_concurrency`` and ``read_ahead``: far beyond any server's, and within
#: what the limiter's arithmetic (floats) can hold (10**400 raised a bare OverflowError).
MAX_CONCURRENCY = 1_000_000


One = TypeVar("One", SimCard, SimCardAction)


def _answering(asked: str, decode: Callable[[bytes], One]) -> Callable[[bytes], One]:
    """``decode`` (which checks the record's type), and a check that it is the one asked for.

    A server (or a redirect it sends) may answer with another record, which would be
    taken for the one asked for: that answer is refused as one not documented.
    """
    want = asked.lower()

    def decode_one(body: bytes) -> One:
        record = decode(body)
        if record.id.lower() != want:
            raise msgspec.ValidationError(
                f"the record asked for is {asked!r}, the answer holds {record.id!r}"
            )
        return record

    return decode_one
