"""A precise wall-clock timer that never fires early.

Arm early, sleep coarsely to just before T, then wait in short steps to T. The clock is read again
after every wake-up, so a clock stepped backwards (or a sleep cut short) only delays the firing;
``wait_until`` returns only once ``clock.now() >= at``.
"""

from __future__ import annotations

import datetime as dt

from onthedot.clock import Clock

COARSE_MARGIN_S = 0.050  # wake this long before T, then finish in fine steps
FINE_STEP_S = 0.0005


async def wait_until(clock: Clock, at: dt.datetime) -> dt.datetime:
    """Sleep until ``at`` by ``clock``; return the instant read when it fired (always ≥ ``at``)."""
    while True:
        now = clock.now()
        remaining = (at - now).total_seconds()
        if remaining <= 0:
            return now
        if remaining > COARSE_MARGIN_S:
            # sleep in bounded chunks so a stepped clock is noticed within a minute
            await clock.sleep(min(remaining - COARSE_MARGIN_S, 60.0))
        else:
            await clock.sleep(min(remaining, FINE_STEP_S))
