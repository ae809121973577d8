"""A mock Telnyx SIM card API to test against: a real aiohttp server on 127.0.0.1.

``async with MockTelnyxServer(sim_cards=300) as server:`` serves a deterministic `Fleet` at
``server.url``; `FaultPlan`, `RateLimit`, `Drift` and `Misbehaviour` make it fail,
throttle, change under a
client's feet (a `ManualClock` drives the rate limit's time), and ``server.requests``
records what it was asked.
"""

from ._clock import ManualClock
from ._fleet import Fleet
from ._misbehaviour import Misbehaviour
from ._options import Drift, FaultPlan, RateLimit, RequestRecord
from ._serve import serve
from ._server import MockTelnyxServer

__all__ = [
    "Drift",
    "FaultPlan",
    "Fleet",
    "ManualClock",
    "Misbehaviour",
    "MockTelnyxServer",
    "RateLimit",
    "RequestRecord",
    "serve",
]
