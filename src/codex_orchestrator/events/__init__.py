"""The event bus and its JSONL envelope (see docs/events.md)."""

from .._lazy import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from .bus import EventBus, Subscriber, utc_timestamp
    from .protocol import Envelope
    from .version import SCHEMA_VERSION

# Loaded on first use: importing one module of the package (the CLI does) must not load the wire types.
__getattr__ = lazy_exports(__name__, {"EventBus": "bus", "Subscriber": "bus", "utc_timestamp": "bus",
                                      "Envelope": "protocol", "SCHEMA_VERSION": "version"})

__all__ = ["SCHEMA_VERSION", "Envelope", "EventBus", "Subscriber", "utc_timestamp"]
