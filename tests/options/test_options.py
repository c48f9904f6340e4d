"""cryodedup.options: each option declared once, and the command line made from the declarations."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import click
import pytest

from cryodedup import options
from cryodedup.cli import main
from cryodedup.commands import MICROGRAPHS, MICROGRAPHS_MERGE, PARTICLES, PARTICLES_MERGE, field_values
from cryodedup.errors import CryodedupError, alternatives
from cryodedup.options import MicrographOptions, MicrographRun, ParticleOptions
from cryodedup.report.sections.run import RunVerdict

COMMANDS = {
    "particles": PARTICLES,
    "particles-merge": PARTICLES_MERGE,
    "micrographs": MICROGRAPHS,
    "micrographs-merge": MICROGRAPHS_MERGE,
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_has_the_declared_options_in_their_order(name):
    options = [p for p in main.commands[name].params if isinstance(p, click.Option) and p.opts != ["-h"]]
    declared = COMMANDS[name].options
    assert [tuple(p.opts + p.secondary_opts) for p in options] == [tuple(f.flags) for f in declared]
    assert [p.help for p in options] == [f.help for f in declared]


@pytest.mark.parametrize(
    ("name", "job", "args"),
    [
        ("particles", ParticleOptions, ["in.star", "-o", "out"]),
        ("micrographs", MicrographOptions, ["m.star", "-o", "o"]),
    ],
)
def test_the_command_lines_defaults_are_the_python_apis(name, job, args):
    # What the command parses with no option given, against the dataclass made with no argument.
    command = main.commands[name]
    with command.make_context(name, list(args)) as ctx:
        parsed = ctx.params
    api = dataclasses.asdict(job())
    # The options as the command makes them (a repeated --radius's pairs merged into the API's dict).
    made = dataclasses.asdict(job(**field_values(job, parsed)))
    for field in dataclasses.fields(job):
        flag = field.metadata.get("flag")
        if flag is None:
            continue
        value = parsed[flag.name or field.name]
        assert made[field.name] == api[field.name], field.name
        if flag.multiple and field.name != "radius":
            assert list(value) == api[field.name], field.name


@pytest.mark.parametrize("job", [ParticleOptions, MicrographOptions])
def test_every_job_field_but_the_batch_size_is_an_option(job):
    # (species_min_dist(_z): the API's side of --min-dist(-z) NAME=Å pairs, which the command line gives there;
    # input_psize: of --mic-psize INPUT=Å pairs, given in --mic-psize; species_min_dist_ellipsoid: of
    # --min-dist-ellipsoid NAME=A,B,C groups)
    undeclared = [f.name for f in dataclasses.fields(job) if "flag" not in f.metadata]
    expected = (
        ["species_min_dist", "input_psize", "species_min_dist_z", "species_min_dist_ellipsoid"]
        if job is ParticleOptions
        else ["batch"]
    )
    assert undeclared == expected


@pytest.mark.parametrize("job", [ParticleOptions, MicrographOptions])
def test_a_choice_the_command_line_refuses_the_api_refuses_with_the_flags_name(job):
    # Options given in Python skip click: every choice (--shift-key and --output-format too, once
    # checked by their readers) is checked by the job's check(), naming the flag and its values.
    choice_fields = 0
    for field in dataclasses.fields(job):
        flag = field.metadata.get("flag")
        if flag is None or not isinstance(flag.type, click.Choice):
            continue
        choice_fields += 1
        *first, last = flag.type.choices
        expected = f"{flag.flags[0]} is {', '.join(first)} or {last}, got 'bogus'"
        with pytest.raises(CryodedupError) as refused:
            job(**{field.name: "bogus"}).check()
        assert str(refused.value) == expected
    assert choice_fields == (12 if job is ParticleOptions else 2)  # (--select: issue 69)


def test_the_choices_are_declared_once_beside_the_flag():
    # A choice's values stand in its declaration alone: no check() spells them again.
    sources = [path.read_text() for path in Path(options.__file__).parent.glob("*.py")]
    assert len(sources) >= 3 and not any("not in (" in source for source in sources)
    assert alternatives(["auto", "all"]) == "auto or all"


def test_the_particle_command_builds_the_options_of_the_api(tmp_path, monkeypatch):
    # Every option given on the command line reaches the job's options under its field.
    seen = {}

    class _Summary:  # (what the command reads of the job's typed summary)
        micrograph_images = None
        plots = None
        verdict = RunVerdict("Kept 0 of 0", "good", "Kept 0 of 0")

        def to_json(self):
            return {"verdict": self.verdict.to_json(), "outputs": {}, "timings": None, "inputs": []}

        def sections(self):
            return None

    def planned(options):  # (the command line plans the options it built: those are the API's)
        seen["options"] = options
        return SimpleNamespace()

    def job(files, outdir, plan, force, log):
        return SimpleNamespace(summary=_Summary())

    monkeypatch.setattr("cryodedup.jobs.particles.plan.plan", planned)
    monkeypatch.setattr("cryodedup.jobs.particles.entrance.run", job)
    monkeypatch.setattr("cryodedup.cli.particle_rows", lambda summary, sections: [])
    args = ["particles", "in.star", "-o", str(tmp_path), "--min-dist", "33", "--score-order", "min", "--seed", "9"]
    args += ["--max-angle", "12", "--sym", "C3", "--plot-mics", "5", "--project-dir", str(tmp_path), "--quiet"]
    from click.testing import CliRunner

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    expected = ParticleOptions(
        min_dist=33.0, score_order="min", seed=9, max_angle=12.0, sym="C3", plot_mics=5, project_dir=Path(tmp_path)
    )
    assert seen["options"] == expected


@pytest.mark.parametrize(
    ("run", "options", "message"),
    [
        (MicrographRun(watch=float("nan")), {}, "--watch (seconds) and --watch-idle (minutes) must be numbers"),
        (MicrographRun(watch_idle=5.0), {}, "--watch-idle goes with --watch SECONDS"),
        (MicrographRun(update=True, shard="1/2"), {}, "--update runs in one process"),
        (MicrographRun(watch=30.0, dask="local"), {}, "--update runs in one process"),
        (MicrographRun(update=True, in_process=False), {}, "--update runs in one process"),
        (MicrographRun(update=True), {"no_images": True, "metadata": [Path("EPU")]}, "--update keeps the images"),
        (MicrographRun(shard="1/2"), {"metadata": [Path("EPU")]}, "--metadata cannot be given with --shard"),
        (MicrographRun(shard="1/2", dask="local"), {}, "--shard writes scored pairs only"),
        (MicrographRun(shard="1/2", particles=True), {}, "--shard writes scored pairs only"),
        (MicrographRun(shard="1/2"), {"plot": True}, "--plot goes with micrographs-merge"),
        (MicrographRun(shards=3), {}, "--shards goes with --dask"),
    ],
)
def test_a_micrograph_run_refuses_options_that_do_not_go_together(run, options, message):
    # One check for the command line, the Python API and the pipelines' jobs (issue 42).
    with pytest.raises(CryodedupError, match=re.escape(message)):
        run.check(MicrographOptions(**options))


@pytest.mark.parametrize(
    "run",
    [
        MicrographRun(),
        MicrographRun(update=True),
        MicrographRun(watch=30.0, watch_idle=5.0),
        MicrographRun(shard="1/2"),
        MicrographRun(dask="local", shards=3, particles=True),
    ],
)
def test_a_micrograph_run_takes_what_goes_together(run):
    run.check(MicrographOptions(metadata=[] if run.shard else [Path("EPU")]))


def test_the_api_refuses_metadata_with_a_shard_as_the_command_line_does(tmp_path):
    from cryodedup.jobs.micrographs.plan import micrograph_plan
    from cryodedup.jobs.micrographs.shards import run_micrograph_shard

    # (the shard is handed the options resolved, as the command line resolves them: the plan's metadata refused)
    job = micrograph_plan(MicrographOptions(metadata=[tmp_path]))
    with pytest.raises(CryodedupError, match="--metadata cannot be given with --shard"):
        run_micrograph_shard([tmp_path / "a.mrc", tmp_path / "b.mrc"], tmp_path / "out", job, 1, 2)
    assert not (tmp_path / "out").exists()


def test_an_option_marked_as_affecting_scores_or_the_decision_is_taken():
    # A toy options class: a new option needs only its mark to be stored and compared.
    @dataclasses.dataclass
    class Toy:
        plain: int = options.fields.option(1, "--plain", "Not marked.", type=int)
        sharper: float = options.fields.option(2.0, "--sharper", "Changes scores.", type=float, affects="scores")
        pairs: int = options.fields.option(3, "--pairs", "Changes the decision.", type=int, affects="decision")

    assert options.fields.marked_options(Toy, "scores") == ("sharper",)
    assert options.fields.marked_options(Toy, "scores", "decision") == ("sharper", "pairs")
    with pytest.raises(ValueError, match="affects"):
        options.fields.option(1, "--typo", "A mark that is no mark.", affects="score")


def test_the_micrograph_jobs_stored_options_are_the_marked_ones():
    from cryodedup.jobs.micrographs.plan import RUN_OPTIONS
    from cryodedup.jobs.micrographs.update import SCORE_OPTIONS

    # The hand-kept tuples these replace (shards.py and update.py before the marks).
    scores = {"target_psize", "bin", "lowpass", "highpass", "psize", "min_z"}
    decision = {"candidates", "window", "scan_range", "images_per_move", "images_per_hole", "order"}
    decision |= {"min_pearson", "skip_unreadable", "overrides"}  # (--overrides: a shard records its file)
    assert set(SCORE_OPTIONS) == scores
    assert set(RUN_OPTIONS) == scores | decision
    assert len(RUN_OPTIONS) == len(scores | decision)
    # shard.json keeps its order: the run's options in declaration order.
    declared = [f.name for f in dataclasses.fields(MicrographOptions)]
    assert list(RUN_OPTIONS) == sorted(RUN_OPTIONS, key=declared.index)


def _panelled(command: click.Command) -> set[str]:
    """The options (their first flag) that one of the command's help panels shows."""
    ctx = click.Context(command, info_name=command.name)
    shown = set()
    for panel in getattr(command, "panels", []):
        shown.update(p.opts[0] for p in panel.get_objects(command, ctx))
    return shown


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_of_every_command_sits_in_a_named_panel(name):
    # Before the panels were marked on the options, --insist-psize, --import-scale, --import-add,
    # --import-centered and --insist-angles fell into a stray "Options" box of `particles --help`.
    command = main.commands[name]
    every = {p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.hidden}
    assert sorted(every - _panelled(command)) == []
    shown = click.testing.CliRunner().invoke(main, [name, "--help"], terminal_width=120)
    assert shown.exit_code == 0, shown.output
    titles = re.findall(r"╭─ (.+?) ─", shown.output)
    assert "Options" not in titles and titles, titles


def test_an_option_in_no_panel_of_its_command_is_refused():
    from cryodedup.commands import Command
    from cryodedup.options.fields import OUTPUT, Flag

    Command([Flag(("--fine",), "In a panel.", panel=OUTPUT)])
    with pytest.raises(ValueError, match="--stray's panel ''"):
        Command([Flag(("--stray",), "Marked nowhere.")])


def test_an_option_taken_by_another_command_is_marked_where_declared():
    @dataclasses.dataclass
    class Toy:
        plain: int = options.fields.option(1, "--plain", "Not marked.", type=int)
        read: int = options.fields.option(2, "--read", "Compare reads it.", type=int, taken_by=("compare",))
        both: int = options.fields.option(3, "--both", "Both.", type=int, taken_by=("copick", "compare"))

    assert options.fields.taken_by(Toy, "compare") == ("read", "both")
    assert options.fields.taken_by(Toy, "copick") == ("both",)
    with pytest.raises(ValueError, match="taken_by"):
        options.fields.option(1, "--typo", "A taker that is none.", taken_by=("copik",))


def test_the_subsets_of_the_particle_options_are_the_hand_kept_lists_they_replace():
    # The lists as they were kept by hand before the marks (api.py, options/compare.py,
    # commands.py's copick command, jobs/particles/store.py), in their order where it is kept.
    from cryodedup.api import CENTRE_OPTIONS
    from cryodedup.commands import COMPARE, COPICK_DEDUP
    from cryodedup.jobs.particles.store import DECISION_OPTIONS

    centres = {"min_dist", "min_dist_z", "remove_entirely", "seed", "min_support", "coverage", "uncovered"}
    assert set(CENTRE_OPTIONS) == centres | {"score_normalize"}
    decision = ["min_dist", "min_dist_z", "mic_psize", "shift_key", "score", "score_order", "select", "seed"]
    decision += ["same_image"]
    assert list(DECISION_OPTIONS) == [*decision, "match_micrographs"]  # (the store's record keeps this order)
    reading = {"--mic-psize", "--micrographs", "--shift-key", "--topaz-scale", "--import-scale", "--import-add"}
    reading |= {"--import-centered", "--project-dir", "--match-micrographs", "--transform"}
    assert set(dict(COMPARE.panel_flags())["Reading"]) == reading
    copick = ["--copick-objects", "--copick-users", "--copick-sessions", "--copick-out-user", "--copick-out-session"]
    others = {"--min-dist", "--min-dist-z", "--prefer", "--score-order", "--remove-entirely", "--min-support"}
    others |= {"--uncovered", "--cross-species", "--radius", "--overlap", "--max-angle", "--sym", "--registration"}
    others |= {"--transform", "--dataset", "--outdir", "--force", "--quiet", "--json", "--plot", "--plot-mics"}
    others |= {"--select", "--score-normalize", "--min-dist-ellipsoid"}  # (issue 69's, for copick users later)
    others |= {"--edge"}
    flags = [next(f for f in flag.flags if f.startswith("--")) for flag in COPICK_DEDUP.options]
    assert flags[:5] == copick  # (the copick project's options first)
    assert sorted(flags[5:]) == sorted(others)


def test_the_options_of_several_inputs_sit_in_an_inputs_panel_and_particles_short_help_shows_update():
    # A new user's trial: --registration and --transform sat under "Pickers and consensus" though they
    # apply to any several inputs, the --import-* options there too, --dataset under "Distance and pixel
    # size"; `particles -h` left out --update where `micrographs -h` shows it, and --update's help said
    # "RELION STAR inputs" though it takes CryoSPARC .cs/.csg batches too.
    from cryodedup.commands import PARTICLES

    panels = dict(PARTICLES.panel_flags())
    inputs = {"--match-micrographs", "--dataset", "--registration", "--transform"}
    inputs |= {"--import-scale", "--import-add", "--import-centered"}
    assert set(panels["Inputs and frames"]) == inputs
    assert not inputs & set(panels["Pickers and consensus"]) and not inputs & set(panels["Distance and pixel size"])
    assert "--update" in PARTICLES.essentials
    short = click.testing.CliRunner().invoke(main, ["particles", "-h"], terminal_width=100)
    assert re.search(r"^  --update\b", short.output, re.MULTILINE), short.output
    update = next(flag for flag in PARTICLES.options if flag.flags == ("--update",))
    assert ".cs/.csg" in update.help and "RELION STAR inputs" not in update.help
