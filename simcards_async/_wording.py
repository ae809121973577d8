"""Messages in parts: said in the library's words (Python's), or in a reader's own.

A warning or a refusal that advises a step (``rescan=True``) or names a listing's query
(``sim_cards(page_size=40)``) is a ``Said``: its text in the library's words, and the parts
it was made of. The command line says the same message in its flags (``--rescan``,
``sim-cards --page-size 40``) from those parts, never by rewriting the library's text.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["Advice", "Call", "Said", "Words", "keywords", "worded"]


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


class Said(str):
    """A message: its text in the library's words, and the parts it was made of.

    It is that text wherever a ``str`` is (an exception's message, a warning's, a log
    line); ``worded(words)`` says it in other words. ``finished`` gives the message as
    an exception shows it (on one line, cut), in whatever words it is said.
    """

    __slots__ = ("finish", "parts")

    parts: tuple[Part, ...]
    finish: tuple[Callable[[str], str], ...]

    def __new__(cls, *parts: Part) -> Said:
        return cls._made(parts, ())

    @classmethod
    def _made(cls, parts: tuple[Part, ...], finish: tuple[Callable[[str], str], ...]) -> Said:
        said = super().__new__(cls, _finished(_joined(parts, LIBRARY_WORDS), finish))
        said.parts = parts
        said.finish = finish
        return said

    def finished(self, step: Callable[[str], str]) -> Said:
        """This message with ``step`` applied to its text, in any words it is said in."""
        return self._made(self.parts, (*self.finish, step))

    def worded(self, words: Words) -> str:
        return _finished(_joined(self.parts, words), self.finish)

    def __reduce__(self) -> tuple[object, ...]:
        return (Said._made, (self.parts, self.finish))


def _joined(parts: tuple[Part, ...], words: Words) -> str:
    return "".join(
        part
        if isinstance(part, str)
        else words.advice(part)
        if isinstance(part, Advice)
        else words.call(part)
        for part in parts
    )


def _finished(text: str, finish: tuple[Callable[[str], str], ...]) -> str:
    for step in finish:
        text = step(text)
    return text


def worded(message: object, words: Words) -> str:
    """A message (a text, a warning, an error) in ``words``, when it was said in parts.

    Any other message is its ``str``.
    """
    text = message
    if isinstance(message, BaseException) and len(message.args) == 1:
        text = message.args[0]
    return text.worded(words) if isinstance(text, Said) else str(message)
