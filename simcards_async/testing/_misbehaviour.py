"""How the mock server breaks the API's contract on purpose, like real broken servers do.

`Misbehaviour` is the set of knobs; the functions below build the broken parts of an answer
(fresh ids, padded and gzip-bombed bodies, bad redirect locations) as plain values.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from ._checks import MOST, OptionError, count, int64, require

if TYPE_CHECKING:
    from collections.abc import Iterator

REDIRECTS = ("bad-ipv6", "bad-port", "userinfo")
"""Shorthands for ``Misbehaviour.redirect``: which broken ``Location`` to send."""
_CHUNK = 64 * 1024
#: The longest ``error_detail_bytes`` (256 MiB): the detail is built whole at each answer.
MAX_ERROR_DETAIL_BYTES = 1 << 28
#: The largest ``gzip_bomb_bytes`` (16 GiB inflated, ~20 MB on the wire): its checksum is
#: computed over every inflated byte.
MAX_GZIP_BOMB_BYTES = 1 << 34


@dataclass(frozen=True, kw_only=True)
class Misbehaviour:
    """Ways for `MockTelnyxServer` to break the contract, all off by default, all deterministic.

    Pages of both listings:

    - ``ignore_page_number``: every page[number] gets page 1's records (``meta.page_number``
      still says the page asked for).
    - ``replay_lag``: page n (n > lag) gets the records of page n - lag, a replay.
    - ``total_pages``: ``meta.total_pages`` is this number (say 10**9, 0 or -1) whatever
      ``total_results`` says.
    - ``endless``: pages past the last real one are full of fresh records (new ids on every
      page, otherwise copies of real ones), so they never run out.
    - ``page_number_offset``: ``meta.page_number`` is the page asked for plus this.
    - ``oversize_pages``: each page carries this many records beyond page[size] (the next
      page's first ones).

    Answers to the four API routes (after authentication and the rate limit):

    - ``huge_body_bytes``: a 200's JSON is padded (a ``"padding"`` string of spaces) to at
      least this many bytes and streamed in 64 KiB chunks, without a Content-Length.
    - ``gzip_bomb_bytes``: a 200's JSON is padded the same way and sent gzip-compressed
      (``Content-Encoding: gzip``): some 800 times smaller on the wire than inflated.
    - ``ok_without_data``: a 200 whose body is ``{}`` ("empty") or only an ``errors`` array
      ("errors").
    - ``redirect``: a 302 whose ``Location`` is a malformed IPv6 literal ("bad-ipv6"), has a
      port out of range ("bad-port"), carries userinfo back to this server ("userinfo"), or is
      any other text given, sent verbatim.
    - ``error_detail_bytes``: a 500 whose error ``detail`` is this many bytes long.
    - ``echo_authorization``: a 401 whose error body repeats the request's Authorization
      header (in ``detail`` and ``source.header``).
    - ``extra_headers``: headers added to (or replacing) every answer's, such as
      ``{"x-ratelimit-remaining": "inf"}``.

    Of the route-level ones, the first that is set in the order ``echo_authorization``,
    ``error_detail_bytes``, ``redirect``, ``ok_without_data`` answers; body padding applies
    to every 200, an ``ok_without_data`` one too (``{}`` padded is ``{"padding": ...}``).
    """

    ignore_page_number: bool = False
    replay_lag: int = 0
    total_pages: int | None = None
    endless: bool = False
    page_number_offset: int = 0
    oversize_pages: int = 0
    huge_body_bytes: int = 0
    gzip_bomb_bytes: int = 0
    ok_without_data: Literal["empty", "errors"] | None = None
    redirect: str | None = None
    error_detail_bytes: int = 0
    echo_authorization: bool = False
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("ignore_page_number", "endless", "echo_authorization"):
            value = getattr(self, name)
            require(isinstance(value, bool), name, "True or False", value)
        sizes = {
            "replay_lag": self.replay_lag,
            "oversize_pages": self.oversize_pages,
            "huge_body_bytes": self.huge_body_bytes,
            "gzip_bomb_bytes": self.gzip_bomb_bytes,
            "error_detail_bytes": self.error_detail_bytes,
        }
        for name, value in sizes.items():
            require(count(value), name, "an integer >= 0", value)
        # Built in the server's memory (a detail) or time (a bomb's checksum) at each answer:
        # past these, every answer failed inside the server (OverflowError, MemoryError). Past
        # 64 bits, any: its repr raised Python's "Exceeds the limit (4300 digits)".
        most = {
            "error_detail_bytes": MAX_ERROR_DETAIL_BYTES,
            "gzip_bomb_bytes": MAX_GZIP_BOMB_BYTES,
        }
        for name, value in sizes.items():
            bound = most.get(name, MOST)
            require(value <= bound, name, f"at most {bound:,}", value)
        total, offset = self.total_pages, self.page_number_offset
        # A meta of more than 64 bits made every answer a 500.
        require(
            total is None or int64(total), "total_pages", "an integer of 64 bits or None", total
        )
        require(int64(offset), "page_number_offset", "an integer of 64 bits", offset)
        body = self.ok_without_data
        require(
            body in (None, "empty", "errors"), "ok_without_data", "'empty', 'errors' or None", body
        )
        redirect: object = self.redirect  # as given, whatever the annotation says
        allowed = (
            f"one of {', '.join(REDIRECTS)} or a Location (a str, not empty, which a header "
            "holds: no control character), or None"
        )
        require(
            redirect is None
            or (isinstance(redirect, str) and redirect != "" and not _unheadable(redirect)),
            "redirect",
            allowed,
            redirect,
        )
        headers: object = self.extra_headers
        ok = isinstance(headers, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        )
        require(ok, "extra_headers", "a mapping of header names to str values", headers)
        for header, text in self.extra_headers.items():
            # What HTTP allows (aiohttp refuses the rest at every answer, which it then drops):
            # a name of visible characters but ":", a value of them, spaces and tabs.
            if (
                not header
                or ":" in header
                or not all("!" <= c <= "~" for c in header)
                or _unheadable(text)
            ):
                raise OptionError("extra_headers", f": not a header: {header!r}: {text!r}")
        object.__setattr__(self, "extra_headers", dict(self.extra_headers))

    @property
    def pages_off_spec(self) -> bool:
        """Whether any knob changes which records or which meta a page has."""
        return bool(
            self.ignore_page_number
            or self.replay_lag
            or self.total_pages is not None
            or self.endless
            or self.page_number_offset
            or self.oversize_pages
        )


def fresh_id(seed: int, listing: str, page: int, index: int) -> str:
    """A UUID4 no fleet holds, a function of its place on an endless page."""
    digest = hashlib.sha256(f"simcards-async:endless:{seed}:{listing}:{page}:{index}".encode())
    return str(uuid.UUID(bytes=digest.digest()[:16], version=4))


def _unheadable(text: str) -> bool:
    """Whether ``text`` holds what no header value may: a control character but a tab.

    aiohttp refuses every answer with one, and drops its connection.
    """
    return any((c < " " and c != "\t") or c == "\x7f" for c in text)


def redirect_location(redirect: str, *, host: str, port: int, path_qs: str) -> str:
    """The ``Location`` of a broken redirect: a shorthand of `REDIRECTS`, or the text itself."""
    if redirect == "bad-ipv6":
        return f"http://[::1{path_qs}"  # no closing bracket
    if redirect == "bad-port":
        return f"http://{host}:99999{path_qs}"
    if redirect == "userinfo":
        return f"http://user:secret@{host}:{port}{path_qs}"
    return redirect


def _padded_parts(body: bytes, size: int) -> tuple[bytes, int, bytes]:
    """Split a JSON object into (head, spaces, tail) that together are at least ``size`` bytes."""
    head = body[:-1] + (b'"padding":"' if body.rstrip().endswith(b"{}") else b',"padding":"')
    tail = b'"}'
    return head, max(0, size - len(head) - len(tail)), tail


def padded_chunks(body: bytes, size: int) -> Iterator[bytes]:
    """The JSON object ``body`` with a ``"padding"`` member, at least ``size`` bytes, lazily."""
    head, spaces, tail = _padded_parts(body, size)
    yield head
    block = b" " * _CHUNK
    while spaces > 0:
        yield block[: min(spaces, _CHUNK)]
        spaces -= _CHUNK
    yield tail


def gzip_bomb(body: bytes, size: int) -> bytes:
    """``body`` padded to at least ``size`` bytes, gzip-compressed (small: spaces pack well).

    The padding is one deflated 64 KiB block of spaces repeated (each copy starts from a full
    flush, so copies stand alone), so a bomb of hundreds of MB costs only its CRC to build.
    """
    head, spaces, tail = _padded_parts(body, size)
    copies, rest = divmod(spaces, _CHUNK)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: header and trailer below
    out = [_GZIP_HEADER, packer.compress(head), packer.flush(zlib.Z_FULL_FLUSH)]
    out.append(_packed_spaces() * copies)
    end = b" " * rest + tail
    out += [packer.compress(end), packer.flush()]
    crc = zlib.crc32(head)
    for _ in range(copies):
        crc = zlib.crc32(_SPACES, crc)
    crc = zlib.crc32(end, crc)
    total = len(head) + copies * _CHUNK + len(end)
    out.append(struct.pack("<II", crc, total & 0xFFFFFFFF))
    return b"".join(out)


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, no mtime
_SPACES = b" " * _CHUNK


@lru_cache(maxsize=1)
def _packed_spaces() -> bytes:
    """64 KiB of spaces as raw deflate blocks that end on a full flush."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(_SPACES) + packer.flush(zlib.Z_FULL_FLUSH)
