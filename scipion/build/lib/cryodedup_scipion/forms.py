"""The protocols' form parameters made from cryodedup's option declarations.

A parameter that is one of cryodedup's options takes its default, its help and its choices
from the option's declaration (``cryodedup.pipelines.job_types.form_field``, which the
pipelines' jobs share): neither is typed again here. Only the form's label is the plugin's.
This module imports no pyworkflow (``params`` is given): it is tested without Scipion; and
cryodedup only when a form is made (the plugin loads without it, and says it is missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: The pyworkflow parameter class of each kind of option.
PARAM_CLASSES = {
    "float": "FloatParam",
    "int": "IntParam",
    "bool": "BooleanParam",
    "choice": "EnumParam",
    "text": "StringParam",
}


def choices_offered(job: str | type, name: str, leave_out: Sequence[str] = ()) -> list[str]:
    """The values of the choice ``name`` a form offers: the declared ones but ``leave_out``.

    A form leaves out what needs an input it has no field for (``--candidates metadata``
    needs ``--metadata``); a value left out that is not declared is a mistake, refused.
    """
    from cryodedup.pipelines.job_types import form_field

    declared = form_field(job, name).choices
    unknown = [value for value in leave_out if value not in declared]
    if unknown:
        raise ValueError(f"{name} has no choice {unknown[0]!r} (its choices: {', '.join(declared)})")
    return [value for value in declared if value not in leave_out]


def chosen(job: str | type, name: str, index: int, leave_out: Sequence[str] = ()) -> str:
    """The value of the choice ``name`` at ``index`` of those offered (the form keeps the index)."""
    return choices_offered(job, name, leave_out)[index]


def param_arguments(
    job: str | type, name: str, label: str, *, choices: Sequence[str] | None = None, **extra: Any
) -> tuple[str, dict[str, Any]]:
    """The pyworkflow class name and the keywords of ``form.addParam`` for cryodedup's option ``name``.

    ``choices``: the values a choice offers (:func:`choices_offered`; default: all declared);
    its default is the declared value's index among them. ``extra``: more keywords (``expertLevel``).
    """
    from cryodedup.pipelines.job_types import form_field

    field = form_field(job, name)
    arguments: dict[str, Any] = {"label": label, "help": field.help, **extra}
    if field.kind == "choice":
        offered = list(field.choices if choices is None else choices)
        arguments.update(choices=offered, default=offered.index(field.default))
    elif field.default is not None:
        arguments["default"] = field.default
    return PARAM_CLASSES[field.kind], arguments


def add_option_param(
    form: Any, params: Any, param_name: str, job: str | type, name: str, label: str, **how: Any
) -> None:
    """Adds cryodedup's option ``name`` of ``job`` to ``form`` as ``param_name`` (``params``: pyworkflow's)."""
    class_name, arguments = param_arguments(job, name, label, **how)
    form.addParam(param_name, getattr(params, class_name), **arguments)
