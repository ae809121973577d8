"""Rows as the API's JSON: ``SimpleSIMCard``, ``SIMCard`` and ``SIMCardAction`` dicts.

Pure. Every field not kept in a column (ICCID, MSISDN, IMSI, eSIM data, timestamps as text,
device location, ...) is computed from ``(key, row)`` when the record is rendered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._codes import iso, mix, uuid_text
from ._vocab import (
    ACTION_STATUSES,
    ACTION_TYPES,
    DATA_LIMITS,
    DAY_MS,
    FAILED_REASONS,
    INTERRUPTED_REASON,
    NETWORKS,
    SIM_CARD_STATUSES,
    STATUS_REASONS,
    TAGS_OF_MASK,
    TRANSITIONAL,
    JSONObject,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._codes import Codes
    from ._columns import Columns


class Renderer:
    """Renders the rows of one fleet's `Columns`."""

    def __init__(self, cols: Columns, codes: Codes, groups: Sequence[JSONObject], key: int) -> None:
        self._cols = cols
        self._codes = codes
        self._groups = groups
        self._key = key

    def group(self, index: int) -> JSONObject:
        """A fresh copy of one SIM card group."""
        g = self._groups[index]
        return {**g, "data_limit": dict(g["data_limit"]), "consumed_data": dict(g["consumed_data"])}

    def sim_card(
        self,
        row: int,
        *,
        detailed: bool = False,
        include_sim_card_group: bool = False,
        include_pin_puk_codes: bool = False,
    ) -> JSONObject:
        """Render one row as a ``SimpleSIMCard`` or, with ``detailed``, a ``SIMCard``."""
        cols = self._cols
        h0 = mix(self._key ^ (row << 1))
        h1 = mix(h0)
        st = cols.c_status[row]
        group = cols.c_group[row]
        consumed = cols.c_consumed[row]
        created = cols.c_created[row]
        esim = h0 % 5 == 0
        imeis = None
        if h1 % 10 < 4:  # noqa: PLR2004
            imeis = [f"35{(h1 >> (8 * k)) % 10**13:013d}" for k in range(1 + (h1 >> 40) % 3)]
        data_limit = None
        if st == 3:  # noqa: PLR2004 - data_limit_exceeded: the limit is below what was used
            data_limit = {"amount": f"{consumed // 10240 * 1024 or 1024}.0", "unit": "MB"}
        elif (h1 >> 4) % 2:
            amount, unit = DATA_LIMITS[(h1 >> 5) % len(DATA_LIMITS)]
            data_limit = {"amount": amount, "unit": unit}
        transitional = st in TRANSITIONAL
        card: JSONObject = {
            "id": cols.c_ids.text(row),
            "record_type": "sim_card",
            "status": {"value": SIM_CARD_STATUSES[st], "reason": STATUS_REASONS[st]},
            "type": "esim" if esim else "physical",
            "iccid": self._codes.iccid(row, group),
            "imsi": self._codes.imsi(row),
            "msisdn": self._codes.msisdn(row),
            "sim_card_group_id": self._groups[group]["id"],
            "tags": list(TAGS_OF_MASK[cols.c_tags[row]]),
            "authorized_imeis": imeis,
            "data_limit": data_limit,
            "current_billing_period_consumed_data": {
                "amount": f"{consumed // 10}.{consumed % 10}",
                "unit": "MB",
            },
            "actions_in_progress": transitional or (h1 >> 20) % 40 == 0,
            "resources_with_in_progress_actions": (
                [{"id": uuid_text(h1.to_bytes(8, "big") + h0.to_bytes(8, "big"))}]
                if transitional
                else []
            ),
            "eid": f"89049032{(h0 >> 8) % 10**12:012d}{(h1 >> 8) % 10**12:012d}" if esim else None,
            "esim_installation_status": (
                ("disabled" if (h0 >> 3) % 5 == 0 else "released") if esim else None
            ),
            "version": "4.3",
            "voice_enabled": (h1 >> 24) % 10 < 3,  # noqa: PLR2004
            "created_at": iso(created),
            "updated_at": iso(created + (h1 >> 30) % (90 * DAY_MS)),
        }
        if detailed:
            self._add_details(card, row, st, imeis, include_pin_puk_codes=include_pin_puk_codes)
        if include_sim_card_group:
            card["sim_card_group"] = self.group(group)
        return card

    def action(self, row: int) -> JSONObject:
        """Render one row as a ``SIMCardAction`` (plus ``bulk_sim_card_action_id``)."""
        cols = self._cols
        h = mix(self._key ^ (row << 1) ^ 1)
        st = cols.a_status[row]
        kind = cols.a_type[row]
        created = cols.a_created[row]
        reason = None
        if st == 2:  # noqa: PLR2004 - failed
            reason = FAILED_REASONS[h % len(FAILED_REASONS)]
        elif st == 3:  # noqa: PLR2004 - interrupted
            reason = INTERRUPTED_REASON
        settings: JSONObject | None
        if ACTION_TYPES[kind] == "set_public_ip":
            settings = {"public_ip": f"198.51.100.{1 + (h >> 8) % 254}"}
        elif ACTION_TYPES[kind] == "remove_public_ip" or (h >> 16) % 2:
            settings = {}
        else:
            settings = None
        bulk = cols.a_bulk[row]
        return {
            "id": cols.a_ids.text(row),
            "record_type": "sim_card_action",
            "sim_card_id": cols.c_ids.text(cols.a_card[row]),
            "action_type": ACTION_TYPES[kind],
            "status": {"value": ACTION_STATUSES[st], "reason": reason},
            "settings": settings,
            "created_at": iso(created),
            "updated_at": iso(created if st == 0 else created + 1000 + (h >> 20) % 600_000),
            "bulk_sim_card_action_id": self._codes.bulk_id(bulk) if bulk else None,
        }

    def _add_details(
        self,
        card: JSONObject,
        row: int,
        st: int,
        imeis: list[str] | None,
        *,
        include_pin_puk_codes: bool,
    ) -> None:
        h2 = mix(self._key ^ (row << 1) ^ 0xD7)
        h3 = mix(h2)
        mcc, mnc = NETWORKS[h2 % len(NETWORKS)]
        if st == 0:
            session = ("connected", "connected", "disconnected", "unknown")[(h2 >> 4) % 4]
        else:
            session = ("disconnected", "unknown")[(h2 >> 4) % 2]
        imei = f"35{(h3 >> 7) % 10**13:013d}"
        if imeis and st != 4:  # noqa: PLR2004 - an unauthorized_imei card is in another device
            imei = imeis[(h3 >> 3) % len(imeis)]
        card["current_device_location"] = {
            "latitude": f"{(h2 >> 8) % 130_000 / 1000 - 60:.3f}",
            "longitude": f"{(h2 >> 28) % 360_000 / 1000 - 180:.3f}",
            "accuracy": 10 + (h2 >> 48) % 5000,
            "accuracy_unit": "m",
        }
        card["current_imei"] = imei
        card["current_mcc"] = mcc
        card["current_mnc"] = mnc
        card["ipv4"] = f"100.{64 + h3 % 64}.{(h3 >> 8) % 256}.{1 + (h3 >> 16) % 254}"
        card["ipv6"] = (
            f"2001:db8:{(h3 >> 24) % 65536:x}:{(h3 >> 40) % 65536:x}::{1 + (h2 >> 20) % 65535:x}"
        )
        card["live_data_session"] = session
        if include_pin_puk_codes:
            card["pin_puk_codes"] = {
                "pin1": f"{h3 % 10_000:04d}",
                "pin2": f"{(h3 >> 14) % 10_000:04d}",
                "puk1": f"{(h3 >> 28) % 10**8:08d}",
                "puk2": f"{(h2 >> 30) % 10**8:08d}",
            }
