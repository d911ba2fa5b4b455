"""The harness's tls, which lives in the product (``onthedot.sandbox.tls``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.tls import (
    CertPair,
    copy_cert,
    self_signed_cert,
)

__all__ = [
    "CertPair",
    "copy_cert",
    "self_signed_cert",
]
