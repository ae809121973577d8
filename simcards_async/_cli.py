"""The ``simcards`` command: parse arguments, call the public API, report on stderr.

::

    simcards export sim-cards --status enabled --tag customers --output cards.csv
    simcards export sim-card-actions --action-type enable --output actions.parquet
    simcards export sim-cards --demo -o cards.jsonl  # from an in-process mock server, no key
    simcards mock-server --port 0                    # serve the mock API until Ctrl-C

Flag values are not checked here beyond their type: the library validates them,
as it would for any caller, and its messages are told in the flags' names.
The exit statuses are ``EXIT_CODES`` (listed by ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import errno
import functools
import io
import logging
import math
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, BinaryIO, NoReturn, TextIO, TypeVar

if sys.platform != "win32":  # no descriptor flags to read there
    import fcntl

from . import (
    APIError,
    AuthenticationError,
    DriftWarning,
    ExportFormat,
    ExportResult,
    InvalidParameterError,
    MergedStream,
    NotFoundError,
    PageStream,
    Progress,
    SimCard,
    SimCardAction,
    SimCardsClient,
    TelnyxError,
    __version__,
    export,
    merge,
)
from ._errors import folded, printable, shown
from ._export import (
    ALLOWED_SUFFIXES,
    NOT_RESUMABLE_WHY,
    RESUMABLE_FORMATS,
    import_pyarrow,
    resolve_format,
)
from ._observe import env_log_handler_set_aside, env_log_level
from ._open_files import RESERVED
from ._open_files import at_least as open_files_at_least
from ._output import check_output_path
from ._page_stream import CHECKPOINT_EVERY, CHECKPOINT_SECONDS
from ._query import MAX_PAGE_SIZE, SIM_CARD_SORTS, SIM_CARD_STATUSES
from ._stream import Stream
from ._wording import Advice, Call, Words, worded
from ._writes import write_text

__all__ = ["main"]

PROG = "simcards"
#: Seconds a command stopped by a signal waits for its threads before it leaves without them.
STOP_GRACE = 3.0
#: The signals that stop a command as a cancellation would (Ctrl-C exits 130, SIGTERM 143,
#: SIGHUP 129: the terminal or the ssh session closed), those the platform has.
STOP_SIGNALS = tuple(
    signal.Signals[name] for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: The stop signals but Ctrl-C: handled by ``_terminable`` itself, each raising ``_Terminated``.
TERMINATING_SIGNALS = tuple(sig for sig in STOP_SIGNALS if sig != signal.SIGINT)
#: The sorts whose value starts with '-', which argparse takes for a flag after ``--sort``.
DESCENDING_SORTS = frozenset(sort for sort in SIM_CARD_SORTS if sort.startswith("-"))
#: How close a refused value must be to an allowed one for a "did you mean" (difflib ratio).
GUESS_CUTOFF = 0.75
#: Cards and actions the ``--demo`` server holds unless ``--demo-size`` says otherwise.
DEMO_SIZE = 25_000
#: Latency of every answer of the ``--demo`` server: enough to look like a real API.
DEMO_LATENCY = 0.04
#: The key sent to the ``--demo`` server, which is local and checks nothing.
DEMO_API_KEY = "KEYsimcards-demo"
#: Shortest time between two redraws of the progress bar.
REDRAW_INTERVAL = 0.1
#: Time between two redraws of the progress bar while no page comes (its clock, its rate
#: and a rate-limit pause's countdown move on).
TICK_INTERVAL = 0.5

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: 128 + the signal's number, as a shell reports a command a signal ended.
EXIT_HUNG_UP, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 129, 130, 141, 143

#: Every exit status of ``simcards``, as ``--help`` lists them.
EXIT_CODES = f"""exit status:
  {EXIT_OK:<4} done
  {EXIT_FAILED:<4} the API or the output failed (a target file is left as it was)
  {EXIT_USAGE:<4} usage error: a flag or value refused, no API key, an output refused;
       nothing was sent
  {EXIT_HUNG_UP:<4} hung up: SIGHUP (the terminal or the ssh session closed), which ends an
       export as Ctrl-C does; not when started with it ignored (nohup)
  {EXIT_INTERRUPTED:<4} interrupted by Ctrl-C (SIGINT); another one while it stops is ignored;
       not when started with it ignored (a shell's background job)
  {EXIT_BROKEN_PIPE:<4} the reader of stdout went away (a broken pipe, as with '| head'); quiet
  {EXIT_TERMINATED:<4} terminated by SIGTERM, which ends an export as Ctrl-C does
"""

#: The flag a library parameter is set by, for messages in the words the user typed.
FLAGS = {
    "status": "--status",
    "tags": "--tag",
    "iccid": "--iccid",
    "msisdn": "--msisdn",
    "sim_card_group_id": "--group-id",
    "include_sim_card_group": "--include-sim-card-group",
    "sort": "--sort",
    "sim_card_id": "--sim-card-id",
    "bulk_sim_card_action_id": "--bulk-action-id",
    "action_type": "--action-type",
    "page_size": "--page-size",
    "limit": "--limit",
    "rescan": "--rescan",
    "max_concurrency": "--max-concurrency",
    "timeout": "--timeout",
    "max_retries": "--max-retries",
    "api_key": "--api-key",
    "base_url": "--base-url",
    "format": "--format",
    "target": "-o/--output",
    "checkpoint": "--checkpoint",
    "resume_from": "--checkpoint",
}

#: The environment variable a flag falls back to: a message names it when it gave the value.
ENVIRONMENT = {"api_key": "TELNYX_API_KEY", "base_url": "TELNYX_BASE_URL"}

#: What an OS error means, in words; the others use the system's own text.
_OS_REASONS = {
    errno.EISDIR: "it is a directory",
    errno.ENOENT: "no such file or directory (is the directory there?)",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
}

log = logging.getLogger("simcards_async.cli")

_Run = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


# --- the parser ---------------------------------------------------------------------


class _Once(argparse._StoreAction):  # noqa: SLF001  (argparse's own "store", checked)
    """``store``, refusing a second value: a repeated one-value flag is a usage error.

    argparse keeps the last of ``--status completed --status failed`` and drops the rest
    without a word; a flag that takes one value says so instead (exit 2).
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,  # noqa: ANN401  (argparse's signature)
        option_string: str | None = None,
    ) -> None:
        given: set[str] = vars(namespace).setdefault("_given", set())
        if self.dest in given:
            raise argparse.ArgumentError(self, "takes one value; it was given twice")
        given.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and its subcommands') whose one-value flags refuse a repeat.

    Flags are taken whole only: argparse's prefixes (``--lim`` for ``--limit``) would make a
    script's abbreviation mean another flag, or fail, once a new flag shares its prefix.
    A usage error is told on stderr, or nowhere (``error``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401  (argparse's)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.register("action", None, _Once)
        self.register("action", "store", _Once)

    def error(self, message: str) -> NoReturn:
        """A usage error (exit 2): argparse's usage and message, on stderr only.

        argparse prints the usage with ``print_usage(sys.stderr)``, which writes to stdout
        when ``sys.stderr`` is None (started with ``2>&-``): into the records, when they go
        there. With stderr closed, what it would say is lost, as every other message is.
        """
        if sys.stderr is None:
            self.exit(EXIT_USAGE)
        if message == "argument --sort: expected one argument":  # a misspelled -current_…
            message += " (descending: --sort -current_billing_period_consumed_data.amount)"
        refused = _REFUSED.fullmatch(message)
        if refused is not None:  # one line, as the library's refusals: no usage above it
            self.exit(
                EXIT_USAGE, f"{PROG}: error: invalid {refused['flag']} value {refused['said']}\n"
            )
        super().error(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="List Telnyx SIM cards and SIM card actions, fast, and export them "
        "as JSON lines, CSV or Parquet.",
        epilog="Run 'simcards export sim-cards --demo -o cards.jsonl' to try it without an API "
        "key.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do"
    )

    exporter = commands.add_parser(
        "export",
        help="export a listing to a file or stdout",
        description="Export every record of a listing, read concurrently and written in order.",
    )
    listings = exporter.add_subparsers(
        dest="listing", required=True, metavar="LISTING", help="which listing to export"
    )

    cards = listings.add_parser(
        "sim-cards",
        help="export SIM cards (GET /sim_cards)",
        description="Export SIM cards (GET /sim_cards), filtered as the API allows.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    filters = cards.add_argument_group("filters")
    filters.add_argument(
        "--status",
        action="append",
        help="only cards with this status (enabled, disabled, standby, data_limit_exceeded, "
        "unauthorized_imei); repeat for any of several",
    )
    filters.add_argument(
        "--tag",
        action="append",
        help="only cards with this tag; repeat to require all of several",
    )
    filters.add_argument("--iccid", help="only cards whose ICCID contains this text")
    filters.add_argument("--msisdn", help="only the card with this MSISDN (phone number)")
    filters.add_argument(
        "--group-id", metavar="UUID", help="only cards in the SIM card group with this UUID"
    )
    filters.add_argument(
        "--include-sim-card-group",
        action="store_true",
        help="embed each card's SIM card group (fills the sim_card_group_* CSV columns)",
    )
    filters.add_argument(
        "--sort",
        help="order by current_billing_period_consumed_data.amount; descending: "
        "--sort -current_billing_period_consumed_data.amount",
    )
    filters.add_argument(
        "--any",
        action="append",
        metavar="KEY=VALUE",
        help="export the union of several queries: each --any is one query, the other filters "
        "AND this one (KEY: status, tag, iccid, msisdn, group-id); e.g. "
        "--any status=standby --any tag=vip exports cards in standby or tagged vip, each once. "
        "A tag adds to --tag; a filter flag that a term sets again is refused. --limit caps "
        "the union, --sort sorts it (equal amounts in the order of the terms)",
    )
    _add_common_flags(cards, rescan_not_with="--checkpoint, nor with --sort and --any")
    cards.set_defaults(run=_export_sim_cards, usage_of=cards)

    actions = listings.add_parser(
        "sim-card-actions",
        help="export SIM card actions (GET /sim_card_actions)",
        description="Export SIM card actions (GET /sim_card_actions), filtered as the API allows.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    filters = actions.add_argument_group("filters")
    filters.add_argument(
        "--sim-card-id", metavar="UUID", help="only actions on the SIM card with this UUID"
    )
    filters.add_argument(
        "--status", help="only actions with this status (in-progress, completed, failed)"
    )
    filters.add_argument(
        "--bulk-action-id",
        metavar="UUID",
        help="only actions of the bulk SIM card action with this UUID",
    )
    filters.add_argument(
        "--action-type",
        metavar="TYPE",
        help="only actions of this type (enable, enable_standby_sim_card, disable, set_standby, "
        "remove_public_ip, set_public_ip)",
    )
    _add_common_flags(actions, rescan_not_with="--checkpoint")
    actions.set_defaults(run=_export_sim_card_actions, usage_of=actions)

    mock = commands.add_parser(
        "mock-server",
        help="serve the mock Telnyx API until interrupted",
        description="Serve a mock of the Telnyx SIM card listings on HTTP; print its base URL "
        "on a line of its own and serve until Ctrl-C.",
    )
    mock.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    mock.add_argument(
        "--port",
        type=_integer,
        default=8080,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    mock.add_argument(
        "--sim-cards",
        type=_integer,
        metavar="N",
        default=DEMO_SIZE,
        help="SIM cards to serve (default: %(default)s)",
    )
    mock.add_argument(
        "--actions",
        type=_integer,
        metavar="N",
        default=DEMO_SIZE,
        help="SIM card actions to serve (default: %(default)s)",
    )
    mock.add_argument(
        "--seed",
        type=_integer,
        metavar="S",
        default=1,
        help="seed of the generated data (default: %(default)s)",
    )
    mock.add_argument(
        "--latency-ms",
        type=_number,
        metavar="MS",
        default=0.0,
        help="delay before every answer, in milliseconds (default: %(default)s)",
    )
    broken = mock.add_argument_group(
        "misbehaviour", "break the API's contract like real broken servers (all off by default)"
    )
    broken.add_argument(
        "--ignore-page-number",
        action="store_true",
        help="answer every page[number] with page 1's records",
    )
    broken.add_argument(
        "--replay-lag",
        type=_integer,
        default=0,
        metavar="N",
        help="answer page n with the records of page n-N (a replay)",
    )
    broken.add_argument(
        "--total-pages",
        type=_integer,
        metavar="N",
        help="send this meta.total_pages whatever total_results says (e.g. 1000000000, 0, -1)",
    )
    broken.add_argument(
        "--endless",
        action="store_true",
        help="fill pages past the last one with fresh records (new ids on every page)",
    )
    broken.add_argument(
        "--page-number-offset",
        type=_integer,
        default=0,
        metavar="N",
        help="send meta.page_number = the page asked for + N",
    )
    broken.add_argument(
        "--oversize-pages",
        type=_integer,
        default=0,
        metavar="N",
        help="put N records more than page[size] on every page",
    )
    broken.add_argument(
        "--huge-body-bytes",
        type=_integer,
        default=0,
        metavar="N",
        help="pad every 200 to N bytes of valid JSON, streamed chunked",
    )
    broken.add_argument(
        "--gzip-bomb-bytes",
        type=_integer,
        default=0,
        metavar="N",
        help="send every 200 gzip-compressed, inflating to N bytes of valid JSON",
    )
    broken.add_argument(
        "--ok-without-data",
        choices=("empty", "errors"),
        help="answer 200 with {} (empty) or with only an errors array (errors)",
    )
    broken.add_argument(
        "--redirect",
        metavar="LOCATION",
        help="answer 302 to this Location: bad-ipv6, bad-port, userinfo, or any text verbatim",
    )
    broken.add_argument(
        "--error-detail-bytes",
        type=_integer,
        default=0,
        metavar="N",
        help="answer 500 with an error detail N bytes long",
    )
    broken.add_argument(
        "--echo-authorization",
        action="store_true",
        help="answer 401 repeating the request's Authorization header in the error body",
    )
    broken.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="add or replace this header on every answer, e.g. 'x-ratelimit-remaining: inf' "
        "(repeatable)",
    )
    mock.set_defaults(run=_mock_server, usage_of=mock)
    return parser


def _add_common_flags(common: argparse.ArgumentParser, *, rescan_not_with: str) -> None:
    output = common.add_argument_group("output")
    output.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="file to write, replaced only once the export is complete; '-' for stdout "
        "(with no -o, data goes to stdout only when it is not a terminal)",
    )
    output.add_argument(
        "--format",
        metavar="FORMAT",
        help="jsonl, json, csv, parquet, jsonl.gz, json.gz or csv.gz (default: from the "
        f"output's suffix, {ALLOWED_SUFFIXES}; jsonl to stdout); needed for any other suffix",
    )
    output.add_argument(
        "--limit",
        type=_integer,
        metavar="N",
        help="stop after this many records (default: all of them)",
    )
    output.add_argument(
        "--rescan",
        action="store_true",
        help="if the listing changed while it was read (the drift warning), read it a second "
        f"time for records that deletions moved past the first pass; not with {rescan_not_with}",
    )
    output.add_argument(
        "--checkpoint",
        metavar="FILE",
        help=f"record progress in FILE every {CHECKPOINT_SECONDS:g} s (or every "
        f"{CHECKPOINT_EVERY} pages, if sooner) and when the API fails, and keep the partial "
        "output if the export is interrupted (a Ctrl-C keeps the last save: the pages read "
        f"since, {CHECKPOINT_SECONDS:g} s of them at most, are read again); "
        "run the same command again to "
        "resume where it stopped (any format but Parquet, to a file; FILE is removed once the "
        "export is complete, at the listing's end or at --limit)",
    )
    output.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no summary on stderr"
    )
    output.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log what the library does to stderr, above the progress bar: -v for INFO, "
        "-vv for DEBUG (each request); TELNYX_LOG=info or debug asks for the same",
    )
    output.add_argument("--debug", action="store_true", help="show a traceback on errors")

    api = common.add_argument_group("API")
    api.add_argument(
        "--api-key",
        metavar="KEY",
        help="Telnyx API key (default: the TELNYX_API_KEY environment variable)",
    )
    api.add_argument(
        "--base-url",
        metavar="URL",
        help="API base URL (default: the TELNYX_BASE_URL environment variable, "
        "else https://api.telnyx.com/v2)",
    )
    api.add_argument(
        "--page-size",
        type=_integer,
        metavar="N",
        help="records per request, 1 to 250 (default: 250)",
    )
    api.add_argument(
        "--max-concurrency",
        type=_integer,
        metavar="N",
        help="most requests in flight at once (default: 8)",
    )
    api.add_argument(
        "--timeout",
        type=_number,
        metavar="SECONDS",
        help="the most one request may take, a number > 0 (default: 30); a request that "
        "takes longer is retried",
    )
    api.add_argument(
        "--max-retries",
        type=_integer,
        metavar="N",
        help="retries of a request that failed for a reason that may pass (a 429, a 5xx, "
        "a dropped connection, a timeout), with backoff; 0 to fail at once (default: 4)",
    )

    demo = common.add_argument_group("demo")
    demo.add_argument(
        "--demo",
        action="store_true",
        help="export from a mock Telnyx server started in-process (about 40 ms per answer); "
        "needs no key, ignores --api-key and --base-url",
    )
    demo.add_argument(
        "--demo-size",
        type=_count,
        metavar="N",
        help=f"SIM cards and SIM card actions the --demo server holds (default: {DEMO_SIZE})",
    )


#: What ``_integer`` takes: ASCII digits, with an optional sign.
_INTEGER = re.compile(r"[+-]?[0-9]+")
#: The most digits ``_integer`` reads: Python's ``int`` refuses more than 4,300 (a bare
#: ValueError); no flag's range comes near.
_INTEGER_DIGITS = 4300


def _integer(text: str) -> int:
    """An argparse type: an integer in ASCII digits, signed or not (else exit 2).

    ``int`` alone also took ``5_0`` for 50, digits of other scripts (fullwidth,
    Arabic-Indic) and spaces around the number. What the flag's value may range over
    is the library's to say, once it is a number.
    """
    if not _INTEGER.fullmatch(text):
        raise _ValueRefused(text, "an integer (ASCII digits)")
    if len(text.lstrip("+-")) > _INTEGER_DIGITS:
        raise _ValueRefused(text, f"an integer of at most {_INTEGER_DIGITS:,} digits")
    return int(text)


#: What ``_number`` takes: a decimal number in ASCII digits, with an optional sign and exponent.
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _number(text: str) -> float:
    """An argparse type: a number in ASCII digits, with a sign or an exponent (else exit 2).

    ``float`` alone also took ``1_0``, other scripts' digits and spaces around the number,
    and its refusals were said in argparse's words under its usage block.
    """
    if not _NUMBER.fullmatch(text):
        raise _ValueRefused(text, "a number (ASCII digits)")
    return _Typed(text)


class _Typed(float):
    """A flag's number, said back as typed by a refusal of it.

    As a float, ``--timeout 0`` was "value 0.0", and ``--timeout 1e999`` "value inf".
    """

    __slots__ = ("_text",)
    _text: str

    def __new__(cls, text: str) -> _Typed:
        number = super().__new__(cls, text)
        number._text = text
        return number

    def __repr__(self) -> str:
        return self._text


def _count(text: str) -> int:
    """An argparse type: an integer >= 0 (a bad one is a usage error, exit 2)."""
    value = _integer(text)
    if value < 0:
        raise _ValueRefused(text, "an integer >= 0")
    return value


class _ValueRefused(argparse.ArgumentTypeError):
    """A flag's value its type refused: said as the library's refusals are (``_Parser.error``)."""

    def __init__(self, value: str, allowed: str) -> None:
        super().__init__(f"{_REFUSED_MARK}{shown(value)}: it must be {allowed}")


#: How a ``_ValueRefused`` message starts, for ``_Parser.error`` to find it in argparse's.
_REFUSED_MARK = "refused value "
_REFUSED = re.compile(rf"argument (?:\S+/)?(?P<flag>\S+): {_REFUSED_MARK}(?P<said>.*)", re.DOTALL)


# --- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the ``simcards`` command with ``argv`` (default: ``sys.argv[1:]``); return its status."""
    try:
        args = _parsed(_descending_sorts_joined(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _run(args)
    except KeyboardInterrupt:
        # Ctrl-C is how a mock server is meant to stop; an export it interrupts.
        return EXIT_OK if args.command == "mock-server" else EXIT_INTERRUPTED


def _parsed(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed; a flag the command does not know refused with the command's usage.

    argparse leaves a subcommand's unknown arguments to the top-level parser, whose usage
    line (``simcards [-h] [--version] COMMAND ...``) says nothing of the command's flags.
    """
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        getattr(args, "usage_of", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _descending_sorts_joined(argv: list[str]) -> list[str]:
    """``--sort -current_billing…`` as ``--sort=-current_billing…``.

    argparse takes a value starting with '-' for a flag ("expected one argument"), and this
    is how a descending sort is most likely written. Only a listed sort is joined: a
    ``--sort`` before a flag still reads as one without its value.
    """
    joined: list[str] = []
    at = 0
    cards = False  # only ``export sim-cards`` has --sort
    while at < len(argv):
        if argv[at] == "--":  # the rest are not flags
            return joined + argv[at:]
        cards = cards or argv[at] == "sim-cards"
        if (
            cards
            and argv[at] == "--sort"
            and argv[at + 1 : at + 2]
            and (argv[at + 1] in DESCENDING_SORTS)
        ):
            joined.append(f"--sort={argv[at + 1]}")
            at += 2
            continue
        joined.append(argv[at])
        at += 1
    return joined


class _UsageError(Exception):
    """A command line that cannot be run as given: its message is the one line shown."""


class _Terminated(Exception):  # noqa: N818  (a signal, not an error)
    """SIGTERM or SIGHUP arrived, and the command was cancelled as Ctrl-C would cancel it.

    It exits ``status``: 128 + the signal's number, as a shell reports a command it ended.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.status = 128 + signum


class _Interrupted(Exception):  # noqa: N818  (a signal, not an error)
    """Ctrl-C (SIGINT) arrived, and the command was cancelled: it cleaned up and stopped."""


_T = TypeVar("_T")


async def _terminable(work: Coroutine[Any, Any, _T]) -> _T:
    """Run ``work``; a stop signal (``STOP_SIGNALS``) cancels it, once, and raises why it stopped.

    ``_Terminated`` for SIGTERM or SIGHUP, ``_Interrupted`` for SIGINT, after ``work`` cleaned
    up as a cancellation does. Another Ctrl-C while it cleans up, and until the loop is closed,
    is ignored: a ``KeyboardInterrupt`` raised there (Python's default) cut the clean-up
    short (a temporary file left, a session unclosed) or left the loop half closed, with a
    traceback at exit. ``_run`` restores the SIGINT handler once the loop is closed, unless
    a signal stopped the command: then the stop signals stay ignored (see ``_run``).
    A stop signal the command was started with ignored (``nohup``; SIGINT in a shell's
    background job) stays ignored.
    """
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    stopped: list[Exception] = []

    def stop(why: Exception) -> None:
        if not stopped and task is not None:
            task.cancel()
        stopped.append(why)

    def terminate(signum: int, _frame: object) -> None:
        loop.call_soon_threadsafe(stop, _Terminated(signum))

    # Signal handlers belong to the main thread (tests call main() from others).
    handled = threading.current_thread() is threading.main_thread()
    if handled:
        # SIGTERM's and SIGHUP's handlers are set here, not by the loop, whose removal sets
        # the default (which kills) for a moment: a SIGTERM then taken by another thread (a
        # worker's; the main thread holds them back meanwhile) killed the process, status
        # -15. The loop's own SIGINT handler wakes the loop for all (one wake-up fd).
        before = _handle_terminating(terminate)
        # Started with Ctrl-C ignored (a shell's background job: a Ctrl-C at the script is
        # not for it), it stays ignored, as SIGTERM and SIGHUP do under nohup.
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            loop.add_signal_handler(signal.SIGINT, stop, _Interrupted())
    try:
        return await work
    except asyncio.CancelledError:
        if stopped:
            raise stopped[0] from None
        raise
    finally:
        if handled:
            with _held(STOP_SIGNALS):
                # Straight from one handler to the next, never the default. Stopped, they
                # stay ignored on the way out (see _run).
                for sig, handler in before.items():
                    signal.signal(sig, signal.SIG_IGN if stopped else _settable(handler))
                _ignore_sigint(loop, stopped=bool(stopped))


def _ignore_sigint(loop: asyncio.AbstractEventLoop, *, stopped: bool) -> None:
    """Take SIGINT from the loop and ignore it until the loop is closed.

    The loop gives it Python's default for a moment (``KeyboardInterrupt``). The main thread
    holds the signal back meanwhile, but another thread (a worker's) can take it, and the
    main thread then runs the handler of that moment: a second signal while the command
    stopped became its ``KeyboardInterrupt``, 130 after a SIGTERM (143). Stopped, that one is
    ignored as any other; else it stands, a Ctrl-C as the command ended.
    """
    try:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Cut short inside, the removal may not have let go of the loop's wake-up fd, as it
        # does once the loop handles no signal (SIGINT was its only one).
        signal.set_wakeup_fd(-1)
        if not stopped:
            raise


def _handle_terminating(handler: Callable[[int, Any], None]) -> dict[signal.Signals, Any]:
    """Set ``handler`` for ``TERMINATING_SIGNALS``; give back the handlers they had.

    Not for one the command was started with ignored: under ``nohup`` it is meant to
    outlive its terminal, and a SIGHUP ended it.
    """
    before: dict[signal.Signals, Any] = {sig: signal.getsignal(sig) for sig in TERMINATING_SIGNALS}
    for sig, was in before.items():
        if was is not signal.SIG_IGN:
            signal.signal(sig, handler)
    return before


def _settable(handler: Any) -> Any:  # noqa: ANN401  (a signal handler, of several types)
    """``handler`` as ``signal.signal`` takes it: None (one not set from Python) is the default."""
    return signal.SIG_DFL if handler is None else handler


@contextlib.contextmanager
def _held(signals: Iterable[signal.Signals]) -> Iterator[None]:
    """Hold back ``signals`` meanwhile: one that arrives is delivered at the end, if at all."""
    if not hasattr(signal, "pthread_sigmask"):  # not on Windows, which has no such signals
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _run(args: argparse.Namespace) -> int:  # noqa: PLR0911  (a return per exit status)
    run: _Run = args.run
    debug: bool = getattr(args, "debug", False)
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} if main_thread else {}
    threads_before = set(threading.enumerate())
    stopped: int | None = None  # the status a signal stops the command with
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", DriftWarning)
            warnings.showwarning = _show_plain_warning
            return asyncio.run(_terminable(run(args)))
    except _Terminated as exc:
        stopped = exc.status
        return stopped
    except _Interrupted:
        # Ctrl-C is how a mock server is meant to stop; an export it interrupts.
        stopped = EXIT_OK if args.command == "mock-server" else EXIT_INTERRUPTED
        return stopped
    except _UsageError as exc:
        return _fail(exc, str(exc), EXIT_USAGE, debug=debug)
    except InvalidParameterError as exc:
        return _fail(exc, _usage_message(exc), EXIT_USAGE, debug=debug)
    except BrokenPipeError:
        # The reader of stdout went away (say `| head`): stop quietly, as a tool that
        # SIGPIPE ends does, and keep Python from complaining when it flushes stdout.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except TelnyxError as exc:
        return _fail(exc, _api_message(exc, args), EXIT_FAILED, debug=debug)
    except OSError as exc:
        return _fail(exc, _os_message(exc), EXIT_FAILED, debug=debug)
    except (ImportError, ValueError) as exc:
        return _fail(exc, str(exc), EXIT_FAILED, debug=debug)
    finally:
        if handlers:
            _wind_up(handlers, threads_before, stopped)


def _wind_up(
    handlers: dict[signal.Signals, Any], threads_before: set[threading.Thread], stopped: int | None
) -> None:
    """Wait for the run's threads, then give the signal handlers back (see ``_give_back``).

    Ctrl-C is still ignored meanwhile. After a signal (``stopped``: its status), not for
    ever: a write to an output nobody reads (a stalled ``| consumer``) holds its thread, and
    the interpreter would wait for it at exit; the process leaves with the status instead.
    """
    if stopped is None:
        _join_threads_since(threads_before)
    elif not _join_threads_since(threads_before, STOP_GRACE):
        _leave(stopped)
    _give_back(handlers, stopped=stopped is not None)


def _give_back(handlers: dict[signal.Signals, Any], *, stopped: bool) -> None:
    """Give the signal handlers back once the loop is closed (SIGINT ignored while it closed).

    Not after a signal stopped the command: the process is on its way out, and another
    Ctrl-C or SIGTERM stays ignored until it exits, with the first signal's status (given
    back, the default handlers killed it by the second signal instead).
    """
    if stopped:
        return
    for sig, handler in handlers.items():
        if handler is not None:  # None: a handler not set from Python, which cannot be set back
            signal.signal(sig, handler)


def _join_threads_since(before: set[threading.Thread], grace: float | None = None) -> bool:
    """Wait for the non-daemon threads started since ``before``; whether they all ended.

    Up to ``grace`` seconds in all (None: for as long as they take). They are anyio's
    workers. They were told to stop as the loop closed, and the interpreter waits for them at exit:
    a Ctrl-C during that wait, its handler given back, raised ``KeyboardInterrupt`` there.
    """
    deadline = None if grace is None else time.monotonic() + grace
    for thread in set(threading.enumerate()) - before:
        if not thread.daemon:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
    return True


def _leave(status: int) -> NoReturn:
    """Exit with ``status`` now, a thread still blocked in a write (see ``_wind_up``).

    Not through the interpreter's exit, which waits for that thread: only after a stop
    signal, with a thread stuck, does a command end its process so. Logging and standard
    error are flushed first; standard output is what the thread is writing to (never waited
    on), and other exit handlers (an OpenTelemetry exporter's) do not run.
    """
    with contextlib.suppress(Exception):
        logging.shutdown()
        if sys.stderr is not None:
            sys.stderr.flush()
    os._exit(status)


def _fail(exc: BaseException, message: str, status: int, *, debug: bool) -> int:
    if debug and sys.stderr is not None:  # None: started with stderr closed (2>&-)
        with contextlib.suppress(OSError):
            traceback.print_exception(exc, file=sys.stderr)
    _error(folded(message) or type(exc).__name__)
    return status


def _usage_message(exc: InvalidParameterError) -> str:
    """A refused value, told with the flag that set it, and a guess when one is close."""
    flag = FLAGS.get(exc.parameter, exc.parameter)
    value = exc.value
    # Cut as the library's messages are: a 100,000-character --tag was said back whole.
    said = (
        shown(value)
        if isinstance(value, (str, int, float, list, tuple))
        else repr(_describe(value))
    )
    allowed = worded(exc, _COMMAND_WORDS, otherwise=exc.allowed)
    text = f"invalid {flag} value {said}: it must be {allowed}"
    # The listed values only, never the value itself: a quoted path in an OS error's text
    # ("Permission denied: '/…/cp.json'") was offered back as the guess.
    choices = [choice for choice in exc.choices if choice != value]
    guess = _any_guess(value, choices) if flag == "--any" else _guess(value, choices)
    return f"{text}; did you mean {guess!r}?" if guess else text


def _guess(value: object, choices: list[str]) -> str | None:
    """The choice ``value`` is a close misspelling of, if any."""
    if not isinstance(value, str) or not choices:
        return None
    # A close spelling only: 'enabled' (a SIM card's status) is no typo of 'failed'.
    close = difflib.get_close_matches(value, choices, n=1, cutoff=GUESS_CUTOFF)
    return close[0] if close else None


def _any_guess(spec: object, choices: list[str]) -> str | None:
    """The ``--any KEY=VALUE`` term ``spec`` was meant to be: its KEY or its VALUE mended."""
    if not isinstance(spec, str):
        return None
    key, sep, value = spec.partition("=")
    if key.strip() in ANY_KEYS:  # its value was refused
        mended = _guess(value, [c for c in choices if c != value])
        return f"{key}={mended}" if mended else None
    mended = _guess(key.strip(), list(ANY_KEYS))
    if mended is None or not sep:
        return None
    if ANY_KEYS[mended] == "status" and value not in SIM_CARD_STATUSES:  # mend both, or neither
        mended_value = _guess(value, list(SIM_CARD_STATUSES))
        return None if mended_value is None else f"{mended}={mended_value}"
    return f"{mended}={value}"


def _describe(value: object) -> str:
    if value is getattr(sys.stdout, "buffer", None) or value is sys.stdout:
        return "-"  # as -o names standard output
    return type(value).__name__


def _api_message(exc: TelnyxError, args: argparse.Namespace) -> str:
    """An API failure in one line, with how many attempts it took and a hint when one helps."""
    text = _in_command_words(exc)
    if isinstance(exc, APIError) and exc.attempts > 1:
        text += f", after {exc.attempts} attempts"
    if isinstance(exc, AuthenticationError):
        text += "; check the API key (--api-key, else the TELNYX_API_KEY environment variable)"
    elif isinstance(exc, NotFoundError) and not getattr(args, "demo", False):
        base = args.base_url or os.environ.get("TELNYX_BASE_URL") or "https://api.telnyx.com/v2"
        if not base.rstrip("/").endswith("/v2"):  # else the hint contradicts itself
            text += f"; the base URL {base} must end in /v2, as https://api.telnyx.com/v2 does"
    return text


def _os_message(exc: OSError) -> str:
    """An OS error as one sentence with its path, not ``[Errno 21] ...``."""
    reason = _OS_REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
    if exc.filename is None:
        return reason
    # Escaped here: a newline in the path would be taken for a break between words.
    return f"cannot use {printable(os.fsdecode(exc.filename))}: {reason}"


def _error(message: str) -> None:
    _say(f"{PROG}: error: {message}")


def _note(message: str) -> None:
    _say(f"{PROG}: {message}")


def _say(line: str) -> None:
    """Write ``line`` on stderr, ``printable``; nowhere if the command was started with it closed.

    Started with ``2>&-``, ``sys.stderr`` is None, and ``print(file=None)`` would write
    to stdout, into the records when they go there.
    """
    stderr = sys.stderr
    if stderr is not None:
        # A reader of stderr gone (a log collector that died, ``2>&1 >/dev/null | head``):
        # what is said is lost, the export's own outcome stands (141 is stdout's reader).
        with contextlib.suppress(OSError):
            write_text(stderr, printable(line) + "\n")


def _show_warning(  # noqa: PLR0917  (the signature warnings.showwarning has, after the bar)
    bar: ProgressBar,
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    del category, filename, lineno, file, line  # a command's warning is one plain line
    bar.above(_warning_line(message))


def _show_plain_warning(  # noqa: PLR0917  (the signature warnings.showwarning has)
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    del category, filename, lineno, file, line  # a command's warning is one plain line
    _say(_warning_line(message))


#: The library's advice and where its counts are, in the command's words (its flags;
#: nothing where the command has no such place).
_ADVICE = {
    Advice.RESCAN: "--rescan, without --checkpoint,",
    Advice.RESCAN_SET: "--rescan",
    Advice.RESCAN_UNSORTED: "--rescan, without --sort,",
    Advice.DRIFT_COUNTED: "",
    Advice.UNORDERED: "drop --sort to take the items as their pages arrive",
    Advice.LATE_PAGES_COUNTED: "",
    Advice.FORMAT: "--format",
}

#: The listings, as ``export`` names them.
LISTINGS = {"sim_cards": "sim-cards", "sim_card_actions": "sim-card-actions"}


class _CommandWords(Words):
    """The library's messages in the command's words: its flags."""

    def advice(self, advice: Advice) -> str:
        return _ADVICE[advice]

    def call(self, call: Call) -> str:
        """A query as the flags that make it: ``sim-cards --tag 'a b' --page-size 40``.

        Each value as a shell takes it (quoted if need be), a list's as a flag given again.
        """
        words = [LISTINGS.get(call.listing, call.listing)]
        for keyword, value in call.arguments():
            flag = FLAGS.get(keyword, keyword)
            if isinstance(value, bool):  # a switch: given or not
                words.extend([flag] if value else [])
                continue
            for one in value if isinstance(value, list) else [value]:
                said = shlex.quote(str(one))
                # A value starting with '-' is written with '=', or it reads as a flag.
                words.append(f"{flag}={said}" if said.startswith("-") else f"{flag} {said}")
        return " ".join(words)


_COMMAND_WORDS = _CommandWords()


def _in_command_words(message: object) -> str:
    """A message of the library's (a text, a warning, an error) in the command's words."""
    return worded(message, _COMMAND_WORDS)


def _warning_line(message: Warning | str) -> str:
    """A warning as the command shows it: the library's advice in the command's words."""
    return f"{PROG}: warning: {_in_command_words(message)}"


# --- export -------------------------------------------------------------------------


#: ``--any KEY=VALUE`` keys, and the ``sim_cards()`` argument each one sets.
ANY_KEYS = {
    "status": "status",
    "tag": "tags",
    "iccid": "iccid",
    "msisdn": "msisdn",
    "group-id": "sim_card_group_id",
}


async def _export_sim_cards(args: argparse.Namespace) -> int:
    filters: dict[str, Any] = {
        "status": args.status,
        "tags": args.tag,
        "iccid": args.iccid,
        "msisdn": args.msisdn,
        "sim_card_group_id": args.group_id,
    }
    specs = args.any or [None]
    queries = [filters if spec is None else _any_query(filters, spec) for spec in specs]
    if args.any and args.checkpoint:
        raise InvalidParameterError("--checkpoint", "used without --any", args.checkpoint)

    def open_stream(client: SimCardsClient) -> PageStream[SimCard] | MergedStream[SimCard]:
        # Each query stops at --limit too: the union's first N are among each one's first N.
        streams = []
        for query, spec in zip(queries, specs, strict=True):
            try:
                streams.append(
                    client.sim_cards(
                        **query,
                        include_sim_card_group=args.include_sim_card_group,
                        sort=args.sort,
                        **_paging(args),
                        **_checkpointing(args),
                    )
                )
            except InvalidParameterError as exc:
                if spec is None or not _refused_term(exc, filters, spec):
                    raise
                # The term's value, refused: name the --any term that gave it.
                key = spec.partition("=")[0].strip()
                raise InvalidParameterError(
                    "--any", f"{key}=VALUE with {exc.allowed}", spec, choices=exc.choices
                ) from exc
        if len(streams) == 1:
            return streams[0]
        return merge(*streams, limit=args.limit, ordered=args.sort is not None)

    return await _export(args, open_stream, "SIM cards")


def _any_query(filters: dict[str, Any], spec: str) -> dict[str, Any]:
    """The filters of one ``--any KEY=VALUE`` query: the common ones ANDed with this one.

    A tag adds to the common ``--tag`` ones (a card must have all of them); any other
    key the common filters already set is refused, as a query holds one value of it.
    """
    key, sep, value = spec.partition("=")
    name = ANY_KEYS.get(key.strip())
    if not sep or name is None:
        raise InvalidParameterError(
            "--any", "KEY=VALUE with KEY one of " + ", ".join(ANY_KEYS), spec
        )
    query = dict(filters)
    if name == "tags":  # tags add up: a card must have all of them
        query[name] = [*(filters[name] or []), value]
        return query
    if filters[name] is not None:
        flag = FLAGS[name]
        raise _UsageError(
            f"{flag} cannot be combined with --any {spec}: each --any query is the other "
            f"filters AND its own, and a query takes one {flag}; give every {key.strip()} "
            f"as an --any term instead (or drop {flag})"
        )
    query[name] = [value] if name == "status" else value
    return query


def _refused_term(exc: InvalidParameterError, filters: dict[str, Any], spec: str) -> bool:
    """Whether the value ``exc`` refuses is the ``--any KEY=VALUE`` term's own.

    Not when it is a common flag's: a term's tag joins the ``--tag`` ones in one query,
    and the library refuses the first bad tag of them, which may be a ``--tag``.
    """
    key, _, value = spec.partition("=")
    name = ANY_KEYS.get(key.strip())
    if name is None or name != exc.parameter or exc.value != value:
        return False
    return name != "tags" or value not in (filters["tags"] or [])


async def _export_sim_card_actions(args: argparse.Namespace) -> int:
    def open_stream(client: SimCardsClient) -> PageStream[SimCardAction]:
        return client.sim_card_actions(
            sim_card_id=args.sim_card_id,
            status=args.status,
            bulk_sim_card_action_id=args.bulk_action_id,
            action_type=args.action_type,
            **_paging(args),
            **_checkpointing(args),
        )

    return await _export(args, open_stream, "SIM card actions")


def _checkpointing(args: argparse.Namespace) -> dict[str, Any]:
    """``--checkpoint FILE``: resume from it if it is there, write it, delete it when done."""
    if args.checkpoint is None:
        return {}
    return {
        "checkpoint": args.checkpoint,
        "resume_from": args.checkpoint,
        "keep_checkpoint": False,
    }


def _check_rescan(args: argparse.Namespace) -> None:
    """Refuse ``--rescan`` where the library would, in the command's words."""
    if not args.rescan:
        return
    if args.checkpoint is not None:
        raise _UsageError(
            "--rescan reads the listing a second time, which a --checkpoint cannot resume: "
            "use one or the other"
        )
    if getattr(args, "sort", None) is not None and len(getattr(args, "any", None) or ()) > 1:
        raise _UsageError(
            "--rescan with --sort and --any: a rescan's records come after the listing's end, "
            "out of the sort's order; drop --sort or --rescan"
        )


def _paging(args: argparse.Namespace) -> dict[str, Any]:
    """The paging flags that were given; the library's defaults stand for the others."""
    given = {"page_size": args.page_size, "limit": args.limit, "rescan": args.rescan or None}
    return {name: value for name, value in given.items() if value is not None}


async def _export(
    args: argparse.Namespace,
    open_stream: Callable[
        [SimCardsClient],
        PageStream[SimCard] | PageStream[SimCardAction] | MergedStream[SimCard],
    ],
    noun: str,
) -> int:
    if args.demo_size is not None and not args.demo:  # else the real API, the size ignored
        raise _UsageError("--demo-size sizes the --demo server: use it with --demo")
    _check_rescan(args)
    api_key = args.api_key or os.environ.get("TELNYX_API_KEY")
    if not api_key and not args.demo:
        _error(
            "no API key: set the TELNYX_API_KEY environment variable or pass --api-key "
            "(or try --demo to export from a local mock server)"
        )
        return EXIT_USAGE
    if args.demo:
        args.demo_size = DEMO_SIZE if args.demo_size is None else args.demo_size
        _check_fleet_size("--demo-size", args.demo_size)
    target, fmt = _output(args)
    to_stdout = not isinstance(target, str)
    client_options: dict[str, Any] = {}
    for option in ("max_concurrency", "timeout", "max_retries"):
        if (value := getattr(args, option)) is not None:
            client_options[option] = value
    stderr = sys.stderr  # None when started with it closed (2>&-): nothing is shown
    # No bar while the records go to a terminal (-o - on one): drawn on the same screen,
    # it was glued to the records' lines and overwrote their starts.
    on_screen = to_stdout and sys.stdout is not None and sys.stdout.isatty()
    bar = ProgressBar(
        stderr,
        noun,
        enabled=not args.quiet and not on_screen and stderr is not None and stderr.isatty(),
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(_logging_to(bar, args.verbose))
        base_url = args.base_url
        if args.demo:
            from .testing import MockTelnyxServer  # noqa: PLC0415  (aiohttp.web, only for --demo)

            server = MockTelnyxServer(
                sim_cards=args.demo_size, actions=args.demo_size, seed=1, latency=DEMO_LATENCY
            )
            await stack.enter_async_context(server)
            api_key, base_url = DEMO_API_KEY, server.url
        client = _as_given(args, lambda: SimCardsClient(api_key, base_url, **client_options))
        await stack.enter_async_context(client)
        # A checkpoint of another API refuses the base URL: named as it came, too.
        stream = _as_given(args, lambda: open_stream(client))
        _room_for_connections(args, client.max_concurrency, stack)
        stream.on_progress(functools.partial(_on_progress, bar))
        where = "stdout" if to_stdout else args.output
        log.info("exporting %s from %s to %s as %s", noun, client.base_url, where, fmt)
        try:
            async with _redrawn(bar, stream):
                result = await export(stream, target, format=fmt)
        except BaseException as exc:
            resumable = stream.resumable_from
            # Not after a refusal: the same command would be refused again.
            if resumable is not None and not isinstance(exc, InvalidParameterError):
                bar.close()
                _note(f"run the same command again to resume from {resumable}")
            raise
        finally:
            bar.close()
        if not args.quiet:
            _say(_summary(result, stream.progress, noun, where))
    return EXIT_OK


def _room_for_connections(
    args: argparse.Namespace, concurrency: int, stack: contextlib.AsyncExitStack
) -> None:
    """Raise the open-files limit for the run's connections, or refuse ``--max-concurrency``.

    The limit is set back when ``stack`` closes; the refusal names the most requests in
    flight the hard limit holds. With ``--demo`` a request in flight is two descriptors (the
    server answers in this process), and no more are in flight than the demo fleet has
    pages, or a ``--limit`` reads (a listing asks for no page past it; a union's listings
    have none of their own). Past the limit its server could not accept: asyncio logged a
    traceback at every try, for minutes.
    """
    per_request, in_flight = 1, concurrency
    if args.demo:
        per_request = 2
        terms = getattr(args, "any", None)
        limit = getattr(args, "limit", None)
        rows = args.demo_size if limit is None or terms else min(args.demo_size, limit)
        pages = -(-rows // (args.page_size or MAX_PAGE_SIZE))
        queries = len(terms or [None])
        in_flight = min(concurrency, max(1, pages * queries))
    needed = RESERVED + per_request * in_flight
    limit = stack.enter_context(open_files_at_least(needed))
    if limit is None or limit >= needed:
        return
    most = (limit - RESERVED) // per_request
    why = " (two a request: the --demo server answers in this process)" if args.demo else ""
    advice = f"use at most {most:,}" if most >= 1 else "raise the limit (ulimit -n)"
    raise _UsageError(
        f"--max-concurrency {concurrency:,} needs about {needed:,} open files{why}, and this "
        f"process may open {limit:,} (ulimit -n): {advice}"
    )


def _as_given(args: argparse.Namespace, make: Callable[[], _T]) -> _T:
    """``make()``, a refusal of a value from the environment naming its variable."""
    try:
        return make()
    except InvalidParameterError as exc:
        raise _from_environment(exc, args) from exc


def _from_environment(exc: InvalidParameterError, args: argparse.Namespace) -> Exception:
    """``exc`` naming the environment variable instead of the flag, if the value came from it.

    An empty ``--api-key`` falls back to ``TELNYX_API_KEY``; an empty ``--base-url`` is
    refused as given. ``--demo`` sets both itself: its server's URL, refused by a checkpoint
    of another API, is ``--demo``'s (it was said as ``--base-url``, a flag not given, with
    the demo server's port). A base URL from neither (the default, refused by a checkpoint
    of another API) is named as the default.
    """
    variable = ENVIRONMENT.get(exc.parameter)
    if variable is None:
        return exc
    if args.demo:
        if exc.parameter == "base_url":
            return InvalidParameterError("--demo", exc.allowed, "its own server")
        return exc
    given = args.api_key if exc.parameter == "api_key" else args.base_url is not None
    if given:
        return exc
    if not os.environ.get(variable):  # nor the variable: the default base URL was refused
        allowed = f"{exc.allowed} (give one with --base-url or {variable})"
        return InvalidParameterError("default base URL", allowed, exc.value)
    return InvalidParameterError(variable, exc.allowed, exc.value)


def _output(args: argparse.Namespace) -> tuple[str | BinaryIO, ExportFormat]:
    """Where the export goes and as what: settled, and the path checked, before any request."""
    to_stdout = args.output in (None, "-")
    stdout = sys.stdout
    unusable = _stdout_unusable() if to_stdout else None
    if unusable is not None:  # every write would fail, after the requests
        raise _UsageError(f"standard output is {unusable}: give a file with -o FILE")
    target = stdout.buffer if to_stdout else args.output
    if args.output is None and stdout.isatty():
        raise _UsageError(
            "not writing data to a terminal: give a file with -o FILE, "
            "or -o - to see the records here"
        )
    if args.checkpoint is not None and to_stdout:
        raise InvalidParameterError(
            "checkpoint", "used with -o FILE (output to stdout cannot be resumed)", args.checkpoint
        )
    if not to_stdout:  # the path first: a directory has no suffix to speak of
        try:
            check_output_path(args.output, checkpoint=args.checkpoint)
        except OSError as exc:
            raise _UsageError(_os_message(exc)) from exc
    fmt = resolve_format(args.format, target)
    chosen = f"--format {fmt}" if args.format is not None else f"-o {args.output}"
    if fmt == "parquet":
        try:
            import_pyarrow()
        except ImportError as exc:  # an extra not installed: a usage error, nothing sent
            raise _UsageError(f"{chosen}: {exc}") from exc
    if args.checkpoint is not None and fmt not in RESUMABLE_FORMATS:
        raise _UsageError(
            f"--checkpoint cannot resume a {fmt.capitalize()} export ({chosen}): "
            f"{NOT_RESUMABLE_WHY}; "
            f"write {', '.join(RESUMABLE_FORMATS)}, or leave out --checkpoint"
        )
    return target, fmt


def _stdout_unusable() -> str | None:
    """Why the command cannot write to stdout (``closed``, ``open for reading only``), or None."""
    stdout: TextIO | None = sys.stdout
    if stdout is None:  # started with its standard output closed (>&-)
        return "closed"
    if _read_only(stdout):  # 1< file
        return "open for reading only"
    return None


def _read_only(file: TextIO) -> bool:
    """Whether ``file``'s descriptor is open for reading only (False where none can be told)."""
    if sys.platform == "win32":
        return False
    try:
        flags = fcntl.fcntl(file.fileno(), fcntl.F_GETFL)
    except (OSError, ValueError, io.UnsupportedOperation):  # no descriptor (a test's capture)
        return False
    return flags & os.O_ACCMODE == os.O_RDONLY


@contextlib.asynccontextmanager
async def _redrawn(bar: ProgressBar, stream: Stream[Any, Any]) -> AsyncIterator[None]:
    """Redraw ``bar`` from ``stream``'s progress every ``TICK_INTERVAL`` within this block.

    Pages draw it as they come (``on_progress``); between them (a rate-limit pause of up
    to a minute, a slow answer, a retry's wait) it stood still, as if the export had hung.
    """
    if not bar.enabled:
        yield
        return
    ticker = asyncio.ensure_future(_ticking(bar, stream))
    try:
        yield
    finally:
        ticker.cancel()
        await asyncio.wait([ticker])  # gone before the bar is erased; never raises


async def _ticking(bar: ProgressBar, stream: Stream[Any, Any]) -> None:
    while True:
        await asyncio.sleep(TICK_INTERVAL)
        bar.update(stream.progress)


def _on_progress(bar: ProgressBar, progress: Progress) -> None:
    log.debug(
        "%s of %s pages, %s of %s records",
        progress.pages_done,
        progress.total_pages,
        progress.items,
        progress.total_results,
    )
    bar.update(progress)


@contextlib.contextmanager
def _logging_to(bar: ProgressBar, verbosity: int) -> Iterator[None]:
    """The library's log records on stderr above the bar: with ``-v``/``-vv`` INFO/DEBUG.

    ``TELNYX_LOG`` asks for a level too (the lower of the two stands), shown here: the
    handler it added to the library's logger at import is set aside meanwhile, or each
    record would be shown twice.
    """
    # A warning too takes a line of its own above the bar (within _run's catch_warnings).
    warnings.showwarning = functools.partial(_show_warning, bar)
    logger = logging.getLogger("simcards_async")
    # Installed even without -v: with no handler at all, logging's last resort would
    # write the drift WARNING raw across the bar, and it is shown already as a warning.
    handler = _Lines(bar.above)
    handler.addFilter(_not_drift)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
    asked = [env_log_level(os.environ.get("TELNYX_LOG"))]
    if verbosity > 0:
        asked.append(logging.INFO if verbosity == 1 else logging.DEBUG)
    levels = [level for level in asked if level is not None]
    was = logger.level
    if levels:
        logger.setLevel(min(levels))
    logger.addHandler(handler)
    # OpenTelemetry's own records (a provider that OTEL_PYTHON_TRACER_PROVIDER names and it
    # cannot load) went to logging's last resort: a traceback across the bar, even with -q.
    # One line each, as the library's (which says what it means for the export) follow.
    otel, otel_handler = logging.getLogger("opentelemetry"), _Lines(bar.above)
    otel_handler.setFormatter(_OneLine())
    otel.addHandler(otel_handler)
    try:
        with env_log_handler_set_aside():
            yield
    finally:
        otel.removeHandler(otel_handler)
        logger.removeHandler(handler)
        logger.setLevel(was)


class _OneLine(logging.Formatter):
    """A record's level, logger and message on one line (its handler makes it printable).

    Its error's class, not its traceback nor its text, which may quote what a request sent.
    """

    def format(self, record: logging.LogRecord) -> str:
        text = f"{PROG}: {record.levelname} {record.name}: {folded(record.getMessage())}"
        error = record.exc_info[1] if record.exc_info else None
        return text if error is None else f"{text} ({type(error).__name__})"


def _not_drift(record: logging.LogRecord) -> bool:
    """Whether a record is not the drift WARNING (the same text shows as a DriftWarning)."""
    return not (record.name == "simcards_async.listing" and record.levelno >= logging.WARNING)


class _Lines(logging.Handler):
    """Hands each record, formatted, to ``say`` as a line of its own.

    ``bar.above`` (above the progress bar, which it redraws) or ``_say`` (on stderr, as the
    command's own lines).
    """

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__()
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001  (logging's rule: a bad record must not stop the work)
            self.handleError(record)
            return
        self.say(text)


def _summary(result: ExportResult, progress: Progress, noun: str, where: str) -> str:
    """The line printed once an export is done (``noun`` plural: "SIM cards")."""
    records = noun.removesuffix("s") if result.items == 1 else noun
    pages = "page" if progress.pages_done == 1 else "pages"
    text = (
        f"{PROG}: exported {result.items:,} {records} ({progress.pages_done:,} {pages}) "
        f"in {result.seconds:.2f} s, {_retries(progress.retries)}"
    )
    if progress.throttled_seconds >= 0.05:  # noqa: PLR2004  (shown once it is worth a mention)
        text += f", {progress.throttled_seconds:.1f} s throttled"
    return f"{text}; {result.format} to {where}"


def _retries(count: int) -> str:
    """``1 retry``, ``2 retries``: as the summary and the bar say it."""
    return f"{count:,} {'retry' if count == 1 else 'retries'}"


# --- the progress bar ---------------------------------------------------------------


def _columns(out: TextIO | None) -> int:
    """The width of the terminal ``out`` draws on: ``COLUMNS`` if set, as ``shutil`` has it.

    Not ``shutil.get_terminal_size()``, which asks stdout: records redirected to a file
    (``> cards.jsonl``, the usual way without ``-o``) left the bar at 80 columns.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isascii() and columns.isdigit() and int(columns) > 0:  # not "²": int() refuses it
        return int(columns)
    if out is not None:
        with contextlib.suppress(AttributeError, ValueError, OSError):  # not a terminal's
            columns_said = os.get_terminal_size(out.fileno()).columns
            if columns_said > 0:  # 0: a terminal whose size was never set (a CI's, expect's)
                return columns_said
    return shutil.get_terminal_size().columns


class ProgressBar:
    """One line on a terminal, redrawn in place: records and pages done, rate, ETA.

    Fed by ``PageStream.on_progress``; draws at most once per ``REDRAW_INTERVAL``, and
    nothing at all when disabled (not a terminal, or ``--quiet``); with no ``out`` (stderr
    closed), not even the lines put ``above`` it. The first complete
    snapshot (all of its total done) is drawn even sooner, as long as the bar has drawn no
    more than once per ``REDRAW_INTERVAL`` since it was made: so the bar ends at 100%
    unless it has been drawing at its full rate all along.
    """

    def __init__(self, out: TextIO | None, noun: str, *, enabled: bool) -> None:
        self.out = out
        self.noun = noun
        self.enabled = enabled and out is not None
        self._made_at = time.monotonic()
        self._drawn_at = -REDRAW_INTERVAL
        self._draws = 0
        self._drawn_complete = False
        self._width = 0
        self._line = ""
        # A log record may come from another thread while the bar is drawn.
        self._lock = threading.Lock()

    def update(self, progress: Progress) -> None:
        """Redraw with ``progress``, unless the last redraw was too recent."""
        if not self.enabled:
            return
        now = time.monotonic()
        total = progress.total_results
        complete = total is not None and 0 < total <= progress.items
        if now - self._drawn_at < REDRAW_INTERVAL and not (
            complete
            and not self._drawn_complete
            and self._draws * REDRAW_INTERVAL <= now - self._made_at
        ):
            return
        self._drawn_at = now
        self._draws += 1
        self._drawn_complete = self._drawn_complete or complete
        # The terminal's width, however narrow: floored at 20 columns, lines of up to 20
        # were drawn on a terminal of 15, each wrapping, its redraw and erase a row too low.
        width = max(_columns(self.out) - 1, 1)
        self._draw(format_progress(progress, self.noun, width))

    def close(self) -> None:
        """Erase the bar, leaving the cursor at the start of an empty line."""
        if self._width:
            self._draw("")
            self._width = 0
        self._line = ""

    def above(self, text: str) -> None:
        """Write ``text`` as a line of its own (``printable``), then draw the bar again below it."""
        out = self.out
        if out is None:
            return
        with self._lock, self._unless_gone():
            erase = "\r" + " " * self._width + "\r" if self._width else ""
            write_text(out, erase + printable(text) + "\n" + self._line)

    def _draw(self, line: str) -> None:
        out = self.out
        if out is None:  # never enabled without one
            return
        with self._lock, self._unless_gone():
            # Pad to the previous width so a shorter line erases the longer one's end.
            write_text(out, "\r" + line.ljust(self._width) + ("\r" if not line else ""))
            self._width = len(line)
            self._line = line

    @contextlib.contextmanager
    def _unless_gone(self) -> Iterator[None]:
        """A terminal gone (its window closed, stderr's reader dead): stop drawing there.

        A failed write raised out of a log call or a progress callback, ending the export
        it only reported on.
        """
        try:
            yield
        except OSError:
            self.out = None


def format_progress(progress: Progress, noun: str, width: int = 100) -> str:
    """``53% [#####.....] 53,300/100,000 SIM cards  533/1,000 pages  17,334/s  ETA 0:00:03``.

    During a rate-limit pause the ETA gives way to ``waiting 42s (rate limit)``.

    Never longer than ``width``: the bar goes first, then the pages, the retries,
    the noun and the percentage; the record counts, the rate and the ETA stay
    while they fit, the ETA longer than the rate (the counts down to about 16 columns).
    """
    items = f"{progress.items:,}"
    if progress.total_results is not None:
        items += f"/{progress.total_results:,}"
    pages = f"{progress.pages_done:,}"
    if progress.total_pages is not None:
        pages += f"/{progress.total_pages:,}"
    counted_pages = progress.pages_done if progress.total_pages is None else progress.total_pages
    pages += " page" if counted_pages == 1 else " pages"
    rate = f"{progress.items_per_second:,.0f}/s"
    eta = progress.eta
    when = ""
    if eta is not None:
        minutes, seconds = divmod(round(eta), 60)
        hours, minutes = divmod(minutes, 60)
        when = f"ETA {hours}:{minutes:02}:{seconds:02}"
    if progress.pause_left > 0:  # no request goes: a countdown, not a stale ETA
        when = f"waiting {math.ceil(progress.pause_left)}s (rate limit)"
    retries = _retries(progress.retries) if progress.retries else ""
    total = progress.total_results

    def share(whole: int) -> int:
        # The part of ``whole`` done, rounded down (99.7% is not drawn as done), in ints
        # (29 of 100 as a float times 100 is 28.999...); a total of 0 is all done.
        return whole if not total else min(whole, progress.items * whole // total)

    percent = "" if total is None else f"{share(100):3}%"

    def line(*parts: str, bar: int = 0) -> str:
        text = "  ".join(part for part in parts if part)
        head = percent
        if head and bar:
            filled = share(bar)
            head += f" [{'#' * filled}{'.' * (bar - filled)}]"
        return f"{head} {text}" if head else text

    counted = f"{items} {noun}"
    # From the fullest line to the barest: the first that fits is drawn.
    candidates = [
        line(counted, pages, rate, when, retries, bar=20 if width >= 110 else 10),  # noqa: PLR2004
        line(counted, pages, rate, when, retries),
        line(counted, rate, when, retries),
        line(counted, rate, when),
        line(items, rate, when),
        "  ".join(part for part in (items, rate, when) if part),
        "  ".join(part for part in (items, when or rate) if part),
        "  ".join(part for part in (items, rate) if part),
        line(items),
        items,
    ]
    for candidate in candidates:
        if len(candidate) <= width:
            return candidate
    return items[:width]


# --- mock-server --------------------------------------------------------------------


async def _mock_server(args: argparse.Namespace) -> int:
    from .testing._checks import OptionError  # noqa: PLC0415  (as the line below)
    from .testing._serve import (  # noqa: PLC0415  (aiohttp.web, only for this command)
        CannotListenError,
        serve,
    )

    try:
        options = _mock_options(args)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    unusable = _stdout_unusable()
    if unusable is not None:
        _error(f"standard output is {unusable}: the mock server prints its base URL there")
        return EXIT_USAGE
    # aiohttp's record of a request it could not read (a header past its limit) went to
    # logging's last resort: a traceback whose text quoted the request's bytes, the
    # Authorization header's among them. One line, naming the error's class alone.
    server_log, handler = logging.getLogger("aiohttp.server"), _Lines(_say)
    handler.setFormatter(_OneLine())
    server_log.addHandler(handler)
    try:
        await serve(host=args.host, port=args.port, out=sys.stdout, **options)
    except OptionError as exc:  # the server's own checks ('--host a b'), said by the flag
        _error(_mock_flag(exc.option) + exc.reason)
        return EXIT_USAGE
    except CannotListenError as exc:  # an address that does not resolve, a port in use
        where = f"--host {args.host} --port {args.port}"
        _error(f"cannot listen on {where}: {_os_message(exc.reason)}")
        return EXIT_USAGE
    finally:
        server_log.removeHandler(handler)
    return EXIT_OK


def _check_fleet_size(flag: str, count: int) -> None:
    """Refuse a mock fleet larger than the mock holds (``Fleet.MAX_RECORDS``), naming ``flag``."""
    from .testing import Fleet  # noqa: PLC0415  (aiohttp.web, only for the mock)

    if count > Fleet.MAX_RECORDS:
        raise _UsageError(
            f"{flag} must be at most {Fleet.MAX_RECORDS:,} (the mock server holds every record in "
            f"memory); got {count:,}"
        )


def _mock_headers(items: list[str]) -> dict[str, str]:
    """The ``--header NAME:VALUE`` flags as a mapping (ValueError for one without a name)."""
    headers: dict[str, str] = {}
    for item in items:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"--header must be NAME:VALUE; got {item!r}")
        headers[name.strip()] = value.strip()
    return headers


def _mock_flag(option: str) -> str:
    """The ``mock-server`` flag that sets the server's ``option``."""
    return "--" + option.replace("extra_headers", "header").replace("_", "-")


def _mock_options(args: argparse.Namespace) -> dict[str, Any]:
    """Check the mock server's flags (ValueError names the bad one): the server's options."""
    from .testing import Misbehaviour  # noqa: PLC0415  (aiohttp.web, only for this command)
    from .testing._checks import OptionError  # noqa: PLC0415  (as the line above)

    if not args.host.strip():  # '' listens on every interface, and names none in the URL
        raise ValueError(
            f"--host must be an address or a host name, such as 127.0.0.1 (or 0.0.0.0 for "
            f"every IPv4 interface); got {args.host!r}"
        )
    if not 0 <= args.port <= 65535:  # noqa: PLR2004
        raise ValueError(f"--port must be between 0 and 65535; got {args.port}")
    for flag in ("sim_cards", "actions", "latency_ms"):
        if getattr(args, flag) < 0:
            option = "--" + flag.replace("_", "-")
            raise ValueError(f"{option} must not be negative; got {getattr(args, flag)}")
    if not math.isfinite(args.latency_ms):  # inf held every answer for ever; nan was 0
        raise ValueError(f"--latency-ms must be a finite number; got {args.latency_ms}")
    _check_fleet_size("--sim-cards", args.sim_cards)
    _check_fleet_size("--actions", args.actions)
    if args.actions and not args.sim_cards:  # else the fleet's bare error, and exit 1
        raise ValueError(
            f"--actions {args.actions} needs --sim-cards of 1 or more (actions refer to SIM "
            "cards); give --actions 0 for a fleet without any"
        )
    if args.redirect == "":  # the server's own words, "a str, not empty, or None", are Python's
        raise ValueError(
            "--redirect must be bad-ipv6, bad-port, userinfo or a Location, not empty; got ''"
        )
    headers = _mock_headers(args.header)
    try:
        misbehaviour = Misbehaviour(
            ignore_page_number=args.ignore_page_number,
            replay_lag=args.replay_lag,
            total_pages=args.total_pages,
            endless=args.endless,
            page_number_offset=args.page_number_offset,
            oversize_pages=args.oversize_pages,
            huge_body_bytes=args.huge_body_bytes,
            gzip_bomb_bytes=args.gzip_bomb_bytes,
            ok_without_data=args.ok_without_data,
            redirect=args.redirect,
            error_detail_bytes=args.error_detail_bytes,
            echo_authorization=args.echo_authorization,
            extra_headers=headers,
        )
    except OptionError as exc:  # the option by its flag
        raise ValueError(_mock_flag(exc.option) + exc.reason) from exc
    return {
        "sim_cards": args.sim_cards,
        "actions": args.actions,
        "seed": args.seed,
        "latency": args.latency_ms / 1000,
        "misbehaviour": misbehaviour,
    }
