"""A precise wall-clock timer that never fires early.

Arm early, sleep coarsely to just before T, then wait in short steps to T. The clock is read again
after every wake-up, so a clock stepped backwards (or a sleep cut short) only delays the firing;
``wait_until`` returns only once ``clock.now() >= at``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable
from typing import TypeVar

from onthedot.clock import Clock

R = TypeVar("R")

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


async def within(clock: Clock, at: dt.datetime, work: Awaitable[R]) -> tuple[bool, R | None]:
    """Run ``work`` until ``at`` by ``clock``: (True, its result), or (False, None) once ``at``
    came first (``work`` is then cancelled). What ``work`` raises is raised."""
    task = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(wait_until(clock, at))
    try:
        await asyncio.wait((task, timer), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        timer.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    await asyncio.wait((task,))  # (its end awaited; a cancellation of this one still raised)
    if not task.cancelled():
        task.exception()  # (what it raised while being stopped: seen, not raised)
    return False, None
