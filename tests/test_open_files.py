"""The open-files limit a command raises for its run (``_open_files``), in child processes.

Each case sets its own limits in a child, so that this process's are never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runs import child_env
from polling import HANG_GUARD

resource = pytest.importorskip("resource", reason="RLIMIT_NOFILE is POSIX")

#: Sets the limits (soft, hard), enters ``at_least(needed)`` and prints, as JSON, what it
#: yielded, the limits inside and the limits after.
SCRIPT = """
import json, resource, sys
from simcards_async._open_files import at_least
soft, hard, needed = map(int, sys.argv[1:])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
with at_least(needed) as limit:
    inside = resource.getrlimit(resource.RLIMIT_NOFILE)
print(json.dumps([limit, inside, resource.getrlimit(resource.RLIMIT_NOFILE)]))
"""


def _at_least(soft: int, hard: int, needed: int) -> list[object]:
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", SCRIPT, str(soft), str(hard), str(needed)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=HANG_GUARD,  # a hang guard: a starved machine took 60 s
        check=True,
    )
    result: list[object] = json.loads(done.stdout)
    return result


HARD = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)


@pytest.mark.skipif(HARD < 200, reason="this process may not open 200 files")
def test_a_soft_limit_below_the_need_is_raised_for_the_while_and_set_back() -> None:
    assert _at_least(64, HARD, 200) == [200, [200, HARD], [64, HARD]]


def test_a_limit_that_holds_the_need_is_left_as_it_is() -> None:
    assert _at_least(64, 64, 50) == [64, [64, 64], [64, 64]]


def test_the_hard_limit_is_as_far_as_it_goes() -> None:
    """Past the hard limit the soft one is raised to it; the caller sees it is short."""
    assert _at_least(32, 64, 100) == [64, [64, 64], [32, 64]]
