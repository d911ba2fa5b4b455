"""The harness's janitor, which lives in the product (``onthedot.sandbox.janitor``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.janitor import (
    OWNER_FILE,
    SERVER_FILE,
    identity,
    start_time,
    sweep,
)

__all__ = [
    "OWNER_FILE",
    "SERVER_FILE",
    "identity",
    "start_time",
    "sweep",
]
