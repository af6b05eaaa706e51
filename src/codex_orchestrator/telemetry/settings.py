"""Whether telemetry is on, where it goes, and why: resolved from trusted layers only.

Precedence: `--otel-endpoint` > the `OTEL_*` environment (`OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_*`) >
the `otel` setting (`$CODEX_ORCHESTRATOR_HOME/config.toml`, else Codex's `$CODEX_HOME/config.toml`:
`exporter = { otlp-http = { endpoint, headers, protocol } }`). A repository config may not name any of
them (config/resolver.py refuses it). Standard library only: this runs on every start-up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .._record import field, record
from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

DEFAULT_TIMEOUT_MS = 10_000  # OTEL_EXPORTER_OTLP_TIMEOUT's default in the OpenTelemetry specification
SIGNAL_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")
SERVICE_NAME = "codex-orchestrator"


@record(frozen=True)
class TelemetrySettings:
    enabled: bool
    reason: str  # why it is off, or where it comes from when on
    source: str = ""  # "flag" | "env:NAME" | the `otel` setting's source
    traces_endpoint: str = ""
    metrics_endpoint: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_TIMEOUT_MS / 1000
    resource: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """For `config show`: never the header values (they carry credentials)."""
        return {"enabled": self.enabled, "reason": self.reason, "source": self.source or None,
                "traces_endpoint": display_url(self.traces_endpoint) or None,
                "metrics_endpoint": display_url(self.metrics_endpoint) or None,
                "headers": sorted(self.headers), "timeout_seconds": self.timeout_seconds}


def display_url(url: str) -> str:
    """`url` without credentials, query or fragment: safe to print and to put in an event."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: expected an http:// or https:// URL, got {display_url(url) or url!r}")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{where}: invalid port in {display_url(url)!r}") from None
    return url


def _base(url: str) -> str:
    """A base endpoint: a trailing signal path (`/v1/traces`, as Codex's config often has) is dropped."""
    url = url.rstrip("/")
    for path in SIGNAL_PATHS:
        if url.endswith(path):
            return url[: -len(path)]
    return url


def parse_pairs(text: str, where: str) -> dict[str, str]:
    """`k=v,k2=v2` with URL-encoded values, as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES use."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{where}: expected key=value pairs separated by commas, got {item.strip()!r}")
        pairs[unquote(name.strip())] = unquote(value.strip())
    return pairs


def _timeout(env: Mapping[str, str]) -> float:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        text = env.get(name)
        if text:
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"environment variable {name}: expected milliseconds > 0, got {text!r}")
            return value / 1000
    return DEFAULT_TIMEOUT_MS / 1000


def _codex_otel(otel: Mapping[str, Any], where: str) -> tuple[str | None, dict[str, str], str]:
    """(base endpoint, headers, why off) from an `[otel]` table in Codex's shape."""
    exporter = otel.get("exporter", "none")
    if exporter in ("none", None) or exporter == {}:
        return None, {}, f"{where}: otel.exporter is \"none\""
    if isinstance(exporter, str):
        return None, {}, f"{where}: otel.exporter {exporter!r} is not supported here (only otlp-http)"
    if not isinstance(exporter, Mapping) or "otlp-http" not in exporter:
        kind = next(iter(exporter), "?") if isinstance(exporter, Mapping) else exporter
        return None, {}, f"{where}: otel.exporter {kind!r} is not supported here (only otlp-http)"
    http = exporter["otlp-http"]
    if not isinstance(http, Mapping) or not isinstance(http.get("endpoint"), str):
        raise ConfigError(f"{where}: otel.exporter.otlp-http.endpoint: expected a URL string")
    protocol = http.get("protocol", "binary")
    if protocol != "binary":
        return None, {}, f"{where}: otel.exporter.otlp-http.protocol {protocol!r}: only \"binary\" (protobuf)"
    headers = http.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{where}: otel.exporter.otlp-http.headers: expected a table of strings")
    return _check_url(http["endpoint"], f"{where}: otel.exporter.otlp-http.endpoint"), dict(headers), ""


def _resource(env: Mapping[str, str], otel: Mapping[str, Any]) -> dict[str, str]:
    from .. import __version__

    resource = {"service.name": SERVICE_NAME, "service.version": __version__}
    if isinstance(otel.get("environment"), str):
        resource["deployment.environment.name"] = otel["environment"]
    resource.update(parse_pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""), "environment variable "
                                "OTEL_RESOURCE_ATTRIBUTES"))
    if env.get("OTEL_SERVICE_NAME"):
        resource["service.name"] = env["OTEL_SERVICE_NAME"]
    return resource


def resolve(config: Config, env: Mapping[str, str], flag: str | None = None) -> TelemetrySettings:
    """Telemetry settings for a command; raises ConfigError (exit 2) for a malformed URL or number."""
    setting = config.settings["otel"]
    otel: Mapping[str, Any] = setting.value if isinstance(setting.value, Mapping) else {}
    where = setting.source.partition(":")[2] or setting.source
    headers: dict[str, str] = {}
    traces = metrics = ""
    if flag:
        base, source = _base(_check_url(flag, "--otel-endpoint")), "flag"
    elif env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return TelemetrySettings(False, "off: OTEL_SDK_DISABLED=true")
    else:
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        if protocol and protocol != "http/protobuf":
            return TelemetrySettings(False, f"off: OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported "
                                            "(only http/protobuf)")
        env_base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
        metrics = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
        for name, value in (("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces),
                            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", metrics)):
            if value:
                _check_url(value, f"environment variable {name}")
        if env_base or traces or metrics:
            base = _base(_check_url(env_base, "environment variable OTEL_EXPORTER_OTLP_ENDPOINT")) \
                if env_base else ""
            named = "ENDPOINT" if env_base else "TRACES_ENDPOINT" if traces else "METRICS_ENDPOINT"
            source = "env:OTEL_EXPORTER_OTLP_" + named
        elif otel:
            endpoint, headers, why = _codex_otel(otel, where)
            if endpoint is None:
                return TelemetrySettings(False, f"off: {why}")
            base, source = _base(endpoint), setting.source
        else:
            return TelemetrySettings(False, "off: no endpoint (--otel-endpoint, OTEL_EXPORTER_OTLP_ENDPOINT, "
                                            "or [otel] exporter in your config.toml)")
    if not traces and base:
        traces = base + "/v1/traces"
    if not metrics and base:
        metrics = base + "/v1/metrics"
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        headers.update(parse_pairs(env.get(name, ""), f"environment variable {name}"))
    return TelemetrySettings(True, f"on: OTLP/HTTP protobuf to {display_url(traces or metrics)}", source,
                             traces, metrics, headers, _timeout(env), _resource(env, otel))
