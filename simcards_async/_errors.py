"""The exception tree, and the one table that maps an HTTP status to a class.

::

    TelnyxError                        every error but Python's own (OSError, RuntimeError, ...)
    ├── InvalidParameterError          (also ValueError) bad input, raised before sending
    ├── ExportError                    (also ValueError) a record the format cannot hold,
    │                                  or a file object closed under the export
    └── APIError                       a request was made and did not give a usable answer
        ├── APIConnectionError         no answer: refused, reset, dropped, TLS, DNS
        │   └── APITimeoutError        no answer in time
        ├── APIResponseValidationError a 2xx answer that is not what the spec documents
        │   ├── ResponseTooLargeError      an answer longer than the client's byte limit
        │   └── UnsupportedEncodingError   an answer in a Content-Encoding the client cannot read
        ├── PaginationError            the server's pages make no sense together
        └── APIStatusError             the server said no (any non-2xx status)
            ├── BadRequestError            400
            ├── AuthenticationError        401
            ├── PermissionDeniedError      403
            ├── NotFoundError              404
            ├── UnprocessableEntityError   422
            ├── RateLimitError             429
            └── InternalServerError        >= 500

    DriftWarning (UserWarning)         the listing changed while it was being read

Exceptions hold plain values only (no aiohttp objects, never the API key), so
they can be logged, pickled and sent across processes. Their messages are short:
each piece of the server's text is cut at ``FIELD_LIMIT`` characters with a
visible marker, and a whole message at ``MESSAGE_LIMIT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import pickle
import re
import unicodedata
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from ._models import ErrorObject

__all__ = [
    "FIELD_LIMIT",
    "MESSAGE_LIMIT",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "DriftWarning",
    "ExportError",
    "InternalServerError",
    "InvalidParameterError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "TelnyxError",
    "UnprocessableEntityError",
    "UnsupportedEncodingError",
    "callback_refused",
    "called_back",
    "check_callback",
    "cut",
    "describe_errors",
    "exception_for_status",
    "first_error",
    "folded",
    "handing_over",
    "is_plain_function",
    "named_after",
    "printable",
    "shown",
]

#: Longest piece of the server's text (an error's title, detail, a request id) in a message.
FIELD_LIMIT = 300
#: Longest message an ``APIError`` carries.
MESSAGE_LIMIT = 2000
#: How many of an answer's errors a message lists (the rest are counted).
_ERRORS_SHOWN = 5
#: Characters of a message given to the errors (the rest: status, count, request id).
_ERRORS_BUDGET = 1400


def cut(text: str, limit: int = FIELD_LIMIT, length: int | None = None) -> str:
    """``text``, or its first ``limit`` characters and a marker saying how long it was.

    ``length``: the length to say, when ``text`` shows something else (a string's repr).
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut, {len(text) if length is None else length} chars]"


#: Characters a message shows escaped: controls (ESC, CR, LF...), lone surrogates (no
#: UTF-8 file takes them), line and paragraph separators, and the bidirectional controls
#: that reorder what follows on screen. Other languages' spaces and joiners stay as they are.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def printable(text: str) -> str:
    r"""``text`` with each control character escaped (``\x1b``, ``\n``), as messages show it.

    Messages carry what a server sent (an error's title, detail, a record's id) and what
    the user typed (a path with a newline): their escape codes must not recolour, retitle
    or rewrite a terminal, nor a newline forge a second log line. Every exception's
    message passes here (``APIError``, ``ExportError``), and every line the CLI shows.
    """
    if text.isprintable():
        return text
    return "".join(ascii(ch)[1:-1] if _hidden(ch) else ch for ch in text)


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES or ch in _BIDI_CONTROLS


#: Runs of spaces, tabs and line breaks (what splits a line), folded into one space.
_BREAKS = re.compile("[ \t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]+")


def folded(text: str) -> str:
    """``text`` on one line: each run of spaces, tabs and line breaks one space.

    Other languages' spaces (a no-break space, an ideographic one) are text, kept.
    """
    return _BREAKS.sub(" ", text).strip(" ")


def shown(value: object, limit: int = FIELD_LIMIT) -> str:
    """``repr(value)`` for a message: cut to ``limit`` (``cut``), and never an error.

    A caller's value may be huge (``10**4000``, a list of streams): its repr alone made
    a message of thousands of characters, or raised (an int of over 4,300 digits).
    """
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001  (an int too long to show, a repr that fails)
        if isinstance(value, int):
            return f"<an integer of {value.bit_length():,} bits>"
        return f"<a {type(value).__name__}>"
    # A string's own length, not its repr's: 5,000 characters typed are not "5002 chars".
    return cut(text, limit, len(value) if isinstance(value, str) else None)


class TelnyxError(Exception):
    """Root of every error of the API, its answers and the arguments given.

    Not of Python's own: ``OSError`` from the file system, ``RuntimeError`` for a stream
    or client used out of turn, ``TypeError`` for items of two kinds given to one export.
    """


class InvalidParameterError(TelnyxError, ValueError):
    """An argument is out of range, of the wrong type or not an allowed value.

    Raised before any request is sent. ``parameter`` is the Python argument's
    name and ``allowed`` says what it accepts; ``value`` is what was given (a callback:
    its name alone). The message shows it by its repr, or as ``shown_as`` says.
    """

    def __init__(
        self, parameter: str, allowed: str, value: object, *, shown_as: str | None = None
    ) -> None:
        self.parameter = parameter
        self.allowed = allowed
        self.value = value
        text = shown(value) if shown_as is None else shown_as
        super().__init__(f"invalid {parameter}={text}: {parameter} must be {allowed}")

    def __reduce__(self) -> tuple[Any, ...]:
        value = self.value
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001  (a lambda, a stream, a lock: whatever won't pickle)
            value = shown(value)  # the text the message shows it by
        return (_rebuilt, (type(self), {**self.__dict__, "value": value}, str(self)))


def _rebuilt(cls: type[TelnyxError], state: dict[str, Any], message: str) -> TelnyxError:
    """An unpickled exception: its fields (every subclass's) and its message as they were.

    Not made again by ``__init__``: a message already cut would be cut again.
    """
    exc = cls.__new__(cls)
    exc.__dict__.update(state)
    Exception.__init__(exc, message)
    return exc


def is_plain_function(value: object) -> bool:
    """Whether ``value`` is callable and does its work when called.

    Not ``async`` (it returns a coroutine), nor a generator function, ``async`` or not
    (it returns a generator whose body runs only when iterated): callbacks are called,
    what they return is dropped.
    """
    call = getattr(value, "__call__", None)  # noqa: B004  (an async __call__ counts)
    return callable(value) and not any(map(_defers, (value, call)))


def _defers(function: object) -> bool:
    """Whether calling ``function`` runs none of its body: a coroutine or generator function."""
    return function is not None and (
        inspect.iscoroutinefunction(function)
        or inspect.isasyncgenfunction(function)
        or inspect.isgeneratorfunction(function)
    )


def callback_refused(parameter: str, allowed: str, callback: object) -> InvalidParameterError:
    """The refusal of ``callback`` as ``parameter``: shown, and kept as its ``value``, by name.

    By ``_callback_shown``'s text, not its repr, which may hold the API key.
    """
    name = _callback_shown(callback)
    return InvalidParameterError(parameter, allowed, name, shown_as=name)


def _callback_shown(value: object) -> str:
    """A callback (or what was given as one) for a refusal, by its name alone.

    Its repr may show what it is bound to: a ``functools.partial``'s arguments, a bound
    method's object, an object's settings; the API key among them, as the client's
    refusal of ``on_response=partial(notify, key)`` showed it. The refusal's ``value`` is
    this text too: the callback itself would keep what it holds in a pickle of the error.
    """
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return shown(value)
    if isinstance(value, functools.partial):
        return f"functools.partial({_callback_shown(value.func)}, ...)"
    name = getattr(value, "__qualname__", None)
    if isinstance(name, str) and callable(value):
        return f"<{type(value).__name__} {cut(name, FIELD_LIMIT)}>"
    return f"<{type(value).__qualname__} object>"


def check_callback(parameter: str, value: object, allowed: str) -> None:
    """Refuse what is not a plain function: not callable, ``async``, or a generator function.

    Callbacks are called, not awaited: an ``async`` one returned a coroutine that was
    dropped, its body never run (a "never awaited" warning the only trace).
    """
    if not is_plain_function(value):
        raise callback_refused(
            parameter, f"{allowed} (a plain function: called, never awaited)", value
        )


#: What a callback is called with (a ``ResponseEvent``, a ``Progress``).
A = TypeVar("A")


def called_back(parameter: str, what: str, callback: Callable[[A], object], argument: A) -> None:
    """Call a caller's plain callback with ``argument``, and check what it returned.

    ``what`` says which callback it is, ``parameter`` names it (``_check_returned``). A
    ``CancelledError`` it raises is its own (a plain function cannot be cancelled): a
    ``RuntimeError`` saying so. Raised on, in a task of the library's it ended that task
    alone: a request's lost its page, a merge's reader ended its stream as if read whole.
    """
    try:
        result = callback(argument)
    except asyncio.CancelledError as exc:
        msg = f"the {what} raised CancelledError; raise another exception"
        raise RuntimeError(msg) from exc
    _check_returned(parameter, callback, result)


def _check_returned(parameter: str, callback: object, result: object) -> None:
    """Refuse, once called, a callback that returned a coroutine or a generator: never run.

    ``check_callback`` cannot see it coming: a plain function (``lambda e: notify(e)``)
    that returns a coroutine ran nothing of it, a "never awaited" warning the only trace.
    A task or a future it returns is fine: that work was scheduled, and runs.
    """
    if inspect.iscoroutine(result):
        result.close()  # no "never awaited" warning on top of this error
        raise callback_refused(
            parameter,
            "a function that does its work when called (this one returned a coroutine, "
            "which is never awaited: callbacks are called, not awaited; schedule it with "
            "asyncio.create_task() if it must run)",
            callback,
        )
    if inspect.isgenerator(result) or inspect.isasyncgen(result):
        raise callback_refused(
            parameter,
            "a function that does its work when called (this one returned a generator, "
            "whose body runs only when iterated: callbacks are called, what they return "
            "is dropped)",
            callback,
        )


class ExportError(TelnyxError, ValueError):
    """A record the export's format cannot hold, as the API sent it or the caller built it.

    Parquet's ``decimal(38, 9)`` cannot hold ``NaN``, ``Infinity`` or an amount it
    would round; JSON lines and CSV write any of them. No format writes a Struct the
    caller built holding a lone surrogate, a value JSON cannot hold, or a non-int where
    an int belongs. ``record`` is the record's id,
    ``column`` the column, ``format`` the export's format.

    Also raised when the file object an export writes to is closed under it (by its
    caller, while the export runs): ``record`` is then None and ``column`` empty, and
    the write's ``ValueError`` is chained.
    """

    def __init__(self, message: str, *, format: str, column: str, record: str | None) -> None:
        self.format = format
        self.column = column
        self.record = record
        super().__init__(cut(printable(message), MESSAGE_LIMIT))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.__dict__.copy(), str(self)))


class APIError(TelnyxError):
    """A request was sent and did not give a usable answer.

    ``method`` and ``url`` say which request; the URL never holds the API key.
    ``attempts`` is how many times it was sent (1: it was not retried).
    """

    def __init__(
        self, message: str, *, method: str = "GET", url: str = "", attempts: int = 1
    ) -> None:
        # One line (a server's CR/LF and tabs folded), escape codes shown, cut.
        self.message = cut(printable(folded(message)), MESSAGE_LIMIT)
        self.method = method
        self.url = url
        self.attempts = attempts
        super().__init__(self.message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuilt, (type(self), self.__dict__.copy(), self.message))


class APIConnectionError(APIError):
    """No answer: the connection was refused, reset or dropped before a response."""


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""


class APIResponseValidationError(APIError):
    """A 2xx answer that is not what the API documents: truncated, malformed, off-schema.

    A 2xx that carries an ``errors`` array (and so no usable ``data``) is one too:
    ``errors`` holds them as typed ``ErrorObject`` values, as on ``APIStatusError``.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "GET",
        url: str = "",
        status: int = 200,
        errors: Iterable[ErrorObject] = (),
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status = status
        self.errors: tuple[ErrorObject, ...] = tuple(errors)


class ResponseTooLargeError(APIResponseValidationError):
    """An answer longer than ``limit`` bytes (counted after decompression).

    Reading stopped at the limit, so the rest was never buffered. Not retried:
    the same request would get the same answer.
    """

    def __init__(
        self, message: str, *, method: str = "GET", url: str = "", status: int = 200, limit: int = 0
    ) -> None:
        super().__init__(message, method=method, url=url, status=status)
        self.limit = limit


class UnsupportedEncodingError(APIResponseValidationError):
    """A 2xx answer in a ``Content-Encoding`` the client cannot decode; ``encoding`` names it.

    Its body is not read. Not retried: the server answers the same way each time. The
    client asks only for what it reads (``Accept-Encoding``: gzip and deflate, and br or
    zstd when aiohttp has their codec installed), which such a server ignored.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "GET",
        url: str = "",
        status: int = 200,
        encoding: str = "",
    ) -> None:
        super().__init__(message, method=method, url=url, status=status)
        self.encoding = encoding


class PaginationError(APIError):
    """The server's pages make no sense together: replayed, misnumbered or self-contradicting.

    Each page decoded, but following them would loop, deliver a record twice or never end.
    ``page`` is the page number that was asked for when it was noticed.
    """

    def __init__(self, message: str, *, method: str = "GET", url: str = "", page: int = 0) -> None:
        super().__init__(message, method=method, url=url)
        self.page = page


class APIStatusError(APIError):
    """The server answered with a non-2xx status.

    ``errors`` is the API's ``errors`` array as typed ``ErrorObject`` values (empty
    when the body was not JSON, say an HTML page from a proxy); ``body`` is the raw
    answer, cut to 4 KiB; ``request_id`` comes from the ``x-request-id`` or
    ``request-id`` header; ``location``, a redirect's ``Location`` that was not followed
    (a ``user:password@`` in it masked: ``***@``);
    ``cut_at``, the bytes read of a body too long to read whole (its ``errors`` not read);
    ``retry_after``, the seconds the server asked to wait (``Retry-After``; else, for a 429
    or an answer saying no requests remain, ``x-ratelimit-reset``; at most a day), or None.
    """

    def __init__(
        self,
        status: int,
        errors: Iterable[ErrorObject] = (),
        *,
        request_id: str | None = None,
        body: bytes = b"",
        method: str = "GET",
        url: str = "",
        retry_after: float | None = None,
        location: str | None = None,
        cut_at: int | None = None,
    ) -> None:
        self.status = status
        self.errors: tuple[ErrorObject, ...] = tuple(errors)
        self.request_id = request_id
        self.body = body[:4096]
        self.retry_after = retry_after
        self.location = location
        self.cut_at = cut_at
        message = _status_message(status, self.errors, request_id, location)
        if cut_at is not None and not self.errors:
            message += f" (an error body over {cut_at:,} bytes, cut there: its errors not read)"
        super().__init__(message, method=method, url=url)

    @property
    def code(self) -> str | None:
        """The first error's code, such as ``"10015"``, or ``None``."""
        return self.errors[0].code if self.errors else None


class BadRequestError(APIStatusError):
    """400: the request is malformed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such resource."""


class UnprocessableEntityError(APIStatusError):
    """422: a parameter was refused; ``errors[i].source.parameter`` names it."""


class RateLimitError(APIStatusError):
    """429: too many requests (code ``10011``); ``retry_after`` is the server's wait, in seconds."""


class InternalServerError(APIStatusError):
    """500 and above: the server or a proxy in front of it failed."""


class DriftWarning(UserWarning):
    """The listing changed while it was being read (pages shifted under the scan)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def exception_for_status(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status: the table, then the 5xx family."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return InternalServerError if status >= 500 else APIStatusError  # noqa: PLR2004


def describe_errors(errors: tuple[ErrorObject, ...]) -> str:
    """The errors for a message: each field cut, at most a few errors, the rest counted."""
    shown = cut("; ".join(_describe(e) for e in errors[:_ERRORS_SHOWN]), _ERRORS_BUDGET)
    if len(errors) > _ERRORS_SHOWN:
        shown += f"; and {len(errors) - _ERRORS_SHOWN} more"
    return shown


def _describe(error: ErrorObject) -> str:
    parts = [cut(p) for p in (error.code, error.title) if p]
    text = " ".join(parts) or "error"
    if error.detail:
        text += f": {cut(error.detail)}"
    where = error.source and (error.source.parameter or error.source.pointer)
    if where:
        text += f" [{cut(where)}]"
    return text


def _status_message(
    status: int, errors: tuple[ErrorObject, ...], request_id: str | None, location: str | None
) -> str:
    text = f"HTTP {status}"
    if location is not None:
        text += (
            f": a redirect to {cut(location)!r}, not followed (only redirects to the base "
            "URL's scheme, host and port, without user info, are, a few in a row at most: "
            "the key goes nowhere else)"
        )
    if errors:
        text += ": " + describe_errors(errors)
    if request_id:
        text += f" (request id {cut(request_id)})"
    return text


@contextlib.contextmanager
def named_after(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """An ``OSError`` with no file name (a write's, a full disk's) raised inside, naming ``path``.

    The file the caller asked to write, so that its message can say which file failed.
    """
    try:
        yield
    except OSError as exc:
        if exc.filename is None and path is not None:
            exc.filename = os.fspath(path)
        raise


def first_error(exc: BaseException) -> BaseException:
    """Unwrap a task group's ExceptionGroup to the failure that started it.

    And a ``KeyboardInterrupt`` or ``SystemExit`` that ``handing_over`` carried out of a
    child task, to itself.
    """
    # Duck-typed: BaseExceptionGroup is only a builtin from Python 3.11.
    while (inner := getattr(exc, "exceptions", None)) and isinstance(inner[0], BaseException):
        exc = inner[0]
    return exc.exiting if isinstance(exc, _Exiting) else exc


class _Exiting(Exception):  # noqa: N818  (a carrier, never seen by a caller)
    """A ``KeyboardInterrupt`` or ``SystemExit`` on its way out of a task group's child task."""

    def __init__(self, exiting: BaseException) -> None:
        super().__init__(repr(exiting))
        self.exiting = exiting


P = ParamSpec("P")


def handing_over(
    run: Callable[P, Awaitable[None]],
) -> Callable[P, Coroutine[Any, Any, None]]:
    """``run``, for a task group's child task whose failure a stream hands to its consumer.

    asyncio raises a ``KeyboardInterrupt`` or ``SystemExit`` out of a task straight out of
    the event loop: one from a hook (``sys.exit()`` in ``on_response``) cancelled the
    consumer, and ``asyncio.run()`` printed a task group's traceback. Carried as an
    ordinary failure, it ends the group as any other does, and ``first_error`` gives back
    the one raised, for the consumer to raise as it is.
    """

    async def child(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await run(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit) as exc:
            raise _Exiting(exc) from None

    return child
