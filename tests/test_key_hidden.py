"""The API key stays secret: never in an exception's text, its cause or its pickle."""

from __future__ import annotations

import pickle

import pytest
from servers import refusing
from small_fleet import KEY, UNKNOWN_ID

from simcards_async import (
    APIConnectionError,
    NotFoundError,
    SimCardsClient,
)
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


# --- the key stays secret ---------------------------------------------------------------


async def test_key_never_shown(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """The key appears in no repr or str of the client, a stream, a page or an exception."""
    stream = client.sim_cards(page_size=100)
    await stream.collect()
    texts = [repr(client), str(client), repr(stream), str(stream), repr(stream.stats)]
    try:
        await client.get_sim_card(UNKNOWN_ID)
    except NotFoundError as exc:
        texts += [str(exc), repr(exc), exc.url, repr(vars(exc))]
    texts.append(repr(client._transport()))
    assert len(texts) == 10
    for text in texts:
        assert KEY not in text
    assert all("<redacted>" in r.headers["authorization"] for r in server.requests)


async def test_key_not_in_connection_errors() -> None:
    """A connection failure's message and fields do not carry the key."""
    with refusing() as served:
        async with SimCardsClient(KEY, served.url, max_retries=0) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.sim_cards().collect()
    exc = info.value
    for text in (str(exc), repr(exc), repr(vars(exc)), repr(exc.__cause__)):
        assert KEY not in text
    assert KEY.encode() not in pickle.dumps(exc)
