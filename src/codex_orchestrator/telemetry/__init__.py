"""Opt-in OTLP/HTTP export of traces and metrics (docs/telemetry.md).

`settings.py` decides whether telemetry is on, from trusted layers only, with the standard library;
nothing of OpenTelemetry is imported unless it is on (`session.py` and `export.py` import it).
"""
