"""Messages for a caller who wrote Python: the CLI's options named as the keyword arguments they are.

The jobs say what to give in the command line's words (``--mic-psize``, ``--force``); the
functions of the Python API take keywords instead: :func:`keyword_names` rewrites a message
for :func:`cryodedup.remove_duplicates` (whose keywords are the options), and
:func:`said_in_python` the switches of :func:`cryodedup.remove_duplicate_particles` and
:func:`cryodedup.find_duplicate_micrographs` (``force=True``), whose options are an object
(``--update --force``, the store's way on, is left whole: ``update`` is an option there).
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from ..errors import CryodedupError

__all__ = ["keyword_names", "said_in_python"]

F = TypeVar("F", bound=Callable[..., Any])


def _keywords(options: type) -> dict[str, str]:
    """Each option's flag and its keyword: ``--mic-psize`` as ``mic_psize=``, a switch as ``audit=True``."""
    hints = typing.get_type_hints(options)
    found = {}
    for f in fields(options):
        switch = hints.get(f.name) is bool
        found[f"--{f.name.replace('_', '-')}"] = f"{f.name}=True" if switch else f"{f.name}="
    return found


def keyword_names(message: str, options: type | None = None, switches: tuple[str, ...] = ()) -> str:
    """``message`` with the CLI's options named as keyword arguments (``--mic-psize`` as ``mic_psize=``).

    ``options``: the job's options class (:class:`~cryodedup.options.ParticleOptions` by
    default); ``switches``: the function's own keywords that are switches (``update``). A
    switch is named as it is turned on (``--force`` as ``force=True``). A ``NAME=Å`` value
    after the option is quoted as the keyword takes it: ``--min-dist thyroglobulin=20`` as
    ``min_dist="thyroglobulin=20"`` (not ``min_dist= thyroglobulin=20``).
    """
    if options is None:
        from .particles import ParticleOptions

        options = ParticleOptions
    keywords = _keywords(options) | {f"--{name}": f"{name}=True" for name in ("force", *switches)}

    def named(m: re.Match) -> str:
        keyword = keywords.get(m.group(1))
        if keyword is None:
            return m.group(0)
        if not m.group(2):
            return keyword
        value = m.group(2).rstrip(":,.")  # (a sentence's punctuation after the value stays outside)
        return f'{keyword}"{value}"{m.group(2)[len(value) :]}'

    return re.sub(r"(--[a-z][a-z-]*)(?: ([^\s=,;()]+=[^\s;()]*))?", named, message)


def said_in_python(switches: tuple[str, ...] = ()) -> Callable[[F], F]:
    """A public function's errors in the caller's words: ``--force`` and its other ``switches`` as ``force=True``.

    (Its options object's fields keep their flags' names, as the options' help gives them:
    ``--min-dist must be a number`` names ``ParticleOptions.min_dist`` plainly enough.)
    """
    words = {f"--{name}": f"{name}=True" for name in ("force", *switches)}
    # (``--update --force`` and ``--update --repair`` stay whole: the store's words, for a caller whose
    # options hold update=True, name the command's way on as one)
    pattern = re.compile(
        "|".join(r"(?<!--update )" + re.escape(flag) + r"(?![\w-])(?! --(?:force|repair))" for flag in words)
    )

    def decorate(job: F) -> F:
        @functools.wraps(job)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return job(*args, **kwargs)
            except CryodedupError as err:
                said = pattern.sub(lambda m: words[m.group(0)], str(err))
                raise type(err)(said) from None  # (its kind kept)

        return run  # type: ignore[return-value]

    return decorate
