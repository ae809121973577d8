"""Drawing the fleet's records: groups, and the column values of new cards and actions.

Pure: everything comes from seeded RNGs, so the same seed draws the same fleet. Cards were
registered over three years, actions over the last two; about 5% of cards come in batches
that share a ``created_at``, and a few actions are bulk actions over 10 to 50 cards.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import TYPE_CHECKING

from ._codes import iso, random_uuid, seeded_rng, tie_ordered, uuid_text
from ._vocab import (
    ACTION_SPAN_MS,
    ACTION_START_MS,
    ACTION_STATUS_WEIGHTS,
    ACTION_TYPE_WEIGHTS,
    CARD_SPAN_MS,
    CONSUMED_FLOOR,
    CONSUMES,
    DAY_MS,
    GROUP_NAMES,
    GROUP_WEIGHTS,
    SIM_CARD_TAGS,
    START_MS,
    STATUS_WEIGHTS,
    TAG_COMBOS,
    JSONObject,
)

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence

    from ._columns import Columns


def _weighted_table(weights: Sequence[int]) -> bytes:
    """Map each of the 256 byte values to a code, in proportion to ``weights``."""
    total = sum(weights)
    counts = [w * 256 // total for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i])[: 256 - sum(counts)]:
        counts[i] += 1
    return b"".join(bytes((code,)) * count for code, count in enumerate(counts))


_STATUS_TABLE = _weighted_table(STATUS_WEIGHTS)
_GROUP_TABLE = _weighted_table(GROUP_WEIGHTS)
_ACTION_TYPE_TABLE = _weighted_table(ACTION_TYPE_WEIGHTS)
_ACTION_STATUS_TABLE = _weighted_table(ACTION_STATUS_WEIGHTS)


def tag_table(seed: int) -> bytes:
    """Map byte values to tag bitmasks: a quarter untagged, the rest one to three tags."""
    rng = seeded_rng("tags", seed)
    bit = {tag: 1 << i for i, tag in enumerate(SIM_CARD_TAGS)}
    masks = [0] * 64
    masks += [bit[rng.choice(SIM_CARD_TAGS)] for _ in range(88)]
    masks += [bit[a] | bit[b] for a, b in (rng.choice(TAG_COMBOS) for _ in range(64))]
    for _ in range(40):
        a, b = rng.choice(TAG_COMBOS)
        masks.append(bit[a] | bit[b] | bit[rng.choice(SIM_CARD_TAGS)])
    return bytes(masks)


def make_groups(seed: int) -> list[JSONObject]:
    """The SIM card groups, rendered as the API does."""
    rng = seeded_rng("groups", seed)
    groups = []
    for i, name in enumerate(GROUP_NAMES):
        created = START_MS - (i + 1) * 7 * DAY_MS + rng.randrange(DAY_MS)
        limit = rng.choice((("100.0", "GB"), ("500.0", "GB"), ("2048.0", "MB")))
        groups.append(
            {
                "id": uuid_text(random_uuid(rng)),
                "record_type": "sim_card_group",
                "name": name,
                "default": i == 0,
                "data_limit": {"amount": limit[0], "unit": limit[1]},
                "consumed_data": {
                    "amount": f"{rng.randrange(10**7)}.{rng.randrange(10)}",
                    "unit": "MB",
                },
                "private_wireless_gateway_id": (
                    uuid_text(random_uuid(rng)) if name == "IoT sensors" else None
                ),
                "wireless_blocklist_id": None,
                "created_at": iso(created),
                "updated_at": iso(created + rng.randrange(400 * DAY_MS)),
            }
        )
    return groups


def append_sim_cards(cols: Columns, rng: random.Random, created: Sequence[int]) -> range:
    """Draw cards created at these times onto the columns; return their new rows."""
    count = len(created)
    start = len(cols.c_created)
    status = rng.randbytes(count).translate(_STATUS_TABLE)
    raw = array("I")
    raw.frombytes(rng.randbytes(4 * count))
    keep, floor = CONSUMES, CONSUMED_FLOOR
    # Heavy-tailed use: the product of two uniforms, up to ~51 GB, in tenths of a MB.
    cols.c_consumed.extend(
        array(
            "I",
            [
                (((r & 0xFFFF) * ((r >> 16) & 0x3F)) >> 3) * keep[s] + floor[s]
                for s, r in zip(status, raw, strict=True)
            ],
        )
    )
    cols.c_status += status
    cols.c_tags += rng.randbytes(count).translate(cols.tag_table)
    cols.c_group += rng.randbytes(count).translate(_GROUP_TABLE)
    cols.c_created.extend(created if isinstance(created, array) else array("Q", created))
    cols.c_alive += b"\x01" * count
    cols.c_ids.extend(rng, count)
    return range(start, start + count)


def append_actions(
    cols: Columns,
    rng: random.Random,
    created: Sequence[int],
    cards: Sequence[int],
    bulk: Sequence[int],
) -> range:
    """Draw actions on these cards at these times onto the columns; return their new rows."""
    count = len(created)
    start = len(cols.a_created)
    cols.a_type += rng.randbytes(count).translate(_ACTION_TYPE_TABLE)
    cols.a_status += rng.randbytes(count).translate(_ACTION_STATUS_TABLE)
    cols.a_created.extend(created if isinstance(created, array) else array("Q", created))
    cols.a_card.extend(cards if isinstance(cards, array) else array("I", cards))
    cols.a_bulk.extend(bulk if isinstance(bulk, array) else array("I", bulk))
    cols.a_alive += b"\x01" * count
    cols.a_ids.extend(rng, count)
    return range(start, start + count)


def build_sim_cards(cols: Columns, seed: int, count: int) -> None:
    """Draw the fleet's first ``count`` cards and their listing order."""
    rng = seeded_rng("sim-cards", seed)
    step = max(1, CARD_SPAN_MS // max(count, 1))
    coin = rng.randbytes(count)
    jitter = array("I")
    jitter.frombytes(rng.randbytes(4 * count))
    created: array[int] = array("Q", bytes(8 * count))
    runs = []
    i = 0
    while i < count:
        c = coin[i]
        t = START_MS + i * step + ((jitter[i] * step) >> 32)  # strictly increasing in i
        if c >= 243:  # noqa: PLR2004 - 5%: a batch of 2..13 cards registered at once
            end = min(count, i + 2 + c % 12)
            created[i:end] = array("Q", [t]) * (end - i)
            runs.append((i, end))
            i = end
        else:
            created[i] = t
            i += 1
    append_sim_cards(cols, rng, created)
    order = array("I", range(count - 1, -1, -1))
    tie_ordered(order, runs, cols.c_ids)
    cols.c_order = order


def build_actions(cols: Columns, seed: int, count: int) -> None:
    """Draw the fleet's first ``count`` actions (on cards that existed by then) and order."""
    rng = seeded_rng("actions", seed)
    step = max(1, ACTION_SPAN_MS // max(count, 1))
    coin = rng.randbytes(count)
    pick = array("I")
    pick.frombytes(rng.randbytes(4 * count))
    jitter = array("I")
    jitter.frombytes(rng.randbytes(4 * count))
    created: array[int] = array("Q", bytes(8 * count))
    bulk: array[int] = array("I", bytes(4 * count))
    cards: array[int] = array("I", bytes(4 * count))
    card_created = cols.c_created
    n_cards = len(card_created)
    runs = []
    i = 0
    while i < count:
        c = coin[i]
        t = ACTION_START_MS + i * step + ((jitter[i] * step) >> 32)
        older = bisect_right(card_created, t) or n_cards  # cards that existed by then
        end = i + 1
        if c >= 253:  # noqa: PLR2004 - a bulk action over 10..50 cards
            end = min(count, i + 10 + pick[i] % 41)
            cols.bulk_count += 1
            bulk[i:end] = array("I", [cols.bulk_count]) * (end - i)
            runs.append((i, end))
        for j in range(i, end):
            created[j] = t
            cards[j] = pick[j] % older
        i = end
    rows = append_actions(cols, rng, created, cards, bulk)
    types = cols.a_type
    for start, end in runs:  # a bulk action does one thing to all its cards
        types[start:end] = bytes((types[start],)) * (end - start)
    order = array("I", range(len(rows) - 1, -1, -1))
    tie_ordered(order, runs, cols.a_ids)
    cols.a_order = order
