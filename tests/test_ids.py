"""``DeliveredIds``: exact membership across folds, any id shape, and its memory per id."""

from __future__ import annotations

import tracemalloc
import uuid

from simcards_async._ids import FOLD, DeliveredIds


def uuids(start: int, count: int) -> list[str]:
    """Canonical lowercase UUIDs, spread over the whole 128-bit range."""
    return [
        str(uuid.UUID(int=(n * 0x9E3779B97F4A7C15F39CC0605CEDC834) % (1 << 128)))
        for n in range(start, start + count)
    ]


def test_ids_stay_known_after_they_are_folded_into_binary() -> None:
    """Past FOLD ids the older ones move to compact storage and are still found, exactly."""
    known = DeliveredIds(3 * FOLD)
    ids = uuids(1, 3 * FOLD)
    for at in range(0, len(ids), 250):
        assert known.add_if_all_new(ids[at : at + 250])
    assert len(known) == 3 * FOLD
    assert all(i in known for i in ids[::97])
    assert not any(i in known for i in uuids(10**7, 500))
    # A page with one id delivered long ago is refused whole, and changes nothing.
    page = [*uuids(10**7, 249), ids[5]]
    assert not known.add_if_all_new(page)
    assert page[0] not in known
    assert len(known) == 3 * FOLD


def test_a_page_that_repeats_an_id_of_its_own_is_refused() -> None:
    """The same id twice on one page is a repeat too."""
    known = DeliveredIds()
    assert not known.add_if_all_new(["a", "b", "a"])
    assert "a" not in known
    assert len(known) == 0


def test_ids_of_any_shape_are_kept_exactly() -> None:
    """Ids that are not lowercase canonical UUIDs (upper case, other text) are kept as
    strings, so an upper-case UUID and its lower-case twin stay two different ids.
    """
    known = DeliveredIds()
    lower = uuids(1, FOLD)
    odd = ["card-1", "card 2", lower[0].upper(), "ÿ"]
    known.add(lower)
    known.add(odd)
    known.add(uuids(FOLD + 1, FOLD))  # forces a fold of a mixed batch
    assert all(i in known for i in odd)
    assert lower[0] in known
    assert lower[1].upper() not in known
    assert "card-3" not in known


def test_memory_per_id_is_compact_once_folded() -> None:
    """Four FOLDs of UUIDs: the structure holds under 40 bytes an id (a set of the same
    strings takes about 120).
    """
    ids = uuids(1, 4 * FOLD)
    tracemalloc.start()
    try:
        known = DeliveredIds(len(ids))
        for at in range(0, len(ids), 250):
            known.add_if_all_new(ids[at : at + 250])
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(known) == len(ids)
    assert held / len(ids) < 40
