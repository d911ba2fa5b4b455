"""The harness's nginx, which lives in the product (``onthedot.sandbox.nginx``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.nginx import (
    HeaderMap,
    Nginx,
    NginxCache,
)

__all__ = [
    "HeaderMap",
    "Nginx",
    "NginxCache",
]
