"""One exception hierarchy. Every error the CLI reports to a user is an OrchestratorError.

Each class carries the exit code the CLI uses for it, so that `main()` can turn
any of them into one clear line on stderr and a stable, documented exit status
without a traceback (see docs/cli.md, "Exit codes").
"""

from __future__ import annotations

# Exit codes of the orchestrator itself (a command's own exit code is passed through).
EXIT_USAGE = 2  # bad flags, bad config, bad input
EXIT_INTERNAL = 70  # an orchestrator failure that is not the command's fault (EX_SOFTWARE)
EXIT_NOT_FOUND = 66  # a run, pipeline or file that does not exist (EX_NOINPUT)
EXIT_DENIED = 77  # the command was not allowed to run (EX_NOPERM)
EXIT_SANDBOX = 71  # the requested sandbox cannot be enforced here (EX_OSERR)


class OrchestratorError(Exception):
    """Base class: a failure of the orchestrator, reported as one line."""

    exit_code: int = EXIT_INTERNAL


class UsageError(OrchestratorError):
    """Bad command-line input (flags, ids, files named on the command line)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """An invalid configuration file or value; the message names the file and key path."""


class NotFoundError(OrchestratorError):
    """A run, pipeline, session or file that does not exist."""

    exit_code = EXIT_NOT_FOUND


class ApprovalError(OrchestratorError):
    """A command that could not be approved (denied, forbidden, timed out, no channel)."""

    exit_code = EXIT_DENIED


class RulesError(ConfigError):
    """A Codex `*.rules` file that cannot be parsed or whose examples do not hold."""


class SandboxUnavailableError(OrchestratorError):
    """No backend can enforce the requested sandbox mode on this machine: we fail closed."""

    exit_code = EXIT_SANDBOX
