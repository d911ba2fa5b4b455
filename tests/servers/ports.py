"""The harness's ports, which lives in the product (``onthedot.sandbox.ports``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.ports import (
    HIGH,
    LOCK_DIR,
    LOW,
    free_port,
    free_port_range,
    release_port,
    reserve,
)

__all__ = [
    "HIGH",
    "LOCK_DIR",
    "LOW",
    "free_port",
    "free_port_range",
    "release_port",
    "reserve",
]
