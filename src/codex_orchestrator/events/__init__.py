"""The event bus and its JSONL envelope (see docs/events.md)."""

from .bus import EventBus, Subscriber, utc_timestamp
from .protocol import SCHEMA_VERSION, Envelope

__all__ = ["SCHEMA_VERSION", "Envelope", "EventBus", "Subscriber", "utc_timestamp"]
