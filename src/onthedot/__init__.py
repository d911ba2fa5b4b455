"""onthedot: orderly release for official statistics."""

from __future__ import annotations

__version__ = "0.1.0"
