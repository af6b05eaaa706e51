"""Secret-looking environment names are redacted; ordinary ones are not."""

from __future__ import annotations

import pytest

from codex_orchestrator.redact import REDACTED, is_secret_name, redact_env


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "GH_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY",
                                  "api-key", "NPM_AUTH", "SESSION_COOKIE", "private_key", "MY_PASSWD"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "PWD", "OLDPWD", "MONKEY", "TOKENIZER", "KEYBOARD", "AUTHOR",
                                  "LANG"])
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_env_keeps_names_and_ordinary_values() -> None:
    assert redact_env({"GH_TOKEN": "ghp_x", "REGION": "eu"}) == {"GH_TOKEN": REDACTED, "REGION": "eu"}
