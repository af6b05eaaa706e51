"""Generate the JSON Schemas in `schemas/` from the typed models.

    python -m codex_orchestrator.schemas [--check] [DIR]

The manifest records, the event payload TypedDicts and the configuration
key table are the single source of truth; the checked-in schemas are their
output, and `--check` (run by the tests) fails when they drift.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from ._record import fields, is_record

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://codex-orchestrator.dev/schemas/"


class _Generator:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def schema(self, tp: Any) -> dict[str, Any]:
        origin = get_origin(tp)
        if tp is Any:
            return {}
        if tp is type(None):
            return {"type": "null"}
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if origin is Literal:
            return {"enum": list(get_args(tp))}
        if origin in (Union, types.UnionType):
            options = [self.schema(arg) for arg in get_args(tp)]
            return {"anyOf": options}
        if origin in (NotRequired, Required):
            return self.schema(get_args(tp)[0])
        if origin in (list, tuple, typing.Sequence):
            args = get_args(tp)
            return {"type": "array", "items": self.schema(args[0]) if args else {}}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.schema(get_args(tp)[1])}
        if is_record(tp) or typing.is_typeddict(tp):
            return self.ref(tp)
        raise TypeError(f"no JSON Schema mapping for {tp!r}")

    def ref(self, cls: Any) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder against recursion
            self.defs[name] = self.object_schema(cls)
        return {"$ref": f"#/$defs/{name}"}

    def object_schema(self, cls: Any) -> dict[str, Any]:
        from .events import protocol

        # Records (runs/manifest.py) name wire types they import only for type checking.
        hints = get_type_hints(cls, localns=vars(protocol), include_extras=True)
        properties = {name: self.schema(tp) for name, tp in hints.items()}
        # A TypedDict says which keys are required; every field of a record is always written.
        required = sorted(cls.__required_keys__) if typing.is_typeddict(cls) else [f.name for f in fields(cls)]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required,
                                  "additionalProperties": False}
        if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
            schema["description"] = " ".join(cls.__doc__.split())
        return schema

    def document(self, cls: Any, schema_id: str, title: str) -> dict[str, Any]:
        body = self.object_schema(cls)
        doc: dict[str, Any] = {"$schema": DRAFT, "$id": BASE_ID + schema_id, "title": title, **body}
        if self.defs:
            doc["$defs"] = dict(sorted(self.defs.items()))
        return doc


def manifest_schema() -> dict[str, Any]:
    from .runs.manifest import Manifest

    return _Generator().document(Manifest, "manifest.schema.json", "codex-orchestrator run manifest")


def event_schemas() -> dict[str, dict[str, Any]]:
    from .events.protocol import EVENT_TYPES

    out: dict[str, dict[str, Any]] = {}
    for type_, cls in EVENT_TYPES.items():
        name = type_.replace(":", "-")
        out[f"events/{name}.schema.json"] = _Generator().document(
            cls, f"events/{name}.schema.json", f"payload of {type_}")
    out["events/envelope.schema.json"] = {
        "$schema": DRAFT, "$id": BASE_ID + "events/envelope.schema.json",
        "title": "one line of the codex-orchestrator JSONL stream",
        "type": "object",
        "properties": {
            "type": {"enum": list(EVENT_TYPES)},
            "timestamp": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"},
            "payload": {"type": "object"},
        },
        "required": ["type", "timestamp", "payload"],
        "additionalProperties": False,
        "allOf": [
            {"if": {"properties": {"type": {"const": type_}}},
             "then": {"properties": {"payload": {"$ref": f"{type_.replace(':', '-')}.schema.json"}}}}
            for type_ in EVENT_TYPES
        ],
    }
    return out


def repo_config_schema() -> dict[str, Any]:
    from .config.keys import KEYS

    kinds: dict[str, dict[str, Any]] = {
             "str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
             "bool": {"type": "boolean"}, "list[str]": {"type": "array", "items": {"type": "string"}},
             "table": {"type": "object"}, "list[table]": {"type": "array", "items": {"type": "object"}}}
    properties: dict[str, Any] = {"$schema": {"type": "string"}}
    for key in KEYS:
        if key.repo == "never":  # a repo config naming it is refused (docs/security.md)
            continue
        entry: dict[str, Any] = {**kinds[key.kind], "description": key.help}
        if key.choices:
            entry["enum"] = list(key.choices)
        if key.minimum is not None:
            entry["minimum"] = key.minimum
        head, _, tail = key.name.partition(".")
        if tail:
            table = properties.setdefault(head, {"type": "object", "properties": {},
                                                 "additionalProperties": False})
            table["properties"][tail] = entry
        else:
            properties[head] = entry
    session = {"type": "object", "required": ["id"], "additionalProperties": False,
               "properties": {"id": {"type": "string"}, "reuse": {"type": "boolean"},
                              "persist": {"type": "boolean"}}}
    command_stage = {
        "type": "object", "required": ["id", "command"], "additionalProperties": False,
        "properties": {
            "kind": {"const": "command"}, "id": {"type": "string"}, "title": {"type": "string"},
            "description": {"type": "string"}, "command": {"type": "string", "minLength": 1},
            "cwd": {"type": "string"}, "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "allowFailure": {"type": "boolean"}, "session": session,
            "timeout": {"type": "number", "exclusiveMinimum": 0},
            "escalate": {"type": "boolean"}, "justification": {"type": "string"},
            "retryOnExitCodes": {"type": "array", "items": {"type": "integer"}},
            "timeoutMs": {"type": "number", "exclusiveMinimum": 0}, "summaryHint": {"type": "string"},
        },
        "not": {"required": ["timeout", "timeoutMs"]},
    }
    subpipeline_stage = {
        "type": "object", "required": ["kind", "id", "pipeline"], "additionalProperties": False,
        "properties": {"kind": {"const": "subpipeline"}, "id": {"type": "string"}, "title": {"type": "string"},
                       "description": {"type": "string"}, "pipeline": {"type": "string"},
                       "optional": {"type": "boolean"}},
    }
    codex_stage = {  # pipelines/codex_spec.py
        "type": "object", "required": ["kind", "id", "prompt"], "additionalProperties": False,
        "properties": {"kind": {"const": "codex"}, "id": {"type": "string"}, "title": {"type": "string"},
                       "description": {"type": "string"}, "prompt": {"type": "string", "minLength": 1},
                       "model": {"type": "string"}, "profile": {"type": "string"},
                       "outputSchema": {"type": "string"}, "cwd": {"type": "string"},
                       "timeout": {"type": "number", "exclusiveMinimum": 0}, "allowFailure": {"type": "boolean"}},
    }
    stage_set_ref = {"type": "object", "required": ["kind", "ref"], "additionalProperties": False,
                     "properties": {"kind": {"const": "stage-set"}, "ref": {"type": "string"}}}
    stages = {"type": "array", "items": {"oneOf": [command_stage, subpipeline_stage, codex_stage, stage_set_ref]}}
    properties["stageSets"] = {"type": "object", "additionalProperties": stages,
                               "description": "Named lists of stages, used in place by {kind: stage-set, ref}."}
    properties["pipelines"] = {"type": "array", "items": {
        "type": "object", "required": ["id", "stages"], "additionalProperties": False,
        "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
                       "tags": {"type": "array", "items": {"type": "string"}},
                       "metadata": {"type": "object", "description": "Kept and shown by `plan`; never a setting."},
                       "guardrailsRequired": {"type": "boolean"}, "stages": stages}}}
    properties["defaultPipeline"] = {"type": "string"}
    properties["runtimeMode"] = {"enum": ["cli", "appserver"], "description": "The reference's; ignored here."}
    return {"$schema": DRAFT, "$id": BASE_ID + "repo-config.schema.json",
            "title": "codex.orchestrator.json", "type": "object", "properties": properties,
            "additionalProperties": False}


def all_schemas() -> dict[str, dict[str, Any]]:
    return {"manifest.schema.json": manifest_schema(), "repo-config.schema.json": repo_config_schema(),
            **event_schemas()}


USAGE = """usage: python -m codex_orchestrator.schemas [--check] [DIR]

Write the JSON schemas of the manifest, the events and the repo config into DIR (default: schemas/);
with --check, write nothing and exit 1 if a file there differs from the models.

example: python -m codex_orchestrator.schemas --check"""


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(USAGE)
        return 0
    unknown = [a for a in argv if a.startswith("-") and a != "--check"]
    if unknown:
        print(f"unknown option {unknown[0]}\n{USAGE}", file=sys.stderr)
        return 2
    check = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    out_dir = Path(rest[0]) if rest else Path("schemas")
    drifted = []
    for name, schema in all_schemas().items():
        path = out_dir / name
        text = json.dumps(schema, indent=2) + "\n"
        if check:
            if not path.is_file() or path.read_text() != text:
                drifted.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if drifted:
        print("schemas out of date (run `python -m codex_orchestrator.schemas`): " + ", ".join(drifted))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
