"""The release morning, in one place: stage under embargo, wait for T, flip on the dot, purge,
watch until live, put right (a bounded number of times) what still shows the previous version —
as recorded steps.

Everything slow (uploads) happens before T; at T only flips (renames). Each completed step is a row
in ``publish_steps`` and an event in the timeline, so a publisher killed at any moment and started
again resumes after the last completed step: it never uploads twice and never publishes twice.
A release whose T passed while nothing was running is published at once and recorded as late.

The publisher is the only part that acts: the watcher only looks and records
(``morning.watch``), staging and purging only do what they are told (``publish``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.clock import Clock
from onthedot.errors import OnthedotError
from onthedot.model import Release, iso_utc
from onthedot.morning.spread import log_failed_preparation
from onthedot.morning.timer import wait_until
from onthedot.morning.watch import Watcher, WatchOutcome
from onthedot.publish.lease import Lease
from onthedot.publish.manifest import Manifest
from onthedot.publish.purgers.base import PurgeAttempt, Purger
from onthedot.publish.purging import Purging
from onthedot.publish.staging import Done, Staging
from onthedot.publish.steps import StepLog
from onthedot.publish.targets.base import Staged, Target
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.remediation import Remediation
from onthedot.settings import RemediateSettings
from onthedot.store.db import publishing
from onthedot.verify.clockcheck import ClockOffset
from onthedot.verify.exposure import StagedCopy

log = logs.get_logger("onthedot.publisher")

PREPARE_BEFORE_S = 3.0  # the sweep at T is got ready this long before T (see _until_t_preparing)
SWEEP_AFTER_PURGE_S = 1.0  # the sweep at T waits this long at most for the purge's answers
FENCE_BEFORE_S = 1.0  # the fence is checked this long before T (see _flip_on_the_dot) ...
FENCE_FRESH_S = 2.0  # ... and again at T if that was longer ago than this (real seconds)
ClockCheck = Callable[[Release], Awaitable[ClockOffset | None]]
STEPS_SHOWN = ("staged", "flipped", "purged", "verified")


@dataclass
class PublishOutcome:
    release: str
    flipped_at: dt.datetime | None = None
    late_s: float = 0.0
    early_s: float = 0.0
    resumed: tuple[str, ...] = ()
    purge_attempts: list[PurgeAttempt] = field(default_factory=list)
    watch: WatchOutcome | None = None

    @property
    def live(self) -> bool:
        return self.watch is not None and self.watch.live

    def flipped(self, at: dt.datetime, release_at: dt.datetime) -> None:
        offset = (at - release_at).total_seconds()
        self.flipped_at, self.late_s, self.early_s = at, max(0.0, offset), max(0.0, -offset)

    def resume_flip(self, recorded: dict[str, Any]) -> None:
        """Take the flip from the step an earlier run recorded."""
        self.flipped_at = dt.datetime.fromisoformat(recorded["at"])
        self.late_s = float(recorded.get("late_s", 0.0))
        self.early_s = float(recorded.get("early_s", 0.0))

    def as_json(self) -> dict[str, Any]:
        last = self.watch.last if self.watch else None
        return {
            "release": self.release,
            "live": self.live,
            "flipped_at": iso_utc(self.flipped_at) if self.flipped_at else None,
            "late_s": round(self.late_s, 3),
            "early_s": round(self.early_s, 3),
            "resumed_after": list(self.resumed),
            "watch_ended": self.watch.ended if self.watch else None,
            "purge_attempts": [a.as_json() for a in self.purge_attempts],
            "verify": last.as_json() if last else None,
        }


@dataclass
class _Run:
    """One publish of one release: what an earlier run did, and what this one has done."""

    release: Release
    steps: StepLog
    done: Done
    outcome: PublishOutcome
    immediately: bool
    lease: Lease
    staged: list[Staged] = field(default_factory=list)
    clock: ClockOffset | None = None
    """This host's clock as last measured against a reference (``Publisher._measure_clock``)."""
    clock_again: ClockOffset | None = None
    """The clock measured again just before T, to be recorded once the flip is."""
    waited_for_clock_s: float = 0.0
    """How long after T by this host's clock the flip waited, the clock being ahead."""
    flip_recorded: asyncio.Future[None] | None = None
    """The flip's record being written (``Publisher._live``): the watch sweeps meanwhile, and
    records its first results only once the flip is recorded (``Watch``'s ``recorded_after``)."""

    async def flip_on_record(self) -> None:
        """Wait for the flip's record (raises what writing it raised)."""
        if self.flip_recorded is not None:
            await self.flip_recorded


class _Purges:
    """A run's purge at T (a task: the flip does not wait for it, and the sweep at T waits for
    its requests only up to ``SWEEP_AFTER_PURGE_S``); what a cache still serves stale once it is
    done is the remediation's (``respond.remediation``)."""

    def __init__(self, purging: Purging, run: _Run, clock: Clock) -> None:
        self._purging = purging
        self._run = run
        self._clock = clock
        self._first: asyncio.Task[None] | None = None
        self._sent = asyncio.Event()

    def start(self) -> None:
        if self._first is None and "purged" not in self._run.done:
            self._first = asyncio.create_task(self._purge_at_t())

    async def _purge_at_t(self) -> None:
        release = self._run.release  # (no fence: a purge twice is harmless, a purge late is not)
        try:
            attempts = await self._purging.purge(release, list(release.paths), answered=self._sent)
        finally:
            self._sent.set()
        self._run.outcome.purge_attempts = attempts
        await self._run.steps.mark("purged", self._clock.now(), {"attempts": len(attempts)})

    async def answered(self, within_s: float) -> None:
        """Until the caches have answered the purge at T (or it failed), ``within_s`` at most:
        a sweep sent before found the old files the purge was about to remove (200 releases'
        purges wait their turn at one cache), recorded them stale and opened incidents about
        them, then swept again."""
        if self._first is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent.wait(), within_s)

    @property
    def first_done(self) -> bool:
        """The purge at T is done (by this run or an earlier one)."""
        return self._first.done() if self._first is not None else "purged" in self._run.done

    async def finished(self) -> None:
        if self._first is not None:
            await self._first

    async def settled(self) -> None:
        """Wait for the purge at T after the run failed: the files may be live, so the caches
        must still be purged; its own failure is logged (the run's error is the one to report)."""
        if self._first is None:
            return
        await asyncio.wait([self._first])
        failed = None if self._first.cancelled() else self._first.exception()
        if failed is not None:
            log.warning("purge.failed", release=self._run.release.id, error=repr(failed))


class Publisher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        target: Target | None,
        purgers: Sequence[Purger],
        watcher: Watcher,
        clock: Clock,
        wait_for_lease: bool = True,
        leak_probes: bool = True,
        clock_check: ClockCheck | None = None,
        remediate: RemediateSettings | None = None,
    ) -> None:
        self._engine = engine
        self._remediate = remediate or RemediateSettings()
        self._watcher = watcher
        self._clock = clock
        self._wait_for_lease = wait_for_lease
        self._leak_probes = leak_probes
        self._clock_check = clock_check
        self.timeline = Timeline(publishing(engine), clock)  # (never behind the sweeps' records)
        self.staging = Staging(target, self.timeline, clock)
        self._purging = Purging(purgers, self.timeline, clock)

    async def publish(self, release: Release, *, immediately: bool = False) -> PublishOutcome:
        lease = Lease(self._engine, release.id)
        await lease.acquire(wait=self._wait_for_lease)
        try:
            return await self._run(release, immediately, lease)
        finally:
            await lease.release()

    async def _event(
        self,
        release: Release,
        kind: str,
        data: dict[str, Any],
        at: dt.datetime | None = None,
        step: tuple[StepLog, str, dict[str, Any]] | None = None,
    ) -> None:
        """Record an event; with ``step``, mark that publish step done in the same transaction."""
        at = at or self._clock.now()
        marker = step[0].marker(step[1], at, step[2]) if step else None
        await self.timeline.append(release.id, kind, data, at=at, with_=marker)

    async def _run(self, release: Release, immediately: bool, lease: Lease) -> PublishOutcome:
        steps = StepLog(publishing(self._engine), release.id)
        done = await steps.done()
        outcome = PublishOutcome(release.id, resumed=tuple(s for s in STEPS_SHOWN if s in done))
        run = _Run(release, steps, done, outcome, immediately, lease)
        manifest = Manifest.of(release)
        purges = _Purges(self._purging, run, self._clock)
        try:
            await self._live(run, manifest, purges)
            purges.start()  # (resumed after the flip: the purge the last run did not finish)
            resume = "flipped" in done  # an earlier run watched: take up what it recorded
            outcome.watch = await self._watch(run, purges, resume)
            await run.flip_on_record()
        except BaseException:
            await _settled(run.flip_recorded)  # (never cancelled: the flip happened)
            await purges.settled()
            raise
        await purges.finished()
        await self.staging.let_go(run.staged)  # (the old files, kept so that the flip was quick)
        if "verified" not in done:  # a re-run of a finished release only looks again
            done_data = {"live": outcome.watch.live, "late_s": outcome.late_s}
            await self._event(
                release, kinds.PUBLISH_DONE, done_data, step=(steps, "verified", done_data)
            )
        return outcome

    async def _live(self, run: _Run, manifest: Manifest, purges: _Purges) -> None:
        """Stage, wait for T and flip, starting the purge at once (or take the earlier run's
        flip); a failure is recorded."""
        release = run.release
        if release.published_by is not None:
            await self._external(run)
            return
        try:
            await run.lease.check()
            staged = run.staged = await self.staging.ensure(release, manifest, run.steps, run.done)
            if "flipped" in run.done:
                run.outcome.resume_flip(run.done["flipped"])
                return
            copies = self.staging.public_copies(release, manifest, staged)
            await self._before_t(run, copies)
            fired = await self._flip_on_the_dot(run, staged)
            purges.start()  # before the flip is recorded: every millisecond counts
            run.outcome.flipped(fired, release.release_at)
        except OnthedotError as exc:
            await self._failed(release, exc)
            raise
        # (the watch starts while the flip is recorded: at T the record of 200 flips waited
        # seconds for the loop, and every sweep waited for it)
        run.flip_recorded = asyncio.ensure_future(self._recording_flip(run, staged, fired))

    async def _recording_flip(self, run: _Run, staged: list[Staged], fired: dt.datetime) -> None:
        try:
            if run.clock_again is not None:
                await self._event(run.release, kinds.CLOCK_OFFSET, run.clock_again.as_json())
            await self._record_flip(run, staged, fired)
        except OnthedotError as exc:
            await self._failed(run.release, exc)
            raise

    async def _failed(self, release: Release, exc: OnthedotError) -> None:
        await self._event(
            release, kinds.PUBLISH_FAILED, {"error": str(exc), "kind": type(exc).__name__}
        )

    async def _external(self, run: _Run) -> None:
        """Another system publishes: leak probes until T, then the watch from T. Nothing is staged
        or flipped; reaching T is recorded (as step ``flipped``, so a restart watches on)."""
        release = run.release
        if "flipped" in run.done:
            run.outcome.resume_flip(run.done["flipped"])
            return
        await self._before_t(run, [])
        if self._clock.now() < release.release_at:
            await self._event(
                release, kinds.PUBLISH_WAITING, {"release_at": iso_utc(release.release_at)}
            )
            await self._until_t_preparing(run)
        run.outcome.flipped_at = reached = self._clock.now()
        data = {
            "published_by": release.published_by,
            "release_at": iso_utc(release.release_at),
            "at": iso_utc(reached),
        }
        step = (run.steps, "flipped", data)
        await self._event(release, kinds.PUBLISH_EXTERNAL, data, at=reached, step=step)

    async def _before_t(self, run: _Run, copies: list[StagedCopy]) -> None:
        """Measure the clock; leak probes (the public URLs, and every staged copy) until T."""
        release = run.release
        run.clock = await self._measure_clock(release) or run.clock
        if self._leak_probes and not run.immediately and self._clock.now() < release.release_at:
            await self._watcher.leak_probes(release, copies)

    async def _measure_clock(self, release: Release) -> ClockOffset | None:
        """Record how far this host's clock is from a reference, for the report's uncertainty
        (and for the flip: see ``_ahead_s``)."""
        if self._clock_check is None:
            return None
        offset = await self._clock_check(release)
        if offset is not None:
            await self._event(release, kinds.CLOCK_OFFSET, offset.as_json())
        return offset

    async def _flip_on_the_dot(self, run: _Run, staged: list[Staged]) -> dt.datetime:
        """Wait for T (unless the run is ``immediately``), make sure this run still holds the
        release (the fence), flip every file; the instant it fired. The fence is checked a second
        before T, so that at T the flip waits for no store (200 releases due at once queue for
        it); it is checked again at T only when that check is stale (the process was held up,
        e.g. an old leader waking late)."""
        release = run.release
        checked = None
        if not run.immediately:
            if self._clock.now() < release.release_at:
                await self._event(
                    release, kinds.PUBLISH_WAITING, {"release_at": iso_utc(release.release_at)}
                )
            checked = await self._until_t_preparing(run)
            ahead = _ahead_s(run.clock)
            if ahead > 0:  # (T by this host's clock is not T yet: see ``_ahead_s``)
                run.waited_for_clock_s = ahead
                await wait_until(self._clock, release.release_at + dt.timedelta(seconds=ahead))
        if checked is None or time.monotonic() - checked > FENCE_FRESH_S:
            await run.lease.check()
        fired = self._clock.now()
        await self.staging.flip(staged)
        return fired

    async def _until_t_preparing(self, run: _Run) -> float | None:
        """Wait for T; from ``PREPARE_BEFORE_S`` before it, get the sweep at T ready (the site's
        addresses resolved, its requests built) alongside, and check the fence ``FENCE_BEFORE_S``
        before it (the monotonic instant it was checked, or None when T had come already).
        Whatever is not ready at T is dropped, unawaited: the flip never waits for it. A clock
        last found ahead (``_ahead_s``) is measured again alongside, as NTP may have set it right
        since: a measure not back by T leaves the last one."""
        release = run.release
        await wait_until(self._clock, release.release_at - dt.timedelta(seconds=PREPARE_BEFORE_S))
        preparing = asyncio.create_task(self._watcher.prepare(release))
        preparing.add_done_callback(partial(log_failed_preparation, release.id))
        measuring: asyncio.Future[ClockOffset | None] | None = None
        if _ahead_s(run.clock) > 0 and self._clock_check is not None:
            measuring = asyncio.ensure_future(self._clock_check(release))  # (recorded after T)
        checked = None
        try:
            await wait_until(self._clock, release.release_at - dt.timedelta(seconds=FENCE_BEFORE_S))
            if self._clock.now() < release.release_at:
                await run.lease.check()
                checked = time.monotonic()
            await wait_until(self._clock, release.release_at)
        finally:
            preparing.cancel()  # (nothing, if it is done)
            if measuring is not None:
                measuring.cancel()
        if measuring is not None and measuring.done() and not measuring.cancelled():
            if measuring.exception() is None and measuring.result() is not None:
                run.clock = run.clock_again = measuring.result()
        return checked

    async def _record_flip(self, run: _Run, staged: list[Staged], fired: dt.datetime) -> None:
        outcome, release = run.outcome, run.release
        data = {
            "target": self.staging.target_url,
            "paths": [s.path for s in staged],
            "release_at": iso_utc(release.release_at),
            "at": iso_utc(fired),
            "late_s": round(outcome.late_s, 6),
            "early_s": round(outcome.early_s, 6),
            "immediately": run.immediately,
        }
        if run.waited_for_clock_s:
            data["waited_for_clock_s"] = round(run.waited_for_clock_s, 6)
        await self._event(
            release,
            kinds.PUBLISH_FLIPPED,
            data,
            at=fired,
            step=(run.steps, "flipped", data),
        )

    async def _watch(self, run: _Run, purges: _Purges, resume: bool) -> WatchOutcome:
        """Sweep from T until every URL is live (or the limit is reached, or a person stops the
        watch), remedying between sweeps (once the purge at T is done) what is still stale."""
        release = run.release
        remedy = Remediation(
            release,
            purging=self._purging,
            staging=self.staging,
            staged=run.staged,
            timeline=self.timeline,
            clock=self._clock,
            settings=self._remediate,
            stop_asked=self._watcher.recorder.stop_asked,
            fence=run.lease.check,
        )
        await purges.answered(SWEEP_AFTER_PURGE_S)
        watch = self._watcher.after_t(
            release, since=run.outcome.flipped_at, resume=resume, recorded_after=run.flip_on_record
        )
        async for report in watch:
            if purges.first_done:
                await remedy.after(report)
        assert watch.outcome is not None  # (set by the last sweep)
        return watch.outcome


async def _settled(task: asyncio.Future[None] | None) -> None:
    """Wait for ``task`` to end, whatever its end (its error is the run's to tell, once)."""
    if task is not None:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # (seen: told by the run's own error, not again when collected)


def _ahead_s(clock: ClockOffset | None) -> float:
    """How far this host's clock is surely ahead of the reference (its offset less the
    measure's uncertainty), or 0. The flip waits that long after T by this clock, so that a fast
    clock never publishes early; a slow one is not made up for (a reference wrong the other way
    would publish early), the clock's incident says so."""
    if clock is None:
        return 0.0
    return max(0.0, clock.offset_s - clock.uncertainty_s)
