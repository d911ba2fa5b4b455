"""The harness's varnish, which lives in the product (``onthedot.sandbox.varnish``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.varnish import (
    XKEY_VMOD,
    Varnish,
)

__all__ = [
    "XKEY_VMOD",
    "Varnish",
]
