"""Every configuration key: its type, default, environment variable and documentation.

One table drives validation of every layer, `config show`, docs/configuration.md
and the repo config's JSON Schema, so they cannot disagree.
"""

from __future__ import annotations

from typing import Any

from .._record import record

APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
SANDBOX_BACKENDS = ("auto", "builtin", "bwrap")


@record(frozen=True)
class Key:
    name: str  # dotted path, as in Codex's config.toml
    kind: str  # "str" | "int" | "float" | "bool" | "list[str]" | "table"
    default: Any
    help: str
    env: str | None = None  # CODEX_ORCHESTRATOR_<env>
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    codex: bool = False  # also read from Codex's config.toml
    # For settings that guard autonomy: values from the least to the most permissive.
    # A repo config may tighten the trusted value (flags, env, config.toml, default) but never loosen it.
    permissiveness: tuple[Any, ...] | None = None
    # How a repo config may touch the key at all (docs/security.md):
    #   "any": freely; "tighten": only towards the start of `permissiveness`; "add": may only add list
    #   items (more excludes); "lower": a bound it may only lower (0, "no bound", counts as the highest);
    #   "trusted": never (it could run code or send data outside the sandbox): a repo value is ignored with a
    #   note; "never": the same, but a repo config naming it at all is an error (exit 2), because it names a
    #   program to run or an address to send run data to (notify, webhooks, telemetry endpoints).
    repo: str = "any"


KEYS: tuple[Key, ...] = (
    Key("approval_policy", "str", "on-request", "When to ask before running a command.",
        env="APPROVAL_POLICY", choices=APPROVAL_POLICIES, codex=True,
        permissiveness=("untrusted", "on-failure", "on-request", "never"), repo="tighten"),
    Key("sandbox_mode", "str", "workspace-write", "What a command may write and reach.",
        env="SANDBOX_MODE", choices=SANDBOX_MODES, codex=True,
        permissiveness=("read-only", "workspace-write", "danger-full-access"), repo="tighten"),
    Key("sandbox_workspace_write.writable_roots", "list[str]", [],
        "Extra writable directories besides the working directory, /tmp and $TMPDIR.",
        env="WRITABLE_ROOTS", codex=True),
    Key("sandbox_workspace_write.network_access", "bool", False, "Allow network access inside the sandbox.",
        env="NETWORK_ACCESS", codex=True, permissiveness=(False, True), repo="tighten"),
    Key("sandbox_workspace_write.exclude_tmpdir_env_var", "bool", False, "Do not make $TMPDIR writable.",
        codex=True, permissiveness=(True, False), repo="tighten"),
    Key("sandbox_workspace_write.exclude_slash_tmp", "bool", False, "Do not make /tmp writable.", codex=True,
        permissiveness=(True, False), repo="tighten"),
    Key("sandbox_backend", "str", "auto", "Sandbox backend: auto, builtin (Landlock + namespaces) or bwrap.",
        env="SANDBOX_BACKEND", choices=SANDBOX_BACKENDS),
    Key("approval_timeout_seconds", "float", 300.0,
        "How long to wait for an approval answer on the stdin channel before `timed_out`.",
        env="APPROVAL_TIMEOUT", minimum=0),
    Key("retry.max_attempts", "int", 3, "Attempts for a failure the tool declares transient.",
        env="RETRY_MAX_ATTEMPTS", minimum=1),
    Key("retry.backoff_ms", "int", 250, "First retry delay; doubles on each attempt.",
        env="RETRY_BACKOFF_MS", minimum=0),
    Key("heartbeat_interval_seconds", "float", 5.0,
        "How often a live run refreshes heartbeat_at; 3 missed beats mark it interrupted.",
        env="HEARTBEAT_INTERVAL", minimum=0.05),
    Key("output_limit_bytes", "int", 1 << 30,
        "Bytes of each output stream of a tool run recorded in its log and events; 0 for no limit.",
        env="OUTPUT_LIMIT_BYTES", minimum=0, repo="lower"),
    Key("on_output_limit", "str", "truncate",
        "Past output_limit_bytes: truncate (stop recording, let the command finish) or kill (stop it).",
        env="ON_OUTPUT_LIMIT", choices=("truncate", "kill")),
    Key("default_task", "str", "default", "Task id used when neither --task nor MCP_RUNNER_TASK_ID is set.",
        env="TASK"),
    Key("notify", "list[str]", [],
        "A program (and arguments) run on run-complete, run-failed and approval-requested with one JSON argument.",
        env="NOTIFY", codex=True, repo="never"),
    Key("otel", "table", {},
        "OpenTelemetry export: exporter = { otlp-http = { endpoint, headers, protocol } }, environment.",
        codex=True, repo="never"),
    Key("notifications.webhooks", "list[table]", [],
        "Webhooks: [{url, events, secret?, timeout_seconds?}], POSTed JSON signed with X-Signature-256.",
        repo="never"),
    # Codex's shell_environment_policy (codex-rs/protocol/src/shell_environment.rs), with its defaults.
    Key("shell_environment_policy.inherit", "str", "all",
        "Which of the caller's variables a command starts from: all, core (PATH, HOME, ...) or none.",
        choices=("all", "core", "none"), codex=True, permissiveness=("none", "core", "all"), repo="tighten"),
    Key("shell_environment_policy.ignore_default_excludes", "bool", True,
        "false: drop variables whose names match *KEY*, *SECRET*, *TOKEN* (case-insensitive).",
        codex=True, permissiveness=(False, True), repo="tighten"),
    Key("shell_environment_policy.exclude", "list[str]", [],
        "Glob patterns (case-insensitive) of variable names to drop.", codex=True, repo="add"),
    Key("shell_environment_policy.include_only", "list[str]", [],
        "If not empty, keep only variables matching one of these glob patterns.", codex=True, repo="trusted"),
    Key("shell_environment_policy.set", "table", {}, "Variables to set for every command (name = value).",
        codex=True, repo="trusted"),
    Key("project_doc_max_bytes", "int", 32768, "Byte budget of the composed AGENTS.md guidance; 0 disables it.",
        env="PROJECT_DOC_MAX_BYTES", minimum=0, codex=True),
    Key("project_doc_fallback_filenames", "list[str]", [],
        "File names tried after AGENTS.override.md and AGENTS.md in each folder.", codex=True),
    # The `codex` stage kind (docs/codex.md). Which program runs as Codex, and which of your Codex profiles a
    # repository may pick, are yours alone: the program runs outside the sandbox, and a profile can name
    # MCP servers, notify commands or a model provider.
    Key("codex.bin", "str", "", "The codex program codex stages run (default: `codex` on PATH).",
        env="CODEX_BIN", repo="trusted"),
    Key("codex.allowed_profiles", "list[str]", [],
        "Codex profiles (`-p NAME`) a codex stage of the repository may select; none unless you list them.",
        env="CODEX_ALLOWED_PROFILES", repo="trusted"),
)

KEYS_BY_NAME: dict[str, Key] = {key.name: key for key in KEYS}
# Top-level keys of the repo config that are not settings (pipelines/parse.py reads them).
REPO_ONLY_KEYS = ("$schema", "pipelines", "defaultPipeline", "stageSets", "runtimeMode")
