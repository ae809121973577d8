"""A fast asyncio client for Telnyx's SIM card listings.

::

    import simcards_async as sc

    async with sc.SimCardsClient() as client:  # key from TELNYX_API_KEY
        async for card in client.sim_cards(status=["enabled"], tags=["customers"]):
            print(card.iccid, card.status.value)
"""

from ._client import DEFAULT_BASE_URL, SimCardsClient
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    DriftWarning,
    ExportError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    TelnyxError,
    UnprocessableEntityError,
    UnsupportedEncodingError,
)
from ._export import (
    PARQUET_ROW_GROUP_SIZE,
    ExportFormat,
    ExportResult,
    export,
)
from ._merge import MergedStream, MergeStats, Tagged, TaggedItems, merge, merge_tagged
from ._models import (
    Amount,
    DeviceLocation,
    ErrorObject,
    ErrorSource,
    Page,
    PaginationMeta,
    PinPukCodes,
    RawRecord,
    SimCard,
    SimCardAction,
    SimCardActionStatus,
    SimCardGroup,
    SimCardStatus,
)
from ._observe import RateLimitInfo, ResponseEvent
from ._page_stream import Pages, PageStream
from ._query import (
    MAX_PAGE_SIZE,
    SIM_CARD_ACTION_STATUSES,
    SIM_CARD_ACTION_TYPES,
    SIM_CARD_SORTS,
    SIM_CARD_STATUSES,
)
from ._retry import RetryPolicy
from ._stats import DriftReport, Progress, StreamStats
from ._tabular import SIM_CARD_ACTION_COLUMNS, SIM_CARD_COLUMNS

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_PAGE_SIZE",
    "PARQUET_ROW_GROUP_SIZE",
    "SIM_CARD_ACTION_COLUMNS",
    "SIM_CARD_ACTION_STATUSES",
    "SIM_CARD_ACTION_TYPES",
    "SIM_CARD_COLUMNS",
    "SIM_CARD_SORTS",
    "SIM_CARD_STATUSES",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "Amount",
    "AuthenticationError",
    "BadRequestError",
    "DeviceLocation",
    "DriftReport",
    "DriftWarning",
    "ErrorObject",
    "ErrorSource",
    "ExportError",
    "ExportFormat",
    "ExportResult",
    "InternalServerError",
    "InvalidParameterError",
    "MergeStats",
    "MergedStream",
    "NotFoundError",
    "Page",
    "PageStream",
    "Pages",
    "PaginationError",
    "PaginationMeta",
    "PermissionDeniedError",
    "PinPukCodes",
    "Progress",
    "RateLimitError",
    "RateLimitInfo",
    "RawRecord",
    "ResponseEvent",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SimCard",
    "SimCardAction",
    "SimCardActionStatus",
    "SimCardGroup",
    "SimCardStatus",
    "SimCardsClient",
    "StreamStats",
    "Tagged",
    "TaggedItems",
    "TelnyxError",
    "UnprocessableEntityError",
    "UnsupportedEncodingError",
    "__version__",
    "export",
    "merge",
    "merge_tagged",
]
