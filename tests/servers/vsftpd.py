"""The harness's vsftpd, which lives in the product (``onthedot.sandbox.vsftpd``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.vsftpd import (
    PASSIVE_PORTS,
    Vsftpd,
)

__all__ = [
    "PASSIVE_PORTS",
    "Vsftpd",
]
