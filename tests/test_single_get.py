"""``get_sim_card`` and ``get_sim_card_action``: one record by id, with its options."""

from __future__ import annotations

import json
import uuid

import pytest
from aiohttp import web
from servers import serve

from simcards_async import (
    APIResponseValidationError,
    SimCardsClient,
)
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


# --- single items ---------------------------------------------------------------------


async def test_get_sim_card(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``get_sim_card`` returns the full card, without codes or group unless asked."""
    card_id = server.current_sim_card_ids()[7]
    card = await client.get_sim_card(card_id)
    assert card.id == card_id
    assert card.pin_puk_codes is None
    assert card.sim_card_group is None
    assert card.current_device_location is not None or card.live_data_session is not None
    (record,) = server.requests
    assert record.path == f"/v2/sim_cards/{card_id}"
    assert record.raw_query == ""


async def test_get_sim_card_with_flags(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """The include flags bring the PIN/PUK codes and the group, and are sent as ``true``."""
    card_id = server.current_sim_card_ids()[8]
    card = await client.get_sim_card(
        card_id, include_pin_puk_codes=True, include_sim_card_group=True
    )
    assert card.pin_puk_codes is not None
    assert card.pin_puk_codes.pin1
    assert card.pin_puk_codes.pin1 not in repr(card)
    assert card.sim_card_group is not None
    assert card.sim_card_group.id == card.sim_card_group_id
    (record,) = server.requests
    assert record.query == {"include_pin_puk_codes": ["true"], "include_sim_card_group": ["true"]}


async def test_get_sim_card_accepts_a_uuid(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """A ``uuid.UUID`` works as the id."""
    import uuid  # noqa: PLC0415

    card_id = server.current_sim_card_ids()[0]
    assert (await client.get_sim_card(uuid.UUID(card_id))).id == card_id


async def test_get_sim_card_action(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``get_sim_card_action`` returns the same action the listing shows."""
    listed = await client.sim_card_actions(limit=3).collect()
    action = await client.get_sim_card_action(listed[2].id)
    assert action == listed[2]
    assert server.requests[-1].path == f"/v2/sim_card_actions/{listed[2].id}"


ASKED = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        ({"id": "7b1acdc3-8948-47f0-aa62-74ac943d6c58", "record_type": "sim_card"}, "holds '7b1a"),
        ({"id": ASKED, "record_type": "sim_card_action"}, "holds a 'sim_card_action'"),
    ],
)
async def test_an_answer_holding_another_record_is_refused(
    answer: dict[str, str], refused: str
) -> None:
    """A server (or a redirect it sends) answering with another card, or an action with the
    same id, is not taken for the card asked for.
    """

    async def handle(_request: web.Request) -> web.Response:
        return web.json_response({"data": answer})

    async with (
        serve(handle) as where,
        SimCardsClient("KEY-single-get", where.url, max_retries=0) as client,
    ):
        with pytest.raises(APIResponseValidationError, match=refused):
            await client.get_sim_card(ASKED)


async def test_the_record_asked_for_is_found_whatever_the_case_of_its_id() -> None:
    """Ids compare as UUIDs do: an upper-case answer to a lower-case ask is the same record."""

    async def handle(request: web.Request) -> web.Response:
        asked = request.path.rsplit("/", 1)[-1]
        kind = "sim_card" if "/sim_cards/" in request.path else "sim_card_action"
        body = {"data": {"id": asked.upper(), "record_type": kind}}
        return web.Response(text=json.dumps(body), content_type="application/json")

    async with serve(handle) as where, SimCardsClient("KEY-single-get", where.url) as client:
        assert (await client.get_sim_card(uuid.UUID(ASKED))).id == ASKED.upper()
        assert (await client.get_sim_card_action(ASKED)).id == ASKED.upper()
