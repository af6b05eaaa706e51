"""`conforms`: `isinstance` against a runtime-checkable Protocol, decided once per class.

Python 3.11 collects a protocol's members again on every such `isinstance` (about 10 us); a warm server
asks it of the same few classes several times per call (is this subscriber a run hook, does this leader
report its command's exit). The protocols asked about are made of methods, which a class has or has not,
so the answer is kept per (class, protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard, TypeVar, cast

T = TypeVar("T")
_decided: dict[tuple[type, object], bool] = {}


def conforms(obj: Any, protocol: Callable[..., T]) -> TypeGuard[T]:
    """`isinstance(obj, protocol)` for a `@runtime_checkable` protocol of methods. (`protocol` is typed as a
    callable: mypy refuses a protocol class where a `type[T]` is asked for.)"""
    key = (type(obj), protocol)
    answer = _decided.get(key)
    if answer is None:
        answer = _decided[key] = isinstance(obj, cast(type, protocol))
    return answer
