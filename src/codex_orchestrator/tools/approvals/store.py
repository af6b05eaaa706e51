"""The persistent approval store: `$CODEX_ORCHESTRATOR_HOME/approvals.json`.

Only "approved always" answers live here; "once" and "for this session" never
touch the disk. A record is keyed by `keys.approval_key` (canonical argv, cwd,
escalated) and also keeps the argv and cwd so that `approvals list` can show a
person what they approved. No environment is stored.

Many runs share the file, so every change is a read-modify-write under the
file's lock and lands atomically with mode 0600 in a 0700 directory: approvals
are permissions, and a file others can write would let them grant themselves
some. A file we cannot read is a ConfigError naming it, never a silent "no
approvals" (which would re-prompt forever) nor a traceback.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..._files import locked, write_json_atomic
from ..._record import record
from ...errors import ApprovalError, ConfigError

FILE_NAME = "approvals.json"
VERSION = 1
DIR_MODE = 0o700
FILE_MODE = 0o600


@record(frozen=True)
class ApprovalRecord:
    id: str
    key: str
    command: tuple[str, ...]
    cwd: str
    escalated: bool
    created_at: str
    source: str
    scope: str = "always"
    decision: str = "approved"


def record_to_json(record: ApprovalRecord) -> dict[str, Any]:
    return {
        "id": record.id, "key": record.key, "command": list(record.command), "cwd": record.cwd,
        "escalated": record.escalated, "scope": record.scope, "decision": record.decision,
        "created_at": record.created_at, "source": record.source,
    }


Records = list[ApprovalRecord]  # spelled once here: inside the class `list` is the method


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApprovalStore:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / FILE_NAME
        # The parsed file, reused while (inode, mtime, size) are unchanged: a pipeline looks up
        # every command, and writers always replace the file, so a new version has a new inode.
        self._cache: tuple[tuple[int, int, int], Records] | None = None

    @classmethod
    def default(cls, env: Mapping[str, str] = os.environ) -> ApprovalStore:
        """`$CODEX_ORCHESTRATOR_HOME`, else `~/.codex-orchestrator` (HOME taken from `env`)."""
        home = env.get("CODEX_ORCHESTRATOR_HOME")
        if home:
            return cls(Path(home).expanduser())
        base = env.get("HOME")
        return cls((Path(base) if base else Path.home()) / ".codex-orchestrator")

    # ------------------------------------------------------------------ reading

    def lookup(self, key: str) -> ApprovalRecord | None:
        return next((record for record in self._read() if record.key == key), None)

    def list(self) -> Records:
        return [*self._read()]

    # ------------------------------------------------------------------ writing

    def add(
        self, key: str, argv: Sequence[str], cwd: Path | str, escalated: bool, source: str
    ) -> ApprovalRecord:
        """Record an "approved always" answer; a key already stored keeps its first record."""
        added: Records = []

        def change(records: Records) -> Records | None:
            existing = next((r for r in records if r.key == key), None)
            if existing is not None:
                added.append(existing)
                return None
            record = ApprovalRecord(
                id="apr_" + os.urandom(6).hex(), key=key, command=tuple(argv), cwd=str(cwd),
                escalated=bool(escalated), created_at=_utc_now(), source=source,
            )
            added.append(record)
            return [*records, record]

        self._update(change)
        return added[0]

    def revoke(self, record_id: str) -> bool:
        """Remove one record by id; False if there is none with that id."""
        removed: Records = []

        def change(records: Records) -> Records | None:
            removed.extend(r for r in records if r.id == record_id)
            return [r for r in records if r.id != record_id] if removed else None

        self._update(change)
        return bool(removed)

    def clear(self) -> int:
        """Remove every record; returns how many there were."""
        count = 0

        def change(records: Records) -> Records | None:
            nonlocal count
            count = len(records)
            return [] if records else None

        if self.path.exists():
            self._update(change)
        return count

    # ------------------------------------------------------------------ the file

    def _update(self, change: Callable[[Records], Records | None]) -> None:
        """Apply `change` under the lock; it returns the new records, or None to leave the file alone."""
        self._ensure_home()
        with locked(self.path):
            self._cache = None
            new = change(self._read())
            if new is None:
                return
            document = {"version": VERSION, "approvals": [record_to_json(r) for r in new]}
            try:
                write_json_atomic(self.path, document, mode=FILE_MODE)
            except OSError as exc:
                raise ConfigError(f"{self.path}: cannot write the approval store: {exc}") from None
            self._cache = None

    def _ensure_home(self) -> None:
        try:
            self.home.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            if stat.S_IMODE(self.home.stat().st_mode) & 0o077:
                os.chmod(self.home, DIR_MODE)
        except OSError as exc:
            raise ConfigError(f"{self.home}: cannot create the approval store directory: {exc}") from None

    def _read(self) -> Records:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the approval store: {exc}") from None
        self._check_private(info)
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._cache is not None and self._cache[0] == signature:
            return self._cache[1]
        try:
            document = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the approval store: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{self.path}: the approval store is not valid JSON ({exc}); "
                              "fix it or remove it to forget every stored approval") from None
        records = _parse(document, self.path)
        self._cache = (signature, records)
        return records

    def _check_private(self, info: os.stat_result) -> None:
        """Refuse a store others could have written, as ssh refuses such keys: approvals are permissions.

        The file and its directory must belong to us (or root) and be writable by no one else; otherwise
        nothing in it is believed, and the command is refused (fail closed) with the fix in the message.
        """
        me = os.geteuid()
        try:
            folder = self.home.stat()
        except OSError as exc:
            raise ConfigError(f"{self.home}: cannot read the approval store directory: {exc}") from None
        checks = ((self.path, info, f"chmod 600 {self.path}"), (self.home, folder, f"chmod 700 {self.home}"))
        for path, st, fix in checks:
            if st.st_uid not in (me, 0):
                raise ApprovalError(f"{path}: the approval store belongs to uid {st.st_uid}, not you (uid {me}); "
                                    "refusing to trust its approvals. Remove it, or chown it to yourself")
            if stat.S_IMODE(st.st_mode) & 0o022:
                raise ApprovalError(f"{path}: the approval store is writable by others (mode "
                                    f"{stat.S_IMODE(st.st_mode):o}); refusing to trust its approvals. Fix: {fix}")


def _parse(document: Any, path: Path) -> list[ApprovalRecord]:
    def bad(where: str, what: str) -> ConfigError:
        return ConfigError(f"{path}: {where}: {what}; fix it, or remove the file to forget every "
                           "stored approval")

    if not isinstance(document, dict):
        raise bad("top level", "expected an object with version and approvals")
    version = document.get("version")
    if version != VERSION:
        raise bad("version", f"unsupported store version {version!r} (this version reads {VERSION})")
    items = document.get("approvals")
    if not isinstance(items, list):
        raise bad("approvals", "expected a list")
    records: list[ApprovalRecord] = []
    from .keys import approval_key

    for index, item in enumerate(items):
        where = f"approvals[{index}]"
        if not isinstance(item, dict):
            raise bad(where, "expected an object")
        for name in ("id", "key", "cwd", "created_at", "source"):
            if not isinstance(item.get(name), str):
                raise bad(f"{where}.{name}", "expected a string")
        command = item.get("command")
        if not isinstance(command, list) or not all(isinstance(w, str) for w in command):
            raise bad(f"{where}.command", "expected a list of strings")
        if not isinstance(item.get("escalated"), bool):
            raise bad(f"{where}.escalated", "expected true or false")
        if item.get("scope", "always") != "always" or item.get("decision", "approved") != "approved":
            raise bad(where, 'only scope "always" and decision "approved" are stored')
        if approval_key(command, Path(item["cwd"]), item["escalated"]) != item["key"]:
            # Edited by hand, or forged: the key would approve one command while `approvals list` shows another.
            _warn_once(f"{path}: {where} ({item['id']}): its key does not match its command "
                       f"{command!r}; ignoring that approval")
            continue
        records.append(ApprovalRecord(
            id=item["id"], key=item["key"], command=tuple(command), cwd=item["cwd"],
            escalated=item["escalated"], created_at=item["created_at"], source=item["source"],
        ))
    return records


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        import sys

        print(f"codex-orchestrator: warning: {message}", file=sys.stderr)
