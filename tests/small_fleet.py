"""The small deterministic fleet the functional tests of ``SimCardsClient`` read.

Its fixtures (``server``, ``client``, ``everything``) live in ``conftest.py``; a test file
that wants another fleet defines its own fixture of the same name.
"""

from __future__ import annotations

KEY = "KEYsecret-0123456789abcdef"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
CARDS = 300
ACTIONS = 200
