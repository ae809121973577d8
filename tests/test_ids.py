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
    """Four FOLDs of UUIDs: the structure holds under 28 bytes an id, the newest FOLD
    ids' set included (a set of the same strings takes about 120).
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
    assert held / len(ids) < 28


def test_ids_that_share_map_slots_are_never_dropped_nor_repeated() -> None:
    """Sized for 1 id but given 3 * FOLD: the map is saturated, nearly every slot
    shared. A folded id is still refused and a new one still accepted, every time.
    """
    known = DeliveredIds(1)
    ids = uuids(1, 3 * FOLD)
    for at in range(0, len(ids), 256):
        assert known.add_if_all_new(ids[at : at + 256])
    fresh = uuids(10**7, FOLD)
    assert not any(i in known for i in fresh)
    assert all(i in known for i in ids)
    for at in range(0, len(fresh), 4096):
        assert known.add_if_all_new(fresh[at : at + 4096])
    assert len(known) == 4 * FOLD
    for at in range(0, len(ids), 4096):
        assert not known.add_if_all_new([*uuids(10**8 + at, 3), ids[at]])
    assert len(known) == 4 * FOLD


def test_fingerprints_that_match_by_chance_do_not_drop_a_new_id() -> None:
    """New ids whose slot holds every fingerprint bit (planted, so the check must look
    them up) are still new; ids of every shape survive the same treatment.
    """
    known = DeliveredIds(2 * FOLD)
    old = uuids(1, 2 * FOLD)
    odd = [f"card-{n}" for n in range(0, 2 * FOLD, 7)]
    known.add(old)
    known.add(odd)
    known.add(uuids(10**6, FOLD))  # folds, the odd ids among them
    fresh = [*uuids(10**7, 5000), "card-1", old[3].upper()]
    for each in fresh:  # every fresh id now matches its slot, so it is looked up
        known._map[hash(each) % known._slots] = 0xFF
    assert not any(i in known for i in fresh)
    for at in range(0, len(fresh), 250):
        assert known.add_if_all_new(fresh[at : at + 250])
    assert all(i in known for i in fresh)
    assert not any(known.add_if_all_new([i]) for i in [*old[::101], *odd[::13]])


def test_every_folded_id_is_found_whatever_shares_its_slot() -> None:
    """The smallest map, many ids a slot, folded in batches that mix shapes: every
    folded id's slot is marked and the id is found; fresh ids are not.
    """
    known = DeliveredIds(1)
    ids = [f"x{n}" for n in range(1000)] + uuids(1, 3 * FOLD)
    for at in range(0, len(ids), 1000):
        known.add(ids[at : at + 1000])
    folded = ids[: len(known) - len(known._recent)]
    assert len(folded) >= 2 * FOLD
    assert all(known._map[hash(each) % known._slots] for each in folded)
    assert all(each in known for each in folded)
    assert not any(each in known for each in uuids(10**7, 2000))
