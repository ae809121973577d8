"""The aiohttp adapter: send a GET, retry it, and feed the limiter; the rest is ``_sansio``.

This is the only module that imports aiohttp. ``Transport`` takes a ``send``
(one HTTP exchange -> ``Answer``) and a ``sleep``, so its retries, backoff and
error mapping run in tests without a socket; ``AiohttpSend`` is the real one.
Retried (as ``_retry`` plans): the statuses of ``RETRY_STATUSES``, connection failures,
timeouts, and 2xx bodies that do not decode (a truncated body must never pass for a short page);
not a 2xx in a ``Content-Encoding`` aiohttp does not decode, which would come the same.
The wait is capped exponential backoff with full jitter, and never shorter
than ``Retry-After`` or ``x-ratelimit-reset`` (each honoured up to
``RetryPolicy.max_hint``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import aiohttp
import anyio
from aiohttp import ClientSession, http_parser
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from yarl import URL

from ._errors import APIConnectionError, APIError, APITimeoutError
from ._observe import Instruments, Probe, RateLimitInfo, rate_limit_of
from ._query import MAX_PAGE_SIZE
from ._retry import Jitter, RetryPolicy, plan_retry
from ._sansio import (
    MAX_REDIRECTS,
    NO_SECRETS,
    Answer,
    Secrets,
    body_limit,
    decipher,
    origin_of,
    redirect_target,
    response_limit,
    success,
    wait_hint,
)
from ._throttle import AdaptiveLimiter

__all__ = [
    "REQUEST_CLOSED",
    "SESSION_CLOSED",
    "AiohttpSend",
    "ClientSession",
    "Send",
    "Transport",
    "new_session",
    "pool_size",
    "session_loop",
]

T = TypeVar("T")

#: One HTTP exchange: ``send(url, max_bytes)`` -> the answer, its body read up to the limit.
Send = Callable[[str, int], Awaitable[Answer]]

_USER_AGENT = "simcards-async"


def new_session(max_concurrency: int) -> ClientSession:
    """A session with room for ``max_concurrency`` requests (and two spare connections)."""
    connector = aiohttp.TCPConnector(limit=max_concurrency + 2, ttl_dns_cache=300)
    return ClientSession(connector=connector)


def pool_size(session: ClientSession) -> int | None:
    """How many requests ``session`` sends to one host at once (None: no bound).

    A request beyond that waits in aiohttp's pool for a connection, its ``timeout``
    already running: the connector's ``limit`` and ``limit_per_host`` (0 is none).
    """
    connector = session.connector
    if connector is None:  # closed: its first request says so
        return None
    bounds = [n for n in (connector.limit, connector.limit_per_host) if n > 0]
    return min(bounds) if bounds else None


def session_loop(session: ClientSession) -> asyncio.AbstractEventLoop | None:
    """The event loop ``session`` was made in, which its connections belong to.

    Read from aiohttp's own record of it: its public ``loop`` property warns that it is
    deprecated. None if this aiohttp keeps it under another name.
    """
    loop = getattr(session, "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


#: Why a request cannot be sent once the session given as ``session=`` is closed.
SESSION_CLOSED = (
    "the aiohttp session given to this client (session=) is closed: close it after the client"
)
#: Why a request on its way when its client was closed (and the session it made with it)
#: has no answer.
REQUEST_CLOSED = "the client was closed before this request was answered"


class AiohttpSend:
    """One authenticated GET over an aiohttp session, redirects not followed, body bounded."""

    def __init__(
        self,
        session: ClientSession,
        *,
        api_key: str,
        secrets: Secrets,
        timeout: float,
        owns_session: bool = False,
    ) -> None:
        self._session = session
        #: What a request cut off by the session's closing says: the client closed its own
        #: session, or the caller closed the one given as ``session=``.
        self._closed = REQUEST_CLOSED if owns_session else SESSION_CLOSED
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        self._secrets = secrets  # the client's, which has the key
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:
        return "<AiohttpSend>"

    async def __call__(self, url: str, max_bytes: int) -> Answer:
        """GET ``url``; read at most ``body_limit(status, max_bytes)`` bytes after decoding.

        An exchange that fails after the answer's status and headers came (the connection
        dropped in the body, the time ran out) is still an ``Answer`` (``_cut_off``): its
        status and request id reach the attempt's event, log line and span.
        """
        try:
            return await self._exchange(url, max_bytes, decompress=True)
        except _EncodingRefusedError:
            pass
        # aiohttp refused the answer for its Content-Encoding (br or zstd, their codec not
        # installed) before giving its status. Every retry would be refused alike, as a
        # dropped connection: sent once more, not decoded, for the status and headers it
        # came with (a 2xx is an UnsupportedEncodingError, a 404 a NotFoundError, a 429
        # waits as asked). Not in the except clause: nothing of aiohttp's error is kept.
        answer = await self._exchange(url, max_bytes, decompress=False)
        coding = answer.encoding
        if coding is not None and coding.strip().lower() in _inflated():  # as aiohttp reads it
            # A coding aiohttp reads: the body came with the head and did not inflate (a
            # deflate stream cut short). A garbled body, retried as one, not a coding this
            # client "cannot read".
            failure = _not_inflated(url, coding)
            return Answer.of(answer.status, answer.headers.items(), b"", failure=failure)
        return answer

    async def _exchange(self, url: str, max_bytes: int, *, decompress: bool) -> Answer:
        """One GET of ``url``: its answer, or the ``APIConnectionError`` it is, raised.

        ``_EncodingRefusedError`` if aiohttp refused the answer's ``Content-Encoding`` before
        its head (only when it decompresses: ``decompress``).
        """
        failure: APIConnectionError
        head: tuple[int, Iterable[tuple[str, str]]] | None = None
        try:
            async with self._session.get(
                URL(url, encoded=True),
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
                # A session made with raise_for_status=True raised for every status answer,
                # each read as a dropped connection: its class, errors and wait hint lost.
                raise_for_status=False,
                auto_decompress=decompress,
            ) as resp:
                head = resp.status, resp.headers.items()
                return await _answer(resp, max_bytes, _DECODED if decompress else frozenset())
        except (asyncio.TimeoutError, TimeoutError) as exc:
            if head is not None:
                failure = APITimeoutError(f"the answer to GET {url} did not end in time", url=url)
                failure.__cause__ = exc  # a timeout holds none of the request's headers
                return _cut_off(head, failure)
            raise APITimeoutError(f"no answer to GET {url} in time", url=url) from exc
        except aiohttp.ClientResponseError as exc:
            # aiohttp's parser refused the answer's head (its status line, a header): said
            # as its own words, not as the "400" aiohttp gives such a refusal, which reads
            # as a status the server sent.
            text = self._secrets.text(_parser_words(exc.message))
            msg = f"GET {url} failed: the answer is not valid HTTP: {text}"
            refused = head is None and decompress and _encoding_refused(exc)
            failure = (_EncodingRefusedError if refused else APIConnectionError)(msg, url=url)
        except (aiohttp.ClientError, HttpProcessingError) as exc:
            # HttpProcessingError: a body's framing that aiohttp's pure-Python parser (PyPy,
            # AIOHTTP_NO_EXTENSIONS) refuses while it is read; not a ClientError, yet as
            # good as a dropped connection.
            if self._session.closed:
                # "Connector is closed": the session closed under a request on its way. No
                # retry can be answered: say why instead of retrying.
                raise RuntimeError(self._closed) from exc
            if head is not None and _encoding_refused(exc):
                # A body that does not inflate (garbled gzip), said as a deflate stream cut
                # short is: aiohttp's words began with a "400" the server never sent.
                failure = _not_inflated(url, self._secrets.text(_coding_of(head[1])))
            else:
                failure = APIConnectionError(self._failed(url, exc), url=url)
        except RuntimeError as exc:
            if not self._session.closed:
                raise
            # aiohttp's "Session is closed": a session given as session=, closed by its
            # owner while the client still used it, or the client's own, closed with it.
            raise RuntimeError(self._closed) from exc
        if head is not None:
            return _cut_off(head, failure)
        # Raised here, not in its except clause: a ClientResponseError's request_info holds
        # our headers, Authorization included, and ``from None`` still keeps it in
        # ``__context__`` (hidden from tracebacks, not from code that walks the chain).
        # So do the server's own bytes that an aiohttp error keeps (the headers read before
        # a hang-up, a line its parser refused), which may echo the key back.
        raise failure

    def _failed(self, url: str, exc: Exception) -> str:
        """What a failed exchange says: aiohttp's words, the key taken out of them."""
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            # Its text is the repr of the half-read answer, when there is one.
            text = "the server closed the connection before its answer was complete"
        elif isinstance(exc, HttpProcessingError):  # str() starts with a line break
            text = f"the answer is not valid HTTP: {_parser_words(exc.message)}"
        else:
            text = str(exc)
        return f"GET {url} failed: {type(exc).__name__}: {self._secrets.text(text)}"


def _parser_words(message: str) -> str:
    """What aiohttp's parser says of an answer it refused, on one line.

    Its message spans lines: the reason, the bytes refused, and a caret under them.
    """
    lines = (line.strip() for line in message.splitlines())
    return " ".join(line for line in lines if line.strip("^"))


class _EncodingRefusedError(APIConnectionError):
    """aiohttp refused an answer for its ``Content-Encoding`` before giving its status."""


def _encoding_refused(exc: BaseException) -> bool:
    """Whether aiohttp's ``exc`` stands for a ``Content-Encoding`` it refused.

    Before the answer's head, only a br or zstd answer without their codec installed is:
    a body that does not inflate fails as it is read, the head already given.
    """
    # Its chain: ClientResponseError <- HttpProcessingError <- ContentEncodingError.
    seen = exc.__cause__
    for _ in range(_MOST_CAUSES):  # a chain that loops ends too
        if seen is None or isinstance(seen, ContentEncodingError):
            break
        seen = seen.__cause__
    return isinstance(seen, ContentEncodingError)


def _not_inflated(url: str, coding: str) -> APIConnectionError:
    """A body in a coding aiohttp reads that does not inflate: a garbled answer, retried."""
    return APIConnectionError(
        f"the answer to GET {url} is not valid {coding}: it does not decompress", url=url
    )


def _coding_of(headers: Iterable[tuple[str, str]]) -> str:
    """The ``Content-Encoding`` of an answer's headers, as sent (several joined by commas)."""
    codings = [value for name, value in headers if name.lower() == "content-encoding"]
    return ", ".join(codings) or "its content coding"


#: How far down an aiohttp error's causes its ``ContentEncodingError`` is looked for.
_MOST_CAUSES = 8


#: The content codings aiohttp decodes (its parser's list). br and zstd only with their codec
#: installed, as its Accept-Encoding says; without, it refuses the answer before its head.
_DECODED = frozenset({"gzip", "deflate", "br", "zstd"})


def _inflated() -> frozenset[str]:
    """The codings aiohttp's parser decodes: gzip, deflate; br and zstd if their codec is in.

    Read as the parser reads them, each time: only a refused answer asks.
    """
    codecs = {"br": "HAS_BROTLI", "zstd": "HAS_ZSTD"}
    have = {coding for coding, flag in codecs.items() if getattr(http_parser, flag, False)}
    return frozenset({"gzip", "deflate", *have})


def _undecoded(resp: aiohttp.ClientResponse, decoded: frozenset[str]) -> str | None:
    """The answer's ``Content-Encoding`` if its body comes as sent, not decoded; else None.

    ``decoded`` are the codings aiohttp takes off; repeated headers are one list of codings
    (``gzip, br``), which it does not decode. ``identity`` is no coding.
    """
    encoding = ", ".join(resp.headers.getall("Content-Encoding", ()))
    coding = encoding.strip().lower() if encoding.isascii() else encoding
    if coding in ("", "identity") or coding in decoded:
        return None
    return encoding


def _cut_off(head: tuple[int, Iterable[tuple[str, str]]], failure: APIConnectionError) -> Answer:
    """An answer whose body failed after its status and headers came.

    A 2xx is its ``failure`` (no page without its body). Any other status is that status's
    answer with no body: a 404 or a 401 is not sent again, a 429 waits as its headers say
    (as a connection failure, each was retried at once, the status lost).
    """
    status, headers = head
    if success(status):
        return Answer.of(status, headers, b"", failure=failure)
    return Answer.of(status, headers, b"")


async def _answer(resp: aiohttp.ClientResponse, max_bytes: int, decoded: frozenset[str]) -> Answer:
    """The answer ``resp`` has begun: its body read up to ``body_limit``.

    A 2xx body in a coding not ``decoded`` is not read: the answer names its coding.
    """
    limit = body_limit(resp.status, max_bytes)
    headers = resp.headers.items()
    if success(resp.status) and (encoding := _undecoded(resp, decoded)) is not None:
        resp.close()  # bytes this client cannot read: not read at all
        return Answer.of(resp.status, headers, b"", encoding=encoding)
    length = resp.content_length
    if length is not None and "Content-Encoding" not in resp.headers:
        if length <= limit:
            # Bounded by the length just checked: read it in one go, the fast path.
            return Answer.of(resp.status, headers, await resp.read())
        if success(resp.status):
            resp.close()  # too long before the first byte: not read at all
            return Answer.of(resp.status, headers, b"", complete=False)
        # An error answer's start still tells something: read it up to the limit.
    body, complete = await _read(resp, limit, keep_cut=not success(resp.status))
    return Answer.of(resp.status, headers, body, complete=complete)


async def _read(resp: aiohttp.ClientResponse, limit: int, *, keep_cut: bool) -> tuple[bytes, bool]:
    """Up to ``limit`` decoded bytes of the body, and whether that was all of it.

    A body cut at the limit is kept only if ``keep_cut`` (an error answer's start
    still tells something); a 2xx cut short is useless, and joining it would double
    the memory it takes.
    """
    chunks: list[bytes] = []
    # Small pieces (a server, or a network, sending a few bytes at a time) are gathered
    # here: kept each as its own bytes, a 1-byte piece took ~57 bytes until the body ended.
    small = bytearray()
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            resp.close()  # hang up: the rest is never read
            if not keep_cut:
                return b"", False
            chunks.append(bytes(small))
            chunks.append(chunk[: len(chunk) - (size - limit)])
            return b"".join(chunks), False
        if len(chunk) >= _SMALL_PIECE and not small:
            chunks.append(chunk)  # the usual: no copy before the join
            continue
        small += chunk
        if len(small) >= _SMALL_PIECE:
            chunks.append(bytes(small))
            small.clear()
    chunks.append(bytes(small))
    return b"".join(chunks), True


#: A body's pieces shorter than this are gathered into one before they are kept.
_SMALL_PIECE = 4096


class Transport:
    """Sends GETs through ``send`` within a shared limiter, retrying what may be retried."""

    def __init__(
        self,
        *,
        send: Send,
        base_url: str,
        retry: RetryPolicy,
        limiter: AdaptiveLimiter,
        secrets: Secrets | None = None,
        max_response_bytes: int | None = None,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
        jitter: Jitter | None = None,
        instruments: Instruments | None = None,
    ) -> None:
        self._send = send
        self._base_url = base_url
        self._origin = origin_of(base_url)
        self._secrets = secrets or NO_SECRETS
        self._sleep = sleep
        self._jitter = jitter
        self.max_response_bytes = max_response_bytes
        self.retry = retry
        self.limiter = limiter
        self.instruments = instruments or Instruments(base_url=base_url, secrets=self._secrets)
        self.requests = 0
        self.retries = 0
        #: The rate limit the latest answer that stated one stated (None before any did).
        self.rate_limit: RateLimitInfo | None = None

    def __repr__(self) -> str:
        return f"<Transport {self._base_url!r}>"

    def limit_for(self, page_size: int) -> int:
        """The byte limit of a 2xx answer of up to ``page_size`` records."""
        if self.max_response_bytes is not None:
            return self.max_response_bytes
        return response_limit(page_size)

    async def get(
        self,
        target: str,
        decode: Callable[[bytes], T],
        *,
        on_retry: Callable[[APIError], None] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        turn: Callable[[int], Awaitable[None]] | None = None,
        sent: Callable[[], None] | None = None,
    ) -> T:
        """GET ``base_url + target`` and decode the answer, retrying what may be retried.

        ``page_size`` is the most records the answer may hold (1 for a single item):
        it sets the byte limit, unless the client was given ``max_response_bytes``.
        ``turn``, if given, is awaited between reading a whole 2xx answer and decoding
        it (a page waits there, as bytes, for the consumer to come near it). ``sent``, if
        given, is called as each attempt is sent, its slot of the limiter held.
        A raised ``APIError`` has ``attempts`` set to the number of attempts made.
        """
        url = self._base_url + target
        limit = self.limit_for(page_size)
        instruments = self.instruments
        attempt = 0
        while True:
            probe = instruments.probe(url, attempt + 1)  # None unless something watches
            try:
                value = await self._attempt(url, decode, limit, probe, turn=turn, sent=sent)
            except APIError as exc:
                exc.attempts = attempt + 1
                delay = self._plan(attempt, exc)
                if probe is not None:
                    probe.done(exc, delay)  # an exception of the caller's hook propagates
                if delay is None:
                    raise
                attempt += 1
                self.retries += 1
                instruments.retrying(url, exc, attempt, delay)
                if on_retry is not None:
                    on_retry(exc)
                await self._sleep(delay)
            except BaseException as exc:
                if probe is not None:
                    probe.abandoned(exc)  # cancelled mid-way, say: no event, but the span ends
                raise
            else:
                if probe is not None:
                    probe.done(None, None)  # in ``else``: a hook's exception is not retried
                return value

    def _plan(self, attempt: int, exc: APIError) -> float | None:
        """The wait before retrying after ``exc`` (attempt ``attempt``, 0 first), or None."""
        if self._jitter is None:
            return plan_retry(self.retry, attempt, exc)
        return plan_retry(self.retry, attempt, exc, self._jitter)

    async def _attempt(
        self,
        url: str,
        decode: Callable[[bytes], T],
        limit: int,
        probe: Probe | None,
        *,
        turn: Callable[[int], Awaitable[None]] | None = None,
        sent: Callable[[], None] | None = None,
    ) -> T:
        async with self.limiter.slot() as epoch:
            self.requests += 1
            if sent is not None:
                sent()
            if probe is not None:
                probe.sent()
            url, answer = await self._follow(url, limit)
        headers = answer.headers
        if probe is not None:
            probe.answered(url, answer.status, headers)
        if answer.failure is not None:  # seen, not used: the limiter learns nothing from it
            raise answer.failure
        self._heed(answer, epoch)
        if turn is not None and success(answer.status) and answer.complete:
            await turn(len(answer.body))
        return decipher(answer, decode, url=url, limit=limit, secrets=self._secrets)

    def _heed(self, answer: Answer, epoch: int) -> None:
        """What an answer says of the rate limit, told to the limiter (``epoch``: its slot's)."""
        headers = answer.headers
        max_hint = self.retry.max_hint
        info = rate_limit_of(headers)
        reset = None
        if info is not None:
            self.rate_limit = info
            if info.reset is not None:
                reset = min(info.reset, max_hint)
        remaining = None if info is None else info.remaining
        if answer.status != 429:  # noqa: PLR2004
            limiter = self.limiter
            heed = limiter.on_healthy if success(answer.status) else limiter.on_refused
            if heed(remaining, reset) and reset is not None:
                self.instruments.window_spent(reset)
        else:
            hint = wait_hint(answer.status, headers)  # as the retry's own wait reads it
            pause = None if hint is None else min(hint, max_hint)
            limiter = self.limiter
            before = limiter.limit
            limiter.on_throttled(epoch, pause)
            self.instruments.throttled(before, limiter.limit, pause)

    async def _follow(self, url: str, limit: int) -> tuple[str, Answer]:
        """One GET, following same-origin redirects only; the key never leaves the origin."""
        answer = await self._send(url, limit)
        for _ in range(MAX_REDIRECTS):
            target = redirect_target(url, answer, self._origin)
            if target is None:
                break
            url = target
            answer = await self._send(url, limit)
        return url, answer
