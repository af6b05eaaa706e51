"""The environment a command sees: the caller's, made quiet and predictable for a machine reader.

Output is read by a program, not a person, so colours and pagers only get in the
way: a pager waiting for a keypress would hang the run. In pipes mode there is
no terminal, so `TERM=dumb`; in a PTY a real terminal type keeps full-screen and
line-editing programs working. The caller's explicit overrides always win, since
a stage that sets `TERM` or `LANG` means it.
"""

from __future__ import annotations

from collections.abc import Mapping

QUIET_DEFAULTS: dict[str, str] = {
    "NO_COLOR": "1",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "LANG": "C.UTF-8",
}
PTY_TERM = "xterm-256color"


def child_env(base: Mapping[str, str], overrides: Mapping[str, str] | None, *, pty: bool) -> dict[str, str]:
    env = dict(base)
    env.update(QUIET_DEFAULTS)
    env["TERM"] = (base.get("TERM") or PTY_TERM) if pty else "dumb"
    if overrides:
        env.update(overrides)
    return env
