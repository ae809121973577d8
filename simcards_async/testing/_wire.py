"""The mock server's HTTP vocabulary: reading a request's query and token, writing errors.

Request checks are the server's own, independent of the client in this package: a client
bug should show up as a 422, not be mirrored by shared code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ._codes import parse_uuid

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from multidict import CIMultiDictProxy

MAX_PAGE_SIZE = 250
JSON = "application/json"
BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
# Telnyx error code and title for the statuses the server answers with.
ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("10015", "Bad request"),
    401: ("10009", "Authentication failed"),
    403: ("10010", "Authorization failed"),
    404: ("10005", "Resource not found"),
    422: ("10015", "Invalid parameter"),
    429: ("10011", "Too many requests"),
    500: ("10007", "Unexpected error"),
    502: ("10007", "Bad gateway"),
    503: ("10007", "Service unavailable"),
    504: ("10007", "Gateway timeout"),
}
_INT_RE = re.compile(r"[0-9]{1,18}")
#: The largest integer a parameter with no bound of its own takes (18 digits).
_INT_HIGH = 10**18 - 1


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON


class InvalidQueryError(Exception):
    """Validation failed; carries one error object per bad parameter."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def status_phrase(status: int) -> str:
    """The reason phrase of ``status``: Python's, else its class's (499, 520, 430 have none)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Client Error" if status < 500 else "Server Error"  # noqa: PLR2004


def error_object(code: int, detail: str, parameter: str | None = None) -> dict[str, Any]:
    telnyx_code, title = ERROR_CODES.get(code) or ("10007", status_phrase(code))
    err: dict[str, Any] = {"code": telnyx_code, "title": title, "detail": detail}
    if parameter is not None:
        err["source"] = {"parameter": parameter}
    return err


def seconds_text(value: float) -> str:
    """Seconds as text, rounded up to the millisecond: "0.42", "1", "0"."""
    text = f"{math.ceil(round(max(value, 0.0) * 1000, 6)) / 1000:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")  # noqa: PLR2004


def bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def redacted(headers: CIMultiDictProxy[str], token: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key == "authorization":
            scheme = value.strip().partition(" ")[0]
            shown = f"{scheme} <redacted>" if token else "<redacted>"
        else:
            shown = value.replace(token, "<redacted>") if token else value
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


class Params:
    """Typed reads of a parsed query, collecting one error per bad parameter."""

    def __init__(self, query: Mapping[str, list[str]]) -> None:
        self._query = query
        self.errors: list[dict[str, Any]] = []

    def _bad(self, name: str, detail: str) -> None:
        self.errors.append(error_object(422, detail, name))

    def last(self, name: str) -> str | None:
        values = self._query.get(name)
        return values[-1] if values else None

    def items(self, name: str) -> list[str] | None:
        """An array: ``a,b``, repeated ``name=a&name=b`` or ``name[]=a``; None when absent."""
        values = self._query.get(name, []) + self._query.get(name + "[]", [])
        if name not in self._query and name + "[]" not in self._query:
            return None
        return [item for value in values for item in value.split(",")]

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.last(name)
        if value is None:
            return default
        number = int(value) if _INT_RE.fullmatch(value) else None
        if number is None or number < low or (high is not None and number > high):
            high = high if high is not None else _INT_HIGH
            allowed = f"between {low} and {high}"
            self._bad(name, f"{name} must be an integer {allowed}; got {show(value)}.")
            return default
        return number

    def boolean(self, name: str) -> bool:
        value = self.last(name)
        if value is None or value in {"true", "false"}:
            return value == "true"
        self._bad(name, f"{name} must be true or false; got {show(value)}.")
        return False

    def choice(self, name: str, allowed: Sequence[str]) -> str | None:
        value = self.last(name)
        if value is None or value in allowed:
            return value
        self._bad(name, f"{name} must be one of {', '.join(allowed)}; got {show(value)}.")
        return None

    def choices(self, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
        values = self.items(name) or []
        wrong = [v for v in values if v not in allowed]
        if wrong:
            self._bad(
                name,
                f"{name} must be a comma-separated list of {', '.join(allowed)};"
                f" got {show(wrong[0])}.",
            )
            return ()
        return tuple(sorted(set(values)))

    def text(self, name: str) -> str | None:
        """A filter's text; None when absent. Empty, it matches nothing or everything: refused."""
        value = self.last(name)
        if value == "":
            self._bad(name, f"{name} must not be empty; leave it out to filter nothing.")
        return value or None

    def texts(self, name: str) -> tuple[str, ...]:
        """An array of texts (``items``), none empty, each once; () when absent."""
        values = self.items(name) or []
        if "" in values:
            self._bad(name, f"{name} must be a comma-separated list of values, none empty.")
            return ()
        return tuple(sorted(set(values)))

    def uuid(self, name: str) -> str | None:
        value = self.last(name)
        if value is None or parse_uuid(value) is not None:
            return None if value is None else value.lower()
        self._bad(name, f"{name} must be a UUID such as {EXAMPLE_UUID}; got {show(value)}.")
        return None

    def page(self) -> tuple[int, int]:
        number = self.integer("page[number]", 1, 1)
        size = self.integer("page[size]", 20, 1, MAX_PAGE_SIZE)
        return number, size


EXAMPLE_UUID = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"
