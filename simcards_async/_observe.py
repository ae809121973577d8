"""Seeing inside: the per-attempt hook, rate-limit info, log records and OpenTelemetry spans.

Everything a caller can watch comes from here, so that the transport and the engine
each call it at a few points only:

- ``Instruments.probe`` once per HTTP attempt (``_http``): ``None`` when nothing
  watches (no ``on_response`` hook, DEBUG logging off, no OpenTelemetry), which costs
  a couple of checks; else a ``Probe`` that times the attempt, makes its CLIENT span,
  logs its DEBUG line and hands the hook a ``ResponseEvent``.
- ``Instruments.retrying`` and ``Instruments.throttled`` (INFO) when the transport
  retries or the shared limit shrinks under 429s; each pause of every request after a
  429 at DEBUG.
- ``Instruments.listing`` around each listing (``_page_stream``): its INFO start and
  end lines and its span, the parent of its attempts' spans; ``drift_warning`` logs
  the ``DriftWarning`` text at WARNING.

Logging goes to the standard ``logging`` module under ``simcards_async`` (children
``.http``, ``.listing``, ``.throttle``) and is formatted only when a level is enabled.
No handler that writes is added (only a ``NullHandler``) unless ``TELNYX_LOG`` is
``debug``, ``info`` or ``warning`` at import, as the official SDK does. OpenTelemetry
(the ``otel`` extra) is used once the program uses it (``_tracer``): until then nothing of
it is imported and no span is made. No API key reaches an event, a log line or a span: URLs,
request ids and error texts pass ``Secrets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._callbacks import called_back
from ._errors import APIStatusError, InvalidParameterError, TelnyxError, cut, folded, printable
from ._sansio import (
    NO_SECRETS,
    Secrets,
    rate_limit_limit,
    rate_limit_remaining,
    rate_limit_reset,
    request_id,
)
from ._task_groups import first_error

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

    from ._stats import StreamStats

__all__ = [
    "LOGGER",
    "Instruments",
    "OnResponse",
    "Probe",
    "RateLimitInfo",
    "ResponseEvent",
    "drift_warning",
    "env_log_handler_set_aside",
    "env_log_level",
    "rate_limit_of",
]

#: The library's logger; every record it makes is under this name.
LOGGER = logging.getLogger("simcards_async")
# A handler that writes nothing, as logging's HOWTO asks of a library: in a program with no
# logging set up, logging's last resort wrote the drift WARNING to stderr beside the
# DriftWarning, the same text twice. Records still reach the program's own handlers.
LOGGER.addHandler(logging.NullHandler())
_HTTP = logging.getLogger("simcards_async.http")
_LISTING = logging.getLogger("simcards_async.listing")
_THROTTLE = logging.getLogger("simcards_async.throttle")

_DEBUG = logging.DEBUG
_INFO = logging.INFO
_RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
_ENV_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What one answer said of the rate limit.

    ``limit`` (``x-ratelimit-limit``) requests per window, ``remaining``
    (``x-ratelimit-remaining``) of them left, and ``reset``
    (``x-ratelimit-reset``) seconds until the window resets, as the answer said
    them. A header that is absent or makes no sense (text, ``inf``, a negative
    number, a ``reset`` of a day or more) gives ``None``, never an exception.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo | None:
        """The rate limit an answer's headers state (names in any case); ``None`` if none.

        ``headers`` is a mapping of names to values, both text, as an answer's headers are
        (aiohttp's, a ``dict``): anything else is refused, naming ``headers``.
        """
        try:
            lowered = {name.lower(): value for name, value in headers.items()}
        except (AttributeError, TypeError, ValueError):  # no items(), not pairs, no lower()
            lowered = None
        if (
            lowered is not None
            and all(isinstance(name, str) for name in lowered)
            and all(isinstance(lowered.get(name, ""), str) for name in _RATE_LIMIT_HEADERS)
        ):
            return rate_limit_of(lowered)
        raise InvalidParameterError(
            "headers", "a mapping of header names to values, both str", headers
        )


def rate_limit_of(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """``RateLimitInfo.from_headers`` for headers whose names are lower-case already."""
    if not any(name in headers for name in _RATE_LIMIT_HEADERS):
        return None
    return RateLimitInfo(
        limit=rate_limit_limit(headers),
        remaining=rate_limit_remaining(headers),
        reset=rate_limit_reset(headers),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseEvent:
    """One HTTP attempt, as the ``on_response`` hook sees it.

    ``url`` is the full URL (never with the API key); ``status`` is ``None`` when no
    answer came (a connection failure, a timeout before it; one whose body was cut off or
    stalled has its status and request id beside the error); ``attempt`` is 1 for the first
    try; ``elapsed`` is the seconds from sending to the answer or the failure;
    ``rate_limit`` is what the answer said of the rate limit, if anything;
    ``error`` is the failure of a failed attempt (else ``None``), and ``retry_in``
    the seconds until the next attempt, or ``None`` when there will be none.
    """

    method: str
    url: str
    status: int | None
    attempt: int
    elapsed: float
    request_id: str | None
    rate_limit: RateLimitInfo | None
    error: TelnyxError | None
    retry_in: float | None


#: The ``on_response`` hook: called once per attempt, in the task that made it.
OnResponse = Callable[[ResponseEvent], object]


def env_log_level(value: str | None) -> int | None:
    """The level ``TELNYX_LOG`` asks for (``debug``, ``info``, ``warning``), else ``None``."""
    return _ENV_LEVELS.get((value or "").strip().lower())


def _log_from_env() -> logging.Handler | None:
    """With ``TELNYX_LOG`` set, log the library's records to stderr at that level.

    Only the records no handler of the program's shows (a ``basicConfig`` made after this
    import, say): as the official SDK's ``basicConfig``, which does nothing then, each
    record is shown once.
    """
    level = env_log_level(os.environ.get("TELNYX_LOG"))
    if level is None:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s %(name)s] %(message)s"))
    handler.setLevel(level)  # the program may set the logger lower for its own handlers
    handler.addFilter(lambda record: not _shown_elsewhere(record, handler))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    return handler


def _shown_elsewhere(record: logging.LogRecord, ours: logging.Handler) -> bool:
    """Whether a handler of the program's shows ``record``: on its logger or above.

    As ``Logger.callHandlers`` reaches them: up from the record's own logger while each
    propagates, each handler whose level and filters let the record through. Its filters
    run here and again when it handles the record (the README says so): a root handler
    that keeps the program's own records alone would otherwise be taken to show ours.
    """
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        for handler in logger.handlers:
            if (
                handler is not ours
                and not isinstance(handler, logging.NullHandler)
                and record.levelno >= handler.level
                and handler.filter(record)
            ):
                return True
        logger = logger.parent if logger.propagate else None
    return False


#: The handler ``TELNYX_LOG`` added at import, if it did.
_env_handler = _log_from_env()


@contextlib.contextmanager
def env_log_handler_set_aside() -> Iterator[None]:
    """For a while, without the handler ``TELNYX_LOG`` added at import.

    For a caller that shows the records itself (the ``simcards`` command, above its
    progress bar), so that each record is shown once.
    """
    handler = _env_handler
    if handler is None or handler not in LOGGER.handlers:
        yield
        return
    LOGGER.removeHandler(handler)
    try:
        yield
    finally:
        LOGGER.addHandler(handler)


def drift_warning(message: str) -> None:
    """The ``DriftWarning`` text, logged at WARNING as the engine notices it."""
    _LISTING.warning("%s", message)


# --- OpenTelemetry, only if installed -------------------------------------------------------

_otel_unusable = False
_otel_tracer: Tracer | None = None
#: A provider the API loads by itself (read once: a lookup that misses in ``os.environ``
#: costs microseconds, and ``_tracer`` is asked at every attempt until a tracer is found).
_PROVIDER_FROM_ENVIRONMENT = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def _tracer() -> Tracer | None:
    """The library's tracer once the program uses OpenTelemetry; ``None`` until then.

    No span can record until the program configures an SDK, which it does through
    ``opentelemetry.trace`` (or ``OTEL_PYTHON_TRACER_PROVIDER``, which the API loads by
    itself). Until one of them is there, nothing of OpenTelemetry is imported and no span is
    made, and the next call looks again; once found, the tracer is kept (a proxy that follows
    an SDK configured later).
    """
    global _otel_unusable, _otel_tracer  # noqa: PLW0603  (a once-per-process lazy import)
    if _otel_tracer is None and not _otel_unusable:
        if "opentelemetry.trace" not in sys.modules and not _PROVIDER_FROM_ENVIRONMENT:
            return None
        try:
            from opentelemetry import trace  # noqa: PLC0415  (optional, and lazy on purpose)
        except ImportError:
            _otel_unusable = True
            return None
        try:
            _otel_tracer = trace.get_tracer("simcards_async")
        except Exception as exc:  # noqa: BLE001  (say it once, list on without spans)
            # OTEL_PYTHON_TRACER_PROVIDER naming no provider: StopIteration, every listing.
            _otel_unusable = True
            text = printable(folded(str(exc)))
            why = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            named = os.environ.get("OTEL_PYTHON_TRACER_PROVIDER")
            if named is not None:
                why += f"; OTEL_PYTHON_TRACER_PROVIDER is {printable(repr(named))}"
            LOGGER.warning("no OpenTelemetry spans: its tracer could not be made (%s)", why)
    return _otel_tracer


def _class_name(error: BaseException) -> str:
    """The exception's fully qualified name; the library's by their public name."""
    cls = type(error)
    if cls.__module__.startswith("simcards_async."):
        return f"simcards_async.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _error_type(error: TelnyxError) -> str:
    """``error.type`` by the HTTP conventions: the status of a status error, else the class."""
    if isinstance(error, APIStatusError):
        return str(error.status)
    return _class_name(error)


#: The ``error.type`` of an attempt cancelled before its answer came.
CANCELLED = "cancelled"


def _end_span(
    span: Span,
    status: int | None,
    attempt: int,
    error: TelnyxError | None,
    url: str,
    *,
    end_time: int | None,
) -> None:
    """End an attempt's span, at ``end_time`` (ns since the epoch) if given, else now."""
    if span.is_recording():
        from opentelemetry.trace import StatusCode  # noqa: PLC0415  (installed: a span exists)

        span.set_attribute("url.full", url)  # where the answer came from, after redirects
        if attempt > 1:
            span.set_attribute("http.request.resend_count", attempt - 1)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if error is not None:
            span.set_attribute("error.type", _error_type(error))
            span.set_status(StatusCode.ERROR, type(error).__name__)
    span.end(end_time=end_time)


# --- the instruments ----------------------------------------------------------------------


class Instruments:
    """What watches one client: its hook, its loggers and, if installed, OpenTelemetry."""

    __slots__ = ("_origin", "_tracing", "hook", "host", "port", "secrets")

    def __init__(
        self,
        *,
        base_url: str = "",
        on_response: OnResponse | None = None,
        secrets: Secrets = NO_SECRETS,
        tracing: bool = True,
    ) -> None:
        self.hook = on_response
        self._tracing = tracing
        self.secrets = secrets
        parts = urlsplit(base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
        #: ``server.address`` and ``server.port`` of the attempts' spans.
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)

    def __repr__(self) -> str:
        hook = "hook" if self.hook is not None else "no hook"
        return f"<Instruments {hook}, tracing={self.tracer is not None}>"

    @property
    def tracer(self) -> Tracer | None:
        """OpenTelemetry's tracer if tracing is on and the program uses OpenTelemetry."""
        return _tracer() if self._tracing else None

    def probe(self, url: str, attempt: int) -> Probe | None:
        """A probe for attempt ``attempt`` (1 first) of a GET, or ``None`` if nothing watches."""
        if self.hook is None and self.tracer is None and not _HTTP.isEnabledFor(_DEBUG):
            return None
        return Probe(self, url, attempt)

    def path_of(self, url: str) -> str:
        """``url`` without its origin: the path and query a log line shows."""
        origin = self._origin
        return url[len(origin) :] if origin and url.startswith(origin) else url

    def retrying(self, url: str, error: TelnyxError, attempt: int, delay: float) -> None:
        """Attempt ``attempt`` failed and will be retried in ``delay`` seconds (INFO)."""
        if _HTTP.isEnabledFor(_INFO):
            _HTTP.info(
                "GET %s: attempt %d failed (%s); retrying in %.2f s",
                self.secrets.text(self.path_of(url)),
                attempt,
                error,
                delay,
            )

    def throttled(self, before: int, after: int, pause: float | None) -> None:
        """A 429 came back: the shared limit went from ``before`` to ``after`` (INFO)."""
        if after < before and _THROTTLE.isEnabledFor(_INFO):
            wait = "" if pause is None else f"; every request waits {pause:.2f} s"
            _THROTTLE.info("rate limited (429): concurrency limit %d -> %d%s", before, after, wait)
        elif pause is not None and _THROTTLE.isEnabledFor(_DEBUG):
            _THROTTLE.debug("rate limited (429): every request waits %.2f s", pause)

    def window_spent(self, pause: float) -> None:
        """An answer said no requests remain in the window: every request waits (INFO)."""
        if _THROTTLE.isEnabledFor(_INFO):
            _THROTTLE.info(
                "no requests remain in the rate-limit window: every request waits %.2f s", pause
            )

    @contextlib.contextmanager
    def listing(
        self,
        path: str,
        page_size: int,
        asked: str,
        stats: StreamStats,
        items: Callable[[], int],
    ) -> Iterator[None]:
        """One listing: its INFO start and end lines, and its span (current while it runs).

        ``asked`` is what else its query asks, as keyword arguments (``status=['enabled'],
        sort='...'``; empty for none, the key removed): its lines say it, after the path,
        so that two listings at once are told apart, and the span as ``simcards.query``.
        ``items`` tells how many items it has handed over so far; a listing stopped (a
        ``break``, the client closed) counts those its consumer took (``stats``).
        """
        tracer = self.tracer
        log = _LISTING.isEnabledFor(_INFO)
        if tracer is None and not log:
            yield
            return
        started = time.perf_counter()
        pages, retries, items_before = stats.pages_fetched, stats.retries, items()
        yielded_before = stats.items_yielded
        listing = f"{path} ({asked})" if asked else path
        if log:
            _LISTING.info("listing %s started (page size %d)", listing, page_size)
        span_cm: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if tracer is not None:
            span_cm = tracer.start_as_current_span(
                f"list {path}",
                attributes={
                    "simcards.path": path,
                    "simcards.query": asked,
                    "simcards.page_size": page_size,
                },
                record_exception=False,
                set_status_on_exception=False,
            )
        with span_cm as span:
            outcome = "done"
            error: BaseException | None = None
            try:
                yield
            except Exception as exc:
                # What the caller gets: a later page's failure comes in the engine's
                # task group's ExceptionGroup, which said nothing of it.
                outcome, error = "failed", first_error(exc)
                raise
            except BaseException:
                outcome = "stopped"  # the consumer went away, or the task was cancelled
                raise
            finally:
                # Stopped, the consumer took fewer than were handed over (read ahead).
                handed = items() - items_before
                taken = stats.items_yielded - yielded_before
                counts = {
                    "pages": stats.pages_fetched - pages,
                    "items": min(handed, taken) if outcome == "stopped" else handed,
                    "retries": stats.retries - retries,
                }
                if span is not None:
                    _end_listing_span(span, outcome, counts, stats, error)
                if log:
                    _LISTING.info(
                        "listing %s %s: %d pages, %d items, %d retries in %.2f s%s",
                        listing,
                        outcome,
                        counts["pages"],
                        counts["items"],
                        counts["retries"],
                        time.perf_counter() - started,
                        "" if error is None else f": {error}",
                    )


def _end_listing_span(
    span: Span,
    outcome: str,
    counts: dict[str, int],
    stats: StreamStats,
    error: BaseException | None,
) -> None:
    """End a listing's span: ``outcome`` is how it ended, as its log line says it."""
    if not span.is_recording():
        return
    from opentelemetry.trace import StatusCode  # noqa: PLC0415  (installed: a span exists)

    span.set_attribute("simcards.outcome", outcome)
    for name, value in counts.items():
        span.set_attribute(f"simcards.{name}", value)
    span.set_attribute("simcards.rate_limited", stats.rate_limited)
    drift = stats.drift
    for name in ("duplicates_dropped", "short_pages", "rereads", "rescans", "gaps_filled"):
        span.set_attribute(f"simcards.drift.{name}", getattr(drift, name))
    if error is not None:
        span.set_attribute("error.type", _class_name(error))
        span.set_status(StatusCode.ERROR, type(error).__name__)


class Probe:
    """One HTTP attempt being watched: started, answered (or not), done."""

    __slots__ = (
        "_answered_at",
        "_elapsed",
        "_headers",
        "_instruments",
        "_span",
        "_started",
        "_status",
        "_token",
        "_url",
        "attempt",
    )

    def __init__(self, instruments: Instruments, url: str, attempt: int) -> None:
        self._instruments = instruments
        self._url = url
        self.attempt = attempt
        self._started = 0.0
        self._elapsed: float | None = None
        self._token: Token[Context] | None = None
        self._span: Span | None = None
        self._status: int | None = None
        self._headers: Mapping[str, str] | None = None
        #: When the answer came (``time.time_ns()``, a span's clock), if a span waits for it.
        self._answered_at: int | None = None

    def sent(self) -> None:
        """The request goes out now (it holds a slot of the limiter): start the clock."""
        instruments = self._instruments
        tracer = instruments.tracer
        if tracer is not None:
            from opentelemetry import context, trace  # noqa: PLC0415  (installed: a tracer)

            span = self._span = tracer.start_span(
                "GET",
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "http.request.method": "GET",
                    "url.full": instruments.secrets.text(self._url),
                    "server.address": instruments.host,
                    "server.port": instruments.port,
                },
            )
            if span.is_recording():
                # Current while the request is sent: aiohttp's own instrumentation, if any,
                # nests under it and propagates it (a non-recording span is not worth it).
                self._token = context.attach(trace.set_span_in_context(span))
        self._started = time.perf_counter()

    def _detach(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            from opentelemetry import context  # noqa: PLC0415  (installed: a token exists)

            context.detach(token)

    def answered(self, url: str, status: int, headers: Mapping[str, str]) -> None:
        """The answer came from ``url`` (after same-origin redirects) with ``status``."""
        self._elapsed = time.perf_counter() - self._started
        if self._span is not None:
            # A page's answer may wait for its turn (and be decoded) long after this: its
            # span ends here, at the answer, as the event's ``elapsed`` does.
            self._answered_at = time.time_ns()
        self._detach()
        self._url = url
        self._status = status
        self._headers = headers

    def done(self, error: TelnyxError | None, retry_in: float | None) -> None:
        """The attempt is over: end its span, log it, and call the hook (whose errors propagate)."""
        elapsed = self._elapsed
        if elapsed is None:  # no answer: the time until the failure
            elapsed = time.perf_counter() - self._started if self._started else 0.0
        instruments = self._instruments
        secrets = instruments.secrets
        url = secrets.text(self._url)
        status = self._status
        if status is None and isinstance(error, APIStatusError):
            status = error.status
        span, self._span = self._span, None
        if span is not None:
            self._detach()
            _end_span(span, status, self.attempt, error, url, end_time=self._answered_at)
        hook = instruments.hook
        debug = _HTTP.isEnabledFor(_DEBUG)
        if hook is None and not debug:
            return
        headers = self._headers or {}
        event = ResponseEvent(
            method="GET",
            url=url,
            status=status,
            attempt=self.attempt,
            elapsed=elapsed,
            request_id=secrets.optional(request_id(headers)),
            rate_limit=rate_limit_of(headers),
            error=error,
            retry_in=retry_in,
        )
        if debug:
            _log_attempt(instruments.path_of(url), event)
        if hook is not None:
            called_back("on_response", "on_response hook", hook, event)

    def abandoned(self, exc: BaseException) -> None:
        """The attempt ended by ``exc``, no ``TelnyxError``: end its span, make no event.

        Cancelled: one answered already (a page the stream stopped before reaching) ends its
        span at the answer, with its status: the request was made and answered, only not
        used. One that was not says so, ``error.type`` ``cancelled``, its status left unset:
        no failure, but no success either (a reader's stop, its listing's ``stopped``).
        Another exception (the ``RuntimeError`` of a session closed under the request) is a
        failure: its class is the ``error.type``, the status an error (it said cancelled).
        """
        span, self._span = self._span, None
        if span is not None:
            self._detach()
            url = self._instruments.secrets.text(self._url)
            stopped = isinstance(exc, (asyncio.CancelledError, GeneratorExit))
            if span.is_recording() and not stopped:
                from opentelemetry.trace import StatusCode  # noqa: PLC0415  (a span exists)

                span.set_attribute("error.type", _class_name(exc))
                span.set_status(StatusCode.ERROR, type(exc).__name__)
            elif self._status is None and span.is_recording():
                span.set_attribute("error.type", CANCELLED)
            _end_span(span, self._status, self.attempt, None, url, end_time=self._answered_at)


def _log_attempt(path: str, event: ResponseEvent) -> None:
    rate_limit = event.rate_limit
    remaining = None if rate_limit is None else rate_limit.remaining
    _HTTP.debug(
        "GET %s %s %.1f ms attempt %d request_id=%s ratelimit_remaining=%s%s",
        path,
        "-" if event.status is None else event.status,
        event.elapsed * 1000,
        event.attempt,
        # The server's text: cut and escaped as in an exception's message (a header
        # can hold 8 KB, and an escape code).
        cut(printable(event.request_id)) if event.request_id else "-",
        "-" if remaining is None else remaining,
        "" if event.error is None else f" error={type(event.error).__name__}",
    )
