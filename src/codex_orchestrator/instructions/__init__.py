"""Hierarchical AGENTS.md guidance: found like the Codex CLI does, composed, budgeted, hashed.

The result is text for an agent to read and a record for the manifest. It never
carries a setting: see `safeguard` for why nothing here can change approvals or
the sandbox. docs/instructions.md describes the rules for users.
"""

from __future__ import annotations

from .discovery import find_git_root
from .drift import drift
from .load import DEFAULT_MAX_BYTES, load_instructions
from .model import InstructionSet, InstructionSource

# The runner writes the composed text to <run dir>/instructions.md and gives each
# stage its path in this variable.
ENV_VAR = "CODEX_ORCHESTRATOR_INSTRUCTIONS_FILE"

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ENV_VAR",
    "InstructionSet",
    "InstructionSource",
    "drift",
    "find_git_root",
    "load_instructions",
]
