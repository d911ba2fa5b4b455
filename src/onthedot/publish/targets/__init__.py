"""Publish targets, one file each; build them with ``onthedot.adapters.create("target", url)``."""

from __future__ import annotations

from onthedot.publish.targets.base import Staged, Target

__all__ = ["Staged", "Target"]
