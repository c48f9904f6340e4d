"""The Scipion protocols' forms take cryodedup's options from their declarations (no pyworkflow needed)."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

from cryodedup.errors import CryodedupError
from cryodedup.options import MicrographOptions, ParticleOptions
from cryodedup.options.fields import choice, option

PLUGIN = Path(__file__).parents[2] / "scipion" / "cryodedup_scipion"


def _forms():
    """scipion/cryodedup_scipion/forms.py, loaded alone: the plugin's package imports Scipion's pwem."""
    spec = importlib.util.spec_from_file_location("cryodedup_scipion_forms", PLUGIN / "forms.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Form:
    """A stand-in for pyworkflow's form: records each addParam."""

    def __init__(self):
        self.params = {}

    def addParam(self, name, param_class, **keywords):  # (pyworkflow's name)
        self.params[name] = (param_class, keywords)


class _Params:
    """A stand-in for pyworkflow.protocol.params: each class is its name."""

    def __getattr__(self, name):
        return name


@dataclasses.dataclass
class _ToyOptions:
    """A job's options with an option declared once, here."""

    toy_width: float = option(3.5, "--toy-width", "Width of the `toy` window, in Å.", type=float)
    toy_mode: str = choice("fast", "--toy-mode", "How the toy runs.", choices=("slow", "fast", "exact"))
    toy_switch: bool = option(False, "--toy-switch", "Turn the toy on.", is_flag=True)


def test_a_declared_options_default_and_help_reach_the_form():
    forms = _forms()
    form = _Form()
    forms.add_option_param(form, _Params(), "toyWidth", _ToyOptions, "toy_width", "Toy width (Å)")
    forms.add_option_param(form, _Params(), "toyMode", _ToyOptions, "toy_mode", "Toy mode", choices=["fast", "exact"])
    forms.add_option_param(form, _Params(), "toySwitch", _ToyOptions, "toy_switch", "Toy?")
    assert form.params["toyWidth"] == (
        "FloatParam",
        {"label": "Toy width (Å)", "help": "Width of the toy window, in Å.", "default": 3.5},
    )
    # A choice: the form keeps an index into the values offered; the default's is found.
    assert form.params["toyMode"] == (
        "EnumParam",
        {"label": "Toy mode", "help": "How the toy runs.", "choices": ["fast", "exact"], "default": 0},
    )
    assert form.params["toySwitch"][0] == "BooleanParam" and form.params["toySwitch"][1]["default"] is False
    assert forms.chosen(_ToyOptions, "toy_mode", 1, ["slow"]) == "exact"
    with pytest.raises(ValueError, match="toy_mode has no choice 'sloow'"):
        forms.choices_offered(_ToyOptions, "toy_mode", ["sloow"])


@pytest.mark.parametrize(
    ("job", "name", "options"),
    [
        ("particles", "min_dist", ParticleOptions),
        ("particles", "seed", ParticleOptions),
        ("particles", "remove_entirely", ParticleOptions),
        ("coordinates", "min_support", ParticleOptions),
        ("coordinates", "uncovered", ParticleOptions),
        ("micrographs", "target_psize", MicrographOptions),
        ("micrographs", "min_z", MicrographOptions),
        ("micrographs", "min_pearson", MicrographOptions),
        ("micrographs", "window", MicrographOptions),
        ("micrographs", "order", MicrographOptions),
    ],
)
def test_the_protocols_fields_are_the_python_apis(job, name, options):
    # The form's default is what the Python API (which the protocols call) uses when not given.
    _, arguments = _forms().param_arguments(job, name, "label")
    default = getattr(options(), name)
    if "choices" in arguments:
        assert arguments["choices"][arguments["default"]] == default
    else:
        assert arguments["default"] == default and isinstance(default, type(arguments["default"]))
    flag = {f.name: f.metadata.get("flag") for f in dataclasses.fields(options)}[name]
    assert arguments["help"] == flag.help.replace("`", "")


def test_every_choice_a_micrograph_form_offers_is_accepted():
    # The form once offered --order name, which the job refuses.
    forms = _forms()
    for name in ("candidates", "order"):
        offered = forms.choices_offered("micrographs", name, ["metadata"])
        assert "metadata" not in offered and len(offered) >= 4
        for value in offered:
            MicrographOptions(**{name: value}).check()
    with pytest.raises(CryodedupError, match="--order"):
        MicrographOptions(order="name").check()


def test_no_protocol_types_a_declared_default_again():
    sources = "\n".join(path.read_text() for path in (PLUGIN / "protocols").glob("*.py"))
    built = re.findall(r'add_option_param\(\s*form,\s*params,\s*"(\w+)"', sources)
    assert len(built) >= 13
    for param in built:  # not also declared by hand
        assert not re.search(rf'addParam\(\s*"{param}"', sources), param
    typed = re.findall(r"default=(\d[\d.]*)", sources)
    assert typed == [], f"defaults typed in the Scipion forms: {typed}"
