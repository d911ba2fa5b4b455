"""The harness's pam, which lives in the product (``onthedot.sandbox.pam``); tests import it here."""

from __future__ import annotations

from onthedot.sandbox.pam import (
    PAM_DIR,
    PWDFILE_MODULE,
    available,
    install_service,
    remove_service,
)

__all__ = [
    "PAM_DIR",
    "PWDFILE_MODULE",
    "available",
    "install_service",
    "remove_service",
]
