"""Golden hashes of rendered fleets: the same seed gives the same JSON bytes, release to release."""

from __future__ import annotations

import hashlib
import random

import aiohttp
import msgspec
import pytest
from yarl import URL

from simcards_async.testing import Fleet, MockTelnyxServer

_ENCODER = msgspec.json.Encoder()


def _digest(sim_cards: int, actions: int, seed: int) -> str:
    """Hash of first pages (both listings, with and without groups), a filter, a sort,
    one detailed card, and the head of both listings after inserts and deletes.
    """
    fleet = Fleet(sim_cards=sim_cards, actions=actions, seed=seed)
    parts: list[object] = []
    cards = fleet.sim_card_rows()[:50]
    parts.append([fleet.render_sim_card(r) for r in cards])
    parts.append([fleet.render_sim_card(r, include_sim_card_group=True) for r in cards])
    parts.append([fleet.render_action(r) for r in fleet.action_rows()[:50]])
    parts.append(list(fleet.sim_card_rows(status=("enabled", "standby"), tags=("iot",))[:20]))
    parts.append(list(fleet.sim_card_rows(sort="-current_billing_period_consumed_data.amount")))
    parts.append(list(fleet.sim_card_rows(iccid="12")[:20]))
    parts.append(list(fleet.action_rows(status="completed", action_type="disable")[:20]))
    first = fleet.sim_card_ids()[min(3, sim_cards - 1)]
    parts.append(fleet.sim_card(first, include_sim_card_group=True, include_pin_puk_codes=True))
    parts.append(fleet.sim_card_groups())
    rng = random.Random(seed)  # noqa: S311 - test data
    parts.append(fleet.insert_sim_cards(5, rng=rng))
    parts.append(fleet.insert_actions(5, rng=rng))
    parts.append(fleet.delete_sim_cards(7, rng=rng))
    parts.append(fleet.delete_actions(7, rng=rng))
    parts.append(list(fleet.sim_cards())[:30])
    parts.append(list(fleet.actions())[:30])
    return hashlib.sha256(_ENCODER.encode(parts)).hexdigest()


def test_seeded_fleets_render_the_same_bytes_as_before() -> None:
    """Rendered pages, filters, sorts and changes of seeded fleets match pinned hashes."""
    got = {args: _digest(*args) for args in GOLDEN}
    assert got == GOLDEN


GOLDEN = {
    (300, 400, 7): "d1cc8ccd932f73df5760e70bd3f7d2fc557aee27c8641e57572244a4104b87f7",
    (2000, 3000, 1): "1355f22f08e60cec37bbff778d04af707cd64a62249df1164168871bca0fe471",
    (57, 9, 123): "f7719c3a1b4fbbb3390f4848e3380bd45ee672314791ee2fc519eb8392d8207b",
}


_PAGES = (
    "/sim_cards",
    "/sim_cards?page[size]=250",
    "/sim_cards?page[size]=250&include_sim_card_group=true",
    "/sim_cards?page[size]=7&page[number]=3&include_sim_card_group=true",
    "/sim_card_actions",
    "/sim_card_actions?page[size]=250",
)


@pytest.mark.anyio
async def test_served_first_pages_are_the_same_bytes_as_before() -> None:
    """The server's first pages of seeded fleets, both listings, hash as pinned."""
    got = {}
    for args in SERVED:
        sim_cards, actions, seed = args
        digest = hashlib.sha256()
        async with (
            MockTelnyxServer(sim_cards=sim_cards, actions=actions, seed=seed) as server,
            aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as session,
        ):
            for path in _PAGES:
                async with session.get(URL(server.url + path, encoded=True)) as resp:
                    assert resp.status == 200
                    digest.update(await resp.read())
        got[args] = digest.hexdigest()
    assert got == SERVED


SERVED = {
    (300, 400, 7): "c032d1cdf0497c2ddf0c37dd93ffecf834ad681b186bcff07acd2570cc5ad2f4",
    (1000, 500, 2): "7342dce0c3dc55db62220af8329d05ac47f3a3470a5592b642baa0c9b414520c",
}
