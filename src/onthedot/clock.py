"""Clocks. The scheduler and verifier read time only through a ``Clock`` so tests and the incident
replay can run on an injected clock (e.g. 18 December 2019, 09:29:55) while real time passes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The host's wall clock (UTC)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ShiftedClock(SystemClock):
    """Real time moved to start at ``start``: seconds pass at the real rate (the replay's clock)."""

    def __init__(self, start: dt.datetime, rate: float = 1.0) -> None:
        self._start = start.astimezone(dt.UTC)
        self._t0 = time.monotonic()
        self._rate = rate

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=(time.monotonic() - self._t0) * self._rate)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._rate)


class JumpingClock(ShiftedClock):
    """A shifted clock a test can jump forwards or backwards (NTP step, VM resume)."""

    def jump(self, seconds: float) -> None:
        self._start += dt.timedelta(seconds=seconds)


SYSTEM_CLOCK = SystemClock()
