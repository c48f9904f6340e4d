"""micrographs.html: a page of every micrograph (or tomogram), its picks drawn over its image in the browser.

The page opens from disk (``file://``, no server): its data are JavaScript files it loads
with ``<script src>`` (a browser refuses ``fetch()`` of a local file). One small index
(:data:`INDEX_FILE`: each micrograph's name, frame and counts) is read at once; the picks
come in files of :data:`CHUNK` micrographs each, loaded as their micrographs scroll into
view, and are drawn on a canvas by the page; each micrograph's thumbnail (a JPEG of its image
binned and low-pass filtered as the report's examples are; a tomogram's: one for each slab of
its picks along z, :data:`SLABS`) is loaded the same way.

The report opens no file: the job reads the images (:class:`~.picks_figures.MicrographImage`)
and names each rejected pick's partner and rule (:class:`PagePicks`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from .canvas import KEPT_COLOUR, REJECTED_COLOUR
from .html_report import PageBytes
from .particle_base import DISPLACED_COLOUR, SPECIES_COLOURS, UNCONFIRMED_COLOUR, ParticleDetails
from .picks_figures import MicrographImage, display_image, grey

__all__ = ["PAGE_FOLDER", "THUMBNAIL_WIDTH", "PagePicks", "page_files", "page_shell", "slab_edges", "thumbnail_jpeg"]

#: The page, beside report.html, and the folder of its index, picks and thumbnails.
PAGE_FILE = "micrographs.html"
PAGE_FOLDER = "micrographs"
INDEX_FILE = f"{PAGE_FOLDER}/index.js"
#: Micrographs per file of picks: a file is loaded when one of its micrographs comes into view.
CHUNK = 50
#: About how many pixels across a thumbnail is binned to (``formats.mrc.binned_image``).
THUMBNAIL_WIDTH = 320
#: The fates of a pick as the page draws them (told from its rule and partner).
FATES = ("kept", "duplicate", "displaced", "no partner")
#: Slabs a tomogram's picks are drawn in along z.
SLABS = 3


@dataclass(frozen=True)
class PagePicks:
    """The rejected rows (ascending), each one's partner (the kept pick it lost to, else -1) and rule (into ``rules``).

    As the record of rejections names them (``jobs.particles.record.rejections``); the
    rows not named are kept.
    """

    rows: np.ndarray
    partner: np.ndarray
    rule: np.ndarray
    rules: Sequence[str]
    displaced_rule: int  # the rule index of a pick displaced by another species (--cross-species)


def page_files(
    details: ParticleDetails, picks: PagePicks, images: Mapping[int, MicrographImage], title: str
) -> Iterator[tuple[str, PageBytes]]:
    """The page's files (path relative to the output folder, contents): the page, its index, picks and thumbnails.

    The files of picks are made as they are written (:data:`~.html_report.PageBytes`).
    """
    order = _micrograph_order(details.groups)
    n = len(details.mic_names)
    starts = np.zeros(n + 1, dtype=np.int64)  # (each micrograph's first row in micrograph order, and the end)
    np.cumsum(np.bincount(details.groups, minlength=n), out=starts[1:])
    frames = _frames(details, order, starts, images)
    thumbnails = _thumbnails(images)
    yield PAGE_FILE, _page_html(title, details.unit).encode()
    yield INDEX_FILE, _index_js(details, picks, frames, _thumbs(thumbnails, n), title).encode()
    columns = _columns(details, picks, order)
    for k in range(0, n, CHUNK):  # (each made as it is written: 200 MB at 10M never held at once)
        yield f"{PAGE_FOLDER}/picks_{k // CHUNK:05d}.js", partial(_picks_js, columns, starts, k, min(k + CHUNK, n))
    # On threads: numpy's transforms and Pillow's encoder work without Python's lock.
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        names = [_thumbnail_name(mic, slab) for mic, slab, _ in thumbnails]
        yield from zip(names, pool.map(thumbnail_jpeg, [image for _, _, image in thumbnails]))


def slab_edges(details: ParticleDetails) -> np.ndarray:
    """The bounds along z (Å) of a tomogram's :data:`SLABS` slabs: the index's ``zRange`` cut as the page cuts it.

    The page puts a pick in slab ``floor((z - z0) / max(z1 - z0, 1) * SLABS)`` (the first and
    last slabs taking those beyond): slab k lies from ``edges[k]`` to ``edges[k + 1]``.
    """
    z0, z1 = _z_range(details)
    return z0 + np.arange(SLABS + 1) * max(z1 - z0, 1.0) / SLABS


def _z_range(details: ParticleDetails) -> tuple[float, float]:
    """The picks' z range, whole Å (the index's ``zRange``; 0 to 1 without picks)."""
    z = details.centres[:, 2]
    return (float(np.floor(z.min())), float(np.ceil(z.max()))) if len(z) else (0.0, 1.0)


def _micrograph_order(groups: np.ndarray) -> np.ndarray | None:
    """The rows micrograph by micrograph (a stable sort), None where they already are (as RELION writes them).

    In order, every column is taken as it is: gathering ten million rows' columns took 1.5 s.
    """
    if len(groups) < 2 or not (groups[1:] < groups[:-1]).any():
        return None
    return np.argsort(groups, kind="stable")


def _drawable(image: MicrographImage) -> bool:
    """Whether a micrograph's image was read and has pixels to filter (two or more each way)."""
    return image.pixels is not None and min(image.pixels.shape) >= 2


#: A thumbnail: its micrograph, its slab (None: a micrograph's image) and its image.
Thumbnail = tuple[int, int | None, MicrographImage]


def _thumbnails(images: Mapping[int, MicrographImage]) -> list[Thumbnail]:
    """Every thumbnail drawn: each micrograph's image, each slab of a tomogram that lies in its volume."""
    thumbnails: list[Thumbnail] = []
    for mic, image in images.items():
        if _drawable(image):
            thumbnails.append((mic, None, image))
        for slab, pixels in enumerate(image.slabs):
            slab_image = MicrographImage(pixels, image.factor)
            if _drawable(slab_image):
                thumbnails.append((mic, slab, slab_image))
    return thumbnails


def _thumbnail_name(mic: int, slab: int | None) -> str:
    """``mNNNNNN.jpg``, a tomogram's slab K's ``mNNNNNN_K.jpg``."""
    return f"{PAGE_FOLDER}/m{mic:06d}.jpg" if slab is None else f"{PAGE_FOLDER}/m{mic:06d}_{slab}.jpg"


def _thumbs(thumbnails: list[Thumbnail], n: int) -> list[int]:
    """The index's ``thumbs``: 1 for each micrograph with a thumbnail; a tomogram's: bit k set for its slab k's."""
    thumbs = [0] * n
    for mic, slab, _ in thumbnails:
        thumbs[mic] |= 1 << (slab or 0)
    return thumbs


def _frames(
    details: ParticleDetails, order: np.ndarray | None, starts: np.ndarray, images: Mapping[int, MicrographImage]
) -> np.ndarray:
    """Each micrograph's extent (x0, y0, width, height, Å), as the report's examples draw it.

    From its image, its known shape, or else every micrograph's picks together (one
    micrograph's few picks leave its edges unknown): from 0 unless some are below, to a
    little past the farthest.
    """
    n, rows = len(details.mic_names), len(details.groups)
    first = np.minimum(starts[:-1], max(rows - 1, 0))
    first = first if order is None else order[first]
    psize = details.psize[first] if rows else np.ones(n)
    frames = np.zeros((n, 4))
    if rows:
        low, high = details.pick_extent
        margin = 0.05 * (high - low)
        low = np.where(low < 0, low - margin, 0.0)
        frames[:] = [low[0], low[1], *np.maximum(high + margin - low, 1.0)]
    for mic, (ny, nx) in details.mic_shapes.items():
        if nx and ny and mic < n:
            frames[mic] = (0.0, 0.0, nx * psize[mic], ny * psize[mic])
    for mic, image in images.items():
        if image.frame is not None:  # (a tomogram's: its volume's, whether or not a slab lies in it)
            frames[mic] = image.frame
        elif _drawable(image):
            assert image.pixels is not None
            ny, nx = image.pixels.shape
            frames[mic] = (0.0, 0.0, nx * image.factor * psize[mic], ny * image.factor * psize[mic])
    return frames


#: The rules that reject a pick as no duplicate (no partner within the distance): the rest are duplicates.
NOT_DUPLICATES = ("consensus support", "uncovered micrograph", "outside the mask", "at the edge")


def _duplicates(details: ParticleDetails, picks: PagePicks) -> np.ndarray:
    """Each micrograph's picks rejected as duplicates: by a rule with a partner (or an earlier round's)."""
    apart = [k for k, rule in enumerate(picks.rules) if rule in NOT_DUPLICATES]
    duplicate = picks.rows[~np.isin(picks.rule, apart)]
    return np.bincount(details.groups[duplicate], minlength=len(details.mic_names))


def _agreement(details: ParticleDetails) -> list[float] | None:
    """Each micrograph's share of kept picks that more than one input picked (None with one input)."""
    confirmed = details.confirmed_by
    if confirmed is None or len(details.inputs) < 2:
        return None
    bits = confirmed.astype(np.int64)
    several = details.keep & ((bits & (bits - 1)) != 0)
    n = len(details.mic_names)
    kept = np.bincount(details.groups[details.keep], minlength=n)
    agreeing = np.bincount(details.groups[several], minlength=n)
    share = np.divide(agreeing, kept, out=np.full(n, -1.0), where=kept > 0)
    return [round(v, 4) for v in share.tolist()]


def _index_js(details: ParticleDetails, picks: PagePicks, frames: np.ndarray, thumbs: list[int], title: str) -> str:
    """The index: the set's names and colours, each micrograph's name, frame and counts (columns of numbers)."""
    n = len(details.mic_names)
    groups = details.groups
    species = details.particles.species
    index = {
        "title": title,
        "unit": details.unit,
        "inputs": details.inputs,
        "species": None if species is None else details.particles.species_names,
        "speciesColours": None
        if species is None
        else [details.species_colour(s) for s in range(len(details.particles.species_names))],
        "fates": FATES,
        "displacedRule": picks.displaced_rule,
        "columns": COLUMN_TYPES,
        "fateColours": [KEPT_COLOUR, REJECTED_COLOUR, DISPLACED_COLOUR, UNCONFIRMED_COLOUR],
        "inputColours": list(SPECIES_COLOURS),
        "rules": list(picks.rules),
        "distance": details.distance_text,
        "chunk": CHUNK,
        "slabs": SLABS if details.unit == "tomogram" else 0,
        "names": details.mic_names,
        "frames": np.rint(frames).astype(np.int64).tolist(),
        "thumbs": thumbs,
        "picks": details.picks_per_micrograph.tolist(),
        "rejected": details.rejected_per_micrograph.tolist(),
        "duplicates": _duplicates(details, picks).tolist(),
        "agreement": _agreement(details),
        "byInput": [np.bincount(groups, minlength=n).tolist()]  # (one input: every pick; no mask of every row)
        if len(details.inputs) == 1
        else [np.bincount(groups[details.input_of == k], minlength=n).tolist() for k in range(len(details.inputs))],
        "bySpecies": None
        if species is None
        else [
            np.bincount(groups[species == s], minlength=n).tolist() for s in range(len(details.particles.species_names))
        ],
    }
    if details.unit == "tomogram":
        index["zRange"] = list(_z_range(details))
    return "window.CRYODEDUP_INDEX = " + json.dumps(index, separators=(",", ":")) + ";\n"


#: The columns of a file of picks and their widest types (little-endian); a file names each one's own (``t``).
COLUMN_TYPES = {"x": "<i4", "y": "<i4", "z": "<i4", "i": "<i2", "s": "<i4", "r": "<i1", "p": "<i4"}


#: A file's columns (:func:`_columns`): those of rows ``begin`` to ``end`` in micrograph order.
Columns = Callable[[int, int], dict[str, np.ndarray]]


def _columns(details: ParticleDetails, picks: PagePicks, order: np.ndarray | None) -> Columns:
    """Each file's columns, as the files hold them: rows in micrograph order (``order``; None: as they are).

    ``x``, ``y`` (``z``): the centre, Å; ``i`` the input, ``s`` the species, ``r`` the rule
    (-1: kept); ``p`` the partner's place counted from the file's first pick (-1: none, or on
    another micrograph). Rows already in order (as RELION writes them) are taken file by file
    as they are: no column of ten million rows is made (150 MB at 10M).
    """
    if order is None:
        return partial(_columns_in_order, details, picks)
    return partial(_sliced, _sorted_columns(details, picks, order))


def _columns_in_order(details: ParticleDetails, picks: PagePicks, begin: int, end: int) -> dict[str, np.ndarray]:
    """The columns of rows ``begin`` to ``end``, the rows in micrograph order (a file's: whole micrographs)."""
    rows = slice(begin, end)
    columns = {name: _rounded(details.centres[rows, k]) for k, name in enumerate("xyz"[: details.centres.shape[1]])}
    columns["i"] = np.asarray(details.input_of)[rows]
    if details.particles.species is not None:
        columns["s"] = details.particles.species[rows]
    lo, hi = np.searchsorted(picks.rows, [begin, end])
    rejected, theirs = picks.rows[lo:hi], picks.partner[lo:hi]
    rule = np.full(end - begin, -1, dtype=COLUMN_TYPES["r"])  # (-1: kept)
    rule[rejected - begin] = picks.rule[lo:hi]
    columns["r"] = rule
    here = theirs >= 0
    here[here] = details.groups[rejected[here]] == details.groups[theirs[here]]
    places = np.full(end - begin, -1, dtype=COLUMN_TYPES["p"])
    places[rejected[here] - begin] = theirs[here] - begin  # (a partner on the micrograph: in this file)
    columns["p"] = places
    return {name: np.ascontiguousarray(values, dtype=COLUMN_TYPES[name]) for name, values in columns.items()}


def _sliced(whole: dict[str, np.ndarray], begin: int, end: int) -> dict[str, np.ndarray]:
    """Rows ``begin`` to ``end`` of every column (:func:`_sorted_columns`), partners counted from ``begin``."""
    columns = {name: values[begin:end] for name, values in whole.items()}
    places = columns["p"]
    columns["p"] = np.where(places >= 0, places - begin, -1).astype(places.dtype)
    return columns


def _sorted_columns(details: ParticleDetails, picks: PagePicks, order: np.ndarray) -> dict[str, np.ndarray]:
    """Every pick's columns (:func:`_columns`), rows gathered in micrograph order (``order``)."""
    columns = {name: _rounded(details.centres[order, k]) for k, name in enumerate("xyz"[: details.centres.shape[1]])}
    columns["i"] = np.asarray(details.input_of)[order]
    if details.particles.species is not None:
        columns["s"] = details.particles.species[order]
    rule = np.full(len(details.groups), -1, dtype=COLUMN_TYPES["r"])  # (-1: kept)
    rule[picks.rows] = picks.rule
    columns["r"] = rule[order]
    columns["p"] = _partner_places(details.groups, picks, order)
    return {name: np.ascontiguousarray(values, dtype=COLUMN_TYPES[name]) for name, values in columns.items()}


def _rounded(column: np.ndarray) -> np.ndarray:
    """A centre's column rounded to the nearest Å (as int32: the page's type).

    Rounded straight into the int32 column (as ``astype`` casts): no float64 copy of ten million rows.
    """
    rounded = np.empty(len(column), dtype=COLUMN_TYPES["x"])
    np.rint(column, out=rounded, casting="unsafe")
    return rounded


def _partner_places(groups: np.ndarray, picks: PagePicks, order: np.ndarray) -> np.ndarray:
    """Each pick's partner as its place in micrograph ``order``, at its own (-1: none, or on another micrograph)."""
    places = np.full(len(groups), -1, dtype=COLUMN_TYPES["p"])
    rows, theirs = picks.rows, picks.partner
    paired = theirs >= 0
    rows, theirs = rows[paired], theirs[paired]
    here = groups[rows] == groups[theirs]
    place = np.empty(len(order), dtype=np.int64)
    place[order] = np.arange(len(order))
    places[place[rows[here]]] = place[theirs[here]]
    return places


def _picks_js(columns: Columns, starts: np.ndarray, first: int, last: int) -> list[bytes]:
    """A file of picks: those of micrographs ``first`` to ``last``, each column's numbers in base64.

    ``o``: each micrograph's first pick in the file (and the end); ``t``: each column's type in
    this file, the narrowest that holds its numbers (:func:`_narrowest`); the columns
    (:func:`_columns`), each the bytes of its type in base64: a tenth of the time of numbers as
    text, for as many bytes.
    The page tells each pick's fate (:data:`FATES`) from its rule and partner. The bytes are
    those of ``json.dumps`` of the object, in pieces written one after the other (json escaping
    200 MB of base64 took 0.45 s at 10M, joining them 0.3 s).
    """
    begin, end = starts[first], starts[last]
    offsets = json.dumps((starts[first : last + 1] - begin).tolist(), separators=(",", ":"))
    narrowed = {name: _narrowest(values, COLUMN_TYPES[name]) for name, values in columns(int(begin), int(end)).items()}
    types = json.dumps({name: type_ for name, (type_, _) in narrowed.items()}, separators=(",", ":"))
    parts = [f'cryodedupPicks({first // CHUNK},{{"o":{offsets},"t":{types}'.encode()]
    for name, (_, values) in narrowed.items():
        parts += [f',"{name}":"'.encode(), base64.b64encode(values.tobytes()), b'"']
    parts.append(b"});\n")
    return parts


#: The types a file's column may be narrowed to, narrowest first (the page reads each).
NARROW_TYPES = ("<i1", "<i2", "<u2", "<i4")


def _narrowest(values: np.ndarray, widest: str) -> tuple[str, np.ndarray]:
    """A column in the narrowest of :data:`NARROW_TYPES` that holds its numbers (values unchanged), and that type.

    ``widest``: the column's type (:data:`COLUMN_TYPES`), kept when it is empty.

    Centres in Å mostly fit 16 bits, partners' places within a file and inputs fewer: at 10M
    the files of picks are half the bytes to encode and write (205 MB as every column's widest).
    """
    if not len(values):
        return widest, values
    low, high = int(values.min()), int(values.max())
    for name in NARROW_TYPES:
        limits = np.iinfo(np.dtype(name))
        if limits.min <= low and high <= limits.max:
            return name, values.astype(name, copy=False)
    return widest, values


def thumbnail_jpeg(image: MicrographImage) -> bytes:
    """A thumbnail: the image low-pass filtered and scaled in grey as the report's examples (JPEG)."""
    assert image.pixels is not None
    picture = grey(display_image(image.pixels, image.factor)).convert("L")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=80)
    return out.getvalue()


def _page_html(title: str, unit: str) -> str:
    """The page: its style and script (beside this module), the index and the picks loaded from its folder."""
    return page_shell(f"{title}: every {unit}", "micrograph_page.js", INDEX_FILE)


def page_shell(title: str, script: str, index: str) -> str:
    """A self-contained page: the micrograph page's style and ``script`` (a file beside this module).

    ``index``: the index script's path, relative to the page (so that it opens from ``file://``).
    """
    here = Path(__file__).parent
    style = (here / "micrograph_page.css").read_text(encoding="utf-8")
    code = (here / script).read_text(encoding="utf-8")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        f"<script src='{index}'></script><script>{code}</script></body></html>"
    )
