"""The package's dataclasses: :func:`dataclasses.dataclass` without the code it compiles at import.

For every class, ``dataclasses.dataclass`` writes the source of an ``__init__``, ``__repr__``
and ``__eq__`` (frozen, also ``__setattr__``, ``__delattr__`` and ``__hash__``) and compiles
it as its module is imported: 2 M instructions for a small class, 10-15 M for one of 37
fields, about 70 M of a particle job's start-up (the job's modules hold some 30 classes; issue
43, benches/RESULTS.md). Start-up is a fixed cost of every run. Here a class takes its fields
from ``dataclasses`` (``fields``, ``replace`` and ``asdict`` work as ever); its ``__init__`` is
compiled when its first object is made, as ``dataclasses`` would write it (a class whose
objects a run never makes compiles nothing); the other methods are written once for all
classes. The objects behave as those of ``dataclasses.dataclass`` do (tests/test_records.py
compares them). What the package uses is supported: ``@dataclass`` and
``@dataclass(frozen=True)``, defaults, ``field(default_factory=..., metadata=...)`` and
``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, fields

# Not typing's TYPE_CHECKING (as in the package's __init__); mypy takes any TYPE_CHECKING as true,
# and reads this module's dataclass as the standard one (its dataclass plugin then applies).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
else:

    def dataclass(cls: type | None = None, /, *, frozen: bool = False) -> object:
        """``dataclasses.dataclass`` (or ``dataclasses.dataclass(frozen=True)``), nothing compiled at import."""

        def wrap(cls: type) -> type:
            return _made(cls, frozen)

        return wrap if cls is None else wrap(cls)


def _made(cls: type, frozen: bool) -> type:
    """``cls`` with its fields (from ``dataclasses``, no method made there) and the methods ``dataclass`` adds."""
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
    _refuse_default_before_required(cls)
    methods: dict[str, object] = {"__init__": _init_when_first_made(cls), "__repr__": _repr, "__eq__": _eq}
    _NOT_COMPILED.add(cls)
    if frozen:
        _FROZEN.add(cls)
        methods.update(_frozen_methods(cls))
    elif "__hash__" not in cls.__dict__:
        methods["__hash__"] = None  # as dataclass makes objects that compare by value: unhashable
    for name, method in methods.items():
        if name not in cls.__dict__:  # (a method the class writes itself is kept, as dataclass keeps it)
            setattr(cls, name, method)
    cls.__signature__ = _SIGNATURE  # type: ignore[attr-defined]
    return cls


def _refuse_default_before_required(cls: type) -> None:
    """The error ``dataclass`` raises for a field without a default after one with (it cannot be a parameter)."""
    defaulted = False
    for f in fields(cls):
        if not f.init:
            continue
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if defaulted and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        defaulted = defaulted or has_default


def _init_when_first_made(cls: type) -> Callable[..., None]:
    """An ``__init__`` that compiles the class's own (:func:`_compiled_init`) and puts it in its place."""

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        _init_compiled(cls)(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _init_compiled(cls: type) -> Callable[..., None]:
    """The class's compiled ``__init__``, compiled and put in place of :func:`_init_when_first_made`'s if need be."""
    if cls in _NOT_COMPILED:
        type.__setattr__(cls, "__init__", _compiled_init(cls))
        _NOT_COMPILED.discard(cls)
    return cls.__dict__["__init__"]


class _HasDefaultFactory:
    """The default of a parameter whose field has a default factory (shown as dataclasses shows its own)."""

    def __repr__(self) -> str:
        return "<factory>"


_HAS_DEFAULT_FACTORY = _HasDefaultFactory()
#: The frozen classes: their ``__init__`` sets the fields through ``object.__setattr__``.
_FROZEN: set[type] = set()
#: The classes whose ``__init__`` is not compiled yet.
_NOT_COMPILED: set[type] = set()


def _compiled_init(cls: type) -> Callable[..., None]:
    """The ``__init__`` that ``dataclasses.dataclass`` writes for ``cls`` (parameters, defaults, ``__post_init__``)."""
    frozen = cls in _FROZEN
    names = {"__dataclass_builtins_object__": object, "_HAS_DEFAULT_FACTORY": _HAS_DEFAULT_FACTORY}
    me = "__dataclass_self__" if "self" in (f.name for f in fields(cls)) else "self"
    params, body = [me], []
    for f in fields(cls):
        names[f"_type_{f.name}"] = f.type
        value = _value_given(f, names, params)
        if value is None:
            continue
        if frozen:
            body.append(f"__dataclass_builtins_object__.__setattr__({me},{f.name!r},{value})")
        else:
            body.append(f"{me}.{f.name}={value}")
    if hasattr(cls, "__post_init__"):
        body.append(f"{me}.__post_init__()")
    source = (
        f"def __create_fn__({', '.join(names)}):\n"
        f" def __init__({','.join(params)})->None:\n"
        + "".join(f"  {line}\n" for line in body or ["pass"])
        + " return __init__"
    )
    scope: dict[str, Callable[..., Callable[..., None]]] = {}
    # As dataclasses does (the source is made here, of field names); the annotations are the
    # fields' types, not strings (this module's __future__ import is not the code's).
    exec(compile(source, "<string>", "exec", dont_inherit=True), {}, scope)
    init = scope["__create_fn__"](**names)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _value_given(f: Field, names: dict[str, object], params: list[str]) -> str | None:
    """The expression that sets field ``f`` in ``__init__`` (None: not set), its parameter added to ``params``."""
    default = f"_dflt_{f.name}"
    if f.default_factory is not MISSING:
        names[default] = f.default_factory
        if not f.init:
            return f"{default}()"
        params.append(f"{f.name}:_type_{f.name}=_HAS_DEFAULT_FACTORY")
        return f"{default}() if {f.name} is _HAS_DEFAULT_FACTORY else {f.name}"
    if f.default is not MISSING:
        names[default] = f.default
        if not f.init:
            return default
        params.append(f"{f.name}:_type_{f.name}={default}")
        return f.name
    if not f.init:
        return None
    params.append(f"{f.name}:_type_{f.name}")
    return f.name


@reprlib.recursive_repr()
def _repr(self: object) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)  # type: ignore[arg-type]
    return f"{self.__class__.__qualname__}({shown})"


def _eq(self: object, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    compared = [f.name for f in fields(self) if f.compare]  # type: ignore[arg-type]
    return tuple(getattr(self, n) for n in compared) == tuple(getattr(other, n) for n in compared)


def _frozen_methods(cls: type) -> dict[str, object]:
    """``__setattr__``, ``__delattr__`` and ``__hash__`` of a frozen class, as ``dataclass(frozen=True)`` has them."""
    names = tuple(f.name for f in fields(cls))

    def _frozen_setattr(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    def _frozen_delattr(self: object, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    hashed = tuple(f.name for f in fields(cls) if (f.compare if f.hash is None else f.hash))

    def __hash__(self: object) -> int:
        return hash(tuple(getattr(self, n) for n in hashed))

    return {"__setattr__": _frozen_setattr, "__delattr__": _frozen_delattr, "__hash__": __hash__}


class _Signature:
    """A class's signature as ``inspect.signature`` reads it: that of its compiled ``__init__``, without ``self``."""

    def __get__(self, obj: object, owner: type) -> object:
        import inspect

        signature = inspect.signature(_init_compiled(owner))
        return signature.replace(parameters=list(signature.parameters.values())[1:])


_SIGNATURE = _Signature()
