"""Notifications: a real notify program gets the JSON as its last argument; a real webhook server verifies
the HMAC; a webhook that never answers delays the run by at most 2 s; a failing hook never fails a run."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

from ..conftest import Repo
from ..foundation.schema_check import assert_valid_manifest
from ..telemetry.receivers import WebhookReceiver


def _notify_script(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    out = tmp_path / "notified.jsonl"
    script = tmp_path / "notify.py"
    script.write_text(f"""#!/usr/bin/env python3
import json, sys
with open({str(out)!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:]}}) + "\\n")
print("notify program output")
sys.exit({exit_code})
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, out


def _home_config(isolated_home: Path, text: str) -> None:
    home = isolated_home / ".codex-orchestrator"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text)


def _manifest(repo: Repo) -> dict[str, Any]:
    return repo.manifests()[-1]


def test_notify_gets_the_json_as_its_last_argument(repo: Repo, tmp_path: Path, isolated_home: Path) -> None:
    script, out = _notify_script(tmp_path)
    (isolated_home / ".codex" / "config.toml").write_text(f'notify = [{str(script)!r}, "--from-codex"]\n')
    result = repo.run("exec", "--jsonl", "--", "sh", "-c", "exit 4", env={"DEPLOY_TOKEN": "tok-secret-123"})
    assert result.returncode == 4
    (call,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert call["argv"][0] == "--from-codex"
    payload = json.loads(call["argv"][-1])
    manifest = _manifest(repo)
    assert payload["type"] == "run-failed"
    assert payload["run-id"] == manifest["run_id"]
    assert payload["task-id"] == "default"
    assert payload["status"] == "failed"
    assert payload["exit-code"] == 4
    assert payload["manifest-path"].endswith("manifest.json")
    assert isinstance(payload["duration-ms"], float)
    assert "summary" in payload
    assert manifest["notifications"] == [{"target": f"notify:{script}", "event": "run-failed", "status": "delivered",
                                          "attempts": 1, "error": None}]
    assert_valid_manifest(manifest)
    log = Path(manifest["events_path"]).with_name("notifications.log").read_text()
    assert "notify program output" in log


def test_a_webhook_receives_signed_json_and_the_run_records_it(repo: Repo, isolated_home: Path) -> None:
    with WebhookReceiver() as hook:
        _home_config(isolated_home, f'[notifications]\nwebhooks = [{{ url = "{hook.url}", secret = "s3cret", '
                                    'events = ["run-complete", "run-failed"] }]\n')
        result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 0
    ((headers, body),) = hook.received
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-signature-256"], expected)
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["type"] == "run-complete"
    (record,) = _manifest(repo)["notifications"]
    assert record["status"] == "delivered" and record["event"] == "run-complete"
    assert record["target"] == hook.url.replace("http://", "webhook:http://")


def test_a_webhook_answering_500_is_tried_three_times_and_never_fails_the_run(repo: Repo,
                                                                             isolated_home: Path) -> None:
    with WebhookReceiver(status=500) as hook:
        _home_config(isolated_home, f'[notifications]\nwebhooks = [{{ url = "{hook.url}" }}]\n')
        result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 0
    assert len(hook.received) == 3
    (record,) = _manifest(repo)["notifications"]
    assert record == {"target": record["target"], "event": "run-complete", "status": "failed", "attempts": 3,
                      "error": "HTTP 500 Internal Server Error"}


def test_a_webhook_that_never_answers_delays_the_run_by_at_most_two_seconds(repo: Repo, isolated_home: Path,
                                                                          tmp_path: Path) -> None:
    script, out = _notify_script(tmp_path, exit_code=3)
    start = time.perf_counter()
    repo.run("exec", "--jsonl", "--", "true")
    baseline = time.perf_counter() - start
    with WebhookReceiver(hang=True) as hook:
        _home_config(isolated_home, f'notify = [{str(script)!r}]\n[notifications]\n'
                                    f'webhooks = [{{ url = "{hook.url}", timeout_seconds = 30 }}]\n')
        start = time.perf_counter()
        result = repo.run("exec", "--jsonl", "--", "true")
        elapsed = time.perf_counter() - start
    assert result.returncode == 0
    assert elapsed - baseline <= 2.5, f"{elapsed:.2f} s vs {baseline:.2f} s"  # 2 s grace + process noise
    records = {r["target"].split(":")[0]: r for r in _manifest(repo)["notifications"]}
    assert records["webhook"]["status"] == "abandoned"
    assert "grace" in records["webhook"]["error"]
    assert records["notify"]["status"] == "failed" and records["notify"]["error"] == "exit code 3"
    assert out.exists()


def test_approval_requests_are_notified(repo: Repo, isolated_home: Path, tmp_path: Path) -> None:
    script, out = _notify_script(tmp_path)
    _home_config(isolated_home, f'notify = [{str(script)!r}]\n')
    result = repo.run("exec", "--jsonl", "--approvals", "none", "--escalate", "--justification", "needs it",
                      "--", "touch", "x")
    assert result.returncode == 77
    types = sorted(json.loads(json.loads(line)["argv"][-1])["type"] for line in out.read_text().splitlines())
    assert types == ["approval-requested", "run-failed"]
    events = {r["event"]: r["status"] for r in _manifest(repo)["notifications"]}
    assert events == {"approval-requested": "delivered", "run-failed": "delivered"}


def test_a_missing_notify_program_is_a_failed_delivery_not_a_failed_run(repo: Repo, isolated_home: Path) -> None:
    _home_config(isolated_home, 'notify = ["/nonexistent/notify-me"]\n')
    result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 0
    (record,) = _manifest(repo)["notifications"]
    assert record["status"] == "failed" and "cannot run" in record["error"]
    assert os.environ.get("CODEX_ORCHESTRATOR_NOTIFY") is None


def test_a_delivery_cut_off_at_the_grace_is_abandoned_even_if_the_kill_ends_it_first(
        tmp_path: Path, monkeypatch: Any) -> None:
    """Whether a delivery was abandoned is decided when the grace runs out, before it is killed: the exit
    status the kill gives it (reported by its thread, which may run before the records are made) is not
    its outcome. Here the kill waits for that thread, the race the delivery would otherwise lose."""
    from codex_orchestrator.notify import deliver

    script = tmp_path / "hang.sh"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    notifier = deliver.Notifier([str(script)], [], {})
    notifier.dispatch("run-complete", {})
    real_killpg = os.killpg

    def kill_and_let_its_thread_finish(pgid: int, signum: int) -> None:
        real_killpg(pgid, signum)
        notifier_deliveries[0].done.wait(5)

    notifier_deliveries = list(notifier._deliveries)
    monkeypatch.setattr(deliver.os, "killpg", kill_and_let_its_thread_finish)
    (record,) = notifier.settle(grace=0.3)
    assert record.status == "abandoned" and "grace" in (record.error or ""), record
    assert notifier_deliveries[0].done.is_set()  # it did end (killed), after the decision


def test_a_notify_program_that_hangs_is_abandoned_and_killed(repo: Repo, isolated_home: Path,
                                                            tmp_path: Path) -> None:
    from ..conftest import live_pids

    marker = f"hang-{os.getpid()}-{time.monotonic_ns()}"
    script = tmp_path / "hang.sh"
    script.write_text(f"#!/bin/bash\nexec -a {marker} sleep 30\n")
    script.chmod(0o755)
    _home_config(isolated_home, f'notify = ["{script}"]\n')
    start = time.perf_counter()
    result = repo.run("exec", "--jsonl", "--", "true")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0
    assert elapsed < 15  # the 2 s grace, start-up and the command on a loaded machine; never the program's 30 s
    (record,) = _manifest(repo)["notifications"]
    assert record["status"] == "abandoned", record
    deadline = time.monotonic() + 5  # killed, then reaped: give a loaded machine a moment
    while live_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_pids(marker) == []
