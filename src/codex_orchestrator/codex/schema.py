"""A codex stage's `outputSchema`: read from inside the repository only, and the final message checked.

The path comes from the repository, and Codex sends the schema to the model
provider: a path that led to `/etc/shadow` or `~/.ssh/id_rsa` (`..`, an absolute
path, a symlink) would ship that file off the machine. So the path must resolve,
symlinks followed, to a regular file inside the repository, of at most 1 MiB, that
is a JSON Schema. Codex gets our copy in the run directory, never the repo's path,
so nothing can swap the file between our check and Codex's read.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import UsageError

MAX_SCHEMA_BYTES = 1 << 20


def load_schema(repo_root: Path, relative: str, *, where: str) -> dict[str, Any]:
    """The schema document; UsageError (exit 2) saying what is wrong with it."""
    root = Path(os.path.realpath(repo_root))
    real = Path(os.path.realpath(root / relative))
    if not real.is_relative_to(root):
        raise UsageError(f"{where}: outputSchema {relative!r} resolves to {real}, outside the repository; "
                         "a schema must be a file of the repository (nothing was run)")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"{where}: outputSchema {relative!r}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{where}: outputSchema {relative!r} is not a regular file")
        data = handle.read(MAX_SCHEMA_BYTES + 1)
    if len(data) > MAX_SCHEMA_BYTES:
        raise UsageError(f"{where}: outputSchema {relative!r} is larger than {MAX_SCHEMA_BYTES} bytes")
    try:
        schema = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{where}: outputSchema {relative!r}: invalid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise UsageError(f"{where}: outputSchema {relative!r}: a schema must be a JSON object")
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UsageError(f"{where}: outputSchema {relative!r}: not a valid JSON Schema: {exc.message}") from None
    return schema


def validate_message(schema: dict[str, Any], message: str | None) -> tuple[Any, list[str]]:
    """(the parsed final message, []) when it matches, else (None, what is wrong)."""
    if message is None:
        return None, ["Codex gave no final message"]
    try:
        value = json.loads(message)
    except ValueError as exc:
        return None, [f"the final message is not JSON: {exc}"]
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    try:
        errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '$'}: {e.message}"
                  for e in validator.iter_errors(value)]
    except Exception as exc:  # e.g. a $ref that cannot be resolved (never fetched)
        errors = [f"the schema could not be applied: {exc}"]
    return (value if not errors else None), errors
