"""Messages in parts: said in the library's words (Python's), or in a reader's own.

A warning or a refusal that advises a step (``rescan=True``) or names a listing's query
(``sim_cards(page_size=40)``) is made as a ``Said``, the parts of its text; the exception or
warning has the text in the library's words as its (plain ``str``) message and keeps the parts
(``with_said``). The command line says the same message in its flags (``--rescan``,
``sim-cards --page-size 40``) from those parts (``worded``), never by rewriting the text.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Advice", "Call", "Said", "Words", "keywords", "with_said", "worded"]


class Advice(enum.Enum):
    """A step a message advises, or where it says its counts are: in the library's words."""

    #: What the drift warning advises.
    RESCAN = "rescan=True, on a stream with no checkpoint,"
    #: ... when the stream was asked to rescan.
    RESCAN_SET = "rescan=True, set on this stream,"
    #: ... when a merge in sort order reads the stream, which refuses a rescan.
    RESCAN_UNSORTED = "rescan=True, on streams merged with ordered=False,"
    #: Where the drift warning's reader finds the final counts.
    DRIFT_COUNTED = "; stats.drift has the final counts"
    #: What a merge in sort order advises when a query is out of that order.
    UNORDERED = "merge with ordered=False to take the items as their pages arrive"
    #: Where a merge's late pages are counted.
    LATE_PAGES_COUNTED = " (merged.stats.late_pages counts them)"
    #: How an export is told what to write, whatever its target's name.
    FORMAT = "format="


@dataclass(frozen=True)
class Call:
    """A listing's query as a message names it: its path and its wire parameters."""

    path: str
    params: Mapping[str, str]

    def redacted(self, redact: Callable[[str], str]) -> Call:
        """This query with each value passed through ``redact`` (a filter's may be the key)."""
        return Call(self.path, {name: redact(value) for name, value in self.params.items()})

    @property
    def listing(self) -> str:
        """The method that reads it: ``sim_cards``."""
        return self.path.strip("/")

    def arguments(self) -> Iterator[tuple[str, object]]:
        """The keyword arguments that make these parameters, with their values as given.

        ``page[size]`` is ``page_size`` (an int), ``include_sim_card_group`` a bool, a
        comma-joined status or tags a list; ``filter[x]`` is ``x``.
        """
        for name, value in self.params.items():
            keyword = _KEYWORDS.get(name) or name.removeprefix("filter[").removesuffix("]")
            given: object = value
            if name == "page[size]" and value.isdigit():
                given = int(value)
            elif name == "include_sim_card_group":
                given = value == "true"
            elif "," in value and keyword in ("status", "tags"):
                given = value.split(",")
            yield keyword, given


#: Wire parameters whose keyword is not the name inside ``filter[...]``.
_KEYWORDS = {"page[size]": "page_size"}


class Words:
    """How a reader says a message's advice and the queries it names: the library's words.

    A reader with words of its own (the command line) overrides the two methods.
    """

    def advice(self, advice: Advice) -> str:
        return advice.value

    def call(self, call: Call) -> str:
        """``sim_cards(status='enabled', page_size=40)``: the call that makes the query."""
        return f"{call.listing}({keywords(call)})"


def keywords(call: Call, *, but: Collection[str] = ()) -> str:
    """``call``'s keyword arguments, as Python writes them, but those named in ``but``.

    ``status='enabled', page_size=40``.
    """
    return ", ".join(f"{name}={value!r}" for name, value in call.arguments() if name not in but)


LIBRARY_WORDS = Words()

Part = str | Advice | Call


class Said:
    """A message in parts: ``str()`` of it is its text in the library's words.

    ``worded(words)`` says it in other words; ``finished`` gives the message as an exception
    shows it (on one line, cut), in whatever words it is said. Not a ``str`` itself: the
    exceptions and warnings that carry one (``with_said``) keep plain ``str`` messages, as
    any encoder takes them (msgspec refuses a subclass of ``str``).
    """

    __slots__ = ("finish", "parts")

    def __init__(self, *parts: Part, finish: tuple[Callable[[str], str], ...] = ()) -> None:
        self.parts = parts
        self.finish = finish

    def __str__(self) -> str:
        return self.worded(LIBRARY_WORDS)

    def __repr__(self) -> str:
        return f"Said({str(self)!r})"

    def finished(self, step: Callable[[str], str]) -> Said:
        """This message with ``step`` applied to its text, in any words it is said in."""
        return Said(*self.parts, finish=(*self.finish, step))

    def worded(self, words: Words) -> str:
        text = "".join(
            part
            if isinstance(part, str)
            else words.advice(part)
            if isinstance(part, Advice)
            else words.call(part)
            for part in self.parts
        )
        for step in self.finish:
            text = step(text)
        return text

    def __reduce__(self) -> tuple[object, ...]:
        return (_made, (self.parts, self.finish))


def _made(parts: tuple[Part, ...], finish: tuple[Callable[[str], str], ...]) -> Said:
    return Said(*parts, finish=finish)


#: The attribute an exception or a warning keeps its message's parts in (``with_said``).
_SAID = "_said"

E = TypeVar("E", bound=BaseException)


def with_said(carrier: E, said: Said) -> E:
    """``carrier`` (an exception, a warning) keeping ``said``: what its message says, in parts.

    An ``InvalidParameterError`` keeps the parts of its ``allowed``.
    """
    setattr(carrier, _SAID, said)
    return carrier


def worded(message: object, words: Words, *, otherwise: str | None = None) -> str:
    """A message in ``words``: a ``Said``, or the one an exception or a warning keeps.

    An ``InvalidParameterError`` keeps its ``allowed``'s. One with no parts is ``otherwise``,
    if given, else its ``str``.
    """
    said = message if isinstance(message, Said) else getattr(message, _SAID, None)
    if isinstance(said, Said):
        return said.worded(words)
    return str(message) if otherwise is None else otherwise
