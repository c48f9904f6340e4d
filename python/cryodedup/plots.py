"""Pictures and a self-contained HTML report of what a job removed.

Imported only when a job is run with ``--plot``: the default path loads no plotting code.
Each figure function returns the matplotlib Figure, whose artists carry the data (tests
read them back), and ``save`` writes it as a PNG.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

KEPT_COLOUR, REJECTED_COLOUR = "#1a9641", "#d7191c"


@dataclass
class ParticleDetails:
    """What the particle job decided, per particle, for the pictures."""

    mic_names: list[str]  # by micrograph id
    groups: np.ndarray  # micrograph id of each particle
    centres: np.ndarray  # (n, 2) Å
    psize: np.ndarray  # micrograph pixel size of each particle, Å
    keep: np.ndarray
    suppressed_by: np.ndarray
    scores: np.ndarray | None
    score_label: str | None
    inputs: list[str]
    input_of: np.ndarray  # index into inputs of each particle
    min_dist: float
    mic_shapes: dict[int, tuple[int, int]]  # micrograph id -> (ny, nx) pixels, where known


def _axes(xlabel: str, ylabel: str, title: str, size=(7, 4)):
    """A new figure with one labelled plot."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig, ax


def save(fig, path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def nearest_neighbour_distances(groups: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Distance (Å) from each particle to the nearest other particle of its micrograph
    (inf when it is alone)."""
    out = np.full(len(groups), np.inf)
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for idx in np.split(order, bounds):
        if len(idx) < 2:
            continue
        for start in range(0, len(idx), 2000):  # bounded memory for crowded micrographs
            chunk = idx[start : start + 2000]
            d2 = ((centres[chunk, None, :] - centres[None, idx, :]) ** 2).sum(-1)
            d2[np.arange(len(chunk)), start + np.arange(len(chunk))] = np.inf
            out[chunk] = np.sqrt(d2.min(axis=1))
    return out


def nn_histogram(details: ParticleDetails):
    d = nearest_neighbour_distances(details.groups, details.centres)
    d = d[np.isfinite(d)]
    top = max(5 * details.min_dist, 200.0)
    fig, ax = _axes(
        "distance to the nearest particle on the same micrograph (Å)",
        "particles",
        "Nearest-neighbour distances (last bin: that far or farther)",
    )
    ax.hist(np.clip(d, 0, top), bins=100, range=(0, top), color="#4c72b0")
    ax.axvline(details.min_dist, color=REJECTED_COLOUR, lw=2, label=f"minimum distance {details.min_dist:g} Å")
    ax.legend()
    return fig


def rejected_fraction(details: ParticleDetails):
    n_mics = len(details.mic_names)
    total = np.bincount(details.groups, minlength=n_mics)
    rejected = np.bincount(details.groups[~details.keep], minlength=n_mics)
    fraction = rejected[total > 0] / total[total > 0]
    fig, ax = _axes(
        "fraction of a micrograph's particles rejected",
        "micrographs",
        f"Rejected per micrograph ({n_mics} micrographs)",
    )
    ax.hist(fraction, bins=50, range=(0, 1), color="#4c72b0")
    return fig


def score_distributions(details: ParticleDetails):
    fig, ax = _axes(details.score_label, "particles", "Scores of kept and rejected particles")
    s = details.scores
    finite = np.isfinite(s)
    lo, hi = (np.min(s[finite]), np.max(s[finite])) if finite.any() else (0, 1)
    for mask, colour, label in ((details.keep, KEPT_COLOUR, "kept"), (~details.keep, REJECTED_COLOUR, "rejected")):
        ax.hist(
            s[mask & finite],
            bins=60,
            range=(lo, hi),
            histtype="step",
            lw=2,
            color=colour,
            label=f"{label} ({int(mask.sum())})",
        )
    ax.legend()
    return fig


def input_contributions(details: ParticleDetails):
    k = len(details.inputs)
    kept = np.bincount(details.input_of[details.keep], minlength=k)
    rejected = np.bincount(details.input_of[~details.keep], minlength=k)
    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.5 * k))
    y = np.arange(k)
    ax.barh(y, kept, color=KEPT_COLOUR, label="kept")
    ax.barh(y, rejected, left=kept, color=REJECTED_COLOUR, label="rejected")
    ax.set_yticks(y, [Path(n).name for n in details.inputs])
    ax.set_xlabel("particles")
    ax.set_title("Picks contributed by each input")
    ax.legend()
    return fig


def display_image(path: Path, width: int = 900) -> tuple[np.ndarray, float] | None:
    """A micrograph binned to about ``width`` pixels and low-pass filtered for display, and
    the binning factor; None if it cannot be read."""
    try:
        import mrcfile

        from . import _core

        with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
            data = np.asarray(mrc.data).reshape(mrc.data.shape[-2:])
            if data.dtype.byteorder == ">":
                data = data.astype(data.dtype.newbyteorder("<"))
            factor = max(1, data.shape[1] // width)
            image = _core.bin_image(np.ascontiguousarray(data), factor)
    except Exception:  # a picture is not worth failing the job for
        return None
    k2 = np.fft.fftfreq(image.shape[0])[:, None] ** 2 + np.fft.rfftfreq(image.shape[1])[None, :] ** 2
    smooth = np.fft.irfft2(np.fft.rfft2(image - image.mean()) * np.exp(-k2 / (2 * 0.08**2)), s=image.shape)
    return smooth, float(factor)


def micrograph_picks(details: ParticleDetails, mic: int, image: tuple[np.ndarray, float] | None):
    """One micrograph with its picks: kept green, rejected red, circles of half the minimum
    distance, and a line from each rejected pick to the particle that suppressed it."""
    idx = np.flatnonzero(details.groups == mic)
    psize = float(details.psize[idx[0]])
    fig, ax = plt.subplots(figsize=(9, 7))
    if image is not None:
        pixels, factor = image
        scale = psize * factor  # Å per displayed pixel
        lo, hi = np.percentile(pixels, [1, 99])
        ax.imshow(
            pixels,
            cmap="gray",
            vmin=lo,
            vmax=hi,
            origin="lower",
            extent=(0, pixels.shape[1] * scale, 0, pixels.shape[0] * scale),
        )
    else:
        ny, nx = details.mic_shapes.get(mic, (0, 0))
        extent = (
            nx * psize or details.centres[idx, 0].max() * 1.05,
            ny * psize or details.centres[idx, 1].max() * 1.05,
        )
        ax.set_facecolor("#f2f2f2")
        ax.set_xlim(0, extent[0])
        ax.set_ylim(0, extent[1])
    radius = max(details.min_dist / 2, 1e-6)
    for i in idx:
        colour = KEPT_COLOUR if details.keep[i] else REJECTED_COLOUR
        ax.add_patch(
            Circle(
                tuple(details.centres[i]),
                radius,
                fill=False,
                lw=1.5,
                color=colour,
                gid="kept" if details.keep[i] else "rejected",
            )
        )
    lines = [(details.centres[i], details.centres[details.suppressed_by[i]]) for i in idx if not details.keep[i]]
    ax.add_collection(LineCollection(lines, colors=REJECTED_COLOUR, lw=1, gid="suppressed_by"))
    ax.set_aspect("equal")
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    from matplotlib.lines import Line2D

    ax.legend(
        handles=[
            Line2D([], [], marker="o", fillstyle="none", ls="", color=KEPT_COLOUR, label="kept"),
            Line2D([], [], marker="o", fillstyle="none", ls="", color=REJECTED_COLOUR, label="rejected"),
            Line2D([], [], color=REJECTED_COLOUR, label="to the particle kept instead"),
        ],
        loc="upper right",
        fontsize=8,
        framealpha=0.8,
    )
    n_rejected = int((~details.keep[idx]).sum())
    ax.set_title(
        f"{Path(details.mic_names[mic]).name}: {len(idx) - n_rejected} kept (green), {n_rejected} rejected "
        f"(red)\ncircles: half the minimum distance ({details.min_dist:g} Å); lines: to the particle kept instead",
        fontsize=9,
    )
    return fig


def micrographs_to_show(details: ParticleDetails, n: int) -> list[int]:
    """The micrograph with the most rejections first, then the next most."""
    rejected = np.bincount(details.groups[~details.keep], minlength=len(details.mic_names))
    present = np.bincount(details.groups, minlength=len(details.mic_names)) > 0
    order = [int(m) for m in np.lexsort((np.arange(len(rejected)), -rejected)) if present[m]]
    return order[:n]


def particle_figure_names(details: ParticleDetails, n_mics: int) -> list[str]:
    names = [f"example_micrograph_{k + 1}.png" for k in range(len(micrographs_to_show(details, n_mics)))]
    names += ["nn_distances.png", "rejected_per_micrograph.png"]
    if details.scores is not None:
        names.append("scores.png")
    if len(details.inputs) > 1:
        names.append("inputs.png")
    return names


def particle_figures(details: ParticleDetails, n_mics: int, find_micrograph) -> list:
    """(file name, title, Figure) for every picture of the particle job."""
    out = []
    for k, mic in enumerate(micrographs_to_show(details, n_mics)):
        path = find_micrograph(details.mic_names[mic])
        image = display_image(path) if path is not None else None
        out.append(
            (f"example_micrograph_{k + 1}.png", f"Example micrograph {k + 1}", micrograph_picks(details, mic, image))
        )
    out.append(("nn_distances.png", "Nearest-neighbour distances", nn_histogram(details)))
    out.append(("rejected_per_micrograph.png", "Rejected per micrograph", rejected_fraction(details)))
    if details.scores is not None:
        out.append(("scores.png", "Scores", score_distributions(details)))
    if len(details.inputs) > 1:
        out.append(("inputs.png", "Inputs", input_contributions(details)))
    return out


def z_distribution(z: np.ndarray, threshold: float):
    fig, ax = _axes(
        "phase-correlation peak z (standard deviations of the map)",
        "pairs (log scale)",
        f"Scores of {len(z):,} compared pairs",
    )
    top = max(float(np.max(z)) if len(z) else 1.0, threshold * 1.5)
    ax.hist(z, bins=100, range=(0, top), color="#4c72b0", log=True)
    ax.axvline(threshold, color=REJECTED_COLOUR, lw=2, label=f"threshold z = {threshold:g}")
    ax.legend()
    return fig


def pair_figure(a: np.ndarray, b: np.ndarray, dy: int, dx: int, title: str):
    """Two binned micrographs side by side, and overlaid at the found shift (b[y, x] shows
    a[y + dy, x + dx]): a in magenta, b in green; grey where they agree."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))

    def norm(img):
        lo, hi = np.percentile(img, [1, 99])
        return np.clip((img - lo) / (hi - lo + 1e-12), 0, 1)

    for ax, img, label in ((axes[0], a, "first acquisition"), (axes[1], b, "later acquisition")):
        ax.imshow(norm(img), cmap="gray")
        ax.set_title(label)
        ax.set_xlabel("x (binned pixels)")
        ax.set_ylabel("y (binned pixels)")
    ny, nx = a.shape
    oy, ox = max(0, -dy), max(0, -dx)  # a's origin on the canvas; b's is (oy + dy, ox + dx)
    canvas = np.zeros((ny + abs(dy), nx + abs(dx), 3))
    canvas[oy : oy + ny, ox : ox + nx, 0] = norm(a)
    canvas[oy : oy + ny, ox : ox + nx, 2] = norm(a)
    canvas[oy + dy : oy + dy + ny, ox + dx : ox + dx + nx, 1] = norm(b)
    axes[2].imshow(canvas)
    axes[2].set_title(f"overlaid at shift ({dx}, {dy}) px")
    axes[2].set_xlabel("x (binned pixels)")
    fig.suptitle(title)
    return fig


def write_report(path, title: str, parameters: dict, summary_rows: list[tuple[str, str]], figures: list) -> None:
    """One self-contained HTML file: parameters, summary and the figures, images embedded."""

    def table(rows):
        return (
            "<table>"
            + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
            + "</table>"
        )

    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "th{text-align:left;padding-right:1.5em;vertical-align:top}td{white-space:pre-wrap}"
        "img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><h2>Summary</h2>",
        table(summary_rows),
        "<h2>Parameters</h2>",
        table(parameters.items()),
        "<h2>Pictures</h2>",
    ]
    for name, caption, png in figures:
        data = base64.b64encode(png).decode()
        parts.append(
            f"<h3>{html.escape(caption)}</h3><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
        )
    parts.append("</body></html>")
    Path(path).write_text("".join(parts))


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def summary_rows(summary: dict) -> list[tuple[str, str]]:
    """The summary's plain entries, for the report."""
    rows = []
    for key, value in summary.items():
        if key in ("outputs", "plots", "inputs"):
            continue
        if isinstance(value, list):
            value = (
                "\n".join(
                    " ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
                    for item in value
                )
                or "-"
            )
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        rows.append((key.replace("_", " "), value))
    return rows


def write_all(outdir: Path, figures: list, title: str, parameters: dict, summary: dict, force: bool) -> list[str]:
    """Saves the figures and report.html in ``outdir`` (complete files or none)."""
    from .outputs import AtomicOutputs

    paths = [outdir / name for name, _, _ in figures] + [outdir / "report.html"]
    rendered = [(name, caption, png_bytes(fig)) for name, caption, fig in figures]
    for _, _, fig in figures:
        plt.close(fig)
    with AtomicOutputs(paths, force=force) as tmp:
        for (name, _, png), path in zip(rendered, paths):
            tmp[path].write_bytes(png)
        write_report(tmp[paths[-1]], title, parameters, summary_rows(summary), rendered)
    return [str(p) for p in paths]
