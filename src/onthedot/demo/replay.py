"""The replay's clock: the morning of 18 December 2019 on this machine, the hour in seconds.

Real time runs from a few seconds before 09:30 until ``race`` makes it run faster, so the hour the
cache kept the old file passes in seconds (the watch's pauses shrink alike). IT's purge is part
of the clock, so where it falls does not depend on how busy the machine is: the first reading at
or after ``purge_at`` purges the cache before it returns, so everything stamped 10:35 or later
happens after the purge. From a minute before it the clock slows (``SLOW_RATE``), and the replay's
watch looks every 20 s of the replay rather than every minute (``watch_plan``), so that the sweep
after the purge starts within the purge's minute even when a sweep takes seconds of real time on
a busy machine (a sweep at 10:34:59 that saw the old file is followed within 20 s plus its own
length: under a minute unless it took 4 s of real time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import urllib.request
from collections.abc import Sequence

from onthedot.clock import ShiftedClock
from onthedot.morning.watch import UNTIL_LIVE_S, WatchPlan

FAST_RATE = 240.0  # replay seconds per real second while the hour passes
SLOW_RATE = 10.0  # ... from a minute before the purge
WATCH_EVERY_S = 20.0  # the replay's watch, once past its dense first half hour


def watch_plan(until_live_s: float = UNTIL_LIVE_S) -> WatchPlan:
    """The watch of the replay: the product's, looking every 20 s once past the first half hour."""
    return WatchPlan(until_live_s=until_live_s, backoff_max_s=WATCH_EVERY_S)


def purge(url: str) -> int:
    """Send one PURGE for ``url`` (as IT did by hand) and return the cache's HTTP status."""
    request = urllib.request.Request(url, method="PURGE")
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


class RacingClock(ShiftedClock):
    """Starts at ``start`` at the real rate; IT purges ``purge_urls`` at ``purge_at``."""

    def __init__(
        self, start: dt.datetime, purge_urls: Sequence[str], purge_at: dt.datetime
    ) -> None:
        super().__init__(start)
        self._purge_urls, self._purge_at = tuple(purge_urls), purge_at
        # (replay time, real time, rate, replay time it slows at, slower rate): one tuple, so a
        # reading from another thread never mixes the old pace with the new
        self._pace = (self._start, self._t0, 1.0, purge_at, 1.0)
        self._purged = threading.Event()
        self._lock = threading.Lock()
        self.purge_statuses: list[int] = []

    def race(self, rate: float = FAST_RATE, slow_rate: float = SLOW_RATE) -> None:
        """From now on, ``rate`` replay seconds pass per real second, ``slow_rate`` from a minute
        before the purge."""
        now, real = self.now(), time.monotonic()
        self._pace = (now, real, rate, self._purge_at - dt.timedelta(minutes=1), slow_rate)

    def _replay_time(self, real: float) -> dt.datetime:
        start, t0, rate, slow_at, slow_rate = self._pace
        fast = start + dt.timedelta(seconds=(real - t0) * rate)
        if fast <= slow_at:
            return fast
        slow_from = t0 + (slow_at - start).total_seconds() / rate
        return slow_at + dt.timedelta(seconds=(real - slow_from) * slow_rate)

    def now(self) -> dt.datetime:
        at = self._replay_time(time.monotonic())
        if at >= self._purge_at and not self._purged.is_set():
            with self._lock:
                if not self._purged.is_set():
                    self.purge_statuses = [purge(url) for url in self._purge_urls]
                    self._purged.set()
        return at

    async def sleep(self, seconds: float) -> None:
        until = self.now() + dt.timedelta(seconds=max(0.0, seconds))
        while (left := (until - self.now()).total_seconds()) > 0:
            await asyncio.sleep(left / max(self._pace[2], self._pace[4]) if left > 1 else 0.002)

    @property
    def purged(self) -> bool:
        return self._purged.is_set()
