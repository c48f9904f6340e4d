"""The napari widget: a run's micrograph (or tomogram) with its picks, corrected into ``overrides.csv``.

Layers, in Å (napari's axes: z, y, x): the image (the page's thumbnail; a tomogram's slabs along
z), ``kept`` and ``rejected`` picks as corrected, ``partners`` (a line from each rejected pick to
the kept pick it lost to), ``corrected`` (a ring on each pick corrected) and, with several
species, ``species`` (hidden at first). Select picks (or lines) and press Keep, Reject or
Distinct; "Select partners" selects the picks the selected ones are paired with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .overrides_out import overrides_text, read_overrides, write_overrides
from .run_folder import MicrographPicks, RunFolder, read_run

__all__ = ["CorrectionsWidget"]

KEPT, REJECTED, PARTNER, EDITED = "#2ca02c", "#d62728", "#ffbf00", "#d400d4"
#: The layers this widget draws (replaced when another micrograph is shown).
LAYERS = ("image", "partners", "kept", "rejected", "corrected", "species")


class CorrectionsWidget(QWidget):
    """Open a run folder (``--plot``), look at each micrograph's picks, correct them, save ``overrides.csv``."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.run: RunFolder | None = None
        self.picks: MicrographPicks | None = None
        self.edits: dict[tuple[str, int], tuple[str, str]] = {}  # (input, row) -> (particle name, keep | reject)
        self.pairs: list[tuple[str, str, str]] = []  # a loaded file's pairs of micrographs, written back
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("run folder (written with --plot)")
        self.micrograph = QComboBox()
        self.count = QLabel()
        buttons = {
            "Open run": self._open_clicked,
            "Keep": lambda: self.mark("keep"),
            "Reject": lambda: self.mark("reject"),
            "Distinct": self.distinct,
            "Select partners": self.select_partners,
            "Load overrides": self._load_clicked,
            "Save overrides": self._save_clicked,
        }
        layout = QVBoxLayout(self)
        layout.addWidget(self.folder)
        rows = [QHBoxLayout() for _ in range(3)]
        for k, (text, action) in enumerate(buttons.items()):
            button = QPushButton(text)
            button.clicked.connect(action)
            rows[0 if k == 0 else 1 if k < 5 else 2].addWidget(button)
        rows[0].addWidget(self.micrograph)
        for row in rows:
            layout.addLayout(row)
        layout.addWidget(self.count)
        self.micrograph.currentIndexChanged.connect(self._micrograph_chosen)
        self._counted()

    # ---- opening ----
    def open_run(self, folder: str | Path) -> None:
        """Shows the run in ``folder``: its micrographs listed, the first drawn."""
        self.run = read_run(folder)
        self.folder.setText(str(folder))
        self.micrograph.blockSignals(True)
        self.micrograph.clear()
        self.micrograph.addItems(self.run.micrographs)
        self.micrograph.blockSignals(False)
        self.show_micrograph(0)

    def show_micrograph(self, m: int) -> None:
        """Micrograph ``m`` of the run drawn (the combo box follows)."""
        assert self.run is not None
        if self.micrograph.currentIndex() != m:
            self.micrograph.setCurrentIndex(m)  # (draws it, through _micrograph_chosen)
            return
        self.picks = self.run.picks(m)
        self._draw()

    # ---- corrections ----
    def mark(self, action: str) -> None:
        """The selected picks (of ``kept`` and ``rejected``; the rejected ends of selected lines) kept or rejected."""
        for k in self._selected_picks():
            self._set(k, action)
        self._draw()

    def distinct(self) -> None:
        """The selected lines' pairs (and the selected rejected picks') marked distinct: both picks kept.

        The pick the rejected one lost to is written as a keep of its own: a forced keep alone rejects what lies
        within the distance (``--overrides``), its partner too.
        """
        assert self.picks is not None
        for k in self._selected_picks():
            partner = int(self.picks.partners[k])
            if partner >= 0:
                self._set(k, "keep")
                self._set(partner, "keep", pinned=True)
        self._draw()

    def select_partners(self) -> None:
        """The picks paired with the selected ones selected as well (a rejected pick's kept one, and back)."""
        p = self.picks
        if p is None:
            return
        chosen = set(self._selected_picks())
        paired = {int(p.partners[k]) for k in chosen if p.partners[k] >= 0}
        paired |= {int(k) for k in np.flatnonzero(np.isin(p.partners, list(chosen)))}
        for name in ("kept", "rejected"):
            layer = self._layer(name)
            if layer is not None:
                places = layer.features["pick"].to_numpy()
                layer.selected_data = {i for i, k in enumerate(places) if k in chosen | paired}

    def save(self, path: str | Path, force: bool = False) -> None:
        """``overrides.csv`` written to ``path``: the corrections, and a loaded file's pairs of micrographs."""
        inputs = self.run.inputs if self.run is not None else []
        particles = [(key[0], key[1], name, action) for key, (name, action) in self.edits.items()]
        write_overrides(path, overrides_text(particles, self.pairs, inputs), force=force)

    def load(self, path: str | Path) -> None:
        """A saved ``overrides.csv`` shown and extended: its corrections replace those made here."""
        particles, self.pairs = read_overrides(path)
        self.edits = {(name, row): (particle, action) for name, row, particle, action in particles}
        self._draw()

    def kept_now(self) -> np.ndarray:
        """Whether each pick of the micrograph shown is kept, as corrected."""
        assert self.picks is not None
        kept = self.picks.kept.copy()
        for k in range(len(kept)):
            action = self._edit(k)
            if action is not None:
                kept[k] = action == "keep"
        return kept

    def _set(self, k: int, action: str, pinned: bool = False) -> None:
        """Pick ``k`` kept or rejected; a correction agreeing with the run's decision dropped unless ``pinned``."""
        p = self.picks
        assert p is not None and self.run is not None
        if p.rows is None or p.names is None:
            self.count.setText("this run's page names no picks (ids_NNNNN.js): nothing can be corrected")
            return
        key = (self.run.inputs[p.inputs[k]], int(p.rows[k]))
        if (action == "keep") == bool(p.kept[k]) and not pinned:
            self.edits.pop(key, None)
        else:
            self.edits[key] = (p.names[k], action)

    def _edit(self, k: int) -> str | None:
        """Pick ``k``'s correction (``keep``, ``reject``), None where there is none (or it names another particle)."""
        p = self.picks
        if p is None or p.rows is None or p.names is None or self.run is None:
            return None
        found = self.edits.get((self.run.inputs[p.inputs[k]], int(p.rows[k])))
        return found[1] if found is not None and found[0] == p.names[k] else None

    def _selected_picks(self) -> list[int]:
        """The picks selected: points of ``kept`` and ``rejected``, the rejected ends of lines of ``partners``."""
        chosen: list[int] = []
        for name in ("kept", "rejected", "partners"):
            layer = self._layer(name)
            if layer is not None and len(layer.selected_data):
                places = layer.features["pick"].to_numpy()
                chosen += [int(places[i]) for i in sorted(layer.selected_data)]
        return list(dict.fromkeys(chosen))

    # ---- drawing ----
    def _draw(self) -> None:
        """The micrograph shown, drawn again as corrected."""
        self._counted()
        p = self.picks
        if p is None:
            return
        for name in LAYERS:
            layer = self._layer(name)
            if layer is not None:
                self.viewer.layers.remove(layer)
        self._add_image(p)
        where = _napari_axes(p.centres)
        kept = self.kept_now()
        rejected_with_partner = np.flatnonzero(~kept & (p.partners >= 0))
        lines = [np.stack([where[k], where[p.partners[k]]]) for k in rejected_with_partner]
        self.viewer.add_shapes(
            lines,
            shape_type="line",
            edge_color=PARTNER,
            edge_width=2.0,
            name="partners",
            features={"pick": rejected_with_partner},
        )
        size = _mark_size(p)
        for name, which, colour in (("kept", kept, KEPT), ("rejected", ~kept, REJECTED)):
            places = np.flatnonzero(which)
            self.viewer.add_points(
                where[places], name=name, face_color=colour, size=size, features={"pick": places}, **_no_out_of_slice()
            )
        edited = [k for k in range(len(kept)) if self._edit(k) is not None]
        self.viewer.add_points(
            where[edited],
            name="corrected",
            face_color="transparent",
            size=2 * size,
            **_ring(EDITED),
            **_no_out_of_slice(),
        )
        if p.species is not None and self.run is not None and self.run.index.get("species"):
            colours = self.run.index["speciesColours"]
            self.viewer.add_points(
                where,
                name="species",
                face_color=[colours[s] for s in p.species],
                size=size,
                visible=False,
                features={"species": [self.run.index["species"][s] for s in p.species]},
            )
        self.viewer.layers.selection.active = self._layer("rejected")

    def _add_image(self, p: MicrographPicks) -> None:
        """The page's thumbnail under the picks (a tomogram's slabs stacked along z), placed in Å by its frame."""
        if not p.thumbnails or not all(path.exists() for path in p.thumbnails):
            return
        from PIL import Image

        slabs = [np.asarray(Image.open(path).convert("L"), dtype=np.float32) for path in p.thumbnails]
        x0, y0, width, height = p.frame
        ny, nx = slabs[0].shape
        sy, sx = height / ny, width / nx
        if p.centres.shape[1] == 2:
            self.viewer.add_image(slabs[0], name="image", scale=(sy, sx), translate=(y0 + sy / 2, x0 + sx / 2))
            return
        assert self.run is not None
        z0, z1 = self.run.index["zRanges"][self.run.micrographs.index(p.name)]
        step = max(z1 - z0, 1) / len(slabs)
        volume = np.stack(slabs)
        self.viewer.add_image(
            volume, name="image", scale=(step, sy, sx), translate=(z0 + step / 2, y0 + sy / 2, x0 + sx / 2)
        )

    def _layer(self, name: str) -> Any:
        """The widget's layer ``name``, None where it is not drawn."""
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 (a LayerList, no get)

    def _counted(self) -> None:
        n = len(self.edits)
        self.count.setText(f"{n} correction{'' if n == 1 else 's'}")

    # ---- buttons ----
    def _open_clicked(self) -> None:
        folder = self.folder.text().strip() or QFileDialog.getExistingDirectory(self, "A run folder (--plot)")
        if folder:
            self.open_run(folder)

    def _micrograph_chosen(self, m: int) -> None:
        if self.run is not None and m >= 0:
            self.picks = self.run.picks(m)
            self._draw()

    def _save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save overrides", "overrides.csv", "CSV (*.csv)")
        if path:  # (the dialog asked before overwriting)
            self.save(path, force=True)

    def _load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load overrides", "", "CSV (*.csv)")
        if path:
            self.load(path)


def _napari_axes(centres: np.ndarray) -> np.ndarray:
    """Centres (x, y[, z]) in napari's order of axes ([z,] y, x)."""
    return np.ascontiguousarray(centres[:, ::-1]) if len(centres) else np.zeros((0, centres.shape[1]))


def _mark_size(p: MicrographPicks) -> float:
    """A pick's mark, in Å: a fortieth of the micrograph's width."""
    return max(p.frame[2] / 40, 1.0)


def _ring(colour: str) -> dict:
    """A points layer's outline colour and width, by napari's names (``border_*`` from 0.5, ``edge_*`` before)."""
    import inspect

    import napari

    names = inspect.signature(napari.layers.Points).parameters
    prefix = "border" if "border_color" in names else "edge"
    return {f"{prefix}_color": colour, f"{prefix}_width": 0.15}


def _no_out_of_slice() -> dict:
    """A tomogram's picks shown on the slices near them, not on one alone."""
    return {"out_of_slice_display": True}
