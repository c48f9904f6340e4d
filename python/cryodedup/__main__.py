"""``python -m cryodedup``: the ``cryodedup`` command."""

from cryodedup.entry import main

main()
