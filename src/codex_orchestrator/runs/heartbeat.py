"""One thread beats for every live run of the process.

A live run refreshes `heartbeat_at` in its manifest every `heartbeat_interval_seconds`,
so `status` can tell a run whose process died from one still working. A thread per
run cost a thread start and a join on every call of a long-lived server (`serve`,
`mcp serve`), where a call is a run of a few milliseconds; one scheduler thread,
started on first use, serves them all.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Beat:
    """A run's place in the schedule; `stop()` takes it out (at its next turn, without waking anyone)."""

    __slots__ = ("beat", "interval")

    def __init__(self, beat: Callable[[], bool], interval: float) -> None:
        self.beat: Callable[[], bool] | None = beat  # returns False once the run no longer needs beats
        self.interval = interval

    def stop(self) -> None:
        # Drop the callback at once: the entry waits in the schedule until its turn, and must not keep the
        # run (its recorder, manifest and bus) alive until then; a server ends hundreds of runs a second.
        self.beat = None


class _Scheduler:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Beat]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, beat: Beat) -> None:
        with self._cond:
            entry = (time.monotonic() + beat.interval, next(self._order), beat)
            heapq.heappush(self._due, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
            if self._due[0] is entry:  # due before everything else: the thread sleeps too long otherwise
                self._cond.notify()  # (not on every run: a woken thread competes for the GIL with the call)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._cond.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, beat = heapq.heappop(self._due)
            call = beat.beat
            if call is None:
                continue
            try:
                again = call()
            except Exception:  # a heartbeat that cannot be written (full disk) is tried again next time
                again = True
            if again and beat.beat is not None:
                with self._cond:
                    heapq.heappush(self._due, (time.monotonic() + beat.interval, next(self._order), beat))


_scheduler = _Scheduler()


def every(interval: float, beat: Callable[[], bool]) -> Beat:
    """Call `beat` every `interval` seconds on the shared thread until it returns False or is stopped."""
    handle = Beat(beat, interval)
    _scheduler.add(handle)
    return handle
