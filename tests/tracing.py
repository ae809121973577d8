"""OpenTelemetry's SDK for the tests, when it is installed: spans kept in memory, on demand.

A process has one global tracer provider, set once. It is set here the first time a
test asks, with a sampler that records nothing until ``recording()`` turns it on, so
the tests that run later pay for no span they did not ask for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def _have_sdk() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except ModuleNotFoundError:  # not even the API: its parent package is missing
        return False


#: Whether opentelemetry-sdk is installed (the ``tests`` extra installs it).
HAVE_SDK = _have_sdk()

_state: dict[str, Any] = {}


def _install() -> tuple[InMemorySpanExporter, Any]:
    if "exporter" not in _state:
        from opentelemetry import trace  # noqa: PLC0415  (optional)
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
            InMemorySpanExporter,
        )
        from opentelemetry.sdk.trace.sampling import (  # noqa: PLC0415
            Decision,
            Sampler,
            SamplingResult,
        )

        class Switch(Sampler):
            """Samples every span while ``on``, none otherwise."""

            on = False

            def should_sample(  # noqa: PLR0917  (the Sampler signature)
                self,
                parent_context: Any,
                trace_id: int,
                name: str,
                kind: Any = None,
                attributes: Any = None,
                links: Any = None,
                trace_state: Any = None,
            ) -> SamplingResult:
                del parent_context, trace_id, name, kind, links, trace_state
                if self.on:
                    return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
                return SamplingResult(Decision.DROP)

            def get_description(self) -> str:
                return "Switch"

        switch = Switch()
        provider = TracerProvider(sampler=switch)
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _state["exporter"], _state["switch"] = exporter, switch
    return _state["exporter"], _state["switch"]


class Spans:
    """The spans ended while recording."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def all(self) -> Sequence[ReadableSpan]:
        """Every span ended so far, in the order they ended."""
        return self._exporter.get_finished_spans()


@contextmanager
def recording() -> Iterator[Spans | None]:
    """Record spans in memory inside the block; ``None`` when the SDK is not installed."""
    if not HAVE_SDK:
        yield None
        return
    exporter, switch = _install()
    exporter.clear()
    switch.on = True
    try:
        yield Spans(exporter)
    finally:
        switch.on = False
        exporter.clear()
