"""sha256 without loading OpenSSL.

`hashlib` loads the OpenSSL bindings (~4 ms at every CLI start here); the
built-in `_sha256` module is as correct and fast enough for the few kilobytes
we hash (approval keys, AGENTS.md files). Falls back to hashlib where the
built-in module is absent (other Python versions or builds).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - CPython builds without it
        from hashlib import sha256

__all__ = ["sha256"]
