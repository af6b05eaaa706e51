"""The security suite reuses the sandbox suite's `backend` fixture (both backends; never a silent skip in CI)."""

from ..sandbox.conftest import backend

__all__ = ["backend"]
