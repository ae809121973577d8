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

import contextlib
import os
import pickle
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._wording import Said, with_said

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
    "cut",
    "describe_errors",
    "exception_for_status",
    "folded",
    "named_after",
    "one_line",
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


def one_line(message: str) -> str:
    """An error's message: on one line (a server's CR/LF and tabs folded), escapes shown, cut."""
    return cut(printable(folded(message)), MESSAGE_LIMIT)


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
    if isinstance(value, str):
        # By its own length, not its repr's: 5,000 characters typed are not "5002 chars",
        # and 300 (the limit) are not cut.
        return text if len(value) <= limit else cut(text, limit, len(value))
    return cut(text, limit)


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
    ``choices``: the values allowed, when they are a list (``'enabled'``, ``'disabled'``...),
    else empty.
    """

    def __init__(
        self,
        parameter: str,
        allowed: str | Said,
        value: object,
        *,
        shown_as: str | None = None,
        choices: Iterable[str] = (),
    ) -> None:
        self.parameter = parameter
        self.allowed = str(allowed)
        if isinstance(allowed, Said):  # its parts kept: the command line words them
            with_said(self, allowed)
        self.value = value
        self.choices = tuple(choices)
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
        self, message: str | Said, *, method: str = "GET", url: str = "", attempts: int = 1
    ) -> None:
        self.message = one_line(str(message))
        if isinstance(message, Said):  # its parts kept: the command line words them
            with_said(self, message.finished(one_line))
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

    def __init__(
        self, message: str | Said, *, method: str = "GET", url: str = "", page: int = 0
    ) -> None:
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

    def __init__(self, *args: object) -> None:
        said = args[0] if args and isinstance(args[0], Said) else None
        if said is None:
            super().__init__(*args)
            return
        super().__init__(str(said), *args[1:])  # its parts kept: the command line words them
        with_said(self, said)


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
    if status < 200:  # noqa: PLR2004
        text += ": an informational status as the final answer, neither a page nor an error"
    elif 300 <= status < 400 and location is None:  # noqa: PLR2004
        text += (
            ": a redirect or cache status with no Location to follow, neither a page nor an error"
        )
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
