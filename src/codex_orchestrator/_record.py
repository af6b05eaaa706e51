"""Records: the small part of `dataclasses` this project uses, without its start-up cost.

`dataclasses` imports `inspect` (and with it `ast`, `dis`, `tokenize`) and
compiles several functions per class with `exec`; across the forty-odd records
the CLI loads, that was about 40 ms of every `exec -- true` here, a third of its
run time. A record gets one shared, generic `__init__`/`__eq__`/`__repr__`
instead, which is plenty for objects built a few times per command. (The one
record built per output chunk, `exec.chunker.Chunk`, is a hand-written class.)

Supported: field defaults, `field(default_factory=...)`, `frozen=True` (read-only
attributes, hashable), `fields()`, `asdict()`, `is_record()`. Type checkers see
`record` as a dataclass (PEP 681).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform, overload

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

T = TypeVar("T")
_MISSING: Any = object()
_SPEC = "__record_fields__"


class Field:
    """One field of a record: its name, and its default or default factory."""

    __slots__ = ("default", "default_factory", "name")

    def __init__(self, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made fresh for each record (a list, a dict ...)."""
    return Field(default_factory=default_factory)  # type: ignore[return-value]


class FrozenRecordError(AttributeError):
    """Raised when assigning to a field of a frozen record."""


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    spec: tuple[Field, ...] = getattr(type(self), _SPEC)
    if len(args) > len(spec):
        raise TypeError(f"{type(self).__name__}() takes {len(spec)} positional arguments but {len(args)} were given")
    values = dict(zip((f.name for f in spec), args, strict=False))
    for name, value in kwargs.items():
        if name in values:
            raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
        values[name] = value
    setter = object.__setattr__
    for f in spec:
        if f.name in values:
            setter(self, f.name, values.pop(f.name))
        elif f.default_factory is not None:
            setter(self, f.name, f.default_factory())
        elif f.default is not _MISSING:
            setter(self, f.name, f.default)
        else:
            raise TypeError(f"{type(self).__name__}() missing required argument {f.name!r}")
    if values:
        raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {next(iter(values))!r}")


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in getattr(type(self), _SPEC))


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _repr(self: Any) -> str:
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in getattr(type(self), _SPEC))
    return f"{type(self).__name__}({inner})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of frozen {type(self).__name__}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of frozen {type(self).__name__}")


def _hash(self: Any) -> int:
    return hash(_values(self))


def _build(cls: type[T], frozen: bool) -> type[T]:
    spec: list[Field] = []
    for base in reversed(cls.__mro__[1:]):
        spec.extend(getattr(base, _SPEC, ()))
    # Not inspect.get_annotations: importing inspect is what this module exists to avoid.
    for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063
        declared = cls.__dict__.get(name, _MISSING)
        f = declared if isinstance(declared, Field) else Field(default=declared)
        f.name = name
        if isinstance(declared, Field):  # the class attribute would shadow nothing useful
            delattr(cls, name)
        spec = [existing for existing in spec if existing.name != name] + [f]
    methods: dict[str, Any] = {_SPEC: tuple(spec), "__init__": _init, "__eq__": _eq, "__repr__": _repr}
    if frozen:
        methods.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr, __hash__=_hash)
    else:
        methods["__hash__"] = None  # mutable and comparable: unhashable, as with dataclasses
    for name, value in methods.items():
        setattr(cls, name, value)
    return cls


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Class decorator: like `@dataclass` / `@dataclass(frozen=True)`."""
    if cls is not None:
        return _build(cls, frozen)
    return lambda klass: _build(klass, frozen)


def is_record(obj: Any) -> bool:
    return hasattr(obj if isinstance(obj, type) else type(obj), _SPEC)


def fields(obj: Any) -> tuple[Field, ...]:
    spec: tuple[Field, ...] = getattr(obj if isinstance(obj, type) else type(obj), _SPEC)
    return spec


_SCALARS = frozenset({str, int, float, bool, type(None)})


def asdict(obj: Any) -> Any:
    """A deep copy of a record as plain dicts and lists (records nested anywhere included)."""
    if type(obj) in _SCALARS:  # most of a manifest: checked first, since every manifest write walks it
        return obj
    if is_record(obj) and not isinstance(obj, type):
        return {f.name: asdict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, list | tuple):
        return [asdict(item) for item in obj]
    if isinstance(obj, dict):
        return {key: asdict(value) for key, value in obj.items()}
    return obj
