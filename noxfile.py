"""Developer sessions: ``nox -s tests lint typecheck bench``."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (pass pytest arguments after ``--``)."""
    session.install("-e", ".[tests]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package, tests and benchmarks with mypy --strict."""
    session.install("-e", ".[tests,parquet]", "mypy>=1.10", "nox")
    session.run("mypy", "--strict")
    # The oldest Python the package supports: what a user's checker sees there (typing.Self
    # is 3.11's; on 3.10 a stream in ``async with`` was typed Any).
    session.run("mypy", "--strict", "--python-version", "3.10", "simcards_async")
    # The README's examples, each a file as a user pastes it (opentelemetry may be absent).
    readme = Path("README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    with tempfile.TemporaryDirectory() as examples:
        for number, block in enumerate(blocks):
            Path(examples, f"readme_example_{number:02d}.py").write_text(block, encoding="utf-8")
        session.run("mypy", "--strict", "--ignore-missing-imports", examples)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks side by side and write benchmarks/results/ (takes minutes)."""
    session.install("-e", ".[bench,parquet]")  # the export scenario writes Parquet too
    session.run("python", "benchmarks/run.py", *session.posargs)
    session.run("python", "benchmarks/bench_merge.py")
    session.run("python", "benchmarks/bench_observe.py")
    # Against the read-ahead before a client's streams shared it (the README's figures).
    session.run("python", "benchmarks/bench_many.py", "--before", "5adc4b7")
