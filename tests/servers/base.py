"""The harness's base, which lives in the product (``onthedot.sandbox.base``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.base import (
    HOST,
    ServerProcess,
    ServerStartError,
    banner_ready,
    is_alive,
    kill_tree,
    log_tail,
    process_tree,
    tcp_ready,
)

__all__ = [
    "HOST",
    "ServerProcess",
    "ServerStartError",
    "banner_ready",
    "is_alive",
    "kill_tree",
    "log_tail",
    "process_tree",
    "tcp_ready",
]
