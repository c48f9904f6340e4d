"""The jobs: each reads its inputs through formats/, decides, and writes its outputs."""

__all__: list[str] = []
