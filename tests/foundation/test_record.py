"""The lightweight record decorator behaves like the dataclass subset we rely on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codex_orchestrator._record import FrozenRecordError, asdict, field, fields, is_record, record


@record
class Inner:
    name: str
    tags: list[str] = field(default_factory=list)


@record
class Outer:
    id: int
    inner: Inner
    items: list[Inner] = field(default_factory=list)
    note: str | None = None


@record(frozen=True)
class Point:
    x: int
    y: int = 0


def test_defaults_factories_and_order() -> None:
    a, b = Inner("a"), Inner("b")
    a.tags.append("t")
    assert b.tags == []  # a fresh list each time
    assert [f.name for f in fields(Outer)] == ["id", "inner", "items", "note"]
    assert Outer(1, a).note is None and Outer(1, a, note="n").note == "n"


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match="missing required argument 'inner'"):
        Outer(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        Inner("a", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Inner("a", name="b")  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional arguments"):
        Point(1, 2, 3)  # type: ignore[call-arg]


def test_equality_repr_and_hash() -> None:
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1) != (1, 0)  # type: ignore[comparison-overlap]
    assert repr(Point(1, 2)) == "Point(x=1, y=2)"
    assert len({Point(1, 2), Point(1, 2)}) == 1
    with pytest.raises(TypeError):
        hash(Inner("a"))  # mutable records are unhashable, as dataclasses


def test_frozen_records_refuse_assignment() -> None:
    point = Point(1, 2)
    with pytest.raises(FrozenRecordError):
        point.x = 3  # type: ignore[misc]
    with pytest.raises(FrozenRecordError):
        del point.y


def test_asdict_is_deep() -> None:
    outer = Outer(1, Inner("a", ["x"]), [Inner("b")])
    assert asdict(outer) == {"id": 1, "inner": {"name": "a", "tags": ["x"]},
                             "items": [{"name": "b", "tags": []}], "note": None}
    assert is_record(outer) and is_record(Outer) and not is_record({})


def test_the_cli_never_imports_dataclasses() -> None:
    code = ("import sys, codex_orchestrator.cli.main, codex_orchestrator.cli.exec_cmd, "
            "codex_orchestrator.runs.active, codex_orchestrator.tools.orchestrator, "
            "codex_orchestrator.pipelines.runner, codex_orchestrator.instructions, codex_orchestrator.exec.process, "
            "codex_orchestrator.sandbox.spawn; print('dataclasses' in sys.modules, 'inspect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
