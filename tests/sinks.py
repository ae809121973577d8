"""File objects of no known make, as ``export`` takes them: ``write`` and ``flush`` alone."""

from __future__ import annotations


class Sink:
    """Keeps what it is written in one ``bytearray``; it may be a pipe's writer, for all
    ``export`` knows (no ``io`` class, no descriptor).
    """

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``."""
        self.data += data
        return len(data)

    def flush(self) -> None:
        """Nothing held."""
