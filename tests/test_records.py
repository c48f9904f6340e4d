"""cryodedup.records' dataclasses against the oracle: the same classes made by ``dataclasses.dataclass``."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import field

import numpy as np
import pytest

from cryodedup import records


def _both(frozen: bool, post_init: bool = False) -> tuple[type, type]:
    """One class declared twice: by dataclasses.dataclass (the oracle) and by records.dataclass."""
    made = []
    for decorator in (dataclasses.dataclass, records.dataclass):

        class Options:
            """A job's options."""

            name: str
            size: float = 1.5
            tags: list[str] = field(default_factory=list, metadata={"flag": "--tag"})
            mode: str = field(default="auto", metadata={"flag": "--mode"})
            seen: int = field(default=0, init=False)
            made: list[int] = field(default_factory=lambda: [7], init=False)

            if post_init:

                def __post_init__(self) -> None:
                    if self.size < 0:
                        raise ValueError(f"size {self.size} < 0")
                    object.__setattr__(self, "seen", self.seen + 1)

        Options.__qualname__ = "Options"
        made.append(decorator(frozen=True)(Options) if frozen else decorator(Options))
    return made[0], made[1]


CALLS = [
    (("a",), {}),
    (("a", 2.0), {}),
    (("a", 2.0, ["x"]), {}),
    (("a",), {"mode": "path", "tags": ["y"]}),
    ((), {"name": "b", "size": 3}),
]

BAD_CALLS = [
    ((), {}),  # name is missing
    (("a", 2.0, [], "auto", 5), {}),  # too many
    (("a",), {"colour": 1}),  # unknown
    (("a",), {"name": "b"}),  # twice
    (("a",), {"seen": 3}),  # not an __init__ parameter
]


def _state(obj: object) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("post_init", [False, True])
def test_objects_are_made_as_dataclasses_makes_them(frozen, post_init):
    oracle, ours = _both(frozen, post_init)
    assert str(inspect.signature(ours)) == str(inspect.signature(oracle))  # (before the first object too)
    assert [(f.name, f.default, f.init, dict(f.metadata)) for f in dataclasses.fields(ours)] == [
        (f.name, f.default, f.init, dict(f.metadata)) for f in dataclasses.fields(oracle)
    ]
    for args, kwargs in CALLS:
        a, b = oracle(*args, **kwargs), ours(*args, **kwargs)
        assert _state(a) == _state(b)
        assert repr(a) == repr(b)
    for args, kwargs in BAD_CALLS:
        with pytest.raises(TypeError) as want:
            oracle(*args, **kwargs)
        with pytest.raises(TypeError) as got:
            ours(*args, **kwargs)
        assert str(got.value) == str(want.value)
    if post_init:
        with pytest.raises(ValueError, match="size -1 < 0"):
            ours("a", -1)
    assert str(inspect.signature(ours)) == str(inspect.signature(oracle))


@pytest.mark.parametrize("frozen", [False, True])
def test_a_default_factory_makes_a_new_value_for_each_object(frozen):
    _, ours = _both(frozen)
    a, b = ours("a"), ours("b")
    a.tags.append("x")
    assert b.tags == [] and a.made == [7] and a.made is not b.made


@pytest.mark.parametrize("frozen", [False, True])
def test_objects_compare_and_hash_as_dataclasses_objects_do(frozen):
    oracle, ours = _both(frozen)
    assert ours("a") == ours("a") and ours("a") != ours("a", 2.0)
    assert ours("a") != oracle("a") and ours("a").__eq__("a") is NotImplemented
    if frozen:
        # Hashable by value (a list field makes the value unhashable, as the oracle's).
        with pytest.raises(TypeError) as want:
            hash(oracle("a"))
        with pytest.raises(TypeError) as got:
            hash(ours("a"))
        assert str(got.value) == str(want.value)
    else:
        assert oracle.__hash__ is None and ours.__hash__ is None


def test_a_frozen_object_refuses_changes_as_dataclasses_objects_do():
    oracle, ours = _both(frozen=True)
    for cls in (oracle, ours):
        obj = cls("a")
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'size'"):
            obj.size = 2.0
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'other'"):
            obj.other = 1
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'size'"):
            del obj.size


def test_a_frozen_class_of_hashable_fields_hashes_by_value():
    @records.dataclass(frozen=True)
    class Point:
        """A point."""

        x: float
        y: float = 0.0

    @dataclasses.dataclass(frozen=True)
    class Oracle:
        """The same point."""

        x: float
        y: float = 0.0

    assert hash(Point(1.0, 2.0)) == hash(Oracle(1.0, 2.0)) == hash(Point(1.0, 2.0))
    assert len({Point(1.0), Point(1.0), Point(2.0)}) == 2


@pytest.mark.parametrize("frozen", [False, True])
def test_replace_asdict_copy_and_pickle_work_on_the_objects(frozen):
    oracle, ours = _both(frozen)
    globals()["Ours"] = ours  # pickled by reference to its name
    ours.__qualname__ = "Ours"
    try:
        obj = ours("a", tags=["t"])
        changed = dataclasses.replace(obj, size=9.0)
        assert (changed.size, changed.tags, obj.size) == (9.0, ["t"], 1.5)
        assert dataclasses.asdict(obj) == dataclasses.asdict(oracle("a", tags=["t"]))
        assert copy.deepcopy(obj) == obj and copy.copy(obj) == obj
        assert pickle.loads(pickle.dumps(obj)) == obj
    finally:
        del globals()["Ours"]


def test_a_class_with_a_field_without_default_after_one_with_is_refused_as_by_dataclasses():
    class Bad:
        """Bad."""

        a: int = 1
        b: int = field(metadata={})

    with pytest.raises(TypeError) as want:
        dataclasses.dataclass(type("Bad", (), dict(Bad.__dict__)))
    with pytest.raises(TypeError) as got:
        records.dataclass(Bad)
    assert str(got.value) == str(want.value)


def test_arrays_in_fields_compare_as_in_dataclasses_objects():
    oracle, ours = _both(frozen=False)
    a, b = oracle("a", np.array([1.0, 2.0])), ours("a", np.array([1.0, 2.0]))
    with pytest.raises(ValueError) as want:
        _ = a == oracle("a", np.array([1.0, 2.0]))
    with pytest.raises(ValueError) as got:
        _ = b == ours("a", np.array([1.0, 2.0]))
    assert str(got.value) == str(want.value)


def test_the_package_makes_its_dataclasses_with_records():
    # A plain dataclasses.dataclass compiles its methods as its module is imported (start-up,
    # issue 43): the package's modules take the decorator from records.
    import re
    from pathlib import Path

    import cryodedup

    package = Path(cryodedup.__file__).parent
    standard = re.compile(r"^from dataclasses import .*\bdataclass\b|@dataclasses\.dataclass", re.M)
    assert [str(p.relative_to(package)) for p in package.rglob("*.py") if standard.search(p.read_text())] == []
