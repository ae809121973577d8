"""Merged exports hold each record exactly as the API sent it, by the merge's own rules.

A server of our own answers several filtered listings of one fleet (a card may be in
more than one), with fields no model knows, optional fields left out, timestamps in the
API's own form and amounts written as text, as numbers or not at all. Exported through
``export(merge(...))`` and through ``simcards export sim-cards --any ...``, every line
must be one record's very bytes: each id once, ``limit`` capping the union, ``--sort``
giving the union in order, progress ending at 100%.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from cli_runs import run
from exported_lines import read_lines
from polling import loop_turns
from servers import Served, serve

import simcards_async as sc
from simcards_async._models import decode_raw_page, decode_raw_sim_card_page_by_amount
from simcards_async._query import Ordering

pytestmark = pytest.mark.anyio

KEY = "KEYlossless-merge-tests"
PAGE_SIZE = 3
AMOUNT = "current_billing_period_consumed_data.amount"
SORTS = [AMOUNT, "-" + AMOUNT]
FORMATS = ["jsonl", "json", "jsonl.gz", "json.gz"]
STATUSES = ("enabled", "standby", "disabled")

#: Three overlapping queries, as ``sim_cards()`` arguments, as the wire sends them, and as
#: ``--any`` terms.
QUERIES: list[dict[str, Any]] = [{"status": "standby"}, {"tags": "vip"}, {"tags": "lab"}]
WIRE = [{"filter[status]": "standby"}, {"filter[tags]": "vip"}, {"filter[tags]": "lab"}]
ANY = ["status=standby", "tag=vip", "tag=lab"]


@dataclass(frozen=True)
class Card:
    """One card of the fleet: what the server filters and sorts on, and the bytes it sends."""

    id: str
    status: str
    tags: tuple[str, ...]
    amount: str | None  # the amount as the record writes it, None when it has none
    body: bytes


def card(i: int) -> Card:
    """Card ``i``: four shapes in turn, amounts with ties, some missing or not finite."""
    rid = f"5a0c2e7d-0000-4000-8000-{i:012d}"
    status = STATUSES[i % 3]
    tags = (("vip",) if i % 2 == 0 else ()) + (("lab",) if i % 5 == 4 else ())
    tag_list = json.dumps(list(tags))
    whole = (i * 7) % 5
    shape = i % 4
    amount: str | None
    if shape == 0:  # fields no model knows, nested ones too; the amount as text
        amount = f"{whole}.50"
        text = (
            f'{{"id":"{rid}","record_type":"sim_card","status":{{"value":"{status}",'
            f'"reason":null,"since":"2026-01-01T00:00:27.521Z"}},"tags":{tag_list},'
            f'"future_field":{{"x":[1,2.50,1e3,-0.0]}},"current_billing_period_consumed_data":'
            f'{{"amount":"{amount}","unit":"MB","extra":true}},'
            f'"created_at":"2026-01-01T00:00:27.521Z","updated_at":"2026-01-01T00:00:27Z"}}'
        )
    elif shape == 1:  # every optional field left out: no amount, the smallest
        amount = None
        text = f'{{"id":"{rid}","status":{{"value":"{status}"}},"tags":{tag_list}}}'
    elif shape == 2:  # spaces, keys in another order, the amount as a JSON number
        amount = f"{whole}.0"
        text = (
            f'{{ "updated_at" : "2026-01-01T00:00:27.521000+00:00", "tags" : {tag_list}, '
            f'"current_billing_period_consumed_data" : {{"unit": "MB", "amount": {amount}}}, '
            f'"id" : "{rid}", "status" : {{"value": "{status}"}}, "eid": null }}'
        )
    else:  # an amount that is no number (the smallest), or one with an exponent
        amount = "NaN" if i % 8 == 3 else "1e1"
        text = (
            f'{{"id":"{rid}","status":{{"value":"{status}"}},"tags":{tag_list},'
            f'"current_billing_period_consumed_data":{{"amount":"{amount}","unit":"MB"}},'
            f'"created_at":"2026-01-01T00:00:27.521Z"}}'
        )
    return Card(rid, status, tags, amount, text.encode())


def server_key(amount: str | None, descending: bool) -> tuple[int, Decimal]:
    """Where the server puts a card: by amount, one without a finite amount the smallest."""
    value = None if amount is None else Decimal(amount)
    if value is None or not value.is_finite():
        return (1, Decimal(0)) if descending else (-1, Decimal(0))
    return (0, -value) if descending else (0, value)


class Fleet:
    """``GET /sim_cards`` over a fixed fleet: filters, ``sort`` and pages, as the API does."""

    def __init__(self, count: int = 40) -> None:
        self.cards = [card(i) for i in range(count)]
        self.requests = 0
        #: A wire filter whose listing the server sends out of order.
        self.misordered: tuple[str, str] | None = None

    def listing(self, query: Mapping[str, str]) -> list[Card]:
        """The cards a query asks for, in the server's order."""
        chosen = self.cards
        if "filter[status]" in query:
            statuses = query["filter[status]"].split(",")
            chosen = [c for c in chosen if c.status in statuses]
        if "filter[tags]" in query:
            wanted = query["filter[tags]"].split(",")
            chosen = [c for c in chosen if all(t in c.tags for t in wanted)]
        sort = query.get("sort")
        if sort is not None:
            descending = sort.startswith("-")
            chosen = sorted(chosen, key=lambda c: server_key(c.amount, descending))
            if self.misordered is not None and query.get(self.misordered[0]) == self.misordered[1]:
                chosen.reverse()
        return list(chosen)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one page of a listing."""
        self.requests += 1
        chosen = self.listing(request.query)
        number = int(request.query.get("page[number]", "1"))
        size = int(request.query.get("page[size]", "20"))
        page = chosen[(number - 1) * size : number * size]
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": max(1, -(-len(chosen) // size)),
            "total_results": len(chosen),
        }
        body = b'{"data":[%s],"meta":%s}' % (
            b",".join(c.body for c in page),
            json.dumps(meta).encode(),
        )
        return web.Response(body=body, content_type="application/json")

    def union(self) -> list[bytes]:
        """The bytes of every card any query asks for, each once, in the fleet's order."""
        ids = {c.id for wire in WIRE for c in self.listing(wire)}
        return [c.body for c in self.cards if c.id in ids]

    def ordered_union(self, sort: str) -> list[bytes]:
        """The documented order: by amount, equal amounts in query order, each id once."""
        ranked = []
        for number, wire in enumerate(WIRE):
            for position, c in enumerate(self.listing({**wire, "sort": sort})):
                key = server_key(c.amount, sort.startswith("-"))
                ranked.append((key, number, position, c))
        seen: set[str] = set()
        union = []
        for *_, c in sorted(ranked, key=lambda r: r[:3]):
            if c.id not in seen:
                seen.add(c.id)
                union.append(c.body)
        return union


@asynccontextmanager
async def served(fleet: Fleet) -> AsyncIterator[Served]:
    async with serve(fleet.handle) as where:
        yield where


def streams(client: sc.SimCardsClient, **options: Any) -> list[sc.PageStream[sc.SimCard]]:
    """One stream per query, each with ``options`` (``sort``, ``limit``)."""
    return [client.sim_cards(**query, page_size=PAGE_SIZE, **options) for query in QUERIES]


def the_id(line: bytes) -> str:
    value = msgspec.json.decode(line)["id"]
    assert isinstance(value, str)
    return value


@pytest.fixture(autouse=True)
def key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads the key from the environment; no base URL from there."""
    monkeypatch.setenv("TELNYX_API_KEY", KEY)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)


def test_the_fleet_overlaps_and_has_every_shape() -> None:
    """The queries share cards, and the union holds each shape and amounts that tie."""
    fleet = Fleet()
    listings = [fleet.listing(w) for w in WIRE]
    union = fleet.union()
    assert sum(map(len, listings)) > len(union) > max(map(len, listings))
    assert {c.body[:8] for c in fleet.cards} == {b'{"id":"5', b'{ "updat'}
    amounts = [c.amount for c in fleet.cards]
    assert {None, "NaN", "1e1"} <= set(amounts)
    assert len(set(amounts)) < len(amounts), "ties"


# --- export(merge(...)) -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_merge_exports_every_record_as_sent(tmp_path: Path, fmt: str) -> None:
    """As pages arrive: the union, each id once, every line one record's bytes as sent."""
    fleet = Fleet()
    target = tmp_path / f"union.{fmt}"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        merged = sc.merge(*streams(client), ordered=False)
        result = await sc.export(merged, target)
    lines = read_lines(target)
    assert result.items == len(lines) == len(fleet.union())
    assert sorted(lines) == sorted(fleet.union())
    assert merged.stats.duplicates_dropped == sum(len(fleet.listing(w)) for w in WIRE) - len(lines)


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("fmt", ["jsonl", "json.gz"])
async def test_an_ordered_merge_exports_records_as_sent_in_order(
    tmp_path: Path, fmt: str, sort: str
) -> None:
    """In the common sort: by amount (none or NaN the smallest), ties in query order."""
    fleet = Fleet()
    target = tmp_path / f"union.{fmt}"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        merged = sc.merge(*streams(client, sort=sort))
        assert merged.sort == sort
        await sc.export(merged, target)
    assert read_lines(target) == fleet.ordered_union(sort)


@pytest.mark.parametrize("sort", SORTS)
async def test_a_limited_ordered_merge_is_the_first_records_as_sent(
    tmp_path: Path, sort: str
) -> None:
    """``limit`` caps the union: the first N of its order, byte for byte."""
    fleet = Fleet()
    target = tmp_path / "union.jsonl"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        result = await sc.export(sc.merge(*streams(client, sort=sort), limit=7), target)
    assert result.items == 7
    assert read_lines(target) == fleet.ordered_union(sort)[:7]


async def test_a_limited_merge_as_pages_arrive_holds_n_records_as_sent(tmp_path: Path) -> None:
    """As pages arrive, ``limit`` still caps the union: N different records, each as sent."""
    fleet = Fleet()
    target = tmp_path / "union.jsonl.gz"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        merged = sc.merge(*streams(client), limit=7)
        await sc.export(merged, target)
    lines = read_lines(target)
    assert len(lines) == len({the_id(line) for line in lines}) == 7
    assert set(lines) <= set(fleet.union())
    assert merged.progress.items == 7


async def test_a_merge_without_dedupe_writes_every_occurrence(tmp_path: Path) -> None:
    """``dedupe=False``: a card in two listings is written twice, both times as sent."""
    fleet = Fleet()
    target = tmp_path / "all.jsonl"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        await sc.export(sc.merge(*streams(client), dedupe=False), target)
    sent = [c.body for w in WIRE for c in fleet.listing(w)]
    assert sorted(read_lines(target)) == sorted(sent)


async def test_progress_of_a_raw_merge_ends_at_100_percent(tmp_path: Path) -> None:
    """Progress never passes the union's bound and ends at every record, 100%."""
    fleet = Fleet()
    seen: list[sc.Progress] = []
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        merged = sc.merge(*streams(client, sort=AMOUNT))
        merged.on_progress(seen.append)
        result = await sc.export(merged, tmp_path / "union.jsonl")
    assert len(seen) > 1
    assert all(p.total_results is None or p.items <= p.total_results for p in seen)
    last = seen[-1]
    assert last.items == last.total_results == result.items == len(fleet.union())
    assert last.fraction == 1.0
    assert last.pages_done == last.total_pages == fleet.requests


async def test_a_listing_out_of_order_fails_the_raw_merge(tmp_path: Path) -> None:
    """Raw records are checked against the sort as Structs are: PaginationError, no file."""
    fleet = Fleet()
    fleet.misordered = ("filter[tags]", "vip")
    target = tmp_path / "union.jsonl"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        with pytest.raises(sc.PaginationError, match=r"query 1 .* not in the order.*: item '"):
            await sc.export(sc.merge(*streams(client, sort=AMOUNT)), target)
    assert not list(tmp_path.iterdir())


async def test_entering_the_merge_first_still_exports_as_sent(tmp_path: Path) -> None:
    """`async with merged:` before `export(merged, ...)`: nothing was read, so still lossless."""
    fleet = Fleet()
    target = tmp_path / "union.jsonl"
    async with (
        served(fleet) as where,
        sc.SimCardsClient(KEY, where.url) as client,
        sc.merge(*streams(client, sort=AMOUNT)) as merged,
    ):
        await sc.export(merged, target)
    assert read_lines(target) == fleet.ordered_union(AMOUNT)


async def test_a_merge_being_read_gives_no_raw_records() -> None:
    """Once its items are being read, a merge is typed (``raw_chunks()`` is a second reader,
    refused); once raw, it yields nothing else.
    """
    fleet = Fleet()
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        typed = sc.merge(*streams(client))
        items = typed.__aiter__()
        first = await items.__anext__()
        assert isinstance(first, sc.SimCard)
        with pytest.raises(RuntimeError, match="this stream was read already"):
            typed.raw_chunks()
        rest = [item async for item in items]
        assert len(rest) + 1 == len(fleet.union())

        raw = sc.merge(*streams(client, sort=AMOUNT))
        chunks = raw.raw_chunks()
        assert chunks is not None
        with pytest.raises(RuntimeError, match="raw_chunks"):
            raw.chunks()
        with pytest.raises(RuntimeError, match="raw_chunks"):
            [t async for t in raw.tagged()]
        got = [r async for chunk in chunks for r in chunk]
    assert all(isinstance(r, sc.RawRecord) for r in got)
    assert [bytes(r.raw) for r in got] == fleet.ordered_union(AMOUNT)


async def test_a_merge_of_a_stream_entered_and_awaited_on_is_still_lossless(
    tmp_path: Path,
) -> None:
    """One merged stream entered (``async with first:``) and time let pass: it had fetched
    page 1 as Structs, so no stream was switched and the export encoded Structs, fields no
    model knows dropped. Entering fetches nothing: the merge is exported as sent.
    """
    fleet = Fleet()
    target = tmp_path / "union.jsonl"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        first, *others = streams(client)
        async with first:
            await loop_turns()  # time for a request, had one been sent
            assert fleet.requests == 0
            result = await sc.export(sc.merge(first, *others), target)
    assert result.items == len(fleet.union())
    assert sorted(read_lines(target)) == sorted(fleet.union())


async def test_csv_of_a_merge_still_reads_structs(tmp_path: Path) -> None:
    """CSV keeps its typed columns for a merge: one row per card of the union."""
    fleet = Fleet()
    target = tmp_path / "union.csv"
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        result = await sc.export(sc.merge(*streams(client, sort=AMOUNT)), target)
    rows = target.read_text().splitlines()
    assert result.items == len(rows) - 1 == len(fleet.union())
    assert rows[0].startswith("id,record_type,status,")
    assert [row.split(",")[0] for row in rows[1:]] == [
        the_id(b) for b in fleet.ordered_union(AMOUNT)
    ]
    assert any("2026-01-01T00:00:27.521Z" in row for row in rows)


async def test_a_tagged_merge_is_no_export_and_stays_typed(tmp_path: Path) -> None:
    """`merge_tagged` yields Tagged Structs, which `export()` refuses, naming `items`."""
    fleet = Fleet()
    async with served(fleet) as where, sc.SimCardsClient(KEY, where.url) as client:
        tagged = [t async for t in sc.merge_tagged(*streams(client))]
        assert {t.item.id for t in tagged} == {the_id(b) for b in fleet.union()}
        tagged_items: Any = sc.merge_tagged(*streams(client))  # not what export() takes
        with pytest.raises(sc.InvalidParameterError, match="Tagged") as caught:
            await sc.export(tagged_items, tmp_path / "t.jsonl")
        assert caught.value.parameter == "items"


# --- simcards export sim-cards --any ... ----------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_cli_any_export_writes_every_record_as_sent(tmp_path: Path, fmt: str) -> None:
    """`simcards export sim-cards --any ... -o F`: the union, each record as sent."""
    fleet = Fleet()
    target = tmp_path / f"union.{fmt}"
    anys = [arg for term in ANY for arg in ("--any", term)]
    async with served(fleet) as where:
        code = await run(
            "export", "sim-cards", "--base-url", where.url, "-q", "--page-size", str(PAGE_SIZE),
            *anys, "-o", str(target),
        )  # fmt: skip
    assert code == 0
    assert sorted(read_lines(target)) == sorted(fleet.union())


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [None, 7])
async def test_cli_any_sorted_export_is_in_order_as_sent(
    tmp_path: Path, sort: str, limit: int | None
) -> None:
    """`--any ... --sort S [--limit N]`: the union's first N in order, byte for byte."""
    fleet = Fleet()
    target = tmp_path / "union.jsonl"
    anys = [arg for term in ANY for arg in ("--any", term)]
    limits = [] if limit is None else ["--limit", str(limit)]
    async with served(fleet) as where:
        code = await run(
            "export", "sim-cards", "--base-url", where.url, "-q", "--page-size", str(PAGE_SIZE),
            *anys, f"--sort={sort}", *limits, "-o", str(target),
        )  # fmt: skip
    assert code == 0
    assert read_lines(target) == fleet.ordered_union(sort)[:limit]


# --- the sort value of a raw record, without a socket -----------------------------------------


AMOUNTS = [None, "0", "2.50", "-1", "1e1", "NaN", "Infinity", "-Infinity", "sNaN"]


def _records(amounts: Sequence[str | None], *, as_numbers: bool = False) -> bytes:
    def one(i: int, amount: str | None) -> str:
        if amount is None:
            return f'{{"id":"c{i}","zzz":[1]}}'
        value = amount if as_numbers else f'"{amount}"'
        return f'{{"id":"c{i}","current_billing_period_consumed_data":{{"amount":{value}}}}}'

    records = ",".join(one(i, a) for i, a in enumerate(amounts))
    return f'{{"data":[{records}]}}'.encode()


@pytest.mark.parametrize("sort", SORTS)
def test_a_raw_records_key_is_the_typed_cards_key(sort: str) -> None:
    """``Ordering.raw_key`` of a record read raw equals ``Ordering.key`` of it read typed."""
    ordering = Ordering.of(sort)
    for body in (_records(AMOUNTS), _records(["0", "2.50", "-1", "1e1", "3"], as_numbers=True)):
        raw = decode_raw_sim_card_page_by_amount(body).data
        typed = msgspec.json.decode(body, type=sc.Page[sc.SimCard]).data
        assert [ordering.raw_key(r) for r in raw] == [ordering.key(c) for c in typed]
        plain = decode_raw_page(body).data
        assert [(r.id, bytes(r.raw)) for r in raw] == [(r.id, bytes(r.raw)) for r in plain]
    keys = [ordering.raw_key(r) for r in decode_raw_sim_card_page_by_amount(_records(AMOUNTS)).data]
    smallest = min(keys) if not sort.startswith("-") else max(keys)
    no_amount = [a for a, k in zip(AMOUNTS, keys, strict=True) if k == smallest]
    assert no_amount == [None, "NaN", "sNaN"]  # Infinity and -Infinity sort at their ends


@pytest.mark.parametrize(
    "record",
    [
        b'{"id":"a","current_billing_period_consumed_data":null}',
        b'{"id":"a","current_billing_period_consumed_data":{"amount":"lots"}}',
        b'{"id":"a","current_billing_period_consumed_data":{"amount":true}}',
        b'{"id":"a","current_billing_period_consumed_data":[]}',
    ],
)
def test_an_amount_the_typed_decoder_refuses_is_refused_raw(record: bytes) -> None:
    """A sorted listing's raw decoder fails on an amount exactly where the typed one does."""
    body = b'{"data":[%s]}' % record
    with pytest.raises(msgspec.ValidationError):
        decode_raw_sim_card_page_by_amount(body)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=sc.Page[sc.SimCard])
    assert [r.id for r in decode_raw_page(body).data] == ["a"], "unsorted: passed on untouched"
