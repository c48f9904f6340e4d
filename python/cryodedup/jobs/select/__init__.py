"""``cryodedup select``: the rows of the original that a subset names, and the rest (job.py)."""

__all__: list[str] = []
