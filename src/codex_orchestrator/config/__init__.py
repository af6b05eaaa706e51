"""Configuration: one resolver with a documented precedence (see docs/configuration.md)."""

from .keys import APPROVAL_POLICIES, KEYS, SANDBOX_MODES
from .resolver import Config, Setting, codex_home, find_repo_root, load_config

__all__ = [
    "APPROVAL_POLICIES",
    "KEYS",
    "SANDBOX_MODES",
    "Config",
    "Setting",
    "codex_home",
    "find_repo_root",
    "load_config",
]
