"""Parse a `{kind: "codex"}` stage: the Codex agent run on a prompt (docs/codex.md).

Every field comes from the repository, so every field is checked here for what it
could do beyond its purpose (docs/security.md): the model and profile names can
never be read as flags or paths, the output schema must be a relative path (it is
resolved inside the repository when the run starts), and a codex stage takes no
`env`, since variables such as `OPENAI_BASE_URL` or `CODEX_HOME` would redirect
Codex itself.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .model import CodexStage
    from .reader import Reader

CODEX_KEYS = {"kind", "id", "title", "prompt", "model", "profile", "outputSchema", "timeout", "cwd",
              "allowFailure", "description"}
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_PROMPT_CHARS = 100_000  # the prompt travels as one argument (the kernel allows 128 KiB)


def parse_codex_stage(reader: Reader, stage_id: str, title: str, origin: tuple[str, ...] = ()) -> CodexStage:
    from .model import CodexStage

    if "env" in reader.value:
        raise reader.fail("env", "a codex stage takes no env: variables would reach Codex itself, not only "
                                 "the commands it runs (set them in your own environment)")
    reader.check_keys(CODEX_KEYS)
    prompt = reader.get("prompt", str, required=True)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise reader.fail("prompt", f"longer than {MAX_PROMPT_CHARS} characters")
    model = reader.get("model", str)
    if model is not None and not MODEL_NAME.fullmatch(model):
        raise reader.fail("model", f"{model!r} is not a model name (letters, digits and ._:/@+-)")
    profile = reader.get("profile", str)
    if profile is not None and not PROFILE_NAME.fullmatch(profile):
        raise reader.fail("profile", f"{profile!r} is not a profile name (letters, digits, _ and -)")
    schema = reader.get("outputSchema", str)
    if schema is not None and (not schema.strip() or schema.startswith(("/", "~")) or "\0" in schema):
        raise reader.fail("outputSchema", "must be a path relative to the repository")
    timeout = reader.get("timeout", (int, float))
    if timeout is not None and timeout <= 0:
        raise reader.fail("timeout", "must be a positive number of seconds")
    return CodexStage(
        id=stage_id, title=title, prompt=prompt, model=model, profile=profile, output_schema=schema,
        timeout=float(timeout) if timeout is not None else None, cwd=reader.get("cwd", str),
        allow_failure=reader.get("allowFailure", bool, default=False), origin=origin,
    )
