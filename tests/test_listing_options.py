"""What each listing argument does over loopback HTTP: every filter, the sort, and paging
(``page_size``, ``start_page``, ``limit``, whole ``pages()``).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from small_fleet import CARDS, KEY

from simcards_async import (
    SIM_CARD_STATUSES,
    SimCard,
    SimCardsClient,
)
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


def _ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


# --- filters -------------------------------------------------------------------------


async def test_unfiltered_listing_is_the_whole_fleet_in_order(
    server: MockTelnyxServer, everything: list[SimCard]
) -> None:
    """An unfiltered listing yields every card once, in the server's listing order."""
    assert len(everything) == CARDS
    assert _ids(everything) == server.current_sim_card_ids()


@pytest.mark.parametrize(
    "status",
    [
        "enabled",
        "disabled",
        "standby",
        "data_limit_exceeded",
        "unauthorized_imei",
        ["disabled", "standby"],
        list(SIM_CARD_STATUSES),
    ],
)
async def test_status_filter_narrows(
    client: SimCardsClient, everything: list[SimCard], status: str | list[str]
) -> None:
    """``status`` yields exactly the cards with any of the given statuses, in listing order."""
    wanted = {status} if isinstance(status, str) else set(status)
    expected = [c for c in everything if c.status.value in wanted]
    got = await client.sim_cards(status=status, page_size=50).collect()
    assert expected
    assert _ids(got) == _ids(expected)


@pytest.mark.parametrize("tags", ["customers", ["customers", "vip"], ("iot", "fleet-a")])
async def test_tags_filter_narrows(
    client: SimCardsClient, everything: list[SimCard], tags: str | list[str]
) -> None:
    """``tags`` yields exactly the cards carrying all the given tags."""
    wanted = {tags} if isinstance(tags, str) else set(tags)
    expected = [c for c in everything if wanted <= set(c.tags)]
    got = await client.sim_cards(tags=tags, page_size=50).collect()
    assert 0 < len(expected) < len(everything)
    assert _ids(got) == _ids(expected)


async def test_iccid_filter_matches_part_of_the_iccid(
    client: SimCardsClient, everything: list[SimCard]
) -> None:
    """``iccid`` matches any card whose ICCID contains the given digits."""
    iccid = everything[17].iccid
    assert iccid is not None
    part = iccid[9:15]
    expected = [c for c in everything if part in (c.iccid or "")]
    got = await client.sim_cards(iccid=part).collect()
    assert everything[17].id in _ids(got)
    assert _ids(got) == _ids(expected)
    exact = await client.sim_cards(iccid=iccid).collect()
    assert _ids(exact) == [everything[17].id]


async def test_msisdn_filter_finds_the_card(
    client: SimCardsClient, everything: list[SimCard]
) -> None:
    """``msisdn`` (with its ``+``) yields the one card with that number."""
    card = everything[42]
    assert card.msisdn is not None
    assert card.msisdn.startswith("+")
    got = await client.sim_cards(msisdn=card.msisdn).collect()
    assert _ids(got) == [card.id]


async def test_group_filter_narrows(client: SimCardsClient, everything: list[SimCard]) -> None:
    """``sim_card_group_id`` yields exactly the cards of that group."""
    group = everything[3].sim_card_group_id
    assert group is not None
    expected = [c for c in everything if c.sim_card_group_id == group]
    got = await client.sim_cards(sim_card_group_id=group, page_size=25).collect()
    assert 0 < len(expected) < len(everything)
    assert _ids(got) == _ids(expected)


async def test_filters_combine(client: SimCardsClient, everything: list[SimCard]) -> None:
    """Several filters at once yield the cards matching all of them."""
    group = everything[0].sim_card_group_id
    expected = [
        c
        for c in everything
        if c.status.value in {"enabled", "disabled"}
        and "customers" in c.tags
        and c.sim_card_group_id == group
    ]
    got = await client.sim_cards(
        status=["enabled", "disabled"], tags="customers", sim_card_group_id=group, page_size=5
    ).collect()
    assert expected
    assert _ids(got) == _ids(expected)


async def test_include_sim_card_group_embeds_the_group(client: SimCardsClient) -> None:
    """With ``include_sim_card_group`` each card carries its own group."""
    cards = await client.sim_cards(include_sim_card_group=True, page_size=100).collect()
    assert len(cards) == CARDS
    for card in cards:
        assert card.sim_card_group is not None
        assert card.sim_card_group.id == card.sim_card_group_id
    plain = await client.sim_cards(limit=10).collect()
    assert all(card.sim_card_group is None for card in plain)


@pytest.mark.parametrize(
    ("sort", "descending"),
    [
        ("current_billing_period_consumed_data.amount", False),
        ("-current_billing_period_consumed_data.amount", True),
    ],
)
async def test_sort_by_consumed_data(
    client: SimCardsClient, everything: list[SimCard], sort: str, *, descending: bool
) -> None:
    """``sort`` orders the whole listing by consumed data (amounts monotonic), either way."""
    got = await client.sim_cards(sort=sort, page_size=40).collect()
    amounts = [c.current_billing_period_consumed_data.amount for c in got]
    assert all(isinstance(a, Decimal) for a in amounts)
    assert amounts == sorted(amounts, reverse=descending)  # type: ignore[type-var]
    assert amounts[0] != amounts[-1]
    assert sorted(_ids(got)) == sorted(_ids(everything))


@pytest.mark.parametrize(
    ("filter_name", "pick"),
    [
        ("sim_card_id", lambda a: a["sim_card_id"]),
        ("status", lambda _: "completed"),
        ("status", lambda _: "failed"),
        ("status", lambda _: "in-progress"),
        ("action_type", lambda _: "disable"),
        ("action_type", lambda _: "set_public_ip"),
    ],
)
async def test_action_filters_narrow(
    server: MockTelnyxServer, client: SimCardsClient, filter_name: str, pick: Any
) -> None:
    """Each ``sim_card_actions`` filter yields exactly the matching actions, in order."""
    rendered = list(server.fleet.actions())
    value = pick(rendered[5])
    field = {"sim_card_id": "sim_card_id", "action_type": "action_type"}.get(filter_name)
    expected = [
        a["id"]
        for a in rendered
        if (a[field] if field else a["status"]["value"]) == value  # status is an object
    ]
    got = await client.sim_card_actions(page_size=30, **{filter_name: value}).collect()
    assert expected
    assert _ids(got) == expected


async def test_bulk_action_filter_narrows(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``bulk_sim_card_action_id`` yields exactly the actions of that bulk operation."""
    rendered = list(server.fleet.actions())
    bulk = next(a["bulk_sim_card_action_id"] for a in rendered if a["bulk_sim_card_action_id"])
    expected = [a["id"] for a in rendered if a["bulk_sim_card_action_id"] == bulk]
    got = await client.sim_card_actions(bulk_sim_card_action_id=bulk).collect()
    assert _ids(got) == expected


async def test_action_listing_is_every_action_in_order(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """An unfiltered actions listing yields every action once, in the server's order."""
    got = await client.sim_card_actions(page_size=33).collect()
    assert _ids(got) == server.current_action_ids()


# --- paging --------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 7, 250])
async def test_order_across_pages(page_size: int) -> None:
    """Any page size yields the fleet once each, in listing order across page boundaries."""
    async with (
        MockTelnyxServer(sim_cards=60, actions=1, seed=3) as server,
        SimCardsClient(KEY, server.url, max_concurrency=8) as client,
    ):
        stream = client.sim_cards(page_size=page_size)
        got = await stream.collect()
        assert _ids(got) == server.current_sim_card_ids()
        assert stream.stats.pages_fetched == math.ceil(60 / page_size)
        sizes = {r.query["page[size]"][0] for r in server.requests}
        assert sizes == {str(page_size)}


async def test_every_request_sends_page_number_and_size(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """Each page is asked for once, by ``page[number]`` and ``page[size]``."""
    await client.sim_cards(page_size=40).collect()
    numbers = sorted(int(r.query["page[number]"][0]) for r in server.requests)
    assert numbers == list(range(1, 9))
    assert all(r.status == 200 for r in server.requests)
    assert all(r.path == "/v2/sim_cards" for r in server.requests)


async def test_start_page(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``start_page`` skips the pages before it, without requesting them."""
    got = await client.sim_cards(page_size=50, start_page=3).collect()
    assert _ids(got) == server.current_sim_card_ids()[100:]
    numbers = sorted(int(r.query["page[number]"][0]) for r in server.requests)
    assert numbers == [3, 4, 5, 6]


async def test_start_page_past_the_end(client: SimCardsClient) -> None:
    """A ``start_page`` beyond the last page yields nothing, quietly."""
    assert await client.sim_cards(page_size=100, start_page=9).collect() == []


@pytest.mark.parametrize(("limit", "page_size", "pages"), [(5, 2, 3), (120, 50, 3), (1, 250, 1)])
async def test_limit_caps_items_and_pages(
    server: MockTelnyxServer, client: SimCardsClient, limit: int, page_size: int, pages: int
) -> None:
    """``limit`` caps the items yielded, and no page past the one reaching it is requested."""
    stream = client.sim_cards(page_size=page_size, limit=limit)
    got = await stream.collect()
    assert _ids(got) == server.current_sim_card_ids()[:limit]
    assert len(server.requests) == pages
    assert stream.stats.items_yielded == limit


async def test_limit_larger_than_the_listing(client: SimCardsClient) -> None:
    """A ``limit`` above the total simply yields everything."""
    assert len(await client.sim_cards(limit=10_000, page_size=100).collect()) == CARDS


async def test_pages_yields_whole_pages(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``.pages()`` yields each page, in order, with its meta."""
    stream = client.sim_cards(page_size=64)
    pages = [page async for page in stream.pages()]
    assert [len(p.data) for p in pages] == [64, 64, 64, 64, 44]
    assert [p.meta.page_number for p in pages if p.meta] == [1, 2, 3, 4, 5]
    assert all(p.meta and p.meta.total_results == CARDS for p in pages)
    assert [c.id for p in pages for c in p.data] == server.current_sim_card_ids()
    assert stream.stats.items_yielded == CARDS
