"""Input priority and the same image twice on the real files of ../shared/data (issue 39).

- Hand picks beside a real RELION AutoPick file (picks/3dem__20170629_00049_frameImage_autopick.star,
  195 LoG picks): a ManualPick folder is written as RELION 3.1's picking window saves it
  (whole pixels, rlnClassNumber 2, rlnAnglePsi -999, rlnAutopickFigureOfMerit -999), a hand
  pick 3 px from every fifth LoG pick and two far from any; ``cryodedup particles`` merges
  the two folders with and without ``--prefer``. Every hand pick must be kept with it.
- Real particle STAR files (star/cryodrgn__relion31.star, star/3dem__particles_1k_scipion.star)
  joined with a copy "re-refined" (every origin moved 30 Å): each image is then in the set
  twice. The default must name them ("kept twice"), ``--same-image reject`` keep no image
  twice, and ``--prefer 2`` keep of the re-refined rows what the file keeps alone.

Usage: python scripts/check_prefer_real_files.py WORKDIR [DATA]   (DATA: ../shared/data; exits 1 on a failure)
"""

from __future__ import annotations

import sys
from pathlib import Path

from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions

AUTOPICK = "picks/3dem__20170629_00049_frameImage_autopick.star"
STARS = ["star/cryodrgn__relion31.star", "star/3dem__particles_1k_scipion.star"]
LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAnglePsi", "rlnAutopickFigureOfMerit"]


def rows_of(path: Path) -> list[list[str]]:
    """The data rows of the last loop of a STAR file, split into fields."""
    lines = path.read_text().splitlines()
    last_label = max(k for k, line in enumerate(lines) if line.startswith("_"))
    return [line.split() for line in lines[last_label + 1 :] if line.strip() and not line.startswith("#")]


def labels_of(path: Path) -> list[str]:
    """The labels of the last loop of a STAR file."""
    lines = path.read_text().splitlines()
    last_loop = max(k for k, line in enumerate(lines) if line.strip().startswith("loop_"))
    return [line.split()[0].lstrip("_") for line in lines[last_loop + 1 :] if line.startswith("_")]


def hand_picks(data: Path, work: Path) -> bool:
    """A ManualPick folder beside the real AutoPick file, merged with and without --prefer."""
    source = data / AUTOPICK
    (work / "AutoPick").mkdir(parents=True)
    (work / "ManualPick").mkdir()
    (work / "AutoPick" / source.name).write_bytes(source.read_bytes())
    log = [(float(r[0]), float(r[1])) for r in rows_of(source)]
    picks = [(round(x) + 3.0, round(y)) for x, y in log[::5]] + [(20.0, 20.0), (40.0, 4000.0)]
    header = "\n# version 30001\n\ndata_\n\nloop_ \n" + "".join(
        f"_{label} #{k + 1} \n" for k, label in enumerate(LABELS)
    )
    rows = "".join(f"{x:12.6f} {y:12.6f} {2:12d} {-999:12.6f} {-999:12.6f} \n" for x, y in picks)
    name = source.name.replace("_autopick.star", "_manualpick.star")
    (work / "ManualPick" / name).write_text(header + rows + " \n")
    ok = True
    for prefer in ([], ["ManualPick"]):
        out = work / ("prefer" if prefer else "plain")
        options = ParticleOptions(min_dist=50, mic_psize=0.885, prefer=[str(work / p) for p in prefer])
        summary = remove_duplicate_particles([work / "AutoPick", work / "ManualPick"], out, options)
        document = summary.to_json()
        kept_hand = document["inputs"][1]["kept"]
        rule = "--prefer ManualPick" if prefer else "no --prefer"
        print(
            f"{AUTOPICK} + {len(picks)} hand picks, --min-dist 50, {rule}: "
            f"{kept_hand} of {len(picks)} hand picks kept; {document['score'].get('without_score', 0)} without a score"
            + (f"; priority decided {document['priority']['by_priority']} groups" if prefer else "")
        )
        ok &= kept_hand == len(picks) if prefer else True
    return ok


def refined_again(path: Path, work: Path) -> Path:
    """``path`` with every origin moved 30 Å (the rows of a second refinement of the same images)."""
    labels = labels_of(path)
    text = path.read_text().splitlines(keepends=True)
    last_label = max(k for k, line in enumerate(text) if line.startswith("_"))
    head = text[: last_label + 1]
    if "rlnOriginXAngst" not in labels:
        head.append(f"_rlnOriginXAngst #{len(labels) + 1} \n")
        rows = [line.rstrip("\n") + " 30.0\n" for line in text[last_label + 1 :] if line.strip()]
    else:
        k = labels.index("rlnOriginXAngst")
        rows = []
        for line in text[last_label + 1 :]:
            fields = line.split()
            if fields:
                fields[k] = f"{float(fields[k]) + 30:.6f}"
                rows.append(" ".join(fields) + "\n")
    out = work / f"refined_{path.name}"
    out.write_text("".join(head + rows))
    return out


def same_images(data: Path, work: Path) -> bool:
    """Each real STAR file joined with its re-refined copy: warned of, rejected, preferred."""
    ok = True
    for name in STARS:
        source = data / name
        again = refined_again(source, work)
        n = len(rows_of(source))
        warned = remove_duplicate_particles([source, again], work / f"warn_{again.stem}", ParticleOptions(min_dist=10))
        rejected = remove_duplicate_particles(
            [source, again], work / f"reject_{again.stem}", ParticleOptions(min_dist=10, same_image="reject")
        )
        preferred = remove_duplicate_particles(
            [source, again],
            work / f"prefer_{again.stem}",
            ParticleOptions(min_dist=10, same_image="reject", prefer=["2"]),
        )
        twice = warned.to_json()["same_image"]["images_kept_twice"]
        print(
            f"{name} ({n} rows) + its rows 30 Å away: default {twice} images kept twice "
            f"(e.g. {warned.to_json()['same_image'].get('named', [''])[0]}); reject keeps {rejected.kept}; "
            f"reject with --prefer 2 keeps {[i['kept'] for i in preferred.to_json()['inputs']]} (source, re-refined)"
        )
        distinct_kept = remove_duplicate_particles([source], work / f"alone_{again.stem}", ParticleOptions(min_dist=10))
        # Every image the file keeps alone is kept twice when joined (once per refinement); with
        # reject none is; with --prefer 2 the re-refined rows keep what the file keeps alone.
        ok &= twice == distinct_kept.kept and rejected.to_json()["same_image"]["images_kept_twice"] == 0
        ok &= preferred.to_json()["inputs"][1]["kept"] == distinct_kept.kept
    return ok


def main() -> int:
    """Runs both checks in ``sys.argv[1]``: 0 if every one holds."""
    work = Path(sys.argv[1]).resolve()
    data = Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/data").resolve()
    if not (data / AUTOPICK).exists():
        print(f"{data}: no shared data; nothing checked")
        return 0
    work.mkdir(parents=True)
    ok = hand_picks(data, work / "picks") & same_images(data, work)
    print("all checks hold" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
