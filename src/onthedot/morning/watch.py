"""The release-morning watch: leak probes before T, a sweep at T, dense sweeps until live.

Before T, every ``leak_every_s`` from T − ``leak_from_s``: new content visible is ``early`` (a
breach), and so is a staged copy the public site serves (an embargo exposure). From T: a sweep of every URL at once, then sweeps back to back for 5 s, every 2 s to
T+2 min and every 15 s to T+30 min (the plan's ``dense`` steps) until every URL is live from every
vantage point. The watcher only looks (through the verifier) and records (through the recorder);
what to do about a cache still serving the old file is the publisher's call.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from onthedot import respond
from onthedot.clock import Clock
from onthedot.model import CheckResult, Release, Status
from onthedot.morning.timer import wait_until
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.exposures import record_changes
from onthedot.verify.exposure import StagedCopy, exposed
from onthedot.verify.verifier import Verifier, VerifyReport

_FIRST_GUESS_PER_URL_S = 0.0003  # a leak sweep and its recording, per URL, before one was timed
_MARGIN = 1.5  # a leak sweep is started only if this many times the last one ends before T − 1 s

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


@dataclass
class _LeakPace:
    """When leak sweeps start: every ``leak_every_s`` from the window's opening, and only if one
    should end (going by how long the last took, with a margin) 1 s before T."""

    window_opens: dt.datetime
    last_end: dt.datetime
    cycle: dt.timedelta

    @classmethod
    def of(cls, release: Release, plan: WatchPlan) -> _LeakPace:
        at = release.release_at
        first_guess = dt.timedelta(seconds=_FIRST_GUESS_PER_URL_S * len(release.artefact))
        window_opens = at - dt.timedelta(seconds=plan.leak_from_s)
        return cls(window_opens, at - dt.timedelta(seconds=1.0), first_guess)

    def fits(self, start: dt.datetime) -> bool:
        return start + self.cycle * _MARGIN < self.last_end

    def next_start(self, started: dt.datetime, now: dt.datetime, every_s: float) -> dt.datetime:
        self.cycle = now - started
        return max(now + dt.timedelta(seconds=every_s), self.window_opens)


def stale_in_cache(report: VerifyReport) -> list[CheckResult]:
    """The results where a cache (not the origin) still serves the old version: worth a purge."""
    return [r for r in report.results if r.status is Status.STALE and r.layer == "cache"]


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
        self.recorder = recorder
        self.clock = clock
        self.plan = plan or WatchPlan()
        self._on_sweep = on_sweep

    async def _sweep(self, release: Release) -> VerifyReport:
        started = time.perf_counter()
        report = await self._verifier.check(release)
        if self._on_sweep is not None:
            self._on_sweep(release.id, time.perf_counter() - started)
        return report

    async def look(self, release: Release) -> VerifyReport:
        """One sweep of every URL from every vantage point, recorded."""
        report = await self._sweep(release)
        await self.recorder.record(release.id, report.results)
        respond.observe()  # the responder reads it now: an incident is alerted at once
        return report

    async def prepare(self, release: Release) -> None:
        """Resolve the site's addresses and build the sweep's requests (the publisher calls this
        a few seconds before T), so the sweep at T sends its first requests at once."""
        await self._verifier.prepare(release)

    async def leak_probes(
        self, release: Release, staged: Sequence[StagedCopy] = ()
    ) -> list[CheckResult]:
        """Probe once at once (right after staging), then every ``leak_every_s`` from
        T − ``leak_from_s`` until T; returns every ``early`` result seen (each also recorded).
        Each round also fetches every ``staged`` copy through the public site: one it serves
        is an embargo exposure, recorded (see ``record.exposures``).
        A sweep is started only if it should end (recording included) 1 s before T, judged by
        how long the last one took — the flip waits for the leak probes to finish."""
        early: list[CheckResult] = []
        pace = _LeakPace.of(release, self.plan)
        started = self.clock.now()
        await self._note_unprobed(release, staged)
        open_urls: set[str] = set()
        while pace.fits(started):
            report = await self._sweep(release)
            if report.phase != "before":
                break
            await self.recorder.record(release.id, report.results)
            early += [r for r in report.results if r.status is Status.EARLY]
            await self._probe_staged(release, staged, open_urls)
            respond.observe()
            started = pace.next_start(started, self.clock.now(), self.plan.leak_every_s)
            if not pace.fits(started):
                break
            await wait_until(self.clock, started)
        return early

    async def _probe_staged(
        self, release: Release, staged: Sequence[StagedCopy], open_urls: set[str]
    ) -> None:
        """Fetch every staged copy with a public address; record what changed (exposed or
        contained)."""
        if not any(copy.url for copy in staged):
            return
        verifier = self._verifier
        found = await exposed(verifier.prober, staged, timeout=verifier.timeout)
        timeline = self.recorder.timeline
        await record_changes(timeline, release.id, found, open_urls, self.clock.now())

    async def _note_unprobed(self, release: Release, staged: Sequence[StagedCopy]) -> None:
        """Say on the timeline which staged copies cannot be probed (no public address)."""
        unprobed = [copy.path for copy in staged if copy.url is None]
        if unprobed:
            text = (
                f"The staged copies of {len(unprobed)} file(s) wait outside the served web root, "
                "so they have no public address to probe before the release time."
            )
            await self.recorder.timeline.append(
                release.id, kinds.NOTE, {"text": text, "paths": unprobed}, at=self.clock.now()
            )

    def after_t(self, release: Release, since: dt.datetime | None = None) -> Watch:
        """The sweeps after T (timed from ``since``, default T): iterate over the returned watch
        to run them (see ``Watch``)."""
        return Watch(self, release, since or release.release_at)


class Watch:
    """Sweep at once, then on the plan until every URL serves the new version (or the window
    ends); every sweep is recorded. Iterating runs the sweeps and yields, between two of them,
    the report of the one that was not the last (the caller may purge a stale cache before the
    next); ``outcome`` holds how it ended. Served before T, a URL is ``early``: the watch stops,
    but the outcome is not live — that publication was a breach."""

    def __init__(self, watcher: Watcher, release: Release, start: dt.datetime) -> None:
        self._watcher = watcher
        self._release = release
        self._start = start
        self.outcome: WatchOutcome | None = None

    async def __aiter__(self) -> AsyncIterator[VerifyReport]:
        watcher = self._watcher
        while True:
            report = await watcher.look(self._release)
            elapsed = (watcher.clock.now() - self._start).total_seconds()
            interval = watcher.plan.interval_at(elapsed)
            self.outcome = await self._ending(report, elapsed, interval)
            if self.outcome is not None or interval is None:
                return
            yield report
            await watcher.clock.sleep(interval)

    async def _ending(
        self, report: VerifyReport, elapsed: float, interval: float | None
    ) -> WatchOutcome | None:
        """How the watch ends with this sweep (recorded), or None if it goes on."""
        recorder, release_id = self._watcher.recorder, self._release.id
        if report.results and all(r.status is Status.EARLY for r in report.results):
            live = False
        elif report.ok:
            await recorder.all_live(release_id, report)
            live = True
        elif interval is None:
            await recorder.gave_up(release_id, report, elapsed)
            live = False
        else:
            return None
        return WatchOutcome(live, report, dict(recorder.first_live))

    async def to_end(self) -> WatchOutcome:
        """Run every sweep without acting between them; how the watch ended."""
        async for _report in self:
            pass
        assert self.outcome is not None  # set by the last sweep
        return self.outcome
