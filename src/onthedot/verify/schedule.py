"""The release-morning schedule: leak probes before T, a sweep at T, dense polling until live.

Before T, every ``leak_every_s`` from T − ``leak_from_s``: new content visible is ``early`` (a
breach). From T: a sweep of every URL at once, then sweeps back to back for 5 s, every 2 s to
T+2 min and every 15 s to T+30 min (the plan's ``dense`` steps) until every URL is live from every
vantage point.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from onthedot.clock import Clock
from onthedot.model import CheckResult, Release, Status, iso_utc
from onthedot.publish.timer import wait_until
from onthedot.record import kinds
from onthedot.verify.recorder import CheckRecorder
from onthedot.verify.verifier import Verifier, VerifyReport

_FIRST_GUESS_PER_URL_S = 0.0003  # a leak sweep and its recording, per URL, before one was timed
_MARGIN = 1.5  # a leak sweep is started only if this many times the last one ends before T − 1 s

Repurge = Callable[[Sequence[CheckResult]], Awaitable[None]]
OnSweep = Callable[[str, float], None]  # (release id, seconds a sweep of every URL took)


@dataclass(frozen=True)
class WatchPlan:
    leak_from_s: float = 900.0
    leak_every_s: float = 60.0
    dense: tuple[tuple[float, float], ...] = ((0.05, 5.0), (2.0, 120.0), (15.0, 1800.0))
    """(pause between sweeps, until this many seconds after T) steps: back to back for the first
    seconds (a purge lands in milliseconds), then every 2 s to T+2 min, every 15 s to T+30 min."""

    @property
    def window_s(self) -> float:
        return self.dense[-1][1] if self.dense else 0.0

    def interval_at(self, since_t: float) -> float | None:
        for every, until in self.dense:
            if since_t < until:
                return every
        return None

    @classmethod
    def for_seconds(cls, seconds: float) -> WatchPlan:
        """A short watch (the ``publish`` command's ``--watch``): dense, then every second."""
        seconds = max(seconds, 0.1)
        return cls(dense=((0.05, min(seconds, 5.0)), (1.0, seconds)))


@dataclass
class WatchOutcome:
    live: bool
    last: VerifyReport
    first_live: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)


class Watcher:
    def __init__(
        self,
        verifier: Verifier,
        recorder: CheckRecorder,
        clock: Clock,
        plan: WatchPlan | None = None,
        on_sweep: OnSweep | None = None,
    ) -> None:
        self._verifier = verifier
        self._recorder = recorder
        self._clock = clock
        self.plan = plan or WatchPlan()
        self._on_sweep = on_sweep

    async def _sweep(self, release: Release) -> VerifyReport:
        started = time.perf_counter()
        report = await self._verifier.check(release)
        if self._on_sweep is not None:
            self._on_sweep(release.id, time.perf_counter() - started)
        return report

    async def prepare(self, release: Release) -> None:
        """Resolve the site's addresses and build the sweep's requests (the publisher calls this
        a few seconds before T), so the sweep at T sends its first requests at once."""
        await self._verifier.prepare(release)

    async def leak_probes(self, release: Release) -> list[CheckResult]:
        """Probe once at once (right after staging), then every ``leak_every_s`` from
        T − ``leak_from_s`` until T; returns every ``early`` result seen (each also recorded).
        A sweep is started only if it should end (recording included) 1 s before T, judged by
        how long the last one took — the flip waits for the leak probes to finish."""
        early: list[CheckResult] = []
        window_opens = release.release_at - dt.timedelta(seconds=self.plan.leak_from_s)
        last_end = release.release_at - dt.timedelta(seconds=1.0)  # none straddling T
        cycle = dt.timedelta(seconds=_FIRST_GUESS_PER_URL_S * len(release.artefact))
        started = self._clock.now()
        while started + cycle * _MARGIN < last_end:
            report = await self._sweep(release)
            if report.phase != "before":
                break
            await self._recorder.record(release.id, report.results)
            early += [r for r in report.results if r.status is Status.EARLY]
            now = self._clock.now()
            cycle = now - started
            started = max(now + dt.timedelta(seconds=self.plan.leak_every_s), window_opens)
            if started + cycle * _MARGIN >= last_end:
                break
            await wait_until(self._clock, started)
        return early

    async def after_t(
        self,
        release: Release,
        repurge: Repurge | None = None,
        since: dt.datetime | None = None,
    ) -> WatchOutcome:
        """Sweep at once, then poll on the plan (timed from ``since``, default T) until every URL
        serves the new version (or the window ends). Served before T, it is ``early``: the watch
        stops, but the outcome is not live — that publication was a breach."""
        start = since or release.release_at
        while True:
            report = await self._sweep(release)
            await self._recorder.record(release.id, report.results)
            elapsed = (self._clock.now() - start).total_seconds()
            if report.results and all(r.status is Status.EARLY for r in report.results):
                return self._outcome(False, report)
            if report.ok:
                await self._recorder.timeline.append(
                    release.id,
                    kinds.VERIFY_ALL_LIVE,
                    {
                        "urls": sorted({r.url for r in report.results}),
                        "vantages": sorted({r.vantage for r in report.results}),
                        "at": iso_utc(report.checked_at),
                    },
                    at=report.checked_at,
                )
                return self._outcome(True, report)
            interval = self.plan.interval_at(elapsed)
            if interval is None:
                await self._recorder.timeline.append(
                    release.id,
                    kinds.VERIFY_GAVE_UP,
                    {
                        "not_live": sorted(
                            {r.url for r in report.results if r.status is not Status.LIVE}
                        ),
                        "after_s": round(elapsed, 3),
                    },
                    at=report.checked_at,
                )
                return self._outcome(False, report)
            stale_in_cache = [
                r for r in report.results if r.status is Status.STALE and r.layer == "cache"
            ]
            if repurge is not None and stale_in_cache:
                await repurge(stale_in_cache)
            await self._clock.sleep(interval)

    def _outcome(self, live: bool, report: VerifyReport) -> WatchOutcome:
        first = dict(self._recorder.first_live)
        return WatchOutcome(live, report, first)
