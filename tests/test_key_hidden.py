"""The API key stays secret: never in an exception's text, its cause or its pickle."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from servers import Handler, refusing, serve, sorted_pages
from small_fleet import KEY, UNKNOWN_ID

import simcards_async as sc
from simcards_async import (
    APIConnectionError,
    InvalidParameterError,
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


class _Notifier:
    """A caller's notifier holding the key, whose repr shows it (as a dataclass's would)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"_Notifier(key={self.key!r})"

    async def send(self, _event: object) -> None:
        """An ``async`` method: refused as a callback."""


async def _notify(_key: str, _event: object) -> None:
    """An ``async`` function: refused as a callback."""


def _made_coroutine(key: str, event: object) -> object:
    """A plain function that returns a coroutine: refused when called."""
    return _notify(key, event)


def _saves(_key: str) -> Iterator[dict[str, str]]:
    """A generator function: refused as a ``state``."""
    yield {}


@pytest.mark.parametrize(
    "callback",
    [functools.partial(_notify, KEY), _Notifier(KEY).send, functools.partial(_saves, KEY)],
    ids=["partial", "bound method", "partial of a generator function"],
)
async def test_a_refused_callback_is_shown_by_name_not_by_what_it_holds(callback: object) -> None:
    """``on_response=functools.partial(notify, key)`` was refused with the partial's repr in
    the message, and the key the client was given just before in it; so was a bound
    method (its object's repr), a progress callback and an export's ``state``. A refused
    callback is shown by its name alone.
    """
    refusals = []
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, "http://127.0.0.1:9/v2", on_response=callback)  # type: ignore[arg-type]
    refusals.append(info.value)
    async with SimCardsClient(KEY, "http://127.0.0.1:9/v2") as client:
        stream = client.sim_cards()
        with pytest.raises(InvalidParameterError) as info:
            stream.on_progress(callback)  # type: ignore[arg-type]
        refusals.append(info.value)
        if isinstance(callback, functools.partial) and callback.func is _saves:
            with pytest.raises(InvalidParameterError) as info:
                stream.chunks(state=callback)
            refusals.append(info.value)
        await stream.aclose()
    for refusal in refusals:
        assert KEY not in str(refusal)
        assert KEY not in repr(vars(refusal))
        assert isinstance(refusal.value, str), "a name: the callback would hold the key"
        assert KEY.encode() not in pickle.dumps(refusal)
        assert str(pickle.loads(pickle.dumps(refusal))) == str(refusal)  # noqa: S301  (ours)
        name = "_Notifier.send" if callback.__class__.__name__ == "method" else "_notify"
        assert name in str(refusal) or "_saves" in str(refusal)


async def test_a_callback_refused_when_called_is_shown_by_name(server: MockTelnyxServer) -> None:
    """A plain function returning a coroutine is refused at its first call: by its name,
    not by its repr, which for a ``functools.partial`` holds the key.
    """
    callback = functools.partial(_made_coroutine, KEY)
    async with SimCardsClient(KEY, server.url, on_response=callback) as client:
        with pytest.raises(InvalidParameterError, match="never awaited") as info:
            await client.sim_cards(page_size=100).collect()
    assert KEY not in str(info.value)
    assert "functools.partial(<function _made_coroutine>, ...)" in str(info.value)


async def test_a_filter_value_that_is_the_key_is_not_shown(tmp_path: Path) -> None:
    """The key given as a filter's value (pasted into the wrong place) was shown by a
    stream's and a merge's repr, by a ``PaginationError``'s url (in ``vars(exc)``) and a
    merge's refusal of a stream, and by the refusal of a checkpoint of another query.
    """

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query.get("page[number]", "1"))
        data = [{"id": f"card-{number}-{i}", "record_type": "sim_card"} for i in range(10)]
        meta = {"page_number": 7, "page_size": 10, "total_pages": 3, "total_results": 30}
        return web.json_response({"data": data, "meta": meta})  # page 7 for page 1

    async with (
        serve(handler) as served,
        SimCardsClient(KEY, served.url, max_retries=0) as client,
    ):
        texts: list[str] = []
        stream = client.sim_cards(tags=[KEY], page_size=10)
        merged = sc.merge(stream, client.sim_cards(iccid=KEY, page_size=10))
        texts += [repr(stream), repr(merged)]
        await merged.aclose()
        closed = client.sim_cards(tags=[KEY])
        await closed.aclose()
        with pytest.raises(InvalidParameterError) as refused:
            sc.merge(closed, client.sim_cards())  # a stream closed is refused by its query
        texts += [str(refused.value)]
        with pytest.raises(sc.PaginationError) as failed:
            await client.sim_cards(tags=[KEY], page_size=10).collect()
        texts += [str(failed.value), repr(vars(failed.value))]
    async with (
        MockTelnyxServer(sim_cards=20) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        point = tmp_path / "scan.json"
        await client.sim_cards(tags=[KEY], checkpoint=point).collect()
        with pytest.raises(InvalidParameterError, match="same query") as other:
            client.sim_cards(tags=["iot"], resume_from=point)
        texts += [str(other.value), repr(vars(other.value))]
        assert other.value.__context__ is None, "not chained to the refusal that showed it"
        assert other.value.__cause__ is None
    assert len(texts) == 7
    for text in texts:
        assert KEY not in text, text
        assert "<redacted>" in text or "page 1 was asked for" in text, text


AMOUNT = "current_billing_period_consumed_data.amount"


def _echoing(amounts: dict[int, list[str]]) -> Handler:
    """A server that echoes the key it was sent in its records' ids: two pages of the
    amounts ``amounts`` gives each.
    """

    def card_id(request: web.Request, number: int, i: int) -> str:
        return f"{number}-{i}-{request.headers['Authorization'].removeprefix('Bearer ')}"

    return sorted_pages(amounts, card_id)


def _kept_secret(texts: list[str]) -> None:
    assert texts
    for text in texts:
        assert KEY not in text, text
        assert "<redacted>" in text, text


def _sorted_merge(client: SimCardsClient) -> sc.MergedStream[sc.SimCard]:
    return sc.merge(
        client.sim_cards(sort=AMOUNT, page_size=2),
        client.sim_cards(sort=AMOUNT, page_size=2, status="enabled"),
    )


async def test_a_record_id_that_echoes_the_key_is_not_shown_by_a_merges_refusal() -> None:
    """A merge in sort order quoted the id of a record out of its page's order as the
    server sent it, key and all, in the ``PaginationError`` refusing it.
    """
    out_of_order = {1: ["1.0", "3.0"], 2: ["4.0", "2.0"]}
    async with serve(_echoing(out_of_order)) as served, SimCardsClient(KEY, served.url) as client:
        with pytest.raises(sc.PaginationError, match="came after one") as info:
            await _sorted_merge(client).collect()
    _kept_secret([str(info.value), repr(vars(info.value))])
    assert KEY.encode() not in pickle.dumps(info.value)


async def test_a_record_id_that_echoes_the_key_is_not_shown_by_a_merges_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """... and in the ``DriftWarning`` (and its log line) of a page that starts before its
    previous page ended.
    """
    late = {1: ["1.0", "3.0"], 2: ["2.0", "4.0"]}
    async with serve(_echoing(late)) as served, SimCardsClient(KEY, served.url) as client:
        with pytest.warns(sc.DriftWarning, match="previous page ended") as caught:
            assert len(await _sorted_merge(client).collect()) == 4  # each id once
    logged = [r.getMessage() for r in caplog.records if "previous page ended" in r.getMessage()]
    _kept_secret([str(warning.message) for warning in caught] + logged)


async def test_a_record_id_that_echoes_the_key_is_not_shown_by_an_exports_refusal(
    tmp_path: Path,
) -> None:
    """An export to Parquet refused an amount no ``decimal(38, 9)`` holds naming the
    record by its id as the server sent it, key and all (in the message and ``record``).
    """
    amounts = {1: ["1.0", "2.0"], 2: ["3.0", "1E+400"]}
    async with serve(_echoing(amounts)) as served, SimCardsClient(KEY, served.url) as client:
        with pytest.raises(sc.ExportError, match="does not fit") as info:
            await sc.export(client.sim_cards(page_size=2), tmp_path / "cards.parquet")
    refused = info.value
    _kept_secret([str(refused), str(refused.record), repr(vars(refused))])
    assert refused.record == "2-1-<redacted>"
    assert (refused.format, refused.column) == ("parquet", AMOUNT.replace(".", "_"))
    assert KEY not in repr(refused.__cause__)
    assert refused.__context__ is None, "not chained to the refusal that showed it"
    assert list(tmp_path.iterdir()) == []
