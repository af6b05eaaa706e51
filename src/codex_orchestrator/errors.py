"""One exception hierarchy. Every error the CLI reports to a user is an OrchestratorError.

Each class carries the exit code the CLI uses for it, so that `main()` can turn
any of them into one clear line on stderr and a stable, documented exit status
without a traceback (see docs/cli.md, "Exit codes"). The numbers follow
sysexits.h where one fits, and `timeout(1)` for a time-out, so that scripts
can tell every outcome apart without parsing text.
"""

from __future__ import annotations

# Exit codes of the orchestrator itself (a command's own exit code is passed through).
EXIT_USAGE = 2  # bad flags, bad config, bad input
EXIT_DATA = 65  # damaged data: a manifest that cannot be read as one, output not matching a schema (EX_DATAERR)
EXIT_NOT_FOUND = 66  # a run, pipeline or file that does not exist (EX_NOINPUT)
EXIT_INTERNAL = 70  # an orchestrator failure that is not the command's fault (EX_SOFTWARE)
EXIT_SANDBOX = 71  # the requested sandbox cannot be enforced here (EX_OSERR)
EXIT_IO = 74  # writing or reading the run files failed: full disk, I/O error (EX_IOERR)
EXIT_BUSY = 75  # the run is being run by another live process; try again later (EX_TEMPFAIL)
EXIT_DENIED = 77  # the command was not allowed to run, or a file may not be read (EX_NOPERM)
EXIT_TIMEOUT = 124  # the command ran past its time-out (as timeout(1))


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


class DamagedError(OrchestratorError):
    """A run file exists but is not what we wrote (truncated, not JSON, missing fields).

    Never silently replaced: the message names the file, and what can be done.
    """

    exit_code = EXIT_DATA


class UnreadableError(OrchestratorError):
    """A run or state file exists but may not be read (permissions); the message names it."""

    exit_code = EXIT_DENIED


class StorageError(OrchestratorError):
    """Writing (or reading) the run files failed for a reason of the machine: ENOSPC, EIO, EROFS.

    `path` names the file, so the one-line message can say where.
    """

    exit_code = EXIT_IO

    def __init__(self, message: str, path: str | None = None, errno: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno


class UnsafePathError(OrchestratorError):
    """The run store holds a symlink (or another file type) where the orchestrator expects its own file.

    The orchestrator never follows a link it did not create; the run is refused, naming the path.
    """

    exit_code = EXIT_USAGE


class BusyError(OrchestratorError):
    """Another live orchestrator process holds the run (its lock): exactly one process runs a run."""

    exit_code = EXIT_BUSY
