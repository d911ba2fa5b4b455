"""Cache purgers, one file each; build them with ``onthedot.adapters.create("purger", url)``."""

from __future__ import annotations

from onthedot.publish.purgers.base import PurgeAttempt, Purger, RetryPolicy

__all__ = ["PurgeAttempt", "Purger", "RetryPolicy"]
