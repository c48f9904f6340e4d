"""``python -m cryodedup``: the ``cryodedup`` command."""

from cryodedup.entry import main

__all__: list[str] = []

main()
