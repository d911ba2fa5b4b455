"""The release-morning watch: leak probes before T, a sweep at T, dense sweeps until live.

Before T, every ``leak_every_s`` from T − ``leak_from_s`` (from the start, for a release another
system publishes): new content visible is ``early`` (a breach), and so is a staged copy the public site serves (an embargo exposure). From T: a sweep of every URL at once, then sweeps back to back for 5 s, every 2 s to
T+2 min and every 15 s to T+30 min (the plan's ``dense`` steps) until every URL is live from every
vantage point. The watcher only looks (through the verifier) and records (through the recorder);
what to do about a cache still serving the old file is the publisher's call.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from onthedot import logs, respond
from onthedot.clock import Clock
from onthedot.model import CheckResult, Release, Status
from onthedot.morning.spread import Spread
from onthedot.morning.timer import wait_until, within
from onthedot.record import kinds
from onthedot.record.checks import CheckRecorder
from onthedot.record.exposures import record_changes
from onthedot.record.timeline import Event
from onthedot.verify.exposure import StagedCopy, exposed
from onthedot.verify.verifier import Verifier, VerifyReport, release_urls, watched_urls

log = logs.get_logger("onthedot.watch")

_FIRST_GUESS_PER_URL_S = 0.0003  # a leak sweep and its recording, per URL, before one was timed
_MARGIN = 1.5  # a leak sweep is started only if this many times the last one ends before T − 1 s
UNTIL_LIVE_S = 24 * 3600.0  # how long after T URLs not yet live are checked, by default
STOP_CHECK_S = 5.0  # the watch looks for a person's stop before a sweep, at most this often

OnSweep = Callable[[str, float], None]  # (release id, seconds a sweep of every URL took)


@dataclass(frozen=True)
class WatchPlan:
    leak_from_s: float = 900.0
    leak_every_s: float = 60.0
    dense: tuple[tuple[float, float], ...] = ((0.05, 5.0), (2.0, 120.0), (15.0, 1800.0))
    """(pause between sweeps, until this many seconds after T) steps: back to back for the first
    seconds (a purge lands in milliseconds), then every 2 s to T+2 min, every 15 s to T+30 min."""
    until_live_s: float = UNTIL_LIVE_S
    """The limit: no sweep starts this many seconds after T (``[publish] watch_until_live_s``)."""
    backoff_max_s: float = 60.0
    """After the dense steps the pause doubles, to at most this."""

    def pause_after(self, since_t: float, previous: float | None = None) -> float | None:
        """The pause before the next sweep, ``since_t`` seconds after T (``previous``: the pause
        before the sweep just done): the dense steps, then doubling up to ``backoff_max_s``;
        never beyond the limit, and None once it is reached."""
        left = self.until_live_s - since_t
        if left <= 0:
            return None
        pause = next((every for every, until in self.dense if since_t < until), None)
        if pause is None:
            last = max(previous or 0.0, self.dense[-1][0] if self.dense else 0.0, 0.5)
            pause = min(last * 2, self.backoff_max_s)
        return min(pause, left)

    @classmethod
    def for_seconds(cls, seconds: float) -> WatchPlan:
        """A short watch (the ``publish`` command's ``--watch``): dense, then every second, for
        at most ``seconds``."""
        seconds = max(seconds, 0.1)
        return cls(dense=((0.05, min(seconds, 5.0)), (1.0, seconds)), until_live_s=seconds)


@dataclass
class WatchOutcome:
    live: bool
    last: VerifyReport
    first_live: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    ended: str = "all-live"  # why: all-live, limit, stopped (by a person), early (before T)
    stopped_by: str = ""  # the person who stopped it


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
        if release.published_by is not None:  # another system may publish at any moment
            window_opens = dt.datetime.min.replace(tzinfo=dt.UTC)
        return cls(window_opens, at - dt.timedelta(seconds=1.0), first_guess)

    def fits(self, start: dt.datetime) -> bool:
        return start + self.cycle * _MARGIN < self.last_end

    def next_start(self, started: dt.datetime, now: dt.datetime, every_s: float) -> dt.datetime:
        self.cycle = now - started
        return max(now + dt.timedelta(seconds=every_s), self.window_opens)


class Watcher:
    def __init__(
        self,
        verifier: Verifier,
        recorder: CheckRecorder,
        clock: Clock,
        plan: WatchPlan | None = None,
        on_sweep: OnSweep | None = None,
        spread: Spread | None = None,
    ) -> None:
        self._verifier = verifier
        self.recorder = recorder
        self.clock = clock
        self.plan = plan or WatchPlan()
        self._on_sweep = on_sweep
        self._spread = spread

    async def _sweep(self, release: Release, only: Sequence[str] | None = None) -> VerifyReport:
        started = time.perf_counter()
        report = await self._verifier.check(release, only=only)
        self._swept(release, only, started)
        return report

    def _swept(self, release: Release, only: Sequence[str] | None, started: float) -> None:
        """Tell the gauge how long a sweep took, if it was of every URL (alone or shared)."""
        every_url = only is None or len(only) >= len(release.artefact)
        if self._on_sweep is not None and every_url:
            self._on_sweep(release.id, time.perf_counter() - started)

    async def look(
        self,
        release: Release,
        only: Sequence[str] | None = None,
        recorded_after: Callable[[], Awaitable[None]] | None = None,
    ) -> VerifyReport:
        """One sweep of every URL (or ``only`` these public URLs) from every vantage point,
        recorded (with the other instances, on PostgreSQL: ``morning.spread``) once
        ``recorded_after`` is done."""
        spread = self._spread
        after = recorded_after or _nothing
        started = time.perf_counter()
        shared = None
        if spread is not None:
            shared = await spread.check(self._verifier, release, only, self.clock.now())
        if shared is None and spread is not None:
            urls = len(only) if only is not None else len(watched_urls(release))
            async with spread.alone(urls):  # (counted in the leader's budget for every release)
                report = await self._sweep(release, only)
            await after()
            await self.recorder.record(release.id, report.results, by=spread.instance)
        elif shared is None:
            report = await self._sweep(release, only)
            await after()
            await self.recorder.record(release.id, report.results, by=None)
        else:
            report = shared.report
            self._swept(release, only, started)
            await after()
            for instance, results in shared.by.items():
                await self.recorder.record(release.id, results, by=instance)
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
        how long the last one took; the flip waits for the leak probes to finish, and a sweep (or
        a look at the staged copies) not back 1 s before T is given up, so a site that stops
        answering cannot hold the flip."""
        early: list[CheckResult] = []
        pace = _LeakPace.of(release, self.plan)
        started = self.clock.now()
        await self._note_unprobed(release, staged)
        open_urls: set[str] = set()
        while pace.fits(started):
            # (a site that stops answering must not hold the flip: what is not back 1 s before
            # T is given up)
            swept, report = await within(self.clock, pace.last_end, self._sweep(release))
            if report is None or report.phase != "before":
                if not swept:
                    log.warning("leak sweep given up before T", release=release.id)
                break
            await self.recorder.record(release.id, report.results)
            early += [r for r in report.results if r.status is Status.EARLY]
            probed, _ = await within(
                self.clock, pace.last_end, self._probe_staged(release, staged, open_urls)
            )
            if not probed:
                log.warning("staged copies' leak probe given up before T", release=release.id)
                break
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

    def after_t(
        self,
        release: Release,
        since: dt.datetime | None = None,
        *,
        resume: bool = False,
        recorded_after: Callable[[], Awaitable[None]] | None = None,
    ) -> Watch:
        """The sweeps after T (timed from ``since``, default T): iterate over the returned watch
        to run them (see ``Watch``). ``resume``: an earlier run watched already; take up what it
        recorded (which URLs are live, since when) instead of sweeping every URL again.
        ``recorded_after``: what must be on the timeline before any result (the flip's record,
        written while the first sweep fetches)."""
        return Watch(
            self, release, since or release.release_at, resume=resume, recorded_after=recorded_after
        )


class Watch:
    """Sweep at once, then on the plan until every URL serves the new version from every vantage
    point, the limit is reached or a person stops it (``watch.stopped`` on the timeline); every
    sweep is recorded, and how it ended (``watch.ended``). Only the URLs not yet live are looked
    at again: a live URL is done. Iterating runs the sweeps and yields, between two of them, the
    report of the one that was not the last (the caller may purge a stale cache before the next);
    ``outcome`` holds how it ended. Served before T, a URL is ``early``: the watch stops, but the
    outcome is not live — that publication was a breach."""

    def __init__(
        self,
        watcher: Watcher,
        release: Release,
        start: dt.datetime,
        *,
        resume: bool = False,
        recorded_after: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._watcher = watcher
        self._release = release
        self._start = start
        self._resume = resume
        self._recorded_after = recorded_after
        self._latest: dict[tuple[str, str], CheckResult] = {}
        items = release_urls(release)
        self._own = set(watched_urls(release))
        self._pages = {t.public_url for t in items if t.expect_text}
        self._stop_looked: dt.datetime | None = None
        self.outcome: WatchOutcome | None = None

    async def __aiter__(self) -> AsyncIterator[VerifyReport]:
        watcher = self._watcher
        pending = await self._taken_up() if self._resume else None
        pause: float | None = None
        while True:
            self.outcome = await self._ended_before(pause is None)
            if self.outcome is not None:
                return
            report = await watcher.look(self._release, pending, self._recorded_after)
            pending = self._take(report)
            pause = watcher.plan.pause_after(self._elapsed(), pause)
            self.outcome = await self._ending(report, pending, pause)
            if self.outcome is not None or pause is None:
                return
            yield report
            await watcher.clock.sleep(pause)

    def _elapsed(self) -> float:
        return (self._watcher.clock.now() - self._start).total_seconds()

    async def _taken_up(self) -> list[str] | None:
        """The URLs an earlier run left not live (None: it recorded none live, so all of them)."""
        latest = await self._watcher.recorder.take_up(self._release.id)
        if not any(status is Status.LIVE for status in latest.values()):
            return None
        seen = {url for url, _vantage in latest}
        stale = {url for (url, _vantage), status in latest.items() if status is not Status.LIVE}
        return self._to_probe(stale | (self._own - seen)) or None

    def _take(self, report: VerifyReport) -> list[str]:
        """Keep each (URL, vantage point)'s latest result; the URLs to look at again."""
        latest = self._latest
        for result in report.results:
            latest[(result.url, result.vantage)] = result
        return self._to_probe({r.url for r in report.results if r.status is not Status.LIVE})

    def _to_probe(self, not_live: set[str]) -> list[str]:
        """The release's URLs to sweep for ``not_live``: a file found through a page (not one of
        the release's own URLs) is looked at again through the pages that link to it."""
        if not_live - self._own:
            not_live |= self._pages
        return sorted(not_live & self._own)

    async def _ended_before(self, first: bool) -> WatchOutcome | None:
        """The watch ends before its next sweep if a person stopped it (None: it goes on)."""
        if first and not self._resume:
            return None  # (the sweep at T waits for nothing)
        stop = await self._stop_asked(force=first)
        return await self._end("stopped", False, stop) if stop is not None else None

    async def _ending(
        self, report: VerifyReport, pending: list[str], pause: float | None
    ) -> WatchOutcome | None:
        """How the watch ends with this sweep (recorded), or None if it goes on."""
        if report.results and all(r.status is Status.EARLY for r in report.results):
            first_live = dict(self._watcher.recorder.first_live)
            return WatchOutcome(False, self._merged(report), first_live, "early")
        if not pending:
            await self._watcher.recorder.all_live(self._release.id, self._merged(report))
            return await self._end("all-live", True)
        if pause is None:
            return await self._end("limit", False)
        return None

    async def _end(self, reason: str, live: bool, stop: Event | None = None) -> WatchOutcome:
        """Record why the watch ended; the outcome."""
        recorder, last = self._watcher.recorder, self._merged()
        by = dict(stop.data) if stop is not None else {}
        now = self._watcher.clock.now()
        after_s = (now - self._start).total_seconds()
        await recorder.ended(self._release.id, reason, last, after_s, by, at=now)
        who = str(by.get("by", ""))
        return WatchOutcome(live, last, dict(recorder.first_live), reason, who)

    def _merged(self, report: VerifyReport | None = None) -> VerifyReport:
        """The latest result of every (URL, vantage point) swept, as one report."""
        now = self._watcher.clock.now()
        phase = (
            report.phase if report else ("before" if now < self._release.release_at else "after")
        )
        checked = report.checked_at if report else now
        return VerifyReport(self._release.id, phase, checked, list(self._latest.values()))

    async def _stop_asked(self, *, force: bool = False) -> Event | None:
        """The person's stop, if one is on the timeline (looked for every ``STOP_CHECK_S``)."""
        now = self._watcher.clock.now()
        looked = self._stop_looked
        if not force and looked is not None and (now - looked).total_seconds() < STOP_CHECK_S:
            return None
        self._stop_looked = now
        return await self._watcher.recorder.stop_asked(self._release.id)

    async def to_end(self) -> WatchOutcome:
        """Run every sweep without acting between them; how the watch ended."""
        async for _report in self:
            pass
        assert self.outcome is not None  # set by the last sweep
        return self.outcome


async def _nothing() -> None:
    """Nothing to wait for before recording."""
