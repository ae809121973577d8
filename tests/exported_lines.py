"""Reading back what a JSON lines or JSON export wrote, record by record, as bytes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def read_lines(path: Path) -> list[bytes]:
    """The records of a JSON lines or JSON export, one per line, as written."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    if ".json." in path.name or path.name.endswith(".json"):
        # One array: "[", then the records each on a line with "," between, then "]".
        assert data.startswith(b"[\n")
        assert data.endswith(b"\n]\n")
        assert json.loads(data) == [json.loads(r) for r in data[2:-3].split(b",\n")]
        return data[2:-3].split(b",\n")
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")
