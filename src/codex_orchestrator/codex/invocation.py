"""The `codex exec` command line of a codex stage: our effective policy, spelled in Codex's flags.

Codex never gets more than our policy allows, whatever its own config.toml or a
profile says, because every setting that bounds it is passed explicitly and
flags win over Codex's config files:

    sandbox_mode                          -> --sandbox MODE, or for workspace-write a permission profile
                                             (-c default_permissions=..., -c permissions.<name>={...}) that
                                             also keeps the run store read-only, when Codex will honour
                                             it (codex/permissions.py)
    approval_policy (any)                 -> -c approval_policy="never" (headless: no one to ask; a
                                             sandbox denial goes back to the model as a failure)
    sandbox_workspace_write.*             -> -c sandbox_workspace_write.{network_access, writable_roots,
                                             exclude_tmpdir_env_var, exclude_slash_tmp}=...
    shell_environment_policy.*            -> -c shell_environment_policy.{inherit, ignore_default_excludes,
                                             exclude, include_only}=...
    the composed AGENTS.md guidance       -> -c developer_instructions="..." and project_doc_max_bytes=0
                                             (ours replaces Codex's own discovery of the repository's files)

`untrusted` is enforced before Codex starts: the stage itself must be approved
(codex/stage.py). Options are given to `exec` before the `resume` subcommand, so
a resumed thread gets the same bounds as a new one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._record import record


@record(frozen=True)
class CodexBounds:
    """Our effective policy for one codex stage, already resolved (absolute roots)."""

    sandbox_mode: str
    network_access: bool
    writable_roots: tuple[str, ...]
    exclude_tmpdir_env_var: bool
    exclude_slash_tmp: bool
    env_inherit: str
    env_ignore_default_excludes: bool
    env_exclude: tuple[str, ...]
    env_include_only: tuple[str, ...]
    read_only: tuple[str, ...] = ()  # absolute paths Codex's commands must not write (the run store)
    legacy_reason: str | None = "not checked"  # why --sandbox is kept; None: a permission profile is used


def toml_value(value: Any) -> str:
    """A TOML literal for `-c key=value` (Codex parses the value as TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        out = ['"']
        for char in value:
            code = ord(char)
            if char in '"\\':
                out.append("\\" + char)
            elif char == "\n":
                out.append("\\n")
            elif char == "\t":
                out.append("\\t")
            elif code < 0x20 or code == 0x7F:
                out.append(f"\\u{code:04X}")
            else:
                out.append(char)
        out.append('"')
        return "".join(out)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(str(key))} = {toml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"no TOML literal for {type(value).__name__}")


def uses_profile(bounds: CodexBounds) -> bool:
    return bounds.sandbox_mode == "workspace-write" and bounds.legacy_reason is None


def _sandbox_pairs(bounds: CodexBounds) -> list[tuple[str, Any]]:
    if uses_profile(bounds):
        from .permissions import PROFILE, profile_table

        table = profile_table(writable_roots=bounds.writable_roots, read_only=bounds.read_only,
                              network=bounds.network_access, exclude_tmpdir=bounds.exclude_tmpdir_env_var,
                              exclude_slash_tmp=bounds.exclude_slash_tmp)
        return [("default_permissions", PROFILE), (f"permissions.{PROFILE}", table)]
    return [
        ("sandbox_workspace_write.network_access", bounds.network_access),
        ("sandbox_workspace_write.writable_roots", list(bounds.writable_roots)),
        ("sandbox_workspace_write.exclude_tmpdir_env_var", bounds.exclude_tmpdir_env_var),
        ("sandbox_workspace_write.exclude_slash_tmp", bounds.exclude_slash_tmp),
    ]


def overrides(bounds: CodexBounds, instructions: str | None) -> list[str]:
    pairs: list[tuple[str, Any]] = [
        ("approval_policy", "never"),
        *_sandbox_pairs(bounds),
        ("shell_environment_policy.inherit", bounds.env_inherit),
        ("shell_environment_policy.ignore_default_excludes", bounds.env_ignore_default_excludes),
        ("shell_environment_policy.exclude", list(bounds.env_exclude)),
        ("shell_environment_policy.include_only", list(bounds.env_include_only)),
        ("project_doc_max_bytes", 0),
    ]
    if instructions:
        pairs.append(("developer_instructions", instructions))
    argv: list[str] = []
    for key, value in pairs:
        argv += ["-c", f"{key}={toml_value(value)}"]
    return argv


def codex_argv(binary: str, *, bounds: CodexBounds, cwd: Path, prompt: str, instructions: str | None = None,
               model: str | None = None, profile: str | None = None, schema: Path | None = None,
               thread_id: str | None = None) -> list[str]:
    """`codex exec --json ... -- PROMPT`, or `codex exec --json ... resume -- THREAD PROMPT`."""
    sandbox = [] if uses_profile(bounds) else ["--sandbox", bounds.sandbox_mode]  # --sandbox would void the profile
    argv = [binary, "exec", "--json", "--skip-git-repo-check", "--color", "never", *sandbox,
            "--cd", str(cwd), *overrides(bounds, instructions)]
    if model:
        argv.append(f"--model={model}")
    if profile:
        argv.append(f"--profile={profile}")
    if schema is not None:
        argv += ["--output-schema", str(schema)]
    if thread_id:
        return [*argv, "resume", "--", thread_id, prompt]
    return [*argv, "--", prompt]


def display_argv(argv: Sequence[str]) -> list[str]:
    """The argv for events and the manifest: the composed instructions stand as their hash, not their text."""
    shown = []
    for arg in argv:
        if arg.startswith("developer_instructions="):
            digest = hashlib.sha256(arg.encode()).hexdigest()[:16]
            arg = f"developer_instructions=<composed instructions, sha256:{digest}>"
        shown.append(arg)
    return shown


def bounds_from(config: Any, *, writable_roots: Sequence[Path], cwd: Path, env: Mapping[str, str],
                protected: Sequence[Path] = (), profile: str | None = None) -> CodexBounds:
    """Our effective settings for a stage whose fixed writable roots are `writable_roots` (pipelines/paths.py);
    `protected` (the run store) stays read-only where Codex honours a permission profile."""
    from .permissions import legacy_reason

    get = config.get
    tmp_roots = {str(Path("/tmp").resolve())}
    if env.get("TMPDIR"):
        tmp_roots.add(str((cwd / env["TMPDIR"]).resolve()))
    extra = tuple(str(root) for root in writable_roots if root != cwd and str(root) not in tmp_roots)
    return CodexBounds(
        sandbox_mode=get("sandbox_mode"),
        network_access=bool(get("sandbox_workspace_write.network_access")),
        writable_roots=extra,
        exclude_tmpdir_env_var=bool(get("sandbox_workspace_write.exclude_tmpdir_env_var")),
        exclude_slash_tmp=bool(get("sandbox_workspace_write.exclude_slash_tmp")),
        env_inherit=get("shell_environment_policy.inherit"),
        env_ignore_default_excludes=bool(get("shell_environment_policy.ignore_default_excludes")),
        env_exclude=tuple(get("shell_environment_policy.exclude")),
        env_include_only=tuple(get("shell_environment_policy.include_only")),
        read_only=tuple(str(path) for path in protected if path.exists()),
        legacy_reason=legacy_reason(codex_home=config.codex_home, cwd=cwd, repo_root=config.repo_root,
                                    profile=profile),
    )


def resume_prompt(prompt: str) -> str:
    """What a resumed thread is told: it was interrupted, and the task it had."""
    return ("The orchestrator running this task was interrupted before you finished. Continue the task from "
            "where you stopped; the original request follows.\n\n" + prompt)


__all__ = ["CodexBounds", "bounds_from", "codex_argv", "display_argv", "overrides", "resume_prompt", "toml_value",
           "uses_profile"]
