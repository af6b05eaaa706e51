"""Telemetry and notifications for one CLI process: who observes each run.

The CLI builds one `Observers` per command from trusted settings (flags, environment, the user's own
config files; never the repository). Each run, child runs included, gets fresh subscribers from
`for_run()`; commands get `TRACEPARENT` through `child_env`. Nothing here can change a run's status or
exit code: the subscribers are non-critical and their run-end hooks are guarded (runs/active.py).
OpenTelemetry is imported only when telemetry is on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config
    from .events.bus import Subscriber
    from .notify.deliver import Notifier
    from .telemetry.session import Telemetry


class Observers:
    def __init__(self, telemetry: Telemetry | None, notifier: Notifier | None) -> None:
        self.telemetry = telemetry
        self.notifier = notifier

    def for_run(self) -> list[Subscriber]:
        subscribers: list[Any] = []
        if self.telemetry is not None:
            subscribers.append(self.telemetry.for_run())
        if self.notifier is not None:
            subscribers.append(self.notifier.for_run())
        return subscribers

    def child_env(self, env: Mapping[str, str]) -> Mapping[str, str]:
        """A command's environment overrides, plus `TRACEPARENT` when telemetry is on."""
        if self.telemetry is None:
            return env
        from .telemetry.session import TraceEnv

        return TraceEnv(env, self.telemetry)


def build(config: Config, *, otel_endpoint: str | None = None, env: Mapping[str, str] | None = None
          ) -> Observers | None:
    """The observers the user's settings ask for, or None (the common case: nothing is imported)."""
    from .telemetry.settings import resolve

    env = os.environ if env is None else env
    settings = resolve(config, env, otel_endpoint)
    telemetry = None
    if settings.enabled:
        try:
            from .telemetry.session import start
        except ImportError as exc:  # a broken install must not stop the run
            print(f"codex-orchestrator: warning: telemetry off: {exc}", file=sys.stderr)
        else:
            telemetry = start(settings, env)
    argv, webhooks = config.get("notify"), config.get("notifications.webhooks")
    notifier = None
    if argv or webhooks:
        from .notify.deliver import Notifier

        notifier = Notifier(argv, webhooks, env)
    return Observers(telemetry, notifier) if telemetry or notifier else None
