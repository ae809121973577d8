"""Exact unions: ``limit`` caps the union, ``--sort`` orders it, progress ends at 100%."""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from cli_runs import FakeTerminal, run
from polling import eventually
from servers import amount_card, serve, sorted_pages

import simcards_async as sc
from simcards_async import _cli
from simcards_async._cli import ProgressBar
from simcards_async._query import Ordering
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYmerge-exact-tests"
AMOUNT = "current_billing_period_consumed_data.amount"
SORTS = [AMOUNT, "-" + AMOUNT]
#: Two overlapping queries: standby cards all consume 0.0, so they tie at one end.
STANDBY: dict[str, Any] = {"status": "standby"}
CUSTOMERS: dict[str, Any] = {"tags": "customers"}


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=1500, actions=300, seed=7) as srv:
        yield srv


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[sc.SimCardsClient]:
    async with sc.SimCardsClient(KEY, server.url, max_concurrency=4) as c:
        yield c


def amount(card: sc.SimCard) -> Decimal:
    value = card.current_billing_period_consumed_data.amount
    assert value is not None
    return value


def in_order(cards: Sequence[sc.SimCard], sort: str) -> bool:
    amounts = [amount(c) for c in cards]
    return amounts == sorted(amounts, reverse=sort.startswith("-"))


async def expected_union(
    client: sc.SimCardsClient, queries: Sequence[dict[str, Any]], sort: str
) -> list[sc.SimCard]:
    """The documented order, from each query's own sorted listing: by amount, equal amounts
    in query order (the first query an item is in), each query's in the server's order.
    """
    rank: dict[str, tuple[int, int]] = {}
    cards: dict[str, sc.SimCard] = {}
    for number, query in enumerate(queries):
        listing = await client.sim_cards(**query, sort=sort, page_size=250).collect()
        assert in_order(listing, sort), "the server sorts each query"
        for position, card in enumerate(listing):
            rank.setdefault(card.id, (number, position))
            cards.setdefault(card.id, card)
    sign = -1 if sort.startswith("-") else 1
    return sorted(cards.values(), key=lambda c: (sign * amount(c), *rank[c.id]))


# --- merge(limit=...) ------------------------------------------------------------------


async def test_limit_caps_the_union_not_each_query(client: sc.SimCardsClient) -> None:
    """merge(limit=37) of two overlapping queries yields exactly 37 distinct cards of the union."""
    everything = await client.sim_cards().collect()
    union = {c.id for c in everything if c.status.value == "standby" or "customers" in c.tags}
    assert len(union) > 2 * 37
    merged = sc.merge(
        client.sim_cards(**STANDBY, page_size=20),
        client.sim_cards(**CUSTOMERS, page_size=20),
        limit=37,
    )
    got = [card.id async for card in merged]
    assert len(got) == len(set(got)) == 37
    assert set(got) <= union
    assert merged.stats.items_yielded == 37
    assert merged.progress.total_results == merged.progress.items == 37


async def test_limit_larger_than_the_union_yields_all_of_it(client: sc.SimCardsClient) -> None:
    """A limit the union never reaches changes nothing: every card of the union, once."""
    whole = {
        c.id async for c in sc.merge(client.sim_cards(**STANDBY), client.sim_cards(**CUSTOMERS))
    }
    capped = sc.merge(
        client.sim_cards(**STANDBY), client.sim_cards(**CUSTOMERS), limit=len(whole) + 1
    )
    assert {c.id async for c in capped} == whole
    assert capped.stats.items_yielded == len(whole)


async def test_limit_without_dedupe_counts_every_item(client: sc.SimCardsClient) -> None:
    """With dedupe=False the limit counts the repeats too: exactly ``limit`` items."""
    merged = sc.merge(
        client.sim_cards(**STANDBY, page_size=7),
        client.sim_cards(**STANDBY, page_size=7),
        dedupe=False,
        limit=10,
    )
    assert len([c async for c in merged]) == 10


# --- merge(ordered=...) ----------------------------------------------------------------


@pytest.mark.parametrize("sort", SORTS)
async def test_sorted_union_comes_out_in_the_sort_order(
    client: sc.SimCardsClient, sort: str
) -> None:
    """Streams sorted alike merge in that order: by amount, ties in query order, each id once;
    the amounts are those of the server's single sorted listing of the same cards.
    """
    queries = [STANDBY, CUSTOMERS]
    expected = await expected_union(client, queries, sort)
    merged = sc.merge(*(client.sim_cards(**q, sort=sort, page_size=30) for q in queries))
    assert merged.sort == sort
    got = [card async for card in merged]
    assert [c.id for c in got] == [c.id for c in expected]
    assert in_order(got, sort)
    assert merged.stats.duplicates_dropped > 0, "the queries overlap"
    ids = {c.id for c in got}
    single = [c for c in await client.sim_cards(sort=sort).collect() if c.id in ids]
    assert [amount(c) for c in got] == [amount(c) for c in single]


@pytest.mark.parametrize("sort", SORTS)
async def test_sorted_union_with_a_limit_is_its_first_items(
    client: sc.SimCardsClient, sort: str
) -> None:
    """merge(limit=37) of sorted streams yields the sorted union's first 37, and tagged() too."""
    queries = [CUSTOMERS, STANDBY, {"tags": "vip"}]
    expected = await expected_union(client, queries, sort)
    merged = sc.merge(*(client.sim_cards(**q, sort=sort, page_size=10) for q in queries), limit=37)
    assert [c.id async for c in merged] == [c.id for c in expected[:37]]
    tagged = sc.merge_tagged(
        *(client.sim_cards(**q, sort=sort, page_size=10) for q in queries), limit=37, ordered=True
    )
    assert [t.item.id async for t in tagged] == [c.id for c in expected[:37]]


async def test_ordered_false_takes_sorted_streams_as_they_arrive(
    client: sc.SimCardsClient,
) -> None:
    """ordered=False merges differently sorted streams as their pages arrive: the whole union."""
    expected = await expected_union(client, [STANDBY, CUSTOMERS], AMOUNT)
    merged = sc.merge(
        client.sim_cards(**STANDBY, sort=AMOUNT),
        client.sim_cards(**CUSTOMERS, sort="-" + AMOUNT),
        ordered=False,
    )
    assert merged.sort is None
    assert sorted([c.id async for c in merged]) == sorted(c.id for c in expected)


@pytest.mark.parametrize(
    ("sorts", "arguments", "parameter", "allowed"),
    [
        (
            [None, None],
            {"ordered": True},
            "ordered",
            "None or False for streams not sorted by one same sort= (these have: no sort): True",
        ),
        ([AMOUNT, None], {"ordered": True}, "ordered", "one same sort= (these have: "),
        ([AMOUNT, "-" + AMOUNT], {"ordered": True}, "ordered", "one same sort="),
        ([AMOUNT, "-" + AMOUNT], {}, "ordered", "False to merge streams of different sorts"),
        ([AMOUNT, None], {}, "ordered", "(these have: " + AMOUNT + ", no sort)"),
        ([AMOUNT, AMOUNT], {"ordered": "yes"}, "ordered", "True (in the streams' common sort"),
        ([None, None], {"limit": 0}, "limit", "an integer >= 1"),
        ([None, None], {"limit": True}, "limit", "an integer >= 1"),
        ([None, None], {"limit": "37"}, "limit", "an integer >= 1"),
    ],
)
async def test_merge_refuses_an_order_it_cannot_keep(
    server: MockTelnyxServer,
    client: sc.SimCardsClient,
    *,
    sorts: list[str | None],
    arguments: dict[str, Any],
    parameter: str,
    allowed: str,
) -> None:
    """Ordered merging of streams not all sorted alike, or a bad limit, is refused up front,
    naming the parameter and what it allows; nothing is sent.
    """
    streams = [client.sim_cards(sort=s) for s in sorts]
    with pytest.raises(sc.InvalidParameterError) as info:
        sc.merge(*streams, **arguments)
    assert info.value.parameter == parameter
    assert allowed in info.value.allowed
    assert server.requests == []


async def test_action_listings_cannot_be_merged_in_order(
    server: MockTelnyxServer, client: sc.SimCardsClient
) -> None:
    """Action listings have no sort: ordered=True is refused, the default merges them as usual."""
    with pytest.raises(sc.InvalidParameterError, match="ordered"):
        sc.merge(client.sim_card_actions(status="failed"), client.sim_card_actions(), ordered=True)
    assert server.requests == []
    merged = sc.merge(client.sim_card_actions(status="failed"), client.sim_card_actions())
    assert merged.sort is None
    assert len([a async for a in merged]) == 300


def _card(number: int, consumed: str) -> dict[str, Any]:
    return amount_card(f"00000000-0000-4000-8000-{number:012d}", consumed)


@asynccontextmanager
async def _two_sorted_queries(
    amounts: dict[int, list[str]], limit: int | None = None
) -> AsyncIterator[sc.MergedStream[Any]]:
    """A merge in amount order of two queries whose 2 pages of 2 cards have ``amounts``."""

    def card_id(request: web.Request, number: int, i: int) -> str:
        base = 10 if "filter[status]" in request.query else 0
        return f"00000000-0000-4000-8000-{base + number * 2 + i:012d}"

    async with (
        serve(sorted_pages(amounts, card_id)) as served,
        sc.SimCardsClient(KEY, served.url) as client,
    ):
        yield sc.merge(
            client.sim_cards(sort=AMOUNT, page_size=2),
            client.sim_cards(status="enabled", sort=AMOUNT, page_size=2),
            limit=limit,
        )


async def test_a_page_out_of_its_own_sort_order_is_refused() -> None:
    """One answer whose items go back down in its own sort order raises PaginationError,
    never an unsorted union: what was yielded before it is in order.
    """
    amounts = {1: ["1.0", "3.0"], 2: ["4.0", "2.0"]}  # page 2 out of its own order
    async with _two_sorted_queries(amounts) as merged:
        got: list[sc.SimCard] = []
        with pytest.raises(sc.PaginationError, match="not in the order of sort=") as info:
            async for card in merged:
                got.append(card)
    assert "refusing to yield an unsorted union" in str(info.value)
    assert in_order(got, AMOUNT)
    # The query's whole URL, as an answer's error gives its request's (the path alone before).
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v2/sim_cards", info.value.url)


async def test_a_limit_reached_before_a_page_goes_out_of_order_ends_the_merge_cleanly() -> None:
    """The merge's limit is reached at the first item of a page whose next one goes back
    down: nothing past the limit is looked at, so the union's first 5 come with no error
    (an in-order merge that checked its items a page at a time looked on, and refused it).
    """
    amounts = {1: ["1.0", "3.0"], 2: ["4.0", "2.0"]}  # page 2 out of its own order
    async with _two_sorted_queries(amounts, limit=5) as merged:
        got = [str(card.current_billing_period_consumed_data.amount) async for card in merged]
    assert got == ["1.0", "1.0", "3.0", "3.0", "4.0"]


async def test_a_page_that_starts_below_its_previous_pages_end_is_drift_not_an_error() -> None:
    """A live fleet sorted by usage: a card's usage grows between two answers, so page 2
    starts below page 1's end, each page in order. The merge raised PaginationError (the
    README's own "heaviest first" example failed on an active fleet; one stream reads it
    fine). Two answers are two moments: the page's items come late, counted in
    ``stats.late_pages``, with a DriftWarning; every record once.
    """
    amounts = {1: ["1.0", "3.0"], 2: ["2.0", "4.0"]}  # page 2 starts below page 1's end
    async with _two_sorted_queries(amounts) as merged:
        # The id as a repr (quoted, escaped, cut): a server's text in a warning.
        with pytest.warns(sc.DriftWarning, match=r"previous page ended \(item '[^']+'\)"):
            got = [card async for card in merged]
    assert len(got) == len({card.id for card in got}) == 8
    assert merged.stats.late_pages == 2
    amounts_got = [str(card.current_billing_period_consumed_data.amount) for card in got]
    # Each query's items in its pages' order; a page 2's 2.0 comes right after its own
    # page 1's 3.0 (late), and before what sorts after it.
    assert amounts_got == ["1.0", "1.0", "3.0", "2.0", "3.0", "2.0", "4.0", "4.0"]


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
async def test_a_descending_union_orders_amounts_exactly_whatever_their_digits(
    tmp_path: Path, raw: bool
) -> None:
    """Descending keys were ``-amount`` in the default decimal context: 28 digits, so two
    amounts differing in the 30th tied (and came out in query order, the smaller first),
    and ``1E+1000000`` raised a bare ``decimal.Overflow``. Negated exactly, the union is in
    true descending order, typed (``async for``) or raw (an export to JSON lines).
    """
    per_query = {
        0: ["1E+1000000", "1.00000000000000000000000000001", "-1E+1000000"],
        1: ["1.00000000000000000000000000009", "0.5"],
    }

    async def handler(request: web.Request) -> web.Response:
        query = 1 if "filter[status]" in request.query else 0
        amounts = per_query[query]
        data = [_card(query * 10 + i, a) for i, a in enumerate(amounts)]
        meta = {"page_number": 1, "page_size": 10, "total_pages": 1, "total_results": len(data)}
        return web.Response(text=json.dumps({"data": data, "meta": meta}))

    descending = "-" + AMOUNT
    async with serve(handler) as served, sc.SimCardsClient(KEY, served.url) as client:
        merged = sc.merge(
            client.sim_cards(sort=descending, page_size=10),
            client.sim_cards(status="enabled", sort=descending, page_size=10),
        )
        if raw:
            target = tmp_path / "union.jsonl"
            await sc.export(merged, target)
            records = [json.loads(line) for line in target.read_bytes().splitlines()]
            got = [r["current_billing_period_consumed_data"]["amount"] for r in records]
        else:
            got = [str(amount(card)) async for card in merged]
    assert got == [
        "1E+1000000",
        "1.00000000000000000000000000009",
        "1.00000000000000000000000000001",
        "0.5",
        "-1E+1000000",
    ]


def test_ordering_key_ascends_along_the_listing() -> None:
    """Ordering.key ascends along either direction; a card without an amount is the smallest."""
    cards = [
        sc.SimCard(id="a", current_billing_period_consumed_data=sc.Amount(amount=Decimal(5))),
        sc.SimCard(id="b", current_billing_period_consumed_data=sc.Amount(amount=Decimal("1.5"))),
        sc.SimCard(id="c"),
    ]
    ascending, descending = Ordering.of(AMOUNT), Ordering.of("-" + AMOUNT)
    assert (ascending.descending, descending.descending) == (False, True)
    assert [c.id for c in sorted(cards, key=ascending.key)] == ["c", "b", "a"]
    assert [c.id for c in sorted(cards, key=descending.key)] == ["a", "b", "c"]
    nan = sc.SimCard(id="n", current_billing_period_consumed_data=sc.Amount(amount=Decimal("NaN")))
    assert ascending.key(nan) == ascending.key(cards[2])
    # Infinity has its place, at the end (it ranked as no amount: a listing sorted with it
    # at its end was refused by a merge as out of order).
    for text, up, down in (("Infinity", "cbaI", "Iabc"), ("-Infinity", "c-ba", "ab-c")):
        amount = sc.Amount(amount=Decimal(text))
        edge = sc.SimCard(id=text[0], current_billing_period_consumed_data=amount)  # "I", "-"
        assert "".join(c.id for c in sorted([*cards, edge], key=ascending.key)) == up
        assert "".join(c.id for c in sorted([*cards, edge], key=descending.key)) == down


# --- progress --------------------------------------------------------------------------


@pytest.mark.parametrize("sort", [None, AMOUNT])
@pytest.mark.parametrize("limit", [None, 37])
async def test_merged_progress_is_honest_and_ends_at_100_percent(
    client: sc.SimCardsClient, sort: str | None, limit: int | None
) -> None:
    """The merged total never falls below what was yielded, only shrinks as overlaps are
    found, and the last snapshot is complete: total == items, fraction 1.0.
    """
    merged = sc.merge(
        client.sim_cards(**STANDBY, sort=sort, page_size=25, limit=limit),
        client.sim_cards(**CUSTOMERS, sort=sort, page_size=25, limit=limit),
        limit=limit,
    )
    snapshots: list[sc.Progress] = []
    merged.on_progress(snapshots.append)
    got = [card async for card in merged]
    final = snapshots[-1]
    assert final.items == final.total_results == len(got) == (limit or len(got))
    assert final.fraction == 1.0
    assert final.pages_done == final.total_pages
    known = [s.total_results for s in snapshots if s.total_results is not None]
    assert known == sorted(known, reverse=True)
    assert all(s.total_results is None or s.items <= s.total_results for s in snapshots)


# --- the command line --------------------------------------------------------------------


def cli(server: MockTelnyxServer, *flags: str) -> list[str]:
    return ["export", "sim-cards", "--api-key", KEY, "--base-url", server.url, *flags]


def read_cards(path: Path) -> list[sc.SimCard]:
    return [msgspec.json.decode(line, type=sc.SimCard) for line in path.read_bytes().splitlines()]


async def test_cli_limit_caps_the_union(tmp_path: Path, server: MockTelnyxServer) -> None:
    """`--any status=standby --any tag=customers --limit 37` writes 37 cards of the union."""
    out = tmp_path / "u.jsonl"
    flags = ["--any", "status=standby", "--any", "tag=customers", "--limit", "37", "-q"]
    assert await run(*cli(server, *flags, "--page-size", "20", "-o", str(out))) == 0
    cards = read_cards(out)
    assert len(cards) == len({c.id for c in cards}) == 37
    assert all(c.status.value == "standby" or "customers" in c.tags for c in cards)


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [None, 37])
async def test_cli_sorted_union_is_written_in_order(
    tmp_path: Path,
    server: MockTelnyxServer,
    client: sc.SimCardsClient,
    sort: str,
    limit: int | None,
) -> None:
    """`--any ... --sort` writes the union in the sort's order (its first N with --limit N)."""
    expected = await expected_union(client, [STANDBY, CUSTOMERS], sort)
    out = tmp_path / "sorted.jsonl"
    flags = ["--any", "status=standby", "--any", "tag=customers", f"--sort={sort}", "-q"]
    if limit is not None:
        flags += ["--limit", str(limit)]
    assert await run(*cli(server, *flags, "--page-size", "40", "-o", str(out))) == 0
    got = read_cards(out)
    assert [c.id for c in got] == [c.id for c in expected[:limit]]


@pytest.mark.parametrize(
    ("common", "term"),
    [
        (["--status", "enabled"], "status=standby"),
        (["--status", "standby"], "status=standby"),
        (["--iccid", "8901"], "iccid=8902"),
        (["--msisdn", "+13125550000"], "msisdn=+13125550001"),
        (
            ["--group-id", "6a09cdc3-8948-47f0-aa62-74ac943d6c58"],
            "group-id=6a09cdc3-8948-47f0-aa62-74ac943d6c59",
        ),
    ],
)
async def test_cli_refuses_a_common_filter_that_conflicts_with_an_any_term(
    tmp_path: Path,
    server: MockTelnyxServer,
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    term: str,
) -> None:
    """A common filter an --any term also sets (tags excepted) is refused: exit 2, a message
    naming both flags, nothing sent.
    """
    flags = [*common, "--any", term, "--any", "tag=vip", "-o", str(tmp_path / "x.jsonl")]
    assert await run(*cli(server, *flags)) == 2
    assert server.requests == []
    err = capsys.readouterr().err
    assert err.startswith("simcards: error:")
    assert common[0] in err
    assert f"--any {term}" in err
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize(
    "flags",
    [
        ["--any", "status=standby", "--any", "tag=customers"],
        ["--any", "status=standby", "--any", "tag=customers", "--limit", "37"],
        ["--any", "status=standby", "--any", "tag=customers", f"--sort={AMOUNT}"],
        ["--status", "standby", "--limit", "37"],
    ],
    ids=["union", "union-limit", "union-sorted", "one-query-limit"],
)
async def test_cli_progress_line_ends_at_100_percent(
    tmp_path: Path, server: MockTelnyxServer, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    """On a terminal the last progress snapshot is complete: 100%, records done = total."""
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(_cli, "REDRAW_INTERVAL", 0.0)  # every snapshot drawn: the last one too
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "p.jsonl"
    assert await run(*cli(server, *flags, "--page-size", "25", "-o", str(out))) == 0
    written = len(out.read_bytes().splitlines())
    parts = terminal.getvalue().split("\r")
    draws = [p for p in parts if "SIM cards" in p and "pages" in p and "exported" not in p]
    assert draws
    last = draws[-1].strip()
    assert last.startswith("100%"), last
    assert f" {written:,}/{written:,} SIM cards" in last


def test_progress_bar_draws_its_complete_snapshot_within_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first complete snapshot is drawn even within the redraw interval, unless the bar
    has already drawn once per interval since it was made; never twice.
    """
    clock = [1000.0]
    monkeypatch.setattr(_cli, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    half = sc.Progress(1, 2, 250, 500, 0, 0.0, 1.0)
    done = sc.Progress(2, 2, 500, 500, 0, 0.0, 2.0)

    def draws(terminal: FakeTerminal) -> list[str]:
        return [p.split()[0] for p in terminal.getvalue().split("\r") if "SIM cards" in p]

    terminal = FakeTerminal()
    bar = ProgressBar(terminal, "SIM cards", enabled=True)
    for now, progress in [(1000.30, half), (1000.35, half), (1000.35, done), (1000.36, done)]:
        clock[0] = now
        bar.update(progress)
    assert draws(terminal) == ["50%", "100%"]

    busy = FakeTerminal()
    bar = ProgressBar(busy, "SIM cards", enabled=True)  # made at 1000.36
    for now, progress in [(1000.36, half), (1000.40, done), (1000.50, done), (1000.51, done)]:
        clock[0] = now
        bar.update(progress)
    assert draws(busy) == ["50%", "100%"]
    assert busy.getvalue().count("SIM cards") == 2


async def test_break_out_of_an_ordered_merge_stops_everything(server: MockTelnyxServer) -> None:
    """Leaving an ordered merge early cancels every query's engine and leaves no task."""
    async with sc.SimCardsClient(KEY, server.url, max_concurrency=3) as client:
        merged = sc.merge(
            client.sim_cards(**STANDBY, sort=AMOUNT, page_size=10),
            client.sim_cards(**CUSTOMERS, sort=AMOUNT, page_size=10),
        )
        async with merged:
            seen = 0
            async for _ in merged:
                seen += 1
                if seen == 15:
                    break
        await eventually(lambda: not client._tasks, what="the merged engines to end")
        assert seen == 15
        assert client._tasks == set()


def test_a_descending_key_keeps_every_digit() -> None:
    """Two amounts that differ past the decimal context's 28 digits do not tie."""
    small, large = (
        sc.SimCard(id=i, current_billing_period_consumed_data=sc.Amount(amount=Decimal(a)))
        for i, a in (
            ("s", "1.00000000000000000000000000001"),
            ("l", "1.00000000000000000000000000009"),
        )
    )
    descending = Ordering.of("-" + AMOUNT)
    assert descending.key(large) < descending.key(small)
    assert [c.id for c in sorted([small, large], key=descending.key)] == ["l", "s"]
