"""Regular expressions compiled on first use, not at import.

A module-level `re.compile` costs 0.1-0.5 ms at import time, and most of ours serve paths a given
command never takes (AGENTS.md composition, `sed` arguments, ...). Start-up is a feature: these
compile when first matched.
"""

from __future__ import annotations

import re
from typing import Any


class LazyPattern:
    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self, pattern: str | bytes, flags: int = 0) -> None:
        self._pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[Any] | None = None

    def _get(self) -> re.Pattern[Any]:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return self._compiled

    def match(self, string: Any, *args: int) -> re.Match[Any] | None:
        return self._get().match(string, *args)

    def fullmatch(self, string: Any, *args: int) -> re.Match[Any] | None:
        return self._get().fullmatch(string, *args)

    def search(self, string: Any, *args: int) -> re.Match[Any] | None:
        return self._get().search(string, *args)

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        result: str = self._get().sub(repl, string, count)
        return result

    def finditer(self, string: Any, *args: int) -> Any:
        return self._get().finditer(string, *args)

    def findall(self, string: Any, *args: int) -> list[Any]:
        return self._get().findall(string, *args)

    def split(self, string: Any, maxsplit: int = 0) -> list[Any]:
        return self._get().split(string, maxsplit)

    @property
    def pattern(self) -> str | bytes:
        return self._pattern
