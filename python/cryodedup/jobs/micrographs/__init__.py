"""The micrograph job (``cryodedup micrographs``): find micrographs that image the same area twice."""

__all__: list[str] = []
