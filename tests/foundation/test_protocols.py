"""`_protocols.conforms` answers as `isinstance` does, once per class."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from codex_orchestrator import _protocols
from codex_orchestrator._protocols import conforms


@runtime_checkable
class Hook(Protocol):
    def after(self) -> None: ...


class WithHook:
    def after(self) -> None:
        pass


class Without:
    pass


def test_the_answer_of_isinstance_kept_per_class() -> None:
    assert conforms(WithHook(), Hook) and isinstance(WithHook(), Hook)
    assert not conforms(Without(), Hook) and not isinstance(Without(), Hook)
    assert _protocols._decided[(WithHook, Hook)] is True and _protocols._decided[(Without, Hook)] is False
    _protocols._decided[(Without, Hook)] = True  # what is kept is what is answered: nothing asked again
    try:
        assert conforms(Without(), Hook)
    finally:
        del _protocols._decided[(Without, Hook)]
