"""The version of the event stream and manifest format; its own module so that writing it imports no types."""

SCHEMA_VERSION = 1
