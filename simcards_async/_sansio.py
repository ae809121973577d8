"""The HTTP core without I/O: an answer (status, headers, body) to a value or an exception.

Everything here takes and returns plain values, so it is tested without a
socket. Every header, ``Location`` and number a server sends is parsed
defensively: a value that makes no sense is ignored (a header) or not followed
(a redirect), never a bare Python exception. Every text an exception carries
is cut (``_errors.cut``) and has the API key redacted, even when the server
echoes it back.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import msgspec
from yarl import URL

from ._arguments import plain_str
from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    InvalidParameterError,
    ResponseTooLargeError,
    UnsupportedEncodingError,
    cut,
    describe_errors,
    exception_for_status,
)
from ._models import UNDECODABLE, ErrorObject, ErrorSource, decode_errors

__all__ = [
    "ERRORS_SCAN_LIMIT",
    "ERROR_BODY_LIMIT",
    "MAX_KEY_LENGTH",
    "MAX_REDIRECTS",
    "MIN_KEY_LENGTH",
    "NO_SECRETS",
    "REDACTED",
    "Answer",
    "Secrets",
    "api_identity",
    "body_limit",
    "check_base_url",
    "decipher",
    "origin_of",
    "rate_limit_limit",
    "rate_limit_remaining",
    "rate_limit_reset",
    "redirect_target",
    "request_id",
    "response_limit",
    "retry_after",
    "same_api",
    "success",
    "wait_hint",
]

T = TypeVar("T")

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: The part of a 2xx answer's byte limit that does not depend on the page size.
_BASE_LIMIT = 1 << 20
#: Bytes allowed per record: a full SIM card is about 1.5 KiB of JSON; ten times that.
_PER_RECORD = 16 << 10
#: Error (non-2xx) answers are cut here: they only feed ``errors`` and the message.
ERROR_BODY_LIMIT = 64 << 10
#: A 2xx that decodes is checked for an ``errors`` array only up to this size.
ERRORS_SCAN_LIMIT = 64 << 10
#: What a secret is replaced with.
REDACTED = "<redacted>"
#: The shortest API key a client takes. Telnyx keys begin ``KEY`` and run to tens of
#: characters; a key of one or two would be replaced wherever its characters occur in a
#: message (``api_key="a"``: ``Authentic<redacted>tion f<redacted>iled``), and in the JSON
#: of an error body, losing its errors.
MIN_KEY_LENGTH = 3
#: The longest API key a client takes: far past any Telnyx key, and far short of the 8 KiB
#: a server takes in one header line (a key of 100,000 characters, a file pasted, was sent,
#: and refused by the server as a bare HTTP 400 naming nothing).
MAX_KEY_LENGTH = 1024
#: Longest wait a header may ask for and still be read (a day); more is not a delay.
_LONGEST_HINT = 86400.0
#: A header's number as HTTP writes one: ASCII digits, a point, an exponent. ``float`` also
#: takes ``5_0`` (50), other scripts' digits, ``inf`` and ``nan``: no server's hint.
_DECIMAL = re.compile(r"[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t]*")
#: Larger ``x-ratelimit-remaining`` values are read as this (any count this big means "plenty").
_MOST_REMAINING = 1 << 31


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange as the core sees it.

    ``headers`` have lower-case names; ``complete`` is false when reading stopped
    at the byte limit, so ``body`` is only its first part. ``encoding`` is the
    ``Content-Encoding`` of a body the HTTP layer left as it came, not decoded (then a 2xx's
    body is not read): ``decipher`` refuses such a 2xx. ``failure`` is what ended a 2xx
    exchange after its status and headers came (the connection dropped, or the time ran
    out, in the body): ``decipher`` raises it, and the transport does as soon as the
    attempt has been observed, so that nothing else is made of the answer (no rate-limit
    bookkeeping).
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    complete: bool = True
    failure: APIConnectionError | None = None
    encoding: str | None = None

    @classmethod
    def of(
        cls,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        complete: bool = True,
        failure: APIConnectionError | None = None,
        encoding: str | None = None,
    ) -> Answer:
        """An answer whose header names are lower-cased (the first of repeated names wins)."""
        lowered: dict[str, str] = {}
        for name, value in headers:
            lowered.setdefault(name.lower(), value)
        return cls(status, lowered, body, complete and failure is None, failure, encoding)


def response_limit(page_size: int) -> int:
    """The most bytes a 2xx answer holding up to ``page_size`` records may have.

    1 MiB plus 16 KiB a record: a 250-card page (about 400 KB) may be 4.9 MiB, ten
    times its real size, and a single item 1 MiB; any more is not the API's answer.
    """
    return _BASE_LIMIT + _PER_RECORD * max(1, page_size)


def success(status: int) -> bool:
    """Whether ``status`` is a 2xx."""
    return 200 <= status < 300  # noqa: PLR2004


def body_limit(status: int, limit: int) -> int:
    """The bytes to read of an answer of ``status`` under a 2xx limit of ``limit``."""
    return limit if success(status) else min(limit, ERROR_BODY_LIMIT)


#: How JSON may write a character besides itself and ``\uXXXX``.
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _hex(number: int, digits: int) -> str:
    """A pattern of ``number`` in hexadecimal, either case."""
    return "".join(
        f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{number:0{digits}x}"
    )


def _secret_pattern(secret: str) -> str:
    r"""A pattern of ``secret``, however a server may echo it.

    Each character as itself, as a JSON escape (``\u004b``, ``\/``, a surrogate pair past
    U+FFFF) or percent-encoded (``%2F``), in any mix: a server's JSON encoder or URL quoting
    may write any of them. The escapes are tried first: a key's ``\`` written ``\\`` is
    replaced whole, or the one left over would break the JSON around it.
    """
    parts = []
    for char in secret:
        units = char.encode("utf-16-be")  # a \u escape a UTF-16 unit: two past U+FFFF
        escape = "".join(
            "\\\\u" + _hex(int.from_bytes(units[i : i + 2], "big"), 4)
            for i in range(0, len(units), 2)
        )
        forms = [escape]
        if char in _JSON_SHORT:
            forms.append(re.escape(_JSON_SHORT[char]))
        forms.append("%".join(["", *(_hex(b, 2) for b in char.encode())]))
        forms.append(re.escape(char))
        parts.append(f"(?:{'|'.join(forms)})")
    return "".join(parts)


class Secrets:
    """The strings no exception may carry (the API key), and how to remove them.

    Each is replaced wherever it occurs: the client takes no key shorter than
    ``MIN_KEY_LENGTH``, which would be found inside every other word.
    """

    def __init__(self, *secrets: str) -> None:
        # Longest first, so no secret is left half-replaced by a shorter one.
        kept = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
        self._count = len(kept)
        pattern = "|".join(map(_secret_pattern, kept))
        self._text = re.compile(pattern) if kept else None
        self._bytes = re.compile(pattern.encode()) if kept else None

    def __repr__(self) -> str:
        return f"<Secrets: {self._count} redacted>"

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``REDACTED``, however it was written."""
        return value if self._text is None else self._text.sub(REDACTED, value)

    def body(self, value: bytes) -> bytes:
        """``value`` with every secret replaced by ``REDACTED``, however it was written."""
        return value if self._bytes is None else self._bytes.sub(REDACTED.encode(), value)

    def optional(self, value: str | None) -> str | None:
        """``text``, passing ``None`` through."""
        return None if value is None else self.text(value)

    def error(self, error: ErrorObject) -> ErrorObject:
        """An ``ErrorObject`` with every secret removed from its text and ``meta``."""
        source = error.source
        if source is not None:
            source = ErrorSource(
                pointer=self.optional(source.pointer), parameter=self.optional(source.parameter)
            )
        meta = error.meta
        if meta is not None:
            # Through its JSON: reaches every nested string without recursing here. Kept as
            # it is when it holds no secret: the JSON of an infinity (1e999) is null.
            encoded = msgspec.json.encode(meta)
            redacted = self.body(encoded)
            if redacted != encoded:
                meta = msgspec.json.decode(redacted)
        return ErrorObject(
            code=self.optional(error.code),
            title=self.optional(error.title),
            detail=self.optional(error.detail),
            source=source,
            meta=meta,
        )


#: Secrets of none: what a text is cleaned of when no key is known.
NO_SECRETS = Secrets()
_TOO_MANY = 429


def _window_spent(headers: Mapping[str, str]) -> bool:
    """Whether the answer says no requests remain in the rate-limit window."""
    remaining = rate_limit_remaining(headers)
    return remaining is not None and remaining <= 0


def decipher(
    answer: Answer,
    decode: Callable[[bytes], T],
    *,
    url: str,
    limit: int,
    secrets: Secrets = NO_SECRETS,
    now: dt.datetime | None = None,
) -> T:
    """The decoded value of a 2xx answer, or the ``APIError`` the answer stands for, raised.

    A 2xx is decoded; one in a ``Content-Encoding`` left undecoded raises
    ``UnsupportedEncodingError``, one over ``limit`` bytes ``ResponseTooLargeError``, one
    that does not decode, or carries an ``errors`` array and is not a large decoded
    answer (``ERRORS_SCAN_LIMIT``), ``APIResponseValidationError`` with those errors.
    Any other status raises its class from the status table, with the server's
    wait hint as it asked (``Retry-After``; else, for a 429 or an answer saying no
    requests remain, ``x-ratelimit-reset``): the retry's wait is cut to ``max_hint``.
    """
    if answer.failure is not None:  # the exchange failed after its head: what it is
        raise answer.failure
    status = answer.status
    url = secrets.text(url)
    if success(status):
        if answer.encoding is not None:
            encoding = cut(secrets.text(header_text(answer.encoding) or ""))
            msg = (
                f"the answer to GET {url} is encoded as {encoding!r} (its Content-Encoding), "
                "which this client cannot read"
            )
            raise UnsupportedEncodingError(msg, url=url, status=status, encoding=encoding)
        if not answer.complete:
            msg = f"the answer to GET {url} is longer than the limit of {limit} bytes"
            raise ResponseTooLargeError(msg, url=url, status=status, limit=limit)
        return _decode_success(answer, decode, url, secrets)
    headers = answer.headers
    hint = wait_hint(status, headers, now)
    body = secrets.body(answer.body)
    location = header_text(answer.headers.get("location")) if status in _REDIRECTS else None
    if location is not None:  # a user:password@ in it is somebody's credential: masked
        location = _masked(location)
    raise exception_for_status(status)(
        status,
        [secrets.error(e) for e in decode_errors(body)],
        request_id=secrets.optional(request_id(answer.headers)),
        body=body,
        url=url,
        retry_after=hint,  # the server's: the client's own wait is cut to max_hint
        location=secrets.optional(location),
        cut_at=None if answer.complete else len(answer.body),
    )


def _decode_success(answer: Answer, decode: Callable[[bytes], T], url: str, secrets: Secrets) -> T:
    body = answer.body
    try:
        value = decode(body)
    except UNDECODABLE as exc:
        _raise_stated_errors(answer, url, secrets)
        # msgspec says "Input data was truncated" of an empty body: nothing was cut.
        empty = answer.complete and not body.strip()
        detail = f"its body is empty (HTTP {answer.status})" if empty else secrets.text(str(exc))
        # Not "undocumented": the spec allows some text this client's types do not read.
        msg = f"the answer to GET {url} does not decode into this client's models: {detail}"
        raise APIResponseValidationError(msg, url=url, status=answer.status) from exc
    # The spec forbids ``data`` beside ``errors``. A small body (an empty page) is still
    # checked for them, so ``{"data": [], "errors": [...]}`` is not an empty result; a large
    # one that decodes is data: scanning every full page would cost a fifth of its decoding.
    if len(body) <= ERRORS_SCAN_LIMIT:
        _raise_stated_errors(answer, url, secrets)
    return value


def _raise_stated_errors(answer: Answer, url: str, secrets: Secrets) -> None:
    """Raise the errors a 2xx states in a non-empty ``errors`` array, if it has one."""
    errors = decode_errors(answer.body) if b'"errors"' in answer.body else ()
    if errors:
        errors = tuple(secrets.error(e) for e in errors)
        msg = f"HTTP {answer.status} to GET {url} carries errors: {describe_errors(errors)}"
        raise APIResponseValidationError(msg, url=url, status=answer.status, errors=errors)


# --- headers -----------------------------------------------------------------------------


def _number(value: str | None) -> float | None:
    """A finite number, or ``None`` for anything else (``inf``, ``nan``, text, empty)."""
    if value is None or len(value) > 64 or not _DECIMAL.fullmatch(value):  # noqa: PLR2004
        return None  # (no honest number is that long)
    number = float(value)
    return number if math.isfinite(number) else None


def _count(value: str | None) -> int | None:
    """A count of requests: a finite number >= 0 (larger ones read as "plenty"), else None."""
    number = _number(value)
    if number is None or number < 0:
        return None
    return int(min(number, _MOST_REMAINING))


def request_id(headers: Mapping[str, str]) -> str | None:
    r"""The answer's request id (``x-request-id``, else ``request-id``), if it has one.

    Header bytes that are not UTF-8 reach us as lone surrogates (aiohttp decodes with
    ``surrogateescape``), which no log or UTF-8 file can take: they are shown as ``\xe9``.
    """
    return header_text(headers.get("x-request-id") or headers.get("request-id"))


def header_text(value: str | None) -> str | None:
    r"""A header's value as an exception keeps it: bytes that are not UTF-8 shown as ``é``."""
    if value is None or value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def rate_limit_limit(headers: Mapping[str, str]) -> int | None:
    """``x-ratelimit-limit``: requests allowed per window; ``None`` if absent or nonsense."""
    return _count(headers.get("x-ratelimit-limit"))


def rate_limit_remaining(headers: Mapping[str, str]) -> int | None:
    """``x-ratelimit-remaining``: requests left in the window; ``None`` if absent or nonsense."""
    return _count(headers.get("x-ratelimit-remaining"))


def rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """``x-ratelimit-reset``: seconds until the rate-limit window resets.

    A value of a day or more is an epoch stamp or nonsense, not a delay: ignored.
    """
    seconds = _number(headers.get("x-ratelimit-reset"))
    if seconds is None or not 0 <= seconds < _LONGEST_HINT:
        return None
    return seconds


def wait_hint(
    status: int, headers: Mapping[str, str], now: dt.datetime | None = None
) -> float | None:
    """The seconds a failed answer asks the client to wait, or None.

    ``Retry-After``; else, for a 429 or an answer saying no requests remain,
    ``x-ratelimit-reset``: the window's end is a wait only when the window is why the
    request failed (a 502 from a proxy, whose answer still says 90 requests remain, is
    retried at once).
    """
    hint = retry_after(headers, now)
    if hint is None and (status == _TOO_MANY or _window_spent(headers)):
        hint = rate_limit_reset(headers)
    return hint


def retry_after(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """``Retry-After``: delay seconds, or an HTTP date (compared with ``now``, UTC)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        # A negative delay is no hint (ignored, as nonsense is): not "retry at once", which
        # would cut short the wait x-ratelimit-reset asks for.
        return min(seconds, _LONGEST_HINT) if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        now = now or dt.datetime.now(dt.timezone.utc)
        seconds = (when - now).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, seconds), _LONGEST_HINT)


# --- redirects and URLs ----------------------------------------------------------------------


def redirect_target(url: str, answer: Answer, origin: str) -> str | None:
    """Where a redirect answer sends us, or ``None`` if it is not one we follow.

    Followed: 301/302/303/307/308 to a URL of the same origin (scheme, host,
    port), without user info. Anything else, a malformed ``Location`` included,
    is not followed: the answer then stands as the status error it is.
    """
    location = answer.headers.get("location")
    if answer.status not in _REDIRECTS or not location or not location.strip():
        return None
    try:
        relative = URL(location)
        if relative.scheme and not relative.host:
            return None  # "http://" or "mailto:x": nowhere, or not a web address
        target = URL(url, encoded=True).join(relative)
        parts = urlsplit(str(target))
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
        if parts.username is not None or parts.password is not None:
            return None  # user info would be a credential of somebody's; never follow it
        if str(target.origin()) != origin:
            return None  # following would send the Authorization header to another host
        return str(target)
    except (ValueError, TypeError, UnicodeError):
        return None


def origin_of(base_url: str) -> str:
    """The scheme, host and port of a checked base URL, as ``redirect_target`` compares them."""
    return str(URL(base_url).origin())


def api_identity(base_url: str) -> str:
    """The API a checked base URL names, as a checkpoint keeps it: scheme, host, port, path.

    A loopback host is ``localhost``, whatever its name or address, and its port is left
    out: a server on this machine (a mock, ``--demo``) listens on another port each time it
    starts, serving the same data, and ``127.0.0.1`` or ``localhost`` reach the same one.
    """
    url = URL(base_url)
    host = url.host or ""
    port = "" if _is_loopback(host) or url.port is None else f":{url.port}"
    return f"{url.scheme}://{_api_host(host)}{port}{url.path.rstrip('/')}"


def same_api(kept: str, current: str) -> bool:
    """Whether a checkpoint's ``api_identity`` and this one name the same API.

    One kept before loopback hosts were all ``localhost`` named its own (``127.0.0.1``).
    """
    scheme, _, rest = kept.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}://{_api_host(host)}{slash}{path}" == current


def _api_host(host: str) -> str:
    return "localhost" if _is_loopback(host) else host.lower()


def check_base_url(base_url: object) -> str:
    """Refuse a base URL that would send the key in clear to a host that is not loopback.

    Or one with credentials, a query, a fragment or a control character in it. A refused
    URL is shown with any ``user:password@`` masked, whatever the reason.
    """
    allowed = "an https:// URL (plain http:// only for a loopback host such as 127.0.0.1)"
    if not isinstance(base_url, str):
        raise InvalidParameterError("base_url", allowed, base_url)
    # Its value, as every string argument's: the ``str()`` of a ``(str, Enum)`` member (which
    # the URL parser takes) is its name, ``Env.LOCAL``, and the URL was refused as relative.
    base_url = plain_str(base_url)
    shown = _masked(base_url)
    if not base_url.isprintable() or any(ch.isspace() for ch in base_url):
        # aiohttp refuses them at the first request, with a bare ValueError.
        raise InvalidParameterError(
            "base_url", f"{allowed}, with no spaces or control characters", shown
        )
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
        origin_of(base_url)
        # As the resolver will: a host with an empty label (a..b) or one over 63 characters
        # failed at the first request, with a bare UnicodeError (a ValueError).
        (parts.hostname or "").encode("idna")
    except ValueError as exc:  # a port out of range, a bracket left open: say which
        detail = str(exc)
        if shown != base_url:  # the parser's words may quote the URL: mask them too
            detail = detail.replace(base_url, shown)
        raise InvalidParameterError(
            "base_url", f"{allowed}; it does not parse ({detail})", shown
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError("base_url", allowed, shown)
    if parts.port == 0:  # no server listens there: every request failed as a connection error
        raise InvalidParameterError("base_url", f"{allowed}, with a port from 1 to 65535", shown)
    if "@" in parts.netloc:
        raise InvalidParameterError(
            "base_url", f"{allowed}, with no user:password@ (the API key is the credential)", shown
        )
    if "?" in base_url or "#" in base_url:
        # Every page's URL is the base URL and a path: a query or fragment would split it.
        raise InvalidParameterError(
            "base_url", f"{allowed}, with no ?query or #fragment (filters are arguments)", shown
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidParameterError(
            "base_url", allowed + ", so the API key is never sent unencrypted; use https", shown
        )
    return base_url.rstrip("/")


#: Where a URL's authority begins: after its scheme, if any, and two slashes (a backslash
#: counted as one, as a browser reads ``https:\\host``).
_AUTHORITY_START = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?[/\\]{2}")


def _masked(url: str) -> str:
    """``url`` with what is before an ``@`` in its authority masked: it may be a password.

    The authority ends at the first ``/``, ``?``, ``#`` or backslash: an ``@`` after one
    of them is the path's or the query's (``https://good?next=a@evil/x`` showed
    ``***@evil/x``). A relative URL has none (``/path?next=//a@b`` is left as it is).
    """
    start = _AUTHORITY_START.match(url)
    if start is None:
        return url
    rest = url[start.end() :]
    end = min((i for i in map(rest.find, "/?#\\") if i >= 0), default=len(rest))
    authority = rest[:end]
    if "@" not in authority:
        return url
    return f"{url[: start.end()]}***@{authority.rpartition('@')[2]}{rest[end:]}"


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address, written as one: the same on every Python.

    An IPv4 address written as IPv6 (``::ffff:127.0.0.1``) is not taken for one:
    Python 3.13 calls it loopback, earlier versions do not, and the rule must not
    depend on the interpreter.
    """
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback and getattr(address, "ipv4_mapped", None) is None
