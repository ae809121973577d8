"""``python -m simcards_async``: the ``simcards`` command."""

from ._cli import main

raise SystemExit(main())
