"""Validate written manifests against the checked-in schema (used by many tests)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@cache
def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema)


def assert_valid_manifest(manifest: dict[str, Any]) -> None:
    errors = sorted(_validator("manifest.schema.json").iter_errors(manifest), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
