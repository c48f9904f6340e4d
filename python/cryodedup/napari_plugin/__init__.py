"""The napari plugin (``cryodedup[napari]``): a run's picks over its micrographs, corrected into ``overrides.csv``.

Its manifest is ``napari.yaml`` beside this file (entry point ``napari.manifest``); the widget is
:mod:`.widget`. What it shows is read from the run's page (``--plot``: :mod:`.run_folder`), what
it writes by :mod:`.overrides_out`; neither imports napari.
"""

__all__: list[str] = []
