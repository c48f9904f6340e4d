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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

import numpy as np

import cryodedup._core as _core

from ..algo import core_group_ids
from ..algo.dedup import picks_per_group
from ..algo.histogram import counts_per_group
from .canvas import KEPT_COLOUR, REJECTED_COLOUR
from .html_report import Page, PageBatch
from .particle_base import DISPLACED_COLOUR, SPECIES_COLOURS, UNCONFIRMED_COLOUR, ParticleDetails
from .picks_figures import MicrographImage, display_image, grey
from .scan_plans import CHUNK, PAGE_FOLDER, picks_file

__all__ = [
    "INDEX_FILE",
    "PAGE_FOLDER",
    "THUMBNAIL_WIDTH",
    "PagePicks",
    "micrograph_page",
    "page_shell",
    "scanned_files",
    "slab_edges",
    "thumbnail_jpeg",
]

#: The page, beside report.html, and the folder of its index, picks and thumbnails.
PAGE_FILE = "micrographs.html"
INDEX_FILE = f"{PAGE_FOLDER}/index.js"
#: About how many pixels across a thumbnail is binned to (``formats.mrc.binned_image``).
THUMBNAIL_WIDTH = 320
#: The fates of a pick as the page draws them (told from its rule and partner).
FATES = ("kept", "duplicate", "displaced", "no partner")
#: Slabs a tomogram's picks are drawn in along z.
SLABS = 3
#: The most particles whose names the page is given, to correct them (``overrides.csv``); above, it shows only.
EDITABLE = 200_000


@dataclass(frozen=True)
class PagePicks:
    """The rejected rows (ascending), each one's partner (the kept pick it lost to, else -1) and rule (into ``rules``).

    As the record of rejections names them (``jobs.particles.record.rejections``), found
    when first asked (``named()`` gives rows, partners and rules): a one-pass scan made the
    files of picks and the page asks none of them (at 10M a million rows' rules ranked
    again, 0.07 s). The rows not named are kept.
    """

    named: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]
    rules: Sequence[str]
    displaced_rule: int  # the rule index of a pick displaced by another species (--cross-species)
    #: Rows as ``decisions.csv`` names them (each one's row within its input from 1, its particle name), for the
    #: page's corrections; None: the page shows only.
    ids: Callable[[np.ndarray], tuple[np.ndarray, list[str]]] | None = None

    @cached_property
    def _named(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.named()

    @property
    def rows(self) -> np.ndarray:
        """The rejected rows, ascending."""
        return self._named[0]

    @property
    def partner(self) -> np.ndarray:
        """Each rejected row's partner (-1: none)."""
        return self._named[1]

    @property
    def rule(self) -> np.ndarray:
        """Each rejected row's rule, into ``rules``."""
        return self._named[2]


def micrograph_page(
    details: ParticleDetails,
    picks: PagePicks,
    images: Mapping[int, MicrographImage],
    title: str,
    staged: Callable[[Sequence[Path]], None] | None = None,
) -> Page:
    """The page of every micrograph: the page, its index and thumbnails, and its files of picks (made by the core).

    Linked from report.html (:func:`~.html_report.write_all` writes it). ``staged``: what
    puts the files of picks at the paths given where they were written already (those of
    :func:`scanned_files`, rows in micrograph order), else they are written then.
    """
    order = None if staged is not None else _micrograph_order(details.groups)
    n = len(details.mic_names)
    starts = np.zeros(n + 1, dtype=np.int64)  # (each micrograph's first row in micrograph order, and the end)
    np.cumsum(details.picks_per_micrograph, out=starts[1:])
    frames = _frames(details, order, starts, images)
    thumbnails = _thumbnails(images)
    ids = _ids_files(details, picks, starts)
    files = [
        (PAGE_FILE, _page_html(title, details.unit).encode()),
        (INDEX_FILE, _index_js(details, picks, frames, _thumbs(thumbnails, n), title, bool(ids)).encode()),
        *ids,
    ]
    # On threads: numpy's transforms and Pillow's encoder work without Python's lock.
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        names = [_thumbnail_name(mic, slab) for mic, slab, _ in thumbnails]
        files += zip(names, pool.map(thumbnail_jpeg, [image for _, _, image in thumbnails]))
    names = [f"{PAGE_FOLDER}/{picks_file(k)}" for k in range((n + CHUNK - 1) // CHUNK)]
    written = PageBatch(names, staged or partial(_write_picks, details, picks, order, starts))
    return Page(files, PAGE_FOLDER, f"every {details.unit}'s picks", (written,))


def _write_picks(
    details: ParticleDetails, picks: PagePicks, order: np.ndarray | None, starts: np.ndarray, paths: Sequence[Path]
) -> None:
    """The files of picks at ``paths``: those of :data:`CHUNK` micrographs each, made and written by the core.

    A file: ``cryodedupPicks(k, {...})`` of an object whose ``o`` is each micrograph's first
    pick in the file (and the end), ``t`` each column's type in this file (the narrowest of
    int8, int16, uint16 and int32 that holds its numbers, else :data:`COLUMN_TYPES`'), and
    each column the bytes of that type in base64 (a tenth of the time of numbers as text):
    ``x``, ``y`` (``z``) the centre rounded to the Å, ``i`` the input, ``s`` the species,
    ``r`` the rule (-1: kept), ``p`` the partner's place counted from the file's first pick
    (-1: none, or on another micrograph). The page tells each pick's fate (:data:`FATES`)
    from its rule and partner.
    """
    made = _made_by_the_scan(details, picks.rules, order)
    if made is not None:  # (the same bytes, made while the rows were scanned)
        made.write([str(path) for path in paths])
        return
    inputs, species = np.asarray(details.input_of), details.particles.species
    _core.write_page_picks(
        [str(path) for path in paths],
        CHUNK,
        starts,
        core_group_ids(details.groups),
        np.ascontiguousarray(details.centres, dtype=np.float64),
        np.ascontiguousarray(inputs if inputs.dtype in (np.uint8, np.uint32, np.int32) else inputs.astype(np.int32)),
        None if species is None else np.ascontiguousarray(species, dtype=np.uint32),
        np.ascontiguousarray(picks.rows, dtype=np.int64),
        np.ascontiguousarray(picks.rule, dtype=np.int8),
        np.ascontiguousarray(picks.partner, dtype=np.int64),
        order,
    )


def _ids_file(k: int) -> str:
    """The name of the page's file of names ``k`` in its folder: the particles of its file of picks ``k``."""
    return f"ids_{k:05d}.js"


def _ids_files(details: ParticleDetails, picks: PagePicks, starts: np.ndarray) -> list[tuple[str, bytes]]:
    """The files of names: each pick of a file of picks as ``decisions.csv`` names it, in the same order.

    A file: ``cryodedupIds(k, {"w": ..., "n": [...]})``, ``w`` each pick's row within its
    input from 1 (int32 bytes in base64, as the picks' columns), ``n`` its particle name. What
    the page writes into ``overrides.csv`` for a pick clicked. None above :data:`EDITABLE`
    particles (names made in Python, about 6 µs a particle: 1.2 s at 200,000) or where the job names no rows.
    """
    rows = len(details.groups)
    if picks.ids is None or rows > EDITABLE:
        return []
    order = _micrograph_order(details.groups)
    places, names = picks.ids(np.arange(rows) if order is None else order)
    places = np.asarray(places, dtype="<i4")
    n = len(details.mic_names)
    files = []
    for k in range((n + CHUNK - 1) // CHUNK):
        lo, hi = int(starts[k * CHUNK]), int(starts[min((k + 1) * CHUNK, n)])
        column = base64.b64encode(places[lo:hi].tobytes()).decode()
        text = f'cryodedupIds({k},{{"w":"{column}","n":{json.dumps(names[lo:hi], separators=(",", ":"))}}});\n'
        files.append((f"{PAGE_FOLDER}/{_ids_file(k)}", text.encode()))
    return files


def scanned_files(details: ParticleDetails, rules: Sequence[str]) -> _core.PageTexts | None:
    """The files of picks the one-pass scan made as it decided, where they are this page's (None: made by the page).

    ``rules``: the rules the page names (:attr:`PagePicks.rules`). The rows are then in
    micrograph order, not looked at again (a comparison of every row, 25 ms at 10M, before
    the drawing starts): the scan decides only rows that come micrograph by micrograph, each
    micrograph numbered as it first comes, and gives up at a micrograph that comes back.
    """
    return _made_by_the_scan(details, rules, None)


def _made_by_the_scan(
    details: ParticleDetails, rules: Sequence[str], order: np.ndarray | None
) -> _core.PageTexts | None:
    """The files of picks the one-pass scan made as it decided, where they are this page's (None: made here).

    Theirs are the rows as the scan read and decided them: one input, no species, rows micrograph by micrograph.
    """
    scanned = details.particles.decided_counts
    made = None if scanned is None else scanned.page
    if made is None or order is not None or details.particles.species is not None or len(details.inputs) != 1:
        return None
    if details.keep is not details.particles.decided or made.rules != list(rules) or made.chunk != CHUNK:
        return None
    return made if made.files == (len(details.mic_names) + CHUNK - 1) // CHUNK else None


def slab_edges(details: ParticleDetails) -> np.ndarray:
    """Each tomogram's bounds along z (Å) of its :data:`SLABS` slabs, (tomograms, SLABS + 1): its ``zRanges`` cut.

    The page puts a pick in slab ``floor((z - z0) / max(z1 - z0, 1) * SLABS)`` of its own
    tomogram's range (the first and last slabs taking those beyond): slab k of tomogram m lies
    from ``edges[m, k]`` to ``edges[m, k + 1]``. Each tomogram is cut over its own picks: cut
    over every tomogram's together, a thin tomogram's picks fell in one or two slabs.
    """
    ranges = _z_ranges(details)
    steps = np.maximum(ranges[:, 1] - ranges[:, 0], 1.0) / SLABS
    return ranges[:, :1] + np.arange(SLABS + 1)[None, :] * steps[:, None]


def _z_ranges(details: ParticleDetails) -> np.ndarray:
    """Each tomogram's picks' z range, whole Å, (tomograms, 2) (the index's ``zRanges``; 0 to 1 without picks)."""
    n = len(details.mic_names)
    z = details.centres[:, 2]
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(low, details.groups, z)
    np.maximum.at(high, details.groups, z)
    empty = ~np.isfinite(low)
    low[empty], high[empty] = 0.0, 1.0
    return np.stack([np.floor(low), np.ceil(high)], axis=1)


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
    """Each micrograph's picks rejected as duplicates: by a rule with a partner (or an earlier round's).

    Without a consensus, a mask or an edge (the rules of :data:`NOT_DUPLICATES`) every
    rejected pick is one: the rejected counts, no rule of each rejected row asked.
    """
    if details.unconfirmed is None and details.not_confirmable is None and details.dropped is None:
        return details.duplicates_per_micrograph
    apart = [k for k, rule in enumerate(picks.rules) if rule in NOT_DUPLICATES]
    duplicate = picks.rows[~np.isin(picks.rule, apart)]
    return np.bincount(details.groups[duplicate], minlength=len(details.mic_names))


def _agreement(details: ParticleDetails) -> list[float | None] | None:
    """Each micrograph's share of kept picks that more than one input picked (None with one input).

    None on a micrograph fewer than two inputs ran on (the card says "no agreement measured":
    none could agree there, which is not 0 %), and where nothing was kept (-1, nothing said).
    Which inputs ran where: the inputs' own word (``covered``), else those with picks there.
    """
    confirmed = details.confirmed_by
    if confirmed is None or len(details.inputs) < 2:
        return None
    bits = confirmed.astype(np.int64)
    several = details.keep & ((bits & (bits - 1)) != 0)
    n = len(details.mic_names)
    kept = details.picks_per_micrograph - details.rejected_per_micrograph
    agreeing = counts_per_group(details.groups, several, n)[1]
    share = np.divide(agreeing, kept, out=np.full(n, -1.0), where=kept > 0)
    particles = details.particles
    ran = details.covered
    if ran is None:
        ran = picks_per_group(particles.input_of, particles.groups, n, len(details.inputs)) > 0
    alone = np.asarray(ran).sum(axis=1) < 2
    return [None if lone else round(v, 4) for v, lone in zip(share.tolist(), alone.tolist())]


def _names_text(names: list[str]) -> tuple[str, str | None]:
    """The micrographs' names as the index's JSON text, and their cards' names (None: the cards show the whole names).

    A card shows a micrograph's file name without the ending every file name shares, cut
    back to a ``_``, ``.`` or ``-`` so that no number is split (CryoSPARC's names all end
    ``..._patch_aligned_doseweighted.mrc``, which every card showed); the whole names where
    the file names alone do not tell the micrographs apart. Both written by the core
    (``io::page_index``), out of Python's lock: at 50,000 micrographs json's encoder and the
    cards in Python took 40 ms while the pictures waited. A name holding a file name's bytes
    that are not UTF-8 (a lone surrogate) is written by json, the cards then the whole names.
    """
    try:
        return _core.page_index_names(names)
    except UnicodeEncodeError:
        return json.dumps(names, separators=(",", ":")), None


def _index_js(
    details: ParticleDetails, picks: PagePicks, frames: np.ndarray, thumbs: list[int], title: str, editable: bool
) -> str:
    """The index: the set's names and colours, each micrograph's name, frame and counts (columns of numbers).

    ``editable``: the page has its files of names (:func:`_ids_files`), and picks can be corrected.
    """
    n = len(details.mic_names)
    names, cards = _names_text(details.mic_names)
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
        "editable": editable,
        "names": _Written(names),
        "cardNames": _Written(cards or "null"),
        "frames": _numbers(np.rint(frames)),
        "thumbs": thumbs,
        "picks": _numbers(details.picks_per_micrograph),
        "rejected": _numbers(details.rejected_per_micrograph),
        "duplicates": _numbers(_duplicates(details, picks)),
        "agreement": _agreement(details),
        "byInput": _numbers([details.picks_per_micrograph])  # (one input: every pick; no mask of every row)
        if len(details.inputs) == 1
        else _numbers([counts_per_group(groups, details.input_of == k, n)[1] for k in range(len(details.inputs))]),
        "bySpecies": None
        if species is None
        else _numbers(
            [counts_per_group(groups, species == s, n)[1] for s in range(len(details.particles.species_names))]
        ),
    }
    if details.unit == "tomogram":
        index["zRanges"] = _numbers(_z_ranges(details))
    return "window.CRYODEDUP_INDEX = " + _index_text(index) + ";\n"


class _Written(str):
    """A value of the index written as JSON text already."""


def _numbers(values: object) -> np.ndarray:
    """A column (or rows) of whole numbers, as the index writes them (:func:`_value_text`)."""
    return np.asarray(values, dtype=np.int64)


def _index_text(index: dict) -> str:
    """``json.dumps(index, separators=(",", ":"))``, its long columns written by the core.

    The index's columns of whole numbers are int64 arrays (one or two dimensions), the
    names text written already (:class:`_Written`): json's encoder takes about 0.5 µs a name
    and 1 µs a frame, at 10M particles (50,000 micrographs) a tenth of a second of the page,
    in Python's lock while the pictures wait.
    """
    items = (f"{json.dumps(key)}:{_value_text(value)}" for key, value in index.items())
    return "{" + ",".join(items) + "}"


def _value_text(value: object) -> str:
    """One value of the index as ``json.dumps`` writes it (separators without spaces)."""
    if isinstance(value, _Written):
        return str(value)
    if isinstance(value, np.ndarray):
        return _core.page_index_numbers(value)
    return json.dumps(value, separators=(",", ":"))


#: The columns of a file of picks and their widest types (little-endian); a file names each one's own (``t``).
COLUMN_TYPES = {"x": "<i4", "y": "<i4", "z": "<i4", "i": "<i2", "s": "<i4", "r": "<i1", "p": "<i4"}


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
    """A self-contained page: the micrograph page's style, ``overrides_csv.js`` and ``script`` (beside this module).

    ``index``: the index script's path, relative to the page (so that it opens from ``file://``).
    """
    here = Path(__file__).parent
    style = (here / "micrograph_page.css").read_text(encoding="utf-8")
    # (overrides.csv written and read alike by every page: its script first)
    code = (here / "overrides_csv.js").read_text(encoding="utf-8") + (here / script).read_text(encoding="utf-8")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        f"<script src='{index}'></script><script>{code}</script></body></html>"
    )
