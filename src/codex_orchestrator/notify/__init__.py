"""Notifications of a run: Codex-compatible `notify` programs and signed webhooks (docs/notifications.md).

Standard library only; loaded only when `notify` or `notifications.webhooks` is configured.
"""
