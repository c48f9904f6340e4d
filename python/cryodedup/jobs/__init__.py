"""The jobs: each reads its inputs through :mod:`cryodedup.formats`, decides, and writes its outputs."""
