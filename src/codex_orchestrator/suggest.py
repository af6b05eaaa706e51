""""Did you mean ...?" for a mistyped key, stage id or name: one helper for every error that lists choices."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'allowFailure'?)` when `word` is a typo (or a case slip) of a candidate; else ""."""
    import difflib

    by_lower = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
