"""The fleet's vocabulary: the values the API knows, and how often the mock data uses each.

Pure constants, no logic: what a status, tag or action type can be, the time span records
were created over, and the weights and texts the generator draws from.
"""

from __future__ import annotations

from typing import Any

JSONObject = dict[str, Any]

SIM_CARD_STATUSES = (
    "enabled",
    "disabled",
    "standby",
    "data_limit_exceeded",
    "unauthorized_imei",
    "registering",
    "enabling",
    "disabling",
    "setting_standby",
)
"""Every status a card can have; the first five are the ones ``filter[status]`` accepts."""
FILTERABLE_SIM_CARD_STATUSES = SIM_CARD_STATUSES[:5]
SIM_CARD_TAGS = (
    "customers",
    "staff",
    "test",
    "vip",
    "iot",
    "fleet-a",
    "personal",
    "active-customers",
)
ACTION_TYPES = (
    "enable",
    "enable_standby_sim_card",
    "disable",
    "set_standby",
    "remove_public_ip",
    "set_public_ip",
)
ACTION_STATUSES = ("in-progress", "completed", "failed", "interrupted")
"""Every status an action can have; ``filter[status]`` accepts all but ``interrupted``."""
FILTERABLE_ACTION_STATUSES = ACTION_STATUSES[:3]
SORT_KEYS = (
    "current_billing_period_consumed_data.amount",
    "-current_billing_period_consumed_data.amount",
)

DAY_MS = 86_400_000
START_MS = 1_654_041_600_000  # 2022-06-01T00:00:00Z
CARD_SPAN_MS = 3 * 365 * DAY_MS  # cards were registered over three years
ACTION_START_MS = START_MS + 365 * DAY_MS  # actions over the last two
ACTION_SPAN_MS = 2 * 365 * DAY_MS

STATUS_WEIGHTS = (700, 90, 80, 60, 30, 10, 10, 10, 10)
STATUS_REASONS = (
    "The SIM card is active, ready to connect to networks and consume data.",
    "The SIM card has been disabled and cannot connect to networks.",
    "The SIM card is in standby; it is enabled once it consumes data.",
    "The SIM card exceeded its data limit and cannot consume data.",
    "The SIM card is in a device whose IMEI is not authorized.",
    "The SIM card is being registered.",
    "The SIM card is being enabled.",
    "The SIM card is being disabled.",
    "The SIM card is being set to standby.",
)
TRANSITIONAL = frozenset({5, 6, 7, 8})
# Consumption multiplier and floor per status code: standby and registering cards use no data,
# cards over their limit have used at least 2048.0 MB.
CONSUMES = bytes((1, 1, 0, 1, 1, 0, 1, 1, 0))
CONSUMED_FLOOR = (0, 0, 0, 20_480, 0, 0, 0, 0, 0)
GROUP_WEIGHTS = (40, 20, 15, 12, 8, 5)
GROUP_NAMES = (
    "Default group",
    "Fleet A trucks",
    "Staff phones",
    "IoT sensors",
    "Test bench",
    "VIP customers",
)
# Index into ISSUERS per group: ICCIDs of the same batch share an issuer prefix.
GROUP_ISSUER = (0, 1, 0, 1, 1, 0)
ISSUERS = ("89310410", "8901260")  # 8 + 11 + 1 = 20 digits, 7 + 11 + 1 = 19 digits
AREA_CODES = ("310", "415", "212", "312", "512", "206", "617", "305")
NETWORKS = (("310", "260"), ("310", "410"), ("311", "480"), ("234", "15"), ("262", "01"))
ACTION_TYPE_WEIGHTS = (25, 10, 20, 15, 15, 15)
ACTION_STATUS_WEIGHTS = (8, 80, 8, 4)
FAILED_REASONS = (
    "The SIM card is not in a state that allows this action.",
    "The operation timed out on the network side.",
    "The data limit was exceeded.",
)
INTERRUPTED_REASON = "The action was interrupted by a newer action on the same SIM card."
DATA_LIMITS = (("512.0", "MB"), ("1024.0", "MB"), ("2048.0", "MB"), ("1.0", "GB"), ("5.0", "GB"))
TAG_COMBOS = (
    ("customers", "active-customers"),
    ("iot", "fleet-a"),
    ("staff", "personal"),
    ("customers", "vip"),
    ("test", "iot"),
    ("customers", "test"),
    ("staff", "test"),
    ("vip", "active-customers"),
)
TAGS_OF_MASK = tuple(
    tuple(tag for i, tag in enumerate(SIM_CARD_TAGS) if mask >> i & 1) for mask in range(256)
)
"""The tags a bitmask (bit i: ``SIM_CARD_TAGS[i]``) stands for."""
