"""The page-stream engine: first page, ``total_pages``, a bounded read-ahead window, order.

A producer (see ``_stream`` for the consumer side): it fetches and raises. How a
listing is read::

    fetch start_page -> meta.total_pages
    keep up to ``read_ahead`` later pages in flight (the client's limiter decides
    how many of them actually run at once), hand them over strictly in page order
    through a memory stream that holds at most a few pages (``HANDOVER_PAGES``),
    and start the next page each time one is handed over.

Memory: a page that comes in long before its turn waits as the bytes it came as
(~185 kB for 250 SIM cards), not decoded (~750 kB as Structs): it is decoded when
it is at most ``DECODE_AHEAD`` pages from the next to hand over (its ``turn``, which
the transport awaits between reading a 2xx answer and decoding it, so that a body
that does not decode is still retried as part of its request). No page is asked for
while the bodies waiting hold ``HELD_BYTES`` or more, nor while the window's pages would
hold ``WINDOW_BYTES`` or more at the largest answer's size so far (pages in flight are
counted too: a server's largest pages cannot fill ``read_ahead`` of them). So a stream
holds at most ``read_ahead`` bodies (about ``WINDOW_BYTES`` in all; ``HELD_BYTES`` is
checked as each page is asked for, so a window asked for before its first answer may
hold more of them waiting: about 11 MiB for a stream started and not read at C=32) and
about ``DECODE_AHEAD + HANDOVER_PAGES + 3`` decoded pages (one waiting to be handed over,
and the reader's two as it moves to the next; nine measured), whatever the listing's
size; when the consumer is the slower side (a busy CPU), the pages waiting for it are
bodies. A client's streams share ``CLIENT_WINDOW_BYTES`` (``SharedWindow``): ``n`` of them
reading at once each keep at most ``1/n`` of it in their windows (``WINDOW_BYTES`` still
the most), at least ``SHARED_MIN_PAGES`` pages, so the bodies many streams hold stay about
four windows', not one a stream (the limiter bounds the requests in flight across them,
not what they hold). Each still keeps its own decoded pages and delivered ids.

The engine takes its pages from ``fetch(target, on_retry, turn, sent) -> Page`` (``FetchPage``),
a seam that tests fill without a socket. It is three parts, each with one job:

- ``ReadPlan``: where the scan starts, where the answers say it ends, how much the
  ``limit`` still allows.
- ``DeliveredIds`` (``_ids``): every id delivered, exact and compact, so no id is
  delivered twice whatever the server sends.
- ``DriftLog``: when each page was asked for and answered (``Stamps``, to tell a view of
  the listing that may be older from a newer one), short pages, and the one
  ``DriftWarning`` to raise in the consumer.

Drift: pages are numbered over live data, so a record inserted ahead of the scan
pushes every later record one place on, and the record at the end of page *n* shows
up again at the start of page *n + 1*: it is dropped (every delivered id is kept)
and counted, and a ``DriftWarning`` is raised. Deletions move records the other way,
so one may be missed: drift is counted in ``stats.drift`` (``rescan`` recovers it).

The pagination rules (``page_problem``, ``past_end_problem``, ``growth_bound``, ``Engine._fresh``,
``ReadPlan.size_problem``): a page that breaks one raises ``PaginationError``, as
following it could loop, skip records, deliver a record twice or never end.

0. A meta counts the listing when it gives ``total_results`` (``counts``; the spec requires
   no field of it): without ``total_pages`` too, the pages are what the results fill at
   the page size (at least 1). A meta without ``total_results`` counts nothing, whatever
   else it says: its page is read as a page without meta is (one at a time, until a short
   or empty page), though its ``page_number``, ``page_size`` and ``total_pages`` are still
   held to rules 1, 2, 3 and 7, and a pass's first page's ``total_pages`` still bounds
   the pass (rule 5). No count is taken for 0.
1. A page has at most ``page_size`` items, and at most its meta's page size.
2. ``meta.page_number``, when the server sends it, is the page asked for.
3. ``meta.total_pages``, when sent, > 0 when the page has items; ``meta.total_results`` >= 0.
4. ``meta.total_pages == ceil(total_results / page size)`` (the page size of the meta
   when it is between 1 and the one asked for; ``total_pages`` 1 for 0 results is fine).
   An empty page is one its own meta puts no records on: ``total_results <= (page_number
   - 1) * page size`` (an answer that says it holds records and holds none would end the
   listing early, silently). And the first page a pass asks for holds none if it is more
   than one past the end its own meta gives (``past_end_problem``: a server that answers
   any page number with its last page; one past may, under a count that lags inserts).
5. One pass reads at most ``2 * total_pages + 2`` pages, ``total_pages`` as its first
   page announced: the listing may double while it is read, not grow without end. (A
   first page that counts nothing and gives ``total_pages`` still bounds its pass so.)
   A pass no answer counts reads at most ``MAX_EXPECTED`` records' worth of pages
   (``uncounted_bound``): a server whose full pages never run out was read for ever. And
   one whose answers count it at most ``MAX_PASS_RECORDS`` records' worth
   (``counted_bound``), whatever they count: a count of ``2**40`` was read for days.
6. A page made only of records already delivered is a replay unless the listing
   changed: ``total_results`` differs from the first page's or the page before's, or
   records of earlier pages already repeated in this pass, not a record twice in one page
   (then it is a shift: dropped, ``DriftWarning``).
   A resumed pass under the checkpoint's count may meet its first page of repeats after
   pages of records inserted since the stop: at that page, wherever it falls, the
   checkpoint's last page is read again, and holding other records than at the stop (and
   none of this page's), the listing moved while no scan ran (``_moved_since_stop``).
   Without a count nothing tells a change, so such a page is a replay.
7. Every page's meta gives the scan's first page's page size (``page_size_of``): page
   *n* starts at record ``(n - 1) * page size``, so pages of two sizes skip records
   (or repeat them), which no drift explains. A resumed scan's first page is the one
   the checkpoint's run read first (``Resume.page_size``): its next page was counted
   in pages of that size.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import operator
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from ._errors import APIError, APITimeoutError, PaginationError, RateLimitError
from ._ids import MAX_EXPECTED, DeliveredIds
from ._models import Page, PaginationMeta
from ._observe import drift_warning
from ._query import ListQuery
from ._stats import StreamStats
from ._task_groups import handing_over
from ._threads import Steps
from ._throttle import AdaptiveLimiter
from ._wording import Advice, Said

__all__ = [
    "CLIENT_WINDOW_BYTES",
    "DECODE_AHEAD",
    "HANDOVER_PAGES",
    "HELD_BYTES",
    "SHARED_MIN_PAGES",
    "WINDOW_BYTES",
    "Delivery",
    "Engine",
    "FetchPage",
    "ReadPlan",
    "Resume",
    "SharedWindow",
    "Turn",
]

_get_id = operator.attrgetter("id")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)
P = TypeVar("P")

#: What the engine hands over for each page: its number, the page with repeats removed
#: (and cut to ``limit``), and the ids of that page's items, in order (read once, for
#: dedupe; a checkpoint reuses them).
Delivery = tuple[int, Page[P], list[str]]

#: Awaited by a fetch between reading a page's answer (of the given size in bytes) and
#: decoding it: its turn.
Turn = Callable[[int], Awaitable[None]]


class FetchPage(Protocol[P]):
    """Fetch one page: (target, on_retry, turn, sent) -> the decoded page.

    ``turn``, when given, is awaited after a 2xx answer is read and before it is
    decoded: a page far ahead of the consumer waits there as its bytes. ``sent``, when
    given, is called as each attempt is sent (a slot of the limiter held).
    """

    def __call__(
        self,
        target: str,
        on_retry: Callable[[APIError], None],
        turn: Turn | None = None,
        sent: Callable[[], None] | None = None,
        /,
    ) -> Awaitable[Page[P]]: ...


#: Pages after the next to hand over that may be decoded as soon as they come in; the
#: others wait for their turn as bodies (see the module docstring).
DECODE_AHEAD = 2
#: Bytes of answers a stream may hold waiting for their turn before it asks for another
#: page: the read-ahead window is bounded in bytes as well as in pages (``read_ahead``).
HELD_BYTES = 4 * 2**20
#: Bytes the read-ahead window's pages may hold at most, each counted at the largest answer
#: so far: Telnyx's pages of 250 cards (~185 kB) fill a window of 90 pages, the largest a
#: server may send (``response_limit``, ~4.9 MiB) one of 4. Pages in flight count too:
#: 64 of those at C=32 held ~400 MB.
WINDOW_BYTES = 16 * 2**20

#: Bytes the read-ahead windows of a client's streams may hold in all, each counted as
#: ``WINDOW_BYTES`` is (``SharedWindow``): four streams reading at once keep whole windows,
#: more share this. 50 sorted listings merged at C=32 held ~19 MB each (bodies ~9), 980 MB
#: in all; within this, 560 MB, 6% slower at 50 ms a request (32 MiB: 520 MB, 19% slower).
CLIENT_WINDOW_BYTES = 4 * WINDOW_BYTES
#: Pages a stream may ask for ahead, whatever the streams sharing its client's window
#: (``SharedWindow``): its next page and one more, so that each still reads two at a time.
SHARED_MIN_PAGES = 2

#: Pages the engine may hand over ahead of the consumer. With none (a rendezvous) the
#: engine waits for the consumer at every page, and each page costs a loop turn more.
HANDOVER_PAGES = 4


class SharedWindow:
    """The read-ahead bytes of one client's streams, split evenly among those reading.

    A stream counts from its first request to its end (a stream whose reader is slow, or an
    in-order merge's that waits for the others, still holds its pages). Each keeps
    ``WINDOW_BYTES``, or an even share of ``CLIENT_WINDOW_BYTES`` when that is less
    (``pages``): the bodies many streams read at once hold stay about four windows', not one
    a stream, whatever the number of streams (but ``SHARED_MIN_PAGES`` pages each).
    """

    __slots__ = ("readers",)

    def __init__(self) -> None:
        #: Streams reading now (from their first request to their end).
        self.readers = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Count a stream as reading, until it ends (however it ends)."""
        self.readers += 1
        try:
            yield
        finally:
            self.readers -= 1

    def pages(self, window: int, largest: int) -> int:
        """The pages a stream may have asked for and not handed over, now.

        ``window`` is its own (``read_ahead``, or 1), ``largest`` its largest answer so far
        in bytes (0 before the first): as many as fit in its bytes at that size, up to
        ``window``, and at least one; its bytes are ``WINDOW_BYTES``, or its share of
        ``CLIENT_WINDOW_BYTES`` when that is less (five streams or more reading at once),
        and then at least ``SHARED_MIN_PAGES`` pages (or ``window``, if smaller).
        """
        share = CLIENT_WINDOW_BYTES // max(self.readers, 1)
        if share >= WINDOW_BYTES:
            room, least = WINDOW_BYTES, 1
        else:
            room, least = share, min(window, SHARED_MIN_PAGES)
        pages = window if not largest else min(window, -(-room // largest))  # the last may pass
        return max(pages, least)


class Resume(msgspec.Struct, frozen=True, kw_only=True):
    """Where a resumed scan starts: what the engine needs of a checkpoint."""

    next_page: int
    #: Items delivered before ``next_page`` plus those of it already yielded.
    delivered: int
    total_results: int | None
    #: Ids of the last page consumed: a record shifted across the seam is still once.
    last_ids: tuple[str, ...] = ()
    #: Ids of ``next_page`` already yielded: dropped from it silently (not drift).
    page_ids: tuple[str, ...] = ()
    complete: bool = False
    #: Records a full page held in the run the checkpoint saved (rule 7); None: not known.
    page_size: int | None = None
    #: Every id delivered before the resume point, in batches (read when the scan starts).
    earlier_ids: Callable[[], Iterable[Sequence[str]]] | None = None


# --- the pagination rules -------------------------------------------------------------
#
# A page that breaks one of these raises PaginationError: following it could loop,
# deliver a record twice or never end. Drift (records inserted or deleted while the
# listing is read) breaks none of them.


def uncounted_bound(page_size: int) -> int:
    """The most pages one pass reads when no answer counts the listing (no meta, no count).

    ``MAX_EXPECTED`` records' worth (16,777,216, the most a first page may announce and be
    believed): past that, a listing no answer counts is a server whose pages never end.
    """
    return -(-MAX_EXPECTED // page_size)


#: The most records' worth of pages one pass reads, whatever its answers count: a fleet
#: larger than this (Telnyx's largest are far smaller) is read in parts, by filters. Past
#: it, a count is a broken server's (``2**40``), whose pages would be read for days, every
#: id kept in memory and on disk.
MAX_PASS_RECORDS = 1 << 26


def counted_bound(page_size: int) -> int:
    """The most pages a pass whose answers count the listing reads (``MAX_PASS_RECORDS``)."""
    return -(-MAX_PASS_RECORDS // page_size)


def growth_bound(total_pages: int) -> int:
    """The most pages one pass reads: twice what its first page announced, plus two.

    The listing may grow while it is read (inserts push records onto later pages), but a
    pass that would read more than this is following a server whose count never settles.
    """
    return 2 * max(total_pages, 0) + 2


def page_size_of(meta: PaginationMeta, asked: int) -> int:
    """Records a full page holds: the meta's page size if smaller, else the size asked for.

    A server may cap what is asked: its pages are then full at its own size.
    """
    return meta.page_size if 0 < meta.page_size <= asked else asked


class Counts(msgspec.Struct, frozen=True, gc=False):
    """What a meta that counts the listing says (rule 0), and the records a full page holds.

    A Struct: made a few times a page, it costs a tenth of a NamedTuple (built in Python).
    """

    total_pages: int
    total_results: int
    per_page: int


def counts(page: Page[Any], asked: int) -> Counts | None:
    """The counts of ``page``'s meta (rule 0), or None when it counts nothing (or is absent)."""
    meta = page.meta
    if meta is None or meta.total_results is None:
        return None
    per_page = page_size_of(meta, asked)
    pages = meta.total_pages
    if pages is None:
        pages = max(1, -(-meta.total_results // per_page))
    return Counts(pages, meta.total_results, per_page)


def short_of_its_count(page: Page[Any], number: int, asked: int) -> bool:
    """Whether page ``number`` holds records, but fewer than its own meta puts on it."""
    counted = counts(page, asked)
    return counted is not None and _fewer_than_counted(
        len(page.data), number, counted.per_page, counted.total_results
    )


def _fewer_than_counted(size: int, number: int, per_page: int, total: int) -> bool:
    """Whether ``size`` records on page ``number`` are some, but fewer than counted there.

    Counted: ``total`` records at ``per_page`` a page.
    """
    return 0 < size < min(per_page, total - (number - 1) * per_page)


def total_results(page: Page[Any]) -> int | None:
    """``page``'s ``meta.total_results``: None when it counts nothing."""
    return None if page.meta is None else page.meta.total_results


def pages_said(page: Page[Any], counted: Counts | None) -> int | None:
    """The pages ``page``'s meta counts (``counted``), or else its ``total_pages``."""
    if counted is not None:
        return counted.total_pages
    return None if page.meta is None else page.meta.total_pages


def page_problem(number: int, page: Page[Any], page_size: int) -> str | None:
    """What is wrong with one answer on its own, or None when it is a sound page."""
    size = len(page.data)
    if size > page_size:
        return f"page {number} has {size} items, more than the page size {page_size}"
    meta = page.meta
    if meta is None:
        return None
    if meta.page_number is not None and meta.page_number != number:
        return f"page {number} was asked for and meta.page_number is {meta.page_number}"
    pages, results = meta.total_pages, meta.total_results
    if (pages is not None and pages <= 0 and size) or (results is not None and results < 0):
        said = [f"meta.{name} {value}" for name, value in _counts_sent(meta)]
        return f"page {number} has {size} items, {' and '.join(said)}"
    per_page = page_size_of(meta, page_size)
    if size > per_page:
        return f"page {number} has {size} items, more than its meta.page_size {per_page}"
    counted = counts(page, page_size)
    return None if counted is None else _count_problem(number, counted, size, pages is None)


def _counts_sent(meta: PaginationMeta) -> list[tuple[str, int]]:
    sent = [("total_pages", meta.total_pages), ("total_results", meta.total_results)]
    return [(name, value) for name, value in sent if value is not None]


def _count_problem(number: int, counted: Counts, size: int, derived: bool) -> str | None:
    """What is wrong with the counts of page ``number``, holding ``size`` items (rule 4).

    ``derived``: the meta gave no ``total_pages`` (``counts`` worked them out).
    """
    total_pages, results, per_page = counted.total_pages, counted.total_results, counted.per_page
    if derived and size < per_page and results > (number - 1) * per_page + size:
        # No total_pages to show a cap: pages short of the size asked, each read as records
        # deleted, made a server that serves 5 a page of 95 end at 50, warned as drift.
        return (
            f"page {number} has {size} items, short of {per_page} a page, while its "
            f"meta.total_results {results} puts more after it, and it gives no "
            "meta.total_pages (a server that serves fewer a page says so in meta.page_size)"
        )
    pages = -(-results // per_page)
    if total_pages != pages and not (results == 0 and total_pages == 1):
        return (
            f"page {number} says total_pages {total_pages} for total_results "
            f"{results} at {per_page} a page ({pages} pages)"
        )
    if not size and results > (number - 1) * per_page:
        return (
            f"page {number} is empty while its meta.total_results {results} "
            f"at {per_page} a page puts records on it"
        )
    return None


def past_end_problem(number: int, page: Page[Any], page_size: int) -> str | None:
    """Rule 4's mirror, for the first page a pass asks for: records its own meta ends before.

    A server that answers any page number with its last page (and no ``page_number``)
    would hand a ``start_page`` past the end, or a resume's page after the listing
    shrank, another page's records. One page past may hold some (a count that lags
    inserts); later pages only get asked for when it did (``ReadPlan.grow``). For a page
    ``page_problem`` passed: its ``total_pages`` is then what its ``total_results`` fill.
    """
    counted, size = counts(page, page_size), len(page.data)
    if counted is None or not size or not counted.total_results:
        return None
    if number <= counted.total_pages + 1:
        return None
    return (
        f"page {number}, the first asked for, holds {size} records while its "
        f"meta.total_results {counted.total_results} end at page {counted.total_pages}"
    )


class ReadPlan:
    """Where the scan is: its first page, its last page as far as the answers tell, its limit.

    And how far ahead it reads: ``read_ahead`` pages, in a window it shares with the
    client's other streams (``shared``).
    """

    __slots__ = (
        "bound",
        "bound_said",
        "cut",
        "delivered",
        "end",
        "guessed",
        "held",
        "largest",
        "limit",
        "next",
        "page_size",
        "passed_empty",
        "per_page",
        "per_page_from",
        "read_ahead",
        "shared",
        "start",
        "total",
    )

    def __init__(
        self, query: ListQuery, *, read_ahead: int = 1, shared: SharedWindow | None = None
    ) -> None:
        #: Pages the scan may have asked for ahead of the one it hands over (at most).
        self.read_ahead = read_ahead
        #: The read-ahead window it shares with its client's other streams (else its own).
        self.shared = SharedWindow() if shared is None else shared
        self.start = query.start_page
        self.page_size = query.page_size
        self.limit = query.limit
        #: The last page as far as the answers tell (None: not known yet, or no meta).
        self.end: int | None = None
        #: The pass's latest ``total_results``: a page that counts nothing is held to it.
        self.total: int | None = None
        #: The end when it is a page read only to see (after a full page that holds more
        #: records than its meta counts): no count put records there, so its being empty
        #: is the listing's end, no drift.
        self.guessed: int | None = None
        #: The empty page without meta the pass read past, if it did (``Engine._at_end``).
        self.passed_empty: int | None = None
        #: Items handed over so far (across a resume and a re-scan).
        self.delivered = 0
        #: The page the limit ended the scan in, as handed over (whatever is left of it is
        #: still to read). The page itself, not its number: a re-scan numbers its pages
        #: again, and a first-pass page of the same number still waiting for its reader was
        #: taken for it (carried, not counted done).
        self.cut: Page[Any] | None = None
        #: The last page one pass may read (see ``plan``); None without meta.
        self.bound: int | None = None
        #: Whether a meta's ``total_pages`` set ``bound`` (else the pass before, a re-scan's).
        self.bound_said = False
        #: The page being handed over: the pages just after it may be decoded.
        self.next = self.start
        #: Bytes of answers waiting for their turn to be decoded (at most about HELD_BYTES).
        self.held = 0
        #: The largest answer's bytes so far (what a page in flight may hold, WINDOW_BYTES).
        self.largest = 0
        #: Records a full page holds, as the scan's first page with meta said (rule 7).
        self.per_page: int | None = None
        #: Which page said so, for rule 7's message (a resume's: the run its checkpoint saved).
        self.per_page_from = "the scan's first page was"

    def plan(self, first: Page[Any], pages_before: int | None = None) -> None:
        """Plan a pass from its first page: its end, and the most pages it may read.

        Without meta, a re-scan is bounded by the pages the pass before it read
        (``pages_before``): it reads the same listing again, and a server that answers
        every page number with a full page would otherwise keep it reading for ever.
        """
        counted = counts(first, self.page_size)
        self.end = counted.total_pages if counted else None
        self.total = None  # a re-scan's pass counts afresh
        self.passed_empty = None
        said = pages_said(first, counted)
        self.bound_said = said is not None
        if said is not None:  # the listing's pages, from page 1: a page number
            self.bound = growth_bound(said)
        elif pages_before is not None:  # pages read from the start page: counted from there
            # (Taken as a page number, a re-scan from page 20 of a pass of 4 pages ended at
            # its first page, 10 being its bound, and recovered nothing.)
            self.bound = self.start - 1 + growth_bound(pages_before)
        else:
            self.bound = None
        self.grow(self.start, first)

    def grow(self, number: int, page: Page[Any]) -> None:
        """Move the end to what page ``number`` says: its meta's count, or what it holds.

        The listing may have grown since the first page. And a full last page that holds
        more records than its own ``total_results`` counts (a count taken apart from the
        page, under inserts) may not be the last: the next page is read to see.
        """
        meta = page.meta
        counted = None
        if meta is not None:
            # The pass's first page had no meta (a proxy's, a cache's, a glitch), or counted
            # nothing: the first page with one plans it, as that first page would have.
            # Without this, the later answers' counts were never read, and a server whose
            # pages never run out was read for ever.
            if self.per_page is None:
                self.per_page = page_size_of(meta, self.page_size)
            counted = counts(page, self.page_size)
            if self.bound is None:
                said = pages_said(page, counted)
                if said is not None:
                    self.bound, self.bound_said = growth_bound(said), True
        if counted is not None:
            self.end = (
                counted.total_pages if self.end is None else max(self.end, counted.total_pages)
            )
            if self.guessed is not None and counted.total_pages >= self.guessed:
                self.guessed = None  # a count puts records there after all
            per_page, total = counted.per_page, counted.total_results
            self.total = total
        elif self.end is None or self.total is None:
            return
        else:
            # A page that counts nothing in a pass whose earlier answers did: held to their
            # count, as one with meta is to its own (it ended a listing grown at its end).
            per_page, total = self.full_page, self.total
        held = (number - 1) * per_page + len(page.data)
        # A total of 0 with records is a meta that counts none (``{"total_pages": 1,
        # "total_results": 0}``): a full page there may not be the last either (it ended a
        # 95-record listing at 10).
        if number >= self.end and len(page.data) >= per_page and total < held:
            self.end = self.guessed = number + 1

    def size_problem(self, number: int, page: Page[Any]) -> str | None:
        """Rule 7: page ``number``'s page size, if its meta gives another than the scan's."""
        meta, per_page = page.meta, self.per_page
        if meta is None or per_page is None or page_size_of(meta, self.page_size) == per_page:
            return None
        return (
            f"page {number} says meta.page_size {meta.page_size} where {self.per_page_from} "
            f"{per_page} records a page: pages of two sizes skip or repeat records"
        )

    @property
    def full_page(self) -> int:
        """Records a full page holds: a server's cap (rule 7), else the size asked for."""
        return self.per_page or self.page_size

    def expects_records(self, number: int) -> bool:
        """Whether the answers so far put records on page ``number``: empty, it is news.

        Before the planned end, and neither the pass's first page (nothing before it put any
        there) nor a page read only to see (``guessed``).
        """
        return (
            self.end is not None and number <= self.end and number not in (self.start, self.guessed)
        )

    def last(self) -> int:
        """The last page the pass may read: ``bound``, or ``uncounted_bound`` if fewer.

        While no answer counted the listing: a ``total_pages`` of 10**15 alone, counting
        nothing, must not let full pages run for ever.
        """
        # Pages of the size the server sends (it may cap the size asked): records' worth.
        per_page = self.full_page
        if self.end is not None and self.bound is not None:
            return min(self.bound, self.start - 1 + counted_bound(per_page))
        uncounted = self.start - 1 + uncounted_bound(per_page)
        return uncounted if self.bound is None else min(self.bound, uncounted)

    def within_end(self, number: int) -> bool:
        if number > self.last():
            return False
        return self.end is None or number <= self.end

    def past_bound(self, number: int) -> bool:
        """Whether the answers say there is more after page ``number``, the last allowed.

        Their meta, or, without meta, page ``number`` being full (it did not end the pass).
        """
        last = self.last()
        return number >= last and (self.end is None or self.end > last)

    def bound_problem(self, number: int) -> str:
        """Rule 5: why a pass past its bound at page ``number`` (``past_bound``) stops."""
        if self.end is None and (self.bound is None or self.last() < self.bound):
            return (
                f"no answer counted the listing, and its pages were still full at page {number}; "
                f"a pass no answer counts reads at most {self.last():,} pages "
                f"({MAX_EXPECTED:,} records at {self.full_page} a page)"
            )
        counted = (self.bound or 2) // 2 - 1
        if self.end is not None and self.bound is not None and self.last() < self.bound:
            return (
                f"the listing counts {self.end:,} pages of {self.full_page} at page {number}; "
                f"a pass reads at most {self.last() - self.start + 1:,} pages "
                f"({MAX_PASS_RECORDS:,} records' worth): read a larger fleet in parts, by filters"
            )
        if self.end is not None:
            told = f"the listing announced {self.end} pages after announcing {counted} at the start"
        elif self.bound_said:
            told = (
                f"pages that count no records were still full at page {number}, where the "
                f"first announced {counted} pages"
            )
        else:  # a re-scan's bound, counted from its start page
            pages = (self.bound or 2) - self.start + 1
            return (
                f"a re-scan without meta still had full pages at page {number}, where the "
                f"first pass read {pages // 2 - 1}; a re-scan reads at most {pages} pages "
                "(twice the first pass's, plus two)"
            )
        return f"{told}; a pass reads at most {self.bound} (twice the first count, plus two)"

    def wants_more(self, in_flight: int) -> bool:
        """Whether the limit leaves room for another page beyond ``in_flight`` ones."""
        limit = self.limit
        return limit is None or self.delivered + in_flight * self.page_size < limit

    def room(self) -> int | None:
        """Items the limit still allows (None: no limit)."""
        return None if self.limit is None else self.limit - self.delivered

    def reached_limit(self) -> bool:
        """Whether ``limit`` stopped the scan (the listing may go on past it)."""
        return self.limit is not None and self.delivered >= self.limit


class Stamps(NamedTuple):
    """When a page was asked for and when its answer came in.

    Both on ``DriftLog.served``'s clock (the answers in by then): the bounds of the view
    of the listing the page holds.
    """

    asked: int
    answered: int


class DriftLog:
    """The engine's view of the listing changing: pages' stamps, short pages, one warning."""

    __slots__ = (
        "in_order",
        "last_served",
        "last_total",
        "limited",
        "moved_repeats",
        "moved_since_stop",
        "rescan",
        "seam_open",
        "served",
        "stats",
        "warned",
        "warnings",
    )

    def __init__(self, stats: StreamStats, *, rescan: bool = False, limited: bool = False) -> None:
        self.stats = stats
        #: Whether a second pass will read the listing again (what the warning advises), and
        #: whether a limit may end the scan before it.
        self.rescan = rescan
        self.limited = limited
        #: Whether a merge in sort order reads the stream: it cannot rescan there.
        self.in_order = False
        self.served = 0  # answers received so far: a clock for "which view is older"
        self.last_served = 0  # ... of the page delivered last, and its total_results
        self.last_total: int | None = None
        self.warned = False
        #: A resumed pass's pages repeat records because the listing moved back across the
        #: resume point while no scan ran (``Engine._moved_since_stop``), not a replay.
        self.moved_since_stop = False
        #: Records of earlier pages that a later page repeated in this pass: the listing
        #: moved. A record twice in one page is no such sign (one answer is one view).
        self.moved_repeats = 0
        #: A resumed pass that has not yet met a page of repeats: the first one it meets has
        #: the checkpoint's last page read again, to tell a replay from a move.
        self.seam_open = False
        #: Messages for the consumer to raise as ``DriftWarning`` (from its own task).
        self.warnings: list[Said] = []

    def is_stale(self, page: Page[T], stamps: Stamps) -> bool:
        """Whether ``page`` may hold an older view than the page delivered last.

        Only if the listing changed in between (their ``total_results`` differ). Answered
        before that page: older. Asked for before that page was answered, the two were
        under way at once and either may be older; counting fewer records, it may be the
        older, from before records were inserted ahead of both, only answered later: the
        records those inserts pushed from that page into this one are in neither (judged by
        answer order alone, two were lost so). Asked for after, it is newer.
        """
        total, last = total_results(page), self.last_total
        if total is None or last is None or total == last:
            return False
        return stamps.answered < self.last_served or (
            total < last and stamps.asked < self.last_served
        )

    def delivered(self, page: Page[T], stamps: Stamps) -> None:
        total = total_results(page)
        if total is not None:
            self.last_served, self.last_total = stamps.answered, total

    def check(self, page: Page[T], number: int, plan: ReadPlan) -> None:
        if _short(page, number, plan):
            self.stats.drift.short_pages += 1
        self.report()

    def report(self) -> None:
        """Warn (once, at the first sign) if anything so far says the listing changed."""
        drift = self.stats.drift
        if not self.warned and drift.detected:
            # The counts so far; stats.drift keeps counting.
            repeats, short = drift.duplicates_dropped, drift.short_pages
            first, last = drift.first_total_results, drift.last_total_results
            # Repeats, or short pages, with no change of count: no inserts (or deletes) alone
            # did it, and a repeat stands where another record was, which may then be missing.
            moved = ""
            if repeats and first == last:
                moved = (
                    "; total_results did not move, so records moved within the listing (inserts "
                    "and deletes that cancel out, a sort by a value that changes) or the server "
                    "repeated them"
                )
            elif short and first == last:
                moved = (
                    "; total_results did not move, so as many records were inserted as were "
                    "deleted, or the server sent pages shorter than its own count says"
                )
            advice, again = Advice.RESCAN, " reads the listing again for them"
            if self.rescan:
                advice, again = Advice.RESCAN_SET, f"{again} once this pass ends"
            elif self.in_order:
                advice = Advice.RESCAN_UNSORTED
            if self.limited:
                again += ", unless the pass ends at its limit"
            self.warn(
                Said(
                    f"the listing changed while it was read (so far: total_results "
                    f"{first} -> {last}, "
                    f"{repeats} repeat{'' if repeats == 1 else 's'} dropped, "
                    f"{short} short page{'' if short == 1 else 's'}",
                    Advice.DRIFT_COUNTED,
                    f"){moved}; records deleted or moved during the scan may have been missed (",
                    advice,
                    f"{again})",
                )
            )

    def warn(self, message: Said) -> None:
        if not self.warned:
            self.warned = True
            self.warnings.append(message)
            drift_warning(str(message))


def _short(page: Page[Any], number: int, plan: ReadPlan) -> bool:
    """Whether page ``number`` lost records: short or empty where a count put them.

    Short or empty before the end planned from the answers so far: records deleted. (Not
    the page's own total_pages, which shrinks with the data.) An empty first page is no
    sign: no answer before it put records there (rule 4 holds it to its own). And short
    of what its own meta puts on it, the last page too: a record deleted between the
    server's count and its page, or a server short of its own count. A page whose meta
    counts nothing is held to the pass's latest count instead.
    """
    counted, end, size = counts(page, plan.page_size), plan.end, len(page.data)
    if end is None:
        return False
    if counted is None:
        # An answer that counts nothing in a pass whose earlier answers did: judged by them.
        per_page, total = plan.full_page, plan.total
    else:
        per_page, total = counted.per_page, counted.total_results
    return (
        (size < per_page and number < end)
        or (not size and plan.expects_records(number))
        or (total is not None and _fewer_than_counted(size, number, per_page, total))
    )


class _Slot(Generic[T]):
    """One page being fetched: its result or error, and a future done when either is in."""

    __slots__ = ("done", "error", "number", "page", "stamps", "turn")

    def __init__(self, number: int, done: asyncio.Future[None]) -> None:
        self.number = number
        self.done = done
        self.page: Page[T] | None = None
        self.error: BaseException | None = None
        self.stamps = Stamps(0, 0)  # when it was asked for and answered (``Engine._fetch``)
        #: Set while the page's body waits for its turn to be decoded; done at its turn.
        self.turn: asyncio.Future[None] | None = None


class Engine(Generic[T]):
    """Reads a listing page by page and sends ``(number, page, ids)``, in order, to a memory stream.

    Holds no reference to the stream that started it, so that dropping the stream lets
    it be collected and cancel this engine. Fails by raising (``run`` is a producer).
    """

    def __init__(
        self,
        query: ListQuery,
        fetch: FetchPage[T],
        *,
        read_ahead: int,
        limiter: AdaptiveLimiter,
        stats: StreamStats,
        deadline: float | None = None,
        rescan: bool = False,
        resume: Resume | None = None,
        url_of: Callable[[str], str] = str,
        window: SharedWindow | None = None,
    ) -> None:
        self.query = query
        self.fetch = fetch
        #: A PaginationError's url, of the target asked for (the key removed from it).
        self.url_of = url_of
        self.limiter = limiter
        self.stats = stats
        self.deadline = deadline
        self.resume = resume
        self.plan = ReadPlan(query, read_ahead=read_ahead, shared=window)
        #: Every id delivered: none is ever delivered twice, whatever the server sends.
        self.delivered = DeliveredIds()
        self.drift = DriftLog(stats, rescan=rescan, limited=query.limit is not None)
        self._expected: set[str] = set()  # repeats that are no drift: a resumed page's start
        self._counting_repeats = True  # a second pass repeats the first by design
        if resume is not None:
            # Continue after the last page the consumer finished; its ids guard the seam.
            self.plan.start = resume.next_page
            self.plan.delivered = resume.delivered
            self.delivered.add(resume.last_ids)
            self._expected = set(resume.page_ids)
            self.delivered.add(resume.page_ids)
            stats.drift.first_total_results = resume.total_results
            if resume.page_size is not None:
                # next_page counts pages of the size the run before read: another size
                # would start it elsewhere in the listing (rule 7).
                self.plan.per_page = resume.page_size
                self.plan.per_page_from = (
                    "the checkpoint this scan resumes (delete it to start over) counted its "
                    "pages at"
                )

    @property
    def warnings(self) -> list[Said]:
        """Drift messages not yet raised in the consumer's task."""
        return self.drift.warnings

    async def run(self, send: MemoryObjectSendStream[Delivery[T]]) -> None:
        """Read the whole listing into ``send``; raise what fails."""
        self.stats.start()
        try:
            resume = self.resume
            if resume is not None and resume.earlier_ids is not None and not resume.complete:
                # Every id delivered before the stop, not only the last page's: records the
                # listing moved back past the resume point since are not delivered again.
                # From a file, in a thread: the loop is shared. A cancellation waits for
                # the thread (told to stop) before the id set is closed under it.
                stop = threading.Event()
                await Steps(wait=True).run(self._add_earlier, resume.earlier_ids, stop, stop=stop)
            if self.deadline is None:
                await self._read_all(send)
                return
            # Its own scope's expiry alone: a TimeoutError an on_response hook raised (a
            # socket timeout of its own) was said to be the deadline passing.
            with anyio.move_on_after(self.deadline) as scope:
                await self._read_all(send)
            if scope.cancelled_caught:
                msg = f"the listing did not finish within the {self.deadline} s deadline"
                raise APITimeoutError(msg)
        finally:
            self.delivered.close()  # its temporary files, if it wrote any

    def _add_earlier(
        self, earlier_ids: Callable[[], Iterable[Sequence[str]]], stop: threading.Event
    ) -> None:
        assert self.resume is not None  # noqa: S101  (called for a resume)
        self.delivered.size(self.resume.total_results or 0)
        for ids in earlier_ids():
            if stop.is_set():
                return
            self.delivered.add(ids)

    async def _read_all(self, send: MemoryObjectSendStream[Delivery[T]]) -> None:
        if (self.resume is not None and self.resume.complete) or self.plan.reached_limit():
            return  # a resumed scan that had ended, or had reached this limit: nothing to ask
        # Counted from before its first request to its end, however it ends: streams started
        # together each ask for their share of the client's window, not a window each as the
        # count rose (eight of them asked for 38 pages of an eighth of it, not 16).
        with self.plan.shared.reading():
            await self._read_passes(send)

    async def _read_passes(self, send: MemoryObjectSendStream[Delivery[T]]) -> None:
        """The listing's pass, and a re-scan when one was asked for and drift was seen."""
        if not await self._read(send) or not self.drift.rescan or not self.stats.drift.detected:
            return
        # Opt-in: records deleted during the scan may have shifted others past it.
        # Read the listing once more and deliver only what was never seen.
        drift = self.stats.drift
        drift.rescans += 1
        before = self.plan.delivered
        self._counting_repeats = False
        read = self.plan.next - self.plan.start + 1  # pages the first pass handed over
        self.plan.start = self.query.start_page  # a re-scan reads from the start
        await self._read(send, pages_before=read)
        drift.gaps_filled += self.plan.delivered - before

    async def _read(
        self, send: MemoryObjectSendStream[Delivery[T]], pages_before: int | None = None
    ) -> bool:
        """Read the listing once; False when ``limit`` was reached."""
        plan = self.plan
        start = plan.start
        first, stamps = await self._fetch(start)
        self._check(start, first)
        # After _check: a sound page alone.
        problem = past_end_problem(start, first, plan.page_size)
        if problem is not None:
            raise self._error(start, problem)
        counted = counts(first, plan.page_size)
        plan.plan(first, pages_before)
        if counted is not None:
            self.delivered.size(counted.total_results)
            self._first_counts(counted)
        self.drift.seam_open = self._at_seam(start)
        if not await self._deliver(send, start, first, stamps):
            return False
        if self._at_end(start, first):
            return True
        if plan.past_bound(start):
            # A start page at or past the bound its own meta sets (a bare total_pages of 1,
            # page 4 full): refused as from page 1 it is. It ended the pass in silence.
            raise self._error(start, plan.bound_problem(start))
        # Without a count the total is unknown: read one page at a time until a short one.
        window = plan.read_ahead if counted else 1
        more: bool | None = None
        async with anyio.create_task_group() as tg:
            more = await self._read_rest(tg, send, start + 1, window)
            tg.cancel_scope.cancel()
        if more is None:
            # Something else cancelled a worker (an on_response hook runs in it and may call
            # task.cancel()): the group cancelled itself and ended quietly. The listing's
            # task is cancelled so, as when that happens in it: the stream says why.
            raise asyncio.CancelledError
        return more

    async def _read_rest(
        self,
        tg: TaskGroup,
        send: MemoryObjectSendStream[Delivery[T]],
        number: int,
        window: int,
    ) -> bool:
        # A fixed pool of workers takes the pages handed out below: starting an anyio task
        # per page would cost more CPU than decoding it. The group still owns every worker.
        # A worker for each page of the window: a page waiting for its turn holds its worker
        # (its answer is decoded within its request), and the others must still fetch; the
        # client's limiter decides how many requests run at once. A worker is started each
        # time the window holds more pages than there are workers, so every page not yet
        # fetched has one, and a short listing (or a window HELD_BYTES keeps small) does
        # not pay for a large read_ahead.
        todo: asyncio.Queue[_Slot[T]] = asyncio.Queue()
        workers = 0
        loop = asyncio.get_running_loop()
        slots: deque[_Slot[T]] = deque()
        slot: _Slot[T]
        plan = self.plan
        plan.next = number
        while True:
            # Its share of the client's window now: streams start and end meanwhile.
            allowed = plan.shared.pages(window, plan.largest)
            while (
                len(slots) < allowed
                and plan.held < HELD_BYTES
                and plan.within_end(number)
                and plan.wants_more(len(slots))
            ):
                slot = _Slot(number, loop.create_future())  # not _Slot[T](): typing's call costs
                todo.put_nowait(slot)
                slots.append(slot)
                number += 1
                if len(slots) > workers:
                    tg.start_soon(handing_over(self._worker), todo)
                    workers += 1
            if not slots:
                return True
            slot = self._next_slot(slots)
            await slot.done
            if slot.error is not None:
                raise slot.error
            page, stamps = await self._take(slot)
            if not await self._deliver(send, slot.number, page, stamps):
                return False
            if self._at_end(slot.number, page):
                return True
            if plan.past_bound(slot.number):
                raise self._error(slot.number, plan.bound_problem(slot.number))

    def _next_slot(self, slots: deque[_Slot[T]]) -> _Slot[T]:
        """The next page in order; it and the DECODE_AHEAD after it may now be decoded."""
        slot = slots.popleft()
        self.plan.next = slot.number
        for waiting in itertools.chain((slot,), itertools.islice(slots, DECODE_AHEAD)):
            if waiting.turn is not None and not waiting.turn.done():
                waiting.turn.set_result(None)
        return slot

    def _at_end(self, number: int, page: Page[T]) -> bool:
        """Whether page ``number`` ends the listing early.

        An empty page does (records were deleted: stop rather than spin), and so does a
        short one when no answer of the pass has sent a count to count pages by (short of
        a meta's page size, if one gave it). One that counts nothing in a pass that has
        counts is read as the pages with counts are: a short one before the end they
        announced is records deleted (``_short``), not the end; and so is an empty one
        there, read twice (it has no count that agrees: the pages after it were dropped,
        records and all, with a warning alone). But not two in a row: the listing ends
        there, as it did (deleted to its end, or a server whose every later page is such:
        each read twice, to the end of a count that may be any size).
        """
        plan = self.plan
        if not page.data:
            if (
                total_results(page) is None  # no meta, or one that counts nothing (rule 0)
                and plan.expects_records(number)
                and plan.passed_empty != number - 1
            ):
                plan.passed_empty = number
                return False
            return True
        return plan.end is None and len(page.data) < plan.full_page

    async def _take(self, slot: _Slot[T]) -> tuple[Page[T], Stamps]:
        """A fetched page, checked, read again if stale; and when it was asked and answered."""
        page, stamps = slot.page, slot.stamps
        slot.page = None  # an idle worker still refers to its last slot: not to its page
        assert page is not None  # noqa: S101  (set with done, unless error)
        self._check(slot.number, page)
        plan, drift = self.plan, self.drift
        stale = drift.is_stale(page, stamps)
        glitched = (not page.data and plan.expects_records(slot.number)) or (
            total_results(page) == drift.last_total
            and short_of_its_count(page, slot.number, plan.page_size)
        )
        if stale or glitched:
            # Maybe an older view than the page delivered just now, and the listing changed
            # in between: records inserted since would fall between the two. Or empty where
            # the answers so far put records: it would end the listing, which one glitched
            # answer (a cache's, a replica's behind) must not do silently. Or short of what
            # its own count puts on it, that count unchanged: no deletion did that, and the
            # records it lacks would be lost with a warning alone. Read it again, once.
            # Answered after the page delivered just now, it may be the newer view, after
            # deletes: a re-read counting fewer still says so, and would pull more records
            # back past the scan; the first answer stands then.
            unsure = stale and not glitched and stamps.answered >= drift.last_served
            first, first_stamps = page, stamps
            self.stats.drift.rereads += 1
            page, stamps = await self._fetch(slot.number)
            self._check(slot.number, page)
            again, before = total_results(page), total_results(first)
            if unsure and again is not None and before is not None and again < before:
                page, stamps = first, first_stamps
        plan.grow(slot.number, page)
        counted = counts(page, plan.page_size)
        if counted is not None and self._first_counts(counted):
            # The first page had no count: the first that has one gives the counts it would
            # have (else its count read as a change from None: a drift warning for none).
            self.delivered.size(counted.total_results)
        return page, stamps

    def _first_counts(self, counted: Counts) -> bool:
        """Keep ``counted`` if they are the first counts the scan meets; whether they are.

        The listing's size in ``stats``, and the count later ones are compared with
        (``first_total_results``), unless a resumed scan's checkpoint gave that one.
        """
        stats = self.stats
        if stats.total_results is not None or stats.total_pages is not None:
            return False
        stats.total_results, stats.total_pages = counted.total_results, counted.total_pages
        if stats.drift.first_total_results is None:
            stats.drift.first_total_results = counted.total_results
        return True

    def _check(self, number: int, page: Page[T]) -> None:
        problem = page_problem(number, page, self.plan.page_size) or self.plan.size_problem(
            number, page
        )
        if problem is not None:
            raise self._error(number, problem)

    def _error(self, number: int, problem: str) -> PaginationError:
        return PaginationError(
            f"the server's pages make no sense: {problem}",
            url=self.url_of(self.query.target(number)),
            page=number,
        )

    async def _worker(self, todo: asyncio.Queue[_Slot[T]]) -> None:
        loop = asyncio.get_running_loop()
        slot: _Slot[T]

        async def turn(size: int) -> None:
            # Far ahead of the next page to hand over: wait as a body, not decoded.
            plan = self.plan
            if slot.number - plan.next > DECODE_AHEAD:
                slot.turn = loop.create_future()
                plan.held += size
                try:
                    await slot.turn
                finally:
                    plan.held -= size

        while True:
            slot = await todo.get()
            try:
                slot.page, slot.stamps = await self._fetch(slot.number, turn)
            except Exception as exc:  # noqa: BLE001  (raised in page order by _read_rest)
                slot.error = exc
            if not slot.done.done():  # cancelled along with an engine that was waiting on it
                slot.done.set_result(None)

    async def _fetch(self, number: int, turn: Turn | None = None) -> tuple[Page[T], Stamps]:
        """Page ``number``, and when it was asked for and its answer came in (``Stamps``).

        Stamped as the answer arrives, before it waits for its turn: a page answered early
        holds an older view of the listing than pages answered while it waited, whatever
        the order they are decoded in (a later stamp hid a stale page, and the records an
        insert shifted past it were lost).
        """
        drift, plan, served = self.drift, self.plan, 0
        asked = drift.served

        def sent() -> None:
            # As each attempt is sent, not as the page is planned: one waiting for a slot
            # (one request at a time) is asked for after the answers before it, and the
            # answer's view is its last attempt's.
            nonlocal asked
            asked = drift.served

        async def arrived(size: int) -> None:
            nonlocal served
            drift.served += 1
            served = drift.served
            plan.largest = max(plan.largest, size)
            if turn is not None:
                await turn(size)

        try:
            page = await self.fetch(self.query.target(number), self._on_retry, arrived, sent)
        except RateLimitError:
            self.stats.rate_limited += 1
            raise
        if not served:  # a fetch that did not call its turn: stamped now
            drift.served += 1
            served = drift.served
        stats = self.stats
        stats.pages_fetched += 1
        stats.concurrency_limit = self.limiter.limit
        stats.throttled_seconds = self.limiter.throttled_so_far()
        total = total_results(page)
        if total is not None:
            stats.drift.last_total_results = total
        return page, Stamps(asked, served)

    def _on_retry(self, exc: APIError) -> None:
        self.stats.retries += 1
        if isinstance(exc, RateLimitError):
            self.stats.rate_limited += 1

    async def _deliver(
        self,
        send: MemoryObjectSendStream[Delivery[T]],
        number: int,
        page: Page[T],
        stamps: Stamps,
    ) -> bool:
        """Drop ids already seen, cut to ``limit``, send; False when the listing is done."""
        plan, drift = self.plan, self.drift
        drift.check(page, number, plan)
        if (
            drift.seam_open
            and total_results(page) is not None  # without a count, repeats are a replay
            and self._all_repeats(page)
            and not self._changed(page)
        ):
            # The first page of repeats a resumed pass meets, wherever it falls (the first
            # pages after the stop may be records inserted since, fresh): moved, or replayed?
            drift.seam_open = False
            drift.moved_since_stop = await self._moved_since_stop(page)
        items, ids = self._fresh(page, number)
        # Its own repeats too: the last page's would be warned about by no later page.
        drift.report()
        drift.delivered(page, stamps)
        room = plan.room()
        cut = room is not None and len(items) >= room
        if room is not None and len(items) > room:
            items, ids = items[:room], ids[:room]
        if items is not page.data:
            page = msgspec.structs.replace(page, data=items)
        if cut:
            # The limit ends the scan in this page. Its rest is still to read, and so are
            # records that deletes move into it before a resume with a larger limit.
            plan.cut = page
        if items:
            try:  # no checkpoint when the consumer is already waiting: one loop pass less
                send.send_nowait((number, page, ids))
            except anyio.WouldBlock:
                await send.send((number, page, ids))
            plan.delivered += len(items)
        return not plan.reached_limit()

    def _fresh(self, page: Page[T], number: int) -> tuple[tuple[T, ...], list[str]]:
        """The page's items not yielded before, each once, and their ids; remembers them.

        A page made only of records already delivered is a replay, unless the listing
        changed (``total_results`` moved since the first page and the page before, or
        records of earlier pages already repeated in this pass: they move within it, as a
        sort by usage moves them; or, at a resumed pass's first page of repeats, the
        checkpoint's last page no longer holds its records): then it is drift, a shift of a
        page or more, dropped and warned about.
        """
        items = page.data
        ids = list(map(_get_id, items))
        expected = self._expected
        if expected:  # excused on the resumed page alone (this pass's first), not on a later
            self._expected = set()
        delivered = self.delivered
        if delivered.add_if_all_new(ids):
            return items, ids
        kept, earlier = _first_of_each(items, delivered)
        repeats = len(items) - len(kept)
        if expected:
            # The start of a resumed page, yielded before the stop: no drift. Counted by
            # place, as the repeats are: a page holding one of them twice (a glitch the stop's
            # run dropped) left one over, and every resume called the page a replay.
            started = sum(map(expected.__contains__, ids))
            repeats -= started
            earlier -= started
        if self._counting_repeats:
            if not kept and repeats and not self._changed(page):
                raise self._error(
                    number,
                    f"page {number} repeats {repeats} records already delivered while "
                    "the listing's count did not change: a replayed page (or the listing "
                    "moved by whole pages, as many records moving in ahead of the scan as "
                    "left it behind, which nothing on the page tells apart; read it again)",
                )
            self.stats.drift.duplicates_dropped += repeats
            self.drift.moved_repeats += earlier
            if not kept and repeats:
                when = (
                    "since the checkpoint this scan resumes was saved"
                    if self.drift.moved_since_stop
                    else "during the scan"
                )
                self.drift.warn(
                    Said(
                        "a whole page repeated records already read: the listing shifted by a "
                        f"page or more {when}"
                    )
                )
        kept_ids = list(map(_get_id, kept))
        delivered.add(kept_ids)
        return tuple(kept), kept_ids

    def _changed(self, page: Page[T]) -> bool:
        """Whether the listing changed while this pass read it.

        ``total_results`` moved since the first page or the page before, or records
        repeated already in this pass: they move within it, and a page of them later is
        more of the same (it was taken for a replay, and a checkpointed scan failed there
        at every resume). Or, in a resumed pass, it moved while no scan ran
        (``_moved_since_stop``): its count is the checkpoint's when as many records were
        inserted ahead of the resume point as were deleted behind it.
        """
        total = total_results(page)
        if total is None:
            if self.plan.total is None:
                # Nothing tells a change: a page of repeats is a replay. (Taken for drift, a
                # server without meta repeating one page for ever was read for ever.)
                return False
            # A page that counts nothing in a pass that has counts (a proxy dropped its
            # meta) is held to the pass's count, as elsewhere: the pass's signs of change
            # stand (it was called a replay "while the listing's count did not change",
            # though the count had moved and records had repeated).
            total = self.plan.total
        if self.drift.moved_since_stop or self.drift.moved_repeats:
            # Not a record twice in one page: no drift does that, and taken for one, a
            # server that ignored page[number] after such a page was read as drift, its
            # listing cut short with a warning instead of refused.
            return True
        first = self.stats.drift.first_total_results
        last = self.drift.last_total  # None before a page was delivered (a resume's first)
        return total != first or (last is not None and total != last)

    def _at_seam(self, number: int) -> bool:
        """Whether page ``number`` is a resume's first, after the checkpoint's last page."""
        resume = self.resume
        return (
            resume is not None
            and self._counting_repeats
            and number == resume.next_page > self.query.start_page
            and bool(resume.last_ids)
        )

    def _all_repeats(self, page: Page[T]) -> bool:
        """Whether every record of ``page`` was delivered, not only a resumed page's start.

        Stops at the first record not delivered: a page of fresh ones costs one look-up.
        """
        items, delivered = page.data, self.delivered
        if not items or not all(item.id in delivered for item in items):
            return False
        return not self._expected.issuperset(map(_get_id, items))

    async def _moved_since_stop(self, page: Page[T]) -> bool:
        """Whether the listing moved back across the resume point while no scan ran.

        A resumed pass's first page made only of records delivered before (wherever it
        falls), under the checkpoint's ``total_results``, is a replay or a shift: records
        inserted ahead of the resume point while as many were deleted behind it (the count
        the same) move records already read back onto it. Nothing on that page tells the
        two apart, so the checkpoint's last page is read again: still holding the records it
        held at the stop, the listing did not move there and this page replays them (a
        server answering page *n* with page *n - k*'s records; the fresh scan stopped at its
        first replay). Holding others, the listing moved: drift. Two pages of one listing
        share no record, so that page holding some of this one's is a server replaying one
        page under many.
        """
        resume = self.resume
        assert resume is not None  # noqa: S101  (a seam is a resume's)
        last = resume.next_page - 1
        before, _ = await self._fetch(last)
        self._check(last, before)
        self.stats.drift.rereads += 1
        held = set(map(_get_id, before.data))
        if not held.isdisjoint(map(_get_id, page.data)):
            return False
        return not held.issuperset(resume.last_ids)


def _first_of_each(items: Iterable[T], delivered: DeliveredIds) -> tuple[list[T], int]:
    """The items not delivered before, each once; and how many were delivered before."""
    fresh: set[str] = set()
    kept: list[T] = []
    earlier = 0
    for item in items:
        if item.id in delivered:
            earlier += 1
        elif item.id not in fresh:
            fresh.add(item.id)
            kept.append(item)
    return kept, earlier
