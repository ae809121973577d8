"""A mock Telnyx SIM card API to test against: a real aiohttp server on 127.0.0.1.

``async with MockTelnyxServer(sim_cards=300) as server:`` serves a deterministic `Fleet` at
``server.url``. `FaultPlan`, `RateLimit` and `Drift` make it fail, throttle or change under
a client's feet, `Misbehaviour` makes it break the API's contract like broken real servers,
a `ManualClock` drives the rate limit's time, and ``server.requests`` records what it was
asked.

Modules, one job each: ``_server`` (the aiohttp app and the request cycle), ``_options``
(its option classes), ``_checks`` (what each option takes), ``_wire`` (query checks,
tokens, error bodies), ``_state`` (page cache, token buckets, fault dice), ``_misbehaviour``,
``_clock``, ``_serve`` (the ``simcards mock-server`` loop); the fleet: ``_fleet`` (the
`Fleet` facade), ``_vocab`` (values), ``_codes`` (ids and numbers), ``_generate`` (drawing
records), ``_columns`` (storage and changes), ``_select`` (filters and sorts), ``_render``
(rows as JSON).
"""

from ._clock import ManualClock
from ._fleet import Fleet
from ._misbehaviour import Misbehaviour
from ._options import Drift, FaultPlan, RateLimit, RequestRecord
from ._serve import CannotListenError, serve
from ._server import MockTelnyxServer

__all__ = [
    "CannotListenError",
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
